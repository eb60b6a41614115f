"""Child processes of a run: started with a deadline, sampled for memory, killed by PID."""

from __future__ import annotations

import json
import os
import resource
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parent.parent
MB = 1024 * 1024


def python_module(module: str, *args: str, **kwargs: Any) -> subprocess.Popen[str]:
    """``python -m module args`` of this interpreter, from the repository root."""
    return subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=REPO,
        text=True,
        start_new_session=True,
        **kwargs,
    )


def read_line(process: subprocess.Popen[str], timeout: float) -> str:
    """The next line ``process`` writes, or an error after ``timeout`` seconds."""
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            raise TimeoutError(f"no answer from process {process.pid} in {timeout:.0f}s")
    line = process.stdout.readline()
    if not line:
        raise RuntimeError(f"process {process.pid} exited ({process.poll()})")
    return line


def stop(process: subprocess.Popen[Any] | None, grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds: the process and every descendant
    it left, each by its PID."""
    if process is None:
        return
    try:
        descendants = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        descendants = []
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for child in descendants:
        try:
            if child.is_running():
                os.kill(child.pid, signal.SIGKILL)
        except (psutil.NoSuchProcess, ProcessLookupError):
            pass


def run_json(module: str, specs: list[dict[str, Any]], timeout: float) -> list[dict[str, Any]]:
    """Run ``module`` once per spec, all at the same time, each reading its spec as JSON
    on stdin and writing its result as JSON on stdout."""
    started = [python_module(module, stdin=subprocess.PIPE, stdout=subprocess.PIPE) for _ in specs]
    try:
        for process, spec in zip(started, specs, strict=True):
            assert process.stdin is not None
            process.stdin.write(json.dumps(spec))
            process.stdin.close()
        results = []
        deadline = time.monotonic() + timeout
        for process in started:
            assert process.stdout is not None
            output = process.stdout.read()
            process.wait(max(0.1, deadline - time.monotonic()))
            if process.returncode != 0:
                raise RuntimeError(f"{module} exited with {process.returncode}")
            results.append(json.loads(output))
        return results
    finally:
        for process in started:
            stop(process, grace=1.0)


def tree_cpu(pid: int) -> dict[str, float]:
    """CPU seconds used so far by ``pid`` and each live descendant, each with the time of
    the children it has already reaped (PostgreSQL's backends come and go)."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return {}
    used = {}
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        used[str(process.pid)] = (
            times.user + times.system + times.children_user + times.children_system
        )
    return used


def machine_busy_cpu() -> float:
    """CPU seconds the whole machine has spent busy (all cores, all processes)."""
    times = psutil.cpu_times()
    return sum(getattr(times, name, 0.0) for name in ("user", "nice", "system", "irq", "softirq"))


def reaped_children_cpu() -> float:
    """CPU seconds of this process's finished children (pgbench, the generator)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def tree_rss(pid: int, root_role: str = "supervisor") -> dict[str, Any]:
    """Resident memory of ``pid`` and its descendants (uvicorn's supervisor, its workers,
    multiprocessing's resource tracker), keyed by role and PID."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return {"total_mb": 0.0, "processes": {}}
    sizes = {}
    for process in processes:
        try:
            rss = process.memory_info().rss
            command = " ".join(process.cmdline())
        except psutil.NoSuchProcess:
            continue
        role = root_role if process.pid == pid else "worker"
        if "resource_tracker" in command:
            role = "tracker"
        sizes[f"{role} {process.pid}"] = round(rss / MB, 1)
    return {"total_mb": round(sum(sizes.values()), 1), "processes": sizes}


@contextmanager
def sampled(measure: Callable[[], dict[str, Any]], every: float = 0.5) -> Iterator[list[Any]]:
    """Calls ``measure`` every ``every`` seconds in a thread while the block runs;
    yields the list of (seconds since start, measurement)."""
    samples: list[Any] = []
    done = threading.Event()
    started = time.monotonic()

    def loop() -> None:
        while not done.wait(every):
            samples.append((round(time.monotonic() - started, 1), measure()))

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        done.set()
        thread.join()
        samples.append((round(time.monotonic() - started, 1), measure()))


def peak(samples: list[Any]) -> dict[str, Any]:
    """The sample with the largest total."""
    if not samples:
        return {"total_mb": 0.0, "processes": {}}
    return max((s for _, s in samples), key=lambda s: s["total_mb"])
