"""The installed ``thanx-server`` executable as a real process: what only a process can show.

Every command's behaviour is tested in process (``test_cli*.py``); here, once per command family
(``db``, ``demo``, ``admin``), that the entry point pip installed starts and reaches the database,
and that a failing command exits with status 1 and one line on stderr, with no traceback.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tests.cli import run_installed

pytestmark = pytest.mark.live


async def test_the_installed_command_runs_each_command_family(
    fresh_db_url: str, tmp_path: Path
) -> None:
    upgraded = await asyncio.to_thread(run_installed, fresh_db_url, tmp_path, "db", "upgrade")
    demo = await asyncio.to_thread(run_installed, fresh_db_url, tmp_path, "demo", "--json")
    merchants = await asyncio.to_thread(
        run_installed, fresh_db_url, tmp_path, "admin", "merchant", "list", "--json"
    )

    for done in (upgraded, demo, merchants):
        assert done.returncode == 0, done.stderr
    assert upgraded.stdout.startswith("database at revision ")
    handles = {m["handle"]: m["id"] for m in json.loads(merchants.stdout)}
    assert handles == json.loads(demo.stdout)["merchants"]


async def test_a_failing_command_exits_1_with_one_line_on_stderr(
    fresh_db_url: str, tmp_path: Path
) -> None:
    args = ["admin", "merchant", "create", "--name", "X", "--handle", "x"]
    failed = await asyncio.to_thread(
        run_installed, fresh_db_url, tmp_path, *args, "--time-zone", "Mars/Olympus"
    )

    assert failed.returncode == 1
    assert failed.stdout == ""
    assert failed.stderr.startswith("error: ")
    assert "Mars/Olympus" in failed.stderr
    assert "Traceback" not in failed.stderr
    assert len(failed.stderr.strip().splitlines()) == 1
