"""In-memory repositories over a unit of work's working copy."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from typing import TypeVar

from domain.account import Account, AccountKind, settlement_account_id
from domain.api_client import ApiClient
from domain.batch import Batch
from domain.errors import IdempotencyKeyTakenError
from domain.hold import Hold, HoldStatus
from domain.idempotency import IdempotencyRecord
from domain.pagination import (
    Page,
    PageRequest,
    decode_cursor,
    encode_cursor,
    timestamp_position,
)
from domain.ports import TransferFilter, VisibleTransfer, account_list_scope
from domain.transfer import Entry, Transfer
from infrastructure.memory.store import MemoryState

T = TypeVar("T")


class MemoryAccountRepository:
    def __init__(self, state: MemoryState, now: datetime) -> None:
        self._state = state
        self._now = now

    async def add(self, account: Account) -> None:
        if account.id in self._state.accounts:
            raise ValueError(f"account {account.id} already exists")
        self._state.accounts[account.id] = copy.copy(account)

    async def get(self, account_id: uuid.UUID) -> Account | None:
        stored = self._state.accounts.get(account_id)
        return None if stored is None else self._as_of_clock(stored)

    def _as_of_clock(self, stored: Account) -> Account:
        account = copy.copy(stored)
        # Stored, ``held`` counts every hold written as active; split off those that
        # expired by the unit of work's clock.
        reserved = account.held + account.lapsed_held
        account.lapsed_held = sum(
            hold.remaining
            for hold in self._state.holds.values()
            if hold.source_account_id == account.id
            and hold.status is HoldStatus.ACTIVE
            and hold.has_expired(self._now)
        )
        account.held = reserved - account.lapsed_held
        return account

    async def get_many_for_update(
        self, account_ids: Collection[uuid.UUID]
    ) -> dict[uuid.UUID, Account]:
        found = {}
        for account_id in sorted(set(account_ids)):
            account = await self.get(account_id)
            if account is not None:
                found[account_id] = account
        return found

    async def save(self, account: Account) -> None:
        stored = self._state.accounts.get(account.id)
        if stored is None:
            raise ValueError(f"account {account.id} was never added")
        self._state.accounts[account.id] = copy.copy(account)

    async def settlement(self, currency: str, now: datetime) -> Account:
        account_id = settlement_account_id(currency)
        if account_id not in self._state.accounts:
            await self.add(Account.settlement(currency=currency, now=now))
        account = await self.get(account_id)
        assert account is not None
        return account

    async def settlement_balance(self, currency: str) -> int:
        entries = self._state.entries.get(settlement_account_id(currency), [])
        return sum(entry.amount for entry in entries)

    async def list_for_owner(
        self,
        owner_id: uuid.UUID,
        page: PageRequest,
        metadata: tuple[tuple[str, str], ...] = (),
    ) -> Page[Account]:
        owned = sorted(
            (
                account
                for account in self._state.accounts.values()
                if account.kind is AccountKind.CUSTOMER
                and account.owner_id == owner_id
                and all(account.metadata.get(key) == value for key, value in metadata)
            ),
            key=lambda account: (account.created_at, account.id),
            reverse=True,
        )

        def position(account: Account) -> list[str | int]:
            return [timestamp_position(account.created_at), str(account.id)]

        return paginate(
            [self._as_of_clock(account) for account in owned],
            page,
            account_list_scope(owner_id, metadata),
            position,
            (int, str),
        )


class MemoryTransferRepository:
    def __init__(self, state: MemoryState) -> None:
        self._state = state

    async def add(self, transfer: Transfer) -> None:
        if transfer.id in self._state.transfers:
            raise ValueError(f"transfer {transfer.id} already exists")
        self._state.transfers[transfer.id] = transfer
        for entry in transfer.entries:
            self._state.entries.setdefault(entry.account_id, []).append(entry)

    async def get(self, transfer_id: uuid.UUID) -> Transfer | None:
        return self._state.transfers.get(transfer_id)

    async def list_entries(self, account_id: uuid.UUID, page: PageRequest) -> Page[Entry]:
        newest_first = list(reversed(self._state.entries.get(account_id, [])))

        def position(entry: Entry) -> list[str | int]:
            assert entry.account_version is not None
            return [entry.account_version]

        return paginate(newest_first, page, f"entries:{account_id}", position, (int,))

    async def latest_entry(
        self, account_id: uuid.UUID, as_of: datetime | None = None
    ) -> Entry | None:
        for entry in reversed(self._state.entries.get(account_id, [])):
            if as_of is None or entry.created_at <= as_of:
                return entry
        return None

    async def list_visible(
        self, client_id: uuid.UUID, kept: TransferFilter, page: PageRequest
    ) -> Page[VisibleTransfer]:
        def owned(account_id: uuid.UUID) -> bool:
            account = self._state.accounts.get(account_id)
            return account is not None and account.is_owned_by(client_id)

        def keeps(transfer: Transfer) -> bool:
            sides = (transfer.source_account_id, transfer.destination_account_id)
            return (
                (kept.account_id is None or kept.account_id in sides)
                and (kept.kind is None or transfer.kind is kept.kind)
                and all(transfer.metadata.get(key) == value for key, value in kept.metadata)
            )

        seen = (
            VisibleTransfer(
                transfer,
                owns_source=owned(transfer.source_account_id),
                owns_destination=owned(transfer.destination_account_id),
            )
            for transfer in self._state.transfers.values()
            if keeps(transfer)
        )
        visible = sorted(
            (each for each in seen if each.owns_source or each.owns_destination),
            key=lambda each: (each.transfer.created_at, each.transfer.id),
            reverse=True,
        )

        def position(seen: VisibleTransfer) -> list[str | int]:
            return [timestamp_position(seen.transfer.created_at), str(seen.transfer.id)]

        return paginate(visible, page, kept.scope(client_id), position, (int, str))


class MemoryHoldRepository:
    def __init__(self, state: MemoryState) -> None:
        self._state = state

    async def add(self, hold: Hold) -> None:
        if hold.id in self._state.holds:
            raise ValueError(f"hold {hold.id} already exists")
        self._state.holds[hold.id] = copy.copy(hold)

    async def get(self, hold_id: uuid.UUID) -> Hold | None:
        hold = self._state.holds.get(hold_id)
        return copy.copy(hold) if hold else None

    async def get_for_update(self, hold_id: uuid.UUID) -> Hold | None:
        return await self.get(hold_id)  # units of work run one at a time here

    async def save(self, hold: Hold) -> None:
        if hold.id not in self._state.holds:
            raise ValueError(f"hold {hold.id} was never added")
        self._state.holds[hold.id] = copy.copy(hold)

    async def list_visible(
        self,
        client_id: uuid.UUID,
        page: PageRequest,
        now: datetime,
        status: HoldStatus | None = None,
        account_id: uuid.UUID | None = None,
    ) -> Page[Hold]:
        def owned(account_id: uuid.UUID) -> bool:
            account = self._state.accounts.get(account_id)
            return account is not None and account.is_owned_by(client_id)

        visible = sorted(
            (
                copy.copy(hold)
                for hold in self._state.holds.values()
                if (owned(hold.source_account_id) or owned(hold.destination_account_id))
                and (
                    account_id is None
                    or account_id in (hold.source_account_id, hold.destination_account_id)
                )
                and (status is None or hold.as_of(now).status is status)
            ),
            key=lambda hold: (hold.created_at, hold.id),
            reverse=True,
        )

        def position(hold: Hold) -> list[str | int]:
            return [timestamp_position(hold.created_at), str(hold.id)]

        scope = f"holds:{client_id}:{status}:{account_id}"
        return paginate(visible, page, scope, position, (int, str))

    async def expired(self, now: datetime, limit: int) -> list[Hold]:
        due = sorted(
            (
                hold
                for hold in self._state.holds.values()
                if hold.status is HoldStatus.ACTIVE and hold.has_expired(now)
            ),
            key=lambda hold: (hold.expires_at, hold.id),
        )
        return [copy.copy(hold) for hold in due[:limit]]

    async def claim_sweep(self) -> bool:
        return True  # units of work run one at a time here


class MemoryBatchRepository:
    def __init__(self, state: MemoryState) -> None:
        self._state = state

    async def add(self, batch: Batch) -> None:
        if batch.id in self._state.batches:
            raise ValueError(f"batch {batch.id} already exists")
        self._state.batches[batch.id] = batch

    async def get(self, batch_id: uuid.UUID) -> Batch | None:
        return self._state.batches.get(batch_id)


class MemoryApiClientRepository:
    def __init__(self, state: MemoryState) -> None:
        self._state = state

    async def add(self, client: ApiClient) -> None:
        if client.id in self._state.clients:
            raise ValueError("API client id collision")
        if await self.get_by_key_hash(client.key_hash) is not None:
            raise ValueError("API key hash collision")
        self._state.clients[client.id] = client

    async def get_by_key_hash(self, key_hash: str) -> ApiClient | None:
        # A scan: the in-memory adapter serves tests, with a handful of clients.
        return next(
            (
                client
                for client in self._state.clients.values()
                if key_hash in (client.key_hash, client.previous_key_hash)
            ),
            None,
        )

    async def get(self, client_id: uuid.UUID) -> ApiClient | None:
        return self._state.clients.get(client_id)

    async def save(self, client: ApiClient) -> None:
        self._state.clients[client.id] = client


class MemoryIdempotencyRepository:
    def __init__(self, state: MemoryState) -> None:
        self._state = state

    async def get(self, client_id: uuid.UUID, key: str) -> IdempotencyRecord | None:
        return self._state.idempotency.get((client_id, key))

    async def add(self, record: IdempotencyRecord) -> None:
        slot = (record.client_id, record.key)
        if slot in self._state.idempotency:
            raise IdempotencyKeyTakenError()
        self._state.idempotency[slot] = record

    async def purge(self, created_before: datetime, limit: int) -> int:
        expired = sorted(
            (
                (record.created_at, slot)
                for slot, record in self._state.idempotency.items()
                if record.created_at < created_before
            ),
            key=lambda expiry: expiry[0],
        )[:limit]
        for _, slot in expired:
            del self._state.idempotency[slot]
        return len(expired)


def paginate(
    items: Sequence[T],
    page: PageRequest,
    scope: str,
    position: Callable[[T], list[str | int]],
    shape: tuple[type, ...],
) -> Page[T]:
    """Keyset pagination over items already sorted newest first.

    The page starts strictly after the cursor's position, so items added since
    never shift later pages.
    """
    start = 0
    if page.after is not None:
        after = decode_cursor(scope, page.after, shape)
        start = next(
            (index for index, item in enumerate(items) if position(item) < after), len(items)
        )
    chunk = list(items[start : start + page.limit])
    has_more = start + page.limit < len(items)
    next_cursor = encode_cursor(scope, position(chunk[-1])) if chunk and has_more else None
    return Page(items=chunk, next_cursor=next_cursor)
