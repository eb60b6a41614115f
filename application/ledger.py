"""Read use cases on the ledger: one transfer, a caller's transfers, an account's
statement."""

from __future__ import annotations

from application.accounts import owned_account
from application.commands import GetTransfer, ListEntries, ListTransfers
from application.transactions import Transactions
from application.validation import fixed_metadata
from application.views import EntryView, PageView, TransferView, page_view
from domain.errors import TransferNotFoundError, ValidationError
from domain.ports import TransferFilter, VisibleTransfer
from domain.transfer import TransferKind


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

    async def list_transfers(self, query: ListTransfers) -> PageView[TransferView]:
        """The transfers of which the caller owns either side, newest first, kept by
        every filter given; an ``account_id`` not the caller's is 404 as everywhere."""
        kept = TransferFilter(
            query.account_id,
            _kind(query.kind),
            tuple(sorted(fixed_metadata(query.metadata).items())),
        )
        async with self._transactions.read() as uow:
            if query.account_id is not None:
                await owned_account(uow, query.client_id, query.account_id)
            page = await uow.transfers.list_visible(query.client_id, kept, query.page)
            return page_view(page, _seen)

    async def list_entries(self, query: ListEntries) -> PageView[EntryView]:
        """The statement of the caller's account, newest first in the order applied."""

        async with self._transactions.read() as uow:
            await owned_account(uow, query.client_id, query.account_id)
            page = await uow.transfers.list_entries(query.account_id, query.page)
            return page_view(page, EntryView.of)


def _kind(value: str | None) -> TransferKind | None:
    if value is None:
        return None
    try:
        return TransferKind(value)
    except ValueError:
        allowed = ", ".join(kind.value for kind in TransferKind)
        raise ValidationError(f"kind must be one of {allowed}") from None


def _seen(visible: VisibleTransfer) -> TransferView:
    return TransferView.of(
        visible.transfer,
        owns_source=visible.owns_source,
        owns_destination=visible.owns_destination,
    )
