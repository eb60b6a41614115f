"""Every route's dependencies run on the event loop, none in FastAPI's thread pool."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from interfaces.http.routers import accounts, admin, operations, transfers


def dependencies(dependant: Dependant) -> Iterator[Dependant]:
    for sub in dependant.dependencies:
        yield sub
        yield from dependencies(sub)


def runs_on_the_loop(call: Any) -> bool:
    # A marker instance is called through its class's __call__.
    return inspect.iscoroutinefunction(call) or inspect.iscoroutinefunction(type(call).__call__)


def test_no_route_dependency_is_sent_to_a_worker_thread() -> None:
    """A plain-function dependency costs a thread hand-off on every request (it did:
    the API key's identity and each injected service, two per request)."""
    checked = 0
    for module in (accounts, admin, operations, transfers):
        for route in module.router.routes:
            assert isinstance(route, APIRoute)
            for dependency in dependencies(route.dependant):
                if dependency.call is None:
                    continue
                checked += 1
                assert runs_on_the_loop(dependency.call), (route.path, dependency.call)
    assert checked > 10
