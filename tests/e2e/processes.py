"""Running ``banking`` as an operator does: a real process, bounded in time, killed by PID."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

BIN = Path(sys.executable).parent
BANKING = str(BIN / "banking")
START_SECONDS = 90  # a first start runs initdb and every migration
STOP_SECONDS = 30
COMMAND_SECONDS = 60


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base: str
    stdout: Path

    def output(self) -> str:
        return self.stdout.read_text()

    def stop(self) -> int:
        """SIGTERM, as a process manager sends it; returns the exit status."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(STOP_SECONDS)


@contextmanager
def serving(env: dict[str, str], workdir: Path, *options: str) -> Iterator[Server]:
    """``banking serve`` on a free port, ready when the block starts."""
    port = free_port()
    stdout, stderr = workdir / f"serve-{port}.out", workdir / f"serve-{port}.err"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            [BANKING, "serve", "--port", str(port), *options],
            env=env,
            cwd=workdir,
            stdout=out,
            stderr=err,
            # Its own process group, so that a failed test can kill its workers too.
            start_new_session=True,
        )
    server = Server(process, f"http://127.0.0.1:{port}", stdout)
    try:
        _wait_until_ready(server, stderr)
        yield server
    finally:
        # Workers outlive a parent that died on its own: the whole group goes.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(STOP_SECONDS)


def _wait_until_ready(server: Server, stderr: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(
                f"banking serve exited with {server.process.returncode}:\n"
                f"{server.output()}{stderr.read_text()}"
            )
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{server.base}/health/ready", timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    pytest.fail(f"banking serve was not ready within {START_SECONDS}s:\n{stderr.read_text()}")


def banking(env: dict[str, str], workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A ``banking`` command to completion (killed if it outlives ``COMMAND_SECONDS``)."""
    return subprocess.run(
        [BANKING, *args],
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=COMMAND_SECONDS,
        check=False,
    )


def shell(script: str, env: dict[str, str], workdir: Path) -> str:
    """``script`` run by bash, stopping at the first failing command; its output."""
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=COMMAND_SECONDS,
        check=False,
    )
    assert done.returncode == 0, f"{script}\n{done.stdout}{done.stderr}"
    return done.stdout


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def stop_postgres_left_in(data_dir: Path) -> None:
    """A ``banking`` process killed mid-way leaves its embedded server running."""
    try:
        pid = int((data_dir / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return
    command_line = Path(f"/proc/{pid}/cmdline")
    if command_line.exists() and str(data_dir) not in command_line.read_text():
        return  # a stale file, and the PID now names somebody else's process
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGQUIT)  # immediate shutdown: the data is deleted next
    deadline = time.monotonic() + STOP_SECONDS
    with contextlib.suppress(ProcessLookupError):
        while time.monotonic() < deadline:
            os.kill(pid, 0)
            time.sleep(0.1)
