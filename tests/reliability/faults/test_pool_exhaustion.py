"""Far more concurrent requests than pooled connections: requests queue for a connection,
those that wait longer than the pool timeout get a retriable 503 ``service_unavailable``
(never a hang, never a 500), and the service is healthy afterwards with no connection
left behind.

A fast database hands a connection back within milliseconds, so however many requests
a 2-core machine can send, few wait long for one. What exhausts pools is a database that
holds connections: here, twice, a transaction of the test's own holds one account's row
for a while (shorter than the lock timeout), and the units of work waiting for that row
keep their connections meanwhile."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.e2e.processes import serving
from tests.reliability.conftest import Report
from tests.reliability.control import ControlledPostgres, service_env
from tests.reliability.load import (
    Load,
    conclude,
    deposit,
    open_bank,
    send,
    service_client,
    under_fault,
    wait_until_ready,
)

pytestmark = pytest.mark.reliability

POOL_SIZE = 1
POOL_TIMEOUT = 0.25  # seconds
CLIENTS = 64  # each a movement then a statement read, six times
OPERATIONS = 384
HOLDS_AFTER = (40, 200)  # acknowledgements
HOLD_SECONDS = 1.5  # the lock timeout is the default 3 s
# A request waits at most POOL_TIMEOUT for each connection it asks for; a movement also
# queues in its process's group commit behind the batch ahead, which waits for the row
# at most HOLD_SECONDS. Far below this, whatever the machine's load.
ANSWER_BOUND_SECONDS = 10.0


async def test_an_exhausted_pool_answers_503_after_its_timeout_and_recovers(
    postgres: ControlledPostgres,
    database_name: str,
    service_database: str,
    env: dict[str, str],
    workdir: Path,
    reliability_report: Report,
) -> None:
    configured = service_env(
        env,
        service_database,
        pool_size=POOL_SIZE,
        max_overflow=0,
        pool_timeout=POOL_TIMEOUT,
    )

    with serving(configured, workdir, "--workers", "1") as server:
        async with service_client(server.base, connections=CLIENTS) as http:
            bank = await open_bank(http, accounts=8)
            load = Load(http, bank, clients=CLIENTS, operations=OPERATIONS, seed=4, reads=True)

            async def hold_a_row() -> None:
                for threshold in HOLDS_AFTER:
                    await load.until_acknowledged(threshold)
                    async with postgres.row_locked(database_name, bank.accounts[0]):
                        await asyncio.sleep(HOLD_SECONDS)

            await under_fault(load, hold_a_row())

            # Healthy afterwards: ready, and a new movement is acknowledged at once.
            await wait_until_ready(http)
            probe = deposit(bank.accounts[0], 1)
            await send(http, probe, bank.headers, time.monotonic() + 30)
        connections_left = postgres.backends(database_name)

    timings = [timing for operation in load.operations for timing in operation.timings]
    timings += [(read.status, read.code, read.seconds) for read in load.reads]
    waited_out = [seconds for status, code, seconds in timings if code == "service_unavailable"]
    summary = conclude(
        reliability_report,
        "pool_exhaustion",
        database_url=service_database,
        bank=bank,
        operations=[*load.operations, probe],
        env=configured,
        workdir=workdir,
        pool={"size": POOL_SIZE, "max_overflow": 0, "timeout_seconds": POOL_TIMEOUT},
        concurrent_clients=CLIENTS,
        row_held={"times": len(HOLDS_AFTER), "seconds": HOLD_SECONDS},
        reads={
            "sent": len(load.reads),
            "statuses": sorted({f"{read.status} {read.code or ''}".strip() for read in load.reads}),
            "service_unavailable": sum(read.code == "service_unavailable" for read in load.reads),
        },
        answers_503_service_unavailable=len(waited_out),
        movements_answered_503=sum(
            status == 503 for operation in load.operations for status, _, _ in operation.timings
        ),
        fastest_503_seconds=round(min(waited_out, default=0.0), 3),
        slowest_answer_of_any_request_seconds=round(max(t[2] for t in timings), 3),
        probe_after_load={"status": probe.status, "requests": probe.requests},
        connections_left=len(connections_left),
    )
    # The pool ran dry, and those who waited it out were told after the pool timeout.
    assert waited_out, f"no request waited out the pool: {summary}"
    assert min(waited_out) >= POOL_TIMEOUT * 0.9, summary
    # Never a hang, never a 500, never a dropped connection, reads included.
    assert max(seconds for _, _, seconds in timings) < ANSWER_BOUND_SECONDS
    assert {status for status, _, _ in timings} <= {200, 201, 409, 422, 503}
    assert all(
        code in ("service_unavailable", "concurrency_conflict")
        for status, code, _ in timings
        if status == 503
    )
    assert (probe.status, probe.requests) == (201, 1)
    # Every connection went back to the pool, and the pool kept to its size.
    assert len(connections_left) <= POOL_SIZE
