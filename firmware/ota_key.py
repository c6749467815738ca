"""The Ed25519 public key (64 hex digits) updates are checked with when the setting ota_key is
empty. "" here: the setting is needed. `tools/ota.py build` writes the release's own signing
key into each release's copy, so an updated device trusts the same key for the next update."""

KEY = ""
