"""Read use cases on the ledger: one transfer, an account's statement."""

from __future__ import annotations

from application.accounts import owned_account
from application.commands import GetTransfer, ListEntries
from application.transactions import Transactions
from application.views import EntryView, PageView, TransferView, page_view
from domain.errors import TransferNotFoundError


class LedgerQueries:
    def __init__(self, transactions: Transactions) -> None:
        self._transactions = transactions

    async def get_transfer(self, query: GetTransfer) -> TransferView:
        """Visible to a caller who owns either side; anyone else gets 404."""

        async with self._transactions.read() as uow:
            transfer = await uow.transfers.get(query.transfer_id)
            if transfer is None:
                raise TransferNotFoundError()
            source = await uow.accounts.get(transfer.source_account_id)
            destination = await uow.accounts.get(transfer.destination_account_id)
            owns_source = source is not None and source.is_owned_by(query.client_id)
            owns_destination = destination is not None and destination.is_owned_by(query.client_id)
            if not (owns_source or owns_destination):
                raise TransferNotFoundError()
            return TransferView.of(
                transfer, owns_source=owns_source, owns_destination=owns_destination
            )

    async def list_entries(self, query: ListEntries) -> PageView[EntryView]:
        """The statement of the caller's account, newest first in the order applied."""

        async with self._transactions.read() as uow:
            await owned_account(uow, query.client_id, query.account_id)
            page = await uow.transfers.list_entries(query.account_id, query.page)
            return page_view(page, EntryView.of)
