"""The three systems, each on its own fresh copy of the same seeded books.

The run interleaves them cell by cell (pgbench, service, app on the same cell, back to
back), so that a ratio compares numbers taken a few seconds apart: this machine's disk
flush latency drifts over minutes. Every cell starts with a checkpoint, takes the
database's counters before and after, and ends with the books checked.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from subprocess import PIPE, Popen, TimeoutExpired
from typing import Any

from sqlalchemy.engine import make_url

from bench import loadgen_runner
from bench.checks import reconcile
from bench.flame import profiled
from bench.pgbench import run_pgbench
from bench.plan import BATCH_SIZE, Distribution, Plan, account_id
from bench.processes import (
    machine_busy_cpu,
    peak,
    python_module,
    read_line,
    reaped_children_cpu,
    sampled,
    stop,
    tree_cpu,
    tree_rss,
)
from bench.seed import create_client_row, seed_accounts
from bench.server import BenchServer
from bench.service import Service
from bench.stats import percentiles_ms, rate
from tests.pgbouncer import pgbouncer


class Books:
    """One system's database: seeded once, checked after every cell."""

    def __init__(self, server: BenchServer, system: str, accounts: int) -> None:
        self.server, self.name, self.accounts = server, f"bench_{system}", accounts
        self.url = server.create_database(self.name)
        self.committed = 0  # transfers the system reported committed, whole runs

    def seed(self, owner: uuid.UUID | None = None) -> uuid.UUID:
        with self.server.connect(self.name) as connection:
            client = owner or create_client_row(connection, self.name)
            seed_accounts(connection, client, self.accounts)
        return client

    def measure(
        self, run: Callable[[], dict[str, Any]], system_pids: Callable[[], list[int]]
    ) -> dict[str, Any]:
        self.server.checkpoint()
        before = self.server.snapshot(self.name)
        cpu_before, started = self._cpu(system_pids()), time.monotonic()
        result = run()
        cpu_after, elapsed = self._cpu(system_pids()), time.monotonic() - started
        after = self.server.snapshot(self.name)
        self.committed += result["committed_total"]
        control = result.pop("transaction_control_statements", None)
        result["db"] = self.server.delta(before, after, result["committed_total"], control)
        result["cpu_cores"] = _cores(cpu_before, cpu_after, elapsed)
        result["books"] = reconcile(self.url, self.accounts, self.committed)
        return result

    def _cpu(self, system_pids: list[int]) -> dict[str, Any]:
        """CPU seconds so far: PostgreSQL, the client (pgbench or the generator, once
        finished) and each process of the system under test."""
        system: dict[str, float] = {}
        for pid in system_pids:
            system.update(tree_cpu(pid))
        return {
            "postgres": sum(tree_cpu(self.server.postmaster_pid()).values()),
            "client": reaped_children_cpu(),
            "system": system,
            "machine": machine_busy_cpu(),
        }


def _cores(before: dict[str, Any], after: dict[str, Any], elapsed: float) -> dict[str, Any]:
    """CPU used during ``elapsed`` seconds, in cores (1.0 = one core busy)."""

    def cores(seconds: float) -> float:
        return round(seconds / elapsed, 2)

    processes = {
        pid: cores(used - before["system"].get(pid, 0.0)) for pid, used in after["system"].items()
    }
    accounted = {
        "postgres": cores(after["postgres"] - before["postgres"]),
        "client": cores(after["client"] - before["client"]),
        "system": round(sum(processes.values()), 2),
    }
    machine = cores(after["machine"] - before["machine"])
    return {
        **accounted,
        "system_processes": processes,
        "machine": machine,
        # Anything else that ran: this process, and whatever else shares the machine.
        "other": round(machine - sum(accounted.values()), 2),
    }


def account_ids(distribution: Distribution) -> list[str]:
    return [str(account_id(n)) for n in range(1, distribution.accounts + 1)]


def cell(system: str, distribution: Distribution | None, concurrency: int) -> dict[str, Any]:
    return {
        "system": system,
        "distribution": distribution.name if distribution else None,
        "accounts": distribution.accounts if distribution else None,
        "concurrency": concurrency,
    }


