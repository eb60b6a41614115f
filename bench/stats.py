"""Latency percentiles and the counts every system reports the same way."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentiles_ms(latencies: Sequence[float]) -> dict[str, float | None]:
    """p50/p95/p99/max of latencies given in seconds, in milliseconds (nearest rank)."""
    if not latencies:
        return {"p50": None, "p95": None, "p99": None, "max": None, "mean": None}
    ordered = sorted(latencies)

    def rank(p: float) -> float:
        index = max(0, math.ceil(p / 100 * len(ordered)) - 1)
        return round(ordered[index] * 1000, 2)

    return {
        "p50": rank(50),
        "p95": rank(95),
        "p99": rank(99),
        "max": round(ordered[-1] * 1000, 2),
        "mean": round(sum(ordered) / len(ordered) * 1000, 2),
    }


def rate(part: int, whole: int) -> float:
    return part / whole if whole else 0.0
