"""`python -m bench [--quick]`: pgbench, the service and the application layer, in one run.

See bench/README.md. Starts its own PostgreSQL in a temporary directory and deletes it at
the end; writes bench/results/<timestamp>.json, latest.md and latest.png.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import systems
from bench.plan import BATCH_SIZE, QUICK, Plan
from bench.report import markdown, one_line
from bench.server import BenchServer

RESULTS = Path(__file__).resolve().parent / "results"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short cells, no soak (< 3 min)")
    parser.add_argument("--workers", type=int, default=2, help="`banking serve --workers`")
    parser.add_argument("--concurrency", help="comma-separated, default 1,8,32,64")
    parser.add_argument("--warmup", type=float, help="uncounted seconds at the start of a cell")
    parser.add_argument("--duration", type=float, help="counted seconds per cell")
    parser.add_argument("--soak", type=float, help="seconds of the service RSS soak; 0 skips")
    parser.add_argument("--systems", default="pgbench,service,app", help="which to run")
    parser.add_argument("--generator-processes", type=int, default=1)
    parser.add_argument(
        "--serve-command",
        help="instead of `<venv>/bin/banking serve` (gets --host/--port/--workers)",
    )
    parser.add_argument(
        "--pgbouncer",
        action="store_true",
        help="the service connects through a PgBouncer in transaction mode",
    )
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument(
        "--flame",
        type=int,
        metavar="CONCURRENCY",
        help="profile the service's cells at this concurrency with py-spy: "
        "<results>/flame-service-<distribution>-c<CONCURRENCY>.svg",
    )
    return parser.parse_args(argv)


def build_plan(args: argparse.Namespace) -> Plan:
    overrides: dict[str, Any] = dict(QUICK) if args.quick else {}
    for name in ("warmup", "duration", "soak"):
        if getattr(args, name) is not None:
            overrides[name] = getattr(args, name)
    if args.concurrency:
        overrides["concurrencies"] = tuple(int(c) for c in args.concurrency.split(","))
    chosen = tuple(s.strip() for s in args.systems.split(",") if s.strip())
    unknown = set(chosen) - {"pgbench", "service", "app"}
    if unknown:
        raise SystemExit(f"unknown systems {sorted(unknown)}: choose among pgbench, service, app")
    return Plan(
        flame_concurrency=args.flame,
        flame_dir=str(args.results),
        workers=args.workers,
        pgbouncer=args.pgbouncer,
        generator_processes=args.generator_processes,
        systems=chosen,
        **overrides,
    )


class Progress:
    def __init__(self, plan: Plan) -> None:
        cells = len(plan.cells())
        self.total = sum(
            {
                "pgbench": cells,
                # The ceilings, the cells, the hold and batch cells, the soak.
                "service": len(plan.concurrencies) + cells + 2 + (1 if plan.soak else 0),
                "app": cells,
            }[system]
            for system in plan.systems
        )
        self.count = 0
        self.started = time.monotonic()
        self.cells: list[dict[str, Any]] = []

    def step(self, label: str) -> None:
        self.count += 1
        elapsed = time.monotonic() - self.started
        print(f"[{self.count}/{self.total}] {label} ... ({elapsed:.0f}s)", flush=True)

    def done(self, result: dict[str, Any]) -> None:
        self.cells.append(result)
        print(f"        {one_line(result)}", flush=True)


def _stop_on_sigterm(number: int, frame: object) -> None:
    # Unwinds like Ctrl-C, so every `finally` stops its processes and the server.
    raise SystemExit(128 + number)


def main(argv: list[str] | None = None) -> None:
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    args = parse_args(argv)
    plan = build_plan(args)
    progress = Progress(plan)
    started = datetime.now(UTC)
    server = BenchServer()
    print(f"PostgreSQL in {server.root} (deleted at the end)", flush=True)
    meta: dict[str, Any] = {}
    running: dict[str, Any] = {}
    failure: BaseException | None = None
    try:
        server.start()
        meta["postgres"] = server.settings
        print(f"PostgreSQL {server.settings}", flush=True)
        for name in plan.systems:
            running[name] = start_system(name, server, plan, args.serve_command)
        service = running.get("service")
        if service is not None:
            for concurrency in plan.concurrencies:
                progress.step(f"generator ceiling GET /health/live c={concurrency}")
                progress.done(service.ceiling(concurrency))
        for distribution, concurrency in plan.cells():
            for name, system in running.items():
                progress.step(f"{name} {distribution.name} c={concurrency}")
                progress.done(system.run_cell(distribution, concurrency))
        if service is not None:
            distribution, concurrency = plan.hold_distribution, plan.hold_concurrency
            progress.step(f"service hold + capture {distribution.name} c={concurrency}")
            progress.done(service.run_cell(distribution, concurrency, mode="hold"))
            distribution, concurrency = plan.batch_distribution, plan.batch_concurrency
            progress.step(
                f"service atomic batches of {BATCH_SIZE} {distribution.name} c={concurrency}"
            )
            progress.done(service.run_cell(distribution, concurrency, mode="batch"))
        if service is not None and plan.soak:
            distribution, concurrency = plan.soak_distribution, plan.soak_concurrency
            progress.step(f"service soak {distribution.name} c={concurrency}, {plan.soak:g} s")
            progress.done(service.run_cell(distribution, concurrency, soak=True))
    except BaseException as error:
        failure = error
        raise
    finally:
        for system in reversed(running.values()):
            try:
                system.close()
            except Exception as error:  # the others and the server still get stopped
                print(f"could not stop {system!r} cleanly: {error!r}", flush=True)
        server.stop()
        wall = time.monotonic() - progress.started
        if progress.cells:
            write(report(args, plan, started, wall, failure, meta, progress.cells), args.results)
        if failure is None:
            print(f"Done after {wall:.0f}s: {args.results / 'latest.md'}", flush=True)
        else:
            print(f"Stopped after {wall:.0f}s ({failure!r})", flush=True)


def report(
    args: argparse.Namespace,
    plan: Plan,
    started: datetime,
    wall: float,
    failure: BaseException | None,
    meta: dict[str, Any],
    cells: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "started": started.isoformat(),
        "mode": "quick" if args.quick else "full",
        "wall_seconds": round(wall, 1),
        "incomplete": None if failure is None else repr(failure),
        "plan": dataclasses.asdict(plan),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": sys.version.split()[0],
            **meta,
        },
        "cells": cells,
    }


def start_system(name: str, server: BenchServer, plan: Plan, serve_command: str | None) -> Any:
    print(f"Starting {name} ...", flush=True)
    if name == "pgbench":
        return systems.Pgbench(server, plan)
    if name == "service":
        return systems.HttpService(server, plan, serve_command)
    return systems.AppLayer(server, plan)


def write(run: dict[str, Any], directory: Path) -> None:
    """The JSON always; latest.md and latest.png only for a run that finished."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.fromisoformat(run["started"]).strftime("%Y%m%dT%H%M%SZ")
    suffix = "-incomplete" if run["incomplete"] else ""
    name = f"{stamp}-{run['mode']}{suffix}.json"
    (directory / name).write_text(json.dumps(run, indent=1))
    if run["incomplete"]:
        print(f"Incomplete run: only {directory / name} written", flush=True)
        return
    (directory / "latest.md").write_text(markdown(run))
    try:
        from bench.chart import chart
    except ImportError as missing:  # matplotlib is in the `bench` extra
        print(f"no chart: {missing}", flush=True)
        return
    chart(run, directory / "latest.png")
