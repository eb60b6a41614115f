"""Alembic, driven from code: the CLI, the service's start-up and the tests use this.

The Alembic configuration is built here rather than read from a file, so it works
from any working directory. The migration scripts are the ``migrations`` package,
found by import: the checkout's in development, the installed one from a wheel.
"""

from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TextIO, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import pool
from sqlalchemy.engine import URL, Connection
from sqlalchemy.ext.asyncio import AsyncConnection

import migrations
from infrastructure.postgres.engine import psycopg_url

MIGRATIONS_DIR = Path(migrations.__file__).resolve().parent

T = TypeVar("T")


def alembic_config(
    url: str | URL | None = None,
    *,
    stdout: TextIO | None = None,
    output_buffer: TextIO | None = None,
) -> Config:
    config = Config(stdout=stdout or sys.stdout, output_buffer=output_buffer)
    # The ini parser would read "%" as interpolation.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    if url is not None:
        # An attribute, not `sqlalchemy.url`: a password may contain "%" too.
        config.attributes["url"] = psycopg_url(url).render_as_string(hide_password=False)
    return config


def upgrade(url: str | URL, revision: str = "head") -> None:
    _outside_event_loop(lambda: command.upgrade(alembic_config(url), revision))


def downgrade(url: str | URL, revision: str) -> None:
    _outside_event_loop(lambda: command.downgrade(alembic_config(url), revision))


def offline_sql(revision: str = "head") -> str:
    """The SQL that upgrades to ``revision`` (or a ``from:to`` range), without a server."""
    buffer = io.StringIO()
    command.upgrade(alembic_config(output_buffer=buffer), revision, sql=True)
    return buffer.getvalue()


def heads() -> tuple[str, ...]:
    return tuple(ScriptDirectory.from_config(alembic_config()).get_heads())


def history() -> list[str]:
    """One line per revision, newest first, e.g. ``<base> -> 0001 (head), Initial schema``."""
    scripts = ScriptDirectory.from_config(alembic_config())
    return [
        script.cmd_format(verbose=False, include_doc=True, include_parents=True)
        for script in scripts.walk_revisions()
    ]


def current(url: str | URL) -> tuple[str, ...]:
    """The revisions the database is stamped with; empty for an unmigrated database."""
    # Bounded, so a configured host that drops packets fails fast instead of hanging.
    engine = create_sync_engine(
        psycopg_url(url), poolclass=pool.NullPool, connect_args={"connect_timeout": 5}
    )
    try:
        with engine.connect() as connection:
            return _current(connection)
    finally:
        engine.dispose()


def is_at_head(url: str | URL) -> bool:
    return set(current(url)) == set(heads())


async def connection_is_at_head(connection: AsyncConnection) -> bool:
    """For a readiness probe that already holds a pooled connection."""
    stamped = await connection.run_sync(_current)
    return set(stamped) == set(heads())


def _current(connection: Connection) -> tuple[str, ...]:
    return tuple(MigrationContext.configure(connection).get_current_heads())


def _outside_event_loop(work: Callable[[], T]) -> T:
    # env.py runs its own event loop (asyncio.run), which cannot start inside a
    # running one: from async code, migrate in a worker thread instead.
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return work()
    with ThreadPoolExecutor(max_workers=1) as executor:
        return executor.submit(work).result()
