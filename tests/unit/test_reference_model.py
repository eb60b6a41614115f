"""Stateful test: the application services agree with a reference model of docs/api.md.

A hypothesis state machine drives the services (in-memory unit of work, with a clock
the machine moves) and, next to them, a deliberately naive model: plain dicts of
balance, status, version, limit and metadata per account, the owner of each account,
the holds, and the outcome stored under each idempotency key. Every rule predicts from
the model alone what the service must answer (the error code, or the balances,
versions, statuses and ``*_balance_after`` of the result) and asserts the service
agrees exactly; the invariants compare every account and hold, read back through the
services, with the model after every step, and check the ledger's invariants on what
is stored.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)

from application.commands import (
    AmendAccount,
    BatchItem,
    CaptureHold,
    CloseAccount,
    Deposit,
    ExtendHold,
    FreezeAccount,
    GetAccount,
    GetHold,
    GetTransfer,
    ListAccounts,
    OpenAccount,
    PlaceHold,
    SubmitBatch,
    TransferFunds,
    UnfreezeAccount,
    VoidHold,
    Withdraw,
)
from application.views import AccountView, Completed, HoldView, PageView, TransferView
from application.views import Refusal as BatchRefusal
from domain.account import settlement_account_id
from domain.errors import AccountNotFoundError, DomainError, IdempotencyKeyReusedError
from domain.pagination import PageRequest
from infrastructure.memory.store import MemoryStore
from infrastructure.memory.unit_of_work import memory_transactions
from tests.bank import build_bank

T = TypeVar("T")

CURRENCIES = ("USD", "JPY", "BHD")
MAX_AMOUNT = 10**15
KEYS = ("key-1", "key-2", "key-3", "key-4", "key-5")
UNKNOWN_ACCOUNT_ID = uuid.UUID(int=2**100)
NOBODY = uuid.UUID(int=0)
START = datetime(2026, 1, 1, tzinfo=UTC)
MAX_HOLD_SECONDS = 30 * 24 * 3600
DEFAULT_HOLD_SECONDS = 7 * 24 * 3600

Command = (
    OpenAccount
    | Deposit
    | Withdraw
    | TransferFunds
    | FreezeAccount
    | UnfreezeAccount
    | CloseAccount
    | AmendAccount
    | PlaceHold
    | CaptureHold
)
IdempotentCommand = OpenAccount | Deposit | Withdraw | TransferFunds | PlaceHold | CaptureHold
View = AccountView | TransferView | HoldView
Outcome = (
    Completed[AccountView]
    | Completed[TransferView]
    | Completed[HoldView]
    | AccountView
    | DomainError
)


class Refusal(Exception):
    """The model's verdict that the bank must refuse a request with ``code``."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass
class ModelAccount:
    id: uuid.UUID
    owner: uuid.UUID
    currency: str
    reference: str | None
    balance: int = 0
    status: str = "active"
    version: int = 1
    overdraft_limit: int = 0
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass
class ModelHold:
    """A hold as stored: ``status`` stays active after its expiry until the sweep."""

    id: uuid.UUID
    source: uuid.UUID
    destination: uuid.UUID
    amount: int
    currency: str
    expires_at: datetime
    captured: int = 0
    released: int = 0
    capture_count: int = 0
    status: str = "active"
    version: int = 1

    @property
    def remaining(self) -> int:
        return self.amount - self.captured - self.released

    def expired(self, now: datetime) -> bool:
        return self.status == "expired" or (self.status == "active" and now >= self.expires_at)

    def shown(self, now: datetime) -> tuple[str, int, int, int]:
        """Status, captured, released and remaining, as every read shows them at ``now``."""
        if self.status == "active" and self.expired(now):
            return "expired", self.captured, self.released + self.remaining, 0
        return self.status, self.captured, self.released, self.remaining


@dataclass(frozen=True)
class Stored:
    """What the model remembers under an idempotency key: the request and its outcome."""

    request: IdempotentCommand  # client and key blanked: "the same request" compares these
    view: View | None  # the first completed attempt's result...
    code: str | None  # ...or the code it was refused with


@dataclass(frozen=True)
class Posted:
    """A posted money movement and the true balances after it, for reading it back."""

    view: TransferView  # as the caller who posted it saw it
    caller: uuid.UUID
    source_owner: uuid.UUID | None  # None: the settlement account
    destination_owner: uuid.UUID | None
    source_after: int | None
    destination_after: int | None


@dataclass(frozen=True)
class Prediction:
    """A successful first execution: the fields of the result, and how the model changes."""

    fields: dict[str, Any]
    apply: Callable[[View], None]


def request_of(command: IdempotentCommand) -> IdempotentCommand:
    return dataclasses.replace(command, client_id=NOBODY, idempotency_key=None)


def valid_key(key: str) -> bool:
    return 1 <= len(key) <= 255 and all(" " <= char <= "~" for char in key)


def valid_text(value: str | None, max_length: int) -> bool:
    return value is None or (len(value) <= max_length and "\x00" not in value)


clients = st.integers(0, 2)
keys = st.sampled_from([None, None, *KEYS, None, None])
amounts = st.integers(1, 1_000)
descriptions = st.sampled_from([None, "rent", None])
references = st.sampled_from([None, "savings", None])
# None: the account's own currency
currencies = st.sampled_from([None, None, "USD", "JPY", "BHD", None, None])
as_owner = st.sampled_from([True, True, False, True, True])
hold_seconds = st.sampled_from([None, 30, 60, 120, 3_600, 60, 0, MAX_HOLD_SECONDS + 1])
limits = st.sampled_from([None, 0, 100, 1_000, 0, -1])
metadata_changes = st.sampled_from([None, {"tier": "gold"}, {"tier": None}, {"a": "1", "b": None}])


