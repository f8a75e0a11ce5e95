"""One settings object for the whole process, read from ``THANX_*`` environment variables."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Environment(StrEnum):
    SANDBOX = "sandbox"
    PRODUCTION = "production"


class LogFormat(StrEnum):
    CONSOLE = "console"
    JSON = "json"


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class Settings(BaseSettings):
    """Every knob the server has. Defaults give the embedded sandbox."""

    model_config = SettingsConfigDict(env_prefix="THANX_", extra="ignore")

    environment: Environment = Environment.SANDBOX
    data_dir: Path = Path("data")
    # Empty means "SQLite file inside data_dir" (see ``effective_database_url``).
    database_url: str = ""
    db_pool_size: int = Field(default=10, ge=1, le=200)
    db_echo: bool = False
    # Bounds on waiting for PostgreSQL, in seconds (kit/db.DbTimeouts), for the API and the
    # workers: a partitioned database answers 503 within about connect/statement + checkout,
    # never hangs. 0 turns one off.
    db_connect_timeout: float = Field(default=1.5, ge=0, le=600)
    db_checkout_timeout: float = Field(default=2.0, ge=0, le=600)
    db_statement_timeout: float = Field(default=2.5, ge=0, le=3600)
    db_idle_in_transaction_timeout: float = Field(default=10.0, ge=0, le=3600)

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)

    log_format: LogFormat = LogFormat.CONSOLE
    log_level: str = "INFO"
    # One ``http.request`` line per request (~0.1 ms of CPU each); 5xx are always logged.
    access_log: bool = True
    # GET /metrics (Prometheus): with a token, a scrape must send `Authorization: Bearer <token>`;
    # without one, only a scrape from this machine (a loopback address) is answered.
    metrics_token: SecretStr | None = None

    # How long an authenticated partner credential is remembered per process (0: off). A revoked
    # credential stops working within this bound.
    auth_cache_seconds: float = Field(default=5.0, ge=0, le=300)

    # End-user tokens minted by POST /partner/oauth/token when the caller omits expires_in.
    # None means non-expiring, as the current Thanx docs say.
    token_default_ttl: timedelta | None = None

    # Rate limits per partner credential (CONTRACT row 17), both windows enforced; see
    # kit/ratelimit.py. ``memory://`` counts per process; ``redis://host:port[/db]`` (or
    # ``rediss://``) shares the counts between every process pointed at the same Redis.
    rate_limit_enabled: bool = True
    rate_limit_per_second: int = Field(default=5, ge=1)
    rate_limit_per_15_minutes: int = Field(default=2000, ge=1)
    rate_limit_storage: str = "memory://"
    # Overall time one rate-limit check may spend on Redis (connect + commands + retries); past
    # it the process counts on its own for a while and logs once (fail open, kit/ratelimit.py).
    rate_limit_redis_budget_ms: int = Field(default=50, ge=1, le=5000)
    # Prefix of every rate-limit key in Redis: lets several deployments (or test runs) share one.
    rate_limit_key_prefix: str = Field(default="thanx", min_length=1, max_length=64)

    # Console sign-in (issue 15): failed attempts allowed per client address and, separately, per
    # client id in any 15 minutes; past either, sign-in answers 429 until the oldest failure ages
    # out (counted in ``rate_limit_storage``, whether or not the API's limits are enabled).
    console_sign_in_failures_per_15_minutes: int = Field(default=10, ge=1, le=10_000)

    # Largest request body accepted (413 PAYLOAD_TOO_LARGE above it). A realistic 10,000-identifier
    # issue request is about 0.8 MB pretty-printed (tests/test_bad_input.py measures one).
    max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)

    # How long a customer may rate/review a purchase: the feedback record opened by a purchase
    # expires this long after `purchased_at` (seconds or ISO 8601 duration, e.g. P14D).
    feedback_window: timedelta = timedelta(days=14)

    # Background issuance worker inside `serve` (the embedded default).
    embedded_worker: bool = True
    # How long an idle worker sleeps before looking for a job again (seconds).
    worker_poll_interval: float = Field(default=1.0, gt=0, le=60)
    # How long a claimed job stays a worker's without a heartbeat; an expired lease is reclaimed.
    worker_lease_seconds: float = Field(default=60.0, gt=0, le=3600)
    # A job that was claimed this many times without finishing is failed (a poison job).
    worker_max_attempts: int = Field(default=5, ge=1, le=100)
    # Identifiers per chunk: each chunk is one transaction.
    issuance_chunk_size: int = Field(default=2000, ge=1, le=10_000)
    # X-Idempotency-Key records are kept this long; the contract promises at least 24 hours.
    idempotency_ttl: timedelta = Field(default=timedelta(hours=24), ge=timedelta(hours=24))

    # The sandbox's request journal (issue 13): on in a sandbox unless turned off; entries kept
    # at most this many and this long; request/response bodies cut at this many characters;
    # entries written in batches this often (and visible to controls after it).
    journal_enabled: bool = True
    journal_max_entries: int = Field(default=10_000, ge=1, le=10_000_000)
    journal_max_age: timedelta = Field(default=timedelta(hours=24), gt=timedelta(0))
    journal_body_chars: int = Field(default=4096, ge=0, le=1_000_000)
    journal_flush_seconds: float = Field(default=0.5, gt=0, le=60)
    # How long a process keeps its copy of the sandbox clock and of whether fault rules exist
    # (sandbox/state_cache.py), and so how long a control that changes them holds its answer:
    # 0 reads them on every request. Give the API processes and the CLI the same value.
    sandbox_state_cache_ms: int = Field(default=50, ge=0, le=5000)

    # Webhooks (issue 14). One attempt per delivery unless an endpoint turns retry mode on.
    webhook_timeout: float = Field(default=15.0, gt=0, le=60)
    # Deliveries claimed per delivery worker; at most this many sends at a time per endpoint.
    webhook_slots: int = Field(default=1000, ge=2, le=1000)
    webhook_slots_per_endpoint: int = Field(default=32, ge=1, le=1000)
    webhook_poll_interval: float = Field(default=0.25, gt=0, le=60)
    # How long the delivery log (and delivered events) are kept.
    webhook_log_retention: timedelta = Field(default=timedelta(days=30), gt=timedelta(0))
    # Purchases are sent this long after the purchase (Thanx: 10 minutes).
    webhook_purchase_delay: timedelta = Field(default=timedelta(minutes=10), ge=timedelta(0))
    # Production only: let endpoints point at loopback/private/link-local addresses.
    webhook_allow_private_addresses: bool = False
    # How long the previous secret keeps signing after a rotation, by default.
    webhook_secret_grace: timedelta = Field(default=timedelta(hours=24), ge=timedelta(0))

    # Path to the seed OpenAPI contract, used by the conformance tests.
    seed_spec_path: Path = Path("../shared/reference/partner-api.seed.openapi.yml")

    @field_validator("feedback_window", mode="before")
    @classmethod
    def _seconds_window(cls, value: object) -> object:
        # Environment values are strings; a bare number means seconds.
        if isinstance(value, str) and value.strip().isdigit():
            return int(value.strip())
        return value

    @field_validator("feedback_window")
    @classmethod
    def _positive_window(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be positive")
        # purchased_at + window must stay inside the calendar (kit/wire.py keeps a year spare).
        if value > timedelta(days=365):
            raise ValueError("must be at most 365 days")
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
        return level

    @field_validator("rate_limit_storage")
    @classmethod
    def _known_storage(cls, value: str) -> str:
        scheme = value.removeprefix("async+").partition("://")[0]
        if scheme not in {"memory", "redis", "rediss"}:
            raise ValueError("must be memory:// or a redis:// / rediss:// URL")
        return value

    @property
    def is_sandbox(self) -> bool:
        return self.environment is Environment.SANDBOX

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'thanx.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")
