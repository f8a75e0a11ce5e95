"""``Sandbox``: a sandbox's URL, credentials and controls (reset, clock, faults) over HTTP."""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import yaml

OPERATOR_CLIENT_ID = "pytest-operator"
PARTNER_CLIENT_ID = "pytest-partner"
DEFAULT_MERCHANT_ID = "pytest-merchant"


@dataclass(frozen=True)
class Credentials:
    client_id: str
    access_token: str

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}", "X-ClientId": self.client_id}


@dataclass
class Sandbox:
    """A running sandbox: ``url``, the ``operator`` that steers it, the fixtures' first
    ``partner`` credential, and the controls a test calls."""

    url: str
    operator: Credentials
    partner: Credentials | None = None
    merchant_id: str | None = None
    http: httpx.Client = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.http = httpx.Client(base_url=self.url, timeout=60)

    def close(self) -> None:
        self.http.close()

    def control(self, method: str, path: str, json: Any = None) -> Any:
        response = self.http.request(method, path, json=json, headers=self.operator.headers())
        if response.status_code >= 400:
            raise AssertionError(f"{method} {path}: {response.status_code} {response.text}")
        return response.json() if response.content else None

    # --- reset -------------------------------------------------------------------------------
    def reset(self, merchant_id: str | None = None, *, credentials: bool = False) -> Any:
        body: dict[str, Any] = {"credentials": credentials}
        if merchant_id is not None:
            body["merchant_id"] = merchant_id
        return self.control("POST", "/sandbox/reset", body)["reset"]

    # --- the clock ---------------------------------------------------------------------------
    def now(self) -> datetime:
        clock = self.control("GET", "/sandbox/clock")["clock"]
        return datetime.fromisoformat(clock["now"].replace("Z", "+00:00"))

    def freeze(self) -> Any:
        return self.control("POST", "/sandbox/clock/freeze", {})["clock"]

    def advance(self, by: str | int | float) -> Any:
        """Move the clock forward (``"1d"``, ``"90m"``, ``"PT1H"``, seconds); returns once
        everything that fell due has run."""
        return self.control("POST", "/sandbox/clock/advance", {"by": by})["clock"]

    def set_time(self, to: datetime | str, *, allow_backwards: bool = False) -> Any:
        value = to.isoformat() if isinstance(to, datetime) else to
        body = {"to": value, "allow_backwards": allow_backwards}
        return self.control("POST", "/sandbox/clock/set", body)["clock"]

    def resume(self, *, real: bool = False, allow_backwards: bool = False) -> Any:
        body = {"real": real, "allow_backwards": allow_backwards}
        return self.control("POST", "/sandbox/clock/resume", body)["clock"]

    # --- faults ------------------------------------------------------------------------------
    def fault(self, operation_id: str, **rule: Any) -> Any:
        return self.control("POST", "/sandbox/faults", {"operation_id": operation_id, **rule})[
            "fault"
        ]

    def clear_faults(self) -> Any:
        return self.control("DELETE", "/sandbox/faults")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _token() -> str:
    return secrets.token_hex(24)


def default_fixtures() -> dict[str, Any]:
    """What a started sandbox holds when the suite names no fixtures file."""
    return {
        "version": 1,
        "merchants": [
            {"id": DEFAULT_MERCHANT_ID, "name": "Pytest Merchant", "handle": "pytest-merchant"}
        ],
        "partners": [
            {
                "name": "pytest",
                "client_id": PARTNER_CLIENT_ID,
                "access_token": _token(),
                "merchants": [DEFAULT_MERCHANT_ID],
            }
        ],
    }


@dataclass
class StartedSandbox:
    """A ``thanx-server serve`` on a temporary SQLite database, stopped by ``stop()``."""

    sandbox: Sandbox
    process: subprocess.Popen[bytes]
    workdir: tempfile.TemporaryDirectory[str]
    log: Any = None

    def stop(self) -> None:
        self.sandbox.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self.log is not None:
            self.log.close()
        self.workdir.cleanup()


def start(fixtures_file: str | None = None, *, startup_timeout: float = 60) -> StartedSandbox:
    """Start a sandbox on a temporary database, loaded with ``fixtures_file`` (or a default
    merchant and partner) plus an operator credential the plugin makes for itself."""
    workdir = tempfile.TemporaryDirectory(prefix="thanx-sandbox-")
    document: dict[str, Any] = (
        yaml.safe_load(Path(fixtures_file).read_text(encoding="utf-8"))
        if fixtures_file
        else default_fixtures()
    )
    operator = Credentials(OPERATOR_CLIENT_ID, _token())
    document.setdefault("operators", []).append(
        {
            "name": "pytest plugin",
            "client_id": operator.client_id,
            "access_token": operator.access_token,
        }
    )
    path = Path(workdir.name) / "fixtures.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    port = _free_port()
    env = {
        **os.environ,
        "THANX_ENVIRONMENT": "sandbox",
        "THANX_DATA_DIR": str(Path(workdir.name) / "data"),
        "THANX_HOST": "127.0.0.1",
        "THANX_PORT": str(port),
        "THANX_WORKERS": "1",
    }
    env.pop("THANX_DATABASE_URL", None)
    log = open(Path(workdir.name) / "server.log", "wb")  # noqa: SIM115 (lives with the process)
    process = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
        [sys.executable, "-m", "thanx_server", "serve", "--fixtures", str(path)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + startup_timeout
    while True:
        if process.poll() is not None:
            log.close()
            output = (Path(workdir.name) / "server.log").read_text(errors="replace")[-2000:]
            workdir.cleanup()
            raise RuntimeError(f"the sandbox did not start:\n{output}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        if time.monotonic() > deadline:
            process.kill()
            workdir.cleanup()
            raise RuntimeError("the sandbox did not answer /healthz in time")
        time.sleep(0.1)
    partner = None
    merchant_id = None
    if document.get("partners"):
        first = document["partners"][0]
        partner = Credentials(first["client_id"], first["access_token"])
        merchants = first.get("merchants") or []
        merchant_id = _merchant_id(document, merchants[0]) if merchants else None
    sandbox = Sandbox(url=url, operator=operator, partner=partner, merchant_id=merchant_id)
    return StartedSandbox(sandbox=sandbox, process=process, workdir=workdir, log=log)


def _merchant_id(document: dict[str, Any], ref: str) -> str:
    for merchant in document.get("merchants", []):
        if ref in (merchant.get("id"), merchant.get("handle")):
            return str(merchant.get("id") or ref)
    return ref


def connect(url: str, operator: str) -> Sandbox:
    """A sandbox already running at ``url``; ``operator`` is ``client_id:access_token``."""
    client_id, _, token = operator.partition(":")
    if not client_id or not token:
        raise ValueError("the operator credential is client_id:access_token")
    return Sandbox(url=url.rstrip("/"), operator=Credentials(client_id, token))
