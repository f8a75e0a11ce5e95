"""The promotion rules' errors."""

from __future__ import annotations

from thanx_server.kit.errors import AppError


class CodeLimitExceeded(AppError):
    """More codes than one call may generate (reference B.11: 422)."""

    status_code = 422
    code = "CODE_LIMIT_EXCEEDED"
    default_message = "Too many codes for one call."
