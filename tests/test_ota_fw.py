# micropython: also
"""Firmware OTA (firmware/ota_fw.py) on the host flash (firmware/hal/flash_host.py): an image
streamed into the other slot, set_boot(), simulated reboots (flash_host.boot() plays the
ESP-IDF bootloader), trial, rollback, confirmation, and every refusal leaving the running slot
as it was. flash_esp32.py runs against a fake `esp32` module over the same files."""

import os
import sys

from fw_image import app_image, sha256_hex

from firmware import ota_fw
from firmware.hal import flash, flash_host, otadata

try:
    _TAG = "%d" % os.getpid()
except AttributeError:  # MicroPython
    import time

    _TAG = "%d" % (time.time_ns() if hasattr(time, "time_ns") else time.ticks_us())
_DIR = "/tmp/linky-test-otafw-%s-%s" % (sys.implementation.name, _TAG)
SIZE = 40992  # a small image: (SIZE - 32) % 16 == 0, ten 4 KB sectors and a bit


def _fresh():
    """An empty flash directory, and a first boot as after `make flash`."""
    try:
        os.mkdir(_DIR)
    except OSError:
        pass
    flash_host.DIR = _DIR + "/flash"
    try:
        for name in os.listdir(flash_host.DIR):
            os.remove(flash_host.DIR + "/" + name)
    except OSError:
        pass
    flash_host._run = None
    return flash_host.boot()


def _chunks(data, sizes=(1, 700, 4096, 5000, 333)):
    mv = memoryview(data)
    pos = i = 0
    while pos < len(data):
        k = sizes[i % len(sizes)]
        yield mv[pos : pos + k]
        pos += k
        i += 1


def _install(img, sha=None, size=None, chunks=None):
    w = ota_fw.Writer(len(img) if size is None else size, sha or sha256_hex(img))
    for c in chunks or _chunks(img):
        w.write(c)
    return w.finish()


def _raises(fn, *args):
    try:
        fn(*args)
    except ValueError as e:
        return str(e)
    raise AssertionError("no ValueError")


def _otadata():
    return flash_host._read_otadata()


def test_a_fresh_board_runs_ota_0_valid():
    assert _fresh() == 0
    assert flash.running_info() == ("ota_0", "valid", False)
    assert ota_fw.status() == {"slot": "ota_0", "state": "valid", "rolled_back": False,
                               "next": "ota_1"}  # fmt: skip
    assert flash.mark_valid() is False  # nothing on trial


def test_update_boots_on_trial_and_mark_valid_keeps_it():
    _fresh()
    img = app_image(SIZE, "v1.28.0")
    assert _install(img) == "v1.28.0"
    assert flash.running_info() == ("ota_0", "valid", False)  # until the reset
    assert flash_host.boot() == 1  # reset: the new slot runs, on trial
    assert flash.running_info() == ("ota_1", "pending", False)
    assert ota_fw.mark_valid() is True
    assert flash.running_info() == ("ota_1", "valid", False)
    assert flash_host.boot() == 1  # stays
    assert flash.running_info() == ("ota_1", "valid", False)
    assert ota_fw.mark_valid() is False
    buf = bytearray(SIZE)
    flash_host.Partition(1).readblocks(0, buf)
    assert buf == img


def test_reset_before_mark_valid_rolls_back():
    _fresh()
    _install(app_image(SIZE))
    assert flash_host.boot() == 1
    assert flash_host.boot() == 0  # a crash or watchdog reset during the trial
    assert flash.running_info() == ("ota_0", "valid", True)
    assert ota_fw.status()["rolled_back"] is True
    assert flash_host.boot() == 0  # for good
    e = _otadata()
    assert e[1][1] == otadata.ABORTED and e[0][1] == otadata.VALID


