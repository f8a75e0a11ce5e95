"""What the CLI loads: its commands start fast because they import only what they run.

Each check runs the commands in a fresh interpreter (a subprocess: this test process has long
imported everything) and then reads ``sys.modules``. A command that pulls in the web layer (a
service importing a FastAPI dependency, an error class living beside its HTTP handler) or Alembic
on a database already at head fails here, not in a partner's slow fixture script.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# Each check starts a fresh interpreter: the live tier.
pytestmark = pytest.mark.live

WEB = ("fastapi", "starlette", "uvicorn")

# Runs each command of argv (one per line, words separated by spaces) through the Typer app in
# this one process, then prints the top-level packages it loaded.
_PROBE = """
import sys
from thanx_server.cli.main import app
for line in sys.argv[1:]:
    try:
        app(line.split())
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise SystemExit(f"{line!r} exited with {exc.code}") from None
print("\\n" + __import__("json").dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def loaded_by(db_url: str, data_dir: Path, *commands: str) -> set[str]:
    env = {**os.environ, "THANX_DATABASE_URL": db_url, "THANX_DATA_DIR": str(data_dir)}
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, *commands],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.rsplit("\n", 2)[-2]))


def test_admin_demo_and_db_commands_never_load_the_web_layer(
    fresh_db_url: str, tmp_path: Path
) -> None:
    loaded = loaded_by(
        fresh_db_url,
        tmp_path,
        "db upgrade",
        "demo --json",
        "admin merchant list --json",
        "admin location list --json",
        "admin user list --json",
        "admin partner list --json",
        "admin template list --json",
        "admin feedback list --json",
        "admin merchant create --name Probe --handle probe --json",
    )
    assert "thanx_server" in loaded  # the probe did run our commands
    assert loaded.isdisjoint(WEB), sorted(loaded & set(WEB))


def test_an_admin_command_on_a_current_database_loads_no_alembic(
    fresh_db_url: str, tmp_path: Path
) -> None:
    loaded = loaded_by(fresh_db_url, tmp_path, "admin partner list --json")
    assert "sqlalchemy" in loaded
    assert "alembic" not in loaded
    assert loaded.isdisjoint(WEB), sorted(loaded & set(WEB))


def test_upgrading_a_database_already_at_head_loads_no_alembic(
    fresh_db_url: str, tmp_path: Path
) -> None:
    """``serve`` (and ``db upgrade``) check the schema on every start: one query when current."""
    loaded_by(fresh_db_url, tmp_path, "db upgrade")  # to head, in a process of its own
    loaded = loaded_by(fresh_db_url, tmp_path, "db upgrade")
    assert "sqlalchemy" in loaded
    assert "alembic" not in loaded


def test_the_app_loads_no_console_templating_phone_parsing_or_postgresql_until_used() -> None:
    """What ``serve`` imports before it answers: the console's Jinja2, the phone parser and
    SQLAlchemy's PostgreSQL dialect come with the first page, the first phone that needs
    parsing and a PostgreSQL database, not with every start."""
    probe = (
        "import sys, json; from thanx_server.app import create_app; create_app(); "
        "print(json.dumps(sorted(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    modules = set(json.loads(result.stdout.strip().splitlines()[-1]))
    assert "fastapi" in modules  # the probe did build the app
    deferred = {"jinja2", "phonenumbers", "sqlalchemy.dialects.postgresql"}
    assert modules.isdisjoint(deferred), sorted(modules & deferred)
