"""Fixtures for tests against real PostgreSQL servers, loaded for the whole suite as a
plugin (``-p tests.postgres_fixtures`` in pyproject's pytest ``addopts``).

Every test that asks for a database runs once per server target:

- ``primary``: the server at ``BANKING_TEST_DATABASE_URL``, else a throwaway embedded
  server in a temporary directory, in memory where /dev/shm allows (deleted at the
  end of the session);
- ``system``: ``postgresql://postgres@127.0.0.1:5432/postgres`` when it answers,
  else the tests are skipped with the reason;
- ``pgbouncer``: the ``primary`` server through a PgBouncer in transaction mode
  (``tests/pgbouncer.py``), only when ``BANKING_TEST_TARGETS`` names it: ``make test``
  runs the API and integration suites through it once more.

``BANKING_TEST_TARGETS`` (comma-separated, default ``primary,system``) chooses them.

A server is started (or probed) the first time a test needs it and kept until the end of
the session. Migrating takes far longer than copying a database, so each target gets one
template database migrated to head per session, and each test gets a fresh clone of it
(``CREATE DATABASE ... TEMPLATE``), dropped after the test. Only databases created
by these fixtures are ever dropped: this session's, and those of killed sessions.

Fixtures:

- ``database_url`` -> str: a fresh database at head (``postgresql+psycopg://``).
- ``empty_database_url`` -> str: a fresh database without any table.
- ``engine`` -> AsyncEngine on ``database_url``, disposed after the test.
- ``settings`` -> Settings whose ``database_url`` is ``database_url``.
- ``pg_server`` -> PgServer (session): the target, to create and drop databases.
- ``pg_targets`` -> PgTargets (session, not parametrized): every target by name, for
  fixtures that choose the target themselves (such as ``tests/api``'s ``api``, whose
  parameters mix in-memory and PostgreSQL variants): ``pg_targets.database(name)``.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
import uuid
from collections import deque
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from infrastructure.postgres import migrate
from infrastructure.postgres.embedded import EmbeddedPostgres
from infrastructure.postgres.engine import create_engine, libpq_url, psycopg_url
from infrastructure.settings import Settings
from tests.pgbouncer import PgBouncerMissing, pgbouncer

SYSTEM_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
PROBE_TIMEOUT_SECONDS = 2
TARGETS = tuple(os.environ.get("BANKING_TEST_TARGETS", "primary,system").split(","))


class PgServer:
    """A server the tests may create databases on, through one autocommit connection.

    Database names carry this object's id, and the connection holds an advisory lock
    on that id for the whole session. A run that was killed before its teardown thus
    leaves databases whose lock anyone can take: the next session drops them.
    """

    def __init__(
        self, name: str, url: URL, *, throwaway: bool, client_url: URL | None = None
    ) -> None:
        self.name = name
        self.url = url
        # Where the tests connect, when not straight to the server (through a pooler).
        self.client_url = client_url or url
        self.id = uuid.uuid4().hex[:8]
        # FILE_COPY checkpoints the whole server: on our own in-memory, fsync-less server
        # that is nearly free and clones faster than WAL_LOG; on a shared server it
        # would flush everybody else's work to disk.
        self._clone_strategy = sql.SQL(" STRATEGY FILE_COPY" if throwaway else "")
        self._admin = psycopg.connect(libpq_url(url), autocommit=True)
        self._admin.execute("SELECT pg_advisory_lock(%s)", (_lock_key(self.id),))
        self._drop_orphans()

    def url_for(self, database: str) -> str:
        return self.client_url.set(database=database).render_as_string(hide_password=False)

    def connect(self) -> psycopg.Connection[Any]:
        """Another autocommit connection, for a thread of its own (``via=``)."""
        return psycopg.connect(libpq_url(self.url), autocommit=True)

    def create_database(
        self,
        *,
        kind: str = "test",
        template: str | None = None,
        via: psycopg.Connection[Any] | None = None,
    ) -> str:
        name = f"bank_{kind}_{self.id}_{uuid.uuid4().hex[:12]}"
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
            statement += self._clone_strategy
        (via or self._admin).execute(statement)
        return name

    def drop_database(self, name: str, *, via: psycopg.Connection[Any] | None = None) -> None:
        (via or self._admin).execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )

    def close(self) -> None:
        self._admin.close()

    def _drop_orphans(self) -> None:
        rows = self._admin.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE 'bank%'"
        ).fetchall()
        left_by: dict[str, list[str]] = {}
        for (database,) in rows:
            match = _OURS.match(database)
            if match is not None and match["owner"] != self.id:
                left_by.setdefault(match["owner"], []).append(database)
        for owner, databases in left_by.items():
            key = _lock_key(owner)
            taken = self._admin.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
            if not (taken and taken[0]):
                continue  # its session is still running
            try:
                for database in databases:
                    self.drop_database(database)
            finally:
                self._admin.execute("SELECT pg_advisory_unlock(%s)", (key,))


_OURS = re.compile(r"^bank_(test|template)_(?P<owner>[0-9a-f]{8})_[0-9a-f]{12}$")


def _lock_key(owner: str) -> int:
    # "bank" in the high half keeps the key clear of other users' advisory locks.
    return (0x62616E6B << 32) | int(owner, 16)


class Clones:
    """Fresh clones of one template, made a few tests ahead by worker threads that also
    drop the used ones.

    ``CREATE DATABASE`` on a server that syncs to disk takes about a third of a second
    whatever the strategy, but several run side by side nearly as fast as one: made
    while earlier tests run, a clone is usually ready when a test asks for it.
    """

    AHEAD = 2

    def __init__(self, server: PgServer, template: str) -> None:
        self._server = server
        self._template = template
        self._workers = ThreadPoolExecutor(self.AHEAD, thread_name_prefix=f"clones-{server.name}")
        self._local = threading.local()  # each worker's own connection
        self._connections: list[psycopg.Connection[Any]] = []
        self._lock = threading.Lock()
        self._ready: deque[Future[str]] = deque()
        self._drops: list[Future[None]] = []

    def take(self) -> str:
        while len(self._ready) <= self.AHEAD:
            self._ready.append(self._workers.submit(self._create))
        return self._ready.popleft().result()

    def drop(self, name: str) -> None:
        self._drops.append(self._workers.submit(self._drop, name))

    def close(self) -> None:
        try:
            for unused in self._ready:
                self.drop(unused.result())
            self._workers.shutdown(wait=True)
            for dropped in self._drops:
                dropped.result()  # re-raises a failed drop
        finally:
            for connection in self._connections:
                connection.close()

    def _create(self) -> str:
        return self._server.create_database(template=self._template, via=self._connection())

    def _drop(self, name: str) -> None:
        self._server.drop_database(name, via=self._connection())

    def _connection(self) -> psycopg.Connection[Any]:
        connection: psycopg.Connection[Any] | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = self._server.connect()
            with self._lock:
                self._connections.append(connection)
        return connection


class PgTargets:
    """The servers of this session by target name, each started (or probed) on first use
    and stopped when the session ends, with one template database at head each."""

    def __init__(self) -> None:
        self._stack = ExitStack()
        self._servers: dict[str, PgServer] = {}
        self._templates: dict[str, str] = {}
        self._clones: dict[str, Clones] = {}
        self._unreachable: dict[str, str] = {}

    def server(self, target: str) -> PgServer:
        """The target's server; skips the calling test when it cannot be reached."""
        if target in self._unreachable:
            pytest.skip(self._unreachable[target])
        if target not in self._servers:
            try:
                if target == "pgbouncer":
                    primary = self.server("primary")
                    url, throwaway = primary.url, True
                    try:
                        client_url = self._stack.enter_context(pgbouncer(url))
                    except PgBouncerMissing as missing:
                        pytest.skip(str(missing))
                else:
                    launcher = _primary_server() if target == "primary" else _system_server()
                    url, throwaway = self._stack.enter_context(launcher)
                    client_url = None
            except pytest.skip.Exception as skipped:
                self._unreachable[target] = skipped.msg or f"{target} is unreachable"
                raise
            server = PgServer(target, url, throwaway=throwaway, client_url=client_url)
            self._stack.callback(server.close)
            self._servers[target] = server
        return self._servers[target]

    def template(self, target: str) -> str:
        """The name of the target's database migrated to head, to clone from."""
        if target not in self._templates:
            server = self.server(target)
            name = server.create_database(kind="template")
            self._stack.callback(server.drop_database, name)
            # Straight to the server: the template is set up, not tested.
            migrate.upgrade(server.url.set(database=name), "head")
            self._templates[target] = name
        return self._templates[target]

    @contextmanager
    def database(self, target: str) -> Iterator[str]:
        """The URL of a fresh clone of the target's template, dropped afterwards."""
        if target not in self._clones:
            clones = Clones(self.server(target), self.template(target))
            self._stack.callback(clones.close)
            self._clones[target] = clones
        clones = self._clones[target]
        name = clones.take()
        try:
            yield self.server(target).url_for(name)
        finally:
            clones.drop(name)

    def close(self) -> None:
        self._stack.close()


