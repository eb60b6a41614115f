"""Lock stripes: empty tables that money-moving transactions lock before their snapshot.

Revision ID: 0003_lock_stripes
Revises: 0002_key_rotation
Create Date: 2026-12-07

See infrastructure/postgres/locking.py and docs/adr/007. They hold no rows, so the
downgrade drops nothing but the tables themselves.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003_lock_stripes"
down_revision: str | None = "0002_key_rotation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Fixed here, not imported: a migration must not change when the code does.
SCHEMA = "account_locks"
STRIPES = 1024


def upgrade() -> None:
    op.execute(f"CREATE SCHEMA {SCHEMA}")
    # One round trip: 1,024 statements in one string.
    op.execute("; ".join(f"CREATE TABLE {SCHEMA}.s{n:04d} ()" for n in range(STRIPES)))


def downgrade() -> None:
    op.execute(f"DROP SCHEMA {SCHEMA} CASCADE")
