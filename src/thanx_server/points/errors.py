"""The points rules' error (catalogue code of reference A.7)."""

from __future__ import annotations

from thanx_server.kit.errors import AppError


class PointsExchangeFailure(AppError):
    code = "POINTS_EXCHANGE_FAILURE"
    default_message = "Points exchange has failed."
