"""The reference model of ``tests/unit/test_reference_model.py``, driven through HTTP.

The same state machine (three API clients, their accounts, deposits, withdrawals,
transfers within and across clients, freeze, unfreeze, close, invalid requests, other
tenants' and unknown accounts, replays and reuses of idempotency keys) runs against
the real ASGI app instead of the services: ``HttpBank`` offers the services' methods
and turns each into an HTTP request, and each answer back into a view or a domain
error. On top of the model's own checks, every step also checks here that:

- every error is an RFC 9457 problem with the five fields, leaking nothing;
- a replay answers the first answer's status and body, byte for byte, marked
  ``Idempotent-Replayed: true``; a first answer never carries that header;
- every account's statement is exactly the model's postings, newest first, with
  ``balance_after`` chaining down to zero;
- malformed bodies (JSON syntax, types, unknown fields, ids) are 422 and are never
  stored under their key.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from dependency_injector import providers
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import invariant, precondition, rule, run_state_machine_as_test

from application.commands import (
    CloseAccount,
    Deposit,
    FreezeAccount,
    GetAccount,
    GetTransfer,
    ListAccounts,
    OpenAccount,
    TransferFunds,
    UnfreezeAccount,
    Withdraw,
)
from application.views import AccountView, Completed, PageView, TransferView
from domain.errors import (
    AccountNotFoundError,
    DomainError,
    IdempotencyKeyReusedError,
    RuleViolationError,
    ValidationError,
)
from infrastructure.memory.store import MemoryStore
from infrastructure.settings import Settings
from interfaces.container import Container, use_in_memory
from interfaces.http.app import create_app
from interfaces.http.responses import path_id
from tests.api.helpers import ADMIN, ADMIN_TOKEN, LEAKS, PROBLEM_FIELDS
from tests.postgres_fixtures import PgTargets
from tests.reliability.hostile.conftest import always_ready
from tests.unit.test_reference_model import KEYS, BankModel

pytestmark = pytest.mark.reliability

Json = dict[str, Any]


@dataclass
class HttpBank:
    """``tests.bank.Bank``'s interface over HTTP: the model cannot tell the difference."""

    http: httpx.AsyncClient
    keys: dict[uuid.UUID, str] = field(default_factory=dict)
    # (client, key) -> the status and body of the first answer stored under the key
    first_answers: dict[tuple[uuid.UUID, str], tuple[int, bytes]] = field(default_factory=dict)
    spelling: str = "nulls"  # how the next JSON body is written (SPELLINGS)

    @property
    def accounts(self) -> HttpBank:
        return self

    @property
    def payments(self) -> HttpBank:
        return self

    @property
    def ledger(self) -> HttpBank:
        return self

    async def new_client(self, name: str = "acme") -> uuid.UUID:
        response = await self.http.post("/v1/admin/clients", json={"name": name}, headers=ADMIN)
        assert response.status_code == 201, response.text
        client_id = uuid.UUID(response.json()["id"])
        self.keys[client_id] = response.json()["api_key"]
        return client_id

    async def send(
        self,
        method: str,
        path: str,
        client_id: uuid.UUID,
        body: Json | bytes | None = None,
        key: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> httpx.Response:
        """The raw answer, after checking it against the earlier answers under ``key``."""
        headers: dict[str, Any] = {"Authorization": f"Bearer {self.keys[client_id]}"}
        if key is not None:
            headers["Idempotency-Key"] = key.encode()  # non-ASCII keys as a client sends them
        content = None
        if body is not None:
            content = body if isinstance(body, bytes) else spelled(body, self.spelling)
            headers["Content-Type"] = "application/json"
        response = await self.http.request(
            method, path, content=content, headers=headers, params=params
        )
        replayed = response.headers.get("idempotent-replayed") == "true"
        if key is None:
            assert not replayed
            return response
        answer = (response.status_code, response.content)
        if replayed:
            assert self.first_answers.get((client_id, key)) == answer, (
                "a replay answers the first answer's status and body"
            )
        elif is_stored(response):
            assert (client_id, key) not in self.first_answers, "a key took effect twice"
            self.first_answers[(client_id, key)] = answer
        return response

    async def request(
        self,
        method: str,
        path: str,
        client_id: uuid.UUID,
        body: Json | bytes | None = None,
        key: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> Json:
        """The answer's JSON; a problem is raised as the domain error of its code."""
        response = await self.send(method, path, client_id, body, key, params)
        if response.status_code >= 400:
            raise problem_error(response)
        payload: Json = response.json()
        return payload

    async def posted(
        self, path: str, client_id: uuid.UUID, body: Json, key: str | None
    ) -> tuple[Json, bool]:
        response = await self.send("POST", path, client_id, body, key)
        if response.status_code >= 400:
            raise problem_error(response)
        assert response.status_code == 201, response.text
        return response.json(), response.headers.get("idempotent-replayed") == "true"

    # --- the services' methods -------------------------------------------------------

    async def open(self, command: OpenAccount) -> Completed[AccountView]:
        body = {"currency": command.currency, "reference": command.reference}
        json_body, replayed = await self.posted(
            "/v1/accounts", command.client_id, body, command.idempotency_key
        )
        return Completed(AccountView.from_json(json_body), replayed)

    async def deposit(self, command: Deposit) -> Completed[TransferView]:
        path = f"/v1/accounts/{command.account_id}/deposits"
        return await self.moved(path, command, money(command))

    async def withdraw(self, command: Withdraw) -> Completed[TransferView]:
        path = f"/v1/accounts/{command.account_id}/withdrawals"
        return await self.moved(path, command, money(command))

    async def transfer(self, command: TransferFunds) -> Completed[TransferView]:
        body = {
            "source_account_id": str(command.source_account_id),
            "destination_account_id": str(command.destination_account_id),
            **money(command),
        }
        return await self.moved("/v1/transfers", command, body)

    async def moved(
        self, path: str, command: Deposit | Withdraw | TransferFunds, body: Json
    ) -> Completed[TransferView]:
        json_body, replayed = await self.posted(
            path, command.client_id, body, command.idempotency_key
        )
        return Completed(TransferView.from_json(json_body), replayed)

    async def get(self, query: GetAccount) -> AccountView:
        body = await self.request("GET", f"/v1/accounts/{query.account_id}", query.client_id)
        return AccountView.from_json(body)

    async def list(self, query: ListAccounts) -> PageView[AccountView]:
        params: dict[str, Any] = {"limit": query.page.limit}
        if query.page.after is not None:
            params["after"] = query.page.after
        body = await self.request("GET", "/v1/accounts", query.client_id, params=params)
        return PageView([AccountView.from_json(item) for item in body["data"]], body["next_cursor"])

    async def freeze(self, command: FreezeAccount) -> AccountView:
        return await self.status_change(command, "freeze")

    async def unfreeze(self, command: UnfreezeAccount) -> AccountView:
        return await self.status_change(command, "unfreeze")

    async def close(self, command: CloseAccount) -> AccountView:
        return await self.status_change(command, "close")

    async def status_change(
        self, command: FreezeAccount | UnfreezeAccount | CloseAccount, action: str
    ) -> AccountView:
        path = f"/v1/accounts/{command.account_id}/{action}"
        return AccountView.from_json(await self.request("POST", path, command.client_id))

    async def get_transfer(self, query: GetTransfer) -> TransferView:
        body = await self.request("GET", f"/v1/transfers/{query.transfer_id}", query.client_id)
        return TransferView.from_json(body)


async def statement(bank: HttpBank, client_id: uuid.UUID, account_id: uuid.UUID) -> list[Json]:
    """Every entry of the account, newest first, page after page."""
    entries: list[Json] = []
    params: dict[str, Any] = {"limit": 7}  # small pages: the cursors are exercised too
    while True:
        page = await bank.request(
            "GET", f"/v1/accounts/{account_id}/entries", client_id, params=params
        )
        entries += page["data"]
        if page["next_cursor"] is None:
            return entries
        params["after"] = page["next_cursor"]


# docs/api.md: key order, white space and explicit nulls for absent optional fields do not
# make another request.
SPELLINGS = ("nulls", "absent", "reordered", "spaced")


def spelled(body: Json, spelling: str) -> bytes:
    if spelling == "absent":
        body = {name: value for name, value in body.items() if value is not None}
    elif spelling == "reordered":
        body = dict(reversed(list(body.items())))
    # json.dumps escapes what UTF-8 cannot carry (lone surrogates); httpx would refuse.
    return json.dumps(body, indent=4 if spelling == "spaced" else None).encode()


def money(command: Deposit | Withdraw | TransferFunds) -> Json:
    return {
        "amount": command.amount,
        "currency": command.currency,
        "description": command.description,
    }


def problem_error(response: httpx.Response) -> DomainError:
    assert response.headers["content-type"] == "application/problem+json", response.headers
    problem: Json = response.json()
    assert problem.keys() >= PROBLEM_FIELDS, problem
    assert problem["status"] == response.status_code, problem
    code, detail = problem["code"], problem["detail"]
    error: DomainError
    if code == "validation_error":
        error = ValidationError(detail)
    elif code == "idempotency_key_reused":
        error = IdempotencyKeyReusedError(detail)
    else:
        try:
            error = RuleViolationError.from_code(code, detail)
        except KeyError:
            raise AssertionError(f"no step of the model may answer {problem}") from None
    error.replayed = response.headers.get("idempotent-replayed") == "true"
    return error


def is_stored(response: httpx.Response) -> bool:
    """docs/api.md: every outcome past authentication and body validation is stored."""
    if response.status_code == 201:
        return True
    return response.status_code in (404, 422) and response.json()["code"] not in (
        "validation_error",
        "idempotency_key_reused",
    )


def no_leak(response: httpx.Response) -> None:
    text = response.text
    for leak in LEAKS:
        assert leak not in text, f"{response.request.url} leaked {leak!r}: {text[:300]}"


MALFORMED = {
    "not JSON": b"{amount: 1}",
    "truncated": b'{"amount": 1, "currency": "USD"',
    "amount as text": b'{"amount": "100", "currency": "USD"}',
    "amount as float": b'{"amount": 10.5, "currency": "USD"}',
    "amount true": b'{"amount": true, "currency": "USD"}',
    "unknown field": b'{"amount": 1, "currency": "USD", "fee": 0}',
    "duplicate member": b'{"amount": 1, "currency": "USD", "amount": 2}',
    "an array": b'[{"amount": 1, "currency": "USD"}]',
}


class HttpBankModel(BankModel):
    """``BankModel`` whose bank is the HTTP API of a fresh app."""

    build_container: Any = None  # set per test: () -> Container

    def __init__(self) -> None:
        super().__init__()
        self.container: Container = type(self).build_container()
        readiness = always_ready if not self.container.database_url() else None
        self.app = create_app(self.container, admin_token=ADMIN_TOKEN, readiness=readiness)
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app),
            base_url="http://bank.test",
            event_hooks={"response": [self.read_and_check]},
        )
        self.bank = HttpBank(self.http)  # type: ignore[assignment]
        self.malformed_keys = 0

    async def read_and_check(self, response: httpx.Response) -> None:
        await response.aread()
        no_leak(response)
        if response.headers.get("idempotent-replayed") is not None:
            assert response.headers["idempotent-replayed"] == "true"
            assert response.request.headers.get("idempotency-key") is not None

    def teardown(self) -> None:
        async def close() -> None:
            await self.http.aclose()
            if self.container.database_url():
                await self.container.engine().dispose()

        try:
            self.run(close())
        finally:
            super().teardown()

    @property
    def http_bank(self) -> HttpBank:
        assert isinstance(self.bank, HttpBank)
        return self.bank

    # --- what only HTTP can send -----------------------------------------------------

    @rule(
        account=BankModel.accounts,
        body=st.sampled_from(list(MALFORMED.values())),
        route=st.sampled_from(["deposits", "withdrawals", "transfers"]),
        key=st.sampled_from(KEYS),
    )
    def a_malformed_body_is_refused_and_its_key_stays_free(
        self, account: uuid.UUID, body: bytes, route: str, key: str
    ) -> None:
        owner = self.model[account].owner
        path = "/v1/transfers" if route == "transfers" else f"/v1/accounts/{account}/{route}"
        outcome = self.attempt(self.http_bank.request("POST", path, owner, body, key))
        assert isinstance(outcome, ValidationError), outcome
        assert not outcome.replayed
        # Not stored (``HttpBank.send`` checks it): the key means what it meant before.

    @rule(
        account=BankModel.accounts,
        malformed=st.sampled_from(["abc", "00000000000000000000000000000000", "A" * 36]),
        action=st.sampled_from(["", "/entries", "/freeze", "/deposits"]),
    )
    def a_malformed_path_id_answers_like_an_unknown_one(
        self, account: uuid.UUID, malformed: str, action: str
    ) -> None:
        owner = self.model[account].owner
        path = f"/v1/accounts/{malformed}{action}"
        if action != "/deposits":
            method = "GET" if action in ("", "/entries") else "POST"
            outcome = self.attempt(self.http_bank.request(method, path, owner))
            assert isinstance(outcome, AccountNotFoundError), outcome
            return
        # With a key, its 404 is stored and replayed like an unknown id's (docs/api.md).
        self.malformed_keys += 1
        key = f"malformed-{self.malformed_keys}"
        body = {"amount": 1, "currency": "USD", "description": None}
        for replayed in (False, True):
            outcome = self.attempt(self.http_bank.request("POST", path, owner, body, key))
            assert isinstance(outcome, AccountNotFoundError), outcome
            assert outcome.replayed is replayed
        command = Deposit(owner, path_id(malformed), 1, "USD", None, key)
        self.remember(command, None, "account_not_found")

    @precondition(lambda self: bool(self.first_executions))
    @rule(index=st.integers(0, 1_000), spelling=st.sampled_from(SPELLINGS))
    def replay_an_earlier_request_spelled_differently(self, index: int, spelling: str) -> None:
        self.http_bank.spelling = spelling
        try:
            self.replay_an_earlier_request(index)
        finally:
            self.http_bank.spelling = "nulls"

    # --- statements ------------------------------------------------------------------

    @invariant()
    def every_statement_is_the_models_postings_newest_first(self) -> None:
        expected: dict[uuid.UUID, list[tuple[str, int, int | None]]] = {
            account_id: [] for account_id in self.model
        }
        for posted in self.posted:
            view = posted.view
            if view.source_account_id in expected:
                expected[view.source_account_id].append(
                    (str(view.id), -view.amount, posted.source_after)
                )
            if view.destination_account_id in expected:
                expected[view.destination_account_id].append(
                    (str(view.id), view.amount, posted.destination_after)
                )

        async def read_all() -> list[list[Json]]:
            return [
                await statement(self.http_bank, account.owner, account.id)
                for account in self.model.values()
            ]

        for account, entries in zip(self.model.values(), self.run(read_all()), strict=True):
            actual = [(e["transfer_id"], e["amount"], e["balance_after"]) for e in entries]
            assert actual == expected[account.id][::-1], account.id
            assert all(e["account_id"] == str(account.id) for e in entries)
            assert sum(e["amount"] for e in entries) == account.balance


