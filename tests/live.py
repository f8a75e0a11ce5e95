"""Real server processes for tests that need them (fuzzing, several processes, signals)."""

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
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class ApiProcess:
    """One ``thanx-server serve`` process on a loopback port; its output goes to ``log_path``."""

    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not stopped within 20 s."""
        if self.process.poll() is None:
            self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def spawn_api(workdir: Path, env: dict[str, str], *args: str) -> ApiProcess:
    """Fork one API process (returns at once; see ``wait_until_up``)."""
    port = free_port()
    log_path = workdir / f"api-{port}.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "thanx_server", "serve", "--no-migrate",
             "--host", "127.0.0.1", "--port", str(port), *args],
            env={**os.environ, "THANX_DATA_DIR": str(workdir), **env},
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    return ApiProcess(f"http://127.0.0.1:{port}", process, log_path)


def wait_until_up(api: ApiProcess, within: float = 30.0) -> None:
    """Block until ``/healthz`` answers 200; raise with the process output otherwise."""
    deadline = time.monotonic() + within
    with httpx.Client(trust_env=False, timeout=2) as client:
        while time.monotonic() < deadline:
            if api.process.poll() is not None:
                raise RuntimeError(
                    f"API process exited with {api.process.returncode}:\n{api.output()}"
                )
            try:
                if client.get(f"{api.url}/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    raise RuntimeError(f"API process did not come up within {within} s:\n{api.output()}")


@dataclass(frozen=True)
class LiveServer:
    """A started server with the demo data and the demo partner's credentials."""

    api: ApiProcess
    client_id: str
    access_token: str
    merchants: dict[str, str]

    @property
    def base_url(self) -> str:
        return self.api.url

    @property
    def process(self) -> subprocess.Popen[bytes]:
        return self.api.process

    @property
    def headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.access_token}",
            "X-ClientId": self.client_id,
            "Accept-Version": "v4.0",
        }

    def log(self) -> str:
        return self.api.output()


@contextmanager
def live_server(db_url: str, data_dir: Path, **extra_env: str) -> Iterator[LiveServer]:
    """Load the demo data into ``db_url``, start ``thanx-server serve`` on a free port, and stop it
    when the block ends, whatever happens inside."""
    env = {
        "THANX_DATABASE_URL": db_url,
        "THANX_DATA_DIR": str(data_dir),
        "THANX_RATE_LIMIT_ENABLED": "false",
        "THANX_LOG_FORMAT": "json",
        **extra_env,
    }
    demo = subprocess.run(
        [sys.executable, "-m", "thanx_server", "demo", "--json"],
        env={**os.environ, **env}, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    creds = json.loads(demo.stdout)
    api = spawn_api(data_dir, env)
    try:
        wait_until_up(api)
        yield LiveServer(api, creds["client_id"], creds["access_token"], creds["merchants"])
    finally:
        api.stop()
