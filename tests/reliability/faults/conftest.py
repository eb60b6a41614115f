"""Fixtures for the fault tests: real processes that the test may break.

- ``workdir``, ``env``: those of tests/e2e (a private directory; a clean environment).
- ``postgres`` -> ControlledPostgres: a server of the test's own, in ``workdir / "pg"``,
  stopped (whatever the test did to it) and deleted afterwards. Never the system server
  nor ``BANKING_TEST_DATABASE_URL``: those cannot be SIGKILLed by a test.
- ``database_name``, ``service_database`` -> str: a database at head on it, and its URL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import env, workdir
from tests.reliability.control import ControlledPostgres

__all__ = ["database_name", "env", "postgres", "service_database", "workdir"]


@pytest.fixture
def postgres(workdir: Path) -> Iterator[ControlledPostgres]:
    server = ControlledPostgres(workdir)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def database_name() -> str:
    return "bank"


@pytest.fixture
def service_database(postgres: ControlledPostgres, database_name: str) -> str:
    return postgres.create_database(database_name)