class BankModel(RuleBasedStateMachine):
    accounts = Bundle("accounts")

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.now = START
        self.store = MemoryStore(clock=lambda: self.now)
        self.transactions = memory_transactions(self.store)
        self.bank = build_bank(self.transactions)
        self.holds: dict[uuid.UUID, ModelHold] = {}
        self.clients: list[uuid.UUID] = []
        self.model: dict[uuid.UUID, ModelAccount] = {}
        self.stored: dict[tuple[uuid.UUID, str], Stored] = {}
        self.first_executions: list[IdempotentCommand] = []  # stored under a key
        self.posted: list[Posted] = []

    def teardown(self) -> None:
        self.loop.close()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coroutine)

    def attempt(self, coroutine: Coroutine[Any, Any, T]) -> T | DomainError:
        try:
            return self.run(coroutine)
        except DomainError as error:
            return error

    # --- predicting and checking one request -----------------------------------------

    def send(self, command: Command) -> Outcome:
        """The service's answer to ``command``: its result, or the domain error it raised."""
        try:
            return self.dispatch(command)
        except DomainError as error:
            return error

    def dispatch(self, command: Command) -> Outcome:
        bank = self.bank
        match command:
            case OpenAccount():
                return self.run(bank.accounts.open(command))
            case Deposit():
                return self.run(bank.payments.deposit(command))
            case Withdraw():
                return self.run(bank.payments.withdraw(command))
            case TransferFunds():
                return self.run(bank.payments.transfer(command))
            case FreezeAccount():
                return self.run(bank.accounts.freeze(command))
            case UnfreezeAccount():
                return self.run(bank.accounts.unfreeze(command))
            case CloseAccount():
                return self.run(bank.accounts.close(command))
            case AmendAccount():
                return self.run(bank.accounts.amend(command))
            case PlaceHold():
                return self.run(bank.holds.place(command))
            case CaptureHold():
                return self.run(bank.holds.capture(command))

    def submit(self, command: IdempotentCommand) -> Outcome:
        """Send an idempotent request; assert the service answers what the model predicts."""
        valid = self.is_valid(command)
        key = command.idempotency_key
        stored = self.stored.get((command.client_id, key)) if key is not None else None
        outcome = self.send(command)

        if not valid:  # refused before the key is even looked at: nothing stored
            assert isinstance(outcome, DomainError), command
            assert outcome.code == "validation_error", (command, outcome.code)
            return outcome
        if stored is not None:
            if stored.request != request_of(command):
                assert isinstance(outcome, DomainError), command
                assert outcome.code == "idempotency_key_reused", (command, outcome.code)
                return outcome
            # the same request: the first attempt's outcome again, marked as a replay
            if stored.code is not None:
                assert isinstance(outcome, DomainError), command
                assert (outcome.code, outcome.replayed) == (stored.code, True), command
            else:
                assert isinstance(outcome, Completed), (command, outcome)
                assert outcome.replayed is True
                assert outcome.value == stored.view
            return outcome

        prediction = self.predict_or_refuse(command)
        if isinstance(prediction, Refusal):
            assert isinstance(outcome, DomainError), (command, outcome, prediction.code)
            assert (outcome.code, outcome.replayed) == (prediction.code, False), command
            self.remember(command, None, prediction.code)
            return outcome
        assert isinstance(outcome, Completed), (command, outcome)
        assert outcome.replayed is False
        view = outcome.value
        actual = {name: getattr(view, name) for name in prediction.fields}
        assert actual == prediction.fields, command
        prediction.apply(view)
        self.remember(command, view, None)
        return outcome

    def remember(self, command: IdempotentCommand, view: View | None, code: str | None) -> None:
        key = command.idempotency_key
        if key is not None:
            self.stored[(command.client_id, key)] = Stored(request_of(command), view, code)
            self.first_executions.append(command)

    def is_valid(self, command: IdempotentCommand) -> bool:
        if command.idempotency_key is not None and not valid_key(command.idempotency_key):
            return False
        if isinstance(command, OpenAccount):
            return command.currency in CURRENCIES and valid_text(command.reference, 128)
        if isinstance(command, CaptureHold):
            return (command.amount is None or 1 <= command.amount <= MAX_AMOUNT) and valid_text(
                command.description, 256
            )
        if isinstance(command, PlaceHold) and not (
            command.expires_in_seconds is None
            or 1 <= command.expires_in_seconds <= MAX_HOLD_SECONDS
        ):
            return False
        return (
            1 <= command.amount <= MAX_AMOUNT
            and command.currency in CURRENCIES
            and valid_text(command.description, 256)
        )

    def predict_or_refuse(self, command: IdempotentCommand) -> Prediction | Refusal:
        try:
            return self.predict(command)
        except Refusal as refusal:
            return refusal

    def predict(self, command: IdempotentCommand) -> Prediction:
        match command:
            case OpenAccount():
                return self.predict_open(command)
            case Deposit():
                return self.predict_deposit(command)
            case Withdraw():
                return self.predict_withdrawal(command)
            case TransferFunds():
                return self.predict_transfer(command)
            case PlaceHold():
                return self.predict_place(command)
            case CaptureHold():
                return self.predict_capture(command)

    def held(self, account_id: uuid.UUID) -> int:
        """What the account's active, unexpired holds still reserve, by the clock."""
        return sum(
            hold.remaining
            for hold in self.holds.values()
            if hold.source == account_id and hold.status == "active" and not hold.expired(self.now)
        )

    def available(self, account: ModelAccount) -> int:
        return account.balance - self.held(account.id) + account.overdraft_limit

    def owned(self, client_id: uuid.UUID, account_id: uuid.UUID) -> ModelAccount:
        account = self.model.get(account_id)
        if account is None or account.owner != client_id:
            raise Refusal("account_not_found")
        return account

    def predict_open(self, command: OpenAccount) -> Prediction:
        def apply(view: View) -> None:
            assert isinstance(view, AccountView)
            assert view.id not in self.model
            assert view.id not in {settlement_account_id(code) for code in CURRENCIES}
            self.model[view.id] = ModelAccount(
                view.id, command.client_id, command.currency, command.reference
            )

        fields = {
            "currency": command.currency,
            "balance": 0,
            "status": "active",
            "reference": command.reference,
            "version": 1,
        }
        return Prediction(fields, apply)

    def predict_deposit(self, command: Deposit) -> Prediction:
        account = self.owned(command.client_id, command.account_id)
        if account.status != "active":
            raise Refusal("account_not_active")
        if command.currency != account.currency:
            raise Refusal("currency_mismatch")
        after = account.balance + command.amount

        def apply(view: View) -> None:
            account.balance, account.version = after, account.version + 1
            self.record_posting(view, command.client_id, None, account.owner, None, after)

        return Prediction(
            self.transfer_fields(command, "deposit", None, account.id, None, after), apply
        )

    def predict_withdrawal(self, command: Withdraw) -> Prediction:
        account = self.owned(command.client_id, command.account_id)
        if account.status != "active":
            raise Refusal("account_not_active")
        if command.currency != account.currency:
            raise Refusal("currency_mismatch")
        if self.available(account) < command.amount:
            raise Refusal("insufficient_funds")
        after = account.balance - command.amount

        def apply(view: View) -> None:
            account.balance, account.version = after, account.version + 1
            self.record_posting(view, command.client_id, account.owner, None, after, None)

        return Prediction(
            self.transfer_fields(command, "withdrawal", account.id, None, after, None), apply
        )

    def predict_transfer(self, command: TransferFunds) -> Prediction:
        # docs/api.md's order: not found, same account, not active, currency, funds
        source = self.owned(command.client_id, command.source_account_id)
        destination = self.model.get(command.destination_account_id)
        if destination is None:
            raise Refusal("account_not_found")
        if source.id == destination.id:
            raise Refusal("same_account")
        if source.status != "active" or destination.status != "active":
            raise Refusal("account_not_active")
        if command.currency != source.currency or command.currency != destination.currency:
            raise Refusal("currency_mismatch")
        if self.available(source) < command.amount:
            raise Refusal("insufficient_funds")
        source_after = source.balance - command.amount
        destination_after = destination.balance + command.amount
        # a payer never learns the balance of another client's account
        shown_after = destination_after if destination.owner == command.client_id else None

        def apply(view: View) -> None:
            source.balance, source.version = source_after, source.version + 1
            destination.balance = destination_after
            destination.version += 1
            self.record_posting(
                view,
                command.client_id,
                source.owner,
                destination.owner,
                source_after,
                destination_after,
            )

        fields = self.transfer_fields(
            command, "transfer", source.id, destination.id, source_after, shown_after
        )
        return Prediction(fields, apply)

    def predict_place(self, command: PlaceHold) -> Prediction:
        # a transfer's checks in their order, funds judged on ``available``
        source = self.owned(command.client_id, command.source_account_id)
        destination = self.model.get(command.destination_account_id)
        if destination is None:
            raise Refusal("account_not_found")
        if source.id == destination.id:
            raise Refusal("same_account")
        if source.status != "active" or destination.status != "active":
            raise Refusal("account_not_active")
        if command.currency != source.currency or command.currency != destination.currency:
            raise Refusal("currency_mismatch")
        if self.available(source) < command.amount:
            raise Refusal("insufficient_funds")
        seconds = command.expires_in_seconds or DEFAULT_HOLD_SECONDS
        expires_at = self.now + timedelta(seconds=seconds)

        def apply(view: View) -> None:
            assert isinstance(view, HoldView)
            assert view.id not in self.holds
            self.holds[view.id] = ModelHold(
                view.id, source.id, destination.id, command.amount, command.currency, expires_at
            )
            source.version += 1

        fields = {
            "source_account_id": source.id,
            "destination_account_id": destination.id,
            "amount": command.amount,
            "currency": command.currency,
            "captured_amount": 0,
            "released_amount": 0,
            "remaining_amount": command.amount,
            "capture_count": 0,
            "status": "active",
            "expires_at": expires_at,
            "description": command.description,
            "created_at": self.now,
            "version": 1,
        }
        return Prediction(fields, apply)

    def own_hold(self, client_id: uuid.UUID, hold_id: uuid.UUID) -> ModelHold:
        """Only the source's owner may change a hold: for anyone else it does not exist."""
        hold = self.holds.get(hold_id)
        if hold is None or self.model[hold.source].owner != client_id:
            raise Refusal("hold_not_found")
        return hold

    def ensure_changeable(self, hold: ModelHold) -> None:
        if hold.expired(self.now):
            raise Refusal("hold_expired")
        if hold.status != "active":
            raise Refusal("hold_not_active")

    def predict_capture(self, command: CaptureHold) -> Prediction:
        hold = self.own_hold(command.client_id, command.hold_id)
        self.ensure_changeable(hold)
        source, destination = self.model[hold.source], self.model[hold.destination]
        if source.status != "active" or destination.status != "active":
            raise Refusal("account_not_active")
        amount = hold.remaining if command.amount is None else command.amount
        if amount > hold.remaining:
            raise Refusal("capture_exceeds_remaining")
        source_after = source.balance - amount  # never refused for funds: it was reserved
        destination_after = destination.balance + amount
        shown_after = destination_after if destination.owner == command.client_id else None

        def apply(view: View) -> None:
            hold.captured += amount
            hold.capture_count += 1
            if command.final:
                hold.released += hold.remaining
            if hold.remaining == 0:
                hold.status = "captured"
            hold.version += 1
            source.balance, source.version = source_after, source.version + 1
            destination.balance, destination.version = destination_after, destination.version + 1
            self.record_posting(
                view, command.client_id, source.owner, destination.owner, source_after,
                destination_after,
            )  # fmt: skip

        fields = {
            "kind": "capture",
            "source_account_id": source.id,
            "destination_account_id": destination.id,
            "amount": amount,
            "currency": hold.currency,
            "description": command.description,
            "status": "posted",
            "source_balance_after": source_after,
            "destination_balance_after": shown_after,
            "hold_id": hold.id,
        }
        return Prediction(fields, apply)

    @staticmethod
    def transfer_fields(
        command: Deposit | Withdraw | TransferFunds,
        kind: str,
        source_id: uuid.UUID | None,
        destination_id: uuid.UUID | None,
        source_after: int | None,
        destination_after: int | None,
    ) -> dict[str, Any]:
        return {
            "kind": kind,
            "source_account_id": source_id,
            "destination_account_id": destination_id,
            "amount": command.amount,
            "currency": command.currency,
            "description": command.description,
            "status": "posted",
            "source_balance_after": source_after,
            "destination_balance_after": destination_after,
        }

    def record_posting(
        self,
        view: View,
        caller: uuid.UUID,
        source_owner: uuid.UUID | None,
        destination_owner: uuid.UUID | None,
        source_after: int | None,
        destination_after: int | None,
    ) -> None:
        assert isinstance(view, TransferView)
        self.posted.append(
            Posted(view, caller, source_owner, destination_owner, source_after, destination_after)
        )

    def check_status_change(
        self,
        command: FreezeAccount | UnfreezeAccount | CloseAccount | AmendAccount,
        change: Callable[[ModelAccount], None],
    ) -> None:
        expected = self.expected_change(command.client_id, command.account_id, change)
        outcome = self.send(command)
        if isinstance(expected, Refusal):
            assert isinstance(outcome, DomainError), (command, outcome)
            assert outcome.code == expected.code, (command, outcome.code)
            return
        assert isinstance(outcome, AccountView), (command, outcome)
        assert_view_matches(outcome, expected, self.held(expected.id))
        self.model[expected.id] = expected

    def expected_change(
        self,
        client_id: uuid.UUID,
        account_id: uuid.UUID,
        change: Callable[[ModelAccount], None],
    ) -> ModelAccount | Refusal:
        try:
            account = self.owned(client_id, account_id)
            if account.status == "closed":  # closed is final
                raise Refusal("account_not_active")
            expected = dataclasses.replace(account, metadata=dict(account.metadata))
            change(expected)
        except Refusal as refusal:
            return refusal
        return expected

    # --- rules -----------------------------------------------------------------------

    @initialize(
        target=accounts,
        opening=st.lists(
            st.tuples(clients, st.sampled_from(["USD", "JPY", "USD"]), st.integers(0, 5_000)),
            min_size=2,
            max_size=4,
        ),
    )
    def create_three_api_clients_and_some_funded_accounts(
        self, opening: list[tuple[int, str, int]]
    ) -> object:
        self.clients = [self.run(self.bank.new_client(f"client-{n}")) for n in range(3)]
        opened = []
        for client, currency, funding in opening:
            outcome = self.submit(OpenAccount(self.clients[client], currency))
            assert isinstance(outcome, Completed)
            assert isinstance(outcome.value, AccountView)
            opened.append(outcome.value.id)
            if funding:
                self.submit(Deposit(self.clients[client], outcome.value.id, funding, currency))
        return multiple(*opened)

    @rule(
        target=accounts,
        client=clients,
        currency=st.sampled_from(["USD", "USD", "JPY", "BHD", "USD"]),
        reference=references,
        key=st.sampled_from([None, None, None, *KEYS, None, None, None]),
        funding=st.sampled_from([1_000, 0, 50, 5_000, 1_000]),
    )
    def open_account(
        self, client: int, currency: str, reference: str | None, key: str | None, funding: int
    ) -> object:
        """Open an account and, on a first opening, let its owner deposit ``funding``."""
        command = OpenAccount(self.clients[client], currency, reference, key)
        outcome = self.submit(command)
        if not isinstance(outcome, Completed) or not isinstance(outcome.value, AccountView):
            return multiple()
        if funding and not outcome.replayed:
            self.submit(Deposit(command.client_id, outcome.value.id, funding, currency))
        return outcome.value.id  # a replay hands back the same account again

    def caller_for(self, account_id: uuid.UUID, owner: bool, client: int) -> uuid.UUID:
        account = self.model.get(account_id)
        return account.owner if owner and account is not None else self.clients[client]

    def currency_for(self, account_id: uuid.UUID, currency: str | None) -> str:
        account = self.model.get(account_id)
        return currency or (account.currency if account is not None else "USD")

    @rule(
        account=accounts,
        owner=as_owner,
        client=clients,
        amount=st.integers(1, 5_000),
        currency=currencies,
        description=descriptions,
        key=keys,
    )
    def deposit(
        self,
        account: uuid.UUID,
        owner: bool,
        client: int,
        amount: int,
        currency: str | None,
        description: str | None,
        key: str | None,
    ) -> None:
        caller = self.caller_for(account, owner, client)
        currency_code = self.currency_for(account, currency)
        self.submit(Deposit(caller, account, amount, currency_code, description, key))

    @rule(
        account=accounts,
        owner=as_owner,
        client=clients,
        amount=st.sampled_from([100, None, 1, 10_000, 1_000_000, 500, 100]),  # None: all of it
        currency=currencies,
        description=descriptions,
        key=keys,
    )
    def withdraw(
        self,
        account: uuid.UUID,
        owner: bool,
        client: int,
        amount: int | None,
        currency: str | None,
        description: str | None,
        key: str | None,
    ) -> None:
        caller = self.caller_for(account, owner, client)
        if amount is None:  # empties the account, so that it can be closed
            amount = self.model[account].balance or 1
        currency_code = self.currency_for(account, currency)
        self.submit(Withdraw(caller, account, amount, currency_code, description, key))

    @rule(
        source=accounts,
        destination=accounts,
        owner=as_owner,
        client=clients,
        amount=amounts,
        currency=currencies,
        description=descriptions,
        key=keys,
    )
    def transfer_to_any_account(
        self,
        source: uuid.UUID,
        destination: uuid.UUID,
        owner: bool,
        client: int,
        amount: int,
        currency: str | None,
        description: str | None,
        key: str | None,
    ) -> None:
        caller = self.caller_for(source, owner, client)
        currency_code = self.currency_for(source, currency)
        self.check_transfer(
            TransferFunds(caller, source, destination, amount, currency_code, description, key)
        )

    @rule(
        source=accounts,
        payee=st.integers(0, 1_000),
        amount=amounts,
        whole_balance=st.sampled_from([False, False, True, False]),
        description=descriptions,
        key=keys,
    )
    def pay_an_own_account_in_the_same_currency(
        self,
        source: uuid.UUID,
        payee: int,
        amount: int,
        whole_balance: bool,
        description: str | None,
        key: str | None,
    ) -> None:
        self.pay(source, payee, amount, whole_balance, description, key, same_owner=True)

    @rule(
        source=accounts,
        payee=st.integers(0, 1_000),
        amount=amounts,
        whole_balance=st.sampled_from([False, False, True, False]),
        description=descriptions,
        key=keys,
    )
    def pay_another_clients_account_in_the_same_currency(
        self,
        source: uuid.UUID,
        payee: int,
        amount: int,
        whole_balance: bool,
        description: str | None,
        key: str | None,
    ) -> None:
        self.pay(source, payee, amount, whole_balance, description, key, same_owner=False)

    @rule(
        picks=st.lists(
            st.tuples(st.integers(0, 1_000), st.integers(0, 1_000), amounts),
            min_size=1,
            max_size=4,
        ),
        atomic=st.booleans(),
        client=clients,
    )
    def submit_a_batch(self, picks: list[tuple[int, int, int]], atomic: bool, client: int) -> None:
        """A batch of transfers among any accounts (another client's source is not
        found): each item is judged like a transfer, against what the items before it
        left; an atomic batch stops at its first refusal and changes nothing."""
        if not self.model:
            return
        caller = self.clients[client]
        ids = sorted(self.model)
        items = tuple(
            BatchItem(
                ids[source % len(ids)],
                ids[destination % len(ids)],
                amount,
                self.model[ids[source % len(ids)]].currency,
            )
            for source, destination, amount in picks
        )
        model, posted = copy.deepcopy(self.model), len(self.posted)
        outcome = self.attempt(self.bank.batches.submit(SubmitBatch(caller, items, atomic)))
        answered = outcome.value.outcomes if isinstance(outcome, Completed) else None
        for index, item in enumerate(items):
            prediction = self.predict_or_refuse(
                TransferFunds(
                    caller,
                    item.source_account_id,
                    item.destination_account_id,
                    item.amount,
                    item.currency,
                )
            )
            if isinstance(prediction, Refusal) and atomic:
                self.model = model  # nothing of the batch was applied
                del self.posted[posted:]
                assert isinstance(outcome, DomainError), (items, outcome)
                assert outcome.code == prediction.code, (items, outcome)
                assert getattr(outcome, "failed_index", None) == index
                return
            if isinstance(prediction, Refusal):
                assert answered is not None, (items, outcome)
                refused = answered[index]
                assert isinstance(refused, BatchRefusal), (items, index, refused)
                assert refused.code == prediction.code
                continue
            if answered is None:  # an atomic batch that a later item must refuse
                view = TransferView(
                    uuid.uuid4(), hold_id=None, batch_id=None, metadata={}, created_at=self.now,
                    **prediction.fields,
                )  # fmt: skip
            else:
                shown = answered[index]
                assert isinstance(shown, TransferView), (items, index, shown)
                view = shown
                actual = {name: getattr(view, name) for name in prediction.fields}
                assert actual == prediction.fields, (items, index)
                assert isinstance(outcome, Completed)
                assert view.batch_id == outcome.value.id
            prediction.apply(view)
        assert isinstance(outcome, Completed), (items, outcome)

    def pay(
        self,
        source: uuid.UUID,
        payee: int,
        amount: int,
        whole_balance: bool,
        description: str | None,
        key: str | None,
        *,
        same_owner: bool,
    ) -> None:
        """The owner pays an account in the source's currency, chosen among its own or
        among other clients' accounts (any status); ``whole_balance`` empties the source."""
        payer = self.model[source]
        payees = [
            account.id
            for account in self.model.values()
            if account.id != source
            and account.currency == payer.currency
            and (account.owner == payer.owner) == same_owner
        ]
        if not payees:
            return
        if whole_balance and payer.balance > 0:
            amount = payer.balance
        destination = payees[payee % len(payees)]
        self.check_transfer(
            TransferFunds(
                payer.owner, source, destination, amount, payer.currency, description, key
            )
        )

    def check_transfer(self, command: TransferFunds) -> None:
        outcome = self.submit(command)
        if isinstance(outcome, Completed) and not outcome.replayed:
            view = outcome.value
            assert isinstance(view, TransferView)
            assert view.source_balance_after == self.model[command.source_account_id].balance
            if self.model[command.destination_account_id].owner != command.client_id:
                assert view.destination_balance_after is None  # never another's balance

    @rule(
        account=accounts,
        target_id=st.sampled_from([UNKNOWN_ACCOUNT_ID, settlement_account_id("USD")]),
        kind=st.sampled_from(["deposit", "withdraw", "pay_into", "pay_from", "get"]),
        client=clients,
    )
    def use_an_unknown_or_settlement_account(
        self, account: uuid.UUID, target_id: uuid.UUID, kind: str, client: int
    ) -> None:
        """Settlement accounts are never addressable: they answer like unknown ids."""
        owner = self.model[account].owner
        currency = self.model[account].currency
        command: Deposit | Withdraw | TransferFunds
        if kind == "get":
            read = self.attempt(self.bank.accounts.get(GetAccount(self.clients[client], target_id)))
            assert isinstance(read, DomainError)
            assert read.code == "account_not_found"
            return
        if kind == "deposit":
            command = Deposit(owner, target_id, 10, "USD")
        elif kind == "withdraw":
            command = Withdraw(owner, target_id, 10, "USD")
        elif kind == "pay_into":
            command = TransferFunds(owner, account, target_id, 1, currency)
        else:
            command = TransferFunds(owner, target_id, account, 1, currency)
        outcome = self.submit(command)
        assert isinstance(outcome, DomainError)
        assert outcome.code == "account_not_found"

    @rule(account=accounts, owner=as_owner, client=clients)
    def freeze(self, account: uuid.UUID, owner: bool, client: int) -> None:
        def change(model: ModelAccount) -> None:
            if model.status == "active":  # freezing a frozen account is a no-op
                model.status, model.version = "frozen", model.version + 1

        caller = self.caller_for(account, owner, client)
        self.check_status_change(FreezeAccount(caller, account), change)

    @rule(account=accounts, owner=as_owner, client=clients)
    def unfreeze(self, account: uuid.UUID, owner: bool, client: int) -> None:
        def change(model: ModelAccount) -> None:
            if model.status == "frozen":  # unfreezing an active account is a no-op
                model.status, model.version = "active", model.version + 1

        caller = self.caller_for(account, owner, client)
        self.check_status_change(UnfreezeAccount(caller, account), change)

    @rule(account=accounts, owner=as_owner, client=clients)
    def close(self, account: uuid.UUID, owner: bool, client: int) -> None:
        def change(model: ModelAccount) -> None:
            if model.balance != 0 or self.held(model.id) != 0:
                raise Refusal("account_not_empty")
            model.status, model.version = "closed", model.version + 1

        caller = self.caller_for(account, owner, client)
        self.check_status_change(CloseAccount(caller, account), change)

    @rule(account=accounts, owner=as_owner, client=clients, limit=limits, metadata=metadata_changes)
    def amend(
        self,
        account: uuid.UUID,
        owner: bool,
        client: int,
        limit: int | None,
        metadata: dict[str, str | None] | None,
    ) -> None:
        """Change the limit and merge metadata; lowering the limit below what is in use
        is allowed, and a change of nothing keeps the version."""
        caller = self.caller_for(account, owner, client)
        command = AmendAccount(caller, account, limit, metadata)
        if (limit is None and metadata is None) or (limit is not None and limit < 0):
            outcome = self.send(command)
            assert isinstance(outcome, DomainError), (command, outcome)
            assert outcome.code == "validation_error"
            return

        def change(model: ModelAccount) -> None:
            merged = dict(model.metadata)
            for key, value in (metadata or {}).items():
                if value is None:
                    merged.pop(key, None)
                else:
                    merged[key] = value
            new_limit = model.overdraft_limit if limit is None else limit
            if (new_limit, merged) != (model.overdraft_limit, model.metadata):
                model.overdraft_limit, model.metadata = new_limit, merged
                model.version += 1

        self.check_status_change(command, change)

    @rule(
        source=accounts,
        destination=accounts,
        owner=as_owner,
        client=clients,
        amount=st.sampled_from([1, 100, 500, 1_000, 5_000, None]),  # None: all available
        currency=currencies,
        seconds=hold_seconds,
        key=keys,
    )
    def place_hold_to_any_account(
        self,
        source: uuid.UUID,
        destination: uuid.UUID,
        owner: bool,
        client: int,
        amount: int | None,
        currency: str | None,
        seconds: int | None,
        key: str | None,
    ) -> None:
        caller = self.caller_for(source, owner, client)
        self.place_hold(caller, source, destination, amount, currency, seconds, key)

    @rule(
        source=accounts,
        payee=st.integers(0, 1_000),
        amount=st.sampled_from([1, 100, 500, 1_000, None, 50]),  # None: all available
        seconds=st.sampled_from([None, 30, 60, 600, 3_600, 60, 30]),
        key=keys,
    )
    def place_hold_to_an_account_in_the_same_currency(
        self,
        source: uuid.UUID,
        payee: int,
        amount: int | None,
        seconds: int | None,
        key: str | None,
    ) -> None:
        payer = self.model[source]
        payees = [
            account.id
            for account in self.model.values()
            if account.id != source and account.currency == payer.currency
        ]
        if payees:
            destination = payees[payee % len(payees)]
            self.place_hold(payer.owner, source, destination, amount, None, seconds, key)

    def place_hold(
        self,
        caller: uuid.UUID,
        source: uuid.UUID,
        destination: uuid.UUID,
        amount: int | None,
        currency: str | None,
        seconds: int | None,
        key: str | None,
    ) -> None:
        if amount is None:
            amount = max(1, self.available(self.model[source]))
        currency_code = self.currency_for(source, currency)
        command = PlaceHold(caller, source, destination, amount, currency_code, seconds)
        self.submit(dataclasses.replace(command, idempotency_key=key))

    def hold_at(self, index: int) -> ModelHold:
        """Two times in three a live hold (active, unexpired) when there is one: most
        rules have something to do only there."""
        live = [h for h in self.holds.values() if h.status == "active" and not h.expired(self.now)]
        pool = live if live and index % 3 else list(self.holds.values())
        return pool[-1 - index % len(pool)]

    @precondition(lambda self: bool(self.holds))
    @rule(
        index=st.integers(0, 1_000),
        share=st.sampled_from([None, 1, 2, 3, None, 10]),  # None: what remains; else 1/share
        exceed=st.sampled_from([False, False, False, True]),
        final=st.booleans(),
        owner=as_owner,
        client=clients,
        key=st.sampled_from([None, None, None, None, KEYS[0], None, None, None]),
    )
    def capture_hold(
        self,
        index: int,
        share: int | None,
        exceed: bool,
        final: bool,
        owner: bool,
        client: int,
        key: str | None,
    ) -> None:
        hold = self.hold_at(index)
        caller = self.caller_for(hold.source, owner, client)
        amount = (
            None if share is None else max(1, hold.remaining // share) + exceed * hold.remaining
        )
        self.submit(CaptureHold(caller, hold.id, amount, final, None, key))

    @precondition(
        lambda self: any(
            h.status == "active" and not h.expired(self.now) for h in self.holds.values()
        )
    )
    @rule(
        index=st.integers(1, 1_000).filter(lambda index: index % 3),
        share=st.sampled_from([2, 3, 10]),
        final=st.booleans(),
        description=descriptions,
    )
    def capture_part_of_a_live_hold(
        self, index: int, share: int, final: bool, description: str | None
    ) -> None:
        """The owner captures part of a live hold: the capture that most often succeeds."""
        hold = self.hold_at(index)
        amount = max(1, hold.remaining // share)
        owner = self.model[hold.source].owner
        self.submit(CaptureHold(owner, hold.id, amount, final, description))

    @precondition(lambda self: bool(self.holds))
    @rule(index=st.integers(0, 1_000), owner=as_owner, client=clients)
    def void_hold(self, index: int, owner: bool, client: int) -> None:
        hold = self.hold_at(index)
        caller = self.caller_for(hold.source, owner, client)
        outcome = self.attempt(self.bank.holds.void(VoidHold(caller, hold.id)))

        def void() -> None:
            self.own_hold(caller, hold.id)
            if hold.status != "voided":  # voiding a voided hold changes nothing
                self.ensure_changeable(hold)
                hold.released += hold.remaining
                hold.status, hold.version = "voided", hold.version + 1
                self.model[hold.source].version += 1

        self.check_hold_change(outcome, hold, void)

    def check_hold_change(
        self, outcome: HoldView | DomainError, hold: ModelHold, change: Callable[[], None]
    ) -> None:
        """``change`` applies the model's verdict, or raises the refusal it predicts."""
        refusal = None
        try:
            change()
        except Refusal as raised:
            refusal = raised
        if refusal is not None:
            assert isinstance(outcome, DomainError), (hold, outcome)
            assert outcome.code == refusal.code
            return
        assert isinstance(outcome, HoldView), (hold, outcome)
        self.assert_hold_matches(outcome, hold)

    @precondition(lambda self: bool(self.holds))
    @rule(
        index=st.integers(0, 1_000),
        seconds=st.sampled_from([1, 60, 3_600, 86_400, 0]),
        owner=as_owner,
        client=clients,
    )
    def extend_hold(self, index: int, seconds: int, owner: bool, client: int) -> None:
        hold = self.hold_at(index)
        caller = self.caller_for(hold.source, owner, client)
        outcome = self.attempt(self.bank.holds.extend(ExtendHold(caller, hold.id, seconds)))

        def extend() -> None:
            if seconds < 1:
                raise Refusal("validation_error")
            self.own_hold(caller, hold.id)
            self.ensure_changeable(hold)
            if self.now + timedelta(seconds=seconds) > hold.expires_at:  # never earlier
                hold.expires_at = self.now + timedelta(seconds=seconds)
                hold.version += 1

        self.check_hold_change(outcome, hold, extend)

    @rule(seconds=st.sampled_from([1, 10, 29, 30, 60, 600, 1]))
    def advance_the_clock(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)

    @rule()
    def sweep_expired_holds(self) -> None:
        """The sweep writes down expiries; no read, balance or version changes."""
        due = [h for h in self.holds.values() if h.status == "active" and h.expired(self.now)]
        assert self.run(self.bank.hold_expiry.sweep()) == len(due)
        for hold in due:
            hold.released += hold.remaining
            hold.status = "expired"

    @precondition(lambda self: bool(self.holds))
    @rule(index=st.integers(0, 1_000), client=clients)
    def read_a_hold(self, index: int, client: int) -> None:
        """Either side's owner reads it; for anyone else it does not exist."""
        hold = self.hold_at(index)
        reader = self.clients[client]
        outcome = self.attempt(self.bank.holds.get(GetHold(reader, hold.id)))
        if reader not in (self.model[hold.source].owner, self.model[hold.destination].owner):
            assert isinstance(outcome, DomainError), outcome
            assert outcome.code == "hold_not_found"
            return
        assert isinstance(outcome, HoldView), outcome
        self.assert_hold_matches(outcome, hold)

    def assert_hold_matches(self, view: HoldView, hold: ModelHold) -> None:
        status, captured, released, remaining = hold.shown(self.now)
        actual = (
            view.id, view.source_account_id, view.destination_account_id, view.amount,
            view.currency, view.status, view.captured_amount, view.released_amount,
            view.remaining_amount, view.capture_count, view.expires_at, view.version,
        )  # fmt: skip
        expected = (
            hold.id, hold.source, hold.destination, hold.amount, hold.currency, status,
            captured, released, remaining, hold.capture_count, hold.expires_at, hold.version,
        )  # fmt: skip
        assert actual == expected
        assert view.amount == view.captured_amount + view.released_amount + view.remaining_amount

    @rule(account=accounts, offset=st.integers(1, 2))
    def get_account_as_another_client_is_not_found(self, account: uuid.UUID, offset: int) -> None:
        owner = self.clients.index(self.model[account].owner)
        stranger = self.clients[(owner + offset) % len(self.clients)]
        outcome = self.attempt(self.bank.accounts.get(GetAccount(stranger, account)))
        assert isinstance(outcome, AccountNotFoundError), outcome  # no existence leak

    @precondition(lambda self: bool(self.first_executions))
    @rule(index=st.integers(0, 1_000))
    def replay_an_earlier_request(self, index: int) -> None:
        command = self.first_executions[-1 - index % len(self.first_executions)]
        outcome = self.submit(command)
        assert isinstance(outcome, Completed | DomainError)
        assert outcome.replayed is True

    @precondition(lambda self: bool(self.first_executions))
    @rule(index=st.integers(0, 1_000), change=st.sampled_from(["amount", "operation"]))
    def reuse_a_key_for_a_different_request(self, index: int, change: str) -> None:
        earlier = self.first_executions[-1 - index % len(self.first_executions)]
        different: IdempotentCommand
        if isinstance(earlier, OpenAccount):
            other = "JPY" if earlier.currency == "USD" else "USD"
            different = dataclasses.replace(earlier, currency=other)
        elif isinstance(earlier, CaptureHold):
            different = dataclasses.replace(earlier, final=not earlier.final)
        elif change == "amount":
            different = dataclasses.replace(earlier, amount=earlier.amount % MAX_AMOUNT + 1)
        else:
            different = OpenAccount(earlier.client_id, "USD", None, earlier.idempotency_key)
        outcome = self.submit(different)
        assert isinstance(outcome, IdempotencyKeyReusedError), (different, outcome)

    @rule(
        kind=st.sampled_from(["open", "deposit", "withdraw", "transfer"]),
        fault=st.sampled_from(
            [
                "amount 0",
                "amount -1",
                "amount too large",
                "usd",
                "XAU",
                "empty key",
                "key not ASCII",
                "long text",
                "NUL in text",
            ]
        ),
        key=st.sampled_from(KEYS),
        account=accounts,
    )
    def an_invalid_request_is_refused_and_not_stored(
        self, kind: str, fault: str, key: str, account: uuid.UUID
    ) -> None:
        """A validation error wins over every other outcome, even a key already used."""
        owner = self.model[account].owner
        amount = {"amount 0": 0, "amount -1": -1, "amount too large": MAX_AMOUNT + 1}.get(fault, 1)
        currency = fault if fault in ("usd", "XAU") else self.model[account].currency
        bad_key = {"empty key": "", "key not ASCII": "clé"}.get(fault, key)
        text = {"long text": "x" * 257, "NUL in text": "a\x00b"}.get(fault)
        command: IdempotentCommand
        if kind == "open":
            if fault.startswith("amount"):  # an opening has no amount
                currency = "XYZ"
            command = OpenAccount(owner, currency, text, bad_key)
        elif kind == "deposit":
            command = Deposit(owner, account, amount, currency, text, bad_key)
        elif kind == "withdraw":
            command = Withdraw(owner, account, amount, currency, text, bad_key)
        else:
            command = TransferFunds(owner, account, account, amount, currency, text, bad_key)
        assert not self.is_valid(command)
        outcome = self.submit(command)
        assert isinstance(outcome, DomainError)
        assert outcome.code == "validation_error"

    @precondition(lambda self: bool(self.posted))
    @rule(index=st.integers(0, 1_000), client=clients)
    def read_back_a_posted_transfer(self, index: int, client: int) -> None:
        posted = self.posted[-1 - index % len(self.posted)]
        reader = self.clients[client]
        outcome = self.attempt(self.bank.ledger.get_transfer(GetTransfer(reader, posted.view.id)))
        owns_source = posted.source_owner == reader
        owns_destination = posted.destination_owner == reader
        if not (owns_source or owns_destination):
            assert isinstance(outcome, DomainError), outcome
            assert outcome.code == "transfer_not_found"
            return
        assert isinstance(outcome, TransferView), outcome
        if reader == posted.caller:
            assert outcome == posted.view  # a POST's body and a later GET are identical
        expected = dataclasses.replace(
            posted.view,
            source_balance_after=posted.source_after if owns_source else None,
            destination_balance_after=posted.destination_after if owns_destination else None,
        )
        assert outcome == expected

    # --- invariants ------------------------------------------------------------------

    # (each reads everything in one trip through the event loop: entering it is costly)

    @invariant()
    def every_account_reads_back_as_the_model_says(self) -> None:
        async def read_all() -> list[AccountView]:
            return [
                await self.bank.accounts.get(GetAccount(account.owner, account.id))
                for account in self.model.values()
            ]

        for view, account in zip(self.run(read_all()), self.model.values(), strict=True):
            assert_view_matches(view, account, self.held(account.id))

    @invariant()
    def every_client_lists_exactly_its_own_accounts(self) -> None:
        async def list_all() -> list[PageView[AccountView]]:
            page = PageRequest(limit=200)
            return [await self.bank.accounts.list(ListAccounts(c, page)) for c in self.clients]

        for client, listed in zip(self.clients, self.run(list_all()), strict=True):
            owned = {account.id for account in self.model.values() if account.owner == client}
            assert {view.id for view in listed.data} == owned  # closed ones included
            assert listed.next_cursor is None
            for view in listed.data:
                assert_view_matches(view, self.model[view.id], self.held(view.id))

    @invariant()
    def every_hold_reads_back_as_the_model_says(self) -> None:
        async def read_all() -> list[HoldView]:
            return [
                await self.bank.holds.get(GetHold(self.model[hold.source].owner, hold.id))
                for hold in self.holds.values()
            ]

        for view, hold in zip(self.run(read_all()), self.holds.values(), strict=True):
            self.assert_hold_matches(view, hold)

    @invariant()
    def the_ledger_invariants_hold_in_storage(self) -> None:
        """Read from the store itself, not through the model."""

        async def read_accounts() -> list[tuple[int, int]]:
            async with self.transactions.read() as uow:
                return [
                    (account.held, account.balance)
                    for account_id in self.model
                    if (account := await uow.accounts.get(account_id)) is not None
                ]

        state = self.store.state
        holds = [hold.as_of(self.now) for hold in state.holds.values()]
        for stored, shown in zip(state.holds.values(), holds, strict=True):
            for hold in (stored, shown):
                assert hold.money.amount == (
                    hold.captured_amount + hold.released_amount + hold.remaining
                )
                assert hold.remaining >= 0
            assert stored.source_available_after >= 0  # a hold never overdraws
        for account_id, (held, balance) in zip(self.model, self.run(read_accounts()), strict=True):
            active = [
                h for h in holds if h.source_account_id == account_id and h.status == "active"
            ]
            assert held == sum(hold.remaining for hold in active)
            entries = state.entries.get(account_id, [])
            assert balance == sum(entry.amount for entry in entries)
            assert balance == (entries[-1].balance_after if entries else 0)
            moments = [entry.created_at for entry in entries]
            assert moments == sorted(moments)
            for entry in entries:
                if entry.amount < 0 and state.transfers[entry.transfer_id].kind != "capture":
                    assert entry.available_after is not None
                    assert entry.available_after >= 0, entry
        totals = dict.fromkeys(CURRENCIES, 0)
        for account in self.model.values():
            totals[account.currency] += account.balance
        for currency in CURRENCIES:
            settlement = state.entries.get(settlement_account_id(currency), [])
            totals[currency] += sum(entry.amount for entry in settlement)
        assert totals == dict.fromkeys(CURRENCIES, 0)


def assert_view_matches(view: AccountView, account: ModelAccount, held: int) -> None:
    actual = (
        view.id,
        view.currency,
        view.balance,
        view.status,
        view.version,
        view.reference,
        (view.held, view.available, view.overdraft_limit),
        view.metadata,
    )
    expected = (
        account.id,
        account.currency,
        account.balance,
        account.status,
        account.version,
        account.reference,
        (held, account.balance - held + account.overdraft_limit, account.overdraft_limit),
        account.metadata,
    )
    assert actual == expected


def test_the_services_agree_with_the_reference_model_after_every_step() -> None:
    run_state_machine_as_test(
        BankModel,
        settings=settings(max_examples=200, stateful_step_count=50, deadline=None),
    )
