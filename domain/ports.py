"""Ports: what the domain needs from storage, implemented in ``infrastructure``.

Two adapters implement every port with the same semantics: the in-memory one
(unit tests) and the PostgreSQL one (the service).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

from domain.account import Account
from domain.api_client import ApiClient
from domain.batch import Batch
from domain.hold import Hold, HoldStatus
from domain.idempotency import IdempotencyRecord
from domain.pagination import Page, PageRequest
from domain.transfer import Entry, Transfer, TransferKind


class AccountRepository(Protocol):
    async def add(self, account: Account) -> None: ...

    async def get(self, account_id: uuid.UUID) -> Account | None:
        """The account (customer or settlement) without locking it.

        Every account a repository returns has ``held`` and ``lapsed_held`` split by the
        unit of work's clock (``UnitOfWork.now``): holds that expired by then count in
        ``lapsed_held`` only.
        """
        ...

    async def get_many_for_update(
        self, account_ids: Collection[uuid.UUID]
    ) -> dict[uuid.UUID, Account]:
        """Load and lock the accounts that exist among ``account_ids``, in one statement.

        Locks are taken in ascending id order so that two units of work locking the
        same accounts can never deadlock on each other. Missing ids are absent from
        the result.
        """
        ...

    async def save(self, account: Account) -> None:
        """Persist what changed of an account already locked: balance, held amount,
        status, limit, metadata and version."""
        ...

    async def settlement(self, currency: str, now: datetime) -> Account:
        """The settlement account of ``currency``, created on first use; never locked."""
        ...

    async def settlement_balance(self, currency: str) -> int:
        """The settlement account's balance: the sum of its entries."""
        ...

    async def list_for_owner(
        self,
        owner_id: uuid.UUID,
        page: PageRequest,
        metadata: tuple[tuple[str, str], ...] = (),
    ) -> Page[Account]:
        """The owner's customer accounts, newest first (created_at, then id, descending),
        only those whose metadata holds every ``(key, value)`` of ``metadata``."""
        ...


def account_list_scope(owner_id: uuid.UUID, metadata: tuple[tuple[str, str], ...]) -> str:
    """The cursor scope of an owner's account list: a cursor serves only the list, and
    the metadata filter, it came from."""
    if not metadata:
        return f"accounts:{owner_id}"  # the scope of cursors issued before the filter
    return json.dumps(["accounts", str(owner_id), sorted(metadata)])


@dataclass(frozen=True, slots=True)
class TransferFilter:
    """What a list of transfers keeps, every given part AND-ed: one account's, one
    kind's, and those whose metadata holds every ``(key, value)`` of ``metadata``."""

    account_id: uuid.UUID | None = None
    kind: TransferKind | None = None
    metadata: tuple[tuple[str, str], ...] = ()

    def scope(self, client_id: uuid.UUID) -> str:
        """The cursor scope: a cursor serves only the caller and the filters it came from."""
        account = None if self.account_id is None else str(self.account_id)
        kind = None if self.kind is None else self.kind.value
        return json.dumps(["transfers", str(client_id), account, kind, sorted(self.metadata)])


@dataclass(frozen=True, slots=True)
class VisibleTransfer:
    """A transfer in a caller's list, with the sides the caller owns."""

    transfer: Transfer
    owns_source: bool
    owns_destination: bool


class TransferRepository(Protocol):
    async def add(self, transfer: Transfer) -> None:
        """Record a posted transfer and its two entries."""
        ...

    async def get(self, transfer_id: uuid.UUID) -> Transfer | None: ...

    async def list_entries(self, account_id: uuid.UUID, page: PageRequest) -> Page[Entry]:
        """The account's entries, newest first in the order they were applied."""
        ...

    async def latest_entry(
        self, account_id: uuid.UUID, as_of: datetime | None = None
    ) -> Entry | None:
        """The account's last applied entry, or the last one created at or before
        ``as_of``: one index lookup, since ``created_at`` never decreases along an
        account's order of application."""
        ...

    async def list_visible(
        self, client_id: uuid.UUID, kept: TransferFilter, page: PageRequest
    ) -> Page[VisibleTransfer]:
        """The transfers of which the client owns either side and ``kept`` keeps, newest
        first (created_at, then id, descending)."""
        ...


