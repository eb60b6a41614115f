"""API key rotation and revocation: a previous key with an end, and a revocation time.

Revision ID: 0002_key_rotation
Revises: 0001
Create Date: 2026-12-07

Columns added to ``api_clients``, all nullable, so existing rows keep their one key
unchanged. Downgrading gives each revoked client a key hash nobody holds, so that the
schema without revocation does not bring a revoked key back to life.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_key_rotation"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("api_clients", sa.Column("previous_key_hash", sa.CHAR(64), nullable=True))
    op.add_column(
        "api_clients",
        sa.Column("previous_key_expires_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.add_column("api_clients", sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True))
    op.create_unique_constraint(
        op.f("uq_api_clients_previous_key_hash"), "api_clients", ["previous_key_hash"]
    )
    op.create_check_constraint(
        op.f("ck_api_clients_previous_key_expires"),
        "api_clients",
        "(previous_key_hash IS NULL) = (previous_key_expires_at IS NULL)",
    )


def downgrade() -> None:
    op.execute(
        "UPDATE api_clients SET key_hash = encode(sha256(gen_random_uuid()::text::bytea), 'hex')"
        " WHERE revoked_at IS NOT NULL"
    )
    op.drop_constraint(op.f("ck_api_clients_previous_key_expires"), "api_clients", type_="check")
    op.drop_constraint(op.f("uq_api_clients_previous_key_hash"), "api_clients", type_="unique")
    op.drop_column("api_clients", "revoked_at")
    op.drop_column("api_clients", "previous_key_expires_at")
    op.drop_column("api_clients", "previous_key_hash")
