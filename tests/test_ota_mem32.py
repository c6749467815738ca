"""The heap an application update needs on 32-bit MicroPython 1.27, as on an ESP32_GENERIC.

tools/mem32_ota.py runs a whole update of the current image (ota.from_url against a fake HTTP
edge, the real update code) on the WebAssembly port, and the signature check phase by phase.
Budgets (issue 11, docs/design/ota.md §6): the update's own peak stays under
mem32_ota.PEAK_MAX (a regression bound), and the whole firmware with MQTT and the web server
plus that peak stays within the ~112 KB one heap growth gives, with MQTT kept publishing (the
reference firmware) and with MQTT stopped (the fallback when the heap has no room).
"""

import mem32
import mem32_ota
import pytest

pytestmark = pytest.mark.slow  # about 5 s of WebAssembly (10 s more for the firmware's run)


@pytest.fixture(scope="module")
def res():
    return mem32_ota.measure()


def _table(r):
    return "\n".join(mem32_ota.table(r))


def test_the_update_installs_on_32bit_micropython(res):
    assert res["result"] == {"ok": True, "error": "None"}, _table(res)
    assert len(res["chunks"]) >= 10  # 90 files, ~235 KB, read 512 B at a time
    assert res["upload_result"] == {"ok": True, "error": "None"}, _table(res)
    assert len(res["upload_chunks"]) >= 10
    # a release with a MicroPython image, written into the fake esp32.Partition
    assert res["fw_result"] == {"ok": True, "error": "None"}, _table(res)


def test_the_update_peak_stays_under_its_bound(res):
    assert res["peak"] <= mem32_ota.PEAK_MAX, _table(res)
    # the manifest's reception code is dropped before the signature check, the check's
    # modules after it: the check's peak (the points) stays under the manifest's phase plus
    # ed25519's code and points (~4 KB)
    c = res["check"]
    assert c["points"] < c["received"] + 4096 and c["after_check"] < c["received"], _table(res)


def test_whole_firmware_with_an_update_within_one_heap_growth(res):
    """The firmware with MQTT and the web server plus the update's peak, within one growth of
    the heap, both ways firmware/ota_run.py make_room() can go (tools/mem32.py's web scenario
    calls it; the update's task module kept):
    - room enough (the reference firmware): MQTT keeps publishing through the update
      (2026-12-02: 97.3 KB + 13.7 KB = 111.0 KB); make_room's rule, room() >= NEED, says so
      for this firmware, and NEED covers the update's peak;
    - no room: MQTT stopped and dropped (86.8 KB + 13.7 KB = 100.5 KB; 100.8 + 22.3 = 123.1 KB
      before the update could stop MQTT);
    - an upload (POST /api/ota/upload), whose request holds 11.8 KB of web code: no room with
      MQTT, which is stopped: 86.8 KB + 23.7 KB = 110.5 KB;
    - a release with a MicroPython image (its writer: +8.5 KB): no room with MQTT either:
      86.8 KB + 22.3 KB = 109.1 KB."""
    from firmware import ota_run

    try:
        w = mem32.measure_web(frames=40, first=10, modes=("standard",))["modes"]["standard"]
    except mem32.Mem32Error as e:
        pytest.fail("scenario web did not run: %s" % e)
    t = _table(res)
    kept = w["board_room_kept"] + res["peak"]
    assert kept <= mem32_ota.HEAP_MAX, "MQTT kept: firmware %d + update %d = %d B > %d B\n%s" % (
        w["board_room_kept"], res["peak"], kept, mem32_ota.HEAP_MAX, t)  # fmt: skip
    assert ota_run.NEED >= res["peak"], (ota_run.NEED, t)
    room = mem32_ota.HEAP_MAX - w["board_room_kept"]
    assert room >= ota_run.NEED, "the reference firmware would stop MQTT: %d B of room" % room
    total = w["board_room"] + res["peak"]
    assert total <= mem32_ota.HEAP_MAX, "firmware %d (room made) + update %d = %d B > %d B\n%s" % (
        w["board_room"], res["peak"], total, mem32_ota.HEAP_MAX, t)  # fmt: skip
    # an upload: its request's code leaves no room for it with MQTT, which make_room() stops;
    # then the firmware plus the upload's peak (its request's code included) fit
    assert room - res["upload_code"] < ota_run.NEED, (room, res["upload_code"], t)
    up = w["board_room"] + res["upload_peak"]
    assert up <= mem32_ota.HEAP_MAX, "firmware %d (room made) + upload %d = %d B > %d B\n%s" % (
        w["board_room"], res["upload_peak"], up, mem32_ota.HEAP_MAX, t)  # fmt: skip
    # a release with a MicroPython image: NEED + FW_NEED covers its peak, leaves no room with
    # MQTT, which make_room(image=True) stops; then the firmware plus that peak fit
    fw_need = ota_run.NEED + ota_run.FW_NEED
    assert fw_need >= res["fw_peak"] and room < fw_need, (fw_need, res["fw_peak"], room, t)
    fw = w["board_room"] + res["fw_peak"]
    assert fw <= mem32_ota.HEAP_MAX, "firmware %d (room made) + image %d = %d B > %d B\n%s" % (
        w["board_room"], res["fw_peak"], fw, mem32_ota.HEAP_MAX, t)  # fmt: skip
    # what the room is: MQTT's objects and code (its interned names stay)
    assert w["board_room"] <= w["board_steady"] - 7 * 1024, (w["board_room"], w["board_steady"])
