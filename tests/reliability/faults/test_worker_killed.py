"""An API worker process SIGKILLed in the middle of a load: uvicorn's supervisor starts a
replacement, the clients' retries land on the surviving worker meanwhile, and the books
hold every acknowledged movement exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.processes import serving
from tests.reliability.conftest import Report
from tests.reliability.control import service_env, wait_for_workers, workers
from tests.reliability.load import (
    Load,
    conclude,
    open_bank,
    service_client,
    service_stderr,
    under_fault,
    wait_until_ready,
)

pytestmark = pytest.mark.reliability

CLIENTS = 12
# Enough that the load outlasts the first replacement's start-up (about 0.7 s, several
# hundred movements at full speed) with room left for the second kill.
OPERATIONS = 900
# Acknowledgements before each kill: first one original worker, then the other.
KILLS_AFTER = (80, 200)


async def test_a_killed_worker_is_replaced_and_loses_or_duplicates_nothing(
    service_database: str,
    env: dict[str, str],
    workdir: Path,
    reliability_report: Report,
) -> None:
    configured = service_env(env, service_database)
    kills: list[dict[str, Any]] = []

    with serving(configured, workdir, "--workers", "2") as server:
        originals = await asyncio.to_thread(wait_for_workers, server, 2)
        async with service_client(server.base) as http:
            bank = await open_bank(http, accounts=8)
            load = Load(http, bank, clients=CLIENTS, operations=OPERATIONS, seed=2)

            async def kill_workers() -> None:
                for threshold, victim in zip(KILLS_AFTER, originals, strict=True):
                    answered = await load.until_acknowledged(threshold)
                    before = workers(server)
                    os.kill(victim, signal.SIGKILL)
                    killed_at = time.monotonic()
                    after = await asyncio.to_thread(wait_for_workers, server, 2, replacing=[victim])
                    kills.append(
                        {
                            "killed": victim,
                            "answered_before_kill": answered,
                            "replacement": sorted(set(after) - set(before)),
                            "replacement_started_after_seconds": round(
                                time.monotonic() - killed_at, 3
                            ),
                        }
                    )

            await under_fault(load, kill_workers())
            await wait_until_ready(http)
            # The replacements serve: they are alive after the load, and none died.
            survivors = workers(server)

    summary = conclude(
        reliability_report,
        "worker_sigkill",
        database_url=service_database,
        bank=bank,
        operations=load.operations,
        env=configured,
        workdir=workdir,
        kills=kills,
        workers_at_start=originals,
        workers_at_end=survivors,
    )
    assert [kill["answered_before_kill"] < OPERATIONS for kill in kills] == [True, True]
    assert set(survivors) == {pid for kill in kills for pid in kill["replacement"]}
    log = service_stderr(workdir)
    for kill in kills:
        assert f"Child process [{kill['killed']}] died" in log
    assert summary["retried_requests"] > 0
