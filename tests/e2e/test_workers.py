"""What the workers of one ``banking serve --workers 2`` share, through real sockets: the
key that signs cursors, and revocations (each worker within the key cache's TTL)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.helpers import ADMIN, ADMIN_TOKEN
from tests.e2e.processes import Server, serving
from tests.postgres_fixtures import PgTargets

pytestmark = pytest.mark.e2e

KEY_CACHE_TTL = 1.0
REQUESTS = 40  # each on a new connection, which either worker may accept


@pytest.fixture
def server(pg_targets: PgTargets, env: dict[str, str], workdir: Path) -> Iterator[Server]:
    with pg_targets.database("primary") as url:
        configured = {
            **env,
            "BANKING_DATABASE_URL": url,
            "BANKING_ADMIN_TOKEN": ADMIN_TOKEN,
            "BANKING_API_KEY_CACHE_TTL": str(KEY_CACHE_TTL),
        }
        with serving(configured, workdir, "--workers", "2") as server:
            yield server


def fresh(server: Server, method: str, path: str, **kwargs: object) -> httpx.Response:
    """One request on a connection of its own."""
    with httpx.Client(base_url=server.base, timeout=10) as client:
        return client.request(method, path, **kwargs)  # type: ignore[arg-type]


def test_cursors_and_revocations_hold_across_workers(server: Server) -> None:
    created = fresh(server, "POST", "/v1/admin/clients", json={"name": "acme"}, headers=ADMIN)
    client_id = created.json()["id"]
    key = {"Authorization": f"Bearer {created.json()['api_key']}"}
    for _ in range(4):
        fresh(server, "POST", "/v1/accounts", json={"currency": "USD"}, headers=key)

    # Any worker takes the cursor another one issued.
    for _ in range(REQUESTS // 4):
        cursor, pages = None, 0
        while True:
            params = {"limit": 1, **({"after": cursor} if cursor else {})}
            page = fresh(server, "GET", "/v1/accounts", params=params, headers=key)
            assert page.status_code == 200, page.text
            pages += 1
            cursor = page.json()["next_cursor"]
            if cursor is None:
                break
        assert pages == 4

    # Every worker has the key in its cache; then it is revoked on one of them.
    assert all(
        fresh(server, "GET", "/v1/accounts", headers=key).status_code == 200
        for _ in range(REQUESTS)
    )
    revoked = fresh(server, "POST", f"/v1/admin/clients/{client_id}/revoke", headers=ADMIN)
    assert revoked.status_code == 200, revoked.text

    # Within the TTL (plus a request's time), no worker takes it any more.
    time.sleep(KEY_CACHE_TTL + 0.2)
    statuses = [
        fresh(server, "GET", "/v1/accounts", headers=key).status_code for _ in range(REQUESTS)
    ]
    assert statuses == [401] * REQUESTS
