"""A bounded closed-loop HTTP load generator (run as ``python -m bench.loadgen``).

Reads one JSON spec on stdin and writes one JSON result on stdout. ``concurrency``
tasks each send a request, wait for its answer and send the next, from ``start_at``
(a wall-clock time, so several generator processes start together) for ``warmup`` +
``duration`` seconds; only answers that arrive inside the last ``duration`` seconds
are counted. ``mode`` is what one operation is: ``transfer``, one POST /v1/transfers;
``hold``, a POST /v1/holds and then the capture of all of it, two requests timed and
counted as one operation whose status is the first that is not 201 (else the capture's);
``batch``, one atomic POST /v1/batches of ``BATCH_SIZE`` transfers; ``live``, GET
/health/live. Transfers and holds go between two distinct random accounts
of the list, and every POST has a fresh Idempotency-Key. Requests time out after
``timeout`` seconds, and the process stops by itself.
"""

from __future__ import annotations

import asyncio
import json
import random
import resource
import sys
import time
import uuid
from collections import Counter
from typing import Any

import aiohttp

from bench.plan import BATCH_SIZE, CURRENCY, MAX_AMOUNT


async def generate(spec: dict[str, Any]) -> dict[str, Any]:
    accounts: list[str] = spec["accounts"]
    mode = spec["mode"]
    paths = {"transfer": "/v1/transfers", "hold": "/v1/holds", "batch": "/v1/batches"}
    url = spec["url"] + paths.get(mode, "/health/live")
    auth = {"Authorization": f"Bearer {spec['api_key']}", "Content-Type": "application/json"}
    rng = random.Random(spec["seed"])
    statuses: Counter[str] = Counter()  # whole run, for the books
    window: Counter[str] = Counter()  # counted window only
    latencies: dict[str, list[float]] = {"ok": [], "all": []}

    delay = spec["start_at"] - time.time()
    if delay > 0:
        await asyncio.sleep(delay)
    begin = time.perf_counter()
    count_from = begin + spec["warmup"]
    stop_at = count_from + spec["duration"]
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)

    async def user(number: int) -> None:
        # One connection per user, like independent clients; users join one by one
        # during the warm-up rather than in one burst, which one server worker would
        # accept all of.
        await asyncio.sleep(number * ramp)
        connector = aiohttp.TCPConnector(limit=1)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            await requests(session)

    async def post(session: aiohttp.ClientSession, url: str, body: str) -> tuple[str, bytes]:
        headers = {**auth, "Idempotency-Key": uuid.uuid4().hex}
        async with session.post(url, data=body, headers=headers) as response:
            return str(response.status), await response.read()

    def transfer() -> dict[str, Any]:
        n = len(accounts)
        a = rng.randrange(n)
        b = (a + rng.randrange(1, n)) % n
        return {
            "source_account_id": accounts[a],
            "destination_account_id": accounts[b],
            "amount": rng.randint(1, MAX_AMOUNT),
            "currency": CURRENCY,
        }

    async def requests(session: aiohttp.ClientSession) -> None:
        while (sent := time.perf_counter()) < stop_at:
            try:
                if mode != "live":
                    if mode == "batch":
                        body = json.dumps({"transfers": [transfer() for _ in range(BATCH_SIZE)]})
                    else:
                        body = json.dumps(transfer())
                    status, answer = await post(session, url, body)
                    if mode == "hold" and status == "201":
                        hold = json.loads(answer)["id"]
                        status, _ = await post(session, f"{url}/{hold}/captures", "{}")
                else:
                    async with session.get(url) as response:
                        await response.read()
                        status = str(response.status)
            except (aiohttp.ClientError, TimeoutError) as error:
                status = f"exception:{type(error).__name__}"
            done = time.perf_counter()
            statuses[status] += 1
            if count_from <= done < stop_at:
                window[status] += 1
                latencies["all"].append(done - sent)
                if status in ("200", "201"):
                    latencies["ok"].append(done - sent)

    timeout = aiohttp.ClientTimeout(total=spec["timeout"])
    ramp = min(0.01, spec["warmup"] / (2 * spec["concurrency"]))
    await asyncio.gather(*(user(number) for number in range(spec["concurrency"])))
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)
    elapsed = time.perf_counter() - begin
    return {
        "statuses_total": dict(statuses),
        "statuses": dict(window),
        "latencies_ok": [round(x, 6) for x in latencies["ok"]],
        "latencies_all": [round(x, 6) for x in latencies["all"]],
        "cpu_fraction": round(cpu / elapsed, 3) if elapsed else 0.0,
    }


def main() -> None:
    spec = json.loads(sys.stdin.read())
    try:
        import uvloop  # the service's event loop too; the generator's ceiling rises with it
    except ImportError:
        result = asyncio.run(generate(spec))
    else:
        result = uvloop.run(generate(spec))
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