class Pgbench:
    """(a) The ceiling."""

    def __init__(self, server: BenchServer, plan: Plan) -> None:
        self.server, self.plan = server, plan
        self.books = Books(server, "pgbench", plan.seeded_accounts)
        self.books.seed()

    def run_cell(self, distribution: Distribution, concurrency: int) -> dict[str, Any]:
        result = self.books.measure(
            lambda: run_pgbench(
                self.server,
                self.books.name,
                distribution,
                concurrency,
                self.plan.warmup,
                self.plan.duration,
            ),
            list,
        )
        return {**cell("pgbench", distribution, concurrency), **result}

    def close(self) -> None:
        pass


class HttpService:
    """(b) `banking serve` under the closed-loop generator."""

    def __init__(self, server: BenchServer, plan: Plan, command: str | None) -> None:
        self.plan = plan
        self.books = Books(server, "service", plan.seeded_accounts)
        self._pooler = ExitStack()
        url = self.books.url
        if plan.pgbouncer:
            pooled = self._pooler.enter_context(pgbouncer(make_url(server.url)))
            url = pooled.set(database=make_url(url).database).render_as_string(False)
        self.service = Service(url, plan.workers, server.root / "service.log", command)
        try:
            self.service.start()
            client_id, self.api_key = self.service.create_client("bench")
            self.books.seed(uuid.UUID(client_id))
        except BaseException:
            self.close()
            raise

    def ceiling(self, concurrency: int) -> dict[str, Any]:
        generated = loadgen_runner.run(
            self.service.base,
            "live",
            self.api_key,
            [],
            concurrency,
            self.plan.ceiling_warmup,
            self.plan.ceiling_duration,
            self.plan.generator_processes,
            self.plan.seed,
        )
        return {**cell("generator", None, concurrency), **http_summary(generated, "200")}

    def run_cell(
        self,
        distribution: Distribution,
        concurrency: int,
        soak: bool = False,
        mode: str = "transfer",
    ) -> dict[str, Any]:
        """One cell; ``mode="hold"``: each operation is a hold and its capture;
        ``mode="batch"``: an atomic batch of BATCH_SIZE transfers, counted as that many
        transfers (``batches_per_second`` keeps the requests' rate)."""
        warmup = self.plan.warmup
        duration = self.plan.soak if soak else self.plan.duration

        def run() -> dict[str, Any]:
            before = self.service.counters()
            with sampled(self.service.rss, every=5.0 if soak else 0.5) as samples:
                generated = loadgen_runner.run(
                    self.service.base,
                    mode,
                    self.api_key,
                    account_ids(distribution),
                    concurrency,
                    warmup,
                    duration,
                    self.plan.generator_processes,
                    self.plan.seed + concurrency,
                )
            after = self.service.counters()
            result = http_summary(generated, "201")
            if mode == "batch":
                result["batches_per_second"] = result["tps"]
                result["tps"] = round(result["tps"] * BATCH_SIZE, 1)
                result["committed"] *= BATCH_SIZE
                result["committed_total"] *= BATCH_SIZE
            retries = after["retries"] - before["retries"]
            result.update(
                retries=retries,
                retries_per_transfer=round(rate(int(retries), result["committed_total"]), 3),
                conflicts_metric=after["conflicts"] - before["conflicts"],
                metrics_registries_seen=after["registries_seen"],
                rss=peak(samples),
                rss_samples=samples if soak else None,
            )
            return result

        system = "soak" if soak else mode if mode in ("hold", "batch") else "service"
        measure = run
        process = self.service.process
        flamed = system == "service" and concurrency == self.plan.flame_concurrency
        if flamed and process is not None:
            directory = Path(self.plan.flame_dir or ".")
            output = directory / f"flame-service-{distribution.name}-c{concurrency}.svg"

            def measure() -> dict[str, Any]:
                with profiled(process.pid, warmup + duration, output):
                    return {**run(), "flame_graph": output.name}

        measured = self.books.measure(measure, self._pids)
        return {**cell(system, distribution, concurrency), **measured}

    def _pids(self) -> list[int]:
        process = self.service.process
        return [process.pid] if process else []

    def close(self) -> None:
        try:
            self.service.stop()
        finally:
            self._pooler.close()


