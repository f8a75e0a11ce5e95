"""The web console (issue 15): sign-in with an operator or a partner credential, the session
cookie, CSRF on every form that changes something, the overview and the issuance jobs pages,
and what remains in production. In process, on both engines; tests/test_console_browser.py
drives the same pages in headless Chromium."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import Factory, OperatorCredentialHeaders
from tests.test_issuance import World, email, issue, worker
from tests.test_webhooks import add_endpoint
from tests.test_webhooks import config as webhook_config
from tests.webhook_receiver import Receiver
from thanx_server.app import create_app
from thanx_server.issuance import tasks
from thanx_server.kit.db import Database
from thanx_server.kit.ids import hash_secret
from thanx_server.models import IssuanceJob, Membership, OperatorCredential, Reward
from thanx_server.models.console import ConsoleSession
from thanx_server.sandbox.clock import service as clock_service
from thanx_server.settings import Environment, Settings
from thanx_server.webhook import tasks as webhook_tasks

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found is not None, html
    return found.group(1)


async def sign_in(client: httpx.AsyncClient, client_id: str, token: str) -> httpx.Response:
    form = await client.get("/console/login")
    assert form.status_code == 200, form.text
    return await client.post(
        "/console/login",
        data={"csrf_token": csrf_of(form.text), "client_id": client_id, "access_token": token},
    )


async def signed_in(client: httpx.AsyncClient, client_id: str, token: str) -> str:
    """Signs in; returns the session's CSRF token (read from the overview's forms)."""
    response = await sign_in(client, client_id, token)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/console"
    page = await client.get("/console")
    assert page.status_code == 200, page.text
    return csrf_of(page.text)


@pytest.fixture(name="world")
async def world_of_three(factory: Factory) -> World:
    """A merchant with three members, a partner credential issuing for it, and a campaign."""
    merchant = await factory.merchant()
    users = [(await factory.member(merchant, email=f"member{i}@example.com"))[0] for i in range(3)]
    cred = await factory.partner([merchant], scopes=["rewards.issue"])
    campaign = await factory.campaign(merchant, partner_id=cred.partner_id)
    return World(merchant, cred, campaign, users)


@pytest.fixture(name="receiver")
async def webhook_receiver() -> AsyncIterator[Receiver]:
    """A real HTTP receiver in the test's event loop (tests/webhook_receiver.py)."""
    r = await Receiver().start()
    yield r
    await r.close()


@pytest.fixture
async def ops(factory: Factory) -> OperatorCredentialHeaders:
    return await factory.operator()


# --- signing in and out -----------------------------------------------------------------------


async def test_pages_need_a_session_and_redirect_to_the_sign_in_form(
    client: httpx.AsyncClient,
) -> None:
    for path in ("/console", "/console/jobs", "/console/jobs/nope"):
        response = await client.get(path)
        assert response.status_code == 303, (path, response.text)
        assert response.headers["location"] == "/console/login"
    refused = await client.post("/console/clock/freeze", data={"csrf_token": "x"})
    assert refused.status_code == 401
    assert "SIGN_IN_REQUIRED" in refused.text
    assert refused.headers["content-type"].startswith("text/html")


async def test_operator_signs_in_with_a_session_cookie_whose_digest_alone_is_stored(
    client: httpx.AsyncClient, ops: OperatorCredentialHeaders, session: AsyncSession
) -> None:
    response = await sign_in(client, ops.client_id, ops.access_token)
    assert response.status_code == 303, response.text
    cookies = response.headers.get_list("set-cookie")
    session_cookie = next(c for c in cookies if c.startswith("thanx_console="))
    attributes = [part.strip().lower() for part in session_cookie.split(";")]
    assert "httponly" in attributes
    assert "samesite=lax" in attributes
    assert "path=/console" in attributes
    assert "secure" not in attributes  # plain http here; https requests get Secure
    secret = session_cookie.split(";")[0].split("=", 1)[1]
    stored = (await session.scalars(select(ConsoleSession.id))).all()
    assert stored == [hash_secret(secret)]
    page = await client.get("/console")
    assert page.status_code == 200
    assert ops.client_id in page.text
    assert ops.access_token not in page.text
    assert '<h2 id="clock-heading">Sandbox clock</h2>' in page.text


