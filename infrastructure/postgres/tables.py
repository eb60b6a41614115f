"""The schema as SQLAlchemy Core tables (no ORM classes: see docs/adr/002).

The migrations are the only source of the schema; this module mirrors them for
writing statements, and a drift test keeps the two identical. Every constraint has
a name fixed by the naming convention, so code can recognise a violation by name.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CHAR,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

NAMING_CONVENTION = {
    "pk": "pk_%(table_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

# Names the repositories match on (``exc.orig.diag.constraint_name``).
IDEMPOTENCY_KEYS_PK = "pk_idempotency_keys"
API_CLIENTS_KEY_HASH_UQ = "uq_api_clients_key_hash"
ENTRIES_ACCOUNT_VERSION_UQ = "uq_entries_account_id_account_version"

_CURRENCY_FORMAT = "currency ~ '^[A-Z]{3}$'"
MAX_OVERDRAFT_LIMIT = 10**15


def _metadata() -> Column[dict[str, str]]:
    return Column("metadata", JSONB, nullable=False, server_default=text("'{}'::jsonb"))


def _created_at(*, index: bool = False) -> Column[datetime]:
    return Column("created_at", DateTime(timezone=True), nullable=False, index=index)


api_clients = Table(
    "api_clients",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("name", String(64), nullable=False),
    Column("key_hash", CHAR(64), nullable=False, unique=True),
    _created_at(),
    # Key rotation and revocation (migration 0002).
    Column("previous_key_hash", CHAR(64), nullable=True, unique=True),
    Column("previous_key_expires_at", DateTime(timezone=True), nullable=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    CheckConstraint(
        "(previous_key_hash IS NULL) = (previous_key_expires_at IS NULL)",
        name="previous_key_expires",
    ),
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("owner_id", Uuid, ForeignKey("api_clients.id"), nullable=True),
    Column("currency", CHAR(3), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("balance", BigInteger, nullable=False, server_default=text("0")),
    Column("version", BigInteger, nullable=False),
    Column("reference", String(128), nullable=True),
    _created_at(),
    CheckConstraint(_CURRENCY_FORMAT, name="currency_format"),
    CheckConstraint("kind IN ('customer', 'settlement')", name="kind"),
    CheckConstraint("status IN ('active', 'frozen', 'closed')", name="status"),
    CheckConstraint("version >= 1", name="version_positive"),
    CheckConstraint("(kind = 'settlement') = (owner_id IS NULL)", name="settlement_has_no_owner"),
    # Keyset pagination of an owner's accounts, newest first.
    Index("ix_accounts_owner_listing", "owner_id", text("created_at DESC"), text("id DESC")),
    # Holds, limits and metadata (migration 0005). The balance has no row constraint:
    # a limit may be lowered below what is in use (docs/api.md), the domain decides.
    Column("held", BigInteger, nullable=False, server_default=text("0")),
    Column("overdraft_limit", BigInteger, nullable=False, server_default=text("0")),
    _metadata(),
    CheckConstraint("held >= 0", name="held_not_negative"),
    CheckConstraint(
        f"overdraft_limit >= 0 AND overdraft_limit <= {MAX_OVERDRAFT_LIMIT}",
        name="overdraft_limit_range",
    ),
    # Migration 0008: the metadata filter of the account list (``@>``), over accounts
    # that carry metadata, since a filter never matches {}.
    Index(
        "ix_accounts_metadata",
        "metadata",
        postgresql_using="gin",
        postgresql_ops={"metadata": "jsonb_path_ops"},
        postgresql_where=text("metadata <> '{}'::jsonb"),
    ),
)

holds = Table(
    "holds",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("source_account_id", Uuid, ForeignKey("accounts.id"), nullable=False),
    Column("destination_account_id", Uuid, ForeignKey("accounts.id"), nullable=False),
    # The accounts' owners, fixed for life: a client's holds list by either.
    Column("source_owner_id", Uuid, nullable=False),
    Column("destination_owner_id", Uuid, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", CHAR(3), nullable=False),
    Column("captured_amount", BigInteger, nullable=False),
    Column("released_amount", BigInteger, nullable=False),
    Column("capture_count", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("description", String(256), nullable=True),
    _metadata(),
    Column("source_available_after", BigInteger, nullable=False),
    _created_at(),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("version", BigInteger, nullable=False),
    CheckConstraint("amount > 0", name="amount_positive"),
    CheckConstraint(
        "captured_amount >= 0 AND released_amount >= 0"
        " AND captured_amount + released_amount <= amount",
        name="amounts_add_up",
    ),
    # Only an active hold has something left; a finished one has nothing.
    CheckConstraint(
        "(status = 'active') = (captured_amount + released_amount < amount)",
        name="remaining_only_while_active",
    ),
    CheckConstraint("status IN ('active', 'captured', 'voided', 'expired')", name="status"),
    CheckConstraint(_CURRENCY_FORMAT, name="currency_format"),
    CheckConstraint("version >= 1", name="version_positive"),
    CheckConstraint("source_account_id <> destination_account_id", name="distinct_accounts"),
    CheckConstraint("source_available_after >= 0", name="source_available_after"),
    # What an account's active holds reserve, split at a time by their expiry: read
    # with every lock of an account, so the remainders ride in the index.
    Index(
        "ix_holds_active_by_source",
        "source_account_id",
        "expires_at",
        postgresql_where=text("status = 'active'"),
        postgresql_include=["amount", "captured_amount", "released_amount"],
    ),
    # The sweep: active holds, earliest expiry first.
    Index(
        "ix_holds_active_by_expiry", "expires_at", "id", postgresql_where=text("status = 'active'")
    ),
    *(
        Index(f"ix_holds_{column}_listing", column, text("created_at DESC"), text("id DESC"))
        for column in (
            "source_owner_id",
            "destination_owner_id",
            "source_account_id",
            "destination_account_id",
        )
    ),
)

transfers = Table(
    "transfers",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("source_account_id", Uuid, ForeignKey("accounts.id"), nullable=False),
    Column("destination_account_id", Uuid, ForeignKey("accounts.id"), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", CHAR(3), nullable=False),
    Column("description", String(256), nullable=True),
    Column("status", String(16), nullable=False),
    _created_at(),
    CheckConstraint(
        "kind IN ('transfer', 'deposit', 'withdrawal', 'capture', 'payout')", name="kind"
    ),
    CheckConstraint("amount > 0", name="amount_positive"),
    CheckConstraint(_CURRENCY_FORMAT, name="currency_format"),
    CheckConstraint("status = 'posted'", name="status"),
    CheckConstraint("source_account_id <> destination_account_id", name="distinct_accounts"),
    # Migration 0005.
    Column("hold_id", Uuid, ForeignKey("holds.id"), nullable=True),
    _metadata(),
    CheckConstraint(
        "hold_id IS NULL OR kind IN ('capture', 'payout')", name="hold_only_on_captures"
    ),
    # Migration 0006: an account's transfers on either side, newest first, and the
    # metadata filter's containment (``@>``).
    Index(
        "ix_transfers_source_listing", "source_account_id", text("created_at DESC"), text("id DESC")
    ),
    Index(
        "ix_transfers_destination_listing",
        "destination_account_id",
        text("created_at DESC"),
        text("id DESC"),
    ),
    # Migration 0007: only transfers that carry metadata, since a filter never matches {}.
    Index(
        "ix_transfers_metadata",
        "metadata",
        postgresql_using="gin",
        postgresql_ops={"metadata": "jsonb_path_ops"},
        postgresql_where=text("metadata <> '{}'::jsonb"),
    ),
    # Migration 0008: the batch that made the transfer. No foreign key: its check would
    # read the batches' key index under SERIALIZABLE, and concurrent batches inserting
    # into the same index page would then fail each other; reconciliation checks that
    # every batch_id names a batch instead.
    Column("batch_id", Uuid, nullable=True),
)

# Migration 0008: a batch as its client was answered (``answer``, the stored view that
# ``GET /v1/batches/{id}`` repeats).
batches = Table(
    "batches",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("client_id", Uuid, ForeignKey("api_clients.id"), nullable=False),
    Column("atomic", Boolean, nullable=False),
    _metadata(),
    _created_at(),
    Column("answer", JSONB, nullable=False),
)

entries = Table(
    "entries",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("transfer_id", Uuid, ForeignKey("transfers.id"), nullable=False, index=True),
    Column("account_id", Uuid, ForeignKey("accounts.id"), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", CHAR(3), nullable=False),
    Column("balance_after", BigInteger, nullable=True),
    Column("account_version", BigInteger, nullable=True),
    _created_at(),
    CheckConstraint("amount <> 0", name="amount_not_zero"),
    # One entry per account version: a second writer of the same version is refused,
    # and the index serves the statement's keyset pagination (account_version DESC).
    UniqueConstraint("account_id", "account_version"),
    # Migration 0005: a balance at a point in time is one lookup, since created_at
    # never decreases along account_version.
    Column("available_after", BigInteger, nullable=True),
    Index("ix_entries_account_history", "account_id", "created_at", "account_version"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("client_id", Uuid, ForeignKey("api_clients.id"), nullable=False),
    Column("key", String(255), nullable=False),
    Column("fingerprint", CHAR(64), nullable=False),
    Column("outcome", Text, nullable=False),
    # Indexed for the purge of old keys.
    _created_at(index=True),
    PrimaryKeyConstraint("client_id", "key"),
)

# The lock stripes (infrastructure/postgres/locking.py): empty tables ``s0000`` ...
# in their own schema, created by migration 0003. Changing the count needs a migration.
LOCK_STRIPES_SCHEMA = "account_locks"
LOCK_STRIPES = 1024
