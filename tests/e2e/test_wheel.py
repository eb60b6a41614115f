"""The wheel carries what an installed ``banking db upgrade`` needs: every migration.

``.ci/wheel-check`` goes further (a fresh venv outside the clone, a real database,
``banking serve``); this test is the quick half that `make test` runs.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from infrastructure.postgres import migrate

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
BUILD_SECONDS = 300


def _copy_of_the_checkout(target: Path) -> Path:
    """The files git would commit, so that nothing stale in ``build/`` reaches the wheel."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for name in filter(None, listed.split("\0")):
        if (REPO / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, target / name)
    return target


@pytest.mark.skipif(
    shutil.which("git") is None or not (REPO / ".git").exists(), reason="needs a git checkout"
)
def test_the_wheel_ships_alembic_environment_and_every_revision(tmp_path: Path) -> None:
    # Given the wheel built from the checkout
    source = _copy_of_the_checkout(tmp_path / "source")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), source],
        check=True,
        capture_output=True,
        timeout=BUILD_SECONDS,
    )
    (wheel,) = tmp_path.glob("banking-*.whl")

    # When it is unpacked as pip would install it
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        archive.extractall(tmp_path / "site-packages")

    # Then Alembic's environment and every revision are in it, and they make the same
    # script directory as the checkout's
    revisions = {f"migrations/versions/{p.name}" for p in migrate.MIGRATIONS_DIR.glob("*/*.py")}
    assert revisions
    assert {"migrations/env.py", "migrations/script.py.mako", *revisions} <= names
    installed = ScriptDirectory(str(tmp_path / "site-packages" / "migrations"))
    assert tuple(installed.get_heads()) == migrate.heads()
    assert len(list(installed.walk_revisions())) == len(migrate.history())
