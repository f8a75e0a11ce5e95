"""Which URLs a webhook endpoint may have.

Sandbox: ``http`` or ``https``, any host (``http://localhost`` is the point of a sandbox).
Production: ``https`` only, and the host must not be (or resolve to) a loopback, private,
link-local, unspecified, multicast or reserved address, unless the operator allows it
(``THANX_WEBHOOK_ALLOW_PRIVATE_ADDRESSES``). Resolution runs in the event loop's resolver
thread (``getaddrinfo``), never blocking the loop.

The same rule is applied again when a delivery opens a connection (``ConnectGuard``): a name
that resolved to a public address when the endpoint was registered and to a private one later
(DNS rebinding) is refused, and the connection goes to the address that was checked, never to
a second resolution of the name.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from thanx_server.kit.errors import ValidationFailed
from thanx_server.webhook.http1 import HttpError

# host, port -> the addresses the name resolves to (tests pass one they control).
Resolver = Callable[[str, int], Awaitable[list[str]]]

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


async def system_resolve(host: str, port: int) -> list[str]:
    """``getaddrinfo`` in the loop's resolver thread; the addresses, scope ids stripped."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]).split("%")[0] for info in infos]


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


async def check_url(
    url: str, *, production: bool, allow_private: bool, resolve: Resolver = system_resolve
) -> None:
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
            addresses = [ipaddress.ip_address(a) for a in await resolve(host, 0)]
        except (OSError, ValueError):
            raise ValidationFailed(f"{field}: host '{host}' does not resolve") from None
    for address in addresses:
        if _forbidden(address):
            raise ValidationFailed(
                f"{field}: may not point at a private, loopback or link-local address ({address})"
            )


@dataclass(frozen=True, slots=True)
class ConnectGuard:
    """Production deliveries: where a new connection may go, decided when it is opened (the
    sender's ``http1.Pool(addresses=...)`` hook). Only the name's allowed addresses are
    returned, and the connection is made to one of them; none allowed refuses the attempt."""

    resolve: Resolver = system_resolve

    async def addresses(self, host: str, port: int) -> list[str]:
        try:
            found = [ipaddress.ip_address(host)]
        except ValueError:
            try:
                found = [ipaddress.ip_address(a) for a in await self.resolve(host, port)]
            except (OSError, ValueError) as exc:
                raise HttpError(f"connect: '{host}' does not resolve ({exc})") from None
        allowed = [str(a) for a in found if not _forbidden(a)]
        if not allowed:
            shown = ", ".join(str(a) for a in found) or "nothing"
            raise HttpError(
                f"refused: '{host}' resolves to a private, loopback or link-local address "
                f"({shown}); THANX_WEBHOOK_ALLOW_PRIVATE_ADDRESSES allows it"
            )
        return allowed
