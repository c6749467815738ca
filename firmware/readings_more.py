"""The readers of firmware.readings.Readings that no firmware part calls (tests and host
tools do), loaded on their first use through Readings.__getattr__ (`rd.value(r)` works as a
method): their code is not resident. Each allocates at least the bound call.

    value(rd, r)          row r's raw value as bytes, b"" when absent
    meter_id(rd)          the confirmed ADCO/ADSC as bytes, b"" until known (rd.meter_id)
    value_len(rd, r)      the length of row r's value, 0 when absent
    changed_ms(rd, r)     ticks_ms of row r's last change (value, horodate or presence)
    has_horodate(rd, r), copy_horodate(rd, r, dst, at=0) -> 13 or 0
"""

from firmware.readings import HORODATE_LEN, NO_SLOT, S_PRESENT


def value_len(rd, r):
    return rd.lens[r] if rd.status[r] & S_PRESENT else 0


def value(rd, r):
    a = rd.off[r]
    return bytes(rd.vals[a : a + value_len(rd, r)])


def meter_id(rd):
    return bytes(rd._id[: rd._idn])


def changed_ms(rd, r):
    return rd._ticks[r]


def has_horodate(rd, r):
    return rd.hslot[r] != NO_SLOT and bool(rd.status[r] & S_PRESENT)


def copy_horodate(rd, r, dst, at=0):
    """Copy row r's horodate (13 bytes) to dst[at:]; returns 13, or 0 if it has none."""
    if not has_horodate(rd, r):
        return 0
    k = rd.hslot[r] * HORODATE_LEN
    for j in range(HORODATE_LEN):
        dst[at + j] = rd.hods[k + j]
    return HORODATE_LEN
