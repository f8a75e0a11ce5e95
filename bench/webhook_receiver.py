"""A minimal, fast webhook receiver for ``bench.webhooks``: answers 200 to every POST and
counts them; ``GET /count`` answers ``<count> <unix time of the last POST>``.

    .venv/bin/python -m bench.webhook_receiver  # prints the port it listens on
"""

from __future__ import annotations

import asyncio
import time

received = 0
last = 0.0


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    global received, last
    try:
        while True:
            # The whole head in one read, Content-Length found in place: this process shares
            # the machine with the sender being measured, so it should cost little.
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                return
            at = head.lower().find(b"\r\ncontent-length:")
            length = int(head[at + 17 : head.index(b"\r\n", at + 2)]) if at >= 0 else 0
            if length:
                await reader.readexactly(length)
            if head.startswith(b"GET /count"):
                body = f"{received} {last:.6f}".encode()
            else:
                received += 1
                last = time.time()
                body = b"ok"
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
    except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        return
    finally:
        writer.close()


async def main() -> None:
    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
