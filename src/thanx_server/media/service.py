"""Images drawn from their name: a flat colour picked from the name's digest and the name as
a label. Deterministic (the same URL always gives the same bytes) and tiny (an SVG under 1 KB)."""

from __future__ import annotations

import hashlib
import re
from html import escape

from thanx_server.kit.errors import NotFound

NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
SIZES = {"small": 300, "large": 1000}
# Warm, readable backgrounds; white text on each.
PALETTE = ("#c0392b", "#d35400", "#16a085", "#2980b9", "#8e44ad", "#2c3e50", "#27ae60", "#b7950b")


def image_path(name: str, size: str = "small") -> str:
    """The server path of a generated image (join it to the server's base URL)."""
    return f"/static/images/{name}-{size}.svg"


def render(filename: str) -> bytes:
    """The SVG behind ``/static/images/<name>-<small|large>.svg``; 404 for anything else."""
    stem, dot, extension = filename.rpartition(".")
    name, dash, size = stem.rpartition("-")
    if not dot or extension != "svg" or not dash or size not in SIZES or not NAME.match(name):
        raise NotFound("image: no such image")
    side = SIZES[size]
    colour = PALETTE[hashlib.sha256(name.encode()).digest()[0] % len(PALETTE)]
    label = escape(name.replace("-", " ").title())
    font = side // 10
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{side}" height="{side}" '
        f'viewBox="0 0 {side} {side}"><rect width="100%" height="100%" fill="{colour}"/>'
        f'<text x="50%" y="50%" fill="#fff" font-family="sans-serif" font-size="{font}" '
        f'text-anchor="middle" dominant-baseline="middle">{label}</text></svg>'
    ).encode()
