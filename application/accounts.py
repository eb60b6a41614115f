"""Use cases on accounts: open, freeze, unfreeze, close, get and list."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from application.commands import (
    CloseAccount,
    FreezeAccount,
    GetAccount,
    ListAccounts,
    OpenAccount,
    UnfreezeAccount,
)
from application.idempotency import Codec, Once
from application.ports import Clock, IdFactory
from application.transactions import Transactions
from application.validation import MAX_REFERENCE, valid_currency, valid_text
from application.views import AccountView, Completed, PageView, page_view
from domain.account import Account
from domain.currency import CurrencyCatalog
from domain.errors import AccountNotFoundError
from domain.ports import UnitOfWork

ACCOUNT_CODEC = Codec(encode=AccountView.to_json, decode=AccountView.from_json)


async def owned_account(uow: UnitOfWork, client_id: uuid.UUID, account_id: uuid.UUID) -> Account:
    """The caller's account, or ``account_not_found`` exactly as if it did not exist."""
    account = await uow.accounts.get(account_id)
    if account is None or not account.is_owned_by(client_id):
        raise AccountNotFoundError()
    return account


class AccountService:
    """Accounts belong to the API client that opened them; any other client gets 404."""

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

    async def open(self, command: OpenAccount) -> Completed[AccountView]:
        """Open an active account at balance 0, version 1, in an accepted currency."""
        currency = valid_currency(self._catalog, command.currency)
        reference = valid_text(command.reference, "reference", MAX_REFERENCE)

        once = Once(command, "open_account", ACCOUNT_CODEC, self._clock)
        async for uow in self._transactions.attempts(once=once):
            async with uow:
                account = Account.open(
                    account_id=self._new_id(),
                    owner_id=command.client_id,
                    currency=currency,
                    reference=reference,
                    now=self._clock.now(),
                )
                await uow.accounts.add(account)
                await once.commit(uow, AccountView.of(account))
        return once.outcome()

    async def freeze(self, command: FreezeAccount) -> AccountView:
        """Frozen accounts neither send nor receive; freezing twice changes nothing."""
        return await self._change(command.client_id, command.account_id, Account.freeze)

    async def unfreeze(self, command: UnfreezeAccount) -> AccountView:
        return await self._change(command.client_id, command.account_id, Account.unfreeze)

    async def close(self, command: CloseAccount) -> AccountView:
        """Only at a zero balance; closed is final."""
        return await self._change(command.client_id, command.account_id, Account.close)

    async def _change(
        self,
        client_id: uuid.UUID,
        account_id: uuid.UUID,
        change: Callable[[Account], None],
    ) -> AccountView:
        async for uow in self._transactions.attempts(accounts=[account_id]):
            async with uow:
                locked = await uow.accounts.get_many_for_update([account_id])
                account = locked.get(account_id)
                if account is None or not account.is_owned_by(client_id):
                    raise AccountNotFoundError()
                version = account.version
                change(account)
                if account.version != version:
                    await uow.accounts.save(account)
                    await uow.commit()
                view = AccountView.of(account)
        return view

    async def get(self, query: GetAccount) -> AccountView:
        async with self._transactions.read() as uow:
            return AccountView.of(await owned_account(uow, query.client_id, query.account_id))

    async def list(self, query: ListAccounts) -> PageView[AccountView]:
        """The caller's accounts, closed ones included, newest first."""

        async with self._transactions.read() as uow:
            page = await uow.accounts.list_for_owner(query.client_id, query.page)
            return page_view(page, AccountView.of)
