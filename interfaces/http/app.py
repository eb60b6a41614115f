"""The FastAPI application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.routing import Route

from domain.pagination import use_cursor_key
from infrastructure.postgres import migrate
from interfaces.container import Container
from interfaces.http import background, errors, openapi
from interfaces.http.routers import accounts, admin, batches, holds, operations, transfers
from interfaces.observability import Metrics, RequestContextMiddleware, one_line

logger = logging.getLogger("banking.http")

Readiness = Callable[[], Awaitable[bool]]


def database_readiness(engine: AsyncEngine) -> Readiness:
    async def ready() -> bool:
        try:
            async with engine.connect() as connection:
                return await migrate.connection_is_at_head(connection)
        except Exception as error:
            logger.warning("readiness check failed: %s", one_line(error))
            return False

    return ready


def create_app(
    container: Container,
    *,
    admin_token: str | None,
    readiness: Readiness | None = None,
) -> FastAPI:
    """The API of docs/api.md over the services in ``container``.

    ``readiness`` defaults to "the container's database answers and is at head".
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings = container.settings()
        purge = background.purge_idempotency_keys(container.idempotency_retention())
        sweep = background.sweep_expired_holds(container.hold_expiry())
        async with (
            background.running(settings.idempotency_purge_interval, purge, "idempotency key purge"),
            background.running(settings.hold_sweep_interval, sweep, "expired hold sweep"),
        ):
            yield
        if container.database_url():
            await container.engine().dispose()  # close the pool's connections

    app = FastAPI(
        title="Banking transfers API",
        version="1",
        description="Accounts, deposits, withdrawals, transfers and holds in integer minor units.",
        lifespan=lifespan,
        # "/v1/accounts/" is no route of docs/api.md: a 404 problem, not a 307 to another URL.
        redirect_slashes=False,
        generate_unique_id_function=openapi.operation_id,
    )
    container.wire(modules=[accounts, admin, batches, holds, transfers])
    settings = container.settings()
    if settings.cursor_secret is not None:
        use_cursor_key(settings.cursor_secret.get_secret_value().encode())
    app.state.container = container
    app.state.admin_token = admin_token
    app.state.body_read_timeout = settings.body_read_timeout
    app.state.readiness = readiness or database_readiness(container.engine())
    app.state.metrics = Metrics([container.transactions().counters])

    routers = (
        accounts.router,
        transfers.router,
        batches.router,
        holds.router,
        admin.router,
        operations.router,
    )
    for router in routers:
        app.include_router(router)
    # Every route by its full path, for the Allow header of a 405.
    app.state.routes = [
        route
        for route in (*app.routes, *(route for router in routers for route in router.routes))
        if isinstance(route, Route)
    ]
    errors.install(app)
    app.openapi = lambda: openapi.describe(app)  # type: ignore[method-assign]
    app.add_middleware(
        RequestContextMiddleware, metrics=app.state.metrics, on_unhandled=errors.unhandled
    )
    return app
