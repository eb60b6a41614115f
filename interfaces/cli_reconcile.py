"""``banking reconcile``: check the books against the README's invariants."""

from __future__ import annotations

import asyncio
import time

import click
from sqlalchemy import text

from infrastructure.postgres.engine import create_engine
from infrastructure.postgres.reconciliation import check, invariants
from infrastructure.settings import Settings, get_settings
from interfaces.cli_support import existing_database, one_line_errors


@click.command()
@click.option(
    "--show",
    default=10,
    show_default=True,
    type=click.IntRange(min=0),
    help="Violations listed per invariant.",
)
@one_line_errors
def reconcile(show: int) -> None:
    """Check every invariant in one consistent snapshot; exit 1 if any is violated."""
    settings = get_settings()
    with existing_database(settings) as url:
        broken = asyncio.run(_reconcile(settings, url, show))
    if broken:
        click.echo(f"{broken} of {len(invariants())} invariants violated.")
        raise click.exceptions.Exit(1)
    click.echo(f"All {len(invariants())} invariants hold.")


async def _reconcile(settings: Settings, url: str, show: int) -> int:
    engine = create_engine(settings, url)
    try:
        async with engine.connect() as connection:
            snapshot = await connection.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
            # The service's statement timeout protects request latency; on a big book a
            # whole-table check legitimately runs longer.
            await snapshot.execute(text("SET LOCAL statement_timeout = 0"))
            broken = 0
            for invariant in invariants():
                click.echo(f"{invariant} ... ", nl=False)
                started = time.perf_counter()
                violations = await check(snapshot, invariant)
                elapsed = f"({time.perf_counter() - started:.2f}s)"
                if not violations:
                    click.echo(f"ok {elapsed}")
                    continue
                broken += 1
                click.echo(f"{len(violations)} VIOLATIONS {elapsed}")
                for violation in violations[:show]:
                    click.echo(f"    {violation.subject}: {violation.detail}")
                if len(violations) > show:
                    click.echo(f"    ... and {len(violations) - show} more")
            return broken
    finally:
        await engine.dispose()
