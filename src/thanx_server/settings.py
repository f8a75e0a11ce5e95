"""One settings object for the whole process, read from ``THANX_*`` environment variables."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Environment(StrEnum):
    SANDBOX = "sandbox"
    PRODUCTION = "production"


class LogFormat(StrEnum):
    CONSOLE = "console"
    JSON = "json"


class Settings(BaseSettings):
    """Every knob the server has. Defaults give the embedded sandbox."""

    model_config = SettingsConfigDict(env_prefix="THANX_", extra="ignore")

    environment: Environment = Environment.SANDBOX
    data_dir: Path = Path("data")
    # Empty means "SQLite file inside data_dir" (see ``effective_database_url``).
    database_url: str = ""
    db_pool_size: int = Field(default=10, ge=1, le=200)
    db_echo: bool = False

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)

    log_format: LogFormat = LogFormat.CONSOLE
    log_level: str = "INFO"

    # End-user tokens minted by POST /partner/oauth/token when the caller omits expires_in.
    # None means non-expiring, as the current Thanx docs say.
    token_default_ttl: timedelta | None = None

    # Rate limits per partner credential (CONTRACT row 17). Enforcement lands with its own issue.
    rate_limit_enabled: bool = True
    rate_limit_per_second: int = Field(default=5, ge=1)
    rate_limit_per_15_minutes: int = Field(default=2000, ge=1)
    rate_limit_storage: str = "memory://"

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

    # Path to the seed OpenAPI contract, used by the conformance tests.
    seed_spec_path: Path = Path("../shared/reference/partner-api.seed.openapi.yml")

    @field_validator("log_level")
    @classmethod
    def _upper_level(cls, value: str) -> str:
        return value.upper()

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
