"""``banking db downgrade`` on a terminal asks before it drops data, and takes a no."""

from __future__ import annotations

import os
import pty
import subprocess
from pathlib import Path

import psycopg
import pytest

from infrastructure.postgres import migrate
from infrastructure.postgres.engine import libpq_url
from tests.e2e.processes import BANKING, COMMAND_SECONDS

pytestmark = pytest.mark.e2e


def typed(answer: str, env: dict[str, str], workdir: Path, *args: str) -> tuple[int, str]:
    """``banking ARGS`` with a terminal for its stdin, on which ``answer`` is typed."""
    primary, secondary = pty.openpty()
    try:
        process = subprocess.Popen(
            [BANKING, *args],
            env=env,
            cwd=workdir,
            stdin=secondary,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        os.write(primary, answer.encode())  # the terminal keeps the line until it is read
        try:
            output, _ = process.communicate(timeout=COMMAND_SECONDS)
        finally:
            process.kill()
        return process.returncode, output
    finally:
        os.close(primary)
        os.close(secondary)


def test_on_a_terminal_a_downgrade_that_drops_data_asks_first(
    env: dict[str, str], workdir: Path, database_url: str
) -> None:
    # Given a database at head that holds a row
    with psycopg.connect(libpq_url(database_url)) as connection:
        connection.execute(
            "INSERT INTO api_clients (id, name, key_hash, created_at)"
            " VALUES (gen_random_uuid(), 'acme', repeat('a', 64), now())"
        )
    configured = {**env, "BANKING_DATABASE_URL": database_url}

    # When the operator answers no
    status, output = typed("n\n", configured, workdir, "db", "downgrade", "base")

    # Then they were told what would be lost, and nothing changed
    assert status == 1, output
    assert "holds 1 row (api_clients 1)" in output
    assert "Go ahead? [y/N]" in output
    assert output.endswith("Aborted!\n")
    assert migrate.is_at_head(database_url)

    # When the operator answers yes
    status, output = typed("y\n", configured, workdir, "db", "downgrade", "base")

    # Then it is done
    assert status == 0, output
    assert output.endswith("Schema at <base> (no migrations applied).\n")
    assert migrate.current(database_url) == ()
