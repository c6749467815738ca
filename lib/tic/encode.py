"""Build TIC groups and frames with correct checksums (simulator, tests, fixtures).

Not used on the device's receive path, so it may allocate freely.
"""

from tic import MODE_HISTORIQUE, MODE_STANDARD

STX = b"\x02"
ETX = b"\x03"
EOT = b"\x04"
LF = 0x0A
CR = 0x0D
SP = 0x20
HT = 0x09


def checksum(covered):
    """The checksum character (an int) of the covered bytes: (sum & 0x3F) + 0x20.

    Historique covers `label SP data`; standard covers `label HT [horodate HT] data HT`.
    """
    s = 0
    for b in covered:
        s += b
    return (s & 0x3F) + 0x20


def _b(x):
    return x.encode() if isinstance(x, str) else bytes(x)


def group(mode, label, value, horodate=None):
    """One group, LF to CR, as bytes. `horodate` only in standard mode."""
    label = _b(label)
    value = _b(value)
    if mode == MODE_HISTORIQUE:
        if horodate is not None:
            raise ValueError("historique groups have no horodate")
        covered = label + b" " + value
        return b"\n" + covered + b" " + bytes([checksum(covered)]) + b"\r"
    if mode != MODE_STANDARD:
        raise ValueError("mode must be historique or standard")
    covered = label + b"\t"
    if horodate is not None:
        covered += _b(horodate) + b"\t"
    covered += value + b"\t"
    return b"\n" + covered + bytes([checksum(covered)]) + b"\r"


def frame(mode, groups, end=ETX):
    """A frame from (label, value) or (label, value, horodate) tuples; `end` ETX or EOT."""
    out = [STX]
    for g in groups:
        out.append(group(mode, *g))
    out.append(end)
    return b"".join(out)
