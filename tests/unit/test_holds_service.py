"""Holds, limits, metadata and balances at a point in time, through the services, over
the in-memory adapter with a clock the test moves."""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from application.commands import (
    AmendAccount,
    CaptureHold,
    CloseAccount,
    Deposit,
    ExtendHold,
    FreezeAccount,
    GetAccount,
    GetBalance,
    GetHold,
    ListAccounts,
    ListHolds,
    OpenAccount,
    PlaceHold,
    VoidHold,
    Withdraw,
)
from application.holds import HoldExpiry
from application.views import AccountView, HoldView
from domain.account import settlement_account_id
from domain.errors import (
    AccountNotActiveError,
    AccountNotEmptyError,
    AccountNotFoundError,
    HoldExpiredError,
    HoldNotFoundError,
    IdempotencyKeyReusedError,
    InsufficientFundsError,
    ValidationError,
)
from domain.hold import HoldStatus
from domain.pagination import PageRequest
from infrastructure.memory.store import MemoryStore
from infrastructure.memory.unit_of_work import memory_transactions
from tests.bank import Bank, build_bank

START = datetime(2026, 3, 1, 12, tzinfo=UTC)
HOUR = 3_600
TICK = timedelta(microseconds=1)


class TestClock:
    """The units of work's clock: it moves only when the test moves it."""

    __test__ = False

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@dataclass
class World:
    bank: Bank
    store: MemoryStore
    clock: TestClock
    client: uuid.UUID
    source: uuid.UUID  # funded with 1_000
    destination: uuid.UUID  # the same client's
    other: uuid.UUID  # another client
    others_account: uuid.UUID

    async def account(self, account_id: uuid.UUID, client: uuid.UUID | None = None) -> AccountView:
        return await self.bank.accounts.get(GetAccount(client or self.client, account_id))

    async def place(self, amount: int = 300, seconds: int = HOUR, **kwargs: Any) -> HoldView:
        command = PlaceHold(
            self.client, self.source, self.destination, amount, "USD", seconds, **kwargs
        )
        return (await self.bank.holds.place(command)).value

    async def hold(self, hold_id: uuid.UUID, client: uuid.UUID | None = None) -> HoldView:
        return await self.bank.holds.get(GetHold(client or self.client, hold_id))


@pytest.fixture
async def world() -> World:
    clock = TestClock()
    store = MemoryStore(clock=clock)
    bank = build_bank(memory_transactions(store))
    client, other = await bank.new_client("first"), await bank.new_client("second")

    async def open_account(owner: uuid.UUID, funding: int = 0) -> uuid.UUID:
        account = (await bank.accounts.open(OpenAccount(owner, "USD"))).value.id
        if funding:
            await bank.payments.deposit(Deposit(owner, account, funding, "USD"))
        return account

    source, destination = await open_account(client, 1_000), await open_account(client)
    others_account = await open_account(other, 50)
    return World(bank, store, clock, client, source, destination, other, others_account)


# --- placing, capturing, voiding, extending ------------------------------------------


async def test_a_placed_hold_lowers_available_not_the_balance(world: World) -> None:
    hold = await world.place(300, seconds=HOUR, description="car", metadata={"order": "7"})

    assert (hold.amount, hold.currency, hold.remaining_amount, hold.status) == (
        300,
        "USD",
        300,
        HoldStatus.ACTIVE,
    )
    assert (hold.expires_at, hold.created_at, hold.version) == (
        START + timedelta(hours=1),
        START,
        1,
    )
    assert (hold.description, hold.metadata) == ("car", {"order": "7"})
    source = await world.account(world.source)
    assert (source.balance, source.held, source.available, source.version) == (1_000, 300, 700, 3)
    assert await world.hold(hold.id) == hold


async def test_the_default_expiry_is_seven_days(world: World) -> None:
    command = PlaceHold(world.client, world.source, world.destination, 1, "USD")
    hold = (await world.bank.holds.place(command)).value
    assert hold.expires_at == START + timedelta(days=7)


