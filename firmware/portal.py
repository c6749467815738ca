"""Access point and captive portal (placeholder: built by the portal work of issue 10).

Contract: build(app) adds the portal's tasks and MQTT commands; nothing yet.
"""


def build(app):
    return None
