"""A flame graph of the service's workers while a cell runs (`--flame`)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.processes import stop


def py_spy() -> str:
    """py-spy from the `bench` extra, next to this interpreter."""
    path = Path(sys.executable).parent / "py-spy"
    found = str(path) if path.exists() else shutil.which("py-spy")
    if found is None:
        raise SystemExit("--flame needs py-spy: make bench installs it (the `bench` extra)")
    return found


@contextmanager
def profiled(pid: int, seconds: float, output: Path) -> Iterator[None]:
    """Sample ``pid`` and its worker processes for ``seconds`` into an SVG flame graph.

    py-spy attaches to the running supervisor rather than starting it, so the service
    under test is the same process tree with or without a profile, and stopping the
    profiler never orphans a worker. Sampling costs the workers a little CPU: the
    profiled cell's own numbers are not comparable with an unprofiled run.
    """
    output.parent.mkdir(parents=True, exist_ok=True)
    recorder = subprocess.Popen(
        [
            py_spy(),
            "record",
            f"--pid={pid}",
            "--subprocesses",
            "--nonblocking",
            "--rate=200",
            f"--duration={max(1, round(seconds))}",
            "--format=flamegraph",
            f"--output={output}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield
        recorder.wait(timeout=seconds + 30)
    finally:
        stop(recorder)