async def test_a_hold_is_refused_beyond_available_and_allowed_into_the_overdraft(
    world: World,
) -> None:
    await world.place(900)
    with pytest.raises(InsufficientFundsError):
        await world.place(101)
    await world.bank.accounts.amend(AmendAccount(world.client, world.source, overdraft_limit=50))

    await world.place(150)

    source = await world.account(world.source)
    assert (source.balance, source.held, source.available) == (1_000, 1_050, 0)
    with pytest.raises(InsufficientFundsError):  # a debit is held to available too
        await world.bank.payments.withdraw(Withdraw(world.client, world.source, 1, "USD"))


async def test_a_hold_to_an_unknown_or_settlement_account_is_not_found(world: World) -> None:
    for destination in (uuid.UUID(int=2**100), settlement_account_id("USD")):
        command = PlaceHold(world.client, world.source, destination, 1, "USD")
        with pytest.raises(AccountNotFoundError):
            await world.bank.holds.place(command)
    with pytest.raises(AccountNotFoundError):  # from another client's account
        await world.bank.holds.place(
            PlaceHold(world.client, world.others_account, world.destination, 1, "USD")
        )
    assert (await world.account(world.source)).held == 0


async def test_a_hold_may_pay_another_clients_account(world: World) -> None:
    command = PlaceHold(world.client, world.source, world.others_account, 10, "USD")
    hold = (await world.bank.holds.place(command)).value

    transfer = (await world.bank.holds.capture(CaptureHold(world.client, hold.id))).value

    assert (transfer.amount, transfer.destination_balance_after) == (10, None)  # not theirs
    assert transfer.source_balance_after == 990
    assert (await world.account(world.others_account, world.other)).balance == 60


async def test_captures_then_a_final_one_release_the_rest(world: World) -> None:
    hold = await world.place(300)
    world.clock.advance(timedelta(minutes=1))

    first = await world.bank.holds.capture(CaptureHold(world.client, hold.id, 100))
    final = await world.bank.holds.capture(CaptureHold(world.client, hold.id, 50, final=True))

    assert (first.value.kind, first.value.hold_id, first.value.amount) == ("capture", hold.id, 100)
    assert (final.value.source_balance_after, final.value.destination_balance_after) == (850, 150)
    shown = await world.hold(hold.id)
    assert (shown.status, shown.captured_amount, shown.released_amount) == ("captured", 150, 150)
    assert (shown.remaining_amount, shown.capture_count, shown.version) == (0, 2, 3)
    assert shown.updated_at == START + timedelta(minutes=1)
    source = await world.account(world.source)
    assert (source.balance, source.held, source.available) == (850, 0, 850)
    assert (await world.account(world.destination)).balance == 150


async def test_voiding_releases_the_remainder_even_on_a_frozen_account(world: World) -> None:
    hold = await world.place(300)
    await world.bank.accounts.freeze(FreezeAccount(world.client, world.source))
    version = (await world.account(world.source)).version

    voided = await world.bank.holds.void(VoidHold(world.client, hold.id))
    again = await world.bank.holds.void(VoidHold(world.client, hold.id))

    assert (voided.status, voided.released_amount, voided.version) == ("voided", 300, 2)
    assert again == voided  # a no-op: same version
    source = await world.account(world.source)
    assert (source.held, source.balance, source.version) == (0, 1_000, version + 1)


async def test_extending_moves_the_expiry_later_only(world: World) -> None:
    hold = await world.place(seconds=HOUR)
    world.clock.advance(timedelta(minutes=30))

    unchanged = await world.bank.holds.extend(ExtendHold(world.client, hold.id, 60))
    extended = await world.bank.holds.extend(ExtendHold(world.client, hold.id, 2 * HOUR))

    assert unchanged == hold
    assert (extended.expires_at, extended.version) == (
        START + timedelta(minutes=30, hours=2),
        2,
    )
    world.clock.advance(timedelta(hours=1))  # past the first expiry
    await world.bank.holds.capture(CaptureHold(world.client, hold.id, 1))


async def test_closing_needs_nothing_held(world: World) -> None:
    hold = await world.place(1_000)
    await world.bank.holds.capture(CaptureHold(world.client, hold.id, 999))
    with pytest.raises(AccountNotEmptyError):  # balance 1, held 1
        await world.bank.accounts.close(CloseAccount(world.client, world.source))
    await world.bank.holds.capture(CaptureHold(world.client, hold.id))

    closed = await world.bank.accounts.close(CloseAccount(world.client, world.source))

    assert (closed.status, closed.balance, closed.held) == ("closed", 0, 0)


