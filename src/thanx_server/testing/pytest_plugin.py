"""The ``thanx_sandbox`` pytest plugin (registered on install; ``-p no:thanx_sandbox``: off).

Fixtures:

* ``thanx_sandbox_session`` (session): the sandbox the suite uses. With ``--thanx-sandbox-url``
  (or ``THANX_SANDBOX_URL``) and ``--thanx-sandbox-operator client_id:token`` (or
  ``THANX_SANDBOX_OPERATOR``), one already running; otherwise one started on a temporary
  database for the session, loaded with ``--thanx-sandbox-fixtures FILE`` (or
  ``THANX_SANDBOX_FIXTURES``; default: one merchant and one partner credential).
* ``thanx_sandbox`` (each test): the same, reset to its baseline before the test (data, clock,
  fault rules), with ``url``, ``operator``, ``partner``, ``merchant_id`` and the controls
  (``reset``, ``now``, ``freeze``, ``advance``, ``set_time``, ``resume``, ``fault``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from thanx_server.testing.sandbox import Sandbox, connect, start


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("thanx_sandbox", "Thanx sandbox")
    group.addoption("--thanx-sandbox-url", default=os.environ.get("THANX_SANDBOX_URL"))
    group.addoption(
        "--thanx-sandbox-operator",
        default=os.environ.get("THANX_SANDBOX_OPERATOR"),
        help="client_id:access_token of an operator credential of that sandbox",
    )
    group.addoption(
        "--thanx-sandbox-fixtures",
        default=os.environ.get("THANX_SANDBOX_FIXTURES"),
        help="a fixtures file for the sandbox the plugin starts",
    )


@pytest.fixture(scope="session")
def thanx_sandbox_session(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    url = request.config.getoption("--thanx-sandbox-url")
    if url:
        operator = request.config.getoption("--thanx-sandbox-operator")
        if not operator:
            raise pytest.UsageError("--thanx-sandbox-url needs --thanx-sandbox-operator")
        sandbox = connect(url, operator)
        try:
            yield sandbox
        finally:
            sandbox.close()
        return
    started = start(request.config.getoption("--thanx-sandbox-fixtures"))
    try:
        yield started.sandbox
    finally:
        started.stop()


@pytest.fixture
def thanx_sandbox(thanx_sandbox_session: Sandbox) -> Sandbox:
    thanx_sandbox_session.reset()
    return thanx_sandbox_session
