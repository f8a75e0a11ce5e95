"""A real HTTP receiver for webhook tests, in the test's own event loop (no process).

It records each request (path, headers, exact body bytes) and answers with what ``respond``
says: a status, extra headers, a delay (a slow receiver), or a huge body.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from thanx_server.kit.scoping import MerchantScope
from thanx_server.webhook import service


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    body: bytes = b"ok"


@dataclass
class Receiver:
    respond: Callable[[Received], Reply] = lambda _r: Reply()
    received: list[Received] = field(default_factory=list)
    server: asyncio.Server | None = None
    port: int = 0
    handlers: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    tls: ssl.SSLContext | None = None

    async def start(self) -> Receiver:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.tls)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            for task in list(self.handlers):  # hung connections (slow-receiver tests)
                task.cancel()
            await asyncio.gather(*self.handlers, return_exceptions=True)
            await self.server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                _, path, _ = line.decode().split(" ", 2)
                headers: dict[str, str] = {}
                while True:
                    h = await reader.readline()
                    if h in (b"\r\n", b"\n", b""):
                        break
                    name, _, value = h.decode().partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                request = Received(path, headers, body)
                self.received.append(request)
                reply = self.respond(request)
                if reply.delay:
                    await asyncio.sleep(reply.delay)
                head = f"HTTP/1.1 {reply.status} X\r\ncontent-length: {len(reply.body)}\r\n"
                for name, value in reply.headers.items():
                    head += f"{name}: {value}\r\n"
                writer.write(head.encode() + b"\r\n" + reply.body)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            return
        finally:
            self.handlers.discard(task)
            writer.close()


async def subscribe(session: AsyncSession, merchant_id: str, url: str, **options: Any) -> None:
    """An endpoint of ``merchant_id`` for every event at ``url``, made by the service with the
    sandbox's URL policy (a local receiver allowed); ``options``: its other settings."""
    await service.create_endpoint(
        session,
        MerchantScope.one(merchant_id),
        merchant_id=merchant_id,
        url=url,
        policy=service.UrlPolicy(production=False, allow_private=True),
        **options,
    )
