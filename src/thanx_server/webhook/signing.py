"""Signatures (reference D.1): ``X-Thanx-Signature`` and the optional Standard Webhooks headers.

Thanx: hex HMAC-SHA256 of the exact body bytes, keyed with the secret used as a plain UTF-8
string (the docs' worked example is a test). Standard Webhooks: ``v1,<base64 HMAC-SHA256 of
"{id}.{timestamp}.{body}">`` keyed with the base64-decoded part of a ``whsec_`` secret (what the
standard libraries do), or with the secret's UTF-8 bytes when it is not of that form.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets

SECRET_PREFIX = "whsec_"  # noqa: S105 - the Standard Webhooks prefix, not a secret


def thanx_signature(secret: str, body: bytes) -> str:
    return hmac.digest(secret.encode(), body, "sha256").hex()


def verify_thanx_signature(secret: str, body: bytes, header: str) -> bool:
    return hmac.compare_digest(thanx_signature(secret, body), header.strip())


def new_webhook_secret() -> str:
    """``whsec_`` + base64 of 24 random bytes: a plain string for Thanx-style signing and a
    valid Standard Webhooks secret at the same time."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def _standard_key(secret: str) -> bytes:
    if secret.startswith(SECRET_PREFIX):
        try:
            return base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
        except (binascii.Error, ValueError):
            pass
    return secret.encode()


def standard_signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.digest(_standard_key(secret), signed, "sha256")
    return "v1," + base64.b64encode(digest).decode()


def signature_headers(
    *,
    secrets_: list[str],
    body: bytes,
    event_id: str,
    timestamp: int,
    standard: bool,
) -> dict[str, str]:
    """The headers of one attempt. ``secrets_[0]`` is the current secret; a second one is the
    previous secret during a rotation's grace period (``X-Thanx-Signature-Previous``, and a
    second ``v1,`` entry in ``webhook-signature``)."""
    headers = {"X-Thanx-Signature": thanx_signature(secrets_[0], body)}
    if len(secrets_) > 1:
        headers["X-Thanx-Signature-Previous"] = thanx_signature(secrets_[1], body)
    if standard:
        headers["webhook-id"] = event_id
        headers["webhook-timestamp"] = str(timestamp)
        headers["webhook-signature"] = " ".join(
            standard_signature(s, event_id, timestamp, body) for s in secrets_
        )
    return headers
