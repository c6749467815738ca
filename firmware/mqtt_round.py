"""A discovery round of firmware/mqtt_pub.py's Publisher, loaded for the round and dropped
after it (with lib/ha.py, lib/ha_keys.py and tic.label_docs, which it loads).

    await round(pub, c, added)        the round on client c (lib/ha.py announce())

Contract and policy: firmware/mqtt_pub.py.
"""

import asyncio
import gc

from firmware import unload
from firmware.mqtt_pub import ROUND_RETRY_MS, _ms, log
from firmware.version import VERSION
from tic import labels


async def _discovery_round(pub, c, added):
    # The modules and their tables load into the holes a collection leaves, the biggest first
    # (label_docs' 3.5 KB text). Each collection is followed by a turn of the loop: on the
    # 32-bit harness (WebAssembly) gc.collect() only asks for a collection, which runs when
    # the loop yields; on a board it runs at once and the turn costs nothing.
    pub.app.spare(False)
    try:
        await asyncio.sleep_ms(0)
        __import__("tic.label_docs")
        import ha

        gc.collect()  # the imports' garbage
        await asyncio.sleep_ms(0)
        n = await ha.announce(pub, c, added, VERSION)
        log.info("discovery: %d entities announced", n)
    finally:
        unload("ha", "ha_keys", "tic.label_docs")
        gc.collect()  # the round's modules go before what comes next
        await asyncio.sleep_ms(0)
        pub.app.spare(True)


async def round(pub, c, added):
    """A discovery round for pub on client c (see lib/ha.py announce()). Discovery is worth a
    retry, not a crash loop: out of memory, the round is skipped (logged; tried again after
    ROUND_RETRY_MS, on `rediscover` or at the next connection) and publishing goes on."""
    pub.in_round = True
    try:
        try:
            await _discovery_round(pub, c, added)
        except MemoryError:
            # Often fragmentation from what other tasks allocated meanwhile: once more, at
            # once, from a collected heap (configs sent twice are harmless: retained).
            unload("ha", "ha_keys", "tic.label_docs")
            gc.collect()
            log.warning("discovery: out of memory (mem used %d); trying again", gc.mem_alloc())
            await _discovery_round(pub, c, added)
    except MemoryError:
        unload("ha", "ha_keys", "tic.label_docs")
        gc.collect()
        log.error(
            "discovery skipped: out of memory (mem used %d); again in %d s",
            gc.mem_alloc(),
            ROUND_RETRY_MS // 1000,
        )
        pub._retry = _ms()
        e = pub._entities
        rd = pub.rd
        for r in range(labels.COUNT):  # not again at every poll: at the next trigger
            if rd.present(r):
                e[r >> 3] |= 1 << (r & 7)
    finally:
        pub.in_round = False