class HoldRepository(Protocol):
    async def add(self, hold: Hold) -> None: ...

    async def get(self, hold_id: uuid.UUID) -> Hold | None:
        """The hold as stored (``Hold.as_of`` shows it at a time), without locking it."""
        ...

    async def get_for_update(self, hold_id: uuid.UUID) -> Hold | None:
        """The hold, locked until the unit of work ends. Callers lock its source
        account first, as every change of a hold does, so locks come in one order."""
        ...

    async def save(self, hold: Hold) -> None:
        """Persist a hold loaded with ``get_for_update``."""
        ...

    async def list_visible(
        self,
        client_id: uuid.UUID,
        page: PageRequest,
        now: datetime,
        status: HoldStatus | None = None,
        account_id: uuid.UUID | None = None,
    ) -> Page[Hold]:
        """Holds whose source or destination the client owns (only those touching
        ``account_id`` when given, with status ``status`` at ``now``), newest first."""
        ...

    async def expired(self, now: datetime, limit: int) -> list[Hold]:
        """At most ``limit`` holds still stored as active whose expiry has come by
        ``now``, the earliest expiry first."""
        ...

    async def claim_sweep(self) -> bool:
        """Whether this unit of work may sweep expired holds: one sweeper at a time,
        however many processes share the storage, until the unit of work ends."""
        ...


class BatchRepository(Protocol):
    async def add(self, batch: Batch) -> None: ...

    async def get(self, batch_id: uuid.UUID) -> Batch | None: ...


class ApiClientRepository(Protocol):
    async def add(self, client: ApiClient) -> None: ...

    async def get_by_key_hash(self, key_hash: str) -> ApiClient | None:
        """The client whose current or previous key has this hash, valid or not."""
        ...

    async def get(self, client_id: uuid.UUID) -> ApiClient | None: ...

    async def save(self, client: ApiClient) -> None:
        """Stores the client's keys and revocation (its id, name and creation stay)."""
        ...


class IdempotencyRepository(Protocol):
    async def get(self, client_id: uuid.UUID, key: str) -> IdempotencyRecord | None: ...

    async def add(self, record: IdempotencyRecord) -> None:
        """Store the outcome; (client_id, key) is unique.

        Raises ``IdempotencyKeyTakenError`` (possibly only at commit) when another
        unit of work stored the same key first.
        """
        ...

    async def purge(self, created_before: datetime, limit: int) -> int:
        """Forget at most ``limit`` of the records older than ``created_before``, oldest
        first; returns how many.

        Fewer than ``limit`` means none are left, or another transaction is purging
        right now (storage shared by several processes lets one purge at a time).
        """
        ...


class UnitOfWork(Protocol):
    """One atomic transaction over all repositories.

    ``async with uow:`` begins it; ``await uow.commit()`` is explicit; leaving the
    block without committing, or with an exception, rolls everything back.
    """

    @property
    def accounts(self) -> AccountRepository: ...

    @property
    def transfers(self) -> TransferRepository: ...

    @property
    def clients(self) -> ApiClientRepository: ...

    @property
    def idempotency(self) -> IdempotencyRepository: ...

    @property
    def holds(self) -> HoldRepository: ...

    @property
    def batches(self) -> BatchRepository: ...

    async def now(self) -> datetime:
        """The unit of work's clock: the time its decisions are made at (the database's
        clock on PostgreSQL, read once its accounts are locked), the same on every call,
        and never earlier than any change already made to the accounts it locked."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None: ...

    async def commit(self) -> None: ...

    async def rollback(self) -> None: ...
