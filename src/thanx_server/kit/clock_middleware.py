"""``ClockMiddleware``: the sandbox clock for a request, and ``X-Sandbox-Time`` on its answer.

Apart from ``kit/clock.py`` so the CLI, which reads business time too, never loads Starlette.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from thanx_server.kit.clock import ClockHolder, ClockLoader, bind, unbind
from thanx_server.kit.db import Database
from thanx_server.kit.time import isoformat_z

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CLOCK_HEADER = b"x-sandbox-time"


class ClockMiddleware:
    """Puts the instance's clock in place for a request and answers with ``X-Sandbox-Time``.

    Installed only in a sandbox, inside ``TransactionMiddleware``: the state is one indexed
    single-row read, on a reading request's own session (the connection it uses anyway), on a
    short read session for a writing one. ``skip`` are paths that need no clock (health, docs).
    """

    def __init__(
        self, app: ASGIApp, *, load: ClockLoader, skip: frozenset[str] = frozenset()
    ) -> None:
        self.app = app
        self.load = load
        self.skip = skip

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.skip:
            await self.app(scope, receive, send)
            return
        if scope["method"] in SAFE_METHODS:
            state = await self.load(scope["state"]["db"].get())
        else:
            # Not on a writing request's session: on SQLite that would take the write lock for
            # the whole request, and a control that runs due work commits on sessions of its own.
            database: Database = scope["app"].state.database
            async with database.read_sessions() as session:
                state = await self.load(session)
        holder = ClockHolder(state)
        token = bind(holder)

        async def send_with_time(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((CLOCK_HEADER, isoformat_z(holder.state.now()).encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_time)
        finally:
            unbind(token)
