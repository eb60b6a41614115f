"""``banking clients``: API clients (tenants) managed from the operator's shell."""

from __future__ import annotations

import asyncio

import click
from dependency_injector import providers

from application.commands import CreateApiClient
from application.views import NewApiClient
from infrastructure.settings import Settings, get_settings
from interfaces.cli_support import existing_database, one_line_errors
from interfaces.container import Container


@click.group()
def clients() -> None:
    """Create API clients."""


@clients.command()
@click.argument("name")
@one_line_errors
def create(name: str) -> None:
    """Create an API client called NAME and print its API key, shown only this once."""
    settings = get_settings()
    with existing_database(settings) as url:
        created = asyncio.run(_create(settings, url, name))
    click.echo(f"id: {created.id}")
    click.echo(f"name: {created.name}")
    click.echo(f"api_key: {created.api_key}")
    click.echo("Store the API key now: it cannot be shown again.", err=True)


async def _create(settings: Settings, url: str, name: str) -> NewApiClient:
    container = Container(settings=providers.Object(settings), database_url=providers.Object(url))
    try:
        return await container.clients().create(CreateApiClient(name))
    finally:
        await container.engine().dispose()
