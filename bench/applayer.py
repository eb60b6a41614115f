"""(c) The application layer alone (run as ``python -m bench.applayer URL``).

The production wiring (interfaces.container.Container) on the run's database, with no
HTTP in front: ``PaymentService.transfer`` called by ``concurrency`` asyncio tasks, each
with a fresh idempotency key, exactly as the transfer handler calls it. One process
plays one service worker. It reads one JSON cell spec per line on stdin and answers one
JSON result per line on stdout, so one process serves every cell.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
import uuid
from collections import Counter
from typing import Any

from dependency_injector import providers

from application.commands import TransferFunds
from bench.plan import CURRENCY, MAX_AMOUNT
from domain.errors import ConcurrencyConflictError, RuleViolationError
from infrastructure.settings import Settings
from interfaces.container import Container

# The container's transaction runners: the general one, and the one money movements use
# where the composition root gives them their own.
RUNNERS = ("runner", "payment_runner")


async def run_cell(container: Container, spec: dict[str, Any]) -> dict[str, Any]:
    payments = container.payments()
    client_id = uuid.UUID(spec["client_id"])
    accounts = [uuid.UUID(a) for a in spec["accounts"]]
    rng = random.Random(spec["seed"])
    outcomes: Counter[str] = Counter()
    window: Counter[str] = Counter()
    latencies: list[float] = []
    retries_before = retries(container)

    delay = spec["start_at"] - time.time()
    if delay > 0:
        await asyncio.sleep(delay)
    begin = time.perf_counter()
    count_from = begin + spec["warmup"]
    stop_at = count_from + spec["duration"]

    async def task() -> None:
        n = len(accounts)
        while (sent := time.perf_counter()) < stop_at:
            a = rng.randrange(n)
            b = (a + rng.randrange(1, n)) % n
            command = TransferFunds(
                client_id,
                accounts[a],
                accounts[b],
                rng.randint(1, MAX_AMOUNT),
                CURRENCY,
                None,
                uuid.uuid4().hex,
            )
            try:
                await payments.transfer(command)
                outcome = "committed"
            except ConcurrencyConflictError:
                outcome = "concurrency_conflict"
            except RuleViolationError as rejection:
                outcome = rejection.code
            except Exception as error:  # counted and reported, never hidden
                outcome = f"exception:{type(error).__name__}"
            done = time.perf_counter()
            outcomes[outcome] += 1
            if count_from <= done < stop_at:
                window[outcome] += 1
                if outcome == "committed":
                    latencies.append(done - sent)

    await asyncio.gather(*(task() for _ in range(spec["concurrency"])))
    return {
        "outcomes_total": dict(outcomes),
        "outcomes": dict(window),
        "latencies_ok": [round(x, 6) for x in latencies],
        "retries": retries(container) - retries_before,
    }


def retries(container: Container) -> int:
    """Units of work re-run so far, over every transaction runner the container has."""
    runners = {id(r): r for r in (getattr(container, n, None) for n in RUNNERS) if r is not None}
    total = 0
    for provider in runners.values():
        counters = getattr(provider(), "counters", None)
        total += getattr(counters, "retries", 0)
    return total


def main() -> None:
    try:
        import uvloop  # what uvicorn runs the service on
    except ImportError:
        loop = asyncio.new_event_loop()
    else:
        loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    url = sys.argv[1]
    container = Container(
        settings=providers.Object(Settings(database_url=url)),
        database_url=providers.Object(url),
    )
    print(json.dumps({"ready": True}), flush=True)
    try:
        for line in sys.stdin:
            if not line.strip():
                continue
            result = loop.run_until_complete(run_cell(container, json.loads(line)))
            print(json.dumps(result), flush=True)
    finally:
        loop.run_until_complete(container.engine().dispose())
        loop.close()


if __name__ == "__main__":
    main()