# Holds, limits and the clock stay in the in-memory model, where the clock can be moved:
# here the server's clock is the database's. Through HTTP they are covered by tests/api
# (test_holds.py, test_account_limits.py). Storage is behind the API here, and
# PostgreSQL's is reconciled by the integration tests. A name bound to None is no rule.
NOT_OVER_HTTP = (
    "amend",
    "submit_a_batch",
    "place_hold_to_any_account",
    "place_hold_to_an_account_in_the_same_currency",
    "capture_hold",
    "capture_part_of_a_live_hold",
    "void_hold",
    "extend_hold",
    "advance_the_clock",
    "sweep_expired_holds",
    "read_a_hold",
    "every_hold_reads_back_as_the_model_says",
    "the_ledger_invariants_hold_in_storage",
)
for _name in NOT_OVER_HTTP:
    setattr(HttpBankModel, _name, None)


def containers_on(adapter: str, pg_targets: PgTargets) -> Iterator[Any]:
    """A factory of fresh containers for each scenario, over one store or database.

    Scenarios share a PostgreSQL database: each one starts with API clients of its
    own, so it sees nothing of the others but the (never shown) settlement accounts.
    """
    if adapter == "memory":
        yield lambda: memory_container()
        return
    with pg_targets.database("primary") as url:
        yield lambda: postgres_container(url)


def memory_container() -> Container:
    container = Container()
    use_in_memory(container, MemoryStore())
    return container


def postgres_container(url: str) -> Container:
    container = Container()
    container.settings.override(providers.Object(Settings(database_url=url)))
    container.database_url.override(providers.Object(url))
    return container


@pytest.fixture(params=["memory", pytest.param("postgres", marks=pytest.mark.integration)])
def machine(request: pytest.FixtureRequest, pg_targets: PgTargets) -> Iterator[type[BankModel]]:
    for factory in containers_on(request.param, pg_targets):

        class Machine(HttpBankModel):
            build_container = staticmethod(factory)

        yield Machine


EXAMPLES = {"memory": 60, "postgres": 25}


def test_the_http_api_agrees_with_the_reference_model_after_every_step(
    machine: type[BankModel], request: pytest.FixtureRequest
) -> None:
    adapter = request.node.callspec.params["machine"]
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=EXAMPLES[adapter],
            stateful_step_count=30,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
