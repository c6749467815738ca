"""The web server (placeholder: built by the web work of issue 10).

Contract: build(app) adds the HTTP server's task; nothing yet.
"""


def build(app):
    return None
