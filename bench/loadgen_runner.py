"""Runs the load generator in one or more processes and merges what they saw."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from bench.processes import run_json

# Time for the generator processes to start (interpreter, aiohttp) before the common
# start time they all wait for.
START_MARGIN = 1.0
REQUEST_TIMEOUT = 10.0


def run(
    base: str,
    mode: str,
    api_key: str,
    accounts: list[str],
    concurrency: int,
    warmup: float,
    duration: float,
    processes: int,
    seed: int,
) -> dict[str, Any]:
    processes = max(1, min(processes, concurrency))
    start_at = time.time() + START_MARGIN
    specs = [
        {
            "url": base,
            "mode": mode,
            "api_key": api_key,
            "accounts": accounts,
            "concurrency": concurrency // processes + (i < concurrency % processes),
            "start_at": start_at,
            "warmup": warmup,
            "duration": duration,
            "timeout": REQUEST_TIMEOUT,
            "seed": seed * 1000 + i,
        }
        for i in range(processes)
    ]
    timeout = START_MARGIN + warmup + duration + REQUEST_TIMEOUT + 30
    results = run_json("bench.loadgen", specs, timeout)
    statuses: Counter[str] = Counter()
    total: Counter[str] = Counter()
    ok: list[float] = []
    every: list[float] = []
    for result in results:
        statuses.update(result["statuses"])
        total.update(result["statuses_total"])
        ok += result["latencies_ok"]
        every += result["latencies_all"]
    return {
        "statuses": dict(statuses),
        "statuses_total": dict(total),
        "latencies_ok": ok,
        "latencies_all": every,
        "duration": duration,
        "cpu_fraction": [r["cpu_fraction"] for r in results],
    }
