# micropython: also
"""lib/tic/parser.py: framing, checksums, modes, counters, on real captures and built frames."""

from tic import MODE_HISTORIQUE, MODE_STANDARD, MODE_UNKNOWN, label_hash
from tic.encode import checksum, frame, group
from tic.parser import CHUNK, FRAME_SIZE, MAX_GROUP, Parser
from tic_helpers import CAPTURES, parse_all, read

H = MODE_HISTORIQUE
S = MODE_STANDARD


def test_standard_tri_capture_one_complete_frame_of_55_groups():
    frames, p = parse_all(read(CAPTURES + "std-tri-tempo-teleinfo-nom.raw"))
    assert len(frames) == 1
    mode, groups = frames[0]
    assert mode == S and len(groups) == 55
    assert groups[0] == ("ADSC", None, "041776199277")
    assert ("STGE", None, "463A0800") in groups
    # DPM1 carries a horodate whose season is a space; two groups have a space checksum.
    assert ("DPM1", " 200214060000", "00") in groups
    assert p.frames == 1 and p.interrupted == 0


def test_standard_noisy_stream_counts_match_provenance():
    frames, p = parse_all(read(CAPTURES + "std-tri-tempo-stream-errors-teleinfo-nom.raw"))
    assert len(frames) == 7
    assert sum(len(g) for _, g in frames) == 373  # SOURCES.md: 373 valid groups
    # 10 checksum errors inside the 7 frames, 2 more in the partial tail (a 0 -> SP flip in
    # EAST, seen by hand); 2 groups whose CR became FF, + 1 in the tail. Groups are counted at
    # their CR, so the frame in progress counts too.
    stats = p.stats()
    assert stats["checksum_errors"] == 12 and stats["format_errors"] == 3
    assert stats["frames"] == 7 and stats["interrupted"] == 0
    for _, groups in frames:
        assert ("EAST", None, " 21849107") not in groups


def test_standard_mono_capture_and_horodate():
    frames, _ = parse_all(read(CAPTURES + "std-mono-hchp-goteleinfo.raw"))
    assert len(frames) == 1 and len(frames[0][1]) == 38
    date = frames[0][1][2]
    assert date[0] == "DATE" and date[2] == "" and len(date[1]) == 13


def test_historique_capture_16_groups():
    frames, _ = parse_all(read(CAPTURES + "hist-mono-tempo-teleinfo-nom.raw"))
    assert len(frames) == 1
    mode, groups = frames[0]
    assert mode == H and len(groups) == 16
    assert ("OPTARIF", None, "BBR(") in groups
    assert ("DEMAIN", None, "BLEU") in groups


def test_historique_incomplete_frame_is_never_reported():
    frames, p = parse_all(read(CAPTURES + "hist-mono-tempo-incomplete-teleinfo-nom.raw"))
    assert frames == [] and p.frames == 0


def test_historique_bad_checksum_drops_exactly_that_group():
    frames, p = parse_all(read(CAPTURES + "hist-mono-hchp-badchecksum-teleinfo-parser.raw"))
    assert len(frames) == 1 and len(frames[0][1]) == 10
    assert p.checksum_errors == 1
    assert all(g[0] != "ADCO" for g in frames[0][1])


def test_any_chunking_gives_identical_results():
    data = read(CAPTURES + "std-tri-tempo-stream-errors-teleinfo-nom.raw")
    whole, p0 = parse_all(data)
    for chunk in (1, 2, 3, 7, 64, 255):
        frames, p = parse_all(data, chunk)
        assert frames == whole
        assert p.stats() == p0.stats()


def test_bit7_set_by_8n1_reader_is_masked():
    data = read(CAPTURES + "hist-mono-tempo-teleinfo-nom.raw")
    high = bytes(b | 0x80 for b in data)
    assert parse_all(high)[0] == parse_all(data)[0]


