"""``/v1/accounts``: open, read, list, freeze, unfreeze, close."""

from __future__ import annotations

import httpx

from tests.api.helpers import (
    CANONICAL_UUID,
    RFC3339_UTC,
    assert_problem,
    deposit,
    funded_account,
    new_client,
    open_account,
    read,
    unchanged,
    unknown_id,
)


async def test_opening_an_account_answers_201_with_an_active_empty_account_at_version_1(
    api: httpx.AsyncClient,
) -> None:
    owner = await new_client(api)

    response = await api.post("/v1/accounts", json={"currency": "USD"}, headers=owner)

    assert response.status_code == 201, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {
        "id",
        "currency",
        "balance",
        "held",
        "available",
        "overdraft_limit",
        "status",
        "reference",
        "metadata",
        "created_at",
        "version",
    }
    assert CANONICAL_UUID.fullmatch(body["id"])
    assert RFC3339_UTC.fullmatch(body["created_at"])
    assert (body["currency"], body["balance"], body["status"], body["version"]) == (
        "USD",
        0,
        "active",
        1,
    )
    assert (body["held"], body["available"], body["overdraft_limit"]) == (0, 0, 0)
    assert (body["reference"], body["metadata"]) == (None, {})
    assert "idempotent-replayed" not in response.headers


async def test_an_opened_account_reads_back_identical_to_its_201_body(
    api: httpx.AsyncClient,
) -> None:
    owner = await new_client(api)
    account = await open_account(api, owner, "JPY", reference="customer-42")

    assert await read(api, account) == account.body


async def test_accounts_open_in_any_active_currency_with_a_minor_unit(
    api: httpx.AsyncClient,
) -> None:
    owner = await new_client(api)
    for currency in ["USD", "JPY", "BHD", "EUR", "CHF", "KWD", "CLF"]:
        account = await open_account(api, owner, currency)
        assert account.body["currency"] == currency


async def test_a_reference_is_kept_as_given_and_an_empty_one_stays_empty(
    api: httpx.AsyncClient,
) -> None:
    owner = await new_client(api)
    longest = "é" * 127 + "\U0001f4b6"  # 128 code points, more bytes than that
    given = await open_account(api, owner, reference=longest)
    empty = await open_account(api, owner, reference="")
    explicit_null = await open_account(api, owner, reference=None)

    assert (await read(api, given))["reference"] == longest
    assert (await read(api, empty))["reference"] == ""
    assert (await read(api, explicit_null))["reference"] is None


async def test_the_account_list_holds_the_callers_accounts_newest_first_closed_ones_included(
    api: httpx.AsyncClient,
) -> None:
    owner, other = await new_client(api), await new_client(api, "other")
    first = await open_account(api, owner)
    second = await open_account(api, owner, "EUR")
    await open_account(api, other)
    closed = await api.post(f"/v1/accounts/{first.id}/close", headers=owner)
    assert closed.status_code == 200

    response = await api.get("/v1/accounts", headers=owner)

    assert response.status_code == 200, response.text
    page = response.json()
    assert page == {"data": [second.body, closed.json()], "next_cursor": None}


async def test_an_unknown_account_is_404_account_not_found(api: httpx.AsyncClient) -> None:
    owner = await new_client(api)
    response = await api.get(f"/v1/accounts/{unknown_id()}", headers=owner)
    assert_problem(response, 404, "account_not_found")


async def test_a_malformed_account_id_in_the_path_answers_exactly_like_an_unknown_one(
    api: httpx.AsyncClient,
) -> None:
    owner = await new_client(api)
    unknown = await api.get(f"/v1/accounts/{unknown_id()}", headers=owner)
    assert_problem(unknown, 404, "account_not_found")

    for malformed in [
        "not-a-uuid",
        "123",
        "3F2504E0-4F89-11D3-9A0C-0305E82C3301",  # upper case is not canonical
        "3f2504e04f8911d39a0c0305e82c3301",  # no hyphens
        "{3f2504e0-4f89-11d3-9a0c-0305e82c3301}",
        "%20",
    ]:
        response = await api.get(f"/v1/accounts/{malformed}", headers=owner)
        assert_problem(response, 404, "account_not_found")
        assert response.json() == unknown.json(), malformed


async def test_freezing_answers_200_with_the_frozen_account_one_version_later(
    api: httpx.AsyncClient,
) -> None:
    owner = await new_client(api)
    account = await funded_account(api, owner, 500)

    response = await api.post(f"/v1/accounts/{account.id}/freeze", headers=owner)

    assert response.status_code == 200, response.text
    assert response.json() == {**(await read(api, account)), "status": "frozen"}
    assert response.json()["version"] == 3  # opened, deposited, frozen
    assert response.json()["balance"] == 500


