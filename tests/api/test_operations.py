"""Health, metrics, OpenAPI, request ids, and the answers to failures nobody planned."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx
import pytest
from dependency_injector import providers

from infrastructure.memory.store import MemoryStore
from infrastructure.settings import Settings
from interfaces.container import Container, use_in_memory
from interfaces.http.app import create_app
from tests.api.helpers import (
    ADMIN_TOKEN,
    assert_no_leak,
    assert_problem,
    deposit,
    funded_account,
    new_client,
    open_account,
    transfer_body,
)
from tests.postgres_fixtures import PgTargets

UNREACHABLE_DATABASE = "postgresql+psycopg://postgres@127.0.0.1:9/nowhere"


@asynccontextmanager
async def serve(container: Container, **options: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app other than the ``api`` fixture's."""
    app = create_app(container, admin_token=ADMIN_TOKEN, **options)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://bank.test",
            event_hooks={"response": [assert_no_leak]},
        ) as client,
    ):
        yield client


def on_database(url: str) -> Container:
    container = Container()
    container.settings.override(providers.Object(Settings(database_url=url, pool_timeout=1)))
    container.database_url.override(providers.Object(url))
    return container


@contextmanager
def unmigrated_database(adapter: str, pg_targets: PgTargets) -> Iterator[str | None]:
    """An empty database on the adapter's server (None for the in-memory adapter)."""
    if adapter == "memory":
        yield None
        return
    server = pg_targets.server(adapter.removeprefix("postgres-"))
    name = server.create_database()
    try:
        yield server.url_for(name)
    finally:
        server.drop_database(name)


async def test_liveness_answers_200_with_the_status_only(api: httpx.AsyncClient) -> None:
    response = await api.get("/health/live")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readiness_answers_200_when_the_database_answers_at_the_head_migration(
    api: httpx.AsyncClient,
) -> None:
    response = await api.get("/health/ready")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readiness_answers_503_service_unavailable_when_the_schema_is_not_at_head(
    adapter: str, pg_targets: PgTargets
) -> None:
    with unmigrated_database(adapter, pg_targets) as url:
        if url is None:
            container = Container()
            use_in_memory(container, MemoryStore())

            async def not_ready() -> bool:
                return False

            options: dict[str, Any] = {"readiness": not_ready}
        else:
            container, options = on_database(url), {}
        async with serve(container, **options) as client:
            response = await client.get("/health/ready")

    assert_problem(response, 503, "service_unavailable")
    assert response.headers["retry-after"] == "1"


async def test_an_unreachable_database_is_503_service_unavailable_without_driver_details() -> None:
    async with serve(on_database(UNREACHABLE_DATABASE)) as client:
        ready = await client.get("/health/ready")
        accounts = await client.get("/v1/accounts", headers={"Authorization": "Bearer bk_x"})
        live = await client.get("/health/live")

    assert_problem(ready, 503, "service_unavailable")
    body = assert_problem(accounts, 503, "service_unavailable")
    assert accounts.headers["retry-after"] == "1"
    assert "127.0.0.1" not in body["detail"]
    assert live.status_code == 200


async def test_an_unreachable_database_is_logged_in_one_line_per_request_without_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with serve(on_database(UNREACHABLE_DATABASE)) as client:
        with caplog.at_level(logging.WARNING, logger="banking.http"):
            await client.get("/health/ready")
            await client.get("/v1/accounts", headers={"Authorization": "Bearer bk_x"})

    logged = [record for record in caplog.records if record.name == "banking.http"]
    assert [record.getMessage().split(":", 1)[0] for record in logged] == [
        "readiness check failed",
        "database unavailable",
    ]
    for record in logged:
        # Probes run every few seconds while a database is down: a line, not a traceback.
        assert record.exc_info is None
        assert "\n" not in record.getMessage()
        assert "OperationalError" in record.getMessage()


SAMPLE = re.compile(r"^(?P<name>[a-z_]+)(\{(?P<labels>.*)\})? (?P<value>\S+)$")


def metric(text: str, name: str, **labels: str) -> float:
    """The value of the sample ``name{labels}`` in the Prometheus text ``text``."""
    for line in text.splitlines():
        sample = SAMPLE.match(line)
        if sample is None or sample["name"] != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', sample["labels"] or ""))
        if found == labels:
            return float(sample["value"])
    raise AssertionError(f"no sample {name}{labels} in /metrics")


