"""Fixtures for end-to-end tests: the environment of a newcomer's shell.

- ``workdir`` -> Path: a private directory for the processes' data and output; an
  embedded server left running in ``workdir / "pg"`` is stopped before it is deleted.
- ``env`` -> dict: the environment without any ``BANKING_*`` setting except
  ``BANKING_DATA_DIR=workdir/pg`` (so: the embedded default).

A database an operator configures with ``BANKING_DATABASE_URL`` is played by
``database_url`` or ``empty_database_url`` of ``tests/postgres_fixtures.py``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.processes import BIN, stop_postgres_left_in


@pytest.fixture
def workdir() -> Iterator[Path]:
    # Not pytest's tmp_path: run as root, the embedded server's package opens the
    # parents of its data directory to its system user.
    root = Path(tempfile.mkdtemp(prefix="banking-e2e-"))
    try:
        yield root
    finally:
        stop_postgres_left_in(root / "pg")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def env(workdir: Path) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("BANKING_")}
    env["BANKING_DATA_DIR"] = str(workdir / "pg")
    # The README's lines call python3; the virtual environment's is the one surely there.
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env
