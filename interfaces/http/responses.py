"""Small helpers shared by the routers."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.responses import JSONResponse

from application.views import Completed
from domain.errors import DomainError
from interfaces.http.schemas import CANONICAL_UUID, Problem

_CANONICAL = __import__("re").compile(CANONICAL_UUID)

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "content": {"application/problem+json": {}}}
    for status in (401, 404, 409, 413, 415, 422, 503)
}


def path_id(value: str, not_found: type[DomainError]) -> uuid.UUID:
    """A malformed id in a path answers exactly like an unknown one."""
    if not _CANONICAL.fullmatch(value):
        raise not_found()
    return uuid.UUID(value)


def created(result: Completed[Any], body: dict[str, Any]) -> JSONResponse:
    headers = {"Idempotent-Replayed": "true"} if result.replayed else None
    return JSONResponse(body, status_code=201, headers=headers)
