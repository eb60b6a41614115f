"""``POST /v1/admin/clients``: tenants, behind the admin token."""

from __future__ import annotations

import httpx

from tests.api.helpers import (
    ADMIN,
    ADMIN_TOKEN,
    CANONICAL_UUID,
    RFC3339_UTC,
    assert_problem,
    new_client,
)


async def test_creating_a_client_answers_201_with_its_key_shown_once(
    api: httpx.AsyncClient,
) -> None:
    response = await api.post("/v1/admin/clients", json={"name": "acme"}, headers=ADMIN)

    assert response.status_code == 201, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"id", "name", "api_key", "created_at"}
    assert CANONICAL_UUID.fullmatch(body["id"])
    assert RFC3339_UTC.fullmatch(body["created_at"])
    assert body["name"] == "acme"
    assert isinstance(body["api_key"], str)
    assert len(body["api_key"]) >= 32


async def test_the_new_key_authenticates_its_client(api: httpx.AsyncClient) -> None:
    created = await api.post("/v1/admin/clients", json={"name": "acme"}, headers=ADMIN)
    key = created.json()["api_key"]

    response = await api.get("/v1/accounts", headers={"Authorization": f"Bearer {key}"})

    assert response.status_code == 200
    assert response.json() == {"data": [], "next_cursor": None}


async def test_names_need_not_be_unique_but_every_client_and_key_is_new(
    api: httpx.AsyncClient,
) -> None:
    first = await api.post("/v1/admin/clients", json={"name": "same"}, headers=ADMIN)
    second = await api.post("/v1/admin/clients", json={"name": "same"}, headers=ADMIN)

    assert first.status_code == second.status_code == 201
    assert first.json()["id"] != second.json()["id"]
    assert first.json()["api_key"] != second.json()["api_key"]


async def test_a_client_key_on_an_admin_route_is_403_forbidden(api: httpx.AsyncClient) -> None:
    client = await new_client(api)

    response = await api.post("/v1/admin/clients", json={"name": "sneaky"}, headers=client)

    assert_problem(response, 403, "forbidden")


async def test_no_token_or_a_wrong_one_is_401_with_www_authenticate_bearer(
    api: httpx.AsyncClient,
) -> None:
    for headers in [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Bearer {ADMIN_TOKEN}x"},
        {"Authorization": f"Bearer {ADMIN_TOKEN[:-1]}"},
        {"Authorization": f"Basic {ADMIN_TOKEN}"},
        {"Authorization": ADMIN_TOKEN},
        {"Authorization": "Bearer "},
    ]:
        response = await api.post("/v1/admin/clients", json={"name": "x"}, headers=headers)
        assert_problem(response, 401, "unauthorized")
        assert response.headers["www-authenticate"] == "Bearer"


async def test_the_bearer_scheme_is_case_insensitive(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/v1/admin/clients", json={"name": "x"}, headers={"Authorization": f"bearer {ADMIN_TOKEN}"}
    )
    assert response.status_code == 201


async def test_the_admin_token_is_not_an_api_client_key(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/accounts", headers=ADMIN)
    assert_problem(response, 401, "unauthorized")
