"""``banking db``: schema migrations from the command line.

With ``BANKING_DATABASE_URL`` the commands act on that database; without it, on the
embedded server under ``BANKING_DATA_DIR``, started for the command and stopped after.
Only ``banking serve`` creates the embedded database: these commands refuse to.
"""

from __future__ import annotations

import re
import sys
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


class _RelativeRevisionCommand(click.Command):
    """Takes ``-1`` (Alembic's "one step down") as the REVISION it is, not as an option."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if "--" not in args:
            steps = [arg for arg in args if re.fullmatch(r"-\d+", arg)]
            if steps:
                # After "--" nothing is an option; the other arguments keep their places.
                args = [arg for arg in args if arg not in steps] + ["--", *steps]
        return super().parse_args(ctx, args)


@db.command(cls=_RelativeRevisionCommand)
@click.argument("revision")
@click.option(
    "--yes", is_flag=True, help="Drop data without asking (required when not on a terminal)."
)
@one_line_errors
def downgrade(revision: str, yes: bool) -> None:
    """Downgrade the schema to REVISION: an id, -1 for one step, or "base" (no tables).

    Undoing a migration drops what it added and the rows in it: on a database that holds
    rows, this asks first on a terminal and otherwise refuses unless --yes is given.
    """
    with _database(get_settings()) as url:
        plan = migrate.plan_downgrade(url, revision)
        if plan.drops_data and not yes:
            _confirm_data_loss(plan)
        migrate.downgrade(url, revision)
        click.echo(f"Schema at {_describe_revisions(migrate.current(url))}.")


def _confirm_data_loss(plan: migrate.DowngradePlan) -> None:
    held = ", ".join(f"{table} {rows:,}" for table, rows in plan.rows.items())
    total = sum(plan.rows.values())
    # One migration per line: their descriptions hold commas and colons of their own.
    if len(plan.undone) == 1:
        undoes, added = f"undoes {plan.undone[0]}.", "this migration"
    else:
        listed = "".join(f"\n  {migration}" for migration in plan.undone)
        undoes, added = f"undoes {len(plan.undone)} migrations, newest first:{listed}", "they"
    loss = (
        f"Downgrading to {plan.target} {undoes}\nThe database holds {total:,}"
        f" {'row' if total == 1 else 'rows'} ({held}); what {added} added is dropped with"
        " its data."
    )
    if not sys.stdin.isatty():
        raise click.ClickException(f"{loss}\nNothing was changed: pass --yes to go ahead.")
    click.confirm(f"{loss}\nGo ahead?", abort=True, err=True)


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
    """Print the SQL that upgrades to REVISION, or runs a FROM:TO range (0001:base
    downgrades), for a DBA to run."""
    click.echo(migrate.offline_sql(revision), nl=False)
