"""A command run away from its data: it says where it looked, creates nothing, and fails.

Only ``banking serve`` creates the embedded database. Before, any command run in
another folder started a new, empty ``./var/pg``, and ``banking reconcile`` then
reported that every invariant holds.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.processes import banking

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    "command",
    [
        ("reconcile",),
        ("clients", "create", "acme"),
        ("db", "upgrade"),
        ("db", "current"),
        ("db", "downgrade", "base", "--yes"),
    ],
    ids=" ".join,
)
def test_a_command_in_a_folder_without_data_says_where_it_looked_and_creates_nothing(
    env: dict[str, str], workdir: Path, command: tuple[str, ...]
) -> None:
    # Given a folder where `banking serve` never ran, and no BANKING_* setting at all
    elsewhere = workdir / "elsewhere"
    elsewhere.mkdir()
    newcomer = {name: value for name, value in env.items() if name != "BANKING_DATA_DIR"}

    # When the command runs there
    done = banking(newcomer, elsewhere, *command)

    # Then it fails, names the folder it looked in and both ways to point it at the data
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.startswith(f"Error: no database in {elsewhere / 'var' / 'pg'} ")
    assert "BANKING_DATA_DIR" in done.stderr
    assert "BANKING_DATABASE_URL" in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
    # And no new, empty ledger was started in its place
    assert list(elsewhere.iterdir()) == []
