"""``thanx-server listen --forward-to URL``: a partner's local app receives the sandbox's webhooks.

It registers a local receiver as a webhook endpoint of every merchant (or those named), prints
each event as it arrives, verifies its ``X-Thanx-Signature``, forwards the exact body and the
signature headers to ``--forward-to`` and answers the sandbox with the app's status. The secret
is kept in ``$THANX_DATA_DIR/listen-secret`` (created once), so the local app verifies with a
fixed secret across restarts. On exit (Ctrl-C) its endpoints are removed; endpoints left by a
killed listener are replaced at the next start (they carry its description).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from pathlib import Path
from typing import Annotated, Any

import typer

from thanx_server.cli.output import clean_errors, fail

SECRET_FILE = "listen-secret"  # noqa: S105 - a file name, not a secret
DESCRIPTION = "thanx-server listen"
FORWARDED = ("x-thanx-signature", "x-thanx-signature-previous", "x-thanx-event", "x-thanx-event-id",
             "webhook-id", "webhook-timestamp", "webhook-signature")  # fmt: skip


def stable_secret(data_dir: Path) -> str:
    from thanx_server.webhook.signing import new_webhook_secret

    path = data_dir / SECRET_FILE
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = new_webhook_secret()
    path.write_text(secret + "\n", encoding="utf-8")
    path.chmod(0o600)
    return secret


def listen(
    forward_to: Annotated[
        str | None, typer.Option(help="Forward each event to this URL (your app).")
    ] = None,
    merchant: Annotated[
        list[str] | None, typer.Option(help="Only this merchant's events (repeat).")
    ] = None,
    host: Annotated[str, typer.Option(help="Where the receiver listens.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Receiver port (0: any free one).")] = 0,
    max_events: Annotated[
        int | None, typer.Option(help="Exit after this many events (scripts, tests).")
    ] = None,
    print_json: Annotated[bool, typer.Option("--print-json", help="Print each body.")] = False,
) -> None:
    """Receive the sandbox's webhooks locally: print, verify, forward."""
    from thanx_server.settings import Settings

    settings = Settings()
    if not settings.is_sandbox:
        fail("listen registers endpoints on a sandbox only (THANX_ENVIRONMENT=sandbox)")
    secret = stable_secret(settings.data_dir)
    with clean_errors():
        asyncio.run(
            _listen(
                settings,
                secret=secret,
                forward_to=forward_to,
                merchants=merchant,
                host=host,
                port=port,
                max_events=max_events,
                print_json=print_json,
            )
        )


async def _listen(
    settings: Any,
    *,
    secret: str,
    forward_to: str | None,
    merchants: list[str] | None,
    host: str,
    port: int,
    max_events: int | None,
    print_json: bool,
) -> None:
    import httpx

    from thanx_server.webhook.signing import verify_thanx_signature

    done = asyncio.Event()
    count = 0

    async with httpx.AsyncClient(timeout=15) as client:

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal count
            try:
                while not reader.at_eof():
                    request = await _read_request(reader)
                    if request is None:
                        return
                    headers, body = request
                    ok = verify_thanx_signature(secret, body, headers.get("x-thanx-signature", ""))
                    event = headers.get("x-thanx-event", "?")
                    event_id = headers.get("x-thanx-event-id", "?")
                    status = 200
                    note = ""
                    if forward_to:
                        try:
                            forwarded = await client.post(
                                forward_to,
                                content=body,
                                headers={
                                    "Content-Type": "application/json",
                                    **{k: v for k, v in headers.items() if k in FORWARDED},
                                },
                            )
                            status = forwarded.status_code
                            note = f" -> {forward_to} {status}"
                        except httpx.HTTPError as exc:
                            status = 502
                            note = f" -> {forward_to} failed: {type(exc).__name__}"
                    typer.echo(
                        f"{event:<30} {event_id}  signature {'ok' if ok else 'INVALID'}{note}"
                    )
                    if print_json:
                        typer.echo(json.dumps(json.loads(body), indent=2))
                    writer.write(b"HTTP/1.1 %d X\r\ncontent-length: 0\r\n\r\n" % status)
                    await writer.drain()
                    count += 1
                    if max_events is not None and count >= max_events:
                        done.set()
            except (ConnectionError, asyncio.IncompleteReadError, ValueError):
                return
            finally:
                writer.close()

        server = await asyncio.start_server(handle, host, port)
        bound = server.sockets[0].getsockname()[1]
        url = f"http://{host}:{bound}/webhooks"
        registered = await _register(settings, url=url, secret=secret, merchants=merchants)
        typer.echo(
            f"listening on {url} for {len(registered)} merchant(s); secret in "
            f"{settings.data_dir / SECRET_FILE}"
            + (f"; forwarding to {forward_to}" if forward_to else "")
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, done.set)
        try:
            async with server:
                await done.wait()
        finally:
            await _unregister(settings, registered)
            typer.echo(f"stopped after {count} event(s); endpoints removed")


async def _read_request(reader: asyncio.StreamReader) -> tuple[dict[str, str], bytes] | None:
    line = await reader.readline()
    if not line:
        return None
    headers: dict[str, str] = {}
    size = 0
    while True:
        header = await reader.readline()
        size += len(header)
        if header in (b"\r\n", b"\n", b"") or size > 65536:
            break
        name, _, value = header.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    body = await reader.readexactly(length) if length else b""
    return headers, body


async def _register(
    settings: Any, *, url: str, secret: str, merchants: list[str] | None
) -> list[str]:
    from thanx_server.cli.runtime import database_for
    from thanx_server.kit import migrate
    from thanx_server.kit.pagination import Page
    from thanx_server.kit.scoping import MerchantScope
    from thanx_server.merchant import service as merchant_service
    from thanx_server.webhook import service

    db = database_for(settings)
    try:
        await migrate.upgrade_if_needed(db.engine)
        async with db.write_sessions() as session, session.begin():
            if merchants:
                targets = list(merchants)
            else:
                targets = [m.id for m in await merchant_service.all_merchants(session)]
            stale = await service.list_endpoints(
                session, MerchantScope.operator(None), Page(1, 100)
            )
            for endpoint in stale.items:
                if endpoint.description == DESCRIPTION:
                    await service.delete_endpoint(
                        session, MerchantScope.operator(None), endpoint.id
                    )
            ids = []
            for merchant_id in targets:
                created = await service.create_endpoint(
                    session,
                    MerchantScope.one(merchant_id),
                    merchant_id=merchant_id,
                    url=url,
                    policy=service.UrlPolicy(production=False, allow_private=True),
                    description=DESCRIPTION,
                    secret=secret,
                )
                ids.append(created.endpoint.id)
            return ids
    finally:
        await db.dispose()


async def _unregister(settings: Any, ids: list[str]) -> None:
    from thanx_server.cli.runtime import database_for
    from thanx_server.kit.scoping import MerchantScope
    from thanx_server.webhook import service

    db = database_for(settings)
    try:
        async with db.write_sessions() as session, session.begin():
            for endpoint_id in ids:
                with contextlib.suppress(Exception):
                    await service.delete_endpoint(
                        session, MerchantScope.operator(None), endpoint_id
                    )
    finally:
        await db.dispose()