def test_checksum_space_and_empty_date_and_plus_minus_labels():
    f = frame(S, [("DATE", "", "E180716103423"), ("NJOURF+1", "00"), ("SMAXSN-1", "09562",
              "H200213085118"), ("SMAXSN1-1", "01234", "H200213085118")])  # fmt: skip
    frames, _ = parse_all(f)
    assert frames[0][1] == [
        ("DATE", "E180716103423", ""),
        ("NJOURF+1", None, "00"),
        ("SMAXSN-1", "H200213085118", "09562"),
        ("SMAXSN1-1", "H200213085118", "01234"),
    ]
    assert group(H, "PTEC", "HPJR").endswith(b"  \r")  # space checksum
    frames, _ = parse_all(frame(H, [("PTEC", "HPJR"), ("HCHC", "000723392")]))
    assert [g[0] for g in frames[0][1]] == ["PTEC", "HCHC"]


def test_bytes_before_first_stx_are_ignored():
    f = frame(H, [("PAPP", "00750")])
    frames, p = parse_all(b"\nPAPP 00750 ,\r garbage" + f)
    assert len(frames) == 1 and p.ignored == 22 and p.groups == 1


def test_eot_interrupts_frame():
    f = frame(H, [("PAPP", "00750"), ("IINST", "003")], end=b"\x04")
    frames, p = parse_all(f + frame(H, [("PAPP", "00760")]))
    assert [g for _, g in frames] == [[("PAPP", None, "00760")]]
    assert p.interrupted == 1 and p.frames == 1


def test_new_stx_inside_frame_means_interrupted():
    cut = frame(H, [("PAPP", "00750"), ("IINST", "003")])[:-5]
    frames, p = parse_all(cut + frame(H, [("PAPP", "00760")]))
    assert len(frames) == 1 and frames[0][1] == [("PAPP", None, "00760")]
    assert p.interrupted == 1


def test_lf_inside_group_restarts_it():
    # CR of the first group turned into FF by noise: only that group is lost.
    bad = group(H, "PAPP", "00750").replace(b"\r", b"\x0c")
    frames, p = parse_all(b"\x02" + bad + group(H, "IINST", "003") + b"\x03")
    assert frames[0][1] == [("IINST", None, "003")]
    assert p.format_errors == 1


def test_group_longer_than_legal_is_format_error_then_resync():
    longest = group(S, "PJOURF+1", "X" * 98)
    assert len(longest) - 2 == MAX_GROUP
    too_long = group(S, "PJOURF+1", "X" * 99)
    frames, p = parse_all(b"\x02" + longest + too_long + group(S, "EAST", "000000001") + b"\x03")
    assert [g[0] for g in frames[0][1]] == ["PJOURF+1", "EAST"]
    assert p.format_errors == 1


def test_mode_is_detected_and_fixed_mode_rejects_the_other():
    hist = frame(H, [("PAPP", "00750")])
    std = frame(S, [("SINSTS", "00750")])
    p = Parser()
    p.feed(hist)
    assert p.mode == H
    p.feed(std)
    assert p.mode == S
    fixed = Parser(mode=H)
    fixed.feed(std)
    assert fixed.frame.n == 0 and fixed.format_errors == 1


def test_mixed_modes_in_one_frame_keep_the_first():
    data = b"\x02" + group(H, "PAPP", "00750") + group(S, "SINSTS", "00750") + b"\x03"
    frames, p = parse_all(data)
    assert frames[0] == (H, [("PAPP", None, "00750")]) and p.format_errors == 1


def test_frame_readers():
    p = Parser()
    groups = [
        ("ADSC", "041776199277"),
        ("EAST", "021849106"),
        ("STGE", "463A0800"),
        ("SMAXSN", "09562", "H200213085118"),
        ("PRM", "12345678901234"),
    ]
    p.feed(frame(S, groups))
    f = p.frame
    assert f.n == 5 and f.mode == S and f.seq == 1
    assert f.find(b"EAST") == 1 and f.find(b"EAS") == -1
    assert f.int_of(b"EAST") == 21849106
    assert f.int_of(b"STGE") == -1  # hex, not decimal
    assert f.int_of(b"PRM") == -1  # over 9 digits: read as text
    assert f.int_of(b"NOPE") == -1
    assert f.label_is(3, b"SMAXSN") and f.has_horodate(3) and not f.has_horodate(1)
    assert f.horodate(3) == "H200213085118" and f.horodate(1) is None
    assert f.label_hash(1) == label_hash(b"EAST")
    assert f.value(0) == "041776199277" and f.label(4) == "PRM"


