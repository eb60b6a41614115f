"""Builds the application's services around given transactions, for tests."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from application.accounts import AccountService
from application.batches import BatchService
from application.clients import ClientService
from application.commands import CreateApiClient
from application.holds import HoldExpiry, HoldService
from application.ledger import LedgerQueries
from application.payments import PaymentService
from application.transactions import Transactions
from infrastructure.currencies import Iso4217Catalog


class SteppingClock:
    """Every reading is one millisecond after the previous one: deterministic, ordered."""

    def __init__(self, start: datetime = datetime(2026, 1, 1, tzinfo=UTC)) -> None:
        self._now = start

    def now(self) -> datetime:
        self._now += timedelta(milliseconds=1)
        return self._now


class SequentialIds:
    def __init__(self) -> None:
        self._counter = itertools.count(1)

    def __call__(self) -> uuid.UUID:
        return uuid.UUID(int=next(self._counter))


@dataclass
class Bank:
    accounts: AccountService
    payments: PaymentService
    ledger: LedgerQueries
    clients: ClientService
    holds: HoldService
    hold_expiry: HoldExpiry
    batches: BatchService

    async def new_client(self, name: str = "acme") -> uuid.UUID:
        return (await self.clients.create(CreateApiClient(name=name))).id


def build_bank(transactions: Transactions, *, random_ids: bool = False) -> Bank:
    clock = SteppingClock()
    new_id = uuid.uuid4 if random_ids else SequentialIds()
    secrets = (f"secret-{n}" for n in itertools.count(1))
    catalog = Iso4217Catalog()
    return Bank(
        accounts=AccountService(transactions, catalog, clock, new_id),
        payments=PaymentService(transactions, catalog, clock, new_id),
        ledger=LedgerQueries(transactions),
        clients=ClientService(transactions, clock, new_id, lambda: next(secrets)),
        holds=HoldService(transactions, catalog, clock, new_id),
        hold_expiry=HoldExpiry(transactions),
        batches=BatchService(transactions, catalog, clock, new_id),
    )
