"""The service's database connections cut under load (``pg_terminate_backend``, as an
operator or a failover does): requests in flight fail with a retriable 503 problem, the
pools recover without a restart, and the books hold every acknowledgement exactly once."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.processes import serving
from tests.reliability.conftest import Report
from tests.reliability.control import ControlledPostgres, service_env, wait_for_workers, workers
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

CLIENTS = 12
OPERATIONS = 360
CUTS_AFTER = (60, 140, 220, 300)  # acknowledgements


async def test_cut_connections_are_retriable_503s_and_the_pools_recover_in_place(
    postgres: ControlledPostgres,
    database_name: str,
    service_database: str,
    env: dict[str, str],
    workdir: Path,
    reliability_report: Report,
) -> None:
    configured = service_env(env, service_database)
    cuts: list[dict[str, Any]] = []

    with serving(configured, workdir, "--workers", "2") as server:
        before = await asyncio.to_thread(wait_for_workers, server, 2)
        async with service_client(server.base) as http:
            bank = await open_bank(http, accounts=8)
            load = Load(http, bank, clients=CLIENTS, operations=OPERATIONS, seed=3)

            async def cut_connections() -> None:
                for threshold in CUTS_AFTER:
                    answered = await load.until_acknowledged(threshold)
                    terminated = await asyncio.to_thread(postgres.terminate_backends, database_name)
                    cuts.append({"answered_before_cut": answered, "terminated": terminated})

            await under_fault(load, cut_connections())

            # Recovered in place: ready, and a new movement is acknowledged at once.
            await wait_until_ready(http)
            probe = deposit(bank.accounts[0], 1)
            await send(http, probe, bank.headers, time.monotonic() + 30)
            after = workers(server)

    summary = conclude(
        reliability_report,
        "connections_cut",
        database_url=service_database,
        bank=bank,
        operations=[*load.operations, probe],
        env=configured,
        workdir=workdir,
        cuts=cuts,
        terminated_backends=sum(cut["terminated"] for cut in cuts),
        probe_after_cuts={"status": probe.status, "requests": probe.requests},
    )
    assert summary["terminated_backends"] > 0
    assert after == before, "a worker was restarted"
    assert (probe.status, probe.requests) == (201, 1)
    # The HTTP side never broke: every retry was a 503 problem, none a dropped connection.
    assert all(cause.startswith("503 ") for cause in summary["retry_causes"]), summary
