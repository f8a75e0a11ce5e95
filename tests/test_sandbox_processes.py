"""The sandbox's controls with two API processes on one database (issue 13): the journal
gathers both processes' requests; the clock and fault rules set through one apply in the
other, and through the CLI in both, at once even while the other holds a fresh copy of them
(sandbox/state_cache.py: the window is stretched to 2 s here, so a copy that outlived a change
would be seen)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import StartApi
from thanx_server.auth.scopes import ALL_SCOPES
from thanx_server.kit.db import Database, create_engine
from thanx_server.merchant import service as merchant_service
from thanx_server.operators import service as operator_service
from thanx_server.partner import service as partner_service

# The sandbox state's copy window in these processes (THANX_SANDBOX_STATE_CACHE_MS): long, so
# that a copy outliving a change would be seen by the next call.
WINDOW_S = 2.0


async def _credentials(db_url: str) -> tuple[dict[str, str], dict[str, str]]:
    database = Database.from_engine(create_engine(db_url))
    try:
        async with database.write_sessions() as session, session.begin():
            merchant = await merchant_service.create_merchant(
                session, name="Two", handle="two", time_zone="UTC"
            )
            partner = await partner_service.create_partner(
                session, name="p", scopes=list(ALL_SCOPES), merchant_ids=[merchant.id]
            )
            operator = await operator_service.create_operator(session, name="ops")
    finally:
        await database.dispose()
    return (
        {"Authorization": f"Bearer {operator.access_token}", "X-ClientId": operator.client_id},
        {"Authorization": f"Bearer {partner.access_token}", "X-ClientId": partner.client_id},
    )


@pytest.mark.live
async def test_two_processes_share_the_journal_the_clock_and_fault_rules(
    fresh_db_url: str, start_api: StartApi, tmp_path: Path
) -> None:
    ops, partner = await _credentials(fresh_db_url)
    env = {
        "THANX_DATABASE_URL": fresh_db_url,
        "THANX_EMBEDDED_WORKER": "false",
        "THANX_SANDBOX_STATE_CACHE_MS": str(int(WINDOW_S * 1000)),
    }
    one, two = await start_api(env), await start_api(env)
    async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
        sent: list[str] = []
        for api, n in ((one, 3), (two, 2)):
            for _ in range(n):
                response = await client.get(f"{api.url}/partner/merchants", headers=partner)
                assert response.status_code == 200, response.text
                sent.append(response.headers["x-request-id"])

        # Process two writes its last entries within a flush interval (its lifespan's task).
        deadline = time.monotonic() + 15
        found: dict[str, Any] = {}
        while time.monotonic() < deadline:
            found = (await client.get(f"{one.url}/sandbox/journal", headers=ops)).json()
            if found["count"] >= 5:
                break
            await asyncio.sleep(0.2)
        assert found["count"] == 5, found
        assert sorted(e["request_id"] for e in found["entries"]) == sorted(sent)

        # The clock moved through one process is the other's at once, though the other's copy
        # was fresh when the control started: the control's answer waits the window out.
        assert (await client.get(f"{two.url}/partner/merchants", headers=partner)).is_success
        started = time.monotonic()
        moved = await client.post(
            f"{one.url}/sandbox/clock/advance", json={"by": "2d"}, headers=ops
        )
        assert moved.status_code == 200, moved.text
        assert time.monotonic() - started >= WINDOW_S
        seen = await client.get(f"{two.url}/partner/merchants", headers=partner)
        assert seen.headers["x-sandbox-time"] == moved.json()["clock"]["now"] or (
            seen.headers["x-sandbox-time"] > moved.json()["clock"]["now"]
        )

        # A rule made through one process fires once, in whichever process the call reaches
        # (the other's copy of "no rules" fresh when it was made).
        assert (await client.get(f"{two.url}/partner/merchants", headers=partner)).is_success
        rule = await client.post(
            f"{one.url}/sandbox/faults",
            json={"operation_id": "getMerchants", "status": 429, "times": 1},
            headers=ops,
        )
        assert rule.status_code == 201, rule.text
        first = await client.get(f"{two.url}/partner/merchants", headers=partner)
        assert first.status_code == 429
        assert first.headers["retry-after"] == "1"
        again = await client.get(f"{one.url}/partner/merchants", headers=partner)
        assert again.status_code == 200

        # The clock moved by the CLI (another process, no HTTP) is the API's once it exits.
        assert (await client.get(f"{two.url}/partner/merchants", headers=partner)).is_success
        cli = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "thanx_server", "sandbox", "clock", "advance", "1d", "--json"],
            env={**os.environ, **env, "THANX_DATA_DIR": str(tmp_path)},
            capture_output=True,
            text=True,
            check=False,
        )
        assert cli.returncode == 0, cli.stderr
        after_cli = await client.get(f"{two.url}/partner/merchants", headers=partner)
        assert after_cli.headers["x-sandbox-time"] >= json.loads(cli.stdout)["clock"]["now"]
