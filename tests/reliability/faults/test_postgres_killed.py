"""PostgreSQL SIGKILLed in the middle of a load and started again: every acknowledged
movement survives exactly once, none is applied twice by the clients' retries, and no
transfer is left with one entry."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.processes import serving
from tests.reliability.conftest import Report
from tests.reliability.control import ControlledPostgres, service_env
from tests.reliability.load import (
    Load,
    conclude,
    open_bank,
    service_client,
    under_fault,
    wait_until_ready,
)

pytestmark = pytest.mark.reliability

CLIENTS = 12
OPERATIONS = 360
KILL_AFTER = 100  # acknowledgements
OUTAGE_SECONDS = 2.0  # with no server at all, before it is started again


async def test_postgres_killed_mid_load_keeps_every_acknowledgement_exactly_once(
    postgres: ControlledPostgres,
    service_database: str,
    env: dict[str, str],
    workdir: Path,
    reliability_report: Report,
) -> None:
    configured = service_env(env, service_database)
    fault: dict[str, Any] = {}

    with serving(configured, workdir, "--workers", "2") as server:
        async with service_client(server.base) as http:
            bank = await open_bank(http, accounts=8)
            load = Load(http, bank, clients=CLIENTS, operations=OPERATIONS, seed=1)

            async def kill_and_restart() -> None:
                fault["answered_before_kill"] = await load.until_acknowledged(KILL_AFTER)
                crash = await asyncio.to_thread(postgres.kill)
                fault.update(dataclasses.asdict(crash))
                await asyncio.sleep(OUTAGE_SECONDS)
                fault["restart_seconds"] = round(await asyncio.to_thread(postgres.restart), 3)
                fault["answered_at_restart"] = sum(
                    operation.status is not None for operation in load.operations
                )

            await under_fault(load, kill_and_restart())
            fault["ready_again_after_seconds"] = round(await wait_until_ready(http), 3)

    summary = conclude(
        reliability_report,
        "postgres_sigkill",
        database_url=service_database,
        bank=bank,
        operations=load.operations,
        env=configured,
        workdir=workdir,
        **fault,
    )
    # The kill landed mid-load: requests went unanswered, and were answered after all.
    assert fault["answered_before_kill"] < OPERATIONS
    assert summary["retried_requests"] > 0
