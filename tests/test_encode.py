# micropython: also
"""lib/tic/encode.py against checksums taken from real captures (../shared/captures)."""

from tic import MODE_HISTORIQUE, MODE_STANDARD
from tic.encode import checksum, frame, group


def test_historique_checksum_excludes_last_space():
    # From hist-mono-tempo-teleinfo-nom.raw: "IINST 002 Y"
    assert group(MODE_HISTORIQUE, "IINST", "002") == b"\nIINST 002 Y\r"


def test_historique_checksum_can_be_space():
    # Real capture: "PTEC HPJR" ends with two spaces.
    assert group(MODE_HISTORIQUE, "PTEC", "HPJR") == b"\nPTEC HPJR  \r"


def test_standard_checksum_includes_last_tab():
    # From std-mono-hchp-goteleinfo.raw / teleinfo-nom: "VTIC\t02\tJ"
    assert group(MODE_STANDARD, "VTIC", "02") == b"\nVTIC\t02\tJ\r"


def test_standard_date_has_empty_value():
    g = group(MODE_STANDARD, "DATE", "", "H200214230804")
    assert g.startswith(b"\nDATE\tH200214230804\t\t")
    assert g[-2] == checksum(b"DATE\tH200214230804\t\t")


def test_frame_wraps_groups():
    f = frame(MODE_HISTORIQUE, [("ADCO", "012345678901"), ("PAPP", "00750")])
    assert f[0] == 2 and f[-1] == 3
    assert f.count(b"\n") == 2


if __name__ == "__main__":
    import mpunit

    mpunit.main(globals())
