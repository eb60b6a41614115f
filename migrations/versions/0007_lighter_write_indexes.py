"""Fewer index writes per transfer: one index of entries goes, the metadata index skips `{}`.

Revision ID: 0007_lighter_write_indexes
Revises: 0006_transfer_listing
Create Date: 2026-12-11

Every transfer writes one row to ``transfers`` and two to ``entries``, and every index
on them is written and logged at each commit, which the service's group commit waits
for. Two of them paid for little:

- ``ix_entries_account_id`` (``account_id`` with ``amount`` included) only served the
  sum of a settlement account's entries. ``ix_entries_account_history`` and
  ``uq_entries_account_id_account_version`` both lead with ``account_id`` and answer the
  same lookups, so it is dropped.
- ``ix_transfers_metadata`` indexed every transfer, although most carry no metadata and
  a metadata filter can never match ``{}``. It becomes partial (``metadata <> '{}'``),
  and the listing states that predicate with every metadata filter, so the planner can
  use it.

Measured in ``bench`` (bench/README.md): write-ahead log per transfer in the uniform
cell, before and after.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_lighter_write_indexes"
down_revision: str | None = "0006_transfer_listing"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_GIN = {"postgresql_using": "gin", "postgresql_ops": {"metadata": "jsonb_path_ops"}}


def upgrade() -> None:
    op.drop_index(op.f("ix_entries_account_id"), table_name="entries")
    op.drop_index(op.f("ix_transfers_metadata"), table_name="transfers")
    op.create_index(
        op.f("ix_transfers_metadata"),
        "transfers",
        ["metadata"],
        postgresql_where=sa.text("metadata <> '{}'::jsonb"),
        **_GIN,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_transfers_metadata"), table_name="transfers")
    op.create_index(op.f("ix_transfers_metadata"), "transfers", ["metadata"], **_GIN)
    op.create_index(
        op.f("ix_entries_account_id"), "entries", ["account_id"], postgresql_include=["amount"]
    )