async def test_the_session_cookie_is_secure_over_https(
    app: object, ops: OperatorCredentialHeaders
) -> None:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="https://console.test") as client:
        response = await sign_in(client, ops.client_id, ops.access_token)
    assert response.status_code == 303
    cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith("thanx_console=")
    )
    assert "secure" in [part.strip().lower() for part in cookie.split(";")]


async def test_a_wrong_token_is_refused_and_never_shown(
    client: httpx.AsyncClient, ops: OperatorCredentialHeaders, session: AsyncSession
) -> None:
    wrong = "not-the-token-but-long-enough"
    response = await sign_in(client, ops.client_id, wrong)
    assert response.status_code == 401
    assert "do not match an active credential" in response.text
    assert wrong not in response.text
    assert ops.client_id in response.text  # kept in the form; it is no secret
    unknown = await sign_in(client, "nobody", wrong)
    assert unknown.status_code == 401
    assert await session.scalar(select(func.count()).select_from(ConsoleSession)) == 0


async def test_sign_in_without_the_forms_csrf_token_is_refused(
    client: httpx.AsyncClient, ops: OperatorCredentialHeaders, session: AsyncSession
) -> None:
    await client.get("/console/login")  # sets the form's cookie
    response = await client.post(
        "/console/login",
        data={"csrf_token": "forged", "client_id": ops.client_id, "access_token": ops.access_token},
    )
    assert response.status_code == 403
    assert "CSRF_REFUSED" in response.text
    assert await session.scalar(select(func.count()).select_from(ConsoleSession)) == 0


async def test_sign_out_ends_the_session(
    client: httpx.AsyncClient, ops: OperatorCredentialHeaders, session: AsyncSession
) -> None:
    token = await signed_in(client, ops.client_id, ops.access_token)
    cookie = client.cookies.get("thanx_console")
    response = await client.post("/console/logout", data={"csrf_token": token})
    assert response.status_code == 303
    assert response.headers["location"] == "/console/login"
    assert await session.scalar(select(func.count()).select_from(ConsoleSession)) == 0
    # The old cookie, replayed, opens nothing.
    assert cookie is not None
    client.cookies.set("thanx_console", cookie, path="/console")
    assert (await client.get("/console")).status_code == 303


async def test_a_revoked_operator_is_signed_out_at_once(
    client: httpx.AsyncClient, ops: OperatorCredentialHeaders, session: AsyncSession
) -> None:
    await signed_in(client, ops.client_id, ops.access_token)
    operator = await session.scalar(
        select(OperatorCredential).where(OperatorCredential.client_id == ops.client_id)
    )
    assert operator is not None
    operator.revoked_at = operator.created_at
    await session.flush()
    assert (await client.get("/console")).status_code == 303


async def test_a_crafted_link_cannot_make_the_console_say_anything(
    client: httpx.AsyncClient, ops: OperatorCredentialHeaders
) -> None:
    await signed_in(client, ops.client_id, ops.access_token)
    for params in (
        {"message": "Your token expired: paste it at evil.example"},
        {"done": "Paste your token at evil.example", "n": "1"},
        {"done": "reset", "n": "evil.example"},
    ):
        page = await client.get("/console", params=params)
        assert "evil.example" not in page.text
        assert 'class="notice"' not in page.text
    fixed = await client.get("/console", params={"done": "reset", "n": "3"})
    assert "Reset done: 3 rows written back from the baseline." in fixed.text


async def test_a_form_body_is_accepted_only_on_console_paths(client: httpx.AsyncClient) -> None:
    response = await client.post("/partner/campaigns/issue", data={"a": "b"})
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"


# --- the overview and the clock ---------------------------------------------------------------


async def test_a_partner_sees_only_its_merchants_and_cannot_move_the_clock(
    client: httpx.AsyncClient, factory: Factory, world: World
) -> None:
    other = await factory.merchant(name="Somebody Else's Cafe")
    token = await signed_in(client, world.cred.client_id, world.cred.access_token)
    page = await client.get("/console")
    assert world.merchant.id in page.text
    assert other.id not in page.text
    assert "Only an operator moves the clock." in page.text
    refused = await client.post("/console/clock/freeze", data={"csrf_token": token})
    assert refused.status_code == 403
    assert "needs an operator credential" in refused.text