def test_label_in_compares_against_a_slice_of_a_blob():
    p = Parser()
    p.feed(frame(S, [("EAST", "000000001"), ("SMAXSN1-1", "00100", "H200213085118")]))
    f = p.frame
    blob = b"EASTSMAXSN1-1EAS"
    assert f.label_in(0, blob, 0, 4)
    assert not f.label_in(0, blob, 13, 16)  # EAS: a prefix is not equal
    assert not f.label_in(0, blob, 0, 5)  # EASTS: longer
    assert not f.label_in(0, blob, 4, 8)  # same length, other bytes
    assert f.label_in(1, blob, 4, 13) and not f.label_in(1, blob, 0, 4)
    assert f.label_in(1, bytearray(blob), 4, 13)  # any bytes-like
    assert not f.label_in(0, blob, 2, 2)  # empty slice


def test_one_frame_buffer_readable_until_the_next_stx():
    p = Parser()
    p.feed(frame(H, [("PAPP", "00750")]))
    first = p.frame
    p.feed(b"\r\n garbage outside frames \x03\x04")
    assert p.frame is first and first.int_of(b"PAPP") == 750 and first.seq == 1
    p.feed(frame(H, [("PAPP", "00990")])[:-1])  # the next frame fills the same buffer
    assert p.frame is None
    p.feed(b"\x03")
    assert p.frame is first and first.int_of(b"PAPP") == 990 and first.seq == 2
    p.feed(b"\x02")
    p.reset()  # a partial frame forgotten does not bring the last one back
    assert p.frame is None


def _three_frames():
    a = frame(H, [("PAPP", "00750")])
    b = frame(H, [("PAPP", "00990"), ("IINST", "004")])
    return a, b, b"\n" + frame(H, [("PAPP", "01230")])[:-3]  # then the start of a third


def _stop_each_frame(p, data, start, n):
    """Feed data[start:start+n] with stop=True until consumed: [(PAPP, consumed)] per feed."""
    out = []
    while n:
        k = p.feed(data, n, start, True)
        assert 0 < k <= n
        out.append((p.frame.int_of(b"PAPP") if p.frame is not None else None, k))
        start += k
        n -= k
    return out


def test_feed_stop_returns_after_each_complete_frame():
    a, b, rest = _three_frames()
    data = a + b + rest
    whole = Parser()
    assert whole.feed(data) == len(data) and whole.feed(data, 5, 2, False) == 5
    # a whole buffer (scanned in place) and slices of a bigger one (staged)
    for buf, start in ((data, 0), (b"x" * 300 + data, 300)):
        p = Parser()
        got = _stop_each_frame(p, buf, start, len(data))
        assert got == [(750, len(a)), (990, len(b)), (None, len(rest))]
        ref = Parser()
        ref.feed(data)
        assert p.stats() == ref.stats() and p.frames == 2
    # without a complete frame, or without stop, everything is consumed
    p = Parser()
    assert p.feed(rest, -1, 0, True) == len(rest) and p.feed(data, -1, 0, False) == len(data)


def test_feed_stop_at_every_place_in_a_staged_chunk():
    # An ETX at the last byte of a CHUNK-sized staged piece, or anywhere else: the same frames,
    # counters and `bytes` as one whole feed, and each stop right after its ETX.
    a, b, rest = _three_frames()
    ref = Parser()
    for lead in range(CHUNK - len(a) - 2, CHUNK + 2):
        data = b"\x03" * lead + a + b + rest  # ETXs outside frames complete nothing
        ref = Parser()
        ref.feed(data)
        p = Parser()
        got = _stop_each_frame(p, data, 0, len(data))
        assert got == [(750, lead + len(a)), (990, len(b)), (None, len(rest))], lead
        assert p.stats() == ref.stats(), lead