async def test_freezing_a_frozen_account_changes_nothing(api: httpx.AsyncClient) -> None:
    owner = await new_client(api)
    account = await open_account(api, owner)
    frozen = await api.post(f"/v1/accounts/{account.id}/freeze", headers=owner)

    again = await api.post(f"/v1/accounts/{account.id}/freeze", headers=owner)

    assert again.status_code == 200
    assert again.json() == frozen.json()
    assert again.json()["version"] == 2


async def test_unfreezing_an_active_account_changes_nothing(api: httpx.AsyncClient) -> None:
    owner = await new_client(api)
    account = await open_account(api, owner)

    response = await api.post(f"/v1/accounts/{account.id}/unfreeze", headers=owner)

    assert response.status_code == 200
    assert response.json() == account.body


async def test_unfreezing_makes_a_frozen_account_active_and_able_to_move_money_again(
    api: httpx.AsyncClient,
) -> None:
    owner = await new_client(api)
    account = await open_account(api, owner)
    await api.post(f"/v1/accounts/{account.id}/freeze", headers=owner)

    response = await api.post(f"/v1/accounts/{account.id}/unfreeze", headers=owner)

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["version"]) == ("active", 3)
    assert (await deposit(api, account, 10))["destination_balance_after"] == 10


async def test_closing_an_empty_active_or_frozen_account_answers_200_closed(
    api: httpx.AsyncClient,
) -> None:
    owner = await new_client(api)
    for frozen_first in (False, True):
        account = await open_account(api, owner)
        if frozen_first:
            await api.post(f"/v1/accounts/{account.id}/freeze", headers=owner)

        response = await api.post(f"/v1/accounts/{account.id}/close", headers=owner)

        assert response.status_code == 200, response.text
        assert response.json()["status"] == "closed"
        assert response.json()["version"] == (3 if frozen_first else 2)
        assert await read(api, account) == response.json()


async def test_closing_an_account_that_holds_money_is_422_account_not_empty(
    api: httpx.AsyncClient,
) -> None:
    owner = await new_client(api)
    account = await funded_account(api, owner, 1)

    async with unchanged(api, account):
        response = await api.post(f"/v1/accounts/{account.id}/close", headers=owner)

    assert_problem(response, 422, "account_not_empty")


async def test_an_account_emptied_by_a_withdrawal_can_be_closed(api: httpx.AsyncClient) -> None:
    owner = await new_client(api)
    account = await funded_account(api, owner, 70)
    withdrawn = await api.post(
        f"/v1/accounts/{account.id}/withdrawals",
        json={"amount": 70, "currency": "USD"},
        headers=owner,
    )
    assert withdrawn.status_code == 201

    response = await api.post(f"/v1/accounts/{account.id}/close", headers=owner)

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["balance"]) == ("closed", 0)


async def test_closed_is_final_every_later_change_is_422_account_not_active(
    api: httpx.AsyncClient,
) -> None:
    owner = await new_client(api)
    account = await open_account(api, owner)
    await api.post(f"/v1/accounts/{account.id}/close", headers=owner)

    async with unchanged(api, account):
        for action in ["freeze", "unfreeze", "close"]:
            response = await api.post(f"/v1/accounts/{account.id}/{action}", headers=owner)
            assert_problem(response, 422, "account_not_active")


async def test_changing_an_unknown_or_malformed_account_is_404(api: httpx.AsyncClient) -> None:
    owner = await new_client(api)
    for action in ["freeze", "unfreeze", "close"]:
        unknown = await api.post(f"/v1/accounts/{unknown_id()}/{action}", headers=owner)
        malformed = await api.post(f"/v1/accounts/nope/{action}", headers=owner)

        assert_problem(unknown, 404, "account_not_found")
        assert malformed.json() == unknown.json()


async def test_the_version_grows_by_one_with_every_change_of_balance_or_status(
    api: httpx.AsyncClient,
) -> None:
    owner = await new_client(api)
    account = await open_account(api, owner)
    other = await open_account(api, owner)
    versions = [account.body["version"]]

    await deposit(api, account, 100)
    versions.append((await read(api, account))["version"])
    await api.post(
        "/v1/transfers",
        json={
            "source_account_id": account.id,
            "destination_account_id": other.id,
            "amount": 40,
            "currency": "USD",
        },
        headers=owner,
    )
    versions.append((await read(api, account))["version"])
    await api.post(f"/v1/accounts/{account.id}/freeze", headers=owner)
    versions.append((await read(api, account))["version"])
    await api.post(f"/v1/accounts/{account.id}/unfreeze", headers=owner)
    versions.append((await read(api, account))["version"])
    await api.post(
        f"/v1/accounts/{account.id}/withdrawals",
        json={"amount": 60, "currency": "USD"},
        headers=owner,
    )
    versions.append((await read(api, account))["version"])
    await api.post(f"/v1/accounts/{account.id}/close", headers=owner)
    versions.append((await read(api, account))["version"])

    assert versions == [1, 2, 3, 4, 5, 6, 7]
    assert (await read(api, other))["version"] == 2
