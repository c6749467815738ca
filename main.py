# main.py: device entry point (also what the simulator runs). It never changes through an update.
# firmware/crash.py starts the app, turns any crash into a record and a reset, and keeps a
# crash loop in safe mode.
from firmware import crash

crash.start()
