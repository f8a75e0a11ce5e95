"""The console's Controls page (issue 15): snapshot download and upload, and fault rules made
from a form, through the same services as ``/sandbox/snapshot`` and ``/sandbox/faults``; CSRF on
every form, the upload bounded with a page that says why. In process, on both engines."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import Factory, OperatorCredentialHeaders
from tests.test_console import signed_in, world_of_three
from tests.test_issuance import World
from thanx_server.app import create_app
from thanx_server.kit.db import Database
from thanx_server.models import Membership, SandboxFaultRule
from thanx_server.settings import Settings

world = world_of_three  # the fixture, under the name the tests ask for


@pytest.fixture
async def ops(factory: Factory) -> OperatorCredentialHeaders:
    return await factory.operator()


MEMBERS = select(func.count()).select_from(Membership)


def upload(token: str | None, content: bytes, *, credentials: bool = False) -> dict[str, Any]:
    """``client.post`` arguments of the restore form: multipart, a file and the CSRF token."""
    data = {"csrf_token": token} if token is not None else {}
    if credentials:
        data["credentials"] = "on"
    return {"data": data, "files": {"snapshot": ("snapshot.json", content, "application/json")}}


async def test_a_downloaded_snapshot_uploaded_again_puts_the_merchant_back(
    client: httpx.AsyncClient, ops: OperatorCredentialHeaders, world: World, session: AsyncSession
) -> None:
    token = await signed_in(client, ops.client_id, ops.access_token)
    page = await client.get("/console/controls")
    assert 'enctype="multipart/form-data"' in page.text
    download = await client.get(
        "/console/controls/snapshot", params={"merchant_id": world.merchant.id}
    )
    assert download.status_code == 200, download.text
    disposition = download.headers["content-disposition"]
    assert re.fullmatch(
        rf'attachment; filename="thanx-snapshot-{world.merchant.id}-\d{{8}}T\d{{6}}Z\.json"',
        disposition,
    ), disposition
    document = download.json()
    assert document["format"] == "thanx-server-snapshot"
    assert document["merchant_ids"] == [world.merchant.id]
    assert len(document["tables"]["memberships"]) == 3

    reset = await client.post(
        "/console/controls/reset", data={"merchant_id": world.merchant.id, "csrf_token": token}
    )
    assert reset.status_code == 303
    assert await session.scalar(MEMBERS) == 0

    # Without the session's CSRF token: refused before anything is written.
    forged = await client.post("/console/controls/snapshot", **upload(None, download.content))
    assert forged.status_code == 403, forged.text
    assert "CSRF_REFUSED" in forged.text
    assert await session.scalar(MEMBERS) == 0

    restored = await client.post("/console/controls/snapshot", **upload(token, download.content))
    assert restored.status_code == 303, restored.text
    assert await session.scalar(MEMBERS) == 3
    notice = await client.get(restored.headers["location"])
    rows = sum(len(rows) for rows in document["tables"].values())
    assert f"Snapshot restored: {rows} rows written." in notice.text


async def test_a_bad_upload_is_a_page_naming_the_field_and_writes_nothing(
    client: httpx.AsyncClient, ops: OperatorCredentialHeaders, world: World, session: AsyncSession
) -> None:
    token = await signed_in(client, ops.client_id, ops.access_token)
    cases = [
        (b"{not json", 400, "snapshot: snapshot.json is not JSON"),
        (b'{"format": "something else"}', 400, "format"),
        (b"", 400, "snapshot: choose a file to upload"),
    ]
    for content, status, text in cases:
        response = await client.post("/console/controls/snapshot", **upload(token, content))
        assert response.status_code == status, (content, response.text)
        assert response.headers["content-type"].startswith("text/html")
        assert text in response.text, response.text
    assert await session.scalar(MEMBERS) == 3


async def test_an_upload_over_the_body_limit_is_refused_with_a_page(
    database: Database, tmp_path: Path, ops: OperatorCredentialHeaders
) -> None:
    settings = Settings(
        data_dir=tmp_path, rate_limit_enabled=False, embedded_worker=False, max_body_bytes=4096
    )
    app = create_app(settings, database=database)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        token = await signed_in(client, ops.client_id, ops.access_token)
        page = await client.get("/console/controls")
        assert "At most 4096 bytes" in page.text
        big = json.dumps({"format": "thanx-server-snapshot", "pad": "x" * 5000}).encode()
        response = await client.post("/console/controls/snapshot", **upload(token, big))
    assert response.status_code == 413, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert "PAYLOAD_TOO_LARGE" in response.text
    assert "larger than the limit of 4096 bytes" in response.text


async def test_a_multipart_body_is_accepted_only_on_console_paths(
    client: httpx.AsyncClient, ops: OperatorCredentialHeaders
) -> None:
    response = await client.post("/sandbox/snapshot", headers=ops.headers(), **upload("x", b"{}"))
    assert response.status_code == 415, response.text
    assert response.json()["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"


async def test_snapshots_are_an_operators(client: httpx.AsyncClient, world: World) -> None:
    token = await signed_in(client, world.cred.client_id, world.cred.access_token)
    page = await client.get("/console/controls")
    assert "snapshot-heading" not in page.text
    download = await client.get("/console/controls/snapshot")
    assert download.status_code == 403
    assert "operator" in download.text
    restore = await client.post("/console/controls/snapshot", **upload(token, b"{}"))
    assert restore.status_code == 403


async def test_a_fault_rule_made_from_the_form_fires_and_shows_its_hits(
    client: httpx.AsyncClient, ops: OperatorCredentialHeaders, world: World
) -> None:
    token = await signed_in(client, ops.client_id, ops.access_token)
    page = await client.get("/console/controls")
    assert '<option value="getMerchants">' in page.text  # the operations to choose from
    form = {
        "csrf_token": token,
        "operation_id": "getMerchants",
        "merchant_id": "",
        "action": "error",
        "status": "503",
        "code": "",
        "latency_ms": "",
        "times": "2",
        "fraction": "",
        "expires_in": "",
    }
    forged = await client.post("/console/controls/faults", data={**form, "csrf_token": "x"})
    assert forged.status_code == 403
    created = await client.post("/console/controls/faults", data=form)
    assert created.status_code == 303, created.text
    statuses = [
        (await client.get("/partner/merchants", headers=world.cred.headers())).status_code
        for _ in range(3)
    ]
    assert statuses == [503, 503, 200]
    listed = (await client.get("/sandbox/faults", headers=ops.headers())).json()["faults"]
    assert [(r["operation_id"], r["status"], r["times"], r["hits"]) for r in listed] == [
        ("getMerchants", 503, 2, 2)
    ]
    page = await client.get("/console/controls")
    assert re.findall(r'class="num fault-hits">(\d+)<', page.text) == ["2"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"status": "99"}, "status: Input should be greater than or equal to 400"),
        ({"action": "latency"}, "latency_ms: required for a latency rule"),
        ({"times": "2", "fraction": "0.5"}, "times: give times or fraction, not both"),
        ({"operation_id": "noSuchOperation"}, "noSuchOperation"),
        ({"operation_id": ""}, "operation_id: Field required"),
    ],
)
async def test_a_bad_fault_form_names_the_field_and_adds_nothing(
    client: httpx.AsyncClient,
    ops: OperatorCredentialHeaders,
    session: AsyncSession,
    change: dict[str, str],
    message: str,
) -> None:
    token = await signed_in(client, ops.client_id, ops.access_token)
    form = {"csrf_token": token, "operation_id": "getMerchants", **change}
    response = await client.post("/console/controls/faults", data=form)
    assert response.status_code in (400, 422), response.text
    assert message in response.text, response.text
    assert await session.scalar(select(func.count()).select_from(SandboxFaultRule)) == 0


async def test_a_partners_fault_rule_is_its_own(
    client: httpx.AsyncClient, factory: Factory, world: World
) -> None:
    other = await factory.partner([world.merchant])
    token = await signed_in(client, world.cred.client_id, world.cred.access_token)
    created = await client.post(
        "/console/controls/faults",
        data={"csrf_token": token, "operation_id": "getMerchants", "status": "500"},
    )
    assert created.status_code == 303, created.text
    mine = await client.get("/partner/merchants", headers=world.cred.headers())
    theirs = await client.get("/partner/merchants", headers=other.headers())
    assert (mine.status_code, theirs.status_code) == (500, 200)
    page = await client.get("/console/controls")
    assert f"<code>{world.cred.client_id}</code>" in page.text  # the owner column
