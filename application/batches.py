"""Use cases of batches: several transfers in one request, in one transaction."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from application.commands import BatchItem, GetBatch, SubmitBatch
from application.idempotency import Codec, Once
from application.payments import payer_and_payee_among
from application.ports import Clock, IdFactory
from application.transactions import Transactions
from application.validation import MAX_DESCRIPTION, fixed_metadata, valid_money, valid_text
from application.views import BatchView, Completed, Refusal, TransferView
from domain.account import Account
from domain.batch import MAX_BATCH_ITEMS, Batch
from domain.currency import CurrencyCatalog
from domain.errors import BatchNotFoundError, RuleViolationError, ValidationError
from domain.money import Money
from domain.posting import post_transfer
from domain.transfer import Transfer, TransferKind

BATCH_CODEC = Codec(encode=BatchView.to_json, decode=BatchView.from_json)


@dataclass(frozen=True, slots=True)
class _Item:
    """A batch item once its input is valid."""

    source_account_id: uuid.UUID
    destination_account_id: uuid.UUID
    money: Money
    description: str | None
    metadata: dict[str, str]


class BatchService:
    """``POST /v1/batches`` and ``GET /v1/batches/{id}``.

    Every item is validated before anything is locked, so a malformed item anywhere
    refuses the whole batch (``validation_error``) whatever its mode. Then one
    transaction locks the union of the items' accounts once, in the storage's fixed
    order (two batches that overlap in any order cannot deadlock), and applies the
    items in order, each against what the ones before it left. An atomic batch stops at
    its first refusal, which names the item (``failed_index``) and rolls everything
    back; otherwise a refused item changes nothing (the domain checks every rule before
    it moves money) and the next one goes on.
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

    async def submit(self, command: SubmitBatch) -> Completed[BatchView]:
        items = self._valid_items(command.items)
        metadata = fixed_metadata(command.metadata)
        once = Once(command, "batch", BATCH_CODEC, self._clock)
        ids = {i.source_account_id for i in items} | {i.destination_account_id for i in items}
        async for uow in self._transactions.attempts(accounts=ids, once=once):
            async with uow:
                locked = await uow.accounts.get_many_for_update(ids)
                now = await uow.now()
                batch_id = self._new_id()
                outcomes: list[TransferView | Refusal] = []
                touched: dict[uuid.UUID, Account] = {}
                transfers: list[Transfer] = []
                for index, item in enumerate(items):
                    try:
                        source, destination = payer_and_payee_among(
                            locked,
                            command.client_id,
                            item.source_account_id,
                            item.destination_account_id,
                        )
                        transfer = post_transfer(
                            kind=TransferKind.TRANSFER,
                            source=source,
                            destination=destination,
                            money=item.money,
                            description=item.description,
                            new_id=self._new_id,
                            now=now,
                            metadata=item.metadata,
                            batch_id=batch_id,
                        )
                    except RuleViolationError as refusal:
                        if command.atomic:
                            refusal.failed_index = index
                            raise
                        outcomes.append(Refusal(refusal.code, refusal.detail))
                        continue
                    touched |= {source.id: source, destination.id: destination}
                    transfers.append(transfer)
                    outcomes.append(
                        TransferView.of(
                            transfer,
                            owns_source=True,
                            owns_destination=destination.is_owned_by(command.client_id),
                        )
                    )
                for account in touched.values():
                    await uow.accounts.save(account)
                for transfer in transfers:
                    await uow.transfers.add(transfer)
                view = BatchView(batch_id, command.atomic, tuple(outcomes), metadata, now)
                await uow.batches.add(
                    Batch(
                        id=batch_id,
                        client_id=command.client_id,
                        atomic=command.atomic,
                        created_at=now,
                        answer=json.dumps(view.to_json(), separators=(",", ":")),
                        metadata=metadata,
                    )
                )
                await once.commit(uow, view)
        return once.outcome()

    async def get(self, query: GetBatch) -> BatchView:
        """The batch as its client was answered; for anyone else it does not exist."""
        async with self._transactions.read() as uow:
            batch = await uow.batches.get(query.batch_id)
        if batch is None or batch.client_id != query.client_id:
            raise BatchNotFoundError()
        return BatchView.from_json(json.loads(batch.answer))

    def _valid_items(self, items: tuple[BatchItem, ...]) -> list[_Item]:
        if not 1 <= len(items) <= MAX_BATCH_ITEMS:
            raise ValidationError(f"a batch holds 1 to {MAX_BATCH_ITEMS} transfers")
        valid = []
        for index, item in enumerate(items):
            try:
                valid.append(
                    _Item(
                        item.source_account_id,
                        item.destination_account_id,
                        valid_money(self._catalog, item.amount, item.currency),
                        valid_text(item.description, "description", MAX_DESCRIPTION),
                        fixed_metadata(item.metadata),
                    )
                )
            except ValidationError as error:
                raise ValidationError(f"transfers[{index}]: {error.detail}") from None
        return valid
