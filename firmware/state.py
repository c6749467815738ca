"""Small persisted state: one JSON object per file in the device's working directory.

For facts the firmware learns and wants back after a reboot (the TIC mode and speed last
detected), not for the user's configuration. Files are tiny and rarely written (only when a
value changes), so flash wear is not a concern.

Writes are atomic: the new content goes to NAME.tmp, which is then renamed over NAME. On
littlefs (the ESP32 default) rename replaces the destination atomically, so after a power
cut the file holds the old or the new content, never a truncated one (esp32-micropython notes
§6.4); POSIX rename (the simulator) does the same. Reads never raise: a missing, unreadable or
corrupt file, or one that is not a JSON object, reads as None.
"""

import json
import os


def load(path):
    """The dict stored in `path`, or None if there is none or it cannot be read."""
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError):  # missing, unreadable, not JSON (truncated by a crash)
        return None
    return data if isinstance(data, dict) else None


def save(path, data):
    """Store dict `data` in `path` atomically. Raises OSError (disk full, read-only...)."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f)
    try:
        os.rename(tmp, path)
    except OSError:
        # A filesystem whose rename does not replace (FAT, some older ports): remove first.
        # Not atomic any more; load() then reads None after a crash in between, which every
        # caller treats as "nothing saved".
        try:
            os.remove(path)
        except OSError:
            pass
        os.rename(tmp, path)
