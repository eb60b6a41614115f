"""Holds on real PostgreSQL under concurrency: captures, voids, extends and debits of
one source serialise; two captures never together exceed a hold; a capture racing the
expiry instant has one winner; a limit change is serialised with a debit. Each
guarantee has a weakened twin that the same checks must catch."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import time
import uuid
from collections import Counter
from collections.abc import Collection

import pytest
from sqlalchemy import literal, text
from sqlalchemy.ext.asyncio import AsyncEngine

from application.commands import (
    AmendAccount,
    CaptureHold,
    ExtendHold,
    GetAccount,
    GetBalance,
    GetHold,
    OpenAccount,
    PlaceHold,
    TransferFunds,
    VoidHold,
    Withdraw,
)
from application.transactions import RetryPolicy
from domain.errors import ConcurrencyConflictError, RuleViolationError
from domain.hold import Hold, HoldStatus
from infrastructure.postgres import executor as executor_module
from infrastructure.postgres import locking
from infrastructure.postgres.executor import Batch
from infrastructure.postgres.holds import lock_holds
from infrastructure.postgres.locking import LOCK_ACCOUNTS, AccountLocks
from infrastructure.postgres.tables import accounts
from tests.bank import Bank
from tests.integration.postgres_bank import postgres_bank, violations
from tests.integration.test_concurrency import open_accounts
from tests.integration.weakened import weaken

POLICY = RetryPolicy(attempts=60, base_delay=0.001, max_delay=0.05)
HOLDS = 8
HOLD_AMOUNT = 1_500
TASKS = 24
OPERATIONS = 600


async def place_holds(
    bank: Bank, client: uuid.UUID, source: uuid.UUID, payee: uuid.UUID
) -> list[uuid.UUID]:
    return [
        (await bank.holds.place(PlaceHold(client, source, payee, HOLD_AMOUNT, "USD"))).value.id
        for _ in range(HOLDS)
    ]


async def hold_storm(
    banks: list[Bank],
    client: uuid.UUID,
    source: uuid.UUID,
    payee: uuid.UUID,
    holds: list[uuid.UUID],
    seed: int,
    *,
    tolerate_errors: bool = False,
) -> tuple[Counter[str], dict[uuid.UUID, int]]:
    """TASKS workers share OPERATIONS operations on one hot source: captures of its
    holds (partial, and now and then final), extends, rare voids, and transfers and
    withdrawals from the same source. Returns the outcomes and, per hold, the amount
    of the captures that were acknowledged."""
    outcomes: Counter[str] = Counter()
    captured: dict[uuid.UUID, int] = dict.fromkeys(holds, 0)
    remaining = OPERATIONS

    async def worker(number: int) -> None:
        nonlocal remaining
        rng = random.Random(seed * 1_000 + number)
        bank = banks[number % len(banks)]
        while remaining > 0:
            remaining -= 1
            roll = rng.random()
            hold = rng.choice(holds)
            try:
                if roll < 0.5:
                    final = rng.random() < 0.01
                    done = await bank.holds.capture(
                        CaptureHold(client, hold, rng.randint(1, 60), final)
                    )
                    captured[hold] += done.value.amount
                    outcomes["capture"] += 1
                elif roll < 0.58:
                    await bank.holds.extend(ExtendHold(client, hold, rng.randint(60, 3600)))
                    outcomes["extend"] += 1
                elif roll < 0.59:
                    await bank.holds.void(VoidHold(client, hold))
                    outcomes["void"] += 1
                elif roll < 0.8:
                    await bank.payments.transfer(
                        TransferFunds(client, source, payee, rng.randint(1, 80), "USD")
                    )
                    outcomes["transfer"] += 1
                else:
                    await bank.payments.withdraw(
                        Withdraw(client, source, rng.randint(1, 80), "USD")
                    )
                    outcomes["withdrawal"] += 1
            except RuleViolationError as refused:
                outcomes[refused.code] += 1
            except ConcurrencyConflictError:
                outcomes["concurrency_conflict"] += 1
            except Exception as error:
                if not tolerate_errors:
                    raise
                outcomes[type(error).__name__] += 1

    await asyncio.gather(*(worker(number) for number in range(TASKS)))
    return outcomes, captured


async def funded_source(bank: Bank) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    client, (source, payee) = await open_accounts(bank, 2, 20_000)
    return client, source, payee


async def test_a_storm_on_one_hot_hold_source_keeps_every_invariant(
    engine: AsyncEngine, locks: AccountLocks
) -> None:
    workers = [postgres_bank(engine, POLICY, locks) for _ in range(2)]
    bank = workers[0].bank
    client, source, payee = await funded_source(bank)
    holds = await place_holds(bank, client, source, payee)

    started = time.perf_counter()
    outcomes, captured = await hold_storm(
        [worker.bank for worker in workers], client, source, payee, holds, seed=1
    )
    elapsed = time.perf_counter() - started

    retries = sum(worker.transactions.counters.retries for worker in workers)
    print(
        f"\nhold storm: {sum(outcomes.values())} operations by {TASKS} tasks in {elapsed:.1f} s,"
        f" {retries} retries, outcomes {dict(outcomes)}"
    )
    assert outcomes["capture"] > 150
    assert outcomes["transfer"] + outcomes["withdrawal"] > 150
    assert outcomes["concurrency_conflict"] == 0
    assert await violations(engine) == []
    shown = [await bank.holds.get(GetHold(client, hold)) for hold in holds]
    for hold in shown:
        # Every acknowledged capture, and nothing else, is in the hold.
        assert hold.captured_amount == captured[hold.id]
        assert hold.amount == hold.captured_amount + hold.released_amount + hold.remaining_amount
    account = await bank.accounts.get(GetAccount(client, source))
    assert account.held == sum(hold.remaining_amount for hold in shown)
    assert account.available == account.balance - account.held >= 0


async def test_the_hold_storm_detects_a_hold_without_its_lock(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same storm with no lock on the hold (nor on its source, at READ COMMITTED):
    captures overwrite each other, and the books say so."""
    workers = [postgres_bank(engine, RetryPolicy(attempts=3)) for _ in range(2)]
    bank = workers[0].bank
    client, source, payee = await funded_source(bank)
    holds = await place_holds(bank, client, source, payee)
    await weaken(engine, monkeypatch, *(worker.executor for worker in workers))

    def plain_select(hold_ids: Collection[uuid.UUID]) -> object:
        query = lock_holds(hold_ids)
        query._for_update_arg = None
        return query

    original = Batch.load_holds

    async def slow_load_holds(self: Batch, hold_ids: Collection[uuid.UUID]) -> list[uuid.UUID]:
        loaded = await original(self, hold_ids)
        await asyncio.sleep(0.005)
        return loaded

    monkeypatch.setattr(executor_module, "lock_holds", plain_select)
    monkeypatch.setattr(Batch, "load_holds", slow_load_holds)

    await hold_storm(
        [worker.bank for worker in workers], client, source, payee, holds, seed=2,
        tolerate_errors=True,
    )  # fmt: skip

    broken = {violation.invariant for violation in await violations(engine)}
    assert "every hold's amounts add up, and its captures are its transfers" in broken