def test_the_next_update_goes_to_the_other_slot_and_rolls_back_to_ota_1():
    _fresh()
    _install(app_image(SIZE, "v1.28.0"))
    flash_host.boot()
    flash.mark_valid()
    assert ota_fw.status()["next"] == "ota_0"
    _install(app_image(SIZE + 4096, "v1.29.0", seed=b"other"))
    assert flash_host.boot() == 0
    assert flash.running_info() == ("ota_0", "pending", False)
    assert flash_host.boot() == 1  # not confirmed: back to v1.28.0 in ota_1
    assert flash.running_info() == ("ota_1", "valid", True)


def test_no_update_while_the_running_firmware_is_on_trial():
    # It would overwrite the slot the trial rolls back to.
    _fresh()
    _install(app_image(SIZE))
    flash_host.boot()
    assert "on trial" in _raises(ota_fw.Writer, SIZE, "00" * 32)
    flash.mark_valid()
    ota_fw.Writer(SIZE, "00" * 32)


def test_the_slot_booted_is_remembered_when_the_module_is_reloaded():
    # The host boot path unloads flash_host after boot(); a later import must not boot again
    # (that would abort a trial in the middle of its boot).
    _fresh()
    _install(app_image(SIZE))
    assert flash_host.boot() == 1
    flash_host._run = None  # as after firmware.unload() and a new import
    assert flash_host.running_slot() == 1
    assert flash.running_info() == ("ota_1", "pending", False)


def test_why_no_update_during_a_trial():
    # What the refusal above prevents (MicroPython writes slots directly, so esp_ota_begin()'s
    # own refusal never runs): a second image booted while the first is on trial leaves no
    # entry to roll back to, and the bootloader then boots ota_0 whatever it holds.
    _fresh()
    _install(app_image(SIZE, "v2"))
    assert flash_host.boot() == 1  # v2 on trial
    img = app_image(SIZE, "v3")
    p = flash_host.Partition(0)
    padded = bytearray(b"\xff" * (11 * 4096))
    padded[:SIZE] = img
    p.writeblocks(0, padded)
    p.set_boot()
    assert flash_host.boot() == 0  # v3 on trial, v2's entry aborted
    assert flash_host.boot() == 0  # v3 never confirmed, yet it boots again: no rollback
    assert flash.running_info() == ("ota_0", "none", False)
    e = _otadata()
    assert e[0][1] == otadata.ABORTED and e[1][1] == otadata.ABORTED


def _unchanged_after(fn):
    _fresh()
    before = _otadata()
    fn()
    assert _otadata() == before
    assert flash_host.boot() == 0
    assert flash.running_info() == ("ota_0", "valid", False)
    assert not flash_host.image_ok(1)  # nothing bootable left in the other slot


def test_a_wrong_hash_never_sets_boot():
    img = app_image(SIZE)

    def t():
        msg = _raises(_install, img, sha256_hex(b"another image"))
        assert "SHA-256 mismatch in the download" in msg

    _unchanged_after(t)


def test_a_corrupted_download_never_sets_boot():
    img = app_image(SIZE)
    sha = sha256_hex(img)
    img[20000] ^= 0x10

    def t():
        assert "SHA-256" in _raises(_install, img, sha)

    _unchanged_after(t)


def test_a_truncated_download_is_refused():
    img = app_image(SIZE)

    def t():
        w = ota_fw.Writer(SIZE, sha256_hex(img))
        w.write(memoryview(img)[: SIZE - 100])
        assert "truncated: 40892 of 40992" in _raises(w.finish)

    _unchanged_after(t)


def test_more_bytes_than_announced_are_refused():
    img = app_image(SIZE)

    def t():
        w = ota_fw.Writer(SIZE - 16, sha256_hex(img))
        assert "more than" in _raises(w.write, img)

    _unchanged_after(t)


def test_too_big_empty_and_bad_hash_are_refused_before_writing():
    _fresh()
    slot = flash_host.SIZE
    assert "1572865 bytes, the slot holds 1572864" in _raises(ota_fw.Writer, slot + 1, "00" * 32)
    _raises(ota_fw.Writer, 0, "00" * 32)
    assert "bad SHA-256" in _raises(ota_fw.Writer, 100, "abc")
    assert "bad SHA-256" in _raises(ota_fw.Writer, 100, "zz" * 32)
    ota_fw.Writer(slot, "00" * 32)  # exactly the slot: fine


