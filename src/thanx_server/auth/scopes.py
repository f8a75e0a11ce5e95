"""Partner credential scopes (reference A.4), plus ``sandbox`` (ours): steer the sandbox
controls (``/sandbox/...``) for the credential's own merchants and requests."""

from __future__ import annotations

from enum import StrEnum


class Scope(StrEnum):
    AUTH_CREATE = "auth.create"
    SUBSCRIBERS_WRITE = "subscribers.write"
    USERS_READ = "users.read"
    USERS_WRITE = "users.write"
    COMMUNICATION_SETTINGS_READ = "communication_settings.read"
    COMMUNICATION_SETTINGS_WRITE = "communication_settings.write"
    TAGS_READ = "tags.read"
    TAGS_WRITE = "tags.write"
    FEEDBACKS_READ = "feedbacks.read"
    FEEDBACKS_WRITE = "feedbacks.write"
    REWARDS_ISSUE = "rewards.issue"
    PURCHASES_WRITE = "purchases.write"
    PROMOS_READ = "promos.read"
    PROMOS_WRITE = "promos.write"
    SANDBOX = "sandbox"


ALL_SCOPES: tuple[str, ...] = tuple(scope.value for scope in Scope)
