"""The firmware's version: reported at boot, in diagnostics and to Home Assistant (sw).
A release (tools/ota.py build, later) writes its own version here."""

VERSION = "0.2.0-dev"
