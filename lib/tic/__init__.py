"""TIC (télé-information client) protocol of the French Linky and older electronic meters.

Pure Python for CPython and MicroPython, no hardware. Modules the firmware imports:
- parser: zero-allocation streaming parser for both modes (historique 1200 Bd, standard 9600 Bd)
- labels: the label table, packed, with allocation-free lookups by row index
- guard: keeps corrupt energy indexes from being published
Loaded only when a feature or a host tool asks (never at boot):
- label_rows: units, Home Assistant classes, descriptions, rows as tuples (via tic.labels)
- label_docs: English descriptions; label_table: the table as text, generates tic.labels
- decode: typed values (ticdump --decode); encode: build groups and frames (simulator, tests)
"""

MODE_UNKNOWN = 0
MODE_HISTORIQUE = 1
MODE_STANDARD = 2

MODE_NAMES = ("unknown", "historique", "standard")
BAUD = (0, 1200, 9600)


def label_hash(label):
    """A small-int hash of a label's bytes, identical to the one the parser stores per group.

    20 bits keep every intermediate value a small int on the ESP32 (31-bit), so computing it
    never allocates. tic.labels checks at import that the known labels do not collide.
    """
    h = 0
    for b in label:
        h = (h * 33 + b) & 0xFFFFF
    return h
