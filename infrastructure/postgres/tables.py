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
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)

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
    CheckConstraint("kind = 'settlement' OR balance >= 0", name="customer_balance_not_negative"),
    CheckConstraint("(kind = 'settlement') = (owner_id IS NULL)", name="settlement_has_no_owner"),
    # Keyset pagination of an owner's accounts, newest first.
    Index("ix_accounts_owner_listing", "owner_id", text("created_at DESC"), text("id DESC")),
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
    CheckConstraint("kind IN ('transfer', 'deposit', 'withdrawal')", name="kind"),
    CheckConstraint("amount > 0", name="amount_positive"),
    CheckConstraint(_CURRENCY_FORMAT, name="currency_format"),
    CheckConstraint("status = 'posted'", name="status"),
    CheckConstraint("source_account_id <> destination_account_id", name="distinct_accounts"),
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
    # The settlement balance is a sum over its entries: carrying `amount` in the index
    # lets PostgreSQL answer it from the index alone.
    Index("ix_entries_account_id", "account_id", postgresql_include=["amount"]),
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
