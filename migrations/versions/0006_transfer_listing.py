"""Transfer listing: a client's transfers, newest first, by account, kind and metadata.

Revision ID: 0006_transfer_listing
Revises: 0005_holds_and_limits
Create Date: 2026-12-10

- ``ix_transfers_source_listing`` and ``ix_transfers_destination_listing``: an
  account's transfers on either side, newest first (created_at, then id, descending),
  read a page at a time.
- ``ix_transfers_metadata``: a GIN index (``jsonb_path_ops``) answering
  ``metadata @> '{"KEY": "VALUE", ...}'``.

A client's transfers are found through its accounts (``ix_accounts_owner_listing``),
joined on each side's account: no owner columns are added to ``transfers``, so nothing
is backfilled and the write path is unchanged. Building the indexes on a large ledger
blocks writes to ``transfers`` while it runs: upgrade in a maintenance window.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_transfer_listing"
down_revision: str | None = "0005_holds_and_limits"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SIDES = {"source": "source_account_id", "destination": "destination_account_id"}


def upgrade() -> None:
    for side, column in SIDES.items():
        op.create_index(
            op.f(f"ix_transfers_{side}_listing"),
            "transfers",
            [column, sa.text("created_at DESC"), sa.text("id DESC")],
        )
    op.create_index(
        op.f("ix_transfers_metadata"),
        "transfers",
        ["metadata"],
        postgresql_using="gin",
        postgresql_ops={"metadata": "jsonb_path_ops"},
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_transfers_metadata"), table_name="transfers")
    for side in reversed(SIDES):
        op.drop_index(op.f(f"ix_transfers_{side}_listing"), table_name="transfers")
