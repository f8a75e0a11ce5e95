"""The pytest plugin (issue 13, item 6), as a partner uses it: a test file of theirs, run by
pytest in its own process, gets a started sandbox (`serve --fixtures`), reset before each
test, with credentials and the clock."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PARTNER_SUITE = """
import httpx

def test_one(thanx_sandbox):
    assert thanx_sandbox.partner is not None
    headers = thanx_sandbox.partner.headers()
    merchants = httpx.get(thanx_sandbox.url + "/partner/merchants", headers=headers)
    assert [m["id"] for m in merchants.json()["merchants"]] == [thanx_sandbox.merchant_id]
    made = httpx.post(
        thanx_sandbox.url + "/partner/subscribers",
        json={"merchant_id": thanx_sandbox.merchant_id, "subscriber": {"email": "a@example.com"}},
        headers=headers,
    )
    assert made.status_code == 201, made.text
    before = thanx_sandbox.freeze()
    after = thanx_sandbox.advance("1d")
    assert after["now"] > before["now"]
    thanx_sandbox.fault("getMerchants", status=429, times=1, retry_after=3)
    limited = httpx.get(thanx_sandbox.url + "/partner/merchants", headers=headers)
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "3"
    assert limited.json()["error"]["code"] == "RATE_LIMITED"

def test_two_starts_from_the_baseline(thanx_sandbox):
    clock = thanx_sandbox.control("GET", "/sandbox/clock")["clock"]
    assert clock["frozen"] is False and abs(clock["offset_seconds"]) < 5
    assert thanx_sandbox.control("GET", "/sandbox/faults")["faults"] == []
    snapshot = thanx_sandbox.control("GET", "/sandbox/snapshot")
    assert snapshot["tables"]["subscribers"] == []
"""


@pytest.mark.live
def test_a_partners_suite_runs_against_a_started_sandbox(tmp_path: Path) -> None:
    suite = tmp_path / "test_partner.py"
    suite.write_text(textwrap.dedent(PARTNER_SUITE), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(suite)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "2 passed" in result.stdout
