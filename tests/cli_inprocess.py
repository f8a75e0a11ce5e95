"""The ``thanx-server`` command run in-process (Typer's runner) against a real database.

Commands run ``asyncio.run`` themselves, so the runner is called in a thread of its own.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from thanx_server.cli.main import app


async def run_cli(db_url: str, data_dir: Path, *args: str, ok: bool = True, **env: str) -> Any:
    runner = CliRunner()
    environment = {"THANX_DATABASE_URL": db_url, "THANX_DATA_DIR": str(data_dir), **env}
    result = await asyncio.to_thread(runner.invoke, app, list(args), env=environment)
    if ok:
        assert result.exit_code == 0, (result.output, result.exception)
    return result


async def run_cli_json(db_url: str, data_dir: Path, *args: str, **env: str) -> Any:
    result = await run_cli(db_url, data_dir, *args, "--json", **env)
    return json.loads(result.stdout)
