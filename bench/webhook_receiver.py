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
            line = await reader.readline()
            if not line:
                return
            length = 0
            while True:
                header = await reader.readline()
                if header in (b"\r\n", b"\n", b""):
                    break
                name, _, value = header.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            if length:
                await reader.readexactly(length)
            if line.startswith(b"GET /count"):
                body = f"{received} {last:.6f}".encode()
            else:
                received += 1
                last = time.time()
                body = b"ok"
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
    except (ConnectionError, asyncio.IncompleteReadError):
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
