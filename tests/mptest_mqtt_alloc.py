"""MicroPython only: what lib/mqtt.py does per publish without allocating (heap locked):
remaining-length encoding, the PUBLISH header (fixed header, topic, packet id) written into the
preallocated header buffer for bytes, bytearray and memoryview topics, packet-id increments;
and what a whole QoS 0 publish allocates when the socket takes it at once: one memoryview."""

import asyncio
import gc

import micropython
import mqtt


def test_remaining_length_encoding_allocates_nothing():
    buf = bytearray(8)
    for n, k in ((0, 2), (127, 2), (128, 3), (16384, 4), (2097152, 5), (268435455, 5)):
        micropython.heap_lock()
        try:
            i = mqtt._enc_len(buf, 1, n)
        finally:
            micropython.heap_unlock()
        assert i == k


def test_publish_header_allocates_nothing():
    c = mqtt.MQTTClient("x", "h")
    payload = bytearray(300)
    for topic in (b"linky/abc/PAPP", bytearray(b"linky/abc/PAPP"), memoryview(b"linky/abc/PAPP")):
        micropython.heap_lock()
        try:
            n0 = c._pub_head(topic, len(payload), 0, False, False, 0)
            n1 = c._pub_head(topic, 5, 1, True, True, 0x1234)
        finally:
            micropython.heap_unlock()
        assert n0 == 1 + 2 + 2 + 14
        assert n1 == 1 + 1 + 2 + 14 + 2
        assert bytes(c._hbuf[:n1]) == b"\x3b\x17\x00\x0elinky/abc/PAPP\x12\x34"


def test_packet_ids_allocate_nothing():
    c = mqtt.MQTTClient("x", "h")
    c._pid = 65530

    last = 0
    micropython.heap_lock()
    try:
        for _ in range(20):
            last = c._next_pid()
    finally:
        micropython.heap_unlock()
    assert last == 15  # 65531..65535, then 1..15 (0 is never used)


class _NullStream:
    """Takes everything, like MicroPython's Stream when the socket accepts the whole write."""

    out_buf = b""

    def __init__(self):
        self.n = 0

    def write(self, b):
        self.n += len(b)

    def drain(self):
        return asyncio.sleep_ms(0)  # a shared object, no allocation

    def close(self):
        pass


def test_qos0_publish_allocation_is_bounded():
    c = mqtt.MQTTClient("x", "h")
    s = _NullStream()
    c._s = s
    topic = b"linky/abc/EAST"
    payload = bytearray(b"012345678")
    per = [0, 0]
    mv = memoryview(bytearray(8))

    async def main():
        await c.publish(topic, payload)  # warm up
        gc.collect()
        gc.disable()
        a = gc.mem_alloc()
        for _ in range(100):
            await c.publish(topic, payload)
        b = gc.mem_alloc()
        for _ in range(100):
            mv[:5]
        per[0] = (b - a) // 100
        per[1] = (gc.mem_alloc() - b) // 100
        gc.enable()

    asyncio.run(main())
    assert s.n == 101 * (2 + 2 + 14 + 9)
    print("bytes allocated per QoS 0 publish: %d (a memoryview slice: %d)" % tuple(per))
    assert per[0] == per[1], per


if __name__ == "__main__":
    import mpunit

    mpunit.main(globals())
