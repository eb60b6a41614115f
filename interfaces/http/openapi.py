"""The OpenAPI description, completed where FastAPI's generator cannot know the API.

FastAPI derives paths, parameters and bodies from the routes; this adds what lives
outside them: the credentials each route wants (checked by the route class, not by a
dependency FastAPI could see), the RFC 9457 problem schema every error response refers
to, and the rules for bodies. It drops the 422 FastAPI documents on every route with
a parameter, whether or not a request to it can fail validation.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from interfaces.http.guards import MAX_BODY_BYTES
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
    app.openapi_schema = document
    return document


def _drop_fastapi_validation_error(operation: dict[str, Any]) -> None:
    response = operation["responses"].get("422", {})
    for media in response.get("content", {}).values():
        if media.get("schema", {}).get("$ref", "").endswith("/HTTPValidationError"):
            del operation["responses"]["422"]
            return