def test_reset_drops_partial_frame():
    p = Parser()
    p.feed(frame(H, [("PAPP", "00750")])[:-1])
    p.reset()
    p.feed(b"\x03")
    assert p.frames == 0


def test_checksum_rule_is_mode_specific():
    # The other mode's rule never matches (differs by SP or HT): a wrong rule fails every group.
    covered = b"PAPP 00750"
    assert checksum(covered) != checksum(covered + b" ")
    g = b"\x02\nPAPP 00750 " + bytes([checksum(covered + b" ")]) + b"\r\x03"
    frames, p = parse_all(g)
    assert frames[0][1] == [] and p.checksum_errors == 1


# --- one rule for every byte, whatever the chunking (issue "parser hardening") ----------------


def feed_ways(data):
    """The parse of data fed in every way the parser takes bytes: whole, in separate buffers of
    256 bytes (scanned in place), as slices of small buffers (staged by slice assignments), the
    256-byte buffers again with stop=True (the reader's way), as slices of data (staged byte by
    byte), 1 byte at a time. Each result is (frames with their modes and groups, counters)."""
    out = []
    for kind in ("whole", "buffers", "padded", "stopping", "slices", "bytes"):
        frames = []
        p = Parser(on_frame=lambda f, out=frames: out.append((f.mode, f.groups())))
        if kind == "whole":
            p.feed(data)
        elif kind == "buffers":
            for i in range(0, len(data), 256):
                p.feed(bytes(data[i : i + 256]))
        elif kind == "padded":  # slices of buffers of at most CHUNK bytes: staged in C
            for i in range(0, len(data), 97):
                piece = data[i : i + 97]
                p.feed(b"\x02\n" * 20 + piece + b"\x03\r" * 20, len(piece), 40)
        elif kind == "stopping":  # as the firmware's reader: stop after each frame
            for i in range(0, len(data), 256):
                buf = bytes(data[i : i + 256])
                a = 0
                while a < len(buf):
                    a += p.feed(buf, len(buf) - a, a, True)
        else:
            step = 97 if kind == "slices" else 1
            for i in range(0, len(data), step):
                p.feed(data, min(step, len(data) - i), i)
        out.append((frames, p.stats()))
    return out


def parity_8n1(data):
    """The bytes an 8N1 reader gets from a 7E1 line: bit 7 carries the even parity bit."""
    out = bytearray(data)
    for i in range(len(out)):
        c = out[i] & 0x7F
        ones = 0
        while c:
            ones += c & 1
            c >>= 1
        out[i] = out[i] & 0x7F | (ones & 1) << 7
    return bytes(out)


def test_high_bytes_are_masked_on_every_path():
    # 0x82/0x83/0x8A/0x8D act as STX/ETX/LF/CR, 0xC1 as "A"; a 0xFF (DEL) in a group spoils it.
    f = frame(H, [("PAPP", "00750"), ("IINST", "003"), ("BASE", "000000001")])
    high = bytes(b | 0x80 if b in (2, 3, 10, 13) or b == ord("P") else b for b in f)
    spoilt = high.replace(b"IINST", b"II\xffST")
    data = f + (b"junk" + high + spoilt) * 4  # a 7-bit frame first: no path may assume 7 bits
    ways = feed_ways(data)
    assert all(w == ways[0] for w in ways)
    frames, stats = ways[0]
    assert frames[0] == frames[1]
    frames = frames[1:]
    assert len(frames) == 8 and frames[0] == (H, [("PAPP", None, "00750"), ("IINST", None, "003"),
                                                  ("BASE", None, "000000001")])  # fmt: skip
    assert frames[1][1] == [("PAPP", None, "00750"), ("BASE", None, "000000001")]
    assert stats["format_errors"] == 4 and stats["checksum_errors"] == 0


