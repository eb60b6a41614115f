"""The ``banking`` command line."""

from __future__ import annotations

import click

from interfaces.cli_clients import clients
from interfaces.cli_db import db
from interfaces.cli_openapi import openapi
from interfaces.cli_reconcile import reconcile
from interfaces.cli_serve import serve


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="banking")
def main() -> None:
    """Operate the banking-transfer service."""


for command in (serve, clients, reconcile, db, openapi):
    main.add_command(command)
