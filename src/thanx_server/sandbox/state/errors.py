"""Errors of resets, snapshots and fixtures."""

from __future__ import annotations

from thanx_server.kit.errors import AppError


class SnapshotInvalid(AppError):
    code = "SNAPSHOT_INVALID"
    default_message = "The snapshot is not a snapshot this server can restore."


class SnapshotInconsistent(AppError):
    status_code = 422
    code = "SNAPSHOT_INCONSISTENT"
    default_message = "The snapshot's rows do not fit together or with the data kept."
