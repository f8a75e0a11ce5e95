"""Opaque identifiers and secrets (CONTRACT row 18)."""

from __future__ import annotations

import hashlib
import secrets

ID_BYTES = 8  # 16 lowercase hex characters, 64 random bits: unguessable, URL-safe.


def new_id() -> str:
    """A new lowercase alphanumeric identifier."""
    return secrets.token_hex(ID_BYTES)


def new_ids(count: int) -> list[str]:
    """``count`` identifiers in one call (a 10,000-reward chunk needs 10,000 of them)."""
    raw = secrets.token_bytes(ID_BYTES * count).hex()
    width = ID_BYTES * 2
    return [raw[i : i + width] for i in range(0, len(raw), width)]


def new_secret() -> str:
    """A bearer secret: 32 random bytes as 64 hex characters (the docs' token shape)."""
    return secrets.token_hex(32)


def hash_secret(secret: str) -> str:
    """Digest stored in place of a bearer secret.

    Secrets are 256-bit random values, so a fast unsalted SHA-256 is enough: there is nothing to
    brute-force, and lookups can go by digest.
    """
    return hashlib.sha256(secret.encode()).hexdigest()


# Codes people type: 32 symbols without the look-alikes (no I, O, 0, 1), 5 random bits each.
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
_CODE_TABLE = bytes(ord(CODE_ALPHABET[b & 31]) for b in range(256))


def new_codes(count: int, length: int) -> list[str]:
    """``count`` random codes of ``length`` symbols (5 bits each: 12 symbols carry 60 random
    bits), from one call to the system's CSPRNG: unguessable, and fast at 100,000 a call."""
    raw = secrets.token_bytes(count * length).translate(_CODE_TABLE).decode("ascii")
    return [raw[i : i + length] for i in range(0, len(raw), length)]
