"""Hardware abstraction layer: the only code that knows whether it runs on a board or a PC.

Rule: nothing outside firmware/hal/ imports machine, network or esp32. On the board, esp32.py
loads esp32_net.py (the station) and esp32_ap.py (the access point) on their first use. Both
sides offer the same small interface:

  PLATFORM                          "esp32" or "host"
  RXBUF                             default receive buffer of the TIC input, bytes
  HEAP_LIMIT                        bytes the MicroPython heap may hold before it would starve
                                    the rest (ESP32: 112000, one growth); 0 where the heap is
                                    one fixed area (host: gc.mem_alloc() + gc.mem_free())
  open_tic(profile, baud, rxbuf=RXBUF) -> port with:
      readinto(buf[, nbytes]) -> int or None   non-blocking, no allocation
      any() -> int                             bytes waiting
      set_baud(baud)                           re-init; buffered input (partial frame) lost
      await wait()                             returns when data may be available
      deinit()
      baud                                     current speed
  reset()                           restart the device (host: exit 75, tools/sim.py restarts)
  reset_cause() -> str              "power", "hard", "wdt", "soft", "deepsleep" or "unknown"
  watchdog(timeout_ms) -> object with feed()   starts the watchdog (cannot be stopped)
  stretch_watchdog(timeout_ms) -> bool  re-configure the watchdog watchdog() started (and feed
                                    it); False, arming nothing, when none was started
  unique_id() -> str                hex chip id
  setting(name, default=None)       host-only: test hooks and overrides (LINKY_<name>
                                    environment variables set by tools/sim.py; settings
                                    proper are in config.json); the default on the device
  wlan() -> the Wi-Fi station (one per device), with:
      active(on=None) -> bool                  radio on/off (the driver's own reconnection
                                               is off: one attempt per connect())
      connect(ssid, password="", hostname="")  starts joining; returns at once
      disconnect()
      status() -> str                          "idle", "connecting", "connected",
                                               "wrong_password", "no_ap" or "failed"
      isconnected() -> bool
      rssi() -> int dBm or None                None when not connected
      ip() -> str or None
      scan() -> [(ssid str, rssi int dBm, secure bool)]   BLOCKS ~2-3 s on the board: on
                                               demand and rate-limited only (the portal);
                                               OSError while the radio is off
  access_point() -> the Wi-Fi access point (one per device), with:
      active(on=None) -> bool                  AP on/off (alongside the station: AP+STA)
      config(ssid, password="")                WPA2-PSK, or open when password is ""; call
                                               after active(True); ValueError unless 8 to 63
                                               characters
      ip() -> str                              the AP's address ("192.168.4.1")
  boot_button() -> bool             the boot button is held now (ESP32: GPIO0, GPIO9 on C3,
                                    low; host: the BOOT_BUTTON setting)
  await open_connection(host, port, ssl=None, server_hostname=None) -> stream for lib/mqtt.py
                                    (readinto, write, drain, close); OSError at once while
                                    the station is not connected. The app passes it to the
                                    MQTT client as its opener (open_stream=hal.open_connection)

INTERFACE lists these names; tests/test_hal_contract.py checks that esp32.py and host.py both
define them with the same signatures (host.py may have extras, listed there).
"""

import sys

INTERFACE = (
    "PLATFORM",
    "RXBUF",
    "HEAP_LIMIT",
    "open_tic",
    "reset",
    "reset_cause",
    "watchdog",
    "stretch_watchdog",
    "unique_id",
    "setting",
    "wlan",
    "access_point",
    "boot_button",
    "open_connection",
)

if sys.platform == "esp32":
    from firmware.hal import esp32 as _impl
else:
    from firmware.hal import host as _impl

PLATFORM = _impl.PLATFORM
RXBUF = _impl.RXBUF
HEAP_LIMIT = _impl.HEAP_LIMIT
open_tic = _impl.open_tic
reset = _impl.reset
reset_cause = _impl.reset_cause
watchdog = _impl.watchdog
stretch_watchdog = _impl.stretch_watchdog
unique_id = _impl.unique_id
setting = _impl.setting
wlan = _impl.wlan
access_point = _impl.access_point
boot_button = _impl.boot_button
open_connection = _impl.open_connection
