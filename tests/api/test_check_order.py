"""docs/api.md's order of checks: routing (404/405), then authentication (401), then body size
(413), then media type (415), then body validation (422), then the business rules."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from tests.api.helpers import (
    ADMIN,
    assert_problem,
    funded_account,
    new_client,
    open_account,
    transfer_body,
    unchanged,
    unknown_id,
)

TEN_MEGABYTES = b"{" + b" " * (10 * 1024 * 1024) + b"}"
JUST_OVER_THE_LIMIT = b'{"amount": 1, "currency": "USD", "description": "' + b"x" * 65536 + b'"}'
JSON = {"Content-Type": "application/json"}
TEXT = {"Content-Type": "text/plain"}
WRONG_KEY = {"Authorization": "Bearer bk_not-a-key"}

# One route of each kind: (method, path template), {id} replaced by a real account id.
BODY_ROUTES = [
    ("POST", "/v1/accounts"),
    ("POST", "/v1/accounts/{id}/deposits"),
    ("POST", "/v1/accounts/{id}/withdrawals"),
    ("POST", "/v1/transfers"),
    ("PATCH", "/v1/accounts/{id}"),
    ("POST", "/v1/holds"),
    ("POST", "/v1/holds/{id}/captures"),
    ("POST", "/v1/holds/{id}/extend"),
]
ALL_CLIENT_ROUTES = [
    *BODY_ROUTES,
    ("GET", "/v1/accounts"),
    ("GET", "/v1/accounts/{id}"),
    ("GET", "/v1/accounts/{id}/entries"),
    ("POST", "/v1/accounts/{id}/freeze"),
    ("POST", "/v1/accounts/{id}/unfreeze"),
    ("POST", "/v1/accounts/{id}/close"),
    ("GET", "/v1/transfers/{id}"),
    ("GET", "/v1/accounts/{id}/balance"),
    ("GET", "/v1/holds"),
    ("GET", "/v1/holds/{id}"),
    ("POST", "/v1/holds/{id}/void"),
]


async def test_an_unknown_route_is_404_not_found_before_authentication(
    api: httpx.AsyncClient,
) -> None:
    for path in [
        "/v1/nope",
        "/v2/accounts",
        "/v1/accounts/x/y/z",
        "/",
        "/v1/admin/nope",
        "/v1/transfers/",  # no redirect to the route without the slash either
        "/v1/accounts/",
    ]:
        for method in ("GET", "POST"):
            response = await api.request(method, path, content=b"{not json", headers=TEXT)
            assert_problem(response, 404, "not_found")


async def test_a_wrong_method_is_405_before_authentication_and_names_the_allowed_ones(
    api: httpx.AsyncClient,
) -> None:
    for method, path, allowed in [
        ("DELETE", "/v1/accounts", {"GET", "HEAD", "POST"}),
        ("PUT", "/v1/accounts/{id}", {"GET", "HEAD", "PATCH"}),
        ("DELETE", "/v1/holds", {"GET", "HEAD", "POST"}),
        ("GET", "/v1/holds/{id}/captures", {"POST"}),
        ("PATCH", "/v1/holds/{id}", {"GET", "HEAD"}),
        ("POST", "/v1/accounts/{id}/balance", {"GET", "HEAD"}),
        ("GET", "/v1/accounts/{id}/freeze", {"POST"}),
        ("DELETE", "/v1/accounts/{id}/deposits", {"POST"}),
        ("PATCH", "/v1/transfers", {"GET", "HEAD", "POST"}),
        ("DELETE", "/v1/transfers/{id}", {"GET", "HEAD"}),
        ("GET", "/v1/admin/clients", {"POST"}),
        ("POST", "/health/live", {"GET", "HEAD"}),
    ]:
        response = await api.request(
            method, path.format(id=unknown_id()), content=b"{not json", headers=TEXT
        )
        assert_problem(response, 405, "method_not_allowed")
        assert set(response.headers["allow"].split(", ")) == allowed, (method, path)


async def test_every_client_route_is_401_without_a_valid_key_and_names_bearer(
    api: httpx.AsyncClient,
) -> None:
    for method, path in ALL_CLIENT_ROUTES:
        url = path.format(id=unknown_id())
        for headers in ({}, WRONG_KEY, ADMIN, {"Authorization": "Basic dXNlcjpwYXNz"}):
            response = await api.request(method, url, json={"currency": "USD"}, headers=headers)
            body = assert_problem(response, 401, "unauthorized")
            assert response.headers["www-authenticate"] == "Bearer"
            assert "api_key" not in body


async def test_authentication_is_decided_before_the_body_is_read(api: httpx.AsyncClient) -> None:
    for method, path in BODY_ROUTES:
        url = path.format(id=unknown_id())
        for content, headers in [
            (b"{not json", JSON),
            (b"[1, 2", {}),
            (TEN_MEGABYTES, JSON),
            (b"amount=1", TEXT),
        ]:
            response = await api.request(
                method, url, content=content, headers={**headers, **WRONG_KEY}
            )
            assert_problem(response, 401, "unauthorized")
            assert response.headers["www-authenticate"] == "Bearer"


async def test_a_body_over_64_kib_is_413_before_its_media_type_and_content(
    api: httpx.AsyncClient,
) -> None:
    owner = await new_client(api)
    account = await funded_account(api, owner, 10)

    async with unchanged(api, account):
        for method, path in BODY_ROUTES:
            for content, headers in [
                (TEN_MEGABYTES, JSON),
                (TEN_MEGABYTES, TEXT),
                (JUST_OVER_THE_LIMIT, JSON),
            ]:
                response = await api.request(
                    method,
                    path.format(id=account.id),
                    content=content,
                    headers={**headers, **owner},
                )
                assert_problem(response, 413, "payload_too_large")


async def test_a_streamed_body_without_a_length_is_cut_off_at_64_kib(
    api: httpx.AsyncClient,
) -> None:
    owner = await new_client(api)
    account = await funded_account(api, owner, 10)

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(40):
            yield b" " * 4096

    async with unchanged(api, account):
        response = await api.post(
            f"/v1/accounts/{account.id}/deposits", content=chunks(), headers={**JSON, **owner}
        )

    assert "content-length" not in response.request.headers
    assert_problem(response, 413, "payload_too_large")


async def test_a_body_that_is_not_json_is_415_before_it_is_validated(
    api: httpx.AsyncClient,
) -> None:
    owner = await new_client(api)
    account = await funded_account(api, owner, 10)
    valid = b'{"amount": 1, "currency": "USD"}'

    async with unchanged(api, account):
        for method, path in BODY_ROUTES:
            for content, content_type in [
                (valid, "text/plain"),
                (b"{not json", "text/plain"),
                (valid, "application/x-www-form-urlencoded"),
                (valid, "application/xml"),
                (valid, "multipart/form-data; boundary=x"),
                (valid, None),
            ]:
                headers = dict(owner)
                if content_type is not None:
                    headers["Content-Type"] = content_type
                response = await api.request(
                    method, path.format(id=account.id), content=content, headers=headers
                )
                assert_problem(response, 415, "unsupported_media_type")


async def test_json_with_a_charset_or_a_json_suffix_is_accepted(api: httpx.AsyncClient) -> None:
    owner = await new_client(api)
    for content_type in ["application/json; charset=utf-8", "application/vnd.bank+json"]:
        response = await api.post(
            "/v1/accounts",
            content=b'{"currency": "USD"}',
            headers={**owner, "Content-Type": content_type},
        )
        assert response.status_code == 201, (content_type, response.text)


async def test_the_admin_route_checks_the_token_then_size_then_media_type_then_body(
    api: httpx.AsyncClient,
) -> None:
    no_token = await api.post("/v1/admin/clients", content=TEN_MEGABYTES, headers=TEXT)
    too_large = await api.post(
        "/v1/admin/clients", content=TEN_MEGABYTES, headers={**TEXT, **ADMIN}
    )
    not_json = await api.post("/v1/admin/clients", content=b"{", headers={**TEXT, **ADMIN})
    malformed = await api.post("/v1/admin/clients", content=b"{", headers={**JSON, **ADMIN})

    assert_problem(no_token, 401, "unauthorized")
    assert_problem(too_large, 413, "payload_too_large")
    assert_problem(not_json, 415, "unsupported_media_type")
    assert_problem(malformed, 422, "validation_error")


async def test_body_validation_comes_before_the_business_rules(api: httpx.AsyncClient) -> None:
    owner = await new_client(api)
    unknown = unknown_id()
    for method, path, body in [
        ("POST", f"/v1/accounts/{unknown}/deposits", {"amount": 0, "currency": "USD"}),
        ("POST", f"/v1/accounts/{unknown}/withdrawals", {"amount": 1, "currency": "usd"}),
        ("POST", "/v1/transfers", transfer_body(unknown, unknown, 1, extra=1)),
        ("POST", f"/v1/accounts/{unknown}/deposits", {"amount": 5}),
    ]:
        response = await api.request(method, path, json=body, headers=owner)
        assert_problem(response, 422, "validation_error")


async def test_a_malformed_path_id_with_a_valid_body_is_404_like_an_unknown_id(
    api: httpx.AsyncClient,
) -> None:
    owner = await new_client(api)
    body = {"amount": 5, "currency": "USD"}
    for movement in ["deposits", "withdrawals"]:
        unknown = await api.post(
            f"/v1/accounts/{unknown_id()}/{movement}", json=body, headers=owner
        )
        malformed = await api.post(f"/v1/accounts/not-an-id/{movement}", json=body, headers=owner)

        assert_problem(malformed, 404, "account_not_found")
        assert malformed.json() == unknown.json()


async def test_a_malformed_path_id_with_an_invalid_body_is_422(api: httpx.AsyncClient) -> None:
    owner = await new_client(api)
    response = await api.post(
        "/v1/accounts/not-an-id/deposits", json={"amount": -5, "currency": "USD"}, headers=owner
    )
    assert_problem(response, 422, "validation_error")


async def test_a_refused_request_names_no_account_of_another_client(
    api: httpx.AsyncClient,
) -> None:
    owner, other = await new_client(api), await new_client(api, "other")
    theirs = await open_account(api, other)

    response = await api.get(f"/v1/accounts/{theirs.id}", headers=owner)

    assert_problem(response, 404, "account_not_found")
    assert theirs.id not in response.text
