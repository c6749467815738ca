"""A discovery round of firmware/mqtt_pub.py's Publisher, loaded for the round and dropped
after it (with lib/ha_tpl.py, which it loads): each entity's config is streamed from the
templates file (lib/ha_tpl.py) into the Publisher's buffers, one retained message at a time.

    await round(pub, c, added)        the round on client c
    await announce(pub, c, added, t) -> n   its configs, from ha_tpl.Templates t

Contract and policy: firmware/mqtt_pub.py. A missing or corrupt templates file skips the round
(one error line) and publishing goes on; so does a round without memory.
"""

import asyncio
import gc

from firmware import unload
from firmware.mqtt_pub import ROUND_RETRY_MS, _ms, log
from firmware.version import VERSION
from tic import labels

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


_PAYLOAD_MAX = const(768)  # a config's room in pub._buf (lib/ha.py PAYLOAD_MAX); the
# templates file's record is read after it


def _tempo(rd, tbuf):
    # Standard mode: STGE bits 24-25 (today's Tempo colour) are non-zero on a Tempo contract;
    # they are the low bits of the second of STGE's eight hex digits.
    r = labels.index("STGE")
    if r < 0 or not rd.present(r) or rd.copy_value(r, tbuf) != 8:
        return False
    d = tbuf[1]
    v = d - 48 if d <= 57 else (d | 32) - 87
    return bool(v & 3)


async def announce(pub, c, added, t):
    """The configs of a round for Publisher `pub` on client `c`, from ha_tpl.Templates `t`:
    the entities of the labels present now, one retained config at a time, and empty configs
    for the retired ones; added=True: only those not announced yet (labels that appeared since
    the last round, e.g. ADPS during an overload), keeping the rest. Updates pub._entities,
    pub._mode, pub.bytes; returns the number of configs sent. ValueError from a corrupt file."""
    import ha_tpl

    rd = pub.rd
    mv = memoryview(pub._buf)
    pbuf = mv[:_PAYLOAD_MAX]
    tbuf = pub._tbuf
    tv = memoryview(tbuf)
    rows = (r for r in range(labels.COUNT) if rd.present(r))
    new = ha_tpl.select(rows, rd.mode, tempo=_tempo(rd, tbuf))
    old = pub._entities
    if pub._mode is not None and pub._mode != rd.mode:
        old = ha_tpl.possible(pub._mode)  # a mode change: every entity of the old mode
    n = 0
    if added:
        todo = list(ha_tpl.retired(new, old))  # in new, not announced yet
        for i in range(len(new)):
            new[i] |= old[i]  # nothing retires in a partial round
    else:
        for code in ha_tpl.retired(old, new):
            await c.publish(tv[: t.topic(code, tbuf)], b"", retain=True, qos=1)
        todo = ha_tpl.codes(new)
    for code in todo:  # two views a config (the client takes whole objects): all it allocates
        m = t.config(code, tbuf, pbuf)
        await c.publish(tv[: t.tn], mv[:m], retain=True, qos=1)
        pub.bytes += m
        n += 1
    pub._entities[:] = new
    pub._mode = rd.mode
    return n


async def _discovery_round(pub, c, added):
    # The module and the file's buffers load into the holes a collection leaves. Each
    # collection is followed by a turn of the loop: on the 32-bit harness (WebAssembly)
    # gc.collect() only asks for a collection, which runs when the loop yields; on a board it
    # runs at once and the turn costs nothing.
    pub.app.spare(False)
    t = None
    try:
        await asyncio.sleep_ms(0)
        import ha_tpl

        s = pub.s
        raw = memoryview(pub._buf)[_PAYLOAD_MAX:]
        try:
            t = ha_tpl.Templates(
                pub.meter, pub.rd.mode, s["mqtt_prefix"], s["ha_prefix"], VERSION, raw=raw
            )
            gc.collect()  # the import's and the device block's garbage
            await asyncio.sleep_ms(0)
            n = await announce(pub, c, added, t)
        except (OSError, ValueError) as e:
            if isinstance(e, OSError) and t is not None:
                raise  # the connection's (OSError there is the file's, before t exists)
            log.error("discovery skipped: cannot use %s: %r", ha_tpl.path(), e)
            _skip(pub)
            return
        log.info("discovery: %d entities announced", n)
    finally:
        if t is not None:
            t.close()
        unload("ha_tpl")
        gc.collect()  # the round's module goes before what comes next
        await asyncio.sleep_ms(0)
        pub.app.spare(True)


def _skip(pub):
    # Not again at every poll (the labels present now count as announced): at the next
    # trigger (a connection, `rediscover`, Home Assistant's "online", a retry).
    e = pub._entities
    rd = pub.rd
    for r in range(labels.COUNT):
        if rd.present(r):
            e[r >> 3] |= 1 << (r & 7)


async def round(pub, c, added):
    """A discovery round for pub on client c (see announce()). Discovery is worth a retry,
    not a crash loop: out of memory, the round is skipped (logged; tried again after
    ROUND_RETRY_MS, on `rediscover` or at the next connection) and publishing goes on; a
    missing or corrupt templates file skips it with an error line (tried at the next
    trigger)."""
    pub.in_round = True
    try:
        try:
            await _discovery_round(pub, c, added)
        except MemoryError:
            # Often fragmentation from what other tasks allocated meanwhile: once more, at
            # once, from a collected heap (configs sent twice are harmless: retained).
            unload("ha_tpl")
            gc.collect()
            log.warning("discovery: out of memory (mem used %d); trying again", gc.mem_alloc())
            await _discovery_round(pub, c, added)
    except MemoryError:
        unload("ha_tpl")
        gc.collect()
        log.error(
            "discovery skipped: out of memory (mem used %d); again in %d s",
            gc.mem_alloc(),
            ROUND_RETRY_MS // 1000,
        )
        pub._retry = _ms()
        _skip(pub)
    finally:
        pub.in_round = False
