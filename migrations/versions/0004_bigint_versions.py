"""Account versions as BIGINT: an account is no longer capped at 2,147,483,647 movements.

Revision ID: 0004_bigint_versions
Revises: 0003_lock_stripes
Create Date: 2026-12-08

``accounts.version`` and ``entries.account_version`` count an account's movements; as
INTEGER they would refuse its 2,147,483,648th. Changing a column's type rewrites its
table and indexes under an ACCESS EXCLUSIVE lock: on a large ledger, run it in a
maintenance window.

The downgrade changes them back, which only fits while every value does: otherwise it
fails, changing nothing, and says which account is beyond INTEGER. The check is SQL of
its own, so the offline script (``banking db sql``) makes it too.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004_bigint_versions"
down_revision: str | None = "0003_lock_stripes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Fixed here, not imported: a migration must not change when the code does.
INTEGER_MAX = 2_147_483_647

_REFUSE_VERSIONS_BEYOND_INTEGER = f"""
DO $$
DECLARE
    beyond record;
BEGIN
    SELECT id, version INTO beyond FROM accounts WHERE version > {INTEGER_MAX}
    ORDER BY version DESC LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'cannot downgrade 0004_bigint_versions: account % is at version %,'
            ' beyond INTEGER (at most {INTEGER_MAX}); nothing was changed',
            beyond.id, beyond.version;
    END IF;
END
$$
"""


def upgrade() -> None:
    op.execute("ALTER TABLE accounts ALTER COLUMN version TYPE bigint")
    op.execute("ALTER TABLE entries ALTER COLUMN account_version TYPE bigint")


def downgrade() -> None:
    # An entry's account_version is at most its account's version, so the accounts
    # say whether both columns fit; were an entry beyond it anyway, its ALTER would
    # fail ("integer out of range") and the transaction would undo the whole step.
    op.execute(_REFUSE_VERSIONS_BEYOND_INTEGER)
    op.execute("ALTER TABLE entries ALTER COLUMN account_version TYPE integer")
    op.execute("ALTER TABLE accounts ALTER COLUMN version TYPE integer")
