"""Checks that run after routing and before the body is parsed, in docs/api.md's order:
authentication (401/403), body size (413) and read time (408), media type (415), then
the query's parameter names (422)."""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from application.commands import Authenticate
from application.views import ClientIdentity
from domain.errors import UnauthorizedError

MAX_BODY_BYTES = 64 * 1024
_BODY_METHODS = {"POST", "PUT", "PATCH"}


class HttpProblem(Exception):
    """An error of the HTTP layer itself (size, media type, admin token)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def read_limited_body(request: Request) -> bytes:
    """The body, refused as soon as it passes the size limit, declared or streamed, or
    once it has taken longer than the read timeout to arrive: a client trickling its
    body would otherwise hold its connection, and the server's, for as long as it likes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise HttpProblem("payload_too_large", f"bodies are limited to {MAX_BODY_BYTES} bytes")
    seconds: float = request.app.state.body_read_timeout
    chunks, size = [], 0
    try:
        async with asyncio.timeout(seconds):
            async for chunk in request.stream():
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise HttpProblem(
                        "payload_too_large", f"bodies are limited to {MAX_BODY_BYTES} bytes"
                    )
                chunks.append(chunk)
    except TimeoutError:
        raise HttpProblem(
            "request_timeout", f"the body did not arrive within {seconds:g} seconds"
        ) from None
    body = b"".join(chunks)
    request._body = body  # Starlette's cache: the body parser reads it from here
    return body


def parse_json(body: bytes) -> Any:
    """The body as JSON, stricter than ``json.loads``: UTF-8 only (docs/api.md), no NaN or
    Infinity (not JSON), and no member name twice in one object: parsers disagree on
    which duplicate wins, so a proxy that checked one amount could pass another on."""
    try:
        return json.loads(
            body.decode("utf-8"), object_pairs_hook=_unique_members, parse_constant=_not_json
        )
    except RecursionError:
        raise HttpProblem("validation_error", "the body is nested too deeply") from None
    except ValueError as error:  # UnicodeDecodeError and JSONDecodeError among them
        reason = error.args[0] if isinstance(error, _StrictJsonError) else "malformed JSON"
        raise HttpProblem("validation_error", f"the body is not valid JSON: {reason}") from None


class _StrictJsonError(ValueError):
    pass


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    members = dict(pairs)
    if len(members) != len(pairs):
        raise _StrictJsonError("a member name appears twice in one object")
    return members


def _not_json(constant: str) -> Any:
    raise _StrictJsonError("NaN and Infinity are not JSON numbers")


def is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


class QueryFamily:
    """A dependency reading every query parameter named ``NAME[KEY]`` as ``{KEY: value}``;
    declaring it is what lets a route take such parameters (``query_families``). Keys
    are returned unchecked: the use case validates them as it validates a body's."""

    def __init__(self, name: str) -> None:
        self.name = name

    def key(self, parameter: str) -> str | None:
        """The KEY of ``NAME[KEY]``, or None for a parameter of another name."""
        prefix = f"{self.name}["
        if parameter.startswith(prefix) and parameter.endswith("]"):
            return parameter[len(prefix) : -1]
        return None

    async def __call__(self, request: Request) -> dict[str, str]:
        return {
            key: value
            for name, value in request.query_params.multi_items()
            if (key := self.key(name)) is not None
        }


def query_names(dependant: Dependant) -> frozenset[str]:
    """The query parameters a route reads, its dependencies' included."""
    names = {field.alias for field in dependant.query_params}
    for dependency in dependant.dependencies:
        names |= query_names(dependency)
    return frozenset(names)


def query_families(dependant: Dependant) -> tuple[QueryFamily, ...]:
    """The ``NAME[KEY]`` families a route reads, its dependencies' included."""
    families: tuple[QueryFamily, ...] = ()
    if isinstance(dependant.call, QueryFamily):
        families = (dependant.call,)
    for dependency in dependant.dependencies:
        families += query_families(dependency)
    return families


def ensure_known_query(
    request: Request, known: frozenset[str], families: tuple[QueryFamily, ...] = ()
) -> None:
    """Every query parameter is one the route reads, given once: a filter that is
    misspelt or given twice would otherwise be ignored, and a list answer more than was
    asked for."""
    names = [name for name, _ in request.query_params.multi_items()]
    unknown = sorted(
        name
        for name in set(names) - known
        if not any(family.key(name) is not None for family in families)
    )
    if unknown:
        raise HttpProblem("validation_error", f"unknown query parameter {unknown[0]!r}")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise HttpProblem("validation_error", f"query parameter {repeated[0]!r} given twice")


class GuardedRoute(APIRoute):
    """A route whose requests are authenticated, size- and type-checked, and whose
    query names are checked first."""

    async def authenticate(self, request: Request) -> None:
        return None

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        parse_and_handle = super().get_route_handler()
        known = query_names(self.dependant)
        families = query_families(self.dependant)

        async def handler(request: Request) -> Response:
            await self.authenticate(request)
            if request.method in _BODY_METHODS:
                body = await read_limited_body(request)
                if body and not is_json(request.headers.get("content-type", "")):
                    raise HttpProblem(
                        "unsupported_media_type", "request bodies must be application/json"
                    )
                if body and self.body_field is not None:
                    request._json = parse_json(body)  # Starlette's cache, FastAPI's source
            ensure_known_query(request, known, families)
            return await parse_and_handle(request)

        return handler


class ClientRoute(GuardedRoute):
    """For ``/v1/*``: the caller is an API client, identified by its key."""

    async def authenticate(self, request: Request) -> None:
        token = bearer_token(request)
        if token is None:
            raise UnauthorizedError("send Authorization: Bearer <api key>")
        service = request.app.state.container.clients()
        request.state.client = await service.authenticate(Authenticate(token))


class AdminRoute(GuardedRoute):
    """For ``/v1/admin/*``: the caller holds the admin token."""

    async def authenticate(self, request: Request) -> None:
        token = bearer_token(request)
        expected = request.app.state.admin_token
        if token is not None and expected and hmac.compare_digest(token, expected):
            return
        if token is not None:
            service = request.app.state.container.clients()
            try:
                await service.authenticate(Authenticate(token))
            except UnauthorizedError:
                pass
            else:
                raise HttpProblem("forbidden", "an API client key cannot use admin routes")
        raise UnauthorizedError("send Authorization: Bearer <admin token>")


async def current_client(request: Request) -> ClientIdentity:
    """The API client the route authenticated (a FastAPI dependency)."""
    client: ClientIdentity = request.state.client
    return client
