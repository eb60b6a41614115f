"""The Idempotency-Key header on money-moving POSTs and account opening."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from dependency_injector import providers

from interfaces.container import Container
from tests.api.helpers import (
    ADMIN,
    Account,
    Headers,
    assert_problem,
    balance,
    deposit,
    entries,
    funded_account,
    new_client,
    open_account,
    transfer_body,
    unchanged,
    unknown_id,
    with_key,
)

Send = Callable[[Headers], Awaitable[httpx.Response]]


async def setup(api: httpx.AsyncClient) -> tuple[Account, Account]:
    owner = await new_client(api)
    return await funded_account(api, owner, 1000), await open_account(api, owner)


def movements(
    api: httpx.AsyncClient, source: Account, destination: Account
) -> dict[str, tuple[Send, int]]:
    """Each money-moving request, sent with extra headers, and its effect on ``source``."""
    owner = source.owner
    move = {"amount": 100, "currency": "USD", "description": "once"}
    return {
        "deposit": (
            lambda headers: api.post(
                f"/v1/accounts/{source.id}/deposits", json=move, headers={**owner, **headers}
            ),
            +100,
        ),
        "withdrawal": (
            lambda headers: api.post(
                f"/v1/accounts/{source.id}/withdrawals", json=move, headers={**owner, **headers}
            ),
            -100,
        ),
        "transfer": (
            lambda headers: api.post(
                "/v1/transfers",
                json=transfer_body(source, destination, 100),
                headers={**owner, **headers},
            ),
            -100,
        ),
    }


async def test_a_repeat_with_the_same_key_replays_the_first_response_and_moves_money_once(
    api: httpx.AsyncClient,
) -> None:
    for kind in ["deposit", "withdrawal", "transfer"]:
        source, destination = await setup(api)
        send, effect = movements(api, source, destination)[kind]

        first = await send({"Idempotency-Key": "pay-1"})
        repeats = [await send({"Idempotency-Key": "pay-1"}) for _ in range(2)]

        assert first.status_code == 201, first.text
        assert "idempotent-replayed" not in first.headers
        for repeat in repeats:
            assert repeat.status_code == 201
            assert repeat.headers["idempotent-replayed"] == "true"
            assert repeat.json() == first.json()
        assert await balance(api, source) == 1000 + effect, kind
        assert len(await entries(api, source)) == 2


async def test_a_repeated_account_opening_opens_one_account(api: httpx.AsyncClient) -> None:
    owner = await new_client(api)
    body = {"currency": "JPY", "reference": "r-1"}

    first = await api.post("/v1/accounts", json=body, headers=with_key(owner, "open-1"))
    again = await api.post("/v1/accounts", json=body, headers=with_key(owner, "open-1"))

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    listed = (await api.get("/v1/accounts", headers=owner)).json()["data"]
    assert listed == [first.json()]


async def test_a_rule_violation_is_replayed_even_after_its_cause_is_gone(
    api: httpx.AsyncClient,
) -> None:
    owner = await new_client(api)
    account = await open_account(api, owner)
    withdraw = {"amount": 500, "currency": "USD"}
    url = f"/v1/accounts/{account.id}/withdrawals"

    first = await api.post(url, json=withdraw, headers=with_key(owner, "w-1"))
    await deposit(api, account, 1000)
    async with unchanged(api, account):
        again = await api.post(url, json=withdraw, headers=with_key(owner, "w-1"))

    assert_problem(first, 422, "insufficient_funds")
    assert "idempotent-replayed" not in first.headers
    assert_problem(again, 422, "insufficient_funds")
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()


async def test_a_404_is_stored_and_replayed_like_any_outcome(api: httpx.AsyncClient) -> None:
    source, _ = await setup(api)
    body = transfer_body(source, unknown_id(), 10)

    async with unchanged(api, source):
        first = await api.post("/v1/transfers", json=body, headers=with_key(source.owner, "k"))
        again = await api.post("/v1/transfers", json=body, headers=with_key(source.owner, "k"))

    assert_problem(first, 404, "account_not_found")
    assert_problem(again, 404, "account_not_found")
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()


async def test_the_same_key_with_a_different_request_is_422_idempotency_key_reused(
    api: httpx.AsyncClient,
) -> None:
    source, destination = await setup(api)
    owner = with_key(source.owner, "reused")
    first = await api.post(
        f"/v1/accounts/{source.id}/deposits", json={"amount": 5, "currency": "USD"}, headers=owner
    )
    assert first.status_code == 201
    other_account = await funded_account(api, source.owner, 5)

    async with unchanged(api, source, destination, other_account):
        for method, path, body in [
            ("POST", f"/v1/accounts/{source.id}/deposits", {"amount": 6, "currency": "USD"}),
            (
                "POST",
                f"/v1/accounts/{source.id}/deposits",
                {"amount": 5, "currency": "USD", "description": "x"},
            ),
            ("POST", f"/v1/accounts/{other_account.id}/deposits", {"amount": 5, "currency": "USD"}),
            ("POST", f"/v1/accounts/{source.id}/withdrawals", {"amount": 5, "currency": "USD"}),
            ("POST", "/v1/transfers", transfer_body(source, destination, 5)),
            ("POST", "/v1/accounts", {"currency": "USD"}),
        ]:
            response = await api.request(method, path, json=body, headers=owner)
            assert_problem(response, 422, "idempotency_key_reused")
            assert "idempotent-replayed" not in response.headers


async def test_key_order_white_space_and_explicit_nulls_do_not_make_another_request(
    api: httpx.AsyncClient,
) -> None:
    source, _ = await setup(api)
    owner = with_key(source.owner, "same")
    path = f"/v1/accounts/{source.id}/deposits"
    first = await api.post(path, json={"amount": 5, "currency": "USD"}, headers=owner)

    variants = [
        b'{"currency": "USD", "amount": 5}',
        b'\n {\n  "amount" :5 ,\t"currency":"USD"\n}\n ',
        b'{"amount": 5, "currency": "USD", "description": null}',
    ]
    for content in variants:
        response = await api.post(
            path, content=content, headers={**owner, "Content-Type": "application/json"}
        )
        assert response.status_code == 201, (content, response.text)
        assert response.headers["idempotent-replayed"] == "true"
        assert response.json() == first.json()
    assert await balance(api, source) == 1005

    opened = await api.post(
        "/v1/accounts", json={"currency": "USD"}, headers=with_key(source.owner, "acct")
    )
    reopened = await api.post(
        "/v1/accounts",
        json={"reference": None, "currency": "USD"},
        headers=with_key(source.owner, "acct"),
    )
    assert reopened.headers["idempotent-replayed"] == "true"
    assert reopened.json() == opened.json()


INVALID_KEYS = [
    b"",
    b"k" * 256,
    "caf\u00e9".encode(),  # non-ASCII (UTF-8 bytes on the wire)
    b"tab\there",
    b"\x7f",
]


async def test_an_empty_or_invalid_key_is_422_validation_error_and_moves_nothing(
    api: httpx.AsyncClient,
) -> None:
    source, destination = await setup(api)
    requests = [
        ("/v1/accounts", {"currency": "USD"}),
        (f"/v1/accounts/{source.id}/deposits", {"amount": 5, "currency": "USD"}),
        (f"/v1/accounts/{source.id}/withdrawals", {"amount": 5, "currency": "USD"}),
        ("/v1/transfers", transfer_body(source, destination, 5)),
    ]
    owner = {name.encode(): value.encode() for name, value in source.owner.items()}
    async with unchanged(api, source, destination):
        for key in INVALID_KEYS:
            for path, body in requests:
                response = await api.post(
                    path, json=body, headers={**owner, b"Idempotency-Key": key}
                )
                assert_problem(response, 422, "validation_error")
    listed = (await api.get("/v1/accounts", headers=source.owner)).json()["data"]
    assert len(listed) == 2


async def test_keys_of_1_and_255_printable_ascii_characters_are_accepted(
    api: httpx.AsyncClient,
) -> None:
    source, destination = await setup(api)
    for key in ["k", "~" * 255, " spaced key ", "!#$%&'()*+,-./:;<=>?@[]^_`{|}"]:
        send, _ = movements(api, source, destination)["deposit"]
        first, again = await send({"Idempotency-Key": key}), await send({"Idempotency-Key": key})
        assert first.status_code == 201, (key, first.text)
        assert again.headers.get("idempotent-replayed") == "true", key
    assert await balance(api, source) == 1400


async def test_the_key_is_ignored_even_when_malformed_on_routes_that_move_no_money(
    api: httpx.AsyncClient,
) -> None:
    owner = await new_client(api)
    first, second = await open_account(api, owner), await open_account(api, owner)
    for key in ["same", "", "k" * 300]:
        for account in (first, second):
            for action, status in [("freeze", "frozen"), ("unfreeze", "active")]:
                response = await api.post(
                    f"/v1/accounts/{account.id}/{action}", headers=with_key(owner, key)
                )
                assert response.status_code == 200, response.text
                assert response.json()["status"] == status
                assert "idempotent-replayed" not in response.headers
    closed = await api.post(f"/v1/accounts/{first.id}/close", headers=with_key(owner, "same"))
    assert closed.json()["status"] == "closed"

    clients = [
        await api.post("/v1/admin/clients", json={"name": "x"}, headers=with_key(ADMIN, key))
        for key in ["same", "same", "", "k" * 300]
    ]
    assert [response.status_code for response in clients] == [201] * 4
    assert len({response.json()["id"] for response in clients}) == 4


async def test_401_413_415_and_validation_errors_are_not_stored_so_the_key_stays_free(
    api: httpx.AsyncClient,
) -> None:
    source, _ = await setup(api)
    path = f"/v1/accounts/{source.id}/deposits"
    keyed = with_key(source.owner, "K")
    valid = {"amount": 7, "currency": "USD"}

    refusals = [
        await api.post(path, json=valid, headers={"Idempotency-Key": "K"}),
        await api.post(
            path, json=valid, headers={"Idempotency-Key": "K", "Authorization": "Bearer nope"}
        ),
        await api.post(
            path,
            content=json.dumps({**valid, "description": "x" * 70_000}).encode(),
            headers={**keyed, "Content-Type": "application/json"},
        ),
        await api.post(
            path,
            content=json.dumps(valid).encode(),
            headers={**keyed, "Content-Type": "text/plain"},
        ),
        await api.post(path, json={**valid, "amount": 0}, headers=keyed),
        await api.post(path, json={**valid, "currency": "XYZ"}, headers=keyed),
        await api.post(path, json={**valid, "description": "nul\u0000"}, headers=keyed),
    ]
    executed = await api.post(path, json=valid, headers=keyed)

    assert [response.status_code for response in refusals] == [401, 401, 413, 415, 422, 422, 422]
    assert executed.status_code == 201, executed.text
    assert "idempotent-replayed" not in executed.headers
    assert await balance(api, source) == 1007


class FailOnce:
    """An id factory that fails once when armed, as a crash half-way through would."""

    def __init__(self) -> None:
        self.armed = False

    def __call__(self) -> uuid.UUID:
        if self.armed:
            self.armed = False
            raise RuntimeError("the machine caught fire")
        return uuid.uuid4()


async def test_a_5xx_is_not_stored_so_a_retry_with_the_key_takes_effect(
    api: httpx.AsyncClient, container: Container
) -> None:
    new_id = FailOnce()
    container.new_id.override(providers.Object(new_id))
    source, destination = await setup(api)
    send, _ = movements(api, source, destination)["transfer"]

    new_id.armed = True
    async with unchanged(api, source, destination):
        failed = await send({"Idempotency-Key": "crash"})
    retried = await send({"Idempotency-Key": "crash"})

    assert_problem(failed, 500, "internal_error")
    assert retried.status_code == 201, retried.text
    assert "idempotent-replayed" not in retried.headers
    assert await balance(api, source) == 900


async def test_keys_belong_to_one_client_each(api: httpx.AsyncClient) -> None:
    mine, _ = await setup(api)
    theirs, _ = await setup(api)

    for account in (mine, theirs):
        response = await api.post(
            f"/v1/accounts/{account.id}/deposits",
            json={"amount": 1, "currency": "USD"},
            headers=with_key(account.owner, "shared"),
        )
        assert response.status_code == 201
        assert "idempotent-replayed" not in response.headers

    assert (await balance(api, mine), await balance(api, theirs)) == (1001, 1001)


async def test_concurrent_duplicates_take_effect_once_and_all_answer_the_same(
    api: httpx.AsyncClient,
) -> None:
    for kind in ["deposit", "withdrawal", "transfer"]:
        source, destination = await setup(api)
        send, effect = movements(api, source, destination)[kind]

        responses = await asyncio.gather(*(send({"Idempotency-Key": "race"}) for _ in range(10)))

        statuses = [response.status_code for response in responses]
        assert statuses == [201] * 10, [response.text for response in responses]
        bodies: list[dict[str, Any]] = [response.json() for response in responses]
        assert all(body == bodies[0] for body in bodies)
        fresh = [r for r in responses if "idempotent-replayed" not in r.headers]
        assert len(fresh) == 1, kind
        assert await balance(api, source) == 1000 + effect, kind
        assert len(await entries(api, source)) == 2
        if kind == "transfer":
            assert await balance(api, destination) == 100
