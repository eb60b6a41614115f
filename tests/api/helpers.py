"""Helpers for the API tests: set up tenants and money, and check docs/api.md's promises."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

ADMIN_TOKEN = "test-admin-token"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
PROBLEM_FIELDS = {"type", "title", "status", "detail", "code"}
RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$")
CANONICAL_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
LEAKS = ("Traceback", "sqlalchemy", "psycopg", "SELECT ", "INSERT ")

Headers = dict[str, str]


@dataclass(frozen=True)
class Account:
    """An account opened through the API, with the headers of the client owning it."""

    id: str
    owner: Headers
    body: dict[str, Any]


async def assert_no_leak(response: httpx.Response) -> None:
    """An httpx response hook: no response body may reveal the machinery behind it."""
    text = (await response.aread()).decode("utf-8", "replace")
    for leak in LEAKS:
        assert leak not in text, f"{response.request.url} leaked {leak!r}: {text[:500]}"


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """An RFC 9457 problem with docs/api.md's five fields, ``status`` and ``code``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json", response.headers
    body: dict[str, Any] = response.json()
    assert body.keys() >= PROBLEM_FIELDS, body
    assert body["status"] == status
    assert body["code"] == code, body
    for field in ("type", "title", "detail"):
        assert isinstance(body[field], str), body
        assert body[field], body
    return body


def json_body(value: object, headers: Mapping[str, str]) -> dict[str, Any]:
    """Request kwargs sending ``value`` as JSON with ``headers``, escaping what UTF-8
    cannot carry (lone surrogates), which ``httpx``'s own ``json=`` refuses to encode."""
    return {
        "content": json.dumps(value).encode(),
        "headers": {**headers, "Content-Type": "application/json"},
    }


def with_key(headers: Mapping[str, str], key: str) -> Headers:
    return {**headers, "Idempotency-Key": key}


async def new_client(api: httpx.AsyncClient, name: str = "acme") -> Headers:
    """A fresh API client (tenant); its auth headers."""
    response = await api.post("/v1/admin/clients", json={"name": name}, headers=ADMIN)
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['api_key']}"}


async def open_account(
    api: httpx.AsyncClient, owner: Headers, currency: str = "USD", **fields: Any
) -> Account:
    response = await api.post("/v1/accounts", json={"currency": currency, **fields}, headers=owner)
    assert response.status_code == 201, response.text
    body = response.json()
    return Account(id=body["id"], owner=owner, body=body)


async def deposit(
    api: httpx.AsyncClient, account: Account, amount: int, currency: str | None = None
) -> dict[str, Any]:
    response = await api.post(
        f"/v1/accounts/{account.id}/deposits",
        json={"amount": amount, "currency": currency or account.body["currency"]},
        headers=account.owner,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def funded_account(
    api: httpx.AsyncClient, owner: Headers, amount: int, currency: str = "USD"
) -> Account:
    account = await open_account(api, owner, currency)
    if amount:
        await deposit(api, account, amount)
    return account


async def read(api: httpx.AsyncClient, account: Account) -> dict[str, Any]:
    response = await api.get(f"/v1/accounts/{account.id}", headers=account.owner)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def balance(api: httpx.AsyncClient, account: Account) -> int:
    value: int = (await read(api, account))["balance"]
    return value


async def entries(api: httpx.AsyncClient, account: Account) -> list[dict[str, Any]]:
    response = await api.get(
        f"/v1/accounts/{account.id}/entries", params={"limit": 200}, headers=account.owner
    )
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def state(api: httpx.AsyncClient, accounts: tuple[Account, ...]) -> list[Any]:
    """Everything a refusal must leave alone: each account and its statement."""
    return [(await read(api, account), await entries(api, account)) for account in accounts]


@asynccontextmanager
async def unchanged(api: httpx.AsyncClient, *accounts: Account) -> AsyncIterator[None]:
    """Asserts that the block changes no balance, version, status or entry of ``accounts``."""
    before = await state(api, accounts)
    yield
    assert await state(api, accounts) == before


def transfer_body(
    source: Account | str, destination: Account | str, amount: int, **fields: Any
) -> dict[str, Any]:
    return {
        "source_account_id": source if isinstance(source, str) else source.id,
        "destination_account_id": destination if isinstance(destination, str) else destination.id,
        "amount": amount,
        "currency": "USD",
        **fields,
    }


def unknown_id() -> str:
    return str(uuid.uuid4())


def hold_body(
    source: Account | str, destination: Account | str, amount: int, **fields: Any
) -> dict[str, Any]:
    return transfer_body(source, destination, amount, **fields)


async def place_hold(
    api: httpx.AsyncClient, source: Account, destination: Account | str, amount: int, **fields: Any
) -> dict[str, Any]:
    response = await api.post(
        "/v1/holds", json=hold_body(source, destination, amount, **fields), headers=source.owner
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def read_hold(api: httpx.AsyncClient, hold_id: str, owner: Headers) -> dict[str, Any]:
    response = await api.get(f"/v1/holds/{hold_id}", headers=owner)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body
