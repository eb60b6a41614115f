"""The ``banking`` command line."""

from __future__ import annotations

import click

from interfaces.cli_db import db


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="banking")
def main() -> None:
    """Operate the banking-transfer service."""


main.add_command(db)
