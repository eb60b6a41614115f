"""Rotating and revoking an API client's key, behind the admin token."""

from __future__ import annotations

import uuid

import httpx

from tests.api.helpers import ADMIN, RFC3339_UTC, Headers, assert_problem, new_client


async def client_and_key(api: httpx.AsyncClient) -> tuple[str, Headers]:
    created = await api.post("/v1/admin/clients", json={"name": "acme"}, headers=ADMIN)
    assert created.status_code == 201, created.text
    return created.json()["id"], {"Authorization": f"Bearer {created.json()['api_key']}"}


async def status(api: httpx.AsyncClient, headers: Headers) -> int:
    return (await api.get("/v1/accounts", headers=headers)).status_code


async def test_a_revoked_key_is_401_at_once_and_revoking_again_changes_nothing(
    api: httpx.AsyncClient,
) -> None:
    client_id, key = await client_and_key(api)
    _, other = await client_and_key(api)
    assert await status(api, key) == 200  # remembered by this process

    revoked = await api.post(f"/v1/admin/clients/{client_id}/revoke", headers=ADMIN)

    assert revoked.status_code == 200, revoked.text
    body = revoked.json()
    assert set(body) == {"id", "name", "revoked_at"}
    assert (body["id"], body["name"]) == (client_id, "acme")
    assert RFC3339_UTC.fullmatch(body["revoked_at"])
    assert_problem(await api.get("/v1/accounts", headers=key), 401, "unauthorized")
    assert await status(api, other) == 200  # nobody else's key
    again = await api.post(f"/v1/admin/clients/{client_id}/revoke", headers=ADMIN)
    assert again.json()["revoked_at"] == body["revoked_at"]


async def test_a_rotation_issues_a_new_key_and_the_old_one_works_through_the_overlap(
    api: httpx.AsyncClient,
) -> None:
    client_id, old = await client_and_key(api)
    assert await status(api, old) == 200

    rotated = await api.post(
        f"/v1/admin/clients/{client_id}/keys", json={"overlap_seconds": 600}, headers=ADMIN
    )

    assert rotated.status_code == 201, rotated.text
    body = rotated.json()
    assert set(body) == {"client_id", "api_key", "created_at", "previous_key_expires_at"}
    assert body["client_id"] == client_id
    assert RFC3339_UTC.fullmatch(body["previous_key_expires_at"])
    new = {"Authorization": f"Bearer {body['api_key']}"}
    assert await status(api, new) == 200
    assert await status(api, old) == 200  # within the overlap
    # The same tenant behind both keys: what one opens, the other reads.
    opened = await api.post("/v1/accounts", json={"currency": "USD"}, headers=new)
    assert (await api.get(f"/v1/accounts/{opened.json()['id']}", headers=old)).status_code == 200

    # A second rotation ends the first key at once: one previous key at most.
    second = await api.post(
        f"/v1/admin/clients/{client_id}/keys", json={"overlap_seconds": 0}, headers=ADMIN
    )
    assert second.json()["previous_key_expires_at"] is None
    assert_problem(await api.get("/v1/accounts", headers=old), 401, "unauthorized")
    assert_problem(await api.get("/v1/accounts", headers=new), 401, "unauthorized")
    latest = {"Authorization": f"Bearer {second.json()['api_key']}"}
    assert await status(api, latest) == 200


async def test_rotating_without_a_body_keeps_the_old_key_an_hour(api: httpx.AsyncClient) -> None:
    client_id, old = await client_and_key(api)

    rotated = await api.post(f"/v1/admin/clients/{client_id}/keys", headers=ADMIN)

    assert rotated.status_code == 201, rotated.text
    assert rotated.json()["previous_key_expires_at"] is not None
    assert await status(api, old) == 200


async def test_a_revoked_client_gets_back_in_with_a_rotated_key_only(
    api: httpx.AsyncClient,
) -> None:
    client_id, old = await client_and_key(api)
    await api.post(f"/v1/admin/clients/{client_id}/revoke", headers=ADMIN)

    rotated = await api.post(
        f"/v1/admin/clients/{client_id}/keys", json={"overlap_seconds": 3600}, headers=ADMIN
    )

    assert rotated.json()["previous_key_expires_at"] is None  # a revoked key stays revoked
    assert await status(api, {"Authorization": f"Bearer {rotated.json()['api_key']}"}) == 200
    assert_problem(await api.get("/v1/accounts", headers=old), 401, "unauthorized")


async def test_key_routes_refuse_unknown_clients_bad_overlaps_and_client_keys(
    api: httpx.AsyncClient,
) -> None:
    client_id, key = await client_and_key(api)
    for unknown in (str(uuid.uuid4()), "not-a-uuid"):
        for action in ("keys", "revoke"):
            response = await api.post(f"/v1/admin/clients/{unknown}/{action}", headers=ADMIN)
            assert_problem(response, 404, "client_not_found")
    for overlap in (-1, 604_801, 1.5, "60", True, None):
        response = await api.post(
            f"/v1/admin/clients/{client_id}/keys",
            json={"overlap_seconds": overlap},
            headers=ADMIN,
        )
        assert_problem(response, 422, "validation_error")
    for action in ("keys", "revoke"):
        path = f"/v1/admin/clients/{client_id}/{action}"
        assert_problem(await api.post(path, headers=key), 403, "forbidden")
        assert_problem(await api.post(path), 401, "unauthorized")
    assert await status(api, key) == 200  # none of it changed the key
    assert await new_client(api)  # and the admin routes still work
