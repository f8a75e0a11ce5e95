"""The ``thanx-server`` command in tests: in-process through Typer's runner, or as the installed
executable (``tests/test_cli_process.py`` only).

Why the runner goes through a worker thread is in the ``tests/conftest.py`` docstring.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from thanx_server.cli.main import app


@dataclass(frozen=True)
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


@dataclass(frozen=True)
class Cli:
    """``await cli("admin", "merchant", "list", "--json")`` runs the command in this process
    against ``db_url`` and returns its exit code and output.

    ``ok=True`` (the default) asserts exit code 0. An exception the command does not turn into a
    clean exit (``clean_errors``) propagates into the test: a crash is never mistaken for the
    one-line ``error:`` exit a test may be asking for.
    """

    db_url: str
    data_dir: Path

    def environment(self, extra: Mapping[str, str | None] | None = None) -> dict[str, str | None]:
        return {"THANX_DATABASE_URL": self.db_url, "THANX_DATA_DIR": str(self.data_dir)} | dict(
            extra or {}
        )

    async def __call__(
        self, *args: str, ok: bool = True, env: Mapping[str, str | None] | None = None
    ) -> CliResult:
        result = await asyncio.to_thread(self._invoke, list(args), self.environment(env))
        if ok:
            assert result.exit_code == 0, result.stderr or result.stdout
        return result

    async def json(self, *args: str, env: Mapping[str, str | None] | None = None) -> Any:
        return (await self(*args, "--json", env=env)).json()

    @staticmethod
    def _invoke(args: list[str], env: dict[str, str | None]) -> CliResult:
        result = CliRunner().invoke(app, args, env=env, catch_exceptions=False)
        return CliResult(result.exit_code, result.stdout, result.stderr)


def installed_command() -> str:
    """The ``thanx-server`` executable pip installed next to this interpreter."""
    beside = Path(sys.executable).with_name("thanx-server")
    found = str(beside) if beside.exists() else shutil.which("thanx-server")
    assert found, "thanx-server is not installed (make .venv/.installed)"
    return found


def run_installed(
    db_url: str, data_dir: Path, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the installed ``thanx-server`` as a real process (its exit code is not checked)."""
    env = {**os.environ, "THANX_DATABASE_URL": db_url, "THANX_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [installed_command(), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
