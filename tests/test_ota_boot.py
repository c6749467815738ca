# micropython: also
"""firmware/ota_run.py's after_round(): an update waits while an MQTT discovery round runs (the
heap's two biggest users never overlap), and not at all without MQTT or between rounds."""

import asyncio

from firmware import ota_run


class _Pub:
    def __init__(self, in_round):
        self.in_round = in_round


class _App:
    def __init__(self, mqtt):
        self.mqtt = mqtt


def _run(app, end_round_after=None):
    """Ticks of 10 ms that after_round(app) took; the round ends after `end_round_after`."""
    ticks = [0]

    async def clock():
        while True:
            await asyncio.sleep(0.01)
            ticks[0] += 1
            if end_round_after is not None and ticks[0] >= end_round_after:
                app.mqtt.in_round = False

    async def main():
        t = asyncio.create_task(clock())
        await ota_run.after_round(app)
        n = ticks[0]
        t.cancel()
        return n

    return asyncio.run(main())


def test_no_wait_without_mqtt_or_between_rounds():
    assert _run(_App(None)) == 0
    assert _run(_App(_Pub(False))) == 0
    assert _run(_App(object())) == 0  # a publisher without the flag: no round known


def test_waits_for_the_round_to_end():
    app = _App(_Pub(True))
    n = _run(app, end_round_after=25)
    assert not app.mqtt.in_round
    assert n >= 25, n  # it returned only once the round had ended


def test_without_mqtt_the_room_is_a_collection_only():
    spared = []
    app = _App(None)
    app.spare = spared.append

    async def main():
        return await ota_run.make_room(app)

    assert asyncio.run(main()) is False  # nothing stopped
    ota_run.give_back(app, False)  # nothing to start again
    assert spared == [False, True] and app.mqtt is None


if __name__ == "__main__":
    import mpunit

    mpunit.main(globals())