def http_summary(generated: dict[str, Any], ok: str) -> dict[str, Any]:
    window: Counter[str] = Counter(generated["statuses"])
    answered = sum(window.values())
    return {
        "tps": round(window[ok] / generated["duration"], 1),
        "committed": window[ok],
        "committed_total": generated["statuses_total"].get(ok, 0),
        "rate_503": rate(window["503"], answered),
        "count_503": window["503"],
        "errors": {k: v for k, v in window.items() if k not in (ok, "503")},
        "latency_ms": percentiles_ms(generated["latencies_ok"]),
        "latency_all_ms": percentiles_ms(generated["latencies_all"]),
        "generator_cpu": generated["cpu_fraction"],
    }


class AppLayer:
    """(c) PaymentService on the PostgreSQL unit of work, one process per service worker."""

    def __init__(self, server: BenchServer, plan: Plan) -> None:
        self.plan = plan
        self.books = Books(server, "app", plan.seeded_accounts)
        self.client_id = str(self.books.seed())
        self.workers: list[Popen[str]] = []
        try:
            for _ in range(plan.workers):
                log = (server.root / f"app-{len(self.workers)}.log").open("w")
                self.workers.append(
                    python_module(
                        "bench.applayer", self.books.url, stdin=PIPE, stdout=PIPE, stderr=log
                    )
                )
                log.close()  # the child has its own copy
            for worker in self.workers:
                read_line(worker, timeout=60)  # {"ready": true}
        except BaseException:
            self.close()
            raise

    def rss(self) -> dict[str, Any]:
        parts = [tree_rss(worker.pid, "app") for worker in self.workers]
        merged = {pid: mb for part in parts for pid, mb in part["processes"].items()}
        return {"total_mb": round(sum(merged.values()), 1), "processes": merged}

    def run_cell(self, distribution: Distribution, concurrency: int) -> dict[str, Any]:
        plan, count = self.plan, len(self.workers)

        def run() -> dict[str, Any]:
            start_at = time.time() + 0.3
            shares = [concurrency // count + (i < concurrency % count) for i in range(count)]
            busy = [(w, n) for w, n in zip(self.workers, shares, strict=True) if n]
            for i, (worker, tasks) in enumerate(busy):
                spec = {
                    "client_id": self.client_id,
                    "accounts": account_ids(distribution),
                    "concurrency": tasks,
                    "start_at": start_at,
                    "warmup": plan.warmup,
                    "duration": plan.duration,
                    "seed": plan.seed + 100 * concurrency + i,
                }
                assert worker.stdin is not None
                worker.stdin.write(json.dumps(spec) + "\n")
                worker.stdin.flush()
            with sampled(self.rss) as samples:
                deadline = plan.warmup + plan.duration + 60
                answers = [json.loads(read_line(w, deadline)) for w, _ in busy]
            return app_summary(answers, plan.duration, peak(samples))

        pids = [worker.pid for worker in self.workers]
        return {**cell("app", distribution, concurrency), **self.books.measure(run, lambda: pids)}

    def close(self) -> None:
        for worker in self.workers:
            if worker.stdin is not None:
                worker.stdin.close()  # end of input: the worker disposes of its pool and exits
        for worker in self.workers:
            with contextlib.suppress(TimeoutExpired):
                worker.wait(5.0)
            stop(worker, grace=5.0)


def app_summary(answers: list[dict[str, Any]], duration: float, rss: Any) -> dict[str, Any]:
    window: Counter[str] = Counter()
    total: Counter[str] = Counter()
    latencies: list[float] = []
    for answer in answers:
        window.update(answer["outcomes"])
        total.update(answer["outcomes_total"])
        latencies += answer["latencies_ok"]
    retries = sum(answer["retries"] for answer in answers)
    refused = ("committed", "concurrency_conflict")
    return {
        "tps": round(window["committed"] / duration, 1),
        "committed": window["committed"],
        "committed_total": total["committed"],
        "rate_503": rate(window["concurrency_conflict"], sum(window.values())),
        "count_503": window["concurrency_conflict"],
        "errors": {k: v for k, v in window.items() if k not in refused},
        "retries": retries,
        "retries_per_transfer": round(rate(retries, total["committed"]), 3),
        "latency_ms": percentiles_ms(latencies),
        "rss": rss,
    }
