"""``banking openapi``: the OpenAPI document, printed without a server or a database."""

from __future__ import annotations

import json

import click

from infrastructure.memory.store import MemoryStore
from interfaces.container import Container, use_in_memory
from interfaces.http.app import create_app


async def _never_asked() -> bool:
    return False


def document() -> dict[str, object]:
    """What ``/openapi.json`` serves. The app is built on the in-memory adapter only
    so that nothing connects anywhere: the document depends on the routes alone."""
    container = Container()
    use_in_memory(container, MemoryStore())
    app = create_app(container, admin_token=None, readiness=_never_asked)
    return app.openapi()


@click.command()
def openapi() -> None:
    """Print the OpenAPI document (JSON), to generate a client offline."""
    click.echo(json.dumps(document(), indent=2, ensure_ascii=False))
