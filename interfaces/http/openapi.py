"""The OpenAPI description, completed where FastAPI's generator cannot know the API.

FastAPI derives paths, parameters and bodies from the routes; this adds what lives
outside them: the credentials each route wants (checked by the route class, not by a
dependency FastAPI could see), the RFC 9457 problem schema every error response refers
to, narrowed per operation and status to the codes it can answer, with an example
each, and the rules for bodies. It drops the 422 FastAPI documents on every route with
a parameter, whether or not a request to it can fail validation. Operation ids are the
handlers' names (``open_account``): a generated client's method names.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from interfaces.http.guards import MAX_BODY_BYTES
from interfaces.http.problems import PROBLEM_MEDIA_TYPE, STATUS_BY_CODE, TITLES
from interfaces.http.responses import problems
from interfaces.http.schemas import Problem

SECURITY_SCHEMES = {
    "apiKey": {
        "type": "http",
        "scheme": "bearer",
        "description": "An API client's key, shown once when the client is created.",
    },
    "adminToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "The operator's token (setting `BANKING_ADMIN_TOKEN`).",
    },
}

BODIES = (
    f"\n\nRequest bodies are limited to {MAX_BODY_BYTES // 1024} KiB: a larger one is refused "
    "with 413 `payload_too_large` before it is read in full. They are UTF-8 JSON (no byte "
    "order mark); a member name twice in one object, `NaN` or `Infinity` is a 422 "
    "`validation_error`."
)


# The codes an error status can carry wherever it is documented. 404 and 422 depend on
# the operation (below); every other status has the same codes everywhere.
_CODES_BY_STATUS = {
    status: [code for code, its_status in STATUS_BY_CODE.items() if its_status == status]
    for status in set(STATUS_BY_CODE.values())
}
_MOVEMENT_REFUSALS = [
    "validation_error",
    "currency_mismatch",
    "account_not_active",
    "balance_limit_exceeded",
    "idempotency_key_reused",
]
_CODES_BY_OPERATION: dict[str, dict[int, list[str]]] = {
    "open_account": {422: ["validation_error", "idempotency_key_reused"]},
    "list_accounts": {422: ["validation_error"]},
    "get_account": {404: ["account_not_found"]},
    "amend_account": {404: ["account_not_found"], 422: ["validation_error", "account_not_active"]},
    "get_balance": {404: ["account_not_found"], 422: ["validation_error"]},
    "freeze_account": {404: ["account_not_found"], 422: ["validation_error", "account_not_active"]},
    "unfreeze_account": {
        404: ["account_not_found"],
        422: ["validation_error", "account_not_active"],
    },
    "close_account": {
        404: ["account_not_found"],
        422: ["validation_error", "account_not_active", "account_not_empty"],
    },
    "deposit": {404: ["account_not_found"], 422: _MOVEMENT_REFUSALS},
    "withdraw": {404: ["account_not_found"], 422: [*_MOVEMENT_REFUSALS, "insufficient_funds"]},
    "list_entries": {404: ["account_not_found"], 422: ["validation_error"]},
    "create_transfer": {
        404: ["account_not_found"],
        422: [*_MOVEMENT_REFUSALS, "same_account", "insufficient_funds"],
    },
    "list_transfers": {404: ["account_not_found"], 422: ["validation_error"]},
    "get_transfer": {404: ["transfer_not_found"]},
    "place_hold": {
        404: ["account_not_found"],
        422: [
            "validation_error",
            "same_account",
            "account_not_active",
            "currency_mismatch",
            "insufficient_funds",
            "idempotency_key_reused",
        ],
    },
    "submit_batch": {
        404: ["account_not_found"],
        422: [*_MOVEMENT_REFUSALS, "same_account", "insufficient_funds"],
    },
    "get_batch": {404: ["batch_not_found"]},
    "list_holds": {404: ["account_not_found"], 422: ["validation_error"]},
    "get_hold": {404: ["hold_not_found"]},
    "capture_hold": {
        404: ["hold_not_found"],
        422: [
            "validation_error",
            "hold_expired",
            "hold_not_active",
            "account_not_active",
            "capture_exceeds_remaining",
            "balance_limit_exceeded",
            "idempotency_key_reused",
        ],
    },
    "void_hold": {
        404: ["hold_not_found"],
        422: ["validation_error", "hold_expired", "hold_not_active"],
    },
    "extend_hold": {
        404: ["hold_not_found"],
        422: ["validation_error", "hold_expired", "hold_not_active"],
    },
    "create_client": {422: ["validation_error"]},
    "rotate_client_key": {404: ["client_not_found"], 422: ["validation_error"]},
    "revoke_client_keys": {404: ["client_not_found"]},
    "health_ready": {503: ["service_unavailable"]},
}


def operation_id(route: APIRoute) -> str:
    """The handler's name: unique, readable, and the method name of a generated client."""
    return route.name


def describe(app: FastAPI) -> dict[str, Any]:
    """The document ``/openapi.json`` serves, built once per app."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    document = get_openapi(
        title=app.title,
        version=app.version,
        description=(app.description or "") + BODIES,
        routes=app.routes,
    )
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    components["securitySchemes"] = SECURITY_SCHEMES
    for path, operations in document["paths"].items():
        for operation in operations.values():
            _drop_fastapi_validation_error(operation)
            if path.startswith("/v1/admin/"):
                operation["security"] = [{"adminToken": []}]
            elif path.startswith("/v1/"):
                operation["security"] = [{"apiKey": []}]
            if path.startswith("/v1/"):
                # An unexpected failure can happen anywhere; its problem is the same.
                operation["responses"].setdefault("500", problems(500)[500])
            _name_the_codes(operation)
            _ids_are_uuids(operation)
    app.openapi_schema = document
    return document


def _drop_fastapi_validation_error(operation: dict[str, Any]) -> None:
    response = operation["responses"].get("422", {})
    for media in response.get("content", {}).values():
        if media.get("schema", {}).get("$ref", "").endswith("/HTTPValidationError"):
            del operation["responses"]["422"]
            return


def _name_the_codes(operation: dict[str, Any]) -> None:
    """Each problem response's ``code``: an enum of what this operation can answer, and
    an example of the first."""
    narrowed = _CODES_BY_OPERATION.get(operation["operationId"], {})
    for status_text, response in operation["responses"].items():
        media = response.get("content", {}).get(PROBLEM_MEDIA_TYPE)
        if media is None:
            continue
        status = int(status_text)
        codes = narrowed.get(status, _CODES_BY_STATUS[status])
        media["schema"] = {
            "allOf": [
                {"$ref": "#/components/schemas/Problem"},
                {"type": "object", "properties": {"code": {"type": "string", "enum": codes}}},
            ]
        }
        media["example"] = {
            "type": f"https://banking.example/problems/{codes[0].replace('_', '-')}",
            "title": TITLES[codes[0]],
            "status": status,
            "detail": response["description"].split("(")[0].strip().rstrip("."),
            "code": codes[0],
        }


def _ids_are_uuids(operation: dict[str, Any]) -> None:
    """Path ids are UUIDs; any other spelling answers 404 like an unknown id."""
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "path" and parameter["name"].endswith("_id"):
            parameter["schema"]["format"] = "uuid"
