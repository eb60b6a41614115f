"""Holds (two-phase transfers), overdraft limits, metadata, and balances at a point in time.

Revision ID: 0005_holds_and_limits
Revises: 0004_bigint_versions
Create Date: 2026-12-09

- ``accounts`` gains ``held``, ``overdraft_limit`` and ``metadata``; existing accounts
  get 0, 0 and ``{}`` (constant defaults: no table rewrite). A customer balance may now
  go below zero, down to its limit; since a limit may be lowered below what is in use,
  no row constraint can bound the balance any more, and the rule lives in the domain
  (reconciliation checks it from the entries' ``available_after``).
- ``holds``: one row per hold, with the partial indexes its expiry needs.
- ``transfers`` gains ``hold_id`` and ``metadata``, and the kinds ``capture`` and
  ``payout``; ``entries`` gains ``available_after`` and the index that answers a
  balance at a point in time with one lookup. Building that index on a large ledger
  blocks writes to ``entries`` while it runs: upgrade in a maintenance window.

The downgrade refuses, changing nothing, once a hold, a capture or a negative customer
balance exists: the older schema cannot hold them.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005_holds_and_limits"
down_revision: str | None = "0004_bigint_versions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Fixed here, not imported: a migration must not change when the code does.
MAX_LIMIT = 10**15
EMPTY_OBJECT = sa.text("'{}'::jsonb")

_REFUSE_WHAT_0004_CANNOT_HOLD = """
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM holds) THEN
        RAISE EXCEPTION 'cannot downgrade 0005_holds_and_limits: holds exist; nothing was changed';
    END IF;
    IF EXISTS (SELECT 1 FROM accounts WHERE kind = 'customer' AND balance < 0) THEN
        RAISE EXCEPTION 'cannot downgrade 0005_holds_and_limits: an account is overdrawn;'
            ' nothing was changed';
    END IF;
