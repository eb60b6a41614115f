"""Use cases on holds (two-phase transfers): place, capture, void, extend and read them,
and the sweep that writes down expiries.

Every change of a hold locks its accounts first, exactly as a transfer does (the
source, and the destination for a capture), then the hold itself. So captures, voids
and extends of one hold, and every debit of its source, run one after another.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from application.commands import (
    CaptureHold,
    ExtendHold,
    GetHold,
    ListHolds,
    PlaceHold,
    VoidHold,
)
from application.idempotency import Codec, Once
from application.payments import TRANSFER_CODEC, payer_and_payee
from application.ports import Clock, IdFactory
from application.transactions import Transactions
from application.validation import (
    DEFAULT_HOLD_SECONDS,
    MAX_DESCRIPTION,
    fixed_metadata,
    valid_amount,
    valid_hold_duration,
    valid_money,
    valid_text,
)
from application.views import Completed, HoldView, PageView, TransferView, page_view
from domain.currency import CurrencyCatalog
from domain.errors import AccountNotFoundError, HoldNotFoundError, ValidationError
from domain.hold import Hold, HoldStatus
from domain.ports import UnitOfWork
from domain.posting import capture_hold

HOLD_CODEC = Codec(encode=HoldView.to_json, decode=HoldView.from_json)


class HoldService:
    """Tenancy: the source's owner places, captures, voids and extends a hold; an owner
    of either side may read it; for anyone else it does not exist."""

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

    async def place(self, command: PlaceHold) -> Completed[HoldView]:
        """Reserve money on the caller's account for a fixed destination, with the
        checks of a transfer in their order."""
        money = valid_money(self._catalog, command.amount, command.currency)
        seconds = command.expires_in_seconds
        expires_in = valid_hold_duration(DEFAULT_HOLD_SECONDS if seconds is None else seconds)
        description = valid_text(command.description, "description", MAX_DESCRIPTION)
        metadata = fixed_metadata(command.metadata)
        once = Once(command, "hold", HOLD_CODEC, self._clock)
        ids = (command.source_account_id, command.destination_account_id)
        async for uow in self._transactions.attempts(accounts=ids, once=once):
            async with uow:
                source, destination = await payer_and_payee(uow, command.client_id, *ids)
                now = await uow.now()
                hold = Hold.place(
                    hold_id=self._new_id(),
                    source=source,
                    destination=destination,
                    money=money,
                    expires_in=expires_in,
                    description=description,
                    metadata=metadata,
                    now=now,
                )
                await uow.accounts.save(source)
                await uow.holds.add(hold)
                await once.commit(uow, HoldView.of(hold, now))
        return once.outcome()

    async def capture(self, command: CaptureHold) -> Completed[TransferView]:
        """Move ``amount`` (all that remains by default) from the hold's source to its
        destination as a ``capture`` transfer; never refused for funds."""
        if command.amount is not None:
            valid_amount(command.amount)
        if type(command.final) is not bool:
            raise ValidationError("final must be true or false")
        description = valid_text(command.description, "description", MAX_DESCRIPTION)
        metadata = fixed_metadata(command.metadata)
        once = Once(command, "capture", TRANSFER_CODEC, self._clock)
        try:
            held = await self._find(command.client_id, command.hold_id)
        except HoldNotFoundError:
            # A refusal like any other: stored under the key, so the key stays bound.
            async for uow in self._transactions.attempts(once=once):
                async with uow:
                    raise
            return once.outcome()
        ids = (held.source_account_id, held.destination_account_id)
        holds = [command.hold_id]
        async for uow in self._transactions.attempts(accounts=ids, once=once, holds=holds):
            async with uow:
                locked = await uow.accounts.get_many_for_update(ids)
                hold = await self._locked(uow, command.client_id, command.hold_id)
                source = locked[hold.source_account_id]
                destination = locked[hold.destination_account_id]
                transfer = capture_hold(
                    hold=hold,
                    source=source,
                    destination=destination,
                    amount=command.amount,
                    final=command.final,
                    description=description,
                    metadata=metadata,
                    new_id=self._new_id,
                    now=await uow.now(),
                )
                await uow.accounts.save(source)
                await uow.accounts.save(destination)
                await uow.holds.save(hold)
                await uow.transfers.add(transfer)
                view = TransferView.of(
                    transfer,
                    owns_source=True,
                    owns_destination=destination.is_owned_by(command.client_id),
                )
                await once.commit(uow, view)
        return once.outcome()

    async def void(self, command: VoidHold) -> HoldView:
        """Release what remains; voiding a voided hold changes nothing."""

        held = await self._find(command.client_id, command.hold_id)
        source_id, hold_ids = [held.source_account_id], [held.id]
        async for uow in self._transactions.attempts(accounts=source_id, holds=hold_ids):
            async with uow:
                locked = await uow.accounts.get_many_for_update(source_id)
                hold = await self._locked(uow, command.client_id, command.hold_id)
                source = locked[hold.source_account_id]
                now = await uow.now()
                released = hold.void(now)
                if released:
                    source.settle_hold(captured=0, released=released)
                    await uow.accounts.save(source)
                    await uow.holds.save(hold)
                    await uow.commit()
                view = HoldView.of(hold, now)
        return view

    async def extend(self, command: ExtendHold) -> HoldView:
        """Move the expiry to now + the given seconds when that is later; never earlier."""
        expires_in = valid_hold_duration(command.expires_in_seconds)
        held = await self._find(command.client_id, command.hold_id)
        source_id, hold_ids = [held.source_account_id], [held.id]
        async for uow in self._transactions.attempts(accounts=source_id, holds=hold_ids):
            async with uow:
                await uow.accounts.get_many_for_update(source_id)
                hold = await self._locked(uow, command.client_id, command.hold_id)
                now = await uow.now()
                version = hold.version
                hold.extend(expires_in, now)
                if hold.version != version:
                    await uow.holds.save(hold)
                    await uow.commit()
                view = HoldView.of(hold, now)
        return view

    async def get(self, query: GetHold) -> HoldView:
        async with self._transactions.read() as uow:
            hold = await uow.holds.get(query.hold_id)
            if hold is None or not await _visible(uow, query.client_id, hold):
                raise HoldNotFoundError()
            return HoldView.of(hold, await uow.now())

    async def list(self, query: ListHolds) -> PageView[HoldView]:
        """Holds the caller owns either side of, newest first, optionally only those of
        one of its accounts, or with a status (as every read shows it now)."""
        status = _status(query.status)
        async with self._transactions.read() as uow:
            if query.account_id is not None:
                account = await uow.accounts.get(query.account_id)
                if account is None or not account.is_owned_by(query.client_id):
                    raise AccountNotFoundError()
            now = await uow.now()
            page = await uow.holds.list_visible(
                query.client_id, query.page, now, status, query.account_id
            )
            return page_view(page, lambda hold: HoldView.of(hold, now))

    async def _find(self, client_id: uuid.UUID, hold_id: uuid.UUID) -> Hold:
        """The hold, read before its transaction to learn which accounts to lock."""
        async with self._transactions.read() as uow:
            return await _owned(uow, client_id, await uow.holds.get(hold_id))

    async def _locked(self, uow: UnitOfWork, client_id: uuid.UUID, hold_id: uuid.UUID) -> Hold:
        return await _owned(uow, client_id, await uow.holds.get_for_update(hold_id))


async def _owned(uow: UnitOfWork, client_id: uuid.UUID, hold: Hold | None) -> Hold:
    """Only the source's owner may change a hold: for anyone else it does not exist."""
    if hold is None:
        raise HoldNotFoundError()
    source = await uow.accounts.get(hold.source_account_id)
    if source is None or not source.is_owned_by(client_id):
        raise HoldNotFoundError()
    return hold


