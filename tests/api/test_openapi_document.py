"""The OpenAPI document as a client generator reads it: valid OpenAPI 3.1, readable and
unique operation ids, the error codes of each operation, examples, formats; and
``banking openapi`` prints it without a server."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from openapi_spec_validator import validate

from interfaces.cli import main
from interfaces.http.problems import PROBLEM_MEDIA_TYPE, STATUS_BY_CODE
from tests.api.test_operations import resolve

Spec = dict[str, Any]
READABLE = re.compile(r"^[a-z]+(_[a-z]+)*$")


@pytest.fixture
async def spec(api: httpx.AsyncClient) -> Spec:
    response = await api.get("/openapi.json")
    assert response.status_code == 200
    document: Spec = response.json()
    return document


def operations(spec: Spec) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            yield method.upper(), path, operation


def test_the_document_is_valid_openapi(spec: Spec) -> None:
    validate(spec)  # raises on the first violation of the OpenAPI 3.1 schema
    assert spec["openapi"].startswith("3.1")


def test_operation_ids_are_unique_readable_names(spec: Spec) -> None:
    ids = [operation["operationId"] for _, _, operation in operations(spec)]

    assert len(ids) == len(set(ids))
    for operation_id in ids:
        assert READABLE.fullmatch(operation_id), operation_id
        assert "v1" not in operation_id, operation_id
        assert len(operation_id) <= 24, operation_id
    assert {"open_account", "create_transfer", "list_entries", "revoke_client_keys"} <= set(ids)


def test_each_problem_response_names_its_codes_with_an_example(spec: Spec) -> None:
    seen = set()
    for method, path, operation in operations(spec):
        for status, response in operation["responses"].items():
            if not status.startswith(("4", "5")):
                continue
            media = response["content"][PROBLEM_MEDIA_TYPE]
            problem, narrowed = media["schema"]["allOf"]
            assert problem == {"$ref": "#/components/schemas/Problem"}
            codes = narrowed["properties"]["code"]["enum"]
            assert codes, (method, path, status)
            for code in codes:
                assert STATUS_BY_CODE[code] == int(status), (method, path, status, code)
            seen.update(codes)
            example = media["example"]
            assert (example["status"], example["code"]) == (int(status), codes[0])
    # Every code but an unknown route's or method's is some operation's answer.
    assert seen == set(STATUS_BY_CODE) - {"not_found", "method_not_allowed"}


def test_the_codes_of_an_operation_are_its_own(spec: Spec) -> None:
    def codes(path: str, status: str) -> list[str]:
        media = spec["paths"][path]["post"]["responses"][status]["content"][PROBLEM_MEDIA_TYPE]
        enum: list[str] = media["schema"]["allOf"][1]["properties"]["code"]["enum"]
        return enum

    assert "insufficient_funds" in codes("/v1/transfers", "422")
    assert "insufficient_funds" not in codes("/v1/accounts/{account_id}/deposits", "422")
    assert codes("/v1/admin/clients/{client_id}/revoke", "404") == ["client_not_found"]
    assert codes("/v1/accounts", "408") == ["request_timeout"]


def test_every_success_response_has_an_example(spec: Spec) -> None:
    for method, path, operation in operations(spec):
        for status, response in operation["responses"].items():
            media = response.get("content", {}).get("application/json")
            if not status.startswith("2") or media is None or not media.get("schema"):
                continue
            schema = resolve(spec, media["schema"])
            if path.startswith("/health/"):
                continue  # untyped {"status": "ok"}
            assert schema.get("examples"), (method, path, status)


def test_timestamps_are_date_times_and_ids_are_uuids(spec: Spec) -> None:
    schemas = spec["components"]["schemas"]
    for name in ("AccountOut", "TransferOut", "EntryOut", "NewClientOut", "NewKeyOut"):
        properties = schemas[name]["properties"]
        for field, schema in properties.items():
            if field.endswith("_at"):
                assert schema["format"] == "date-time", (name, field)
            if field == "id" or field.endswith("_id"):
                formats = [
                    schema.get("format"),
                    *(o.get("format") for o in schema.get("anyOf", [])),
                ]
                assert "uuid" in formats, (name, field)
    transfer_body = schemas["TransferBody"]["properties"]
    assert transfer_body["source_account_id"]["format"] == "uuid"
    for _, path, operation in operations(spec):
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "path":
                assert parameter["schema"]["format"] == "uuid", path


def test_banking_openapi_prints_the_served_document(spec: Spec) -> None:
    result = CliRunner().invoke(main, ["openapi"])

    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == spec
