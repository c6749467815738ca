# main.py: device entry point (also what the simulator runs). The application lives in firmware/.
from firmware import app

app.run()
