"""``thanx-server listen --forward-to URL``: a partner's local app receives the sandbox's webhooks.

It registers a local receiver as a webhook endpoint of every merchant of the credential (or those
named) over the sandbox's HTTP API (``--api``, with a partner credential holding the ``sandbox``
scope, or an operator's), so the sandbox may run anywhere; it never opens a database. It prints
each event as it arrives, verifies its ``X-Thanx-Signature``, forwards the exact body and the
signature headers to ``--forward-to`` and answers the sandbox with the app's status. The secret
is kept in ``$THANX_DATA_DIR/listen-secret`` (created once) and given to the sandbox at each
registration, so the local app verifies with a fixed secret across restarts. On exit (Ctrl-C)
its endpoints are removed; endpoints left by a killed listener are replaced at the next start
(they carry its description).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from dataclasses import dataclass
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
    api: Annotated[
        str, typer.Option(envvar="THANX_API_URL", help="The sandbox's base URL [THANX_API_URL].")
    ] = "http://127.0.0.1:8000",
    client_id: Annotated[
        str | None,
        typer.Option(envvar="THANX_CLIENT_ID", help="Credential client id [THANX_CLIENT_ID]."),
    ] = None,
    access_token: Annotated[
        str | None,
        typer.Option(
            envvar="THANX_ACCESS_TOKEN", help="Credential access token [THANX_ACCESS_TOKEN]."
        ),
    ] = None,
    host: Annotated[str, typer.Option(help="Where the receiver listens.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Receiver port (0: any free one).")] = 0,
    public_url: Annotated[
        str | None,
        typer.Option(
            help="The URL the sandbox should POST to, when it cannot reach --host:--port "
            "directly (a tunnel, another machine)."
        ),
    ] = None,
    max_events: Annotated[
        int | None, typer.Option(help="Exit after this many events (scripts, tests).")
    ] = None,
    print_json: Annotated[bool, typer.Option("--print-json", help="Print each body.")] = False,
) -> None:
    """Receive the sandbox's webhooks locally: print, verify, forward."""
    from thanx_server.settings import Settings

    if not client_id or not access_token:
        fail(
            "listen needs a credential of the sandbox: --client-id and --access-token "
            "(or THANX_CLIENT_ID / THANX_ACCESS_TOKEN), a partner's with the sandbox scope "
            "or an operator's"
        )
    data_dir = Settings().data_dir
    secret = stable_secret(data_dir)
    sandbox = SandboxApi(api.rstrip("/"), client_id=client_id, access_token=access_token)
    with clean_errors():
        asyncio.run(
            _listen(
                sandbox,
                secret=secret,
                secret_path=data_dir / SECRET_FILE,
                forward_to=forward_to,
                merchants=merchant,
                host=host,
                port=port,
                public_url=public_url,
                max_events=max_events,
                print_json=print_json,
            )
        )


@dataclass(frozen=True)
class SandboxApi:
    """The few sandbox calls ``listen`` makes, over HTTP with the given credential."""

    base_url: str
    client_id: str
    access_token: str

    def client(self) -> Any:
        import httpx

        return httpx.AsyncClient(
            base_url=self.base_url,
            timeout=15,
            headers={
                "Authorization": f"Bearer {self.access_token}",
                "X-ClientId": self.client_id,
                "Accept-Version": "v4.0",
            },
        )


async def _listen(
    sandbox: SandboxApi,
    *,
    secret: str,
    secret_path: Path,
    forward_to: str | None,
    merchants: list[str] | None,
    host: str,
    port: int,
    public_url: str | None,
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
        url = public_url or f"http://{host}:{bound}/webhooks"
        async with sandbox.client() as api:
            registered = await _register(api, url=url, secret=secret, merchants=merchants)
        typer.echo(
            f"listening on {url} for {len(registered)} merchant(s) of {sandbox.base_url}; "
            f"secret in {secret_path}" + (f"; forwarding to {forward_to}" if forward_to else ""),
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, done.set)
        try:
            async with server:
                await done.wait()
        finally:
            async with sandbox.client() as api:
                await _unregister(api, registered)
            typer.echo(f"stopped after {count} event(s); endpoints removed")


def _answer(response: Any, doing: str) -> Any:
    """The JSON of a successful answer; otherwise a clean exit naming the sandbox's error."""
    if response.status_code >= 300:
        try:
            error = response.json()["error"]
            detail = f"{error['code']}: {error['message']}"
        except (ValueError, KeyError, TypeError):
            detail = response.text[:200]
        fail(f"{doing}: the sandbox answered {response.status_code} ({detail})")
    return response.json()


async def _register(api: Any, *, url: str, secret: str, merchants: list[str] | None) -> list[str]:
    """Replace the endpoints a previous listener left (same description), then register ``url``
    with the stable ``secret`` for each merchant: every call over the sandbox's HTTP API."""
    if merchants:
        targets = list(merchants)
    else:
        listed = _answer(await api.get("/partner/merchants"), "listing your merchants")
        targets = [m["id"] for m in listed["merchants"]]
    page = 1
    stale: list[str] = []
    while True:
        found = _answer(
            await api.get("/sandbox/webhook_endpoints", params={"page": page, "per_page": 100}),
            "listing webhook endpoints",
        )
        stale += [
            e["id"] for e in found["webhook_endpoints"] if e.get("description") == DESCRIPTION
        ]
        pagination = found.get("pagination") or {}
        if page >= int(pagination.get("total_pages") or 1):
            break
        page += 1
    await _unregister(api, stale)
    ids = []
    for merchant_id in targets:
        created = _answer(
            await api.post(
                "/sandbox/webhook_endpoints",
                json={
                    "webhook_endpoint": {
                        "merchant_id": merchant_id,
                        "url": url,
                        "description": DESCRIPTION,
                        "secret": secret,
                    }
                },
            ),
            f"registering an endpoint for merchant {merchant_id}",
        )
        ids.append(created["webhook_endpoint"]["id"])
    return ids


async def _unregister(api: Any, ids: list[str]) -> None:
    import httpx

    for endpoint_id in ids:
        with contextlib.suppress(httpx.HTTPError):  # gone already, or the sandbox is down
            await api.delete(f"/sandbox/webhook_endpoints/{endpoint_id}")


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
