# boot.py: runs first on every boot of the board. Keep it tiny: a failure here needs a cable.
# The application starts from main.py.
