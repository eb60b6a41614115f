"""Accounts seeded by SQL exactly as the service would have written them.

Each account is opened (version 1) and funded by one deposit from the currency's
settlement account (version 2): a transfer row, a -amount entry on the settlement
account and a +amount entry on the account. So the books satisfy every invariant
before the first benchmark transfer, and `banking reconcile` can check them after.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid

import psycopg

from bench.plan import CURRENCY, ID_PREFIX, OPENING_BALANCE
from domain.account import settlement_account_id

# account_id(n) of plan.py, in SQL.
_ID = f"('{ID_PREFIX}' || lpad(to_hex(n), 24, '0'))::uuid"
_TRANSFER_ID = "md5('bench-seed-transfer-' || n)::uuid"


def create_client_row(connection: psycopg.Connection, name: str) -> uuid.UUID:
    """An API client whose key nobody knows: for the systems that do not speak HTTP."""
    client_id = uuid.uuid4()
    key_hash = hashlib.sha256(secrets.token_bytes(32)).hexdigest()
    connection.execute(
        "INSERT INTO api_clients (id, name, key_hash, created_at) VALUES (%s, %s, %s, now())",
        (client_id, name, key_hash),
    )
    return client_id


def seed_accounts(connection: psycopg.Connection, owner_id: uuid.UUID, count: int) -> None:
    settlement = settlement_account_id(CURRENCY)
    params = {"owner": owner_id, "count": count, "balance": OPENING_BALANCE, "cur": CURRENCY}
    with connection.transaction():
        connection.execute(
            "INSERT INTO accounts (id, owner_id, currency, kind, status, balance, version,"
            " reference, created_at)"
            " VALUES (%(settlement)s, NULL, %(cur)s, 'settlement', 'active', 0, 1, NULL, now())"
            " ON CONFLICT DO NOTHING",
            {**params, "settlement": settlement},
        )
        connection.execute(
            "INSERT INTO accounts (id, owner_id, currency, kind, status, balance, version,"
            " reference, created_at)"
            f" SELECT {_ID}, %(owner)s, %(cur)s, 'customer', 'active', %(balance)s, 2,"
            " 'bench-' || n, now() FROM generate_series(1, %(count)s) AS n",
            params,
        )
        connection.execute(
            "INSERT INTO transfers (id, kind, source_account_id, destination_account_id,"
            " amount, currency, description, status, created_at)"
            f" SELECT {_TRANSFER_ID}, 'deposit', %(settlement)s, {_ID}, %(balance)s, %(cur)s,"
            " 'bench opening deposit', 'posted', now() FROM generate_series(1, %(count)s) AS n",
            {**params, "settlement": settlement},
        )
        connection.execute(
            "INSERT INTO entries (id, transfer_id, account_id, amount, currency,"
            " balance_after, account_version, created_at)"
            f" SELECT gen_random_uuid(), {_TRANSFER_ID}, %(settlement)s, -%(balance)s,"
            " %(cur)s, NULL, NULL, now() FROM generate_series(1, %(count)s) AS n"
            " UNION ALL"
            f" SELECT gen_random_uuid(), {_TRANSFER_ID}, {_ID}, %(balance)s, %(cur)s,"
            " %(balance)s, 2, now() FROM generate_series(1, %(count)s) AS n",
            {**params, "settlement": settlement},
        )
    # Fresh statistics and visibility map, the same for every system.
    connection.execute("VACUUM (ANALYZE)")