async def test_metrics_expose_latency_money_movements_retries_and_conflicts(
    api: httpx.AsyncClient,
) -> None:
    owner = await new_client(api)
    source = await funded_account(api, owner, 100)
    destination = await open_account(api, owner)
    await api.post("/v1/transfers", json=transfer_body(source, destination, 30), headers=owner)
    await api.post("/v1/transfers", json=transfer_body(source, destination, 999), headers=owner)

    response = await api.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    deposits = {"kind": "deposit", "outcome": "posted"}
    assert metric(text, "banking_money_movements_total", **deposits) == 1
    transfers = {"kind": "transfer", "outcome": "posted"}
    assert metric(text, "banking_money_movements_total", **transfers) == 1
    refused = {"kind": "transfer", "outcome": "insufficient_funds"}
    assert metric(text, "banking_money_movements_total", **refused) == 1
    assert metric(text, "banking_unit_of_work_retries_total") >= 0
    assert metric(text, "banking_concurrency_conflicts_total") == 0
    route = {"method": "POST", "route": "/v1/accounts/{account_id}/deposits", "status": "201"}
    assert metric(text, "banking_http_request_duration_seconds_count", **route) == 1
    assert 0 < metric(text, "banking_http_request_duration_seconds_sum", **route) < 30
    assert metric(text, "banking_http_request_duration_seconds_bucket", **route, le="+Inf") == 1
    assert source.id not in text  # routes are labelled by template, never by id


def movements(text: str) -> dict[tuple[str, str], float]:
    """Every ``banking_money_movements_total`` sample by (kind, outcome)."""
    found = {}
    for line in text.splitlines():
        sample = SAMPLE.match(line)
        if sample is not None and sample["name"] == "banking_money_movements_total":
            labels = dict(re.findall(r'(\w+)="([^"]*)"', sample["labels"] or ""))
            found[labels["kind"], labels["outcome"]] = float(sample["value"])
    return found


async def test_only_requests_that_reach_the_use_case_count_as_movements_by_outcome_code(
    api: httpx.AsyncClient,
) -> None:
    owner = await new_client(api)
    source = await funded_account(api, owner, 100)  # one deposit, posted
    destination = await open_account(api, owner, "EUR")
    deposits = f"/v1/accounts/{source.id}/deposits"
    json_type = {"Content-Type": "application/json"}
    money = {"amount": 5, "currency": "USD"}

    # Refused before the use case: none of these is a movement.
    await api.post(deposits, json=money)  # 401
    await api.put(deposits, json=money, headers=owner)  # 405
    await api.post(deposits, content=b"x" * (65 * 1024), headers={**owner, **json_type})  # 413
    await api.post(deposits, content=b"amount=5", headers=owner)  # 415
    await api.post(deposits, content=b"{", headers={**owner, **json_type})  # malformed
    await api.post(deposits, json={"amount": 0, "currency": "USD"}, headers=owner)  # schema
    await api.post("/v1/transfers", json={"amount": 1}, headers=owner)
    # Refused by the use case, each under its own code.
    withdrawals = f"/v1/accounts/{source.id}/withdrawals"
    await api.post(withdrawals, json={"amount": 999, "currency": "USD"}, headers=owner)
    await api.post(withdrawals, json={"amount": 1, "currency": "ZZZ"}, headers=owner)
    await api.post(
        "/v1/transfers", json=transfer_body(source, destination, 1), headers=owner
    )  # currency_mismatch
    key = {**owner, "Idempotency-Key": "metrics-1"}
    await api.post(withdrawals, json={"amount": 10, "currency": "USD"}, headers=key)
    await api.post(withdrawals, json={"amount": 10, "currency": "USD"}, headers=key)

    text = (await api.get("/metrics")).text

    assert movements(text) == {
        ("deposit", "posted"): 1,
        ("withdrawal", "insufficient_funds"): 1,
        ("withdrawal", "validation_error"): 1,
        ("transfer", "currency_mismatch"): 1,
        ("withdrawal", "posted"): 1,
        ("withdrawal", "replayed"): 1,
    }


