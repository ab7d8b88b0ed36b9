"""Encryption of credentials kept in the database (registry endpoint passwords and tokens).

Fernet (AES-128-CBC with HMAC-SHA256, from ``cryptography``): authenticated, so a value
tampered with in the database fails to decrypt instead of decrypting to garbage.  The key is
kept outside the database — ``secrets.key`` in the settings, or a file (default
``<data_dir>/secret.key``, created with mode 0600 on first start) — so a database dump alone
does not reveal the credentials.  Every process of one installation must use the same key.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

PREFIX = "fernet:"  # stored values carry their scheme, so the scheme can change later


class SecretUnreadable(Exception):
    """A stored secret does not decrypt with this installation's key."""


class SecretBox:
    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    def encrypt(self, plain: str) -> str:
        """The stored form of ``plain`` ("" stays "": no secret)."""
        if not plain:
            return ""
        return PREFIX + self._fernet.encrypt(plain.encode()).decode("ascii")

    def decrypt(self, stored: str) -> str:
        if not stored:
            return ""
        if not stored.startswith(PREFIX):
            raise SecretUnreadable("stored secret has an unknown format")
        try:
            return self._fernet.decrypt(stored[len(PREFIX):].encode("ascii")).decode()
        except (InvalidToken, ValueError):
            raise SecretUnreadable(
                "stored secret does not decrypt with this installation's key (secrets.key / secret.key "
                "differs from the one it was saved with)") from None


def load_key(key: str | None, key_file: Path) -> bytes:
    """The configured key, else the key file's, else a new key written to ``key_file`` (0600)."""
    if key:
        raw = key.strip().encode("ascii")
        Fernet(raw)  # a malformed key is a ValueError at start-up, not at first use
        return raw
    try:
        raw = key_file.read_bytes().strip()
    except FileNotFoundError:
        key_file.parent.mkdir(parents=True, exist_ok=True)
        raw = Fernet.generate_key()
        try:
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process of this installation made it first
            return load_key(None, key_file)
        try:
            os.write(fd, raw + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        return raw
    Fernet(raw)
    return raw