async def test_the_overview_counts_members_rewards_and_queued_jobs(
    client: httpx.AsyncClient, ops: OperatorCredentialHeaders, world: World
) -> None:
    await issue(client, world, world.issue_body([email("member0@example.com")]))
    await signed_in(client, ops.client_id, ops.access_token)
    page = (await client.get("/console")).text
    row = re.search(rf"<code>{world.merchant.id}</code>(.*?)</tr>", page, re.S)
    assert row is not None
    assert re.findall(r'class="num">(\d+)<', row.group(1)) == ["3", "0", "1"]
    assert '<dd id="jobs-pending">1</dd>' in page
    assert '<dd id="oldest-waiting">' in page


async def test_clock_forms_need_the_sessions_csrf_token(
    client: httpx.AsyncClient, ops: OperatorCredentialHeaders, session: AsyncSession
) -> None:
    token = await signed_in(client, ops.client_id, ops.access_token)
    altered = token[:-1] + ("1" if token.endswith("0") else "0")  # one character off
    for forged in ({}, {"csrf_token": ""}, {"csrf_token": altered}):
        response = await client.post("/console/clock/freeze", data=forged)
        assert response.status_code == 403, forged
        assert "CSRF_REFUSED" in response.text
    assert (await clock_service.read(session)).frozen is False
    response = await client.post("/console/clock/freeze", data={"csrf_token": token})
    assert response.status_code == 303
    assert (await clock_service.read(session)).frozen is True
    assert 'id="clock-state">frozen<' in (await client.get("/console")).text


async def test_advancing_the_clock_names_a_bad_duration_and_moves_a_good_one(
    client: httpx.AsyncClient, ops: OperatorCredentialHeaders, session: AsyncSession
) -> None:
    token = await signed_in(client, ops.client_id, ops.access_token)
    await client.post("/console/clock/freeze", data={"csrf_token": token})
    before = (await clock_service.read(session)).now
    bad = await client.post("/console/clock/advance", data={"csrf_token": token, "by": "soon"})
    assert bad.status_code == 400
    assert "by:" in bad.text
    good = await client.post("/console/clock/advance", data={"csrf_token": token, "by": "1d2h"})
    assert good.status_code == 303, good.text
    assert (await clock_service.read(session)).now - before == timedelta(days=1, hours=2)


# --- issuance jobs ----------------------------------------------------------------------------


async def test_jobs_page_lists_a_job_and_its_page_shows_progress_and_failures(
    client: httpx.AsyncClient, ops: OperatorCredentialHeaders, world: World, database: Database
) -> None:
    job = await issue(
        client,
        world,
        world.issue_body([email("member0@example.com"), email("nobody@example.com")]),
    )
    await signed_in(client, ops.client_id, ops.access_token)
    listing = await client.get("/console/jobs")
    assert f'href="/console/jobs/{job["id"]}"' in listing.text
    assert (await client.get("/console/jobs?state=completed")).text.count("<progress") == 0
    bad = await client.get("/console/jobs?state=finished-ish")
    assert bad.status_code == 400
    assert "state:" in bad.text
    page = await client.get(f"/console/jobs/{job['id']}")
    assert '<dd id="job-state">pending</dd>' in page.text
    assert 'http-equiv="refresh"' not in page.text
    watched = await client.get(f"/console/jobs/{job['id']}?watch=1")
    assert '<meta http-equiv="refresh" content="2">' in watched.text
    assert await tasks.drain(database, worker()) == 1
    page = await client.get(f"/console/jobs/{job['id']}?watch=1")
    assert '<dd id="job-state">completed</dd>' in page.text
    assert '<span id="job-percent">100%</span>' in page.text
    assert 'http-equiv="refresh"' not in page.text  # nothing left to watch
    failures = re.search(r'<table id="failures">(.*?)</table>', page.text, re.S)
    assert failures is not None
    assert '<td class="num">1</td><td>email</td>' in failures.group(1)
    assert (await client.get("/console/jobs/unknown")).status_code == 404


