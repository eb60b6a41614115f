"""Batches: several transfers in one request, the batch each transfer was made by, and
the account list's metadata filter.

Revision ID: 0008_batches
Revises: 0007_lighter_write_indexes
Create Date: 2026-12-12

- ``batches``: one row per applied batch, with the answer its client got
  (``GET /v1/batches/{id}`` repeats it).
- ``transfers.batch_id``: nullable, no default, so existing rows are not rewritten. It
  has no foreign key: the check would read the batches' key index under SERIALIZABLE,
  and two batches inserting into the same index page would then fail each other with
  serialization errors. ``banking reconcile`` checks that every ``batch_id`` names a
  batch.
- ``ix_accounts_metadata``: a GIN index (``jsonb_path_ops``) answering
  ``metadata @> '{"KEY": "VALUE", ...}'`` for ``GET /v1/accounts?metadata[KEY]=``,
  partial like the transfers' (``metadata <> '{}'``). Building it on many accounts
  blocks writes to ``accounts`` while it runs: upgrade in a maintenance window.

The downgrade refuses, changing nothing, once a batch exists: the older schema cannot
say which transfers it made.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008_batches"
down_revision: str | None = "0007_lighter_write_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_REFUSE_WHEN_BATCHES_EXIST = """
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM batches) THEN
        RAISE EXCEPTION 'batches exist: a schema before 0008_batches cannot hold them';
    END IF;
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "batches",
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("client_id", sa.Uuid, nullable=False),
        sa.Column("atomic", sa.Boolean, nullable=False),
        sa.Column(
            "metadata",
            postgresql.JSONB,
            nullable=False,
            server_default=sa.text("'{}'::jsonb"),
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answer", postgresql.JSONB, nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"], ["api_clients.id"], name=op.f("fk_batches_client_id_api_clients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batches")),
    )
    op.add_column("transfers", sa.Column("batch_id", sa.Uuid, nullable=True))
    op.create_index(
        op.f("ix_accounts_metadata"),
        "accounts",
        ["metadata"],
        postgresql_using="gin",
        postgresql_ops={"metadata": "jsonb_path_ops"},
        postgresql_where=sa.text("metadata <> '{}'::jsonb"),
    )


def downgrade() -> None:
    op.execute(_REFUSE_WHEN_BATCHES_EXIST)
    op.drop_index(op.f("ix_accounts_metadata"), table_name="accounts")
    op.drop_column("transfers", "batch_id")
    op.drop_table("batches")
