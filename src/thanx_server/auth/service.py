"""Rules for authenticating partner credentials."""

from __future__ import annotations

import asyncio
import hmac
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from thanx_server.auth import repository
from thanx_server.kit.errors import AuthenticationFailed, BadRequest, Forbidden, ValidationFailed
from thanx_server.kit.ids import hash_secret
from thanx_server.kit.scoping import MerchantScope
from thanx_server.kit.time import utcnow
from thanx_server.kit.ttlcache import TtlCache

SUPPORTED_VERSION = "v4.0"
# Compared against when the client id is unknown, so both paths cost one digest comparison.
_DUMMY_DIGEST = hash_secret("thanx-server-unknown-client")


@dataclass(frozen=True, slots=True)
class PartnerPrincipal:
    """An authenticated partner credential and what it may touch."""

    credential_id: str
    partner_id: str
    client_id: str
    scopes: frozenset[str]
    merchant_ids: tuple[str, ...]

    def merchants(self, merchant_id: str | None = None) -> MerchantScope:
        """The scope of one call (CONTRACT row 3): the merchant named, or all of the credential's.

        A merchant outside the credential is a 403, whether or not it exists.
        """
        if merchant_id is None:
            return MerchantScope(self.merchant_ids)
        if merchant_id not in self.merchant_ids:
            raise Forbidden(f"merchant_id: no access to merchant '{merchant_id}'")
        return MerchantScope((merchant_id,))

    def merchant(self, merchant_id: str) -> str:
        """A single merchant the call acts on; 403 when it is not the credential's."""
        self.merchants(merchant_id)
        return merchant_id


@dataclass(frozen=True, slots=True)
class ControlPrincipal:
    """Who steers a sandbox control (``/sandbox/...``, issue 13).

    An operator credential steers everything; a partner credential holding the ``sandbox``
    scope steers only its own merchants and its own requests (``merchant_ids``).
    """

    kind: str  # "operator" or "partner"
    credential_id: str
    client_id: str
    merchant_ids: tuple[str, ...] = ()

    @property
    def is_operator(self) -> bool:
        return self.kind == OPERATOR

    def merchants(self, merchant_id: str | None = None) -> MerchantScope:
        """The merchants one control call acts on: for an operator, the merchant named or every
        merchant; for a partner, as on the Partner API (403 outside the credential)."""
        if self.is_operator:
            return MerchantScope.operator(merchant_id)
        if merchant_id is None:
            return MerchantScope(self.merchant_ids)
        if merchant_id not in self.merchant_ids:
            raise Forbidden(f"merchant_id: no access to merchant '{merchant_id}'")
        return MerchantScope((merchant_id,))

    def require_operator(self, what: str) -> None:
        """Instance-wide controls (the clock, resetting everything, snapshots) are an
        operator's."""
        if not self.is_operator:
            raise Forbidden(f"{what} needs an operator credential")


OPERATOR = "operator"
PARTNER = "partner"


def merchant_id_of_call(*, query: str | None, body: str | None) -> str | None:
    """The one rule for a ``merchant_id`` that may travel in the query and in the JSON body
    (older docs put it in one, newer in the other): either will do; both must agree, else 400
    naming both values."""
    if query is not None and body is not None and query != body:
        raise ValidationFailed(
            f"merchant_id: the query names '{query}' and the body names '{body}'; "
            "send one, or the same in both"
        )
    return query if query is not None else body


def check_version(accept_version: str | None) -> None:
    if accept_version is not None and accept_version.strip() != SUPPORTED_VERSION:
        raise BadRequest(
            f"Accept-Version '{accept_version}' is not supported; the supported version is "
            f"{SUPPORTED_VERSION}"
        )


class CredentialCache(TtlCache[tuple[str, str], PartnerPrincipal]):
    """Authenticated principals, remembered for ``ttl`` seconds (``THANX_AUTH_CACHE_SECONDS``).

    Keyed by client id and token digest, so only a correct token ever hits. The bound is the
    price: a revoked credential, or a change to its scopes or merchants, takes effect within
    ``ttl`` seconds in every process. ``ttl`` 0 turns the cache off.
    """


async def authenticate_partner(
    session: AsyncSession,
    *,
    client_id: str | None,
    token: str | None,
    required_scopes: frozenset[str],
    cache: CredentialCache | None = None,
) -> PartnerPrincipal:
    """Resolve a credential from its client id and bearer token and check the endpoint's scopes.

    Any of ``required_scopes`` suffices (CONTRACT row 5); an empty set means none is needed.
    """
    if not client_id or not token:
        raise AuthenticationFailed()
    digest = hash_secret(token)
    key = (client_id, digest)
    principal = cache.get(key) if cache is not None else None
    if principal is None:
        record = await repository.find_credential(session, client_id)
        valid = hmac.compare_digest(digest, record.token_hash if record else _DUMMY_DIGEST)
        if record is None or not valid or record.revoked:
            raise AuthenticationFailed()
        principal = PartnerPrincipal(
            credential_id=record.id,
            partner_id=record.partner_id,
            client_id=record.client_id,
            scopes=record.scopes,
            merchant_ids=record.merchant_ids,
        )
        if cache is not None:
            cache.put(key, principal)
    if required_scopes and not (required_scopes & principal.scopes):
        needed = " or ".join(sorted(required_scopes))
        raise Forbidden(f"This credential lacks the scope {needed}.")
    return principal


class CredentialUsage:
    """Remembers when each credential was last used and writes it out in batches.

    Writing ``last_used_at`` on every request would turn every read into a write; instead the
    newest use per credential is kept in memory and flushed every ``interval`` seconds (and at
    shutdown), so the column is at most one interval stale.
    """

    def __init__(self, interval: float = 30.0) -> None:
        self.interval = interval
        self._pending: dict[str, datetime] = {}

    def mark(self, credential_id: str) -> None:
        self._pending[credential_id] = utcnow()

    async def flush(self, sessions: async_sessionmaker[AsyncSession]) -> int:
        pending, self._pending = self._pending, {}
        if not pending:
            return 0
        async with sessions() as session, session.begin():
            for credential_id, when in pending.items():
                await repository.touch_credential(session, credential_id, when)
        return len(pending)

    async def run(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.flush(sessions)
            except Exception as exc:  # the database may be down; try again next round
                # Imported here: the CLI imports this module (for PartnerPrincipal) and never
                # logs, and structlog (with rich, which it loads) costs it ~10% of its start-up.
                import structlog

                structlog.get_logger("thanx.auth").warning(
                    "auth.usage_flush_failed", error=type(exc).__name__
                )
