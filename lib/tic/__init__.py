"""TIC (télé-information client) protocol of the French Linky and older electronic meters.

Pure Python for CPython and MicroPython, no hardware. Modules:
- parser: zero-allocation streaming parser for both modes (historique 1200 Bd, standard 9600 Bd)
- encode: build groups and frames (checksums included), for the simulator and tests
"""

MODE_UNKNOWN = 0
MODE_HISTORIQUE = 1
MODE_STANDARD = 2

MODE_NAMES = ("unknown", "historique", "standard")
BAUD = (0, 1200, 9600)
