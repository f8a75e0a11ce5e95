"""``ConsoleAuth``: the console's one authentication dependency (a signed-in session), and for
forms that change something, the session's CSRF token checked too (403 otherwise).

The cookie holds a random secret (HttpOnly, SameSite=Lax, Secure over https, Path=/console);
the database only its digest (console/service.py).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from thanx_server.console import service
from thanx_server.console.errors import CsrfRefused, SignInRequired
from thanx_server.console.forms import read_form
from thanx_server.console.service import ConsoleUser
from thanx_server.kit.middleware import RequestSession

COOKIE = "thanx_console"
LOGIN_COOKIE = "thanx_console_login"  # the sign-in form's CSRF secret, before any session
COOKIE_PATH = "/console"


def _session(request: Request) -> Any:
    holder: RequestSession = request.state.db
    return holder.get()


class ConsoleAuth:
    """Dependency: the signed-in console user (401, shown as a redirect to the sign-in page,
    without one); with ``csrf``, a form carrying the session's token (403 without it)."""

    is_auth_dependency = True

    def __init__(self, *, csrf: bool) -> None:
        self.csrf = csrf

    async def __call__(self, request: Request) -> ConsoleUser:
        user = await service.current_user(_session(request), request.cookies.get(COOKIE))
        if user is None:
            raise SignInRequired()
        if self.csrf:
            form = await read_form(request)
            if not service.csrf_matches(user.csrf_token, form.get("csrf_token")):
                raise CsrfRefused()
        request.state.principal = user.principal
        request.state.console_user = user  # an error page still shows who is signed in
        return user


ConsoleReader = Annotated[ConsoleUser, Depends(ConsoleAuth(csrf=False))]
"""A signed-in user reading a page."""

ConsoleWriter = Annotated[ConsoleUser, Depends(ConsoleAuth(csrf=True))]
"""A signed-in user submitting a form that changes something (CSRF checked)."""


def set_cookie(request: Request, response: Any, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