# --- tenancy -------------------------------------------------------------------------


async def test_another_clients_hold_does_not_exist_for_them(world: World) -> None:
    hold = await world.place(300)
    for attempt in (
        world.bank.holds.get(GetHold(world.other, hold.id)),
        world.bank.holds.capture(CaptureHold(world.other, hold.id, 1)),
        world.bank.holds.void(VoidHold(world.other, hold.id)),
        world.bank.holds.extend(ExtendHold(world.other, hold.id, 2 * HOUR)),
    ):
        with pytest.raises(HoldNotFoundError):
            await attempt
    assert await world.hold(hold.id) == hold


async def test_the_destinations_owner_may_read_a_hold_but_not_change_it(world: World) -> None:
    funded = PlaceHold(world.other, world.others_account, world.destination, 20, "USD")
    hold = (await world.bank.holds.place(funded)).value

    assert await world.bank.holds.get(GetHold(world.client, hold.id)) == hold
    for attempt in (
        world.bank.holds.capture(CaptureHold(world.client, hold.id)),
        world.bank.holds.void(VoidHold(world.client, hold.id)),
        world.bank.holds.extend(ExtendHold(world.client, hold.id, 2 * HOUR)),
    ):
        with pytest.raises(HoldNotFoundError):
            await attempt
    assert await world.bank.holds.get(GetHold(world.other, hold.id)) == hold


async def test_an_unknown_hold_is_not_found(world: World) -> None:
    with pytest.raises(HoldNotFoundError):
        await world.hold(uuid.UUID(int=2**90))


# --- idempotency ---------------------------------------------------------------------


async def test_placing_with_a_key_takes_effect_once(world: World) -> None:
    command = PlaceHold(
        world.client, world.source, world.destination, 300, "USD", HOUR, idempotency_key="h-1"
    )
    first = await world.bank.holds.place(command)
    world.clock.advance(timedelta(minutes=1))
    again = await world.bank.holds.place(command)

    assert (first.replayed, again.replayed) == (False, True)
    assert again.value == first.value
    assert len(world.store.state.holds) == 1
    assert (await world.account(world.source)).held == 300
    with pytest.raises(IdempotencyKeyReusedError):
        await world.bank.holds.place(dataclasses.replace(command, amount=301))


async def test_capturing_with_a_key_takes_effect_once(world: World) -> None:
    hold = await world.place(300)
    command = CaptureHold(world.client, hold.id, 100, idempotency_key="c-1")

    first = await world.bank.holds.capture(command)
    again = await world.bank.holds.capture(command)

    assert (first.replayed, again.replayed) == (False, True)
    assert again.value == first.value
    assert (await world.hold(hold.id)).captured_amount == 100
    with pytest.raises(IdempotencyKeyReusedError):
        await world.bank.holds.capture(
            CaptureHold(world.client, hold.id, 101, idempotency_key="c-1")
        )
    assert (await world.account(world.destination)).balance == 100


async def test_a_capture_of_another_clients_hold_with_a_key_is_stored_like_any_refusal(
    world: World,
) -> None:
    hold = await world.place(300)
    await world.bank.payments.deposit(
        Deposit(world.other, world.others_account, 1, "USD", idempotency_key="d-1")
    )
    command = CaptureHold(world.other, hold.id, idempotency_key="c-3")

    with pytest.raises(HoldNotFoundError) as first:
        await world.bank.holds.capture(command)
    with pytest.raises(HoldNotFoundError) as again:
        await world.bank.holds.capture(command)
    with pytest.raises(IdempotencyKeyReusedError):  # the key is the deposit's
        await world.bank.holds.capture(CaptureHold(world.other, hold.id, idempotency_key="d-1"))

    assert (first.value.replayed, again.value.replayed) == (False, True)
    assert (await world.hold(hold.id)).captured_amount == 0


async def test_a_refused_capture_with_a_key_is_replayed(world: World) -> None:
    hold = await world.place(300, seconds=60)
    world.clock.advance(timedelta(seconds=60))
    command = CaptureHold(world.client, hold.id, idempotency_key="c-2")

    with pytest.raises(HoldExpiredError) as first:
        await world.bank.holds.capture(command)
    with pytest.raises(HoldExpiredError) as again:
        await world.bank.holds.capture(command)

    assert (first.value.replayed, again.value.replayed) == (False, True)


