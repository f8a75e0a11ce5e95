"""What the demo steps share (``loader.py`` runs them; ``engagement.py`` is one of them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from thanx_server.models import Merchant


@dataclass
class DemoContext:
    """What the steps share, and what `make run` prints at the end."""

    data_dir: Path
    # Where the server answers: demo image URLs point at its /static/images/...
    base_url: str = "http://127.0.0.1:8000"
    merchants: dict[str, Merchant] = field(default_factory=dict)
    client_id: str = ""
    access_token: str = ""
    # The demo operator credential (steers the whole sandbox: /sandbox/..., issue 13).
    operator_client_id: str = ""
    operator_access_token: str = ""
    created: int = 0
    hints: list[tuple[str, str]] = field(default_factory=list)
