"""The import layers `make check` enforces (import-linter, pyproject.toml) cover every package."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "thanx_server"


def test_every_top_level_module_is_in_a_layer() -> None:
    """A package left out of the layers contract would be unconstrained: adding one means
    deciding where it sits."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (contract,) = config["tool"]["importlinter"]["contracts"]
    layered = {
        name.strip().removeprefix("thanx_server.")
        for layer in contract["layers"]
        for name in re.split(r"[:|]", layer)
    }
    modules = {
        path.stem if path.is_file() else path.name
        for path in PACKAGE.iterdir()
        if (path.is_dir() and (path / "__init__.py").exists())
        or (path.suffix == ".py" and path.name != "__init__.py")
    }
    assert modules - layered == set(), "add these to [tool.importlinter] layers"
    assert layered - modules == set(), "these layers name no module"