async def test_revoking_from_the_console_takes_the_unused_rewards_back(
    client: httpx.AsyncClient,
    ops: OperatorCredentialHeaders,
    world: World,
    database: Database,
    session: AsyncSession,
) -> None:
    job = await issue(client, world, world.issue_body([email("member0@example.com")]))
    token = await signed_in(client, ops.client_id, ops.access_token)
    early = await client.post(f"/console/jobs/{job['id']}/revoke", data={"csrf_token": token})
    assert early.status_code == 422  # pending jobs cannot be revoked (the API's rule)
    await tasks.drain(database, worker())
    forged = await client.post(f"/console/jobs/{job['id']}/revoke", data={})
    assert forged.status_code == 403
    done = await client.post(f"/console/jobs/{job['id']}/revoke", data={"csrf_token": token})
    assert done.status_code == 303
    assert await session.scalar(select(IssuanceJob.state).where(IssuanceJob.id == job["id"])) == (
        "revoked"
    )
    states = (
        await session.scalars(select(Reward.state).where(Reward.issuance_job_id == job["id"]))
    ).all()
    assert states
    assert all(state == "revoked" for state in states)


async def test_a_partner_cannot_open_another_partners_job(
    client: httpx.AsyncClient, factory: Factory, world: World
) -> None:
    job = await issue(client, world, world.issue_body([email("member0@example.com")]))
    stranger_merchant = await factory.merchant()
    stranger = await factory.partner([stranger_merchant])
    await signed_in(client, stranger.client_id, stranger.access_token)
    assert (await client.get(f"/console/jobs/{job['id']}")).status_code == 404
    assert job["id"] not in (await client.get("/console/jobs")).text


async def test_stepping_a_job_runs_its_chunks(
    client: httpx.AsyncClient, ops: OperatorCredentialHeaders, world: World
) -> None:
    job = await issue(client, world, world.issue_body([email("member0@example.com")]))
    token = await signed_in(client, ops.client_id, ops.access_token)
    bad = await client.post(
        f"/console/jobs/{job['id']}/step", data={"csrf_token": token, "chunks": "0"}
    )
    assert bad.status_code == 400
    assert "chunks:" in bad.text
    step = await client.post(
        f"/console/jobs/{job['id']}/step", data={"csrf_token": token, "chunks": "1"}
    )
    assert step.status_code == 303, step.text
    page = await client.get(f"/console/jobs/{job['id']}")
    assert '<dd id="job-state">completed</dd>' in page.text


# --- requests (the journal) -------------------------------------------------------------------


async def test_requests_page_lists_the_journal_filters_it_and_opens_one_as_curl(
    client: httpx.AsyncClient, ops: OperatorCredentialHeaders, world: World
) -> None:
    body = world.issue_body([email("member0@example.com")])
    await issue(client, world, body, **{"X-Idempotency-Key": "console-key-1"})
    missing = await client.get("/partner/issuance_jobs/nope", headers=world.cred.headers())
    assert missing.status_code == 404
    await signed_in(client, ops.client_id, ops.access_token)
    page = await client.get("/console/requests")
    assert page.status_code == 200, page.text
    statuses = re.findall(r'class="num status">(\d+)<', page.text)
    assert statuses == ["404", "202"]  # newest first; console pages are not recorded
    only_404 = await client.get("/console/requests", params={"status": "404"})
    assert re.findall(r'class="num status">(\d+)<', only_404.text) == ["404"]
    by_operation = await client.get("/console/requests", params={"operation_id": "issueRewards"})
    assert re.findall(r'class="num status">(\d+)<', by_operation.text) == ["202"]
    by_client = await client.get("/console/requests", params={"client_id": "someone-else"})
    assert "0 recorded requests" in by_client.text
    bad = await client.get("/console/requests", params={"status": "abc"})
    assert bad.status_code == 400
    assert "status:" in bad.text
    entry_id = re.findall(r'href="/console/requests/(\d+)"', by_operation.text)[0]
    one = await client.get(f"/console/requests/{entry_id}")
    assert one.status_code == 200
    assert "member0@example.com" in one.text  # the request body (JSON-escaped in the page)
    curl = re.search(r'<textarea id="curl"[^>]*>(.*?)</textarea>', one.text, re.S)
    assert curl is not None
    command = curl.group(1)
    assert command.startswith("curl -sS -X POST http://test/partner/campaigns/issue ")
    assert "X-ClientId: " + world.cred.client_id in command
    assert "Bearer &lt;access token&gt;" in command
    assert world.cred.access_token not in one.text
    assert "X-Idempotency-Key: console-key-1" in command
    assert "--data-raw" in command
    assert (await client.get("/console/requests/999999")).status_code == 404


