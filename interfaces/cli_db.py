"""``banking db``: schema migrations from the command line.

With ``BANKING_DATABASE_URL`` the commands act on that database; without it, on the
embedded server under ``BANKING_DATA_DIR``, started for the command and stopped after.
Only ``banking serve`` creates the embedded database: these commands refuse to.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click

from infrastructure.postgres import migrate
from infrastructure.postgres.embedded import EmbeddedPostgres
from infrastructure.settings import Settings, get_settings
from interfaces.cli_support import one_line_errors, require_existing_embedded


@contextmanager
def _database(settings: Settings) -> Iterator[str]:
    if settings.database_url is not None:
        yield settings.database_url
        return
    require_existing_embedded(settings)
    click.echo(f"Using the embedded PostgreSQL server in {settings.data_dir}.", err=True)
    # Not migrated to head on the way, unlike `existing_database`: these commands choose
    # the revision themselves.
    with EmbeddedPostgres(settings.data_dir, create=False) as url:
        yield url


def _describe_revisions(revisions: tuple[str, ...]) -> str:
    if not revisions:
        return "<base> (no migrations applied)"
    at_head = set(revisions) == set(migrate.heads())
    return ", ".join(revisions) + (" (head)" if at_head else "")


@click.group()
def db() -> None:
    """Migrate the database schema."""


@db.command()
@click.argument("revision", default="head")
@one_line_errors
def upgrade(revision: str) -> None:
    """Upgrade the schema to REVISION (default: head)."""
    with _database(get_settings()) as url:
        migrate.upgrade(url, revision)
        click.echo(f"Schema at {_describe_revisions(migrate.current(url))}.")


@db.command()
@click.argument("revision")
@one_line_errors
def downgrade(revision: str) -> None:
    """Downgrade the schema to REVISION ("base" removes every table)."""
    with _database(get_settings()) as url:
        migrate.downgrade(url, revision)
        click.echo(f"Schema at {_describe_revisions(migrate.current(url))}.")


@db.command()
@one_line_errors
def current() -> None:
    """Show the schema revision of the database."""
    with _database(get_settings()) as url:
        click.echo(_describe_revisions(migrate.current(url)))


@db.command()
@one_line_errors
def history() -> None:
    """List the migrations, newest first."""
    for line in migrate.history():
        click.echo(line)


@db.command()
@click.argument("revision", default="head")
@one_line_errors
def sql(revision: str) -> None:
    """Print the SQL that upgrades to REVISION (or a FROM:TO range), for a DBA to run."""
    click.echo(migrate.offline_sql(revision), nl=False)
