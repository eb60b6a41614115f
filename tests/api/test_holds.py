"""``/v1/holds``: place, capture, void, extend, read and list holds; their rules, their
order, tenancy, idempotency and exact expiry."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import httpx

from tests.api.helpers import (
    CANONICAL_UUID,
    RFC3339_UTC,
    Account,
    assert_problem,
    entries,
    funded_account,
    hold_body,
    new_client,
    open_account,
    place_hold,
    read,
    read_hold,
    state,
    unknown_id,
    with_key,
)

HOLD_FIELDS = {
    "id",
    "source_account_id",
    "destination_account_id",
    "amount",
    "currency",
    "captured_amount",
    "released_amount",
    "remaining_amount",
    "capture_count",
    "status",
    "expires_at",
    "description",
    "metadata",
    "created_at",
    "updated_at",
    "version",
}
WEEK = timedelta(seconds=604800)


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


@asynccontextmanager
async def untouched(
    api: httpx.AsyncClient, hold: dict[str, Any], *accounts: Account
) -> AsyncIterator[None]:
    """The block changes neither the hold (as its source's owner reads it) nor any
    balance, held amount, version or entry of ``accounts``."""
    owner = accounts[0].owner
    before = (await read_hold(api, hold["id"], owner), await state(api, accounts))
    yield
    assert (await read_hold(api, hold["id"], owner), await state(api, accounts)) == before


@asynccontextmanager
async def untouched_accounts(api: httpx.AsyncClient, *accounts: Account) -> AsyncIterator[None]:
    before = await state(api, accounts)
    yield
    assert await state(api, accounts) == before


async def capture(
    api: httpx.AsyncClient, hold: dict[str, Any], owner: dict[str, str], **body: Any
) -> httpx.Response:
    return await api.post(f"/v1/holds/{hold['id']}/captures", json=body, headers=owner)


async def pair(api: httpx.AsyncClient, funds: int = 10_000) -> tuple[Account, Account]:
    owner = await new_client(api)
    return await funded_account(api, owner, funds), await open_account(api, owner)


# -- placing ------------------------------------------------------------------------------


async def test_a_hold_answers_201_and_reserves_money_without_moving_any(
    api: httpx.AsyncClient,
) -> None:
    source, destination = await pair(api)
    before = await read(api, source)

    response = await api.post(
        "/v1/holds",
        json=hold_body(source, destination, 3000, description="hotel", metadata={"b": "9"}),
        headers=source.owner,
    )

    assert response.status_code == 201, response.text
    assert "idempotent-replayed" not in response.headers
    hold = response.json()
    assert set(hold) == HOLD_FIELDS
    assert CANONICAL_UUID.fullmatch(hold["id"])
    for field in ("expires_at", "created_at", "updated_at"):
        assert RFC3339_UTC.fullmatch(hold[field]), field
    assert hold == {
        **hold,
        "source_account_id": source.id,
        "destination_account_id": destination.id,
        "amount": 3000,
        "currency": "USD",
        "captured_amount": 0,
        "released_amount": 0,
        "remaining_amount": 3000,
        "capture_count": 0,
        "status": "active",
        "description": "hotel",
        "metadata": {"b": "9"},
        "version": 1,
    }
    assert hold["updated_at"] == hold["created_at"]
    assert moment(hold["expires_at"]) - moment(hold["created_at"]) == WEEK
    after = await read(api, source)
    assert (after["balance"], after["held"], after["available"]) == (10_000, 3000, 7000)
    assert after["version"] == before["version"] + 1
    assert len(await entries(api, source)) == 1  # the deposit only
    assert (await read(api, destination))["version"] == 1
    assert await read_hold(api, hold["id"], source.owner) == hold


async def test_a_hold_of_exactly_what_is_available_is_granted_and_one_more_is_not(
    api: httpx.AsyncClient,
) -> None:
    source, destination = await pair(api, 500)
    await place_hold(api, source, destination, 200)

    async with untouched_accounts(api, source, destination):
        response = await api.post(
            "/v1/holds", json=hold_body(source, destination, 301), headers=source.owner
        )
        assert_problem(response, 422, "insufficient_funds")
    await place_hold(api, source, destination, 300)
    assert (await read(api, source))["available"] == 0


async def test_placing_a_hold_checks_the_transfer_rules_in_their_order(
    api: httpx.AsyncClient,
) -> None:
    owner = await new_client(api)
    stranger = await new_client(api, "other")
    source = await funded_account(api, owner, 1000)
    destination = await open_account(api, owner)
    euros = await open_account(api, owner, "EUR")
    frozen = await open_account(api, owner)
    assert (await api.post(f"/v1/accounts/{frozen.id}/freeze", headers=owner)).status_code == 200
    theirs = await funded_account(api, stranger, 1000)

    cases = [
        # An unknown destination is 404 even when the amount is also too large.
        (hold_body(source, unknown_id(), 5000), 404, "account_not_found"),
        (hold_body(theirs, destination, 10), 404, "account_not_found"),
        (hold_body(source, source, 5000), 422, "same_account"),
        (hold_body(source, frozen, 5000, currency="EUR"), 422, "account_not_active"),
        (hold_body(source, euros, 5000), 422, "currency_mismatch"),
        (hold_body(source, destination, 1001), 422, "insufficient_funds"),
    ]
    async with untouched_accounts(api, source, destination, euros, frozen):
        for body, status, code in cases:
            response = await api.post("/v1/holds", json=body, headers=owner)
            assert_problem(response, status, code)
    listed = await api.get("/v1/holds", headers=owner)
    assert listed.json()["data"] == []


async def test_no_hold_is_placed_on_or_for_a_frozen_account(api: httpx.AsyncClient) -> None:
    source, destination = await pair(api)
    for frozen in (source, destination):
        await api.post(f"/v1/accounts/{frozen.id}/freeze", headers=frozen.owner)
        async with untouched_accounts(api, source, destination):
            response = await api.post(
                "/v1/holds", json=hold_body(source, destination, 10), headers=source.owner
            )
            assert_problem(response, 422, "account_not_active")
        await api.post(f"/v1/accounts/{frozen.id}/unfreeze", headers=frozen.owner)


BAD_HOLD_FIELDS: list[dict[str, Any]] = [
    {"amount": 10.5},
    {"amount": 10.0},
    {"amount": "100"},
    {"amount": True},
    {"amount": 0},
    {"amount": -5},
    {"amount": 10**15 + 1},
    {"expires_in_seconds": 0},
    {"expires_in_seconds": 2592001},
    {"expires_in_seconds": "10"},
    {"expires_in_seconds": 1.5},
    {"expires_in_seconds": True},
    {"metadata": {f"k{index}": "v" for index in range(51)}},
    {"metadata": {"k" * 41: "v"}},
    {"metadata": {"": "v"}},
    {"metadata": {"a key": "v"}},
    {"metadata": {"k": "v" * 501}},
    {"metadata": {"k": "a\u0000b"}},
    {"metadata": {"k": None}},
    {"metadata": {"k": 5}},
    {"metadata": ["k", "v"]},
    {"metadata": "k=v"},
    {"description": "d" * 257},
    {"source_account_id": "not-a-uuid"},
    {"unknown": 1},
]


async def test_an_invalid_hold_body_is_a_validation_error_and_places_nothing(
    api: httpx.AsyncClient,
) -> None:
    source, destination = await pair(api)

    async with untouched_accounts(api, source, destination):
        for fields in BAD_HOLD_FIELDS:
            body = {**hold_body(source, destination, 100), **fields}
            response = await api.post("/v1/holds", json=body, headers=source.owner)
            assert_problem(response, 422, "validation_error")
    assert (await api.get("/v1/holds", headers=source.owner)).json()["data"] == []


async def test_metadata_at_its_limits_and_explicit_nulls_are_accepted(
    api: httpx.AsyncClient,
) -> None:
    source, destination = await pair(api)
    widest = {f"k{index:02}": "v" * 500 for index in range(50)}
    widest["K-._9" + "x" * 35] = ""
    del widest["k00"]

    hold = await place_hold(
        api, source, destination, 1, metadata=widest, expires_in_seconds=2592000
    )
    plain = await place_hold(
        api, source, destination, 1, metadata=None, expires_in_seconds=None, description=None
    )

    assert hold["metadata"] == widest
    assert moment(hold["expires_at"]) - moment(hold["created_at"]) == timedelta(days=30)
    assert (plain["metadata"], plain["description"]) == ({}, None)
    assert moment(plain["expires_at"]) - moment(plain["created_at"]) == WEEK


# -- capturing ----------------------------------------------------------------------------


async def test_partial_captures_move_money_until_nothing_remains(api: httpx.AsyncClient) -> None:
    source, destination = await pair(api)
    hold = await place_hold(api, source, destination, 3000)

    response = await capture(
        api, hold, source.owner, amount=1000, description="night 1", metadata={"n": "1"}
    )

    assert response.status_code == 201, response.text
    transfer = response.json()
    assert transfer == {
        **transfer,
        "kind": "capture",
        "source_account_id": source.id,
        "destination_account_id": destination.id,
        "amount": 1000,
        "currency": "USD",
        "description": "night 1",
        "status": "posted",
        "source_balance_after": 9000,
        "destination_balance_after": 1000,
        "hold_id": hold["id"],
        "metadata": {"n": "1"},
    }
    read_back = await api.get(f"/v1/transfers/{transfer['id']}", headers=source.owner)
    assert read_back.json() == transfer
    after_one = await read_hold(api, hold["id"], source.owner)
    assert after_one == {
        **after_one,
        "captured_amount": 1000,
        "released_amount": 0,
        "remaining_amount": 2000,
        "capture_count": 1,
        "status": "active",
        "version": 2,
    }
    account = await read(api, source)
    assert (account["balance"], account["held"], account["available"]) == (9000, 2000, 7000)
    assert [entry["amount"] for entry in await entries(api, source)] == [-1000, 10_000]
    assert [entry["transfer_id"] for entry in await entries(api, destination)] == [transfer["id"]]

    # No amount: all that remains; no body at all is the same.
    rest = await capture(api, hold, source.owner)
    assert rest.status_code == 201, rest.text
    assert (rest.json()["amount"], rest.json()["source_balance_after"]) == (2000, 7000)
    done = await read_hold(api, hold["id"], source.owner)
    assert done == {
        **done,
        "captured_amount": 3000,
        "released_amount": 0,
        "remaining_amount": 0,
        "capture_count": 2,
        "status": "captured",
        "version": 3,
    }
    account = await read(api, source)
    assert (account["balance"], account["held"], account["available"]) == (7000, 0, 7000)
    assert (await read(api, destination))["balance"] == 3000


async def test_a_capture_without_a_body_takes_all_that_remains(api: httpx.AsyncClient) -> None:
    source, destination = await pair(api)
    hold = await place_hold(api, source, destination, 1200)

    response = await api.post(f"/v1/holds/{hold['id']}/captures", headers=source.owner)

    assert response.status_code == 201, response.text
    assert (response.json()["amount"], response.json()["metadata"]) == (1200, {})
    assert (await read_hold(api, hold["id"], source.owner))["status"] == "captured"


async def test_a_final_capture_releases_the_rest(api: httpx.AsyncClient) -> None:
    source, destination = await pair(api)
    hold = await place_hold(api, source, destination, 3000)

    response = await capture(api, hold, source.owner, amount=1000, final=True)

    assert response.status_code == 201, response.text
    done = await read_hold(api, hold["id"], source.owner)
    assert (
        done["captured_amount"],
        done["released_amount"],
        done["remaining_amount"],
        done["status"],
    ) == (1000, 2000, 0, "captured")
    account = await read(api, source)
    assert (account["balance"], account["held"], account["available"]) == (9000, 0, 9000)
    async with untouched(api, done, source, destination):
        assert_problem(await capture(api, done, source.owner, amount=1), 422, "hold_not_active")


async def test_final_false_and_null_fields_capture_as_if_absent(api: httpx.AsyncClient) -> None:
    source, destination = await pair(api)
    hold = await place_hold(api, source, destination, 3000)

    response = await capture(
        api, hold, source.owner, amount=None, final=False, description=None, metadata=None
    )
    assert response.status_code == 201, response.text
    assert response.json()["amount"] == 3000
    hold = await place_hold(api, source, destination, 3000)
    response = await capture(api, hold, source.owner, amount=100, final=None)
    assert response.status_code == 201, response.text
    assert (await read_hold(api, hold["id"], source.owner))["remaining_amount"] == 2900


async def test_a_capture_of_more_than_remains_is_refused_and_changes_nothing(
    api: httpx.AsyncClient,
) -> None:
    source, destination = await pair(api)
    hold = await place_hold(api, source, destination, 3000)
    assert (await capture(api, hold, source.owner, amount=1000)).status_code == 201

    async with untouched(api, hold, source, destination):
        response = await capture(api, hold, source.owner, amount=2001)
        assert_problem(response, 422, "capture_exceeds_remaining")


async def test_a_capture_is_never_refused_for_funds(api: httpx.AsyncClient) -> None:
    owner = await new_client(api)
    source = await open_account(api, owner, overdraft_limit=1000)
    destination = await open_account(api, owner)
    hold = await place_hold(api, source, destination, 1000)
    patch = await api.patch(f"/v1/accounts/{source.id}", json={"overdraft_limit": 0}, headers=owner)
    assert patch.json()["available"] == -1000

    response = await capture(api, hold, source.owner)

    assert response.status_code == 201, response.text
    account = await read(api, source)
    assert (account["balance"], account["held"], account["available"]) == (-1000, 0, -1000)


BAD_CAPTURE_FIELDS: list[dict[str, Any]] = [
    {"amount": 0},
    {"amount": 1.5},
    {"amount": 10.0},
    {"amount": "10"},
    {"amount": True},
    {"final": "true"},
    {"final": 1},
    {"final": 0},
    {"metadata": {"k": None}},
    {"metadata": {"bad key": "v"}},
    {"description": "a\u0000b"},
    {"unknown": True},
]


async def test_an_invalid_capture_body_is_a_validation_error_and_changes_nothing(
    api: httpx.AsyncClient,
) -> None:
    source, destination = await pair(api)
    hold = await place_hold(api, source, destination, 3000)

    async with untouched(api, hold, source, destination):
        for body in BAD_CAPTURE_FIELDS:
            response = await capture(api, hold, source.owner, **body)
            assert_problem(response, 422, "validation_error")
        for content in (b"[]", b"{not json", b'"amount"'):
            response = await api.post(
                f"/v1/holds/{hold['id']}/captures",
                content=content,
                headers={**source.owner, "Content-Type": "application/json"},
            )
            assert_problem(response, 422, "validation_error")


# -- voiding and extending ----------------------------------------------------------------


async def test_a_void_releases_the_rest_and_a_second_void_changes_nothing(
    api: httpx.AsyncClient,
) -> None:
    source, destination = await pair(api)
    hold = await place_hold(api, source, destination, 3000)
    assert (await capture(api, hold, source.owner, amount=500)).status_code == 201

    response = await api.post(f"/v1/holds/{hold['id']}/void", headers=source.owner)

    assert response.status_code == 200, response.text
    voided = response.json()
    assert voided == {
        **voided,
        "captured_amount": 500,
        "released_amount": 2500,
        "remaining_amount": 0,
        "status": "voided",
        "version": 3,
    }
    assert await read_hold(api, hold["id"], source.owner) == voided
    account = await read(api, source)
    assert (account["balance"], account["held"], account["available"]) == (9500, 0, 9500)

    async with untouched(api, voided, source, destination):
        again = await api.post(f"/v1/holds/{hold['id']}/void", headers=source.owner)
        assert again.status_code == 200, again.text
        assert again.json() == voided
        assert_problem(await capture(api, voided, source.owner), 422, "hold_not_active")
        extend = await api.post(
            f"/v1/holds/{hold['id']}/extend",
            json={"expires_in_seconds": 60},
            headers=source.owner,
        )
        assert_problem(extend, 422, "hold_not_active")


async def test_a_captured_hold_cannot_be_voided_or_extended(api: httpx.AsyncClient) -> None:
    source, destination = await pair(api)
    hold = await place_hold(api, source, destination, 300)
    assert (await capture(api, hold, source.owner)).status_code == 201

    async with untouched(api, hold, source, destination):
        void = await api.post(f"/v1/holds/{hold['id']}/void", headers=source.owner)
        assert_problem(void, 422, "hold_not_active")
        extend = await api.post(
            f"/v1/holds/{hold['id']}/extend", json={"expires_in_seconds": 9}, headers=source.owner
        )
        assert_problem(extend, 422, "hold_not_active")


async def test_an_extension_moves_the_expiry_later_but_never_earlier(
    api: httpx.AsyncClient,
) -> None:
    source, destination = await pair(api)
    hold = await place_hold(api, source, destination, 300, expires_in_seconds=3600)
    url = f"/v1/holds/{hold['id']}/extend"

    later = await api.post(url, json={"expires_in_seconds": 7200}, headers=source.owner)

    assert later.status_code == 200, later.text
    extended = later.json()
    assert moment(extended["expires_at"]) - moment(hold["expires_at"]) >= timedelta(seconds=3600)
    assert moment(extended["expires_at"]) - moment(extended["updated_at"]) == timedelta(hours=2)
    assert extended["version"] == 2
    source_version = (await read(api, source))["version"]

    async with untouched(api, extended, source, destination):
        earlier = await api.post(url, json={"expires_in_seconds": 60}, headers=source.owner)
        assert earlier.status_code == 200, earlier.text
        assert earlier.json() == extended
    assert (await read(api, source))["version"] == source_version


async def test_an_invalid_extension_is_a_validation_error(api: httpx.AsyncClient) -> None:
    source, destination = await pair(api)
    hold = await place_hold(api, source, destination, 300)
    url = f"/v1/holds/{hold['id']}/extend"

    async with untouched(api, hold, source, destination):
        for body in [
            {},
            {"expires_in_seconds": None},
            {"expires_in_seconds": 0},
            {"expires_in_seconds": 2592001},
            {"expires_in_seconds": "10"},
            {"expires_in_seconds": 1.5},
            {"expires_in_seconds": 10, "unknown": 1},
        ]:
            response = await api.post(url, json=body, headers=source.owner)
            assert_problem(response, 422, "validation_error")
        assert_problem(await api.post(url, headers=source.owner), 422, "validation_error")


# -- frozen and closed accounts -----------------------------------------------------------


async def test_on_a_frozen_account_a_hold_is_not_captured_but_may_be_voided(
    api: httpx.AsyncClient,
) -> None:
    source, destination = await pair(api)
    for frozen in (source, destination):
        hold = await place_hold(api, source, destination, 300)
        await api.post(f"/v1/accounts/{frozen.id}/freeze", headers=frozen.owner)

        async with untouched(api, hold, source, destination):
            assert_problem(await capture(api, hold, source.owner), 422, "account_not_active")
        voided = await api.post(f"/v1/holds/{hold['id']}/void", headers=source.owner)
        assert voided.status_code == 200, voided.text
        assert voided.json()["status"] == "voided"
        await api.post(f"/v1/accounts/{frozen.id}/unfreeze", headers=frozen.owner)
    account = await read(api, source)
    assert (account["balance"], account["held"]) == (10_000, 0)


async def test_an_account_with_money_held_cannot_be_closed(api: httpx.AsyncClient) -> None:
    owner = await new_client(api)
    source = await open_account(api, owner, overdraft_limit=500)
    destination = await open_account(api, owner)
    hold = await place_hold(api, source, destination, 300)

    async with untouched(api, hold, source, destination):
        response = await api.post(f"/v1/accounts/{source.id}/close", headers=owner)
        assert_problem(response, 422, "account_not_empty")
    await api.post(f"/v1/holds/{hold['id']}/void", headers=owner)
    closed = await api.post(f"/v1/accounts/{source.id}/close", headers=owner)
    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "closed"


# -- the order of the rules ---------------------------------------------------------------


async def test_a_spent_hold_is_not_active_before_its_accounts_are_looked_at(
    api: httpx.AsyncClient,
) -> None:
    source, destination = await pair(api)
    hold = await place_hold(api, source, destination, 300)
    assert (await capture(api, hold, source.owner)).status_code == 201
    await api.post(f"/v1/accounts/{source.id}/freeze", headers=source.owner)

    response = await capture(api, hold, source.owner, amount=5000)

    assert_problem(response, 422, "hold_not_active")


async def test_an_inactive_account_is_refused_before_the_amount(api: httpx.AsyncClient) -> None:
    source, destination = await pair(api)
    hold = await place_hold(api, source, destination, 300)
    await api.post(f"/v1/accounts/{destination.id}/freeze", headers=destination.owner)

    async with untouched(api, hold, source, destination):
        response = await capture(api, hold, source.owner, amount=5000)
        assert_problem(response, 422, "account_not_active")


async def test_an_invalid_body_is_refused_before_an_unknown_hold(api: httpx.AsyncClient) -> None:
    owner = await new_client(api)

    response = await api.post(
        f"/v1/holds/{unknown_id()}/captures", json={"amount": 1.5}, headers=owner
    )

    assert_problem(response, 422, "validation_error")


# -- expiry -------------------------------------------------------------------------------


async def test_a_hold_expires_exactly_without_waiting_for_the_sweep(
    api: httpx.AsyncClient,
) -> None:
    source, destination = await pair(api)
    hold = await place_hold(api, source, destination, 3000, expires_in_seconds=1)
    kept = await place_hold(api, source, destination, 1000)
    assert (await capture(api, hold, source.owner, amount=400)).status_code == 201
    await api.post(f"/v1/accounts/{destination.id}/freeze", headers=destination.owner)
    before = await read(api, source)
    assert (before["held"], before["available"]) == (3600, 6000)

    await asyncio.sleep(1.1)  # the sweep first runs 10 s after start-up

    expired = await read_hold(api, hold["id"], source.owner)
    assert expired == {
        **expired,
        "status": "expired",
        "captured_amount": 400,
        "released_amount": 2600,
        "remaining_amount": 0,
        "version": 2,
    }
    after = await read(api, source)
    assert (after["balance"], after["held"], after["available"]) == (9600, 1000, 8600)
    assert after["version"] == before["version"]
    for status, expected in (("expired", [hold["id"]]), ("active", [kept["id"]])):
        listed = await api.get("/v1/holds", params={"status": status}, headers=source.owner)
        assert [item["id"] for item in listed.json()["data"]] == expected

    async with untouched(api, expired, source, destination):
        # Expired comes first, before the frozen destination and the amount.
        assert_problem(await capture(api, hold, source.owner, amount=9999), 422, "hold_expired")
        void = await api.post(f"/v1/holds/{hold['id']}/void", headers=source.owner)
        assert_problem(void, 422, "hold_expired")
        extend = await api.post(
            f"/v1/holds/{hold['id']}/extend",
            json={"expires_in_seconds": 3600},
            headers=source.owner,
        )
        assert_problem(extend, 422, "hold_expired")
    received = await read_hold(api, hold["id"], destination.owner)
    assert received == expired


async def test_a_voided_hold_stays_voided_after_its_expiry(api: httpx.AsyncClient) -> None:
    source, destination = await pair(api)
    hold = await place_hold(api, source, destination, 300, expires_in_seconds=1)
    voided = (await api.post(f"/v1/holds/{hold['id']}/void", headers=source.owner)).json()

    await asyncio.sleep(1.1)

    assert await read_hold(api, hold["id"], source.owner) == voided
    again = await api.post(f"/v1/holds/{hold['id']}/void", headers=source.owner)
    assert (again.status_code, again.json()) == (200, voided)


# -- reading and listing ------------------------------------------------------------------


async def test_holds_are_listed_newest_first_and_filtered(api: httpx.AsyncClient) -> None:
    owner = await new_client(api)
    first = await funded_account(api, owner, 10_000)
    second = await funded_account(api, owner, 10_000)
    payee = await open_account(api, owner)
    one = await place_hold(api, first, payee, 1)
    two = await place_hold(api, second, payee, 2)
    three = await place_hold(api, first, second, 3)
    await api.post(f"/v1/holds/{two['id']}/void", headers=owner)

    async def ids(**params: Any) -> list[str]:
        response = await api.get("/v1/holds", params=params, headers=owner)
        assert response.status_code == 200, response.text
        return [hold["id"] for hold in response.json()["data"]]

    assert await ids() == [three["id"], two["id"], one["id"]]
    assert await ids(status="active") == [three["id"], one["id"]]
    assert await ids(status="voided") == [two["id"]]
    assert await ids(status="captured") == []
    assert await ids(account_id=first.id) == [three["id"], one["id"]]
    assert await ids(account_id=second.id) == [three["id"], two["id"]]
    assert await ids(account_id=second.id, status="active") == [three["id"]]

    page = (await api.get("/v1/holds", params={"limit": 2}, headers=owner)).json()
    assert [hold["id"] for hold in page["data"]] == [three["id"], two["id"]]
    await place_hold(api, first, payee, 4)  # a newer hold does not shift the next page
    rest = await api.get(
        "/v1/holds", params={"limit": 2, "after": page["next_cursor"]}, headers=owner
    )
    assert ([hold["id"] for hold in rest.json()["data"]], rest.json()["next_cursor"]) == (
        [one["id"]],
        None,
    )


async def test_bad_list_filters_are_refused(api: httpx.AsyncClient) -> None:
    owner = await new_client(api)
    stranger = await new_client(api, "other")
    theirs = await open_account(api, stranger)

    for params in (
        {"status": "pending"},
        {"status": "ACTIVE"},
        {"account_id": "not-a-uuid"},
        {"limit": 0},
        {"limit": 201},
        {"after": "forged"},
    ):
        response = await api.get("/v1/holds", params=params, headers=owner)
        assert_problem(response, 422, "validation_error")
    for account_id in (theirs.id, unknown_id()):
        response = await api.get("/v1/holds", params={"account_id": account_id}, headers=owner)
        assert_problem(response, 404, "account_not_found")


# -- tenancy ------------------------------------------------------------------------------


async def test_another_clients_hold_does_not_exist_for_the_caller(
    api: httpx.AsyncClient,
) -> None:
    source, destination = await pair(api)
    hold = await place_hold(api, source, destination, 300)
    stranger = await new_client(api, "other")

    async with untouched(api, hold, source, destination):
        for method, path, body in [
            ("GET", f"/v1/holds/{hold['id']}", None),
            ("POST", f"/v1/holds/{hold['id']}/captures", {}),
            ("POST", f"/v1/holds/{hold['id']}/void", None),
            ("POST", f"/v1/holds/{hold['id']}/extend", {"expires_in_seconds": 60}),
        ]:
            for path_of in (path, path.replace(hold["id"], unknown_id())):
                response = await api.request(method, path_of, json=body, headers=stranger)
                assert_problem(response, 404, "hold_not_found")
            malformed = path.replace(hold["id"], "not-a-hold")
            response = await api.request(method, malformed, json=body, headers=source.owner)
            assert_problem(response, 404, "hold_not_found")
    assert (await api.get("/v1/holds", headers=stranger)).json()["data"] == []


async def test_the_payees_owner_reads_the_hold_but_cannot_change_it(
    api: httpx.AsyncClient,
) -> None:
    payer = await new_client(api)
    payee_owner = await new_client(api, "payee")
    source = await funded_account(api, payer, 10_000)
    payee = await open_account(api, payee_owner)
    hold = await place_hold(api, source, payee, 300)

    assert await read_hold(api, hold["id"], payee_owner) == hold
    listed = await api.get("/v1/holds", params={"account_id": payee.id}, headers=payee_owner)
    assert [item["id"] for item in listed.json()["data"]] == [hold["id"]]
    async with untouched(api, hold, source):
        for path, body in [
            ("captures", {}),
            ("void", None),
            ("extend", {"expires_in_seconds": 999_999}),
        ]:
            response = await api.post(
                f"/v1/holds/{hold['id']}/{path}", json=body, headers=payee_owner
            )
            assert_problem(response, 404, "hold_not_found")

    captured = await capture(api, hold, payer)
    assert (
        captured.json()["destination_balance_after"],
        captured.json()["source_balance_after"],
    ) == (
        None,
        9700,
    )
    seen = await api.get(f"/v1/transfers/{captured.json()['id']}", headers=payee_owner)
    assert (seen.json()["source_balance_after"], seen.json()["destination_balance_after"]) == (
        None,
        300,
    )


# -- idempotency --------------------------------------------------------------------------


async def test_placing_a_hold_with_a_key_takes_effect_once(api: httpx.AsyncClient) -> None:
    source, destination = await pair(api)
    headers = with_key(source.owner, "hold-1")
    body = hold_body(source, destination, 700, metadata={"a": "b"})

    first = await api.post("/v1/holds", json=body, headers=headers)
    again = await api.post(
        "/v1/holds", json={**body, "description": None, "expires_in_seconds": None}, headers=headers
    )

    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    assert (again.status_code, again.json()) == (201, first.json())
    assert again.headers["idempotent-replayed"] == "true"
    assert (await read(api, source))["held"] == 700
    for changed in ({**body, "amount": 701}, {**body, "metadata": {"a": "c"}}):
        reused = await api.post("/v1/holds", json=changed, headers=headers)
        assert_problem(reused, 422, "idempotency_key_reused")
    assert len((await api.get("/v1/holds", headers=source.owner)).json()["data"]) == 1


async def test_an_invalid_hold_body_does_not_use_up_its_key(api: httpx.AsyncClient) -> None:
    source, destination = await pair(api)
    headers = with_key(source.owner, "hold-2")

    bad = await api.post(
        "/v1/holds", json={**hold_body(source, destination, 2), "amount": 1.5}, headers=headers
    )
    good = await api.post("/v1/holds", json=hold_body(source, destination, 2), headers=headers)

    assert_problem(bad, 422, "validation_error")
    assert good.status_code == 201, good.text
    assert "idempotent-replayed" not in good.headers


async def test_a_refused_hold_is_replayed_under_its_key(api: httpx.AsyncClient) -> None:
    source, destination = await pair(api, 100)
    headers = with_key(source.owner, "hold-3")
    body = hold_body(source, destination, 200)

    first = await api.post("/v1/holds", json=body, headers=headers)
    await api.post(
        f"/v1/accounts/{source.id}/deposits",
        json={"amount": 500, "currency": "USD"},
        headers=source.owner,
    )
    again = await api.post("/v1/holds", json=body, headers=headers)

    assert_problem(first, 422, "insufficient_funds")
    assert_problem(again, 422, "insufficient_funds")
    assert again.headers["idempotent-replayed"] == "true"
    assert (await read(api, source))["held"] == 0


async def test_capturing_with_a_key_takes_effect_once(api: httpx.AsyncClient) -> None:
    source, destination = await pair(api)
    hold = await place_hold(api, source, destination, 3000)
    headers = with_key(source.owner, "capture-1")
    url = f"/v1/holds/{hold['id']}/captures"

    first = await api.post(url, json={"amount": 1000}, headers=headers)
    again = await api.post(
        url, json={"amount": 1000, "final": False, "metadata": None}, headers=headers
    )

    assert first.status_code == 201, first.text
    assert (again.status_code, again.json()) == (201, first.json())
    assert again.headers["idempotent-replayed"] == "true"
    assert (await read_hold(api, hold["id"], source.owner))["remaining_amount"] == 2000
    assert (await read(api, destination))["balance"] == 1000
    for changed in ({"amount": 999}, {"amount": 1000, "final": True}, {}):
        reused = await api.post(url, json=changed, headers=headers)
        assert_problem(reused, 422, "idempotency_key_reused")
    other = await place_hold(api, source, destination, 1000)
    elsewhere = await api.post(
        f"/v1/holds/{other['id']}/captures", json={"amount": 1000}, headers=headers
    )
    assert_problem(elsewhere, 422, "idempotency_key_reused")
    assert (await read(api, destination))["balance"] == 1000


async def test_a_refused_capture_is_replayed_under_its_key(api: httpx.AsyncClient) -> None:
    source, destination = await pair(api)
    hold = await place_hold(api, source, destination, 300)
    headers = with_key(source.owner, "capture-2")
    url = f"/v1/holds/{hold['id']}/captures"

    first = await api.post(url, json={"amount": 301}, headers=headers)
    again = await api.post(url, json={"amount": 301}, headers=headers)

    assert_problem(first, 422, "capture_exceeds_remaining")
    assert "idempotent-replayed" not in first.headers
    assert_problem(again, 422, "capture_exceeds_remaining")
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()


async def test_a_capture_of_an_unknown_hold_is_stored_under_its_key(
    api: httpx.AsyncClient,
) -> None:
    source, destination = await pair(api)
    hold = await place_hold(api, source, destination, 300)
    headers = with_key(source.owner, "capture-3")
    unknown = f"/v1/holds/{unknown_id()}/captures"

    first = await api.post(unknown, json={}, headers=headers)
    again = await api.post(unknown, json={}, headers=headers)
    elsewhere = await api.post(f"/v1/holds/{hold['id']}/captures", json={}, headers=headers)

    assert_problem(first, 404, "hold_not_found")
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    # The key is bound to the first request: the same key on a real hold is another request.
    assert_problem(elsewhere, 422, "idempotency_key_reused")
    assert (await read_hold(api, hold["id"], source.owner))["captured_amount"] == 0


async def test_void_and_extend_ignore_an_idempotency_key(api: httpx.AsyncClient) -> None:
    source, destination = await pair(api)
    hold = await place_hold(api, source, destination, 300)
    headers = with_key(source.owner, "")  # malformed, and ignored here

    extended = await api.post(
        f"/v1/holds/{hold['id']}/extend", json={"expires_in_seconds": 999_999}, headers=headers
    )
    voided = await api.post(f"/v1/holds/{hold['id']}/void", headers=headers)

    assert extended.status_code == 200, extended.text
    assert voided.status_code == 200, voided.text
    assert "idempotent-replayed" not in voided.headers