async def test_a_partner_sees_only_its_own_requests(
    client: httpx.AsyncClient, factory: Factory, ops: OperatorCredentialHeaders, world: World
) -> None:
    await client.get("/sandbox/whoami", headers=ops.headers())  # not journaled (a control)
    await client.get("/partner/merchants", headers=world.cred.headers())
    other_merchant = await factory.merchant()
    other = await factory.partner([other_merchant])
    await client.get("/partner/merchants", headers=other.headers())
    await signed_in(client, world.cred.client_id, world.cred.access_token)
    page = await client.get("/console/requests")
    assert "1 recorded request." in page.text
    assert other.client_id not in page.text
    foreign = await client.get("/console/requests", params={"client_id": other.client_id})
    assert foreign.status_code == 403


# --- members ----------------------------------------------------------------------------------


async def test_members_are_found_by_email_or_phone_with_rewards_that_retire_on_the_clock(
    client: httpx.AsyncClient,
    ops: OperatorCredentialHeaders,
    factory: Factory,
    world: World,
    database: Database,
) -> None:
    await factory.member(world.merchant, email="phoned@example.com", phone="+14155550123")
    await issue(client, world, world.issue_body([email("member0@example.com")]))
    await tasks.drain(database, worker())
    token = await signed_in(client, ops.client_id, ops.access_token)
    page = await client.get("/console/members", params={"q": "MEMBER0@example.com"})
    assert page.status_code == 200, page.text
    assert "member0@example.com" in page.text
    assert re.findall(r'class="reward-state">(\w+)<', page.text) == ["available"]
    left = re.findall(r'class="reward-left">([^<]+)<', page.text)
    assert len(left) == 1
    assert left[0].startswith(("59d", "60d"))  # retire_at: the campaign's end + 30 days
    by_phone = await client.get("/console/members", params={"q": " +14155550123 "})
    assert "phoned@example.com" in by_phone.text
    nobody = await client.get("/console/members", params={"q": "nobody@example.com"})
    assert 'id="member-none"' in nobody.text
    bad = await client.get("/console/members", params={"q": "not a phone"})
    assert bad.status_code == 400
    assert "q:" in bad.text
    # Sixty-one days on, the reward has retired (it was never used).
    moved = await client.post("/console/clock/advance", data={"csrf_token": token, "by": "61d"})
    assert moved.status_code == 303, moved.text
    page = await client.get("/console/members", params={"q": "member0@example.com"})
    assert re.findall(r'class="reward-state">(\w+)<', page.text) == ["retired"]
    assert re.findall(r'class="reward-left">([^<]+)<', page.text) == ["retired"]


async def test_a_partner_finds_only_members_of_its_merchants(
    client: httpx.AsyncClient, factory: Factory, world: World
) -> None:
    elsewhere = await factory.merchant()
    await factory.member(elsewhere, email="elsewhere@example.com")
    await signed_in(client, world.cred.client_id, world.cred.access_token)
    own = await client.get("/console/members", params={"q": "member1@example.com"})
    assert "member1@example.com" in own.text
    other = await client.get("/console/members", params={"q": "elsewhere@example.com"})
    assert 'id="member-none"' in other.text


# --- controls ---------------------------------------------------------------------------------


async def test_fault_rules_show_their_hit_counts_and_are_deleted_from_the_console(
    client: httpx.AsyncClient, ops: OperatorCredentialHeaders, world: World
) -> None:
    rule = {"operation_id": "getMerchants", "status": 429, "times": 2}
    created = await client.post("/sandbox/faults", json=rule, headers=ops.headers())
    assert created.status_code == 201, created.text
    for _ in range(3):
        await client.get("/partner/merchants", headers=world.cred.headers())
    token = await signed_in(client, ops.client_id, ops.access_token)
    page = await client.get("/console/controls")
    assert page.status_code == 200, page.text
    assert re.findall(r'class="num fault-hits">(\d+)<', page.text) == ["2"]
    assert "first 2" in page.text
    # The console itself meets no fault rule, even one on every operation it could match.
    rule_id = created.json()["fault"]["id"]
    forged = await client.post(f"/console/controls/faults/{rule_id}/delete", data={})
    assert forged.status_code == 403
    deleted = await client.post(
        f"/console/controls/faults/{rule_id}/delete", data={"csrf_token": token}
    )
    assert deleted.status_code == 303
    assert (await client.get("/sandbox/faults", headers=ops.headers())).json() == {"faults": []}
    again = await client.post(
        f"/console/controls/faults/{rule_id}/delete", data={"csrf_token": token}
    )
    assert again.status_code == 404


