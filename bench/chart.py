"""latest.png: throughput and p99 against concurrency, one column per distribution."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter, NullFormatter

PLAIN = FuncFormatter(lambda value, _: f"{value:g}")
# On a log axis, label the minor ticks at 2, 3 and 5 times a power of ten only.
SPARSE = FuncFormatter(
    lambda value, _: f"{value:g}" if f"{value:e}"[0] in "235" and value > 0 else ""
)

SYSTEMS = {
    "pgbench": ("pgbench (SQL ceiling)", "tab:gray", "s"),
    "service": ("service (HTTP)", "tab:blue", "o"),
    "app": ("application layer (no HTTP)", "tab:orange", "^"),
}


def chart(report: dict[str, Any], path: Path) -> None:
    cells = [c for c in report["cells"] if c["system"] in SYSTEMS]
    distributions = list(dict.fromkeys(c["distribution"] for c in cells))
    if not distributions:
        return
    figure, axes = plt.subplots(
        2, len(distributions), figsize=(6 * len(distributions), 8), squeeze=False
    )
    for column, distribution in enumerate(distributions):
        mine = [c for c in cells if c["distribution"] == distribution]
        accounts = mine[0]["accounts"]
        for system, (label, colour, marker) in SYSTEMS.items():
            points = sorted(
                (c["concurrency"], c["tps"], c["latency_ms"]["p99"])
                for c in mine
                if c["system"] == system
            )
            if not points:
                continue
            xs = [p[0] for p in points]
            style = {"label": label, "color": colour, "marker": marker}
            axes[0][column].plot(xs, [p[1] for p in points], **style)
            axes[1][column].plot(xs, [p[2] for p in points], **style)
        axes[0][column].set_title(f"{distribution} ({accounts:,} accounts)")
        axes[0][column].set_ylabel("committed transfers/s")
        axes[1][column].set_ylabel("p99 latency (ms)")
        for row in (0, 1):
            axis = axes[row][column]
            axis.set_xscale("log", base=2)
            axis.set_yscale("log")
            axis.set_xticks([c["concurrency"] for c in mine], minor=False)
            axis.xaxis.set_major_formatter(PLAIN)
            axis.xaxis.set_minor_formatter(NullFormatter())
            axis.yaxis.set_major_formatter(PLAIN)
            axis.yaxis.set_minor_formatter(SPARSE)
            axis.tick_params(axis="y", which="minor", labelsize="x-small")
            axis.set_xlabel("concurrency")
            axis.grid(True, which="both", alpha=0.3)
            axis.legend(fontsize="small")
    figure.suptitle(
        f"banking transfers, {report['started'][:16]}Z ({report['mode']}), "
        f"{report['machine']['cpus']} cores, service --workers {report['plan']['workers']}"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
