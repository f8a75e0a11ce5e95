"""Errors of the rules in ``domain/`` (the catalogue codes of reference A.7 they raise)."""

from __future__ import annotations

from thanx_server.kit.errors import AppError


class UserEmailInvalid(AppError):
    code = "USER_EMAIL_INVALID"
    default_message = "The email entered is invalid."


class UserPhoneInvalid(AppError):
    code = "USER_PHONE_INVALID"
    default_message = "The phone entered is invalid."


class UserNameRequired(AppError):
    code = "USER_NAME_REQUIRED"
    default_message = "First and last name are required fields."
