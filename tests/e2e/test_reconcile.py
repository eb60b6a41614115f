"""``banking reconcile`` on books that do not balance: it names what is wrong and fails."""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg
import pytest

from infrastructure.postgres.engine import libpq_url
from infrastructure.postgres.reconciliation import invariants
from tests.e2e.processes import banking

pytestmark = pytest.mark.e2e


def test_each_broken_invariant_is_reported_and_the_exit_status_is_1(
    env: dict[str, str], workdir: Path, database_url: str
) -> None:
    # Given an account whose balance no entry explains (written behind the service's back)
    account = uuid.uuid4()
    with psycopg.connect(libpq_url(database_url)) as connection:
        client = connection.execute(
            "INSERT INTO api_clients (id, name, key_hash, created_at)"
            " VALUES (gen_random_uuid(), 'acme', repeat('a', 64), now()) RETURNING id"
        ).fetchone()
        assert client is not None
        connection.execute(
            "INSERT INTO accounts (id, owner_id, currency, kind, status, balance, version,"
            " created_at) VALUES (%s, %s, 'USD', 'customer', 'active', 500, 1, now())",
            (account, client[0]),
        )

    # When the operator reconciles
    configured = {**env, "BANKING_DATABASE_URL": database_url}
    checked = banking(configured, workdir, "reconcile")

    # Then both invariants it breaks are named with the account, and nothing else fails
    assert checked.returncode == 1, checked.stderr
    report = checked.stdout.splitlines()
    assert "a customer balance equals the sum of its entries ... 1 VIOLATIONS" in "\n".join(report)
    assert f"    {account}: 500 vs 0" in report
    assert "    USD: 500" in report
    assert sum(line.endswith(")") and " ... ok (" in line for line in report) == (
        len(invariants()) - 2
    )
    assert report[-1] == f"2 of {len(invariants())} invariants violated."
