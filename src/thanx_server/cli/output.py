"""How CLI commands speak: a line per record, or JSON with ``--json``; errors are one line."""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NoReturn

import typer

from thanx_server.kit.errors import AppError


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(type(value).__name__)


def emit(data: Any, *, as_json: bool, human: Callable[[Any], str]) -> None:
    if as_json:
        typer.echo(json.dumps(data, default=_default, indent=2))
    else:
        typer.echo(human(data))


def fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=1)


@contextmanager
def clean_errors() -> Iterator[None]:
    """Turn any failure into one line on stderr and exit code 1 (never a traceback)."""
    try:
        yield
    except (typer.Exit, typer.Abort):
        raise
    except AppError as exc:
        fail(exc.message)
    except Exception as exc:
        if "--debug" in sys.argv:
            raise
        detail = str(exc).splitlines()[0] if str(exc) else ""
        fail(f"{type(exc).__name__}: {detail}"[:500])
