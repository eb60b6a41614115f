"""The async engine: one per process, built by the composition root, never at import."""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from infrastructure.settings import Settings

DRIVER = "postgresql+psycopg"

_POSTGRES_SCHEMES = {"postgres", "postgresql"}


def psycopg_url(url: str | URL) -> URL:
    """``url`` with the psycopg 3 driver, whatever driver (if any) it named.

    Operators paste libpq-style URLs (``postgresql://...``); the service only ships
    psycopg, so the driver part is ours to decide.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() not in _POSTGRES_SCHEMES:
        raise ValueError(f"not a PostgreSQL URL: {parsed.render_as_string(hide_password=True)}")
    return parsed.set(drivername=DRIVER)


def libpq_url(url: str | URL) -> str:
    """The same database as a libpq connection string, for plain ``psycopg.connect``."""
    return psycopg_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def session_options(settings: Settings) -> str:
    """Server settings sent in the start-up packet, so every pooled connection has them
    before its first statement and no ``SET`` round trip is needed."""
    # enable_seqscan=off: at SERIALIZABLE a sequential scan takes a predicate lock on
    # the whole table, so while the accounts table is small enough for the planner to
    # prefer one, every pair of concurrent transfers would abort each other. Index
    # scans lock only what they read. Other engines simply have no such setting to
    # need; reconciliation turns it back on for its whole-table queries.
    return (
        f"-c statement_timeout={settings.statement_timeout_ms}"
        f" -c lock_timeout={settings.lock_timeout_ms}"
        " -c enable_seqscan=off"
    )


def create_engine(settings: Settings, url: str | URL) -> AsyncEngine:
    return create_async_engine(
        psycopg_url(url),
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_timeout=settings.pool_timeout,
        pool_pre_ping=settings.pool_pre_ping,
        connect_args={
            "options": session_options(settings),
            "connect_timeout": settings.connect_timeout,
        },
    )
