"""The embedded server: started in a directory of its own, reused, stopped on exit."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from infrastructure.postgres.embedded import (
    EmbeddedPostgres,
    EmbeddedPostgresError,
    NoEmbeddedDatabaseError,
)
from infrastructure.postgres.engine import libpq_url


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # Not pytest's tmp_path: the package opens the parents of the data directory to
    # its system user when run as root, and pytest's base directory should stay private.
    root = Path(tempfile.mkdtemp(prefix="banking-embedded-"))
    try:
        yield root / "nested" / "pg"
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_stops_on_exit_and_a_second_start_finds_the_first_runs_data(data_dir: Path) -> None:
    # Given a first run that stores a row
    with EmbeddedPostgres(data_dir) as url, psycopg.connect(libpq_url(url)) as connection:
        connection.execute("CREATE TABLE memo (note text)")
        connection.execute("INSERT INTO memo VALUES ('kept')")

    # Then the server is gone once the block ends
    assert not (data_dir / "postmaster.pid").exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(libpq_url(url), connect_timeout=2)

    # When the server starts again on the same directory
    with EmbeddedPostgres(data_dir) as url, psycopg.connect(libpq_url(url)) as connection:
        notes = connection.execute("SELECT note FROM memo").fetchall()

    # Then the row is there
    assert notes == [("kept",)]


def test_a_user_that_died_without_letting_go_does_not_keep_the_server_running(
    data_dir: Path,
) -> None:
    with EmbeddedPostgres(data_dir):
        # Given another process that used the server and was killed before letting go
        dead = subprocess.Popen(["true"])
        dead.wait()
        handles = data_dir / ".handle_pids.json"
        handles.write_text(json.dumps([dead.pid, *json.loads(handles.read_text())]))

    # Then this one, the last live user, still stops the server
    assert not (data_dir / "postmaster.pid").exists()
    assert json.loads(handles.read_text()) == []


def test_url_is_refused_while_not_running(data_dir: Path) -> None:
    with pytest.raises(EmbeddedPostgresError, match="not running"):
        _ = EmbeddedPostgres(data_dir).url


def test_a_caller_that_may_not_create_is_refused_and_nothing_is_created(data_dir: Path) -> None:
    with pytest.raises(NoEmbeddedDatabaseError, match=f"no embedded database in {data_dir}$"):
        EmbeddedPostgres(data_dir, create=False).start()

    assert not data_dir.parent.exists()