async def racing_captures(engine: AsyncEngine) -> Counter[str]:
    workers = [postgres_bank(engine, POLICY) for _ in range(2)]
    bank = workers[0].bank
    client, source, payee = await funded_source(bank)
    hold = (await bank.holds.place(PlaceHold(client, source, payee, 100, "USD"))).value.id

    async def capture(number: int) -> str:
        try:
            await workers[number % 2].bank.holds.capture(CaptureHold(client, hold, 30))
        except RuleViolationError as refused:
            return refused.code
        return "captured"

    outcomes = Counter(await asyncio.gather(*(capture(n) for n in range(12))))
    shown = await bank.holds.get(GetHold(client, hold))
    outcomes["hold captured"] = shown.captured_amount
    return outcomes


async def test_two_concurrent_captures_never_together_exceed_the_hold(engine: AsyncEngine) -> None:
    outcomes = await racing_captures(engine)

    assert outcomes == Counter({"captured": 3, "capture_exceeds_remaining": 9, "hold captured": 90})
    assert await violations(engine) == []


async def test_captures_racing_the_expiry_instant_each_have_one_winner(
    engine: AsyncEngine,
) -> None:
    """Captures of 1 every few milliseconds from two workers, across the instant a
    hold expires: each is either captured before ``expires_at`` or refused with
    ``hold_expired``; none after, and none refused before."""
    workers = [postgres_bank(engine, POLICY) for _ in range(2)]
    bank = workers[0].bank
    client, source, payee = await funded_source(bank)
    placed = await bank.holds.place(
        PlaceHold(client, source, payee, 10_000 // 10, "USD", expires_in_seconds=1)
    )
    hold = placed.value

    answers: list[tuple[str, float]] = []

    async def capture(number: int) -> None:
        try:
            await workers[number % 2].bank.holds.capture(CaptureHold(client, hold.id, 1))
            answers.append(("captured", time.monotonic()))
        except RuleViolationError as refused:
            answers.append((refused.code, time.monotonic()))

    deadline = time.monotonic() + 1.4
    tasks = []
    number = 0
    while time.monotonic() < deadline:
        tasks.append(asyncio.create_task(capture(number)))
        number += 1
        await asyncio.sleep(0.004)
    await asyncio.gather(*tasks)

    codes = Counter(code for code, _ in answers)
    assert set(codes) == {"captured", "hold_expired"}, codes
    async with engine.connect() as connection:
        late = (
            await connection.execute(
                text(
                    "SELECT count(*) FROM transfers t JOIN holds h ON h.id = t.hold_id"
                    " WHERE h.id = :hold AND t.created_at >= h.expires_at"
                ),
                {"hold": hold.id},
            )
        ).scalar_one()
    assert late == 0  # no capture is dated at or after the expiry
    shown = await bank.holds.get(GetHold(client, hold.id))
    assert shown.status is HoldStatus.EXPIRED
    assert shown.captured_amount == codes["captured"]
    assert shown.released_amount == hold.amount - codes["captured"]
    assert (await bank.accounts.get(GetAccount(client, source))).held == 0
    # The sweep writes down what every read already showed, and changes no version.
    before = await bank.accounts.get(GetAccount(client, source))
    assert await bank.hold_expiry.sweep() == 1
    after = await bank.accounts.get(GetAccount(client, source))
    assert (after.held, after.available, after.version) == (0, before.available, before.version)
    assert await bank.holds.get(GetHold(client, hold.id)) == shown
    assert await violations(engine) == []


async def test_the_expiry_race_detects_expiry_checked_only_by_the_sweep(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With expiry left to the sweep, a capture after ``expires_at`` goes through."""
    monkeypatch.setattr(Hold, "has_expired", lambda self, now: self.status is HoldStatus.EXPIRED)
    monkeypatch.setattr(
        locking, "account_columns", lambda now: [accounts, literal(0).label("lapsed_held")]
    )
    never_lapsed = text(LOCK_ACCOUNTS.replace("expires_at <= clock.now", "false"))
    monkeypatch.setattr(
        executor_module,
        "lock_accounts",
        lambda ids, now: never_lapsed.bindparams(ids=sorted(set(ids)), now=now),
    )
    bank = postgres_bank(engine, POLICY).bank
    client, source, payee = await funded_source(bank)
    hold = (
        await bank.holds.place(PlaceHold(client, source, payee, 10, "USD", expires_in_seconds=1))
    ).value
    await asyncio.sleep(1.05)

    await bank.holds.capture(CaptureHold(client, hold.id, 1))

    async with engine.connect() as connection:
        late = (
            await connection.execute(
                text(
                    "SELECT count(*) FROM transfers t JOIN holds h ON h.id = t.hold_id"
                    " WHERE t.created_at >= h.expires_at"
                )
            )
        ).scalar_one()
    assert late == 1


async def limit_race(
    engine: AsyncEngine, bank: Bank, other: Bank, client: uuid.UUID, rounds: int
) -> list[tuple[int, int | None]]:
    """Per round: an account at balance 0 with a limit of 100; a withdrawal of 100
    starts, and 10 ms later another worker lowers the limit to 0. Returns (the PATCH's
    version, the withdrawal entry's account version, None if it was refused)."""
    results = []
    for _ in range(rounds):
        account = (
            await bank.accounts.open(OpenAccount(client, "USD", overdraft_limit=100))
        ).value.id

        async def withdraw(account: uuid.UUID) -> None:
            with contextlib.suppress(RuleViolationError):
                await bank.payments.withdraw(Withdraw(client, account, 100, "USD"))

        async def lower(account: uuid.UUID) -> int:
            await asyncio.sleep(0.01)
            return (await other.accounts.amend(AmendAccount(client, account, 0))).version

        _, patched = await asyncio.gather(withdraw(account), lower(account))
        async with engine.connect() as connection:
            withdrawn = (
                await connection.execute(
                    text("SELECT account_version FROM entries WHERE account_id = :account"),
                    {"account": account},
                )
            ).scalar_one_or_none()
        results.append((patched, withdrawn))
    return results


async def test_a_limit_change_is_serialised_with_a_debit(
    engine: AsyncEngine, locks: AccountLocks
) -> None:
    bank, other = (postgres_bank(engine, POLICY, locks).bank for _ in range(2))
    client = (await open_accounts(bank, 0, 0))[0]

    for patched, withdrawn in await limit_race(engine, bank, other, client, rounds=10):
        # Either the withdrawal came first (and the PATCH after it), or it was refused.
        assert withdrawn is None or withdrawn < patched
    assert await violations(engine) == []


async def test_the_limit_race_detects_a_limit_read_outside_the_transaction(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The debit's limit comes from a read made before its transaction locked the
    account: the limit lowered in between is ignored."""
    original = Batch.load
    seen: set[uuid.UUID] = set()

    async def stale_limits(self: Batch, account_ids: Collection[uuid.UUID]) -> list[uuid.UUID]:
        async with engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT id, overdraft_limit FROM accounts WHERE id = ANY(:ids)"),
                {"ids": list(account_ids)},
            )
            limits: dict[uuid.UUID, int] = {row[0]: row[1] for row in rows}
        if not seen.issuperset(account_ids):  # the first comer (the withdrawal) dawdles
            seen.update(account_ids)
            await asyncio.sleep(0.03)
        loaded = await original(self, account_ids)
        for account_id, limit in limits.items():
            if account_id in self.accounts:
                self.accounts[account_id].overdraft_limit = limit
        return loaded

    monkeypatch.setattr(Batch, "load", stale_limits)
    bank, other = (postgres_bank(engine, POLICY, "portable").bank for _ in range(2))
    client = (await open_accounts(bank, 0, 0))[0]

    outcomes = await limit_race(engine, bank, other, client, rounds=5)

    assert any(withdrawn is not None and withdrawn > patched for patched, withdrawn in outcomes)


async def test_entries_never_go_back_in_time_and_balances_answer_at_any_moment(
    engine: AsyncEngine,
) -> None:
    """Two workers move money between three accounts; along each account's order of
    application no entry is dated before the one before it, so the balance at any
    entry's time is the balance right after the last entry of that time."""
    workers = [postgres_bank(engine, POLICY) for _ in range(2)]
    bank = workers[0].bank
    client, ids = await open_accounts(bank, 3, 1_000)

    async def move(number: int) -> None:
        rng = random.Random(number)
        for _ in range(30):
            source, destination = rng.sample(ids, 2)
            with contextlib.suppress(RuleViolationError):
                await workers[number % 2].bank.payments.transfer(
                    TransferFunds(client, source, destination, rng.randint(1, 50), "USD")
                )

    await asyncio.gather(*(move(n) for n in range(8)))

    async with engine.connect() as connection:
        rows = (
            await connection.execute(
                text(
                    "SELECT account_id, created_at, balance_after FROM entries"
                    " WHERE account_id = ANY(:ids) ORDER BY account_id, account_version"
                ),
                {"ids": ids},
            )
        ).all()
    assert len(rows) > 200
    for (account, moment, _), (next_account, next_moment, _) in itertools.pairwise(rows):
        assert account != next_account or moment <= next_moment
    for account_id, moment, _ in rows[::9]:
        shown = await bank.accounts.balance(GetBalance(client, account_id, moment))
        last_of_that_time = [row for row in rows if row[0] == account_id and row[1] <= moment][-1]
        assert shown.balance == last_of_that_time[2]
