"""The run as markdown: the table per cell, each system's details, the books, the targets."""

from __future__ import annotations

from typing import Any

from bench.plan import BATCH_SIZE

# Issue 5: "a typical FastAPI + SQLAlchemy implementation on uniform load (~250/s here)".
TYPICAL_SERVICE_TPS = 250.0
NONE = "-"


def _ms(latency: dict[str, Any], key: str) -> str:
    value = latency.get(key)
    return NONE if value is None else f"{value:.1f}"


def _latencies(result: dict[str, Any]) -> str:
    latency = result.get("latency_ms", {})
    return "/".join(_ms(latency, k) for k in ("p50", "p95", "p99"))


def _errors(result: dict[str, Any]) -> str:
    errors = result.get("errors") or {}
    return ", ".join(f"{k}: {v}" for k, v in sorted(errors.items())) or "0"


def _books(result: dict[str, Any]) -> str:
    books = result.get("books")
    if books is None:
        return NONE
    return "ok" if books["ok"] else "BROKEN"


def one_line(result: dict[str, Any]) -> str:
    system = result["system"]
    if system == "generator":
        cpu = "/".join(f"{c:.0%}" for c in result["generator_cpu"])
        return (
            f"{result['tps']:.0f} req/s, p50/p95/p99 {_latencies(result)} ms, generator CPU {cpu}"
        )
    unit = "hold + capture pairs" if system == "hold" else "transfers"
    if system == "batch":
        unit = f"transfers in batches of {BATCH_SIZE}"
    text = f"{result['tps']:.1f} {unit}/s, p50/p95/p99 {_latencies(result)} ms"
    if system == "pgbench":
        text += f", failed after retries {result['failed']}"
    else:
        text += f", 503 {result['rate_503']:.2%}, errors {_errors(result)}"
    text += f", retries/transfer {result['retries_per_transfer']:.2f}"
    db = result.get("db") or {}
    if db.get("statements_per_transfer") is not None:
        text += f", {db['statements_per_transfer']:.1f} statements/transfer"
    if result.get("rss"):
        text += f", RSS {result['rss']['total_mb']:.0f} MB"
    if result.get("cpu_cores"):
        text += f", CPU cores {cpu_text(result)}"
    return text + f", books {_books(result)}"


def cpu_text(result: dict[str, Any]) -> str:
    """PostgreSQL / the system's processes (each) / the client, in cores."""
    cores = result.get("cpu_cores")
    if not cores:
        return NONE
    each = "+".join(f"{v:.2f}" for v in cores["system_processes"].values() if v >= 0.01)
    system = f"{cores['system']:.2f}" + (f" ({each})" if "+" in each else "")
    return (
        f"PG {cores['postgres']:.2f} / system {system} / client {cores['client']:.2f}"
        f" / other {cores.get('other', 0.0):.2f}"
    )


def _by(cells: list[dict[str, Any]], system: str) -> dict[tuple[str, int], dict[str, Any]]:
    return {(c["distribution"], c["concurrency"]): c for c in cells if c["system"] == system}


def _tps(cell: dict[str, Any] | None) -> str:
    return NONE if cell is None else f"{cell['tps']:.0f}"


def _ratio(part: dict[str, Any] | None, whole: dict[str, Any] | None) -> str:
    if part is None or whole is None or not whole["tps"]:
        return NONE
    return f"{part['tps'] / whole['tps']:.2f}"


