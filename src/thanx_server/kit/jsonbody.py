"""Checks on a raw JSON body that no schema can express, run once by the request guard.

* **Nesting depth**: at most ``MAX_DEPTH`` arrays/objects inside each other. No request of this
  API nests deeper than 4; a parser following a hostile body thousands of levels down hits
  Python's recursion limit (a 500 on the routes whose schema walks arbitrary JSON). The depth is
  counted on the raw bytes: strings are cut out first (a C-speed regex), then only brackets are
  counted; a body with at most ``MAX_DEPTH`` opening brackets in total cannot be too deep, so
  almost every request costs two ``bytes.count`` calls.
* **Unicode**: JSON may spell UTF-16 surrogates as ``\\uD800``-``\\uDFFF`` escapes; one that is
  not half of a high+low pair decodes to a Python string that is not valid Unicode. It cannot
  be encoded as UTF-8 (PostgreSQL refuses it; SQLite stores it and every later read fails), so
  it is refused here, naming the field. Only a body holding such an escape (found by a regex)
  is decoded to find which field it is in.
* **NUL**: a ``\\u0000`` escape (PostgreSQL cannot store NUL in text), named by its field too.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 32

# A JSON string, possessive so a hostile body cannot make it backtrack.
_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_NOT_BRACKET = re.compile(rb"[^\[\]{}]++")
# ``\u0000`` / a surrogate escape preceded by an even number of backslashes (an odd number
# escapes the backslash itself, making the rest ordinary text).
_ESCAPED_NUL = re.compile(rb"(?<!\\)(?:\\\\)*+\\u0000")
_ESCAPED_SURROGATE = re.compile(rb"(?<!\\)(?:\\\\)*+\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def body_problem(body: bytes) -> str | None:
    """What is wrong with ``body`` (``"<field>: <why>"``), or None. Malformed JSON is not this
    function's business: it returns None and the app's parser reports it (a NUL escape in a
    malformed body is still refused, naming ``body``)."""
    if _too_deep(body):
        return f"body: JSON nested deeper than {MAX_DEPTH} levels"
    nul = _ESCAPED_NUL.search(body) is not None
    if not nul and _ESCAPED_SURROGATE.search(body) is None:
        return None
    try:
        document = json.loads(body)
    except ValueError:  # malformed (or not UTF-8): the app's parser says so
        return f"body: {_NUL}" if nul else None
    return _bad_text_at(document, "body")


_NUL = "contains a NUL character (\\u0000)"
_LONE_SURROGATE = "is not valid Unicode (a lone UTF-16 surrogate)"


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return _NUL
    return None if is_valid_text(text) else _LONE_SURROGATE


def _too_deep(body: bytes) -> bool:
    if body.count(b"[") + body.count(b"{") <= MAX_DEPTH:
        return False
    depth = 0
    for char in _NOT_BRACKET.sub(b"", _STRING.sub(b"", body)):
        if char in b"[{":
            depth += 1
            if depth > MAX_DEPTH:
                return True
        else:
            depth -= 1
    return False


def is_valid_text(text: str) -> bool:
    """False when ``text`` holds a lone surrogate (it cannot be encoded as UTF-8)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _bad_text_at(value: Any, path: str) -> str | None:
    """``"<path>: <why>"`` for the first string (value or key) that is not valid Unicode or holds
    a NUL. The depth check ran first, so the recursion is bounded by ``MAX_DEPTH``."""
    if isinstance(value, str):
        why = _text_problem(value)
        return None if why is None else f"{path}: {why}"
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _bad_text_at(item, f"{path}[{index}]")
            if found is not None:
                return found
    elif isinstance(value, dict):
        for key, item in value.items():
            why = _text_problem(key)
            shown = key.encode("utf-8", "replace").decode().replace("\x00", "?")
            child = shown if path == "body" else f"{path}.{shown}"
            if why is not None:
                return f"{child}: {why}"
            found = _bad_text_at(item, child)
            if found is not None:
                return found
    return None