async def test_the_openapi_description_covers_every_route_with_an_example_per_body(
    api: httpx.AsyncClient,
) -> None:
    response = await api.get("/openapi.json")

    assert response.status_code == 200
    spec = response.json()
    operations = {(method.upper(), path) for path, item in spec["paths"].items() for method in item}
    assert operations >= {
        ("POST", "/v1/accounts"),
        ("GET", "/v1/accounts"),
        ("GET", "/v1/accounts/{account_id}"),
        ("POST", "/v1/accounts/{account_id}/freeze"),
        ("POST", "/v1/accounts/{account_id}/unfreeze"),
        ("POST", "/v1/accounts/{account_id}/close"),
        ("POST", "/v1/accounts/{account_id}/deposits"),
        ("POST", "/v1/accounts/{account_id}/withdrawals"),
        ("GET", "/v1/accounts/{account_id}/entries"),
        ("PATCH", "/v1/accounts/{account_id}"),
        ("GET", "/v1/accounts/{account_id}/balance"),
        ("POST", "/v1/transfers"),
        ("POST", "/v1/holds"),
        ("GET", "/v1/holds"),
        ("GET", "/v1/holds/{hold_id}"),
        ("POST", "/v1/holds/{hold_id}/captures"),
        ("POST", "/v1/holds/{hold_id}/void"),
        ("POST", "/v1/holds/{hold_id}/extend"),
        ("GET", "/v1/transfers/{transfer_id}"),
        ("POST", "/v1/admin/clients"),
        ("POST", "/v1/admin/clients/{client_id}/keys"),
        ("POST", "/v1/admin/clients/{client_id}/revoke"),
        ("GET", "/health/live"),
        ("GET", "/health/ready"),
    }
    bodies = 0
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if "requestBody" not in operation:
                continue
            bodies += 1
            media = operation["requestBody"]["content"]["application/json"]
            schema = resolve(spec, media["schema"])
            examples = [*schema.get("examples", []), *media.get("examples", {}).values()]
            assert examples, f"{method.upper()} {path} has no example"
            for example in examples:
                assert set(example) <= set(schema["properties"]), (path, example)
                assert set(schema.get("required", [])) <= set(example), (path, example)
    assert bodies == 11


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """The schema a reference names; of an optional body, the body's."""
    for option in schema.get("anyOf", []):
        if "$ref" in option:
            return resolve(spec, option)
    if "$ref" not in schema:
        return schema
    resolved: dict[str, Any] = spec["components"]["schemas"][schema["$ref"].split("/")[-1]]
    return resolved


async def test_every_response_carries_a_request_id_generated_when_absent(
    api: httpx.AsyncClient,
) -> None:
    responses = [
        await api.get("/health/live"),
        await api.get("/health/live"),
        await api.get("/v1/accounts"),
        await api.get("/nope"),
    ]

    ids = [response.headers["x-request-id"] for response in responses]
    assert all(re.fullmatch(r"[0-9a-f]{32}", request_id) for request_id in ids), ids
    assert len(set(ids)) == len(ids)


async def test_a_sane_request_id_is_echoed_and_an_insane_one_replaced(
    api: httpx.AsyncClient,
) -> None:
    for given in ["abc-123", "trace.id:7_x", "A" * 128, str(__import__("uuid").uuid4())]:
        response = await api.get("/health/live", headers={"X-Request-ID": given})
        assert response.headers["x-request-id"] == given

    for given in ["", "has space", "<script>", "A" * 129, "semi;colon", "new\\nline"]:
        response = await api.get("/health/live", headers={"X-Request-ID": given})
        assert response.headers["x-request-id"] != given
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


class Broken:
    """An account service that fails in a way nobody planned for."""

    async def open(self, command: object) -> None:
        raise RuntimeError("SELECT secret FROM vault -- psycopg exploded")


async def test_an_unexpected_failure_is_a_500_problem_quoting_the_request_id(
    api: httpx.AsyncClient, container: Container
) -> None:
    owner = await new_client(api)

    with container.accounts.override(providers.Object(Broken())):
        generated = await api.post("/v1/accounts", json={"currency": "USD"}, headers=owner)
        given = await api.post(
            "/v1/accounts",
            json={"currency": "USD"},
            headers={**owner, "X-Request-ID": "incident-42"},
        )

    for response in (generated, given):
        body = assert_problem(response, 500, "internal_error")
        assert body["correlation_id"] == response.headers["x-request-id"]
        assert body["correlation_id"] in body["detail"]
        assert "secret" not in response.text
        assert "RuntimeError" not in response.text
    assert given.json()["correlation_id"] == "incident-42"
    assert (await api.get("/health/live")).status_code == 200


async def test_deposits_and_withdrawals_report_their_balance_and_nothing_of_settlement(
    api: httpx.AsyncClient,
) -> None:
    owner = await new_client(api)
    account = await open_account(api, owner)
    posted = await deposit(api, account, 10)

    lines = (await api.get(f"/v1/accounts/{account.id}/entries", headers=owner)).json()["data"]
    listed = (await api.get("/v1/accounts", headers=owner)).json()["data"]

    assert posted["source_account_id"] is None
    assert [line["account_id"] for line in lines] == [account.id]
    assert [item["id"] for item in listed] == [account.id]


async def test_operational_routes_need_no_credentials(api: httpx.AsyncClient) -> None:
    for path in ["/health/live", "/health/ready", "/metrics", "/openapi.json", "/docs"]:
        response = await api.get(path, headers={"Authorization": "Bearer wrong"})
        assert response.status_code == 200, path


async def test_health_probes_answer_head_as_load_balancers_send_it(api: httpx.AsyncClient) -> None:
    for path in ("/health/live", "/health/ready"):
        response = await api.head(path)
        assert response.status_code == 200
        assert response.content == b""
