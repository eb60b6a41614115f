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


def create_engine(settings: Settings, url: str | URL) -> AsyncEngine:
    return create_async_engine(
        psycopg_url(url),
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_timeout=settings.pool_timeout,
        pool_pre_ping=settings.pool_pre_ping,
        connect_args={
            "connect_timeout": settings.connect_timeout,
            # No server-side prepared statements: a transaction-mode pooler hands each
            # transaction any server connection, where a statement prepared on another
            # one does not exist (or one of the same name does). Timeouts and planner
            # settings travel with each transaction (transaction.py), never in the
            # start-up packet, which PgBouncer refuses to forward.
            "prepare_threshold": None,
        },
    )