END
$$
"""


def upgrade() -> None:
    op.add_column("accounts", sa.Column("held", sa.BigInteger, nullable=False, server_default="0"))
    op.add_column(
        "accounts",
        sa.Column("overdraft_limit", sa.BigInteger, nullable=False, server_default="0"),
    )
    op.add_column(
        "accounts",
        sa.Column("metadata", postgresql.JSONB, nullable=False, server_default=EMPTY_OBJECT),
    )
    op.drop_constraint(op.f("ck_accounts_customer_balance_not_negative"), "accounts", type_="check")
    op.create_check_constraint(op.f("ck_accounts_held_not_negative"), "accounts", "held >= 0")
    op.create_check_constraint(
        op.f("ck_accounts_overdraft_limit_range"),
        "accounts",
        f"overdraft_limit >= 0 AND overdraft_limit <= {MAX_LIMIT}",
    )

    op.create_table(
        "holds",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("source_account_id", sa.Uuid, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("destination_account_id", sa.Uuid, sa.ForeignKey("accounts.id"), nullable=False),
        # The accounts' owners, fixed for life: a client's holds list by either.
        sa.Column("source_owner_id", sa.Uuid, nullable=False),
        sa.Column("destination_owner_id", sa.Uuid, nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.CHAR(3), nullable=False),
        sa.Column("captured_amount", sa.BigInteger, nullable=False),
        sa.Column("released_amount", sa.BigInteger, nullable=False),
        sa.Column("capture_count", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("description", sa.String(256), nullable=True),
        sa.Column("metadata", postgresql.JSONB, nullable=False, server_default=EMPTY_OBJECT),
        sa.Column("source_available_after", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_holds_amount_positive")),
        sa.CheckConstraint(
            "captured_amount >= 0 AND released_amount >= 0"
            " AND captured_amount + released_amount <= amount",
            name=op.f("ck_holds_amounts_add_up"),
        ),
        # Only an active hold has something left; a finished one has nothing.
        sa.CheckConstraint(
            "(status = 'active') = (captured_amount + released_amount < amount)",
            name=op.f("ck_holds_remaining_only_while_active"),
        ),
        sa.CheckConstraint(
            "status IN ('active', 'captured', 'voided', 'expired')", name=op.f("ck_holds_status")
        ),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f("ck_holds_currency_format")),
        sa.CheckConstraint("version >= 1", name=op.f("ck_holds_version_positive")),
        sa.CheckConstraint(
            "source_account_id <> destination_account_id", name=op.f("ck_holds_distinct_accounts")
        ),
        sa.CheckConstraint(
            "source_available_after >= 0", name=op.f("ck_holds_source_available_after")
        ),
    )
    # What an account's active holds reserve, split at a time by their expiry: read with
    # every lock of an account, so the remainders ride in the index.
    op.create_index(
        op.f("ix_holds_active_by_source"),
        "holds",
        ["source_account_id", "expires_at"],
        postgresql_where=sa.text("status = 'active'"),
        postgresql_include=["amount", "captured_amount", "released_amount"],
    )
    # The sweep: active holds, earliest expiry first.
    op.create_index(
        op.f("ix_holds_active_by_expiry"),
        "holds",
        ["expires_at", "id"],
        postgresql_where=sa.text("status = 'active'"),
    )
    for column in (
        "source_owner_id",
        "destination_owner_id",
        "source_account_id",
        "destination_account_id",
    ):
        op.create_index(
            op.f(f"ix_holds_{column}_listing"),
            "holds",
            [column, sa.text("created_at DESC"), sa.text("id DESC")],
        )

    op.add_column("transfers", sa.Column("hold_id", sa.Uuid, nullable=True))
    op.create_foreign_key(
        op.f("fk_transfers_hold_id_holds"), "transfers", "holds", ["hold_id"], ["id"]
    )
    op.add_column(
        "transfers",
        sa.Column("metadata", postgresql.JSONB, nullable=False, server_default=EMPTY_OBJECT),
    )
    op.drop_constraint(op.f("ck_transfers_kind"), "transfers", type_="check")
    op.create_check_constraint(
        op.f("ck_transfers_kind"),
        "transfers",
        "kind IN ('transfer', 'deposit', 'withdrawal', 'capture', 'payout')",
    )
    op.create_check_constraint(
        op.f("ck_transfers_hold_only_on_captures"),
        "transfers",
        "hold_id IS NULL OR kind IN ('capture', 'payout')",
    )

    op.add_column("entries", sa.Column("available_after", sa.BigInteger, nullable=True))
    op.create_index(
        op.f("ix_entries_account_history"),
        "entries",
        ["account_id", "created_at", "account_version"],
    )


def downgrade() -> None:
    op.execute(_REFUSE_WHAT_0004_CANNOT_HOLD)
    op.drop_index(op.f("ix_entries_account_history"), table_name="entries")
    op.drop_column("entries", "available_after")
    op.drop_constraint(op.f("ck_transfers_hold_only_on_captures"), "transfers", type_="check")
    op.drop_constraint(op.f("ck_transfers_kind"), "transfers", type_="check")
    op.create_check_constraint(
        op.f("ck_transfers_kind"), "transfers", "kind IN ('transfer', 'deposit', 'withdrawal')"
    )
    op.drop_column("transfers", "metadata")
    op.drop_constraint(op.f("fk_transfers_hold_id_holds"), "transfers", type_="foreignkey")
    op.drop_column("transfers", "hold_id")
    op.drop_table("holds")
    op.drop_constraint(op.f("ck_accounts_overdraft_limit_range"), "accounts", type_="check")
    op.drop_constraint(op.f("ck_accounts_held_not_negative"), "accounts", type_="check")
    op.create_check_constraint(
        op.f("ck_accounts_customer_balance_not_negative"),
        "accounts",
        "kind = 'settlement' OR balance >= 0",
    )
    op.drop_column("accounts", "metadata")
    op.drop_column("accounts", "overdraft_limit")
    op.drop_column("accounts", "held")