def test_a_header_that_is_not_an_app_image_is_refused_at_once():
    def t():
        img = app_image(SIZE)
        img[0] = 0x00  # not 0xE9
        w = ota_fw.Writer(SIZE, sha256_hex(img))
        assert "0xE9" in _raises(w.write, memoryview(img)[:10])
        img = app_image(SIZE)
        img[32:36] = b"\0\0\0\0"  # a full flash image starts with the bootloader's header
        w = ota_fw.Writer(SIZE, sha256_hex(img))
        w.write(memoryview(img)[:32])  # the image header is fine...
        assert ".app-bin" in _raises(w.write, memoryview(img)[32:34])  # ...the app desc is not
        img = app_image(SIZE, chip=9)  # an ESP32-S3 image
        w = ota_fw.Writer(SIZE, sha256_hex(img))
        assert "another chip" in _raises(w.write, img)

    _unchanged_after(t)


def test_the_bootloader_check_refuses_an_image_with_a_bad_appended_hash():
    # The manifest matches the bytes, but the image itself is corrupt: set_boot() checks it.
    img = app_image(SIZE)
    img[-1] ^= 1

    def t():
        assert "image check failed" in _raises(_install, img)

    _unchanged_after(t)


class _BadFlash(flash_host.Partition):
    """Flash that corrupts one bit of what it is given at offset 9000."""

    def writeblocks(self, block, buf, offset=None):
        super().writeblocks(block, buf, offset)
        off = block * 4096 + (offset or 0)
        if off <= 9000 < off + len(buf):
            one = bytearray(1)
            self.readblocks(0, one, 9000)
            one[0] ^= 4
            flash_host.Partition.writeblocks(self, 0, one, 9000)


def test_a_flash_write_error_is_caught_reading_back():
    img = app_image(SIZE)

    def t():
        w = ota_fw.Writer(SIZE, sha256_hex(img), part=_BadFlash(1))
        for c in _chunks(img):
            w.write(c)
        assert "reading the slot back" in _raises(w.finish)

    _unchanged_after(t)


def test_abort_erases_the_first_sector():
    _fresh()
    img = app_image(SIZE)
    w = ota_fw.Writer(SIZE, sha256_hex(img))
    w.write(img)
    assert flash_host.image_ok(1)
    w.abort()
    assert not flash_host.image_ok(1)
    buf = bytearray(16)
    flash_host.Partition(1).readblocks(0, buf)
    assert buf == b"\xff" * 16


def test_host_partition_block_api_matches_the_esp32_port():
    _fresh()
    p = flash_host.next_update()
    assert p.info() == (0, 0x11, 0x190000, 0x180000, "ota_1", False)
    assert p.ioctl(4, 0) == 384 and p.ioctl(5, 0) == 4096 and p.ioctl(1, 0) == 0
    try:
        p.writeblocks(0, bytearray(100))  # the simple form erases: whole sectors only
        raise AssertionError("no OSError")
    except OSError as e:
        assert e.args[0] == -0x104  # ESP_ERR_INVALID_SIZE, as check_esp_err() raises it
    p.writeblocks(2, b"\x01" * 4096)
    try:
        p.writeblocks(3, b"\x02" * 10, 5)  # extended form on a sector not erased
        raise AssertionError("no OSError")
    except OSError:
        pass
    assert p.ioctl(6, 3) == 0
    p.writeblocks(3, b"\x02" * 10, 5)
    buf = bytearray(20)
    p.readblocks(3, buf)
    assert buf == b"\xff" * 5 + b"\x02" * 10 + b"\xff" * 5
    p.close()


