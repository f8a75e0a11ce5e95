"""``SandboxMiddleware``: what a sandbox does around every request (installed only there).

1. The instance's clock and whether any fault rule exists, as this process's copy holds them
   (``sandbox/state_cache.py``: one statement at most every 50 ms); the clock is put
   in place for the request (``kit/clock.business_now()``) and its time answered in
   ``X-Sandbox-Time``. It runs on the request's own session, the connection the request uses
   anyway (a writing request's transaction on PostgreSQL: no second connection checked out per
   write, issue 17); a writing request on SQLite reads it on a read connection before its
   transaction, which would otherwise take the writer queue here (kit/db.py). Controls that
   commit on sessions of their own (the clock's advance) close the request's session first
   (``kit/deps.AppDatabase``), which releases the SQLite write lock it took.
2. Only when rules exist: the request's operation (its route's operation id), caller (the
   ``X-ClientId`` sent) and merchant (``merchant_id`` in the query, or at the top of a JSON body,
   or one level down) are matched against them (``faults/service.decide``), and the fault
   applied: an error in the contract's envelope (with ``Retry-After`` when set), latency, or a
   dropped connection (a response cut short: headers promising a body that never comes).
3. With the journal on (``THANX_JOURNAL_ENABLED``), every API request but the sandbox's own
   controls is captured (``_Capture``) and handed to the process's ``JournalRecorder``.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from urllib.parse import parse_qs

import structlog
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from thanx_server.kit.clock import ClockHolder, bind, unbind
from thanx_server.kit.db import Database
from thanx_server.kit.request_guard import replayed
from thanx_server.kit.time import isoformat_z, utcnow
from thanx_server.sandbox.faults import service as faults
from thanx_server.sandbox.faults.service import Fault
from thanx_server.sandbox.journal.recorder import JournalRecorder
from thanx_server.sandbox.journal.recorder import entry as journal_entry
from thanx_server.sandbox.state_cache import SandboxStateCache

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CLOCK_HEADER = b"x-sandbox-time"
FAULT_HEADER = b"x-sandbox-fault"


class SandboxMiddleware:
    def __init__(self, app: ASGIApp, *, skip: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.skip = skip

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.skip:
            await self.app(scope, receive, send)
            return
        # The web console (issue 15) reads the clock but is no API call: the journal does not
        # record it and no fault rule applies to it.
        console = scope["path"] == "/console" or scope["path"].startswith("/console/")
        database: Database = scope["app"].state.database
        request_session = scope["state"]["db"]
        cache: SandboxStateCache = scope["app"].state.sandbox_state
        state = cache.fresh()
        if (
            state is None
            and database.write_lock is not None
            and scope["method"] not in SAFE_METHODS
        ):
            # SQLite: the writing session's first statement is its BEGIN IMMEDIATE, which takes
            # the process's writer queue until COMMIT; read there, the state would hold the
            # queue through routing, authentication and validation too (issue 17, i17wr). It is
            # read on a read connection instead, before the transaction, as a PostgreSQL write
            # reads it (READ COMMITTED: a clock move may commit in between on either).
            async with database.read_sessions() as session:
                state = await cache.read(session)
        elif state is None:
            state = await cache.read(request_session.get())
        clock, any_rules = state
        any_rules = any_rules and not console
        if any_rules:
            # The fault's hit is counted in a transaction of its own, which must not nest in
            # (and be rolled back with) the request's session of a refused request, nor wait
            # for the SQLite write lock that session took.
            await request_session.finish(commit=False)
        holder = ClockHolder(clock)
        token = bind(holder)
        recorder: JournalRecorder | None = getattr(scope["app"].state, "journal", None)
        journal = None
        if recorder is not None and not scope["path"].startswith("/sandbox") and not console:
            journal = _Capture(receive, recorder.settings.journal_body_chars)
            receive = journal.receive

        async def send_with_time(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((CLOCK_HEADER, isoformat_z(holder.state.now()).encode()))
                message = {**message, "headers": headers}
            if journal is not None:
                journal.sent(message)
            await send(message)

        try:
            if any_rules:
                receive, fault = await _fault_for(database, scope, receive)
                if fault is not None:
                    if fault.action == "latency":
                        await asyncio.sleep(fault.latency_ms / 1000)
                    else:
                        await _answer(fault, send_with_time)
                        return
            await self.app(scope, receive, send_with_time)
        finally:
            unbind(token)
            if (
                journal is not None
                and recorder is not None
                and recorder.add(database, journal.entry(scope, holder.state.now()))
            ):
                await recorder.flush()  # the answer has gone out already


def _operation_id(scope: Scope) -> str | None:
    for route in scope["app"].router.routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            operation: str | None = getattr(route, "operation_id", None) or getattr(
                route, "unique_id", None
            )
            return operation
    return None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _merchant_in(body: Any) -> str | None:
    if not isinstance(body, dict):
        return None
    found = body.get("merchant_id")
    if isinstance(found, str):
        return found
    for value in body.values():
        if isinstance(value, dict) and isinstance(value.get("merchant_id"), str):
            return str(value["merchant_id"])
    return None


async def _fault_for(
    database: Database, scope: Scope, receive: Receive
) -> tuple[Receive, Fault | None]:
    operation = _operation_id(scope)
    if operation is None or operation.startswith("sandbox"):
        return receive, None
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    merchant = (query.get("merchant_id") or [None])[0]
    if merchant is None and scope["method"] not in SAFE_METHODS:
        # The request guard read the body already and replays it as one message.
        message = await receive()
        body = message.get("body", b"")
        receive = replayed(body, receive)
        try:
            merchant = _merchant_in(json.loads(body)) if body else None
        except ValueError:
            merchant = None
    fault = await faults.decide(
        database,
        operation_id=operation,
        client_id=_header(scope, b"x-clientid"),
        merchant_id=merchant,
    )
    return receive, fault


async def _answer(fault: Fault, send: Send) -> None:
    if fault.action == "drop":
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", b"1024"), (FAULT_HEADER, fault.rule_id.encode())],
            }
        )
        await send({"type": "http.response.body", "body": b"", "more_body": True})
        raise ConnectionAbortedError(f"sandbox fault rule {fault.rule_id}: connection dropped")
    body = json.dumps({"error": {"code": fault.code, "message": fault.message}}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (FAULT_HEADER, fault.rule_id.encode()),
    ]
    if fault.retry_after is not None:
        headers.append((b"retry-after", str(fault.retry_after).encode()))
    await send({"type": "http.response.start", "status": fault.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class _Capture:
    """What the journal keeps of one request: its body, its answer's status and body (enough
    of both to redact and cap), its duration."""

    def __init__(self, receive: Receive, cap: int) -> None:
        self._receive = receive
        self.keep = max(cap * 2, 65536)
        self.cap = cap
        self.request = bytearray()
        self.response = bytearray()
        self.status = 500
        self.at = utcnow()
        self.started = time.perf_counter()

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request" and len(self.request) < self.keep:
            self.request += message.get("body", b"")[: self.keep - len(self.request)]
        return message

    def sent(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        elif message["type"] == "http.response.body" and len(self.response) < self.keep:
            self.response += message.get("body", b"")[: self.keep - len(self.response)]

    def entry(self, scope: Scope, sandbox_at: Any) -> dict[str, Any]:
        return journal_entry(
            at=self.at,
            sandbox_at=sandbox_at,
            scope=scope,
            status=self.status,
            duration_ms=(time.perf_counter() - self.started) * 1000,
            request_id=structlog.contextvars.get_contextvars().get("request_id"),
            request_body=bytes(self.request),
            response_body=bytes(self.response),
            cap=self.cap,
        )
