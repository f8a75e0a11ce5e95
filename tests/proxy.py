"""A TCP proxy a test can break in the ways networks break, to play a failing dependency.

Modes (``await proxy.set_mode(mode)``; each applies to open connections and to new ones):

* ``pass``: forward both ways (the dependency is healthy);
* ``refuse``: stop listening and reset every open connection (a host that went away);
  ``cut()`` / ``restore()`` are ``refuse`` / ``pass``;
* ``reset``: accept, then reset at once (RST);
* ``close``: accept, then close cleanly (FIN): a server at ``maxclients``, a proxy with no
  healthy backend;
* ``blackhole``: accept, read and drop everything, answer nothing (a partition: packets
  dropped, not refused). Open connections stop forwarding in both directions.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Literal

Mode = Literal["pass", "refuse", "reset", "close", "blackhole"]


class TcpProxy:
    """Forwards 127.0.0.1:<port> to ``target`` while ``mode`` is ``pass``."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.mode: Mode = "pass"
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def set_mode(self, mode: Mode) -> None:
        self.mode = mode
        if mode == "refuse":
            if self._server is not None:
                self._server.close()
                await self._server.wait_closed()
                self._server = None
            self._drop_all(abort=True)
            return
        if self._server is None:
            await self.start()
        if mode in ("reset", "close"):
            self._drop_all(abort=mode == "reset")

    def _drop_all(self, *, abort: bool) -> None:
        for writer in list(self._writers):
            with contextlib.suppress(OSError, RuntimeError):
                if abort:
                    writer.transport.abort()  # RST, as when a host goes away
                else:
                    writer.close()
        self._writers.clear()
        for task in list(self._tasks):
            task.cancel()

    def _spawn(self, coro: object) -> None:
        task: asyncio.Task[None] = asyncio.create_task(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        mode = self.mode
        if mode == "reset":
            writer.transport.abort()
            return
        if mode == "close":
            writer.close()
            return
        self._writers.add(writer)
        if mode == "blackhole":
            self._spawn(self._swallow(reader))
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers.add(up_writer)
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            self._spawn(self._pipe(src, dst))

    async def _swallow(self, reader: asyncio.StreamReader) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while await reader.read(65536):
                pass

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while data := await reader.read(65536):
                if self.mode == "blackhole":
                    continue  # dropped on the floor; the sender waits forever
                writer.write(data)
                await writer.drain()
        with contextlib.suppress(OSError):
            writer.close()

    async def cut(self) -> None:
        await self.set_mode("refuse")

    async def restore(self) -> None:
        await self.set_mode("pass")

    async def close(self) -> None:
        await self.set_mode("refuse")