def markdown(report: dict[str, Any]) -> str:
    cells = report["cells"]
    plan, machine = report["plan"], report["machine"]
    pgbench, service, app = (_by(cells, s) for s in ("pgbench", "service", "app"))
    keys = list(
        dict.fromkeys(
            (c["distribution"], c["concurrency"])
            for c in cells
            if c["system"] in ("pgbench", "service", "app")
        )
    )
    pg = machine.get("postgres", {})
    lines = [
        f"# Benchmark run {report['started'][:19]}Z "
        f"({report['mode']}, {report['wall_seconds']:.0f} s)",
        "",
        f"{machine['cpus']} cores shared by the load generator, the service and PostgreSQL "
        f"{pg.get('server_version', '?')} (fsync={pg.get('fsync', '?')}, "
        f"synchronous_commit={pg.get('synchronous_commit', '?')}). Service: `banking serve "
        f"--workers {plan['workers']}`; app: {plan['workers']} processes. Each cell: "
        f"{plan['warmup']:g} s warm-up, then {plan['duration']:g} s counted. Latencies are "
        "of committed transfers, in ms. Uniform: 10,000 accounts; hot: 10. "
        f"{_other_load(cells)}",
        "",
        "| cell | pgbench tps | service tps | service/pgbench | app tps | app/pgbench "
        "| service p50/p95/p99 | 503 rate | errors | retries/transfer (metrics / server log) "
        "| statements/transfer | RSS MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key in keys:
        p, s, a = pgbench.get(key), service.get(key), app.get(key)
        http = [NONE] * 6
        if s:
            db = s.get("db") or {}
            logged = db.get("serialization_failures_per_transfer")
            statements = db.get("statements_per_transfer")
            http = [
                _latencies(s),
                f"{s['rate_503']:.2%}",
                _errors(s),
                f"{s['retries_per_transfer']:.2f} / "
                + (NONE if logged is None else f"{logged:.2f}"),
                NONE if statements is None else f"{statements:.1f}",
                f"{s['rss']['total_mb']:.0f}",
            ]
        lines.append(
            f"| {key[0]} c={key[1]} | {_tps(p)} | {_tps(s)} | {_ratio(s, p)} | {_tps(a)} "
            f"| {_ratio(a, p)} | " + " | ".join(http) + " |"
        )
    lines += ["", *_holds(cells, service), "", *_batches(cells, service)]
    lines += ["", *_details(cells), "", *_ceiling(cells)]
    lines += ["", *_books_section(cells)]
    lines += ["", *targets(cells), "", *_soak(cells)]
    return "\n".join(lines).rstrip() + "\n"


def _other_load(cells: list[dict[str, Any]]) -> str:
    """How much CPU something else took while the cells ran: numbers are lower for it."""
    other = [c["cpu_cores"]["other"] for c in cells if c.get("cpu_cores")]
    if not other:
        return ""
    mean = sum(other) / len(other)
    text = f"Other processes on the machine used {mean:.2f} cores on average during the cells"
    if mean < 0.2:
        return text + "."
    return text + " (of 2): the machine was not quiet, and every system here ran slower for it."


def _holds(
    cells: list[dict[str, Any]], service: dict[tuple[str, int], dict[str, Any]]
) -> list[str]:
    """The hold + capture cell, beside the service's transfers in the same cell."""
    hold = next((c for c in cells if c["system"] == "hold"), None)
    if hold is None:
        return []
    key = (hold["distribution"], hold["concurrency"])
    latency = hold["latency_ms"]
    return [
        "## Hold + capture (two requests)",
        "",
        "One operation is `POST /v1/holds` and then `POST /v1/holds/{id}/captures` of all of "
        "it, each with a fresh Idempotency-Key; its latency is the pair's. Beside it, the "
        "service's transfers (one request each) in the same cell of this run.",
        "",
        "| cell | hold + capture pairs/s | pair p50/p99 ms | 503 rate | errors "
        "| transfers/s | pairs/s ÷ transfers/s |",
        "|---|---|---|---|---|---|---|",
        f"| {key[0]} c={key[1]} | {_tps(hold)} | {_ms(latency, 'p50')}/{_ms(latency, 'p99')} "
        f"| {hold['rate_503']:.2%} | {_errors(hold)} | {_tps(service.get(key))} "
        f"| {_ratio(hold, service.get(key))} |",
    ]


def _batches(
    cells: list[dict[str, Any]], service: dict[tuple[str, int], dict[str, Any]]
) -> list[str]:
    """The atomic batch cell, beside the service's single transfers in the same cell."""
    batch = next((c for c in cells if c["system"] == "batch"), None)
    if batch is None:
        return []
    key = (batch["distribution"], batch["concurrency"])
    latency = batch["latency_ms"]
    return [
        f"## Atomic batches of {BATCH_SIZE} transfers",
        "",
        f"One operation is `POST /v1/batches` of {BATCH_SIZE} transfers between random "
        "accounts, atomic, with a fresh Idempotency-Key; it counts as that many transfers. "
        "Beside it, the service's single transfers (one request each) in the same cell.",
        "",
        "| cell | transfers/s in batches | batches/s | batch p50/p99 ms | 503 rate | errors "
        "| single transfers/s | batched ÷ single |",
        "|---|---|---|---|---|---|---|---|",
        f"| {key[0]} c={key[1]} | {_tps(batch)} | {batch['batches_per_second']:.0f} "
        f"| {_ms(latency, 'p50')}/{_ms(latency, 'p99')} | {batch['rate_503']:.2%} "
        f"| {_errors(batch)} | {_tps(service.get(key))} | {_ratio(batch, service.get(key))} |",
    ]


def _details(cells: list[dict[str, Any]]) -> list[str]:
    lines = [
        "## Every system, every cell",
        "",
        "Failed: pgbench transactions failed after 10 tries; service 503; app "
        "`concurrency_conflict`. Statements and transactions per committed transfer are "
        "counted by pg_stat_statements (BEGIN and COMMIT included; pool pre-pings, empty "
        "queries, are not; a pipelined executemany counts each row's statement), pgbench's "
        "BEGIN/COMMIT from its log; serialization failures by the server log. CPU cores: "
        "PostgreSQL / the system under test (each process) / the client (pgbench or the "
        "load generator) / everything else on the machine (the benchmark's own process, "
        "other users), over the whole cell.",
        "",
        "| system | cell | tps | p50/p95/p99 | failed | errors | retries/transfer "
        "| statements/transfer | transactions/transfer | DB ms/transfer "
        "| serialization failures/transfer | CPU cores | books |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in cells:
        if c["system"] not in ("pgbench", "service", "app", "hold", "batch", "soak"):
            continue
        db = c.get("db") or {}
        failed = c["failed"] if c["system"] == "pgbench" else c["count_503"]

        def num(key: str, db: dict[str, Any] = db) -> str:
            return NONE if db.get(key) is None else f"{db[key]:.2f}"

        lines.append(
            f"| {c['system']} | {c['distribution']} c={c['concurrency']} | {c['tps']:.0f} "
            f"| {_latencies(c)} | {failed} | {_errors(c)} | {c['retries_per_transfer']:.2f} "
            f"| {num('statements_per_transfer')} | {num('transactions_per_transfer')} "
            f"| {num('db_time_ms_per_transfer')} | {num('serialization_failures_per_transfer')} "
            f"| {cpu_text(c)} | {_books(c)} |"
        )
    return lines


def _ceiling(cells: list[dict[str, Any]]) -> list[str]:
    rows = [c for c in cells if c["system"] == "generator"]
    if not rows:
        return []
    lines = [
        "## The load generator's own ceiling (GET /health/live on the same service)",
        "",
        "| concurrency | requests/s | p50/p95/p99 (ms) | generator CPU |",
        "|---|---|---|---|",
    ]
    for c in rows:
        cpu = "/".join(f"{x:.0%}" for x in c["generator_cpu"])
        lines.append(f"| {c['concurrency']} | {c['tps']:.0f} | {_latencies(c)} | {cpu} |")
    return lines


def _books_section(cells: list[dict[str, Any]]) -> list[str]:
    checked = [c for c in cells if c.get("books")]
    broken = [c for c in checked if not c["books"]["ok"]]
    lines = ["## The books after every cell", ""]
    if not broken:
        lines.append(
            f"All {len(checked)} checks passed: every invariant of `banking reconcile`, "
            "the customers' total unchanged, and the transfers in the database (captures "
            "included) exactly those reported committed."
        )
    for c in broken:
        b = c["books"]
        lines.append(
            f"- {c['system']} {c['distribution']} c={c['concurrency']}: invariants "
            f"{'hold' if b['invariants_hold'] else 'VIOLATED'}, money "
            f"{'conserved' if b['money_conserved'] else 'NOT conserved'}, transfers "
            f"{b['transfers']} in the database vs {b['expected_transfers']} reported; "
            f"{'; '.join(b['violations'][:3])}"
        )
    return lines


def targets(cells: list[dict[str, Any]]) -> list[str]:
    pgbench, service = _by(cells, "pgbench"), _by(cells, "service")
    lines = ["## Issue 5's targets in this run", "", "| target | measured | met |", "|---|---|---|"]

    def row(target: str, measured: str, met: bool | None) -> None:
        mark = NONE if met is None else ("yes" if met else "**no**")
        lines.append(f"| {target} | {measured} | {mark} |")

    hot_s, hot_p = service.get(("hot", 32)), pgbench.get(("hot", 32))
    if hot_s and hot_p:
        row(
            "hot c=32: service ≥ pgbench",
            f"{hot_s['tps']:.0f} vs {hot_p['tps']:.0f}/s",
            hot_s["tps"] >= hot_p["tps"],
        )
        other_5xx = sum(v for k, v in hot_s["errors"].items() if k.startswith("5"))
        row(
            "hot c=32: zero failed transfers (errors other than 503)",
            _errors(hot_s),
            not hot_s["errors"],
        )
        row("hot c=32: zero 5xx other than 503", str(other_5xx), other_5xx == 0)
        row("hot c=32: 503 rate < 0.1 %", f"{hot_s['rate_503']:.2%}", hot_s["rate_503"] < 0.001)
        p99 = hot_s["latency_ms"]["p99"]
        row("hot c=32: p99 < 100 ms", f"{p99} ms", p99 is not None and p99 < 100)
    uni_s, uni_p = service.get(("uniform", 32)), pgbench.get(("uniform", 32))
    if uni_s and uni_p:
        row(
            "uniform c=32: service ≥ 50 % of pgbench",
            _ratio(uni_s, uni_p),
            uni_s["tps"] >= 0.5 * uni_p["tps"],
        )
        row(
            "uniform c=32: ≥ 3 x a typical service (750/s)",
            f"{uni_s['tps']:.0f}/s",
            uni_s["tps"] >= 3 * TYPICAL_SERVICE_TPS,
        )
    checked = [c for c in cells if c.get("books")]
    if checked:
        broken = sum(1 for c in checked if not c["books"]["ok"])
        row("no invariant ever broken", f"{broken} of {len(checked)} checks failed", not broken)
    soak = next((c for c in cells if c["system"] == "soak"), None)
    growth = rss_growth(soak) if soak else None
    row(
        "RSS per worker stable over a 60 s run",
        "not run (quick mode)" if growth is None else growth[0],
        None if growth is None else growth[1],
    )
    return lines


def rss_growth(soak: dict[str, Any]) -> tuple[str, bool] | None:
    """Each process's RSS growth over the second half of the soak (after warm-up)."""
    samples = soak.get("rss_samples") or []
    if len(samples) < 3:
        return None
    middle, last = samples[len(samples) // 2][1]["processes"], samples[-1][1]["processes"]
    growth = {pid: last[pid] - middle[pid] for pid in last if pid in middle}
    text = ", ".join(f"{pid}: {middle[pid]:.1f} → {last[pid]:.1f} MB" for pid in growth)
    stable = all(g <= max(2.0, 0.02 * middle[pid]) for pid, g in growth.items())
    return f"second half of {soak['concurrency']}-task soak: {text}", stable


def _soak(cells: list[dict[str, Any]]) -> list[str]:
    soak = next((c for c in cells if c["system"] == "soak"), None)
    if soak is None:
        return []
    lines = [
        f"## Service soak: {soak['distribution']} c={soak['concurrency']}, RSS per process (MB)",
        "",
        "| seconds | " + " | ".join(soak["rss"]["processes"]) + " |",
        "|---|" + "---|" * len(soak["rss"]["processes"]),
    ]
    for seconds, sample in soak.get("rss_samples") or []:
        sizes = [f"{sample['processes'].get(p, 0):.1f}" for p in soak["rss"]["processes"]]
        lines.append(f"| {seconds:g} | " + " | ".join(sizes) + " |")
    return lines