# --- expiry by the clock, without a sweep --------------------------------------------


async def test_an_expired_hold_is_expired_everywhere_without_a_sweep(world: World) -> None:
    hold = await world.place(300, seconds=60)
    await world.bank.holds.capture(CaptureHold(world.client, hold.id, 100))
    before = await world.account(world.source)

    world.clock.advance(timedelta(seconds=60) - TICK)
    assert (await world.hold(hold.id)).status == "active"
    assert (await world.account(world.source)).held == 200

    world.clock.advance(TICK)  # exactly at expires_at
    shown = await world.hold(hold.id)
    assert (shown.status, shown.released_amount, shown.remaining_amount) == ("expired", 200, 0)
    assert (shown.version, shown.updated_at) == (2, hold.expires_at)
    source = await world.account(world.source)
    assert (source.balance, source.held, source.available) == (900, 0, 900)
    assert source.version == before.version  # an expiry writes nothing
    for attempt in (
        world.bank.holds.capture(CaptureHold(world.client, hold.id, 1)),
        world.bank.holds.void(VoidHold(world.client, hold.id)),
        world.bank.holds.extend(ExtendHold(world.client, hold.id, HOUR)),
    ):
        with pytest.raises(HoldExpiredError):
            await attempt
    listed = await world.bank.accounts.list(ListAccounts(world.client, PageRequest(limit=10)))
    assert [view for view in listed.data if view.id == world.source] == [source]
    assert world.store.state.holds[hold.id].status is HoldStatus.ACTIVE  # not swept


async def test_an_expired_holds_money_is_available_again_at_once(world: World) -> None:
    hold = await world.place(1_000, seconds=60)
    world.clock.advance(timedelta(seconds=60))

    await world.bank.payments.withdraw(Withdraw(world.client, world.source, 1_000, "USD"))
    closed = await world.bank.accounts.close(CloseAccount(world.client, world.source))

    assert (closed.balance, closed.held, closed.status) == (0, 0, "closed")
    assert (await world.hold(hold.id)).status == "expired"


# --- the sweep -----------------------------------------------------------------------


async def place_expiring(world: World, *seconds: int) -> list[HoldView]:
    return [await world.place(10, seconds=s) for s in seconds]


def stored_statuses(world: World, holds: list[HoldView]) -> list[str]:
    return [world.store.state.holds[hold.id].status.value for hold in holds]


async def test_the_sweep_releases_only_due_holds(world: World) -> None:
    holds = await place_expiring(world, 60, 120, 180)
    before = await world.account(world.source)
    world.clock.advance(timedelta(seconds=120))

    assert await world.bank.hold_expiry.sweep() == 2

    assert stored_statuses(world, holds) == ["expired", "expired", "active"]
    assert [world.store.state.holds[hold.id].released_amount for hold in holds] == [10, 10, 0]
    after = await world.account(world.source)
    assert (after.held, after.available, after.version) == (10, 990, before.version)
    assert world.store.state.accounts[world.source].lapsed_held == 0
    assert world.store.state.accounts[world.source].held == 10


async def test_the_sweep_is_never_early(world: World) -> None:
    holds = await place_expiring(world, 60)
    world.clock.advance(timedelta(seconds=60) - TICK)

    assert await world.bank.hold_expiry.sweep() == 0
    assert stored_statuses(world, holds) == ["active"]


async def test_the_sweep_takes_the_earliest_expiry_first_in_bounded_batches(
    world: World,
) -> None:
    holds = await place_expiring(world, 300, 60, 240, 120, 180)
    world.clock.advance(timedelta(hours=1))
    sweep = HoldExpiry(memory_transactions(world.store), batch=2)

    assert await sweep.sweep(stopping=lambda: True) == 2  # one batch
    assert stored_statuses(world, holds) == ["active", "expired", "active", "expired", "active"]

    assert await sweep.sweep() == 3  # batches until nothing is due
    assert set(stored_statuses(world, holds)) == {"expired"}


