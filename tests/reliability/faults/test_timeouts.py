"""A lock timeout or a statement timeout hit while another transaction holds an account's
row: the request fails within the configured time with a retriable 503 problem, writes
nothing (no balance, version, entry, transfer or idempotency record), and the same
request with the same key, once the row is free, is applied exactly once. Then the same
under load: the row is held again and again while clients move money on every account."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from tests.api.helpers import assert_problem
from tests.e2e.processes import serving
from tests.reliability.conftest import Report
from tests.reliability.control import ControlledPostgres, service_env
from tests.reliability.load import (
    FUNDING,
    Load,
    conclude,
    open_bank,
    service_client,
    transfer,
    under_fault,
)

pytestmark = pytest.mark.reliability

SHORT_MS = 400  # the timeout under test
LONG_MS = 5000  # the other one, out of the way
# From the request to its answer, beyond the timeout itself: the HTTP round trip, the
# queue in front of the unit of work, the rollback (generous for a loaded 2-core box).
SLACK_SECONDS = 1.5
# Under load a request may queue behind a batch that is itself waiting for the row.
QUEUE_BOUND_SECONDS = 4 * SHORT_MS / 1000 + SLACK_SECONDS
CLIENTS = 12
OPERATIONS = 240
HOLDS = 3  # of the first account's row, under load
# Long enough that a batch split after its lock timeout (its members then run again one
# by one) still finds the row held: the timeout is hit, not raced.
HOLD_SECONDS = 2.0


def snapshot(postgres: ControlledPostgres, database: str) -> tuple[Any, ...]:
    """Everything a transfer could write, read from outside the service."""
    with postgres.connect(database) as connection:
        return tuple(
            connection.execute(query).fetchall()
            for query in (
                "SELECT id, balance, version FROM accounts ORDER BY id",
                "SELECT count(*) FROM transfers",
                "SELECT count(*) FROM entries",
                "SELECT count(*) FROM idempotency_keys",
            )
        )


@pytest.mark.parametrize(
    ("limit", "settings"),
    [
        ("lock_timeout", {"lock_timeout_ms": SHORT_MS, "statement_timeout_ms": LONG_MS}),
        ("statement_timeout", {"lock_timeout_ms": LONG_MS, "statement_timeout_ms": SHORT_MS}),
    ],
)
async def test_a_timeout_on_a_held_row_fails_cleanly_and_the_retry_applies_once(
    limit: str,
    settings: dict[str, int],
    postgres: ControlledPostgres,
    database_name: str,
    service_database: str,
    env: dict[str, str],
    workdir: Path,
    reliability_report: Report,
) -> None:
    configured = service_env(env, service_database, **settings)

    with serving(configured, workdir) as server:
        async with service_client(server.base) as http:
            bank = await open_bank(http, accounts=6)
            source, destination = bank.accounts[:2]
            operation = transfer(source, destination, 2500)
            headers = {**bank.headers, "Idempotency-Key": operation.key}
            before = snapshot(postgres, database_name)

            # When another transaction holds the source's row past the timeout
            async with postgres.row_locked(database_name, source):
                started = time.monotonic()
                refused = await http.post(operation.path, json=operation.body, headers=headers)
                elapsed = time.monotonic() - started
                during = snapshot(postgres, database_name)

            # Then the same request, once the row is free, is applied; a repeat replays it
            applied = await http.post(operation.path, json=operation.body, headers=headers)
            replayed = await http.post(operation.path, json=operation.body, headers=headers)
            balances = [
                (await http.get(f"/v1/accounts/{account}", headers=bank.headers)).json()
                for account in (source, destination)
            ]

            # And under load, the row held again and again
            load = Load(http, bank, clients=CLIENTS, operations=OPERATIONS, seed=5)

            async def hold_the_row() -> None:
                for hold in range(HOLDS):
                    await load.until_acknowledged(40 + 60 * hold)
                    async with postgres.row_locked(database_name, source):
                        await asyncio.sleep(HOLD_SECONDS)

            await under_fault(load, hold_the_row())

    waits = [
        seconds
        for queued in load.operations
        for status, _, seconds in queued.timings
        if status == 503
    ]
    operation.requests = 2
    operation.retry_causes[f"{refused.status_code} {refused.json().get('code')}"] += 1
    operation.status = applied.status_code
    operation.answer = applied.json()
    summary = conclude(
        reliability_report,
        f"timeout_{limit}",
        database_url=service_database,
        bank=bank,
        operations=[operation, *load.operations],
        env=configured,
        workdir=workdir,
        timeout={"kind": limit, "configured_ms": SHORT_MS},
        alone={
            "first_answer": f"{refused.status_code} {refused.json().get('code')}",
            "answered_after_seconds": round(elapsed, 3),
            "retry_with_the_same_key": applied.status_code,
            "repeat": f"{replayed.status_code}"
            f" replayed={replayed.headers.get('Idempotent-Replayed')}",
        },
        under_load={
            "row_held": {"times": HOLDS, "seconds": HOLD_SECONDS},
            "answers_503": len(waits),
            "slowest_503_seconds": round(max(waits, default=0.0), 3),
        },
    )

    # Failed cleanly, retriably, within the configured time
    # A lock held too long is contention; a statement cut short may be anything.
    expected = "concurrency_conflict" if limit == "lock_timeout" else "service_unavailable"
    assert_problem(refused, 503, expected)
    assert refused.headers["Retry-After"] == "1"
    assert SHORT_MS / 1000 * 0.9 <= elapsed < SHORT_MS / 1000 + SLACK_SECONDS, summary
    # Nothing written, no outcome stored for the key
    assert during == before
    # Applied exactly once by the retry
    assert applied.status_code == 201, applied.text
    assert "Idempotent-Replayed" not in applied.headers
    assert replayed.status_code == 201
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.json() == applied.json()
    assert [(b["balance"], b["version"]) for b in balances] == [
        (FUNDING - 2500, 3),
        (FUNDING + 2500, 3),
    ]

    # Under load: the timeouts were hit, and each 503 came within a bounded time
    assert waits, summary
    assert max(waits) < QUEUE_BOUND_SECONDS, summary