async def test_reset_of_one_merchant_from_the_console_goes_back_to_the_baseline(
    client: httpx.AsyncClient, ops: OperatorCredentialHeaders, world: World, session: AsyncSession
) -> None:
    # No baseline saved: a reset empties the merchant's data (its members among them).
    token = await signed_in(client, ops.client_id, ops.access_token)
    page = await client.get("/console/controls")
    assert f'<option value="{world.merchant.id}">' in page.text
    forged = await client.post(
        "/console/controls/reset", data={"merchant_id": world.merchant.id, "csrf_token": "x"}
    )
    assert forged.status_code == 403
    members = select(func.count()).select_from(Membership)
    assert await session.scalar(members) == 3
    bad = await client.post(
        "/console/controls/reset",
        data={"merchant_id": world.merchant.id, "credentials": "on", "csrf_token": token},
    )
    assert bad.status_code == 400
    assert "credentials:" in bad.text
    done = await client.post(
        "/console/controls/reset", data={"merchant_id": world.merchant.id, "csrf_token": token}
    )
    assert done.status_code == 303, done.text
    assert await session.scalar(members) == 0
    assert (await client.get("/console")).status_code == 200  # still signed in


async def test_a_partner_resets_only_its_own_merchant(
    client: httpx.AsyncClient, factory: Factory, world: World
) -> None:
    other = await factory.merchant()
    token = await signed_in(client, world.cred.client_id, world.cred.access_token)
    page = await client.get("/console/controls")
    assert '<option value="*">all my merchants</option>' in page.text
    assert other.id not in page.text
    refused = await client.post(
        "/console/controls/reset", data={"merchant_id": other.id, "csrf_token": token}
    )
    assert refused.status_code == 403
    credentials = await client.post(
        "/console/controls/reset",
        data={"merchant_id": "*", "credentials": "on", "csrf_token": token},
    )
    assert credentials.status_code == 403  # putting credentials back is an operator's


# --- webhooks ---------------------------------------------------------------------------------


async def test_webhooks_trigger_deliver_and_redeliver_from_the_console(
    client: httpx.AsyncClient,
    ops: OperatorCredentialHeaders,
    world: World,
    database: Database,
    receiver: Receiver,
) -> None:
    created = await add_endpoint(client, ops.headers(), world.merchant, receiver.url + "/hook")
    secret = created["secret"]
    token = await signed_in(client, ops.client_id, ops.access_token)
    page = await client.get("/console/webhooks")
    assert page.status_code == 200, page.text
    assert receiver.url + "/hook" in page.text
    assert secret not in page.text
    triggered = await client.post(
        "/console/webhooks/trigger",
        data={
            "csrf_token": token,
            "event": "communication_setting.updated",
            "merchant_id": world.merchant.id,
        },
    )
    assert triggered.status_code == 303, triggered.text
    event_url = triggered.headers["location"].split("?")[0]
    event_id = event_url.rsplit("/", 1)[1]
    overview = (await client.get("/console")).text
    assert '<dd id="outbox-undispatched">1</dd>' in overview  # the event, not yet a delivery
    assert await webhook_tasks.drain(database, webhook_config()) == 1
    overview = (await client.get("/console")).text
    assert '<dd id="outbox-undispatched">0</dd>' in overview
    assert '<dd id="outbox-pending">0</dd>' in overview
    event_page = await client.get(event_url)
    assert '<dd id="event-type">communication_setting.updated</dd>' in event_page.text
    [delivered] = receiver.received
    shown = re.search(r'<pre id="event-body">(.*?)</pre>', event_page.text, re.S)
    assert shown is not None
    assert html.unescape(shown.group(1)) == delivered.body.decode()  # the body as sent
    assert re.findall(r'<td class="num">(\d+)</td>', event_page.text)[1] == "200"
    forged = await client.post(f"/console/webhooks/events/{event_id}/redeliver", data={})
    assert forged.status_code == 403
    again = await client.post(
        f"/console/webhooks/events/{event_id}/redeliver", data={"csrf_token": token}
    )
    assert again.status_code == 303, again.text
    assert '<dd id="outbox-pending">1</dd>' in (await client.get("/console")).text
    assert await webhook_tasks.drain(database, webhook_config()) == 1
    assert len(receiver.received) == 2
    assert receiver.received[1].body == delivered.body  # same event, same id
    bad = await client.post(
        "/console/webhooks/trigger",
        data={"csrf_token": token, "event": "nope", "merchant_id": world.merchant.id},
    )
    assert bad.status_code == 400
    assert "event:" in bad.text