async def _visible(uow: UnitOfWork, client_id: uuid.UUID, hold: Hold) -> bool:
    for account_id in (hold.source_account_id, hold.destination_account_id):
        account = await uow.accounts.get(account_id)
        if account is not None and account.is_owned_by(client_id):
            return True
    return False


def _status(value: str | None) -> HoldStatus | None:
    if value is None:
        return None
    try:
        return HoldStatus(value)
    except ValueError:
        allowed = ", ".join(status.value for status in HoldStatus)
        raise ValidationError(f"status must be one of {allowed}") from None


class HoldExpiry:
    """The sweep: writes down the release of holds whose expiry has come, earliest
    first, at most ``batch`` per transaction. Nothing depends on it for correctness
    (every read and rule already treats them as expired); it keeps storage tidy.
    Restart-safe (each transaction picks what is still stored active), never early (the
    domain decides by the unit of work's clock), one sweeper at a time."""

    def __init__(self, transactions: Transactions, batch: int = 500) -> None:
        if batch < 1:
            raise ValueError("a sweep batch holds at least one hold")
        self._transactions = transactions
        self._batch = batch

    async def sweep(self, stopping: Callable[[], bool] = lambda: False) -> int:
        """Sweep until nothing is due (or another process sweeps, or ``stopping()``);
        returns how many holds it released."""
        total = 0
        while True:
            released, due = await self._sweep_batch()
            total += released
            if due < self._batch or released == 0 or stopping():
                return total

    async def _sweep_batch(self) -> tuple[int, int]:
        async with self._transactions.read() as uow:
            candidates = await uow.holds.expired(await uow.now(), self._batch)
        if not candidates:
            return 0, 0
        sources = sorted({hold.source_account_id for hold in candidates})
        released = 0
        due = [hold.id for hold in candidates]
        async for uow in self._transactions.attempts(accounts=sources, holds=due):
            async with uow:
                released = 0
                if not await uow.holds.claim_sweep():
                    return 0, 0
                locked = await uow.accounts.get_many_for_update(sources)
                now = await uow.now()
                changed = set()
                for candidate in candidates:
                    hold = await uow.holds.get_for_update(candidate.id)
                    amount = 0 if hold is None else hold.lapse(now)
                    if hold is not None and amount:
                        locked[hold.source_account_id].lapse(amount)
                        changed.add(hold.source_account_id)
                        await uow.holds.save(hold)
                        released += 1
                for account_id in changed:
                    await uow.accounts.save(locked[account_id])
                await uow.commit()
        return released, len(candidates)
