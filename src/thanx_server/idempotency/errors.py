"""``X-Idempotency-Key`` reused with another request (CONTRACT row 9)."""

from __future__ import annotations

from thanx_server.kit.errors import AppError


class IdempotencyKeyReused(AppError):
    status_code = 422
    code = "IDEMPOTENCY_KEY_REUSED"
    default_message = "This idempotency key was already used with a different request."