def test_otadata_entries_match_esp_idf():
    # crc of seq 1 as the ESP32 ROM computes it (crc32_le(UINT32_MAX, seq, 4))
    assert otadata.crc(1) == 0x4743989A
    e = otadata.parse(otadata.pack(7, otadata.PENDING))
    assert e == (7, otadata.PENDING, True)
    blank = otadata.parse(b"\xff" * 32)
    assert otadata.initial(blank) and otadata.invalid(blank)
    assert otadata.active(blank, e) == 1 and otadata.active(blank, blank) == -1
    assert (
        otadata.active(otadata.parse(otadata.pack(3, 2)), otadata.parse(otadata.pack(4, 2))) == 1
    )


# flash_esp32.py over a fake `esp32` module: the partitions are the host files above.


class _FakePartition:
    BOOT, RUNNING, TYPE_APP, TYPE_DATA = 0, 1, 0, 1
    ota = True  # False: a non-OTA layout (factory app, no otadata)
    marked = 0

    def __init__(self, id, block_size=4096):
        if id == "otadata":
            if not _FakePartition.ota:
                raise OSError(2)  # esp32_partition_new(NULL): ENOENT
            self.p = None
        elif id == _FakePartition.RUNNING:
            self.p = flash_host.Partition(flash_host.running_slot()) if self.ota else None
        else:
            raise ValueError(id)

    def info(self):
        if self.p is None:
            return (0, 0, 0x10000, 0x1F0000, "factory", False)
        return self.p.info()

    def readblocks(self, block, buf):  # otadata
        for i in range(len(buf)):
            buf[i] = 0xFF
        try:
            with open(flash_host.DIR + "/otadata", "rb") as f:
                f.seek(block * 4096)
                f.readinto(buf)
        except OSError:
            pass

    def get_next_update(self):
        if self.p is None:
            raise OSError(2)
        return self.p.get_next_update()

    @classmethod
    def mark_app_valid_cancel_rollback(cls):
        if not cls.ota:
            raise OSError(-261, "ESP_ERR_NOT_FOUND")
        cls.marked += 1
        flash_host.mark_valid()


def _esp32_flash():
    class Esp32:
        Partition = _FakePartition

    sys.modules["esp32"] = Esp32
    sys.modules.pop("firmware.hal.flash_esp32", None)
    try:
        from firmware.hal import flash_esp32

        return flash_esp32
    finally:
        del sys.modules["esp32"]
        sys.modules.pop("firmware.hal.flash_esp32", None)


def test_esp32_side_reads_the_board_otadata_and_confirms_only_a_trial():
    fe = _esp32_flash()
    _FakePartition.ota, _FakePartition.marked = True, 0
    _fresh()
    assert fe.running_info() == ("ota_0", "valid", False)
    assert fe.next_update().info()[4] == "ota_1"
    assert fe.mark_valid() is False and _FakePartition.marked == 0
    _install(app_image(SIZE))
    assert fe.mark_valid() is False and _FakePartition.marked == 0  # would confirm the new one
    flash_host.boot()
    assert fe.running_info() == ("ota_1", "pending", False)
    assert fe.mark_valid() is True and _FakePartition.marked == 1
    assert fe.running_info() == ("ota_1", "valid", False)
    _install(app_image(SIZE))
    flash_host.boot()
    flash_host.boot()
    assert fe.running_info() == ("ota_1", "valid", True)


def test_esp32_side_without_an_ota_layout_never_raises():
    fe = _esp32_flash()
    _FakePartition.ota, _FakePartition.marked = False, 0
    try:
        _fresh()
        assert fe.next_update() is None
        assert fe.running_info() == ("factory", "none", False)
        assert fe.mark_valid() is False and _FakePartition.marked == 0
        saved = flash.next_update
        flash.next_update = fe.next_update
        try:
            assert "no OTA slot" in _raises(ota_fw.Writer, SIZE, "00" * 32)
        finally:
            flash.next_update = saved
    finally:
        _FakePartition.ota = True


if __name__ == "__main__":
    import mpunit

    mpunit.main(globals())
