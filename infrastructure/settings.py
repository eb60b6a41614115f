"""Settings from ``BANKING_*`` environment variables, validated once at start-up."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from application.transactions import RetryPolicy
from infrastructure.postgres.transaction import TransactionSettings


class Settings(BaseSettings):
    """Everything an operator can tune. Durations are in seconds unless the name says ms."""

    model_config = SettingsConfigDict(env_prefix="BANKING_", extra="ignore", frozen=True)

    # None means: start the private embedded server under ``data_dir``.
    database_url: str | None = None
    data_dir: Path = Path("var/pg")

    pool_size: int = Field(default=10, gt=0)
    max_overflow: int = Field(default=10, ge=0)
    pool_timeout: float = Field(default=5.0, gt=0)
    pool_pre_ping: bool = True
    # A server that silently drops packets must not hang a request or `banking serve`.
    connect_timeout: int = Field(default=5, gt=0)

    # Set per transaction (SET LOCAL) so that a stuck query or lock wait fails fast
    # instead of holding a pooled connection (and the client) hostage.
    statement_timeout_ms: int = Field(default=5000, gt=0)
    lock_timeout_ms: int = Field(default=3000, gt=0)

    retry_attempts: int = Field(default=10, gt=0)
    retry_base_delay: float = Field(default=0.002, gt=0)
    retry_max_delay: float = Field(default=0.1, gt=0)

    admin_token: SecretStr | None = None

    # How a money-moving transaction waits for others on the same accounts before its
    # snapshot (infrastructure/postgres/locking.py): "stripes" works directly and
    # behind a transaction-mode PgBouncer; "portable" is what an engine without
    # LOCK TABLE gets.
    account_locks: Literal["stripes", "portable"] = "stripes"
    # The most units of work one transaction commits together (docs/adr/005).
    max_batch: int = Field(default=256, gt=0)

    # Settings added since; kept last to ease merging other additions.

    # The key that signs pagination cursors, shared by every worker. Unset: `banking
    # serve` keeps one beside the embedded server's data directory, or makes one per
    # run on a configured database (cursors then die with a restart).
    cursor_secret: SecretStr | None = None
    # How long a process trusts an API key it has checked before asking the database
    # again: the bound on how long a revoked key keeps working on another worker.
    api_key_cache_ttl: float = Field(default=5.0, ge=0)
    # A request body must arrive in full within this time, or the request is answered
    # 408 and the connection closed: a client trickling its body holds nothing longer.
    body_read_timeout: float = Field(default=10.0, gt=0)
    # Idempotency keys are kept this many hours (the contract promises at least 24),
    # then purged in the background every `idempotency_purge_interval` seconds, at most
    # `idempotency_purge_batch` keys per transaction.
    idempotency_retention_hours: float = Field(default=24.0, ge=24)
    idempotency_purge_interval: float = Field(default=300.0, gt=0)
    idempotency_purge_batch: int = Field(default=1000, gt=0)
    # Holds expire exactly without it; the sweep only writes their release down, every
    # `hold_sweep_interval` seconds, at most `hold_sweep_batch` holds per transaction.
    hold_sweep_interval: float = Field(default=10.0, gt=0)
    hold_sweep_batch: int = Field(default=500, gt=0)

    @field_validator("database_url", "admin_token", "cursor_secret", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # `BANKING_DATABASE_URL=` in a shell or .env file means "not set", not "".
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @model_validator(mode="after")
    def _delays_are_ordered(self) -> Self:
        if self.retry_max_delay < self.retry_base_delay:
            raise ValueError("retry_max_delay must not be smaller than retry_base_delay")
        return self

    @property
    def transaction_settings(self) -> TransactionSettings:
        return TransactionSettings(
            statement_timeout_ms=self.statement_timeout_ms, lock_timeout_ms=self.lock_timeout_ms
        )

    @property
    def idempotency_retention(self) -> timedelta:
        return timedelta(hours=self.idempotency_retention_hours)

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            attempts=self.retry_attempts,
            base_delay=self.retry_base_delay,
            max_delay=self.retry_max_delay,
        )


def get_settings() -> Settings:
    """Read the environment now; deliberately not cached, so tests can change it."""
    return Settings()
