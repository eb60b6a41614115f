"""Alembic's environment: online migrations over psycopg 3 (async), offline SQL with --sql.

The database URL comes, first found wins, from the ``url`` attribute that
``infrastructure.postgres.migrate`` sets, from ``sqlalchemy.url``, or from
``BANKING_DATABASE_URL``. A caller that already holds a connection passes it as the
``connection`` attribute (Alembic's connection-sharing recipe).
"""

from __future__ import annotations

import asyncio

from alembic import context
from alembic.util import CommandError
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from infrastructure.postgres.engine import psycopg_url
from infrastructure.postgres.tables import metadata
from infrastructure.settings import get_settings

config = context.config


def database_url() -> str | None:
    url = config.attributes.get("url") or config.get_alembic_option("sqlalchemy.url")
    return url or get_settings().database_url


def run_migrations_offline() -> None:
    # Offline mode only needs the dialect, so a URL without a server will do.
    context.configure(
        url=psycopg_url(database_url() or "postgresql://"),
        target_metadata=metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_on(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()


async def run_async(url: str) -> None:
    # NullPool: nothing may stay connected afterwards (a database still in use cannot
    # serve as a template, be renamed or be dropped).
    engine = create_async_engine(psycopg_url(url), poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run_on)
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        run_on(connection)
        return
    url = database_url()
    if url is None:
        raise CommandError(
            "no database URL: set BANKING_DATABASE_URL, or use `banking db`"
            " which starts the embedded server"
        )
    asyncio.run(run_async(url))


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
