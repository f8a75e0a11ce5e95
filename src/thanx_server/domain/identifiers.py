"""Email and phone normalisation: the same person written differently is one person.

* Emails are validated with ``email-validator`` (syntax only, no DNS) and stored lowercased in
  full, so uniqueness and matching are case-insensitive.
* Phones are parsed with ``phonenumbers`` and stored in E.164. A number must carry its country
  code (``+1 415 555 1212``); like Thanx, a bare national number is not guessed at.
"""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

from thanx_server.domain.errors import UserEmailInvalid, UserPhoneInvalid

MAX_EMAIL_LENGTH = 320
MAX_PHONE_LENGTH = 40


def match_key_email(value: str) -> str:
    """Cheap key for looking an email up (no validation): trimmed and lowercased."""
    return value.strip().lower()


def normalize_email(value: str) -> str | None:
    """The canonical form of a valid email, or None."""
    value = value.strip()
    if not value or len(value) > MAX_EMAIL_LENGTH:
        return None
    try:
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        return None
    return result.normalized.lower()


def normalize_phone(value: str) -> str | None:
    """E.164 form of a valid international phone number, or None."""
    value = value.strip()
    if not value.startswith("+") or len(value) > MAX_PHONE_LENGTH:
        return None
    # Imported by the first phone parsed, not by every process that starts (~10-20 ms of a
    # `serve` start-up); issuance skips parsing for numbers already in E.164.
    import phonenumbers

    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def require_email(value: str, field: str = "email") -> str:
    normalized = normalize_email(value)
    if normalized is None:
        raise UserEmailInvalid(f"{field}: the email entered is invalid.")
    return normalized


def require_phone(value: str, field: str = "phone") -> str:
    normalized = normalize_phone(value)
    if normalized is None:
        raise UserPhoneInvalid(
            f"{field}: the phone entered is invalid; use E.164 with the country code, "
            "e.g. +14155551212."
        )
    return normalized