async def test_sweeping_again_changes_nothing(world: World) -> None:
    holds = await place_expiring(world, 60, 120)
    world.clock.advance(timedelta(hours=1))
    await world.bank.hold_expiry.sweep()
    snapshot = (dict(world.store.state.holds), dict(world.store.state.accounts))
    views = [await world.hold(hold.id) for hold in holds]

    assert await world.bank.hold_expiry.sweep() == 0

    assert (world.store.state.holds, world.store.state.accounts) == snapshot
    assert [await world.hold(hold.id) for hold in holds] == views


async def test_the_sweep_writes_what_every_read_already_showed(world: World) -> None:
    hold = await world.place(300, seconds=60)
    await world.bank.holds.capture(CaptureHold(world.client, hold.id, 100))
    world.clock.advance(timedelta(hours=1))
    shown, account = await world.hold(hold.id), await world.account(world.source)

    await world.bank.hold_expiry.sweep()

    assert await world.hold(hold.id) == shown
    assert await world.account(world.source) == account


async def test_an_account_changed_between_expiry_and_sweep_stays_consistent(
    world: World,
) -> None:
    expiring = await world.place(300, seconds=60)
    lasting = await world.place(200, seconds=HOUR)
    world.clock.advance(timedelta(seconds=60))
    await world.bank.payments.withdraw(Withdraw(world.client, world.source, 100, "USD"))

    assert await world.bank.hold_expiry.sweep() == 1

    source = await world.account(world.source)
    assert (source.balance, source.held, source.available) == (900, 200, 700)
    assert (await world.hold(expiring.id)).status == "expired"
    assert (await world.hold(lasting.id)).remaining_amount == 200


# --- balances at a point in time -----------------------------------------------------


async def test_balance_now_carries_held_and_available(world: World) -> None:
    await world.place(300)
    balance = await world.bank.accounts.balance(GetBalance(world.client, world.source))
    assert (balance.balance, balance.held, balance.available, balance.as_of) == (
        1_000,
        300,
        700,
        None,
    )
    assert balance.entry_id is not None


async def test_a_balance_as_of_a_moment_is_the_one_after_the_last_entry_by_then(
    world: World,
) -> None:
    account = (await world.bank.accounts.open(OpenAccount(world.client, "USD"))).value.id
    world.clock.advance(timedelta(minutes=1))
    first = await world.bank.payments.deposit(Deposit(world.client, account, 100, "USD"))
    world.clock.advance(timedelta(minutes=1))
    await world.bank.payments.deposit(Deposit(world.client, account, 50, "USD"))
    world.clock.advance(timedelta(minutes=1))

    async def as_of(moment: datetime) -> tuple[int, int | None, int | None, uuid.UUID | None]:
        view = await world.bank.accounts.balance(GetBalance(world.client, account, moment))
        assert view.as_of == moment
        return view.balance, view.held, view.available, view.entry_id

    assert await as_of(START + timedelta(seconds=59)) == (0, None, None, None)
    middle = await as_of(START + timedelta(minutes=1))
    assert middle[:3] == (100, None, None)
    assert middle[3] is not None
    assert first.value.created_at == START + timedelta(minutes=1)
    assert (await as_of(START + timedelta(minutes=2) - TICK))[0] == 100
    assert (await as_of(START + timedelta(minutes=2)))[0] == 150
    assert (await as_of(world.clock.now))[0] == 150


async def test_a_balance_as_of_the_future_is_refused(world: World) -> None:
    with pytest.raises(ValidationError, match="future"):
        await world.bank.accounts.balance(
            GetBalance(world.client, world.source, world.clock.now + TICK)
        )


async def test_another_clients_balance_is_not_found(world: World) -> None:
    with pytest.raises(AccountNotFoundError):
        await world.bank.accounts.balance(GetBalance(world.other, world.source))


# --- listing holds -------------------------------------------------------------------


async def list_holds(world: World, client: uuid.UUID | None = None, **kwargs: Any) -> list[Any]:
    page = await world.bank.holds.list(
        ListHolds(client or world.client, PageRequest(limit=50), **kwargs)
    )
    return [view.id for view in page.data]