async def test_pausing_a_job_keeps_it_from_the_workers_until_released(
    client: httpx.AsyncClient, ops: OperatorCredentialHeaders, world: World, database: Database
) -> None:
    job = await issue(client, world, world.issue_body([email("member0@example.com")]))
    token = await signed_in(client, ops.client_id, ops.access_token)
    url = f"/console/jobs/{job['id']}/progression"
    assert (await client.post(url, data={"mode": "paused"})).status_code == 403
    bad = await client.post(url, data={"csrf_token": token, "mode": "sometimes"})
    assert bad.status_code == 400
    assert "mode:" in bad.text
    paused = await client.post(url, data={"csrf_token": token, "mode": "paused"})
    assert paused.status_code == 303, paused.text
    assert await tasks.drain(database, worker()) == 0
    assert (
        '<dd id="job-state">pending</dd>' in (await client.get(f"/console/jobs/{job['id']}")).text
    )
    released = await client.post(url, data={"csrf_token": token, "mode": "immediate"})
    assert released.status_code == 303
    assert await tasks.drain(database, worker()) == 1
    page = (await client.get(f"/console/jobs/{job['id']}")).text
    assert '<dd id="job-state">completed</dd>' in page
    finished = await client.post(url, data={"csrf_token": token, "mode": "paused"})
    assert finished.status_code == 422  # a finished job has no progression (the API's rule)


# --- production -------------------------------------------------------------------------------


async def test_in_production_only_the_overview_and_jobs_remain(
    database: Database, tmp_path: Path, ops: OperatorCredentialHeaders
) -> None:
    app = create_app(
        Settings(data_dir=tmp_path, environment=Environment.PRODUCTION, embedded_worker=False),
        database=database,
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        token = await signed_in(client, ops.client_id, ops.access_token)
        page = await client.get("/console")
        assert "Sandbox clock" not in page.text
        assert (await client.get("/console/jobs")).status_code == 200
        freeze = await client.post("/console/clock/freeze", data={"csrf_token": token})
        assert freeze.status_code == 404
        assert (await client.get("/console/members?q=a@example.com")).status_code == 404
        assert (await client.get("/console/requests")).status_code == 404
        assert (await client.get("/console/controls")).status_code == 404
        assert (await client.get("/console/webhooks")).status_code == 200
        trigger = await client.post("/console/webhooks/trigger", data={"csrf_token": token})
        assert trigger.status_code == 404
        assert 'href="/console/members"' not in page.text


async def test_the_stylesheet_is_served_from_the_package(client: httpx.AsyncClient) -> None:
    response = await client.get("/console/static/console.css")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")
    assert b"font" in response.content


async def test_every_pages_title_is_plain_text_and_each_section_appears_once(
    client: httpx.AsyncClient, ops: OperatorCredentialHeaders
) -> None:
    """A block left open in a template swallows what follows into the <title> (the overview's
    budgets section once rendered there and again in the page)."""
    await signed_in(client, ops.client_id, ops.access_token)
    for path in ("/console", "/console/jobs", "/console/webhooks", "/console/requests",
                 "/console/members", "/console/controls"):  # fmt: skip
        page = await client.get(path)
        assert page.status_code == 200, path
        title = re.search(r"<title>(.*?)</title>", page.text, re.S)
        assert title is not None, path
        assert "<" not in title.group(1), (path, title.group(1)[:80])
        ids = re.findall(r'\bid="([^"]+)"', page.text)
        assert len(ids) == len(set(ids)), (path, sorted({i for i in ids if ids.count(i) > 1}))
