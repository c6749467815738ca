"""linky firmware: the application and its hardware abstraction layer (firmware/hal)."""