async def test_holds_list_newest_first_filtered_by_status_and_account(world: World) -> None:
    expiring = await world.place(10, seconds=60)
    world.clock.advance(TICK)
    voided = await world.place(10)
    await world.bank.holds.void(VoidHold(world.client, voided.id))
    world.clock.advance(TICK)
    captured = await world.place(10)
    await world.bank.holds.capture(CaptureHold(world.client, captured.id))
    world.clock.advance(TICK)
    active = await world.place(10)
    world.clock.advance(TICK)
    theirs = (
        await world.bank.holds.place(
            PlaceHold(world.other, world.others_account, world.destination, 5, "USD")
        )
    ).value
    world.clock.advance(timedelta(seconds=60))

    everything = [theirs.id, active.id, captured.id, voided.id, expiring.id]
    assert await list_holds(world) == everything
    assert await list_holds(world, status="expired") == [expiring.id]  # by the clock
    assert await list_holds(world, status="active") == [theirs.id, active.id]
    assert await list_holds(world, status="voided") == [voided.id]
    assert await list_holds(world, status="captured") == [captured.id]
    assert await list_holds(world, account_id=world.source) == everything[1:]
    assert await list_holds(world, account_id=world.destination) == everything
    assert await list_holds(world, world.other) == [theirs.id]
    with pytest.raises(AccountNotFoundError):
        await list_holds(world, account_id=world.others_account)
    with pytest.raises(ValidationError):
        await list_holds(world, status="pending")


async def test_holds_list_in_pages(world: World) -> None:
    placed = []
    for _ in range(5):
        placed.append((await world.place(1)).id)
        world.clock.advance(TICK)
    seen: list[uuid.UUID] = []
    after = None
    while True:
        page = await world.bank.holds.list(ListHolds(world.client, PageRequest(2, after)))
        assert len(page.data) <= 2
        seen += [view.id for view in page.data]
        if page.next_cursor is None:
            break
        after = page.next_cursor
        await world.place(1)  # new holds never shift later pages
    assert seen == placed[::-1]


# --- amending accounts ---------------------------------------------------------------


async def test_amend_merges_metadata_and_sets_the_limit_as_one_change(world: World) -> None:
    opened = (
        await world.bank.accounts.open(
            OpenAccount(world.client, "USD", overdraft_limit=10, metadata={"a": "1", "b": "2"})
        )
    ).value
    assert (opened.overdraft_limit, opened.metadata, opened.available) == (
        10,
        {"a": "1", "b": "2"},
        10,
    )

    amended = await world.bank.accounts.amend(
        AmendAccount(world.client, opened.id, 500, {"b": None, "c": "3"})
    )

    assert (amended.overdraft_limit, amended.metadata, amended.version) == (
        500,
        {"a": "1", "c": "3"},
        2,
    )
    assert (amended.available, amended.balance) == (500, 0)
    assert await world.account(opened.id) == amended


async def test_an_amend_that_changes_nothing_keeps_the_version(world: World) -> None:
    await world.bank.accounts.amend(AmendAccount(world.client, world.source, 5, {"a": "1"}))
    before = await world.account(world.source)

    same = await world.bank.accounts.amend(
        AmendAccount(world.client, world.source, 5, {"a": "1", "absent": None})
    )

    assert same == before


async def test_amend_is_refused_on_a_closed_account_and_for_others(world: World) -> None:
    await world.bank.accounts.close(CloseAccount(world.client, world.destination))
    with pytest.raises(AccountNotActiveError):
        await world.bank.accounts.amend(AmendAccount(world.client, world.destination, 5))
    with pytest.raises(AccountNotFoundError):
        await world.bank.accounts.amend(AmendAccount(world.other, world.source, 5))
    with pytest.raises(ValidationError):  # nothing to change
        await world.bank.accounts.amend(AmendAccount(world.client, world.source))
    assert (await world.account(world.source)).overdraft_limit == 0


# --- validation ----------------------------------------------------------------------

TOO_MANY_KEYS = {f"k{n}": "v" for n in range(51)}
BAD_METADATA = [
    pytest.param(TOO_MANY_KEYS, id="51 keys"),
    pytest.param({"": "v"}, id="empty key"),
    pytest.param({"k" * 41: "v"}, id="41-character key"),
    pytest.param({"a b": "v"}, id="space in key"),
    pytest.param({"é": "v"}, id="non-ASCII key"),
    pytest.param({"k": "é" * 501}, id="501 code points"),
    pytest.param({"k": "a\x00b"}, id="NUL"),
    pytest.param({"k": 1}, id="not a string"),
]
GOOD_METADATA = {
    **{f"k{n}": "" for n in range(49)},
    "A-z_0.9" + "x" * 33: "é" * 500,
}


