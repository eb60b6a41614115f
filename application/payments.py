"""Use cases that move money: deposit, withdraw, transfer."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from application.commands import Deposit, TransferFunds, Withdraw
from application.idempotency import Codec, Once
from application.ports import Clock, IdFactory
from application.transactions import Transactions
from application.validation import MAX_DESCRIPTION, fixed_metadata, valid_money, valid_text
from application.views import Completed, TransferView
from domain.account import Account
from domain.currency import CurrencyCatalog
from domain.errors import AccountNotFoundError
from domain.money import Money
from domain.ports import UnitOfWork
from domain.posting import post_transfer
from domain.transfer import TransferKind

TRANSFER_CODEC = Codec(encode=TransferView.to_json, decode=TransferView.from_json)


async def payer_and_payee(
    uow: UnitOfWork, client_id: uuid.UUID, source_id: uuid.UUID, destination_id: uuid.UUID
) -> tuple[Account, Account]:
    """Both accounts, locked: the caller's own source, and any customer account as the
    destination; otherwise ``account_not_found``, exactly as if they did not exist."""
    locked = await uow.accounts.get_many_for_update((source_id, destination_id))
    return payer_and_payee_among(locked, client_id, source_id, destination_id)


def payer_and_payee_among(
    locked: Mapping[uuid.UUID, Account],
    client_id: uuid.UUID,
    source_id: uuid.UUID,
    destination_id: uuid.UUID,
) -> tuple[Account, Account]:
    """``payer_and_payee`` among accounts already locked."""
    source, destination = locked.get(source_id), locked.get(destination_id)
    if (
        source is None
        or destination is None
        or not source.is_owned_by(client_id)
        or destination.is_settlement
    ):
        raise AccountNotFoundError()
    return source, destination


class PaymentService:
    """Every movement is a transfer with two entries; deposits and withdrawals
    run against the currency's settlement account (the outside world).

    Tenancy: the caller must own the account money leaves (and, for a deposit,
    the account it enters); it may pay into any other client's active account of
    the same currency, without learning that account's balance.
    """

    def __init__(
        self,
        transactions: Transactions,
        catalog: CurrencyCatalog,
        clock: Clock,
        new_id: IdFactory,
    ) -> None:
        self._transactions = transactions
        self._catalog = catalog
        self._clock = clock
        self._new_id = new_id

    async def transfer(self, command: TransferFunds) -> Completed[TransferView]:
        money = valid_money(self._catalog, command.amount, command.currency)
        description = valid_text(command.description, "description", MAX_DESCRIPTION)
        fixed_metadata(command.metadata)
        once = Once(command, "transfer", TRANSFER_CODEC, self._clock)
        ids = (command.source_account_id, command.destination_account_id)
        async for uow in self._transactions.attempts(accounts=ids, once=once):
            async with uow:
                source, destination = await payer_and_payee(uow, command.client_id, *ids)
                view = await self._post(
                    uow, TransferKind.TRANSFER, source, destination, money, description, command
                )
                await once.commit(uow, view)
        return once.outcome()

    async def deposit(self, command: Deposit) -> Completed[TransferView]:
        """Money enters the caller's account from the settlement account."""
        return await self._settle(command, TransferKind.DEPOSIT, "deposit")

    async def withdraw(self, command: Withdraw) -> Completed[TransferView]:
        """Money leaves the caller's account for the settlement account."""
        return await self._settle(command, TransferKind.WITHDRAWAL, "withdrawal")

    async def _settle(
        self, command: Deposit | Withdraw, kind: TransferKind, operation: str
    ) -> Completed[TransferView]:
        money = valid_money(self._catalog, command.amount, command.currency)
        description = valid_text(command.description, "description", MAX_DESCRIPTION)
        fixed_metadata(command.metadata)
        once = Once(command, operation, TRANSFER_CODEC, self._clock)
        async for uow in self._transactions.attempts(accounts=[command.account_id], once=once):
            async with uow:
                locked = await uow.accounts.get_many_for_update([command.account_id])
                account = locked.get(command.account_id)
                if account is None or not account.is_owned_by(command.client_id):
                    raise AccountNotFoundError()
                settlement = await uow.accounts.settlement(money.currency, await uow.now())
                source, destination = (
                    (settlement, account) if kind is TransferKind.DEPOSIT else (account, settlement)
                )
                view = await self._post(uow, kind, source, destination, money, description, command)
                await once.commit(uow, view)
        return once.outcome()

    async def _post(
        self,
        uow: UnitOfWork,
        kind: TransferKind,
        source: Account,
        destination: Account,
        money: Money,
        description: str | None,
        command: Deposit | Withdraw | TransferFunds,
    ) -> TransferView:
        """Let the domain post the transfer, and record it; the caller commits."""
        transfer = post_transfer(
            kind=kind,
            source=source,
            destination=destination,
            money=money,
            description=description,
            new_id=self._new_id,
            now=await uow.now(),
            metadata=fixed_metadata(command.metadata),
        )
        for account in (source, destination):
            if not account.is_settlement:
                await uow.accounts.save(account)
        await uow.transfers.add(transfer)
        return TransferView.of(
            transfer,
            owns_source=source.is_owned_by(command.client_id),
            owns_destination=destination.is_owned_by(command.client_id),
        )
