"""TLS settings for lib/mqtt.py, imported only when TLS is configured (keeps mqtt small).

`context(cadata)` builds the `ssl` argument of MQTTClient: server certificate checked against the
given CA, and its name against the client's `server_hostname`. On a board without PSRAM each
TLS connection takes about 16 + 4 KB of ESP-IDF heap (record buffers) plus a handshake peak;
see docs/design/mqtt.md.
"""

import ssl
from binascii import a2b_base64

from mqtt import TLSError


def context(cadata):
    """An SSLContext that verifies the server against the CA certificate(s) `cadata` (PEM or
    DER, bytes or str). Raises TLSError when the CA data is unusable."""
    if isinstance(cadata, str):
        cadata = cadata.encode()
    try:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.verify_mode = ssl.CERT_REQUIRED  # MicroPython's default is CERT_NONE
        i = cadata.find(b"-----BEGIN")
        if i < 0:
            ctx.load_verify_locations(cadata=cadata)  # DER
        while i >= 0:  # PEM: MicroPython's mbedTLS takes DER only, one certificate a call
            i = cadata.find(b"\n", i)
            j = cadata.find(b"-----END", i)
            ctx.load_verify_locations(cadata=a2b_base64(cadata[i:j]))
            i = cadata.find(b"-----BEGIN", j)
    except Exception as e:  # noqa: BLE001 (ValueError on MicroPython, SSLError on CPython)
        raise TLSError("TLS: unusable CA certificate: %r" % (e,))
    return ctx