@pytest.mark.parametrize("metadata", BAD_METADATA)
async def test_bad_metadata_is_refused_everywhere(world: World, metadata: Any) -> None:
    attempts = [
        world.bank.accounts.open(OpenAccount(world.client, "USD", metadata=metadata)),
        world.bank.accounts.amend(AmendAccount(world.client, world.source, metadata=metadata)),
        world.bank.holds.place(
            PlaceHold(world.client, world.source, world.destination, 1, "USD", metadata=metadata)
        ),
    ]
    for attempt in attempts:
        with pytest.raises(ValidationError):
            await attempt
    assert world.store.state.holds == {}


async def test_metadata_at_the_limits_is_accepted(world: World) -> None:
    assert len(GOOD_METADATA) == 50
    opened = (
        await world.bank.accounts.open(OpenAccount(world.client, "USD", metadata=GOOD_METADATA))
    ).value
    hold = await world.place(1, metadata=GOOD_METADATA)
    assert opened.metadata == hold.metadata == GOOD_METADATA


async def test_a_null_metadata_value_is_refused_at_creation(world: World) -> None:
    metadata: Any = {"k": None}
    with pytest.raises(ValidationError):
        await world.bank.accounts.open(OpenAccount(world.client, "USD", metadata=metadata))
    with pytest.raises(ValidationError):
        await world.place(1, metadata=metadata)
    hold = await world.place(1)
    with pytest.raises(ValidationError):
        await world.bank.holds.capture(CaptureHold(world.client, hold.id, metadata=metadata))


@pytest.mark.parametrize("limit", [-1, 10**15 + 1, True, 1.5, "5"])
async def test_an_overdraft_limit_out_of_bounds_is_refused(world: World, limit: Any) -> None:
    with pytest.raises(ValidationError):
        await world.bank.accounts.open(OpenAccount(world.client, "USD", overdraft_limit=limit))
    with pytest.raises(ValidationError):
        await world.bank.accounts.amend(AmendAccount(world.client, world.source, limit))


async def test_an_overdraft_limit_at_the_bounds_is_accepted(world: World) -> None:
    opened = await world.bank.accounts.open(
        OpenAccount(world.client, "USD", overdraft_limit=10**15)
    )
    assert opened.value.available == 10**15
    amended = await world.bank.accounts.amend(AmendAccount(world.client, opened.value.id, 0))
    assert amended.overdraft_limit == 0


@pytest.mark.parametrize("seconds", [0, -1, 2_592_001, True, 1.0])
async def test_a_hold_duration_out_of_bounds_is_refused(world: World, seconds: Any) -> None:
    with pytest.raises(ValidationError):
        await world.place(1, seconds=seconds)
    hold = await world.place(1)
    with pytest.raises(ValidationError):
        await world.bank.holds.extend(ExtendHold(world.client, hold.id, seconds))


@pytest.mark.parametrize("seconds", [1, 2_592_000])
async def test_a_hold_duration_at_the_bounds_is_accepted(world: World, seconds: int) -> None:
    hold = await world.place(1, seconds=seconds)
    assert hold.expires_at == START + timedelta(seconds=seconds)


@pytest.mark.parametrize(
    "change",
    [{"amount": 0}, {"amount": -5}, {"amount": 10**15 + 1}, {"amount": True}, {"final": 1}],
)
async def test_a_malformed_capture_is_refused(world: World, change: dict[str, Any]) -> None:
    hold = await world.place(300)
    with pytest.raises(ValidationError):
        await world.bank.holds.capture(CaptureHold(world.client, hold.id, **change))
    assert await world.hold(hold.id) == hold


async def test_an_invalid_request_wins_over_every_rule(world: World) -> None:
    hold = await world.place(300, seconds=60)
    world.clock.advance(timedelta(hours=1))
    with pytest.raises(ValidationError):
        await world.bank.holds.capture(CaptureHold(world.other, hold.id, 0))
    with pytest.raises(ValidationError):
        await world.bank.holds.extend(ExtendHold(world.other, hold.id, 0))
