"""Use cases on accounts: open, amend, freeze, unfreeze, close, get, list, balance."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from application.commands import (
    AmendAccount,
    CloseAccount,
    FreezeAccount,
    GetAccount,
    GetBalance,
    ListAccounts,
    OpenAccount,
    UnfreezeAccount,
)
from application.idempotency import Codec, Once
from application.ports import Clock, IdFactory
from application.transactions import Transactions
from application.validation import (
    MAX_REFERENCE,
    fixed_metadata,
    valid_currency,
    valid_metadata,
    valid_overdraft_limit,
    valid_text,
)
from application.views import AccountView, BalanceView, Completed, PageView, page_view
from domain.account import Account
from domain.currency import CurrencyCatalog
from domain.errors import AccountNotFoundError, ValidationError
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
        limit = valid_overdraft_limit(command.overdraft_limit)
        metadata = fixed_metadata(command.metadata)

        once = Once(command, "open_account", ACCOUNT_CODEC, self._clock)
        async for uow in self._transactions.attempts(once=once):
            async with uow:
                account = Account.open(
                    account_id=self._new_id(),
                    owner_id=command.client_id,
                    currency=currency,
                    reference=reference,
                    now=await uow.now(),
                    overdraft_limit=limit,
                    metadata=metadata,
                )
                await uow.accounts.add(account)
                await once.commit(uow, AccountView.of(account))
        return once.outcome()

    async def amend(self, command: AmendAccount) -> AccountView:
        """A new overdraft limit and metadata to merge, as one change under the account's
        lock, so a limit change is serialised with every debit."""
        if command.overdraft_limit is None and command.metadata is None:
            raise ValidationError("give overdraft_limit, metadata or both")
        limit = (
            None
            if command.overdraft_limit is None
            else valid_overdraft_limit(command.overdraft_limit)
        )
        changes = valid_metadata(command.metadata, removals=True)

        def amend(account: Account) -> None:
            account.amend(overdraft_limit=limit, metadata=changes)

        return await self._change(command.client_id, command.account_id, amend)

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

    async def balance(self, query: GetBalance) -> BalanceView:
        """The balance now, or right after the last entry created at or before
        ``as_of`` (0 before the first): one index lookup, never a scan of the statement."""
        async with self._transactions.read() as uow:
            account = await owned_account(uow, query.client_id, query.account_id)
            if query.as_of is None:
                latest = await uow.transfers.latest_entry(account.id)
                return BalanceView(
                    account_id=account.id,
                    currency=account.currency,
                    balance=account.balance,
                    held=account.held,
                    available=account.available,
                    as_of=None,
                    entry_id=None if latest is None else latest.id,
                )
            if query.as_of > await uow.now():
                raise ValidationError("as_of must not be in the future")
            entry = await uow.transfers.latest_entry(account.id, query.as_of)
            return BalanceView(
                account_id=account.id,
                currency=account.currency,
                balance=0 if entry is None or entry.balance_after is None else entry.balance_after,
                held=None,
                available=None,
                as_of=query.as_of,
                entry_id=None if entry is None else entry.id,
            )

    async def list(self, query: ListAccounts) -> PageView[AccountView]:
        """The caller's accounts, closed ones included, newest first; only those whose
        metadata holds each of ``query.metadata``'s keys with its value."""
        # Checked like metadata in a body: a malformed key is a validation error, a
        # well-formed one that no account carries matches nothing.
        wanted = tuple(sorted(fixed_metadata(query.metadata).items()))
        async with self._transactions.read() as uow:
            page = await uow.accounts.list_for_owner(query.client_id, query.page, wanted)
            return page_view(page, AccountView.of)