def test_8n1_stream_whose_first_stx_lost_its_parity_bit():
    clean = read(CAPTURES + "std-tri-tempo-stream-errors-teleinfo-nom.raw")
    data = bytearray(parity_8n1(clean))
    data[data.find(b"\x82")] = 0x02
    ways = feed_ways(bytes(data))
    assert all(w == ways[0] for w in ways)
    assert ways[0][0] == feed_ways(clean)[0][0]  # the same 7 frames as the 7E1 capture


def test_long_frames_identical_on_every_path():
    # Frames of 2.2 to 3 KB: kept up to FRAME_SIZE bytes (STX to ETX), dropped above, whatever
    # the chunking.
    g = group(S, "PJOURF+1", "X" * 98)  # 111 bytes
    frames_in = []
    for k, size in ((19, 0), (20, 0), (22, FRAME_SIZE), (22, FRAME_SIZE + 1), (30, 0)):
        head = b"\x02" + g * k
        pad = b"x" * (size - len(head) - 1) if size else b""  # text between groups: skipped
        frames_in.append(head + pad + b"\x03")
    data = b"".join(frames_in)
    ways = feed_ways(data)
    assert all(w == ways[0] for w in ways)
    frames, stats = ways[0]
    assert [len(x[1]) for x in frames] == [19, 20, 22]
    assert [len(x) for x in frames_in[2:4]] == [FRAME_SIZE, FRAME_SIZE + 1]
    assert len(frames_in[4]) > FRAME_SIZE + CHUNK
    assert stats["format_errors"] == 2 and stats["frames"] == 3
    assert 0 <= stats["ignored"] <= stats["bytes"]


def test_ignored_counts_every_byte_outside_frames():
    f = frame(H, [("PAPP", "00750")])
    for data, outside in (
        (b"\x55" * 700, 700),  # no STX at all
        (f + b"tail after ETX", 14),
        (b"\x01" * 5 + f + b"ab" + frame(H, [("PAPP", "00760")], end=b"\x04") + b"xyz", 10),
    ):
        for _, stats in feed_ways(data):
            assert stats["ignored"] == outside and stats["bytes"] == len(data)


def test_ignored_after_an_over_long_frame_stays_within_bytes():
    g = group(S, "PJOURF+1", "X" * 98)
    data = b"\x02" + g * 30 + b"\x03" + b"z" * 10  # 3.3 KB without ETX: dropped
    for _, stats in feed_ways(data):
        assert stats["frames"] == 0 and stats["format_errors"] == 1
        # Frame bytes: FRAME_SIZE from the STX; the rest is outside any frame.
        assert stats["ignored"] == len(data) - FRAME_SIZE


def test_empty_frame_reports_unknown_mode():
    seen = []
    p = Parser(on_frame=lambda f: seen.append((f.mode, f.n)))
    p.feed(frame(H, [("PAPP", "00750")]) + b"\x02\x03" + b"\x02\nPAPP 00750 X\r\x03")
    assert seen == [(H, 1), (MODE_UNKNOWN, 0), (MODE_UNKNOWN, 0)]
    assert p.mode == H and p.checksum_errors == 1


def test_historique_value_with_a_space_is_a_format_error():
    covered = b"PTEC HP JR"  # SP separates label and value: never inside a value
    bad = b"\n" + covered + b" " + bytes([checksum(covered)]) + b"\r"
    empty = b"\nPTEC  " + bytes([checksum(b"PTEC ")]) + b"\r"  # no value at all
    frames, p = parse_all(b"\x02" + bad + empty + group(H, "PAPP", "00750") + b"\x03")
    assert frames[0][1] == [("PAPP", None, "00750")]
    assert p.format_errors == 2 and p.checksum_errors == 0


def test_frame_size_must_hold_a_chunk():
    try:
        Parser(frame_size=CHUNK - 1)
    except ValueError:
        return
    raise AssertionError("no ValueError")


if __name__ == "__main__":
    import mpunit

    mpunit.main(globals())
