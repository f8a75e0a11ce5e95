"""Checks on a raw JSON body that no schema can express, run once by the request guard.

* **Nesting depth**: at most ``MAX_DEPTH`` arrays/objects inside each other. No request of this
  API nests deeper than 4; a parser following a hostile body thousands of levels down hits
  Python's recursion limit (a 500 on the routes whose schema walks arbitrary JSON). The depth is
  counted on the raw bytes, at C speed but for the final count: escapes and string contents are
  dropped, then only brackets are counted. A body with at most ``MAX_DEPTH`` opening brackets in
  total cannot be too deep, so almost every request costs two ``bytes.count`` calls; a
  10,000-identifier issue request (600 KB, 10,001 objects) costs about 2-3 ms, and a hostile
  2 MB of brackets stops counting at the 33rd level.
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

# Every byte but brackets and quotes, for bytes.translate (C speed; a regex substitution with
# one match per run measured 20 ms per 600 KB).
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}"')
# The regexes below start with a literal character, so the engine skips straight to candidates
# (a leading look-behind or optional group made it try every byte: ~40 ms per 600 KB).
# A run of backslashes then ``u0000`` / a surrogate: an escape when the run is odd (an even run
# is escaped backslashes followed by ordinary letters).
_NUL_RUN = re.compile(rb"\\++u0000")
_SURROGATE_RUN = re.compile(rb"\\++u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _escaped(pattern: re.Pattern[bytes], body: bytes) -> bool:
    """Whether ``pattern`` (a backslash run + what follows) matches with an odd run somewhere;
    each match starts at the first backslash of its run, so it holds the whole run."""
    for match in pattern.finditer(body):
        found = match.group()
        if (len(found) - len(found.lstrip(b"\\"))) % 2 == 1:
            return True
    return False


def body_problem(body: bytes) -> str | None:
    """What is wrong with ``body`` (``"<field>: <why>"``), or None. Malformed JSON is not this
    function's business: it returns None and the app's parser reports it (a NUL escape in a
    malformed body is still refused, naming ``body``)."""
    if _too_deep(body):
        return f"body: JSON nested deeper than {MAX_DEPTH} levels"
    if b"\\" not in body or b"\\u" not in body:  # one memchr settles almost every body
        return None
    nul = _escaped(_NUL_RUN, body)
    if not nul and not _escaped(_SURROGATE_RUN, body):
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
    if b"\\" in body:
        # Escaped backslashes first (left to right, pairwise), then escaped quotes: what is
        # left of a string cannot end it early. Other escapes contain no bracket or quote.
        body = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    # Only brackets and quotes. Quotes alternate open/close, so dropping two adjacent ones keeps
    # every other character on its side; what is between remaining quotes is string content.
    structure = body.translate(None, _NOT_STRUCTURE).replace(b'""', b"")
    if b'"' in structure:
        structure = b"".join(structure.split(b'"')[::2])
    depth = 0
    for char in structure:
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
