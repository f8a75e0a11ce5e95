"""The server's life: the collector back on once it has started; SIGTERM lets in-flight
requests finish before it exits."""

from __future__ import annotations

import asyncio
import gc
import json
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.live import live_server
from thanx_server.app import create_app
from thanx_server.kit.db import Database, create_engine
from thanx_server.settings import Settings


async def test_the_lifespan_turns_on_the_collector_serve_starts_without(
    fresh_db_url: str, tmp_path: Path
) -> None:
    """``serve`` builds the app with the cyclic collector off (cli/main.py); the lifespan
    freezes what start-up built and turns it back on, or a serving process would never collect
    a cycle again."""
    database = Database.from_engine(create_engine(fresh_db_url))
    app = create_app(
        Settings(data_dir=tmp_path, embedded_worker=False, rate_limit_enabled=False),
        database=database,
    )
    gc.disable()
    try:
        async with app.router.lifespan_context(app):
            assert gc.isenabled()
            assert gc.get_freeze_count() > 0
    finally:
        gc.enable()
        await database.dispose()


@pytest.mark.live
async def test_sigterm_drains_an_in_flight_request(fresh_db_url: str, tmp_path: Path) -> None:
    with live_server(fresh_db_url, tmp_path) as server:
        merchant_id = server.merchants["pizzatown"]
        body = json.dumps({"merchant_id": merchant_id, "email": "jane.smith@example.com"}).encode()
        half = len(body) // 2
        first_half_sent = asyncio.Event()

        async def slow_body() -> AsyncIterator[bytes]:
            yield body[:half]
            first_half_sent.set()
            await asyncio.sleep(1.0)  # the server receives SIGTERM while waiting for the rest
            yield body[half:]

        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
            request = asyncio.create_task(
                client.post(
                    "/partner/oauth/token",
                    content=slow_body(),
                    headers={
                        **server.headers,
                        "Content-Type": "application/json",
                        "Content-Length": str(len(body)),
                    },
                )
            )
            # Bounded, and watching the request too: if it ends (or fails) before its body is
            # consumed, the event is never set, and an unbounded wait would hang the run.
            half_sent = asyncio.create_task(first_half_sent.wait())
            await asyncio.wait(
                {half_sent, request}, timeout=30, return_when=asyncio.FIRST_COMPLETED
            )
            half_sent.cancel()
            assert first_half_sent.is_set(), f"the body was never sent; the request: {request!r}"
            await asyncio.sleep(0.2)
            server.process.send_signal(signal.SIGTERM)
            response = await asyncio.wait_for(request, 60)

        assert response.status_code == 200, response.text
        assert response.json()["token_type"] == "Bearer"
        exit_code = await asyncio.to_thread(server.process.wait, 20)
        # uvicorn re-raises the signal it caught once shutdown is complete.
        assert exit_code in (0, -signal.SIGTERM), server.log()[-3000:]
        assert '"event": "app.stopped"' in server.log()  # the lifespan shut down cleanly
        # New connections are refused once it has stopped.
        async with httpx.AsyncClient(base_url=server.base_url, timeout=2) as client:
            with pytest.raises(httpx.TransportError):
                await client.get("/healthz")
