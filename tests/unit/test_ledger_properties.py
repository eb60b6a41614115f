"""Property tests: the README's invariants hold after any sequence of operations.

Hypothesis generates sequences of account openings (USD, JPY, BHD) for two or three
API clients, deposits, withdrawals, transfers (own and cross-client, wrong currency,
same account, frozen or closed sides, overdrafts, unknown and settlement ids, invalid
amounts, currencies and keys), freezes, unfreezes, closes and exact repeats of earlier
requests sent with an idempotency key. They run through the application services on
the in-memory unit of work; domain errors are expected outcomes. The invariants are
then checked against the committed in-memory state, never through the services.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from hypothesis import given, settings
from hypothesis import strategies as st

from application.commands import (
    CloseAccount,
    Deposit,
    FreezeAccount,
    OpenAccount,
    TransferFunds,
    UnfreezeAccount,
    Withdraw,
)
from application.views import AccountView, Completed, TransferView
from domain.account import AccountKind, AccountStatus, settlement_account_id
from domain.errors import (
    DomainError,
    IdempotencyKeyReusedError,
    RuleViolationError,
    ValidationError,
)
from domain.transfer import Entry, TransferKind
from infrastructure.memory.store import MemoryState, MemoryStore
from infrastructure.memory.unit_of_work import memory_transactions
from tests.bank import Bank, build_bank

CURRENCIES = ("USD", "JPY", "BHD")
KEYS = ("key-a", "key-b", "key-c", "key-d")
INVALID_KEY = ""  # an empty Idempotency-Key is a validation error, never stored
UNKNOWN = -1  # an account reference to an id that does not exist
SETTLEMENT = -2  # an account reference to the USD settlement account (never addressable)
UNKNOWN_ACCOUNT_ID = uuid.UUID(int=2**100)

T = TypeVar("T")

PROPERTY_SETTINGS = settings(max_examples=60, deadline=None)


# --- the operations hypothesis generates --------------------------------------------


@dataclass(frozen=True)
class OpenOp:
    client: int
    currency: str
    key: str | None
    funding: int  # deposited by the owner right after a first opening, when positive


@dataclass(frozen=True)
class MoveOp:
    kind: Literal["deposit", "withdraw", "transfer"]
    caller: int | None  # None: the owner of ``source``
    source: int  # the account of a deposit or withdrawal; the payer of a transfer
    destination: int  # transfers only: an offset from the source (0: the same account)
    payee_in_same_currency: bool  # transfers only: pick among accounts of the source's currency
    amount: int | None  # None: the source's whole balance
    currency: str | None  # None: the source's currency
    key: str | None


@dataclass(frozen=True)
class StatusOp:
    kind: Literal["freeze", "unfreeze", "close"]
    caller: int | None  # None: the owner of ``account``
    account: int


@dataclass(frozen=True)
class RepeatOp:
    """Send again, unchanged, an earlier request that carried an idempotency key."""

    index: int  # counted back from the latest such request


Op = OpenOp | MoveOp | StatusOp | RepeatOp


def weighted(*choices: tuple[int, st.SearchStrategy[T]]) -> st.SearchStrategy[T]:
    """Draws from one of the strategies, chosen roughly in proportion to its weight.

    ``st.one_of`` drops repeated strategies, so repeating one there does not weigh it;
    and ``sampled_from`` favours its first and last elements, so the first (most
    common) choice goes at both ends of the pool and the rarer ones in the middle.
    """
    (common_weight, common), *rare = choices
    middle = [strategy for weight, strategy in rare for _ in range(weight)]
    half = common_weight // 2
    pool = [common] * half + middle + [common] * (common_weight - half)
    return st.sampled_from(pool).flatmap(lambda strategy: strategy)


account_refs = weighted((12, st.integers(0, 10)), (1, st.sampled_from([UNKNOWN, SETTLEMENT])))
destination_offsets = weighted(
    (12, st.integers(1, 10)), (1, st.just(0)), (1, st.sampled_from([UNKNOWN, SETTLEMENT]))
)
callers = st.sampled_from([*[None] * 5, 0, 1, 2, *[None] * 5])  # mostly the account's owner
# (sampled_from favours its first and last elements: keep the rare ones in the middle)
keys = st.sampled_from([None, None, *KEYS, INVALID_KEY, None, None])
amounts: st.SearchStrategy[int | None] = weighted(
    (8, st.integers(1, 1_000)),  # mostly small, so balances build up and overdraw
    (1, st.none()),
    (1, st.sampled_from([0, -1, 10**15, 10**15 + 1])),
    (1, st.integers(1, 10**15)),
)
currencies = st.sampled_from([*[None] * 5, *CURRENCIES, "usd", "XAU", *[None] * 5])

open_ops = st.builds(
    OpenOp,
    st.integers(0, 2),
    st.sampled_from(["USD", "USD", "JPY", "BHD", "USD", "USD"]),  # enough USD pairs to pay
    keys,
    st.sampled_from([1_000, 0, 1, 500, 0, 5_000]),
)
move_ops = st.builds(
    MoveOp,
    st.sampled_from(["transfer", "deposit", "withdraw", "deposit", "transfer", "transfer"]),
    callers,
    account_refs,
    destination_offsets,
    st.sampled_from([True, False, True]),
    amounts,
    currencies,
    keys,
)
status_ops = st.builds(
    StatusOp,
    st.sampled_from(["freeze", "unfreeze", "unfreeze", "close"]),
    callers,
    account_refs,
)
repeat_ops = st.builds(RepeatOp, weighted((3, st.integers(0, 3)), (1, st.integers(0, 1_000))))
ops: st.SearchStrategy[Op] = weighted(
    (6, move_ops), (1, open_ops), (2, status_ops), (2, repeat_ops)
)


@dataclass(frozen=True)
class Scenario:
    client_count: int
    opening: list[OpenOp]
    ops: list[Op]


scenarios = st.builds(
    Scenario,
    st.integers(2, 3),
    st.lists(open_ops, min_size=2, max_size=6),
    st.lists(ops, min_size=5, max_size=40),
)


# --- what the driver records ---------------------------------------------------------

Command = (
    OpenAccount
    | Deposit
    | Withdraw
    | TransferFunds
    | FreezeAccount
    | UnfreezeAccount
    | CloseAccount
)
Result = Completed[AccountView] | Completed[TransferView] | AccountView
AccountRow = tuple[uuid.UUID, int, str, int]  # id, balance, status, version


@dataclass(frozen=True)
class Snapshot:
    """The committed state as plain values (stored accounts are shared, mutable objects)."""

    accounts: tuple[AccountRow, ...]
    transfers: int
    entries: int
    idempotency: frozenset[tuple[uuid.UUID, str, str, str]]
    # per currency, customer balances plus the settlement account's entries
    totals: tuple[tuple[str, int], ...]

    @property
    def ledger(self) -> tuple[tuple[AccountRow, ...], int, int]:
        return (self.accounts, self.transfers, self.entries)

    @classmethod
    def of(cls, state: MemoryState) -> Snapshot:
        return cls(
            accounts=tuple(
                sorted(
                    (account.id, account.balance, account.status.value, account.version)
                    for account in state.accounts.values()
                )
            ),
            transfers=len(state.transfers),
            entries=sum(len(lines) for lines in state.entries.values()),
            idempotency=frozenset(
                (record.client_id, record.key, record.fingerprint, record.outcome)
                for record in state.idempotency.values()
            ),
            totals=tuple(
                (currency, currency_total(state, currency))
                for currency in sorted(
                    set(CURRENCIES) | {account.currency for account in state.accounts.values()}
                )
            ),
        )


@dataclass(frozen=True)
class Step:
    command: Command
    outcome: Result | DomainError
    before: Snapshot
    after: Snapshot

    @property
    def key(self) -> str | None:
        return getattr(self.command, "idempotency_key", None)

    @property
    def replayed(self) -> bool:
        outcome = self.outcome
        if isinstance(outcome, DomainError):
            return outcome.replayed
        return isinstance(outcome, Completed) and outcome.replayed

    @property
    def executed(self) -> bool:
        """The request ran its business rules: it passed validation and the key check, and
        was not the replay of an earlier outcome."""
        refused = isinstance(self.outcome, RuleViolationError)
        succeeded = not isinstance(self.outcome, DomainError)
        return (refused or succeeded) and not self.replayed


@dataclass
class Trace:
    store: MemoryStore
    clients: list[uuid.UUID]
    accounts: list[uuid.UUID] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    status_changes: Counter[uuid.UUID] = field(default_factory=Counter)

    @property
    def state(self) -> MemoryState:
        return self.store.state


# --- the driver ----------------------------------------------------------------------


async def send(bank: Bank, command: Command) -> Result:
    match command:
        case OpenAccount():
            return await bank.accounts.open(command)
        case Deposit():
            return await bank.payments.deposit(command)
        case Withdraw():
            return await bank.payments.withdraw(command)
        case TransferFunds():
            return await bank.payments.transfer(command)
        case FreezeAccount():
            return await bank.accounts.freeze(command)
        case UnfreezeAccount():
            return await bank.accounts.unfreeze(command)
        case CloseAccount():
            return await bank.accounts.close(command)


class Driver:
    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.store = MemoryStore()
        self.bank = build_bank(memory_transactions(self.store))
        self.trace = Trace(store=self.store, clients=[])
        self.keyed: list[Command] = []

    async def run(self) -> Trace:
        for index in range(self.scenario.client_count):
            self.trace.clients.append(await self.bank.new_client(f"client-{index}"))
        for op in [*self.scenario.opening, *self.scenario.ops]:
            command = self.command_for(op)
            if command is None:
                continue
            opened = await self.execute(command)
            if opened is not None and isinstance(op, OpenOp) and op.funding > 0:
                await self.execute(Deposit(command.client_id, opened, op.funding, op.currency))
        return self.trace

    def client(self, index: int) -> uuid.UUID:
        return self.trace.clients[index % len(self.trace.clients)]

    def account_id(self, ref: int) -> uuid.UUID:
        if ref == SETTLEMENT:
            return settlement_account_id("USD")
        if ref == UNKNOWN or not self.trace.accounts:
            return UNKNOWN_ACCOUNT_ID
        return self.trace.accounts[ref % len(self.trace.accounts)]

    def payee_id(self, op: MoveOp, source_id: uuid.UUID) -> uuid.UUID:
        if op.destination < 0:
            return self.account_id(op.destination)
        source = self.store.state.accounts.get(source_id)
        candidates = [
            account_id
            for account_id in self.trace.accounts
            if source is None
            or not op.payee_in_same_currency
            or self.store.state.accounts[account_id].currency == source.currency
        ]
        if source_id not in candidates:  # an unknown source, or a settlement account
            return candidates[op.destination % len(candidates)] if candidates else source_id
        if op.destination == 0 or len(candidates) == 1:
            return source_id
        position = candidates.index(source_id)
        step = 1 + (op.destination - 1) % (len(candidates) - 1)  # never back to the source
        return candidates[(position + step) % len(candidates)]

    def caller(self, caller: int | None, account_id: uuid.UUID) -> uuid.UUID:
        if caller is not None:
            return self.client(caller)
        account = self.store.state.accounts.get(account_id)
        if account is None or account.owner_id is None:
            return self.client(0)
        return account.owner_id

    def command_for(self, op: Op) -> Command | None:
        match op:
            case OpenOp():
                return OpenAccount(
                    client_id=self.client(op.client), currency=op.currency, idempotency_key=op.key
                )
            case MoveOp():
                return self.move_command(op)
            case StatusOp():
                account_id = self.account_id(op.account)
                client_id = self.caller(op.caller, account_id)
                if op.kind == "freeze":
                    return FreezeAccount(client_id, account_id)
                if op.kind == "unfreeze":
                    return UnfreezeAccount(client_id, account_id)
                return CloseAccount(client_id, account_id)
            case RepeatOp():
                return self.keyed[-1 - op.index % len(self.keyed)] if self.keyed else None

    def move_command(self, op: MoveOp) -> Command:
        source_id = self.account_id(op.source)
        source = self.store.state.accounts.get(source_id)
        client_id = self.caller(op.caller, source_id)
        amount = op.amount
        if amount is None:
            amount = source.balance if source is not None else 1
        currency = op.currency
        if currency is None:
            currency = source.currency if source is not None else "USD"
        if op.kind == "deposit":
            return Deposit(client_id, source_id, amount, currency, idempotency_key=op.key)
        if op.kind == "withdraw":
            return Withdraw(client_id, source_id, amount, currency, idempotency_key=op.key)
        return TransferFunds(
            client_id,
            source_id,
            self.payee_id(op, source_id),
            amount,
            currency,
            idempotency_key=op.key,
        )

    async def execute(self, command: Command) -> uuid.UUID | None:
        """Send one request and record it; returns the id of an account it opened."""
        if getattr(command, "idempotency_key", None) not in (None, INVALID_KEY):
            self.keyed.append(command)
        before = Snapshot.of(self.store.state)
        statuses = {account.id: account.status for account in self.store.state.accounts.values()}
        outcome: Result | DomainError
        try:
            outcome = await send(self.bank, command)
        except DomainError as error:
            outcome = error
        after = Snapshot.of(self.store.state)
        self.trace.steps.append(Step(command, outcome, before, after))
        for account in self.store.state.accounts.values():
            if account.id in statuses and statuses[account.id] is not account.status:
                self.trace.status_changes[account.id] += 1
        if isinstance(outcome, Completed) and not outcome.replayed:
            opened = outcome.value
            if isinstance(opened, AccountView):
                self.trace.accounts.append(opened.id)
                return opened.id
        return None


def drive(scenario: Scenario) -> Trace:
    return asyncio.run(Driver(scenario).run())


# --- reading the committed state -----------------------------------------------------


def customer_accounts(state: MemoryState) -> list[uuid.UUID]:
    return [
        account.id for account in state.accounts.values() if account.kind is AccountKind.CUSTOMER
    ]


def entries_of(state: MemoryState, account_id: uuid.UUID) -> list[Entry]:
    return state.entries.get(account_id, [])


def settlement_balance(state: MemoryState, currency: str) -> int:
    return sum(entry.amount for entry in entries_of(state, settlement_account_id(currency)))


def currency_total(state: MemoryState, currency: str) -> int:
    customers = sum(
        account.balance
        for account in state.accounts.values()
        if account.kind is AccountKind.CUSTOMER and account.currency == currency
    )
    return customers + settlement_balance(state, currency)


def successful_money_moves(trace: Trace) -> list[Step]:
    return [
        step
        for step in trace.steps
        if step.executed
        and isinstance(step.outcome, Completed)
        and isinstance(step.outcome.value, TransferView)
    ]


# --- the invariants ------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(scenarios)
def test_per_currency_the_sum_of_all_balances_including_settlement_is_zero_after_any_sequence(
    scenario: Scenario,
) -> None:
    trace = drive(scenario)
    state = trace.state
    held = {account.currency for account in state.accounts.values()}
    for currency in set(CURRENCIES) | held:
        assert currency_total(state, currency) == 0, currency
    for step in trace.steps:  # and after every single step, not only at the end
        assert all(total == 0 for _currency, total in step.after.totals), step.command
    for account in state.accounts.values():
        if account.kind is AccountKind.SETTLEMENT:
            assert account.id == settlement_account_id(account.currency)
            assert account.owner_id is None
            assert account.balance == 0  # its balance lives in its entries only
            assert all(
                entry.balance_after is None and entry.account_version is None
                for entry in entries_of(state, account.id)
            )


@PROPERTY_SETTINGS
@given(scenarios)
def test_every_account_balance_is_the_sum_of_its_entries_and_the_latest_balance_after(
    scenario: Scenario,
) -> None:
    trace = drive(scenario)
    state = trace.state
    for account_id in customer_accounts(state):
        account = state.accounts[account_id]
        lines = entries_of(state, account_id)
        assert account.balance == sum(entry.amount for entry in lines)
        running = 0
        versions = []
        for entry in lines:
            assert entry.account_id == account_id
            assert entry.currency == account.currency
            running += entry.amount
            assert entry.balance_after == running  # an unbroken chain, in the applied order
            assert entry.account_version is not None
            versions.append(entry.account_version)
        assert versions == sorted(set(versions))  # strictly increasing
        assert all(2 <= version <= account.version for version in versions)
        if lines:
            assert lines[-1].balance_after == account.balance
        # version: 1 at opening, +1 per balance change (one entry each) and status change
        assert account.version == 1 + len(lines) + trace.status_changes[account_id]


@PROPERTY_SETTINGS
@given(scenarios)
def test_no_customer_balance_is_ever_negative_after_any_step(scenario: Scenario) -> None:
    trace = drive(scenario)
    customers = set(customer_accounts(trace.state))
    for step in trace.steps:
        for account_id, balance, _status, _version in step.after.accounts:
            if account_id in customers:
                assert balance >= 0, (step.command, account_id, balance)
    for entry_list in trace.state.entries.values():
        for entry in entry_list:
            assert entry.balance_after is None or entry.balance_after >= 0


@PROPERTY_SETTINGS
@given(scenarios)
def test_every_transfer_has_exactly_two_entries_of_minus_and_plus_its_amount(
    scenario: Scenario,
) -> None:
    trace = drive(scenario)
    state = trace.state
    by_transfer: dict[uuid.UUID, list[Entry]] = {}
    for lines in state.entries.values():
        for entry in lines:
            by_transfer.setdefault(entry.transfer_id, []).append(entry)
    assert set(by_transfer) == set(state.transfers)
    for transfer_id, transfer in state.transfers.items():
        posted = by_transfer[transfer_id]
        assert len(posted) == 2
        assert sum(entry.amount for entry in posted) == 0
        assert sorted(entry.amount for entry in posted) == [
            -transfer.money.amount,
            transfer.money.amount,
        ]
        assert transfer.money.amount > 0
        assert {entry.id for entry in posted} == {transfer.debit.id, transfer.credit.id}
        assert transfer.debit in entries_of(state, transfer.source_account_id)
        assert transfer.credit in entries_of(state, transfer.destination_account_id)
        source = state.accounts[transfer.source_account_id]
        destination = state.accounts[transfer.destination_account_id]
        assert source.id != destination.id
        assert source.currency == destination.currency == transfer.money.currency
        kinds = (source.kind, destination.kind)
        expected_kinds = {
            TransferKind.DEPOSIT: (AccountKind.SETTLEMENT, AccountKind.CUSTOMER),
            TransferKind.WITHDRAWAL: (AccountKind.CUSTOMER, AccountKind.SETTLEMENT),
            TransferKind.TRANSFER: (AccountKind.CUSTOMER, AccountKind.CUSTOMER),
        }
        assert kinds == expected_kinds[transfer.kind]


@PROPERTY_SETTINGS
@given(scenarios)
def test_a_request_with_an_idempotency_key_takes_effect_at_most_once(
    scenario: Scenario,
) -> None:
    trace = drive(scenario)
    state = trace.state
    # Only first executions post: as many transfers as money movements that succeeded
    # without being replays, and as many customer accounts as non-replayed openings.
    assert len(state.transfers) == len(successful_money_moves(trace))
    opened = [
        step
        for step in trace.steps
        if step.executed
        and isinstance(step.outcome, Completed)
        and isinstance(step.outcome.value, AccountView)
    ]
    assert len(customer_accounts(state)) == len(opened)

    first: dict[tuple[uuid.UUID, str], Step] = {}
    for step in trace.steps:
        key = step.key
        if key is None:
            continue
        slot = (step.command.client_id, key)
        if key == INVALID_KEY:
            assert isinstance(step.outcome, ValidationError)
            assert step.after == step.before
            continue
        if step.executed:
            assert slot not in first, f"executed twice under one key: {step.command}"
            first[slot] = step
            continue
        assert step.after == step.before, step.command  # no effect, nothing stored
        if isinstance(step.outcome, ValidationError):
            continue  # invalid requests are refused before the key is looked at
        assert slot in first
        original = first[slot]
        if step.command == original.command:
            assert step.replayed  # the same status and body as the first attempt
            if isinstance(step.outcome, DomainError):
                assert isinstance(original.outcome, DomainError)
                assert step.outcome.code == original.outcome.code
            else:
                assert isinstance(step.outcome, Completed)
                assert isinstance(original.outcome, Completed)
                assert step.outcome.value == original.outcome.value
        else:
            assert isinstance(step.outcome, IdempotencyKeyReusedError), step.command
    # every first execution under a key, success or refusal, left exactly one record
    assert set(state.idempotency) == set(first)


@PROPERTY_SETTINGS
@given(scenarios)
def test_a_refused_or_replayed_request_changes_no_balance_status_version_or_ledger(
    scenario: Scenario,
) -> None:
    trace = drive(scenario)
    moves = {id(step) for step in successful_money_moves(trace)}
    for step in trace.steps:
        if isinstance(step.outcome, DomainError) or step.replayed:
            assert step.after.ledger == step.before.ledger, step.command
        if isinstance(step.outcome, DomainError):
            # only a first refusal under a key adds something: its stored verdict
            added = 1 if step.executed and step.key is not None else 0
            assert len(step.after.idempotency) == len(step.before.idempotency) + added
            assert step.before.idempotency <= step.after.idempotency, step.command
        if id(step) in moves:
            assert step.after.transfers == step.before.transfers + 1
            assert step.after.entries == step.before.entries + 2
            view = step.outcome.value if isinstance(step.outcome, Completed) else None
            assert isinstance(view, TransferView)
            status_of = {row[0]: row[2] for row in step.before.accounts}
            for side in (view.source_account_id, view.destination_account_id):
                if side is not None:  # only active accounts send or receive
                    assert status_of[side] == AccountStatus.ACTIVE.value
