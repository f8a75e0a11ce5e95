"""structlog setup: one event per line, dotted event names, request/job ids bound per context.

One stream: the standard library's loggers (uvicorn, SQLAlchemy, asyncio, anything a library
logs) go through the same processors and renderer as our own events, so with
``THANX_LOG_FORMAT=json`` every line on stderr is one JSON object, carrying the request id when
it was written while a request was being served.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO, cast

import structlog

from thanx_server.settings import LogFormat, Settings

# Marks the handler this module installs, so configuring twice (several apps in one process, as
# tests do) replaces it instead of stacking a second one.
_HANDLER_NAME = "thanx"
_CHATTY = ("sqlalchemy", "aiosqlite", "asyncpg", "httpx", "httpcore", "hpack")


class _Stderr:
    """``sys.stderr`` as it is at each write, not as it was when logging was configured: a CLI
    command run inside another program (a test runner's ``CliRunner``) configures logging while
    ``sys.stderr`` is a stream that is closed once the command returns."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


_STDERR = _Stderr()


def configure_logging(settings: Settings) -> None:
    level = logging.getLevelNamesMapping()[settings.log_level]
    renderer: structlog.typing.Processor
    if settings.log_format is LogFormat.JSON:
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=False)
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=cast(TextIO, _STDERR)),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(_STDERR)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if h.get_name() != _HANDLER_NAME] + [handler]
    root.setLevel(level)
    # Libraries that log each statement or call at INFO/DEBUG (SQLAlchemy decides at engine
    # creation whether to log every statement, from its logger's level) stay at WARNING unless
    # asked for (THANX_DB_ECHO for SQL).
    for name in _CHATTY:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
    # Uvicorn's own access log would duplicate our http.request event.
    logging.getLogger("uvicorn.access").disabled = True
