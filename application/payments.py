"""Use cases that move money: deposit, withdraw, transfer."""

from __future__ import annotations

import uuid

from application.commands import Deposit, TransferFunds, Withdraw
from application.idempotency import Codec, IdempotentExecutor
from application.ports import Clock, IdFactory
from application.validation import MAX_DESCRIPTION, valid_money, valid_text
from application.views import Completed, TransferView
from domain.account import Account
from domain.currency import CurrencyCatalog
from domain.errors import AccountNotFoundError
from domain.money import Money
from domain.ports import UnitOfWork
from domain.posting import post_transfer
from domain.transfer import TransferKind

TRANSFER_CODEC = Codec(encode=TransferView.to_json, decode=TransferView.from_json)


class PaymentService:
    """Every movement is a transfer with two entries; deposits and withdrawals
    run against the currency's settlement account (the outside world).

    Tenancy: the caller must own the account money leaves (and, for a deposit,
    the account it enters); it may pay into any other client's active account of
    the same currency, without learning that account's balance.
    """

    def __init__(
        self,
        executor: IdempotentExecutor,
        catalog: CurrencyCatalog,
        clock: Clock,
        new_id: IdFactory,
    ) -> None:
        self._executor = executor
        self._catalog = catalog
        self._clock = clock
        self._new_id = new_id

    async def transfer(self, command: TransferFunds) -> Completed[TransferView]:
        money = valid_money(self._catalog, command.amount, command.currency)
        description = valid_text(command.description, "description", MAX_DESCRIPTION)

        async def work(uow: UnitOfWork) -> TransferView:
            ids = {command.source_account_id, command.destination_account_id}
            locked = await uow.accounts.get_many_for_update(ids)
            source = locked.get(command.source_account_id)
            destination = locked.get(command.destination_account_id)
            if (
                source is None
                or destination is None
                or not source.is_owned_by(command.client_id)
                or destination.is_settlement
            ):
                raise AccountNotFoundError()
            return await self._post(
                uow,
                TransferKind.TRANSFER,
                source,
                destination,
                money,
                description,
                command.client_id,
            )

        return await self._executor.execute(
            client_id=command.client_id,
            key=command.idempotency_key,
            operation="transfer",
            command=command,
            work=work,
            codec=TRANSFER_CODEC,
            accounts=(command.source_account_id, command.destination_account_id),
        )

    async def deposit(self, command: Deposit) -> Completed[TransferView]:
        money = valid_money(self._catalog, command.amount, command.currency)
        description = valid_text(command.description, "description", MAX_DESCRIPTION)

        async def work(uow: UnitOfWork) -> TransferView:
            account = await self._lock_own(uow, command.client_id, command.account_id)
            settlement = await uow.accounts.settlement(money.currency, self._clock.now())
            return await self._post(
                uow,
                TransferKind.DEPOSIT,
                settlement,
                account,
                money,
                description,
                command.client_id,
            )

        return await self._executor.execute(
            client_id=command.client_id,
            key=command.idempotency_key,
            operation="deposit",
            command=command,
            work=work,
            codec=TRANSFER_CODEC,
            accounts=(command.account_id,),
        )

    async def withdraw(self, command: Withdraw) -> Completed[TransferView]:
        money = valid_money(self._catalog, command.amount, command.currency)
        description = valid_text(command.description, "description", MAX_DESCRIPTION)

        async def work(uow: UnitOfWork) -> TransferView:
            account = await self._lock_own(uow, command.client_id, command.account_id)
            settlement = await uow.accounts.settlement(money.currency, self._clock.now())
            return await self._post(
                uow,
                TransferKind.WITHDRAWAL,
                account,
                settlement,
                money,
                description,
                command.client_id,
            )

        return await self._executor.execute(
            client_id=command.client_id,
            key=command.idempotency_key,
            operation="withdrawal",
            command=command,
            work=work,
            codec=TRANSFER_CODEC,
            accounts=(command.account_id,),
        )

    async def _lock_own(
        self, uow: UnitOfWork, client_id: uuid.UUID, account_id: uuid.UUID
    ) -> Account:
        account = (await uow.accounts.get_many_for_update([account_id])).get(account_id)
        if account is None or not account.is_owned_by(client_id):
            raise AccountNotFoundError()
        return account

    async def _post(
        self,
        uow: UnitOfWork,
        kind: TransferKind,
        source: Account,
        destination: Account,
        money: Money,
        description: str | None,
        client_id: uuid.UUID,
    ) -> TransferView:
        transfer = post_transfer(
            kind=kind,
            source=source,
            destination=destination,
            money=money,
            description=description,
            new_id=self._new_id,
            now=self._clock.now(),
        )
        for account in (source, destination):
            if not account.is_settlement:
                await uow.accounts.save(account)
        await uow.transfers.add(transfer)
        return TransferView.of(
            transfer,
            owns_source=source.is_owned_by(client_id),
            owns_destination=destination.is_owned_by(client_id),
        )
