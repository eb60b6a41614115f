"""Exception handlers: every failure becomes a problem response; nothing leaks."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from domain.errors import DomainError
from interfaces.http.guards import HttpProblem
from interfaces.http.problems import ProblemResponse, problem
from interfaces.observability import answered_with, current_request_id, one_line

logger = logging.getLogger("banking.http")

# The database is unreachable, the pool is exhausted, or a connection broke mid-way:
# the client may retry; the details stay in the log. The last case can also surface as
# PendingRollbackError: clean-up code that reuses a connection a disconnect invalidated
# gets it in place of the driver's error, unchained (SQLAlchemy raises it in a greenlet).
# Nothing more was committed on that connection: a retry is as safe as after the other.
UNAVAILABLE = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,
    sa_exc.PendingRollbackError,
)


async def domain_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, DomainError)
    headers = {"Idempotent-Replayed": "true"} if error.replayed else None
    failed_index = getattr(error, "failed_index", None)
    extra = None if failed_index is None else {"failed_index": failed_index}
    return problem(error.code, error.detail, headers=headers, extra=extra)


async def http_problem(request: Request, error: Exception) -> Response:
    assert isinstance(error, HttpProblem)
    return problem(error.code, error.detail)


async def validation_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    reasons = []
    for item in error.errors()[:10]:
        where = ".".join(str(part) for part in item.get("loc", ()) if part != "body")
        reasons.append(f"{where or 'body'}: {item.get('msg', 'invalid')}")
    return problem("validation_error", "; ".join(reasons) or "the request is invalid")


async def http_exception(request: Request, error: Exception) -> Response:
    assert isinstance(error, StarletteHTTPException)
    if error.status_code == 405:
        headers = {**(error.headers or {}), "Allow": allowed_methods(request)}
        return problem(
            "method_not_allowed", "this route does not allow that method", headers=headers
        )
    if error.status_code == 404:
        return problem("not_found", "no such route")
    if error.status_code == 413:
        return problem("payload_too_large", "the body is too large")
    if error.status_code == 415:
        return problem("unsupported_media_type", "request bodies must be application/json")
    if error.status_code in (400, 422):
        return problem("validation_error", "the request is invalid")
    return unexpected_response(error)


async def unavailable(request: Request, error: Exception) -> Response:
    logger.warning("database unavailable: %s", one_line(error))
    return problem("service_unavailable", "the database is unavailable; retry shortly")


async def unexpected(request: Request, error: Exception) -> Response:
    return unhandled(error)


def unhandled(error: Exception) -> Response:
    """An exception no handler took: the trace goes to the log, never to the client.

    The request middleware calls this while the request id is still set (Starlette's
    own ``Exception`` handler runs outside every middleware, after the id is gone).
    """
    logger.error("unexpected error", exc_info=error)
    return unexpected_response(error)


def allowed_methods(request: Request) -> str:
    """Every method of every route on this path (FastAPI names only the first one's)."""
    path = request.scope["path"]
    methods = {
        method
        for route in request.app.state.routes
        if route.path_regex.fullmatch(path)
        for method in route.methods or ()
    }
    return ", ".join(sorted(methods))


def unexpected_response(error: Exception) -> Response:
    correlation_id = current_request_id()
    return problem(
        "internal_error",
        f"an unexpected error occurred; quote {correlation_id} to the operator",
        extra={"correlation_id": correlation_id},
    )


Handler = Callable[[Request, Exception], Awaitable[Response]]


def _noting_the_code(handler: Handler) -> Handler:
    """``handler``, noting the problem code it answered for the movement metrics."""

    async def answer(request: Request, error: Exception) -> Response:
        response = await handler(request, error)
        if isinstance(response, ProblemResponse):
            answered_with(request.scope, response.code)
        return response

    return answer


def install(app: FastAPI) -> None:
    handlers: list[tuple[type[Exception], Handler]] = [
        (DomainError, domain_error),
        (HttpProblem, http_problem),
        (RequestValidationError, validation_error),
        (StarletteHTTPException, http_exception),
        *((error_type, unavailable) for error_type in UNAVAILABLE),
        (Exception, unexpected),
    ]
    for error_type, handler in handlers:
        app.add_exception_handler(error_type, _noting_the_code(handler))
