"""The embedded PostgreSQL of ``banking serve`` SIGKILLed under a keyed load, and nobody
but the service to start it again: the service restarts it (crash recovery replays the
WAL), is ready again within RECOVERY_SECONDS by itself, and every acknowledged movement
is in the books exactly once."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import URL

from infrastructure.postgres.engine import DRIVER
from tests.e2e.processes import serving
from tests.reliability.conftest import Report
from tests.reliability.control import ADMIN_TOKEN, alive
from tests.reliability.load import (
    Load,
    conclude,
    open_bank,
    service_client,
    service_stderr,
    under_fault,
)

pytestmark = pytest.mark.reliability

CLIENTS = 12
OPERATIONS = 600
KILL_AFTER = 100  # acknowledgements
# The stated bound, from the kill to /health/ready answering 200 again: the supervisor
# notices within 0.5 s, init reaps the dead postmaster (about 1 s here), then pg_ctl's
# start with crash recovery (under a second on this data) and the pools' reconnection.
RECOVERY_SECONDS = 15.0
LOAD_SECONDS = 60.0


def embedded_url(data_dir: Path) -> str:
    """The service's database as ``banking serve`` hands it to its workers."""
    lines = (data_dir / "postmaster.pid").read_text().splitlines()
    return URL.create(
        DRIVER,
        username="postgres",
        port=int(lines[3]),
        database="postgres",
        query={"host": lines[4]},
    ).render_as_string(hide_password=False)


def postmaster(data_dir: Path) -> int:
    return int((data_dir / "postmaster.pid").read_text().split()[0])


async def ready_again(http: httpx.AsyncClient, since: float) -> float:
    """Seconds from ``since`` until /health/ready answers 200; fails past the bound."""
    while (waited := time.monotonic() - since) < RECOVERY_SECONDS:
        try:
            if (await http.get("/health/ready", timeout=2)).status_code == 200:
                return waited
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.05)
    raise AssertionError(f"not ready again within {RECOVERY_SECONDS}s of the kill")


async def test_the_service_restarts_its_killed_database_and_keeps_every_acknowledgement(
    env: dict[str, str], workdir: Path, reliability_report: Report
) -> None:
    data_dir = workdir / "pg"
    configured = {**env, "BANKING_ADMIN_TOKEN": ADMIN_TOKEN}  # the embedded default
    fault: dict[str, Any] = {}

    with serving(configured, workdir, "--workers", "2") as server:
        async with service_client(server.base) as http:
            bank = await open_bank(http, accounts=8)
            load = Load(
                http, bank, clients=CLIENTS, operations=OPERATIONS, seed=5, seconds=LOAD_SECONDS
            )

            async def kill_and_watch() -> None:
                fault["answered_before_kill"] = await load.until_acknowledged(KILL_AFTER)
                killed = postmaster(data_dir)
                os.kill(killed, signal.SIGKILL)
                since = time.monotonic()
                acknowledged = load.acknowledged
                fault["ready_again_after_seconds"] = round(await ready_again(http, since), 3)
                while load.acknowledged == acknowledged:
                    assert time.monotonic() - since < RECOVERY_SECONDS, "no acknowledgement"
                    await asyncio.sleep(0.01)
                fault["acknowledging_again_after_seconds"] = round(time.monotonic() - since, 3)
                fault["killed_postmaster"] = killed
                fault["new_postmaster"] = postmaster(data_dir)

            await under_fault(load, kill_and_watch())

        # The books are checked while the service still runs its restarted server.
        summary = conclude(
            reliability_report,
            "embedded_postgres_sigkill",
            database_url=embedded_url(data_dir),
            bank=bank,
            operations=load.operations,
            env=configured,
            workdir=workdir,
            recovery_bound_seconds=RECOVERY_SECONDS,
            **fault,
        )
        restarted = fault["new_postmaster"]
        # And the server it started again is the one it stops on exit.
        assert server.stop() == 0
    assert not (data_dir / "postmaster.pid").exists()
    assert not alive(restarted)

    # The kill landed mid-load: requests went unanswered, and were answered after all.
    assert fault["answered_before_kill"] < OPERATIONS
    assert summary["retried_requests"] > 0
    assert fault["new_postmaster"] != fault["killed_postmaster"]
    # One readable line per state change of the database, none with a traceback.
    lines = service_stderr(workdir).splitlines()
    logged = [json.loads(line) for line in lines if line.startswith("{")]
    outage = [
        record
        for record in logged
        if record["name"] == "banking.embedded"
        or record["message"].startswith(("readiness check failed", "database unavailable"))
    ]
    assert not [record for record in outage if "exc_info" in record]
    messages = [record["message"] for record in logged if record["name"] == "banking.embedded"]
    killed = fault["killed_postmaster"]
    assert messages[0].startswith(f"the embedded PostgreSQL server (pid {killed}) has stopped")
    assert messages[-1].startswith(f"the embedded PostgreSQL server runs again (pid {restarted})")
    assert any(record["message"].startswith("readiness check failed: ") for record in outage)