@pytest.fixture(scope="session")
def pg_targets() -> Iterator[PgTargets]:
    targets = PgTargets()
    try:
        yield targets
    finally:
        targets.close()


@pytest.fixture(scope="session", params=TARGETS)
def pg_server(request: pytest.FixtureRequest, pg_targets: PgTargets) -> PgServer:
    return pg_targets.server(request.param)


@contextmanager
def _primary_server() -> Iterator[tuple[URL, bool]]:
    configured = os.environ.get("BANKING_TEST_DATABASE_URL")
    if configured:
        yield psycopg_url(configured), False
        return
    root = Path(tempfile.mkdtemp(prefix="banking-test-pg-", dir=_memory_backed_dir()))
    try:
        with EmbeddedPostgres(root / "pg") as url:
            _trade_durability_for_speed(url)
            yield make_url(url), True
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _memory_backed_dir() -> str | None:
    # Each test copies a database of about 8 MB; in memory that takes milliseconds, on a
    # busy disk it can take a third of a second. Fall back to the usual temporary
    # directory where /dev/shm is missing or small (Docker's default is 64 MB).
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > 2**30:
        return str(shm)
    return None


def _trade_durability_for_speed(url: str) -> None:
    # A throwaway server need not survive a power cut; skipping fsync makes each
    # CREATE DATABASE and commit several times cheaper. Never done to another server.
    with psycopg.connect(libpq_url(url), autocommit=True) as connection:
        connection.execute("ALTER SYSTEM SET fsync = off")
        connection.execute("ALTER SYSTEM SET synchronous_commit = off")
        connection.execute("ALTER SYSTEM SET full_page_writes = off")
        connection.execute("SELECT pg_reload_conf()")


@contextmanager
def _system_server() -> Iterator[tuple[URL, bool]]:
    try:
        psycopg.connect(SYSTEM_SERVER, connect_timeout=PROBE_TIMEOUT_SECONDS).close()
    except psycopg.Error as error:
        first_line = str(error).strip().splitlines()[0]
        pytest.skip(f"no PostgreSQL server at {SYSTEM_SERVER} ({first_line})")
    yield psycopg_url(SYSTEM_SERVER), False


@pytest.fixture(scope="session")
def template_database(pg_server: PgServer, pg_targets: PgTargets) -> str:
    return pg_targets.template(pg_server.name)


@pytest.fixture
def database_url(pg_server: PgServer, pg_targets: PgTargets) -> Iterator[str]:
    with pg_targets.database(pg_server.name) as url:
        yield url


@pytest.fixture
def empty_database_url(pg_server: PgServer) -> Iterator[str]:
    name = pg_server.create_database()
    try:
        yield pg_server.url_for(name)
    finally:
        pg_server.drop_database(name)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url)


@pytest.fixture
async def engine(settings: Settings, database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings, database_url)
    try:
        yield engine
    finally:
        await engine.dispose()
