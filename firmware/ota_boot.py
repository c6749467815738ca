"""OTA at run time (placeholder: built by the OTA work of issue 11).

Contract: build(app) adds the `ota` MQTT command, the periodic check and, on a trial boot,
the health check task; nothing yet.
"""


def build(app):
    return None
