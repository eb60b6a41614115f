"""Initial schema: API clients, accounts, transfers, ledger entries, idempotency keys.

Revision ID: 0001
Revises:
Create Date: 2026-11-24

The CHECK constraints restate the domain's invariants, so that a bug in the
application (or a hand-written UPDATE) cannot store a ledger the domain would refuse.
Every constraint is named (``op.f`` keeps a name verbatim) because the repositories
recognise violations by name.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def created_at() -> sa.Column[datetime]:
    return sa.Column("created_at", sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "api_clients",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        # SHA-256 of the API key, hex: the key itself is never stored.
        sa.Column("key_hash", sa.CHAR(64), nullable=False),
        created_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_clients")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_clients_key_hash")),
    )

    op.create_table(
        "accounts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("currency", sa.CHAR(3), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        # Minor units (cents, yen, fils): exact integers, never floats.
        sa.Column("balance", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(128), nullable=True),
        created_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["api_clients.id"], name=op.f("fk_accounts_owner_id_api_clients")
        ),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f("ck_accounts_currency_format")),
        sa.CheckConstraint("kind IN ('customer', 'settlement')", name=op.f("ck_accounts_kind")),
        sa.CheckConstraint(
            "status IN ('active', 'frozen', 'closed')", name=op.f("ck_accounts_status")
        ),
        sa.CheckConstraint("version >= 1", name=op.f("ck_accounts_version_positive")),
        # Only the settlement account (the outside world) may go below zero.
        sa.CheckConstraint(
            "kind = 'settlement' OR balance >= 0",
            name=op.f("ck_accounts_customer_balance_not_negative"),
        ),
        # Customer accounts belong to an API client; settlement accounts to nobody.
        sa.CheckConstraint(
            "(kind = 'settlement') = (owner_id IS NULL)",
            name=op.f("ck_accounts_settlement_has_no_owner"),
        ),
    )
    # Balance updates must stay HOT (no new index entry): a non-HOT update writes into
    # the primary key's index page, where every concurrent serializable transaction
    # holds a predicate lock, and turns unrelated transfers into serialization
    # failures. Half-empty pages leave room for the new row version on the same page.
    op.execute("ALTER TABLE accounts SET (fillfactor = 50)")
    # Keyset pagination of an owner's accounts, newest first.
    op.create_index(
        op.f("ix_accounts_owner_listing"),
        "accounts",
        ["owner_id", sa.text("created_at DESC"), sa.text("id DESC")],
    )

    op.create_table(
        "transfers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        # Deposits and withdrawals name the settlement account here, so both sides
        # are always real accounts and every transfer has exactly two entries.
        sa.Column("source_account_id", sa.Uuid(), nullable=False),
        sa.Column("destination_account_id", sa.Uuid(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.CHAR(3), nullable=False),
        sa.Column("description", sa.String(256), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        created_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transfers")),
        sa.ForeignKeyConstraint(
            ["source_account_id"],
            ["accounts.id"],
            name=op.f("fk_transfers_source_account_id_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["destination_account_id"],
            ["accounts.id"],
            name=op.f("fk_transfers_destination_account_id_accounts"),
        ),
        sa.CheckConstraint(
            "kind IN ('transfer', 'deposit', 'withdrawal')", name=op.f("ck_transfers_kind")
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_transfers_amount_positive")),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f("ck_transfers_currency_format")),
        # Transfers are posted or refused, never pending: refusals write nothing.
        sa.CheckConstraint("status = 'posted'", name=op.f("ck_transfers_status")),
        sa.CheckConstraint(
            "source_account_id <> destination_account_id",
            name=op.f("ck_transfers_distinct_accounts"),
        ),
    )

    op.create_table(
        "entries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("transfer_id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        # Signed: negative on the debited account, positive on the credited one.
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.CHAR(3), nullable=False),
        # Both NULL on settlement entries: that account keeps no running balance,
        # so deposits and withdrawals never queue on its row.
        sa.Column("balance_after", sa.BigInteger(), nullable=True),
        sa.Column("account_version", sa.Integer(), nullable=True),
        created_at(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entries")),
        sa.ForeignKeyConstraint(
            ["transfer_id"], ["transfers.id"], name=op.f("fk_entries_transfer_id_transfers")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_entries_account_id_accounts")
        ),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_entries_amount_not_zero")),
        # One entry per account version: two writers of the same version cannot both
        # commit, and the index orders an account's statement as it was applied.
        sa.UniqueConstraint(
            "account_id", "account_version", name=op.f("uq_entries_account_id_account_version")
        ),
    )
    op.create_index(op.f("ix_entries_transfer_id"), "entries", ["transfer_id"])
    # The settlement balance is the sum of its entries: INCLUDE (amount) lets
    # PostgreSQL compute it from the index alone.
    op.create_index(
        op.f("ix_entries_account_id"), "entries", ["account_id"], postgresql_include=["amount"]
    )

    op.create_table(
        "idempotency_keys",
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        # SHA-256 of the operation and its validated command, hex.
        sa.Column("fingerprint", sa.CHAR(64), nullable=False),
        # The first completed attempt's outcome as JSON, replayed verbatim.
        sa.Column("outcome", sa.Text(), nullable=False),
        created_at(),
        # Keys are scoped to the API client that sent them.
        sa.PrimaryKeyConstraint("client_id", "key", name=op.f("pk_idempotency_keys")),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["api_clients.id"],
            name=op.f("fk_idempotency_keys_client_id_api_clients"),
        ),
    )
    # The purge of keys older than the retention period scans by age.
    op.create_index(op.f("ix_idempotency_keys_created_at"), "idempotency_keys", ["created_at"])


def downgrade() -> None:
    op.drop_table("idempotency_keys")
    op.drop_table("entries")
    op.drop_table("transfers")
    op.drop_table("accounts")
    op.drop_table("api_clients")
