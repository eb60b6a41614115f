"""What every ``banking`` command shares: one-line errors and the database it acts on."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import ParamSpec, TypeVar

import click
import pydantic
from alembic.util import CommandError
from sqlalchemy.exc import SQLAlchemyError

from domain.errors import DomainError
from infrastructure.postgres.embedded import EmbeddedPostgres, EmbeddedPostgresError
from infrastructure.postgres.served import SchemaNotAtHeadError, served_database
from infrastructure.settings import Settings

P = ParamSpec("P")
R = TypeVar("R")

# Failures an operator can fix (a server down, a wrong URL or revision, a bad
# setting or argument): one line each, no traceback. Anything else is a bug and keeps
# its traceback.
_OPERATOR_ERRORS = (
    CommandError,
    SQLAlchemyError,
    EmbeddedPostgresError,
    SchemaNotAtHeadError,
    DomainError,
    pydantic.ValidationError,
    ValueError,
    OSError,
)


def one_line_errors(command: Callable[P, R]) -> Callable[P, R]:
    @wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except _OPERATOR_ERRORS as error:
            raise click.ClickException(_describe(error)) from error

    return wrapper


def _describe(error: Exception) -> str:
    if isinstance(error, pydantic.ValidationError):
        problem = error.errors()[0]
        field = ".".join(str(part) for part in problem["loc"])
        return f"invalid setting BANKING_{field.upper()}: {problem['msg']}"
    # Driver messages span several lines (hints, the statement); the first says it.
    cause = getattr(error, "orig", None) or error
    lines = str(cause).strip().splitlines()
    return lines[0] if lines else type(error).__name__


@contextmanager
def service_database(
    settings: Settings, *, create: bool = True, supervised: bool = False
) -> Iterator[str]:
    """The database the service would serve (see ``served_database``), announcing the
    embedded server because starting it takes a few seconds.

    Only ``banking serve`` creates the embedded database; every other command uses
    ``existing_database``."""
    if settings.database_url is None:
        click.echo(f"Using the embedded PostgreSQL server in {settings.data_dir}.", err=True)
    with served_database(settings, create=create, supervised=supervised) as url:
        yield url


@contextmanager
def existing_database(settings: Settings) -> Iterator[str]:
    """``service_database`` for a command that reads or changes existing books: run from
    another folder, it must say where it looked rather than start a new, empty ledger."""
    require_existing_embedded(settings)
    with service_database(settings, create=False) as url:
        yield url


def require_existing_embedded(settings: Settings) -> None:
    """Refuse, with where it looked and how to point elsewhere, when the embedded default
    is in use and no ``banking serve`` has created its database in ``data_dir``."""
    if settings.database_url is not None or EmbeddedPostgres(settings.data_dir).exists:
        return
    looked = settings.data_dir.expanduser().resolve()
    raise click.ClickException(
        f"no database in {looked} (BANKING_DATA_DIR, by default var/pg in the current"
        " folder); only `banking serve` creates one.\n"
        "Run this command from the folder where `banking serve` runs, or set"
        " BANKING_DATA_DIR to its data directory, or BANKING_DATABASE_URL to your"
        " PostgreSQL database."
    )
