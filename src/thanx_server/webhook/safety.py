"""Which URLs a webhook endpoint may have.

Sandbox: ``http`` or ``https``, any host (``http://localhost`` is the point of a sandbox).
Production: ``https`` only, and the host must not be (or resolve to) a loopback, private,
link-local, unspecified, multicast or reserved address, unless the operator allows it
(``THANX_WEBHOOK_ALLOW_PRIVATE_ADDRESSES``). Resolution runs in the event loop's resolver
thread (``getaddrinfo``), never blocking the loop.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from thanx_server.kit.errors import ValidationFailed

MAX_URL_LENGTH = 2000


def _forbidden(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_unspecified
        or address.is_multicast
        or address.is_reserved
    )


def parse_url(url: str, *, production: bool) -> tuple[str, str]:
    """Syntax rules; returns (scheme, host)."""
    field = "webhook_endpoint.url"
    if len(url) > MAX_URL_LENGTH:
        raise ValidationFailed(f"{field}: is longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a bad port
    except ValueError as exc:
        raise ValidationFailed(f"{field}: is not a valid URL ({exc})") from None
    del port
    if parts.scheme not in ("http", "https"):
        raise ValidationFailed(f"{field}: must be an http or https URL")
    if production and parts.scheme != "https":
        raise ValidationFailed(f"{field}: must be an https URL in production")
    if not parts.hostname:
        raise ValidationFailed(f"{field}: has no host")
    if parts.username or parts.password:
        raise ValidationFailed(f"{field}: must not carry credentials")
    if parts.fragment:
        raise ValidationFailed(f"{field}: must not have a fragment")
    return parts.scheme, parts.hostname


async def check_url(url: str, *, production: bool, allow_private: bool) -> None:
    _, host = parse_url(url, production=production)
    if not production or allow_private:
        return
    field = "webhook_endpoint.url"
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        if host.lower() == "localhost" or host.lower().endswith(".localhost"):
            raise ValidationFailed(f"{field}: may not point at a loopback address") from None
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, None, type=socket.SOCK_STREAM
            )
        except OSError:
            raise ValidationFailed(f"{field}: host '{host}' does not resolve") from None
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    for address in addresses:
        if _forbidden(address):
            raise ValidationFailed(
                f"{field}: may not point at a private, loopback or link-local address ({address})"
            )
