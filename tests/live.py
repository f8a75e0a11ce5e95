"""A real server process for tests that need one (fuzzing, several processes, signals)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class LiveServer:
    base_url: str
    client_id: str
    access_token: str
    merchants: dict[str, str]
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.access_token}",
            "X-ClientId": self.client_id,
            "Accept-Version": "v4.0",
        }

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def server_env(db_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "THANX_DATABASE_URL": db_url,
        "THANX_DATA_DIR": str(data_dir),
        "THANX_RATE_LIMIT_ENABLED": "false",
        "THANX_LOG_FORMAT": "json",
        **extra,
    }


@contextmanager
def live_server(db_url: str, data_dir: Path, **extra_env: str) -> Iterator[LiveServer]:
    """Load the demo data into ``db_url``, start ``thanx-server serve`` on a free port, and stop it
    (SIGTERM, then SIGKILL) when the block ends, whatever happens inside."""
    env = server_env(db_url, data_dir, **extra_env)
    demo = subprocess.run(
        [sys.executable, "-m", "thanx_server", "demo", "--json"],
        env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    creds = json.loads(demo.stdout)
    port = free_port()
    log_path = data_dir / f"server-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "thanx_server", "serve", "--no-migrate", "--port", str(port)],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    server = LiveServer(
        base_url=f"http://127.0.0.1:{port}",
        client_id=creds["client_id"],
        access_token=creds["access_token"],
        merchants=creds["merchants"],
        process=process,
        log_path=log_path,
    )
    try:
        _wait_until_up(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_up(server: LiveServer, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{server.log()}")
        try:
            if httpx.get(f"{server.base_url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server did not come up in {timeout}s:\n{server.log()}")
