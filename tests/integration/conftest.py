"""Fixtures for tests against real PostgreSQL servers.

Every test that asks for a database runs once per server target:

- ``primary``: the server at ``BANKING_TEST_DATABASE_URL``, else a throwaway embedded
  server in a temporary directory, in memory where /dev/shm allows (deleted at the
  end of the session);
- ``system``: ``postgresql://postgres@127.0.0.1:5432/postgres`` when it answers,
  else the tests are skipped with the reason.

Migrating takes far longer than copying a database, so each target gets one template
database migrated to head per session, and each test gets a fresh clone of it
(``CREATE DATABASE ... TEMPLATE``), dropped after the test. Only databases created
by these fixtures are ever dropped: this session's, and those of killed sessions.

Fixtures:

- ``database_url`` -> str: a fresh database at head (``postgresql+psycopg://``).
- ``empty_database_url`` -> str: a fresh database without any table.
- ``engine`` -> AsyncEngine on ``database_url``, disposed after the test.
- ``settings`` -> Settings whose ``database_url`` is ``database_url``.
- ``pg_server`` -> PgServer (session): the target, to create and drop databases.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from infrastructure.postgres import migrate
from infrastructure.postgres.embedded import EmbeddedPostgres
from infrastructure.postgres.engine import create_engine, libpq_url, psycopg_url
from infrastructure.settings import Settings

HERE = Path(__file__).resolve().parent
SYSTEM_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
PROBE_TIMEOUT_SECONDS = 2


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.integration)


class PgServer:
    """A server the tests may create databases on, through one autocommit connection.

    Database names carry this object's id, and the connection holds an advisory lock
    on that id for the whole session. A run that was killed before its teardown thus
    leaves databases whose lock anyone can take: the next session drops them.
    """

    def __init__(self, name: str, url: URL, *, throwaway: bool) -> None:
        self.name = name
        self.url = url
        self.id = uuid.uuid4().hex[:8]
        # FILE_COPY checkpoints the whole server: on our own in-memory, fsync-less server
        # that is nearly free and clones faster than WAL_LOG; on a shared server it
        # would flush everybody else's work to disk.
        self._clone_strategy = sql.SQL(" STRATEGY FILE_COPY" if throwaway else "")
        self._admin = psycopg.connect(libpq_url(url), autocommit=True)
        self._admin.execute("SELECT pg_advisory_lock(%s)", (_lock_key(self.id),))
        self._drop_orphans()

    def url_for(self, database: str) -> str:
        return self.url.set(database=database).render_as_string(hide_password=False)

    def create_database(self, *, kind: str = "test", template: str | None = None) -> str:
        name = f"bank_{kind}_{self.id}_{uuid.uuid4().hex[:12]}"
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
            statement += self._clone_strategy
        self._admin.execute(statement)
        return name

    def drop_database(self, name: str) -> None:
        self._admin.execute(
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


@pytest.fixture(scope="session", params=["primary", "system"])
def pg_server(request: pytest.FixtureRequest) -> Iterator[PgServer]:
    target = _primary_server() if request.param == "primary" else _system_server()
    with target as (url, throwaway):
        server = PgServer(request.param, url, throwaway=throwaway)
        try:
            yield server
        finally:
            server.close()


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
def template_database(pg_server: PgServer) -> Iterator[str]:
    name = pg_server.create_database(kind="template")
    try:
        migrate.upgrade(pg_server.url_for(name), "head")
        yield name
    finally:
        pg_server.drop_database(name)


@pytest.fixture
def database_url(pg_server: PgServer, template_database: str) -> Iterator[str]:
    name = pg_server.create_database(template=template_database)
    try:
        yield pg_server.url_for(name)
    finally:
        pg_server.drop_database(name)


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
