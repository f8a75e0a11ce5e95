"""Live pages without a build step (issue 15): one small script served from the package, a CSP
that allows only it, and live regions marked on the pages that change (the journal, the jobs and
an unfinished job's progress), gone once there is nothing left to watch. The script itself runs
in tests/test_console_browser.py; here, what the server sends. Both engines."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.factories import Factory, OperatorCredentialHeaders
from tests.test_console import signed_in, world_of_three
from tests.test_issuance import World, email, issue, worker
from thanx_server.issuance import tasks
from thanx_server.kit.db import Database

world = world_of_three  # the fixture, under the name the tests ask for


@pytest.fixture
async def ops(factory: Factory) -> OperatorCredentialHeaders:
    return await factory.operator()


def live_region(page: str, region_id: str) -> str | None:
    """The ``data-live`` interval of the region, None when it is not live (or absent)."""
    found = re.search(rf'<div id="{region_id}"(?: data-live="(\d+)")?', page)
    assert found is not None, page
    return found.group(1)


async def test_the_script_is_served_from_the_package_and_the_csp_allows_only_it(
    client: httpx.AsyncClient, ops: OperatorCredentialHeaders
) -> None:
    script = await client.get("/console/static/console.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert b"data-live" in script.content
    assert b"://" not in script.content  # nothing fetched from elsewhere
    page = await client.get("/console/login")
    assert '<script src="/console/static/console.js" defer></script>' in page.text
    assert "<script>" not in page.text  # no inline script anywhere
    csp = page.headers["content-security-policy"]
    assert "script-src 'self';" in csp
    assert "connect-src 'self';" in csp
    assert "unsafe-inline" not in csp


async def test_a_jobs_progress_is_live_until_it_finishes(
    client: httpx.AsyncClient, ops: OperatorCredentialHeaders, world: World, database: Database
) -> None:
    job = await issue(client, world, world.issue_body([email("member0@example.com")]))
    await signed_in(client, ops.client_id, ops.access_token)
    page = (await client.get(f"/console/jobs/{job['id']}")).text
    assert live_region(page, "job-live") == "1000"
    assert "data-live-reload" in page
    assert live_region((await client.get("/console/jobs")).text, "jobs-live") == "2000"
    # Without the script, the meta-refresh watch is offered instead.
    assert re.search(r"<noscript>.*id=\"job-watch\".*</noscript>", page, re.S)

    assert await tasks.drain(database, worker()) == 1
    page = (await client.get(f"/console/jobs/{job['id']}")).text
    assert live_region(page, "job-live") is None
    assert 'id="job-percent">100%<' in page
    assert live_region((await client.get("/console/jobs")).text, "jobs-live") is None


async def test_the_journal_is_live_and_a_request_has_a_copy_button(
    client: httpx.AsyncClient, ops: OperatorCredentialHeaders, world: World
) -> None:
    await client.get("/partner/merchants", headers=world.cred.headers())
    await signed_in(client, ops.client_id, ops.access_token)
    listing = (await client.get("/console/requests")).text
    assert live_region(listing, "journal-live") == "3000"
    entry = re.search(r'href="/console/requests/(\d+)"', listing)
    assert entry is not None, listing
    page = (await client.get(f"/console/requests/{entry.group(1)}")).text
    # Hidden until the script shows it: without JavaScript the text area is there to copy from.
    assert re.search(r'<button type="button" id="curl-copy" data-copy="curl"[^>]* hidden>', page)
    assert '<textarea id="curl" readonly' in page
