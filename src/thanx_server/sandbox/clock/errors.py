"""The clock controls' errors."""

from __future__ import annotations

from thanx_server.kit.errors import AppError


class ClockBackwards(AppError):
    status_code = 422
    code = "CLOCK_BACKWARDS"
    default_message = "This moves the clock backwards; pass allow_backwards to do it anyway."


class ClockBusy(AppError):
    status_code = 409
    code = "CLOCK_BUSY"
    default_message = "Another control moved the clock at the same time; read it and retry."
