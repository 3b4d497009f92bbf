"""Encryption of stored tracker events: Fernet (AES-128-CBC with HMAC-SHA256, from the
``cryptography`` package Rasa already depends on) under a key derived from one secret.

Each sealed value starts with a short key id, so rows written under another secret can be
told apart by a plain SQL ``LIKE`` without trying to decrypt them.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

# Short secrets are guessable; the ones tools/stack.py makes are 64 hex characters.
MIN_SECRET_LENGTH = 16
_KEY_INFO = b"ntsa-rasa tracker events: fernet key v1"
_KEY_ID_INFO = b"ntsa-rasa tracker events: key id v1"


def _derive(secret: bytes, info: bytes, length: int) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(secret)


class Sealer:
    """Seals and opens text with a key derived (HKDF-SHA256) from ``secret``."""

    def __init__(self, secret: str) -> None:
        if len(secret) < MIN_SECRET_LENGTH:
            raise ValueError(
                f"the tracker store secret must be at least {MIN_SECRET_LENGTH} characters"
            )
        material = secret.encode("utf-8")
        self._fernet = Fernet(base64.urlsafe_b64encode(_derive(material, _KEY_INFO, 32)))
        # Names the key without revealing anything about it (a separate HKDF output).
        self.prefix = _derive(material, _KEY_ID_INFO, 6).hex() + ":"

    def seal(self, text: str) -> str:
        return self.prefix + self._fernet.encrypt(text.encode("utf-8")).decode("ascii")

    def open(self, sealed: str | None) -> str | None:
        """The text, or None when ``sealed`` is not ours or fails authentication."""
        if not sealed or not sealed.startswith(self.prefix):
            return None
        try:
            token = sealed[len(self.prefix) :].encode("ascii")
            return self._fernet.decrypt(token).decode("utf-8")
        except (InvalidToken, UnicodeError):
            return None
