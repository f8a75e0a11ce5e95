"""The console's own errors (in the one tree: ``AppError``)."""

from __future__ import annotations

from thanx_server.kit.errors import AppError, Forbidden


class SignInRequired(AppError):
    """No (or an expired) console session: a page redirects to the sign-in form."""

    status_code = 401
    code = "SIGN_IN_REQUIRED"
    default_message = "Sign in to the console first."


class CsrfRefused(Forbidden):
    """A form that changes something came without this session's CSRF token."""

    code = "CSRF_REFUSED"
    default_message = (
        "csrf_token: missing or not this session's; reload the page and submit the form again."
    )
