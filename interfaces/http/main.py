"""The ASGI application as uvicorn loads it in each worker process.

``banking serve`` prepares the database (starting the embedded server if need be), then
hands its URL and the admin token to the workers in ``BANKING_DATABASE_URL`` and
``BANKING_ADMIN_TOKEN``: a worker is a fresh interpreter that shares nothing else with
its parent. Behind a process manager of your own, ``uvicorn --factory
interfaces.http.main:from_environment`` serves a database already at head.
"""

from __future__ import annotations

import logging

from dependency_injector import providers
from fastapi import FastAPI

from infrastructure.settings import Settings
from interfaces.container import Container
from interfaces.http.app import create_app
from interfaces.observability import configure_logging


def from_environment() -> FastAPI:
    settings = Settings()
    if settings.database_url is None:
        # Starting the embedded server here would start one per worker.
        raise RuntimeError("BANKING_DATABASE_URL is not set: start the API with `banking serve`")
    configure_logging()
    # The readiness probe opens a migration context on every call, and each logs two
    # INFO lines ("Context impl ...") that would drown the access log.
    logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)
    container = Container(
        settings=providers.Object(settings), database_url=providers.Object(settings.database_url)
    )
    token = settings.admin_token.get_secret_value() if settings.admin_token else None
    return create_app(container, admin_token=token)
