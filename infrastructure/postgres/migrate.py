"""Alembic, driven from code: the CLI, the service's start-up and the tests use this.

The Alembic configuration is built here rather than read from a file, so it works
from any working directory. The migration scripts are the ``migrations`` package,
found by import: the checkout's in development, the installed one from a wheel.
"""

from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from alembic.script.revision import RangeNotAncestorError, RevisionError
from alembic.util import CommandError
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import func, inspect, pool, select, table
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


@dataclass(frozen=True)
class DowngradePlan:
    """What ``downgrade(url, revision)`` would undo, and the rows the database holds now."""

    target: str  # the revision it would leave the database at, e.g. "0001" or "<base>"
    undone: tuple[str, ...]  # e.g. "0001 (Initial schema)", newest first
    rows: dict[str, int]  # per non-empty table, alembic_version aside

    @property
    def drops_data(self) -> bool:
        # Undoing a migration drops what it added (tables, columns) and the rows in them;
        # on a database without rows there is nothing to lose.
        return bool(self.undone) and bool(self.rows)


def upgrade(url: str | URL, revision: str = "head") -> None:
    _outside_event_loop(lambda: command.upgrade(alembic_config(url), revision))


def downgrade(url: str | URL, revision: str) -> None:
    _outside_event_loop(lambda: command.downgrade(alembic_config(url), revision))


def plan_downgrade(url: str | URL, revision: str) -> DowngradePlan:
    """Ask before ``downgrade``: the revisions it would undo, and what the tables hold."""
    scripts = ScriptDirectory.from_config(alembic_config())
    stamped = current(url)
    with _revision_errors():
        undone = list(scripts.iterate_revisions(stamped, revision, select_for_downgrade=True))
    described = tuple(_describe(script) for script in undone)
    # A relative REVISION ("-1") or "base" named as the revision it resolves to, so
    # that an operator asked to confirm sees where the schema would end up.
    below = _as_tuple(undone[-1].down_revision) if undone else stamped
    return DowngradePlan(
        target=", ".join(below) or "<base>",
        undone=described,
        rows=_rows_per_table(url) if described else {},
    )


def offline_sql(revision: str = "head") -> str:
    """The SQL that upgrades to ``revision``, or runs a ``from:to`` range either way.

    A range whose end is an ancestor of its start (``0001:base``) gives the downgrade's
    SQL, headed by a comment that it drops data; a range that runs nothing is an error
    rather than an empty ``BEGIN; COMMIT;``.
    """
    start, _, end = revision.rpartition(":")
    scripts = ScriptDirectory.from_config(alembic_config())
    buffer = io.StringIO()
    config = alembic_config(output_buffer=buffer)
    with _revision_errors():
        try:
            steps = list(scripts.iterate_revisions(end, start or "base"))
        except RangeNotAncestorError:
            # Not upwards from start to end: downwards, if end is below start.
            undone = list(scripts.iterate_revisions(start, end, select_for_downgrade=True))
            if not undone:
                raise
            command.downgrade(config, revision, sql=True)
            names = ", ".join(_describe(script) for script in undone)
            return (
                f"-- Downgrade from {start} to {end}: undoes {names}. The tables and columns"
                " it drops lose their data.\n" + buffer.getvalue()
            )
    if not steps:
        raise CommandError(
            f"nothing to run from {start or 'base'} to {end}: give a revision to upgrade to,"
            " or FROM:TO with two different revisions (TO below FROM for a downgrade)"
        )
    command.upgrade(config, revision, sql=True)
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


def _as_tuple(revisions: str | Sequence[str] | None) -> tuple[str, ...]:
    if revisions is None:
        return ()
    return (revisions,) if isinstance(revisions, str) else tuple(revisions)


def _describe(script: Script) -> str:
    return f"{script.revision} ({script.doc.rstrip('.')})"


def _rows_per_table(url: str | URL) -> dict[str, int]:
    engine = create_sync_engine(
        psycopg_url(url), poolclass=pool.NullPool, connect_args={"connect_timeout": 5}
    )
    try:
        with engine.connect() as connection:
            names = set(inspect(connection).get_table_names()) - {"alembic_version"}
            counted = {
                name: connection.scalar(select(func.count()).select_from(table(name))) or 0
                for name in sorted(names)
            }
    finally:
        engine.dispose()
    return {name: rows for name, rows in counted.items() if rows}


@contextmanager
def _revision_errors() -> Iterator[None]:
    # Alembic's own commands turn these into CommandError; the CLI shows those in one line.
    try:
        yield
    except RevisionError as error:
        raise CommandError(str(error)) from error


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
