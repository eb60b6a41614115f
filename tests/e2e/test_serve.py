"""``banking serve`` as a newcomer and an operator run it: real processes, HTTP, signals."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import httpx
import psycopg
import pytest

from infrastructure.postgres.engine import libpq_url
from infrastructure.postgres.reconciliation import invariants
from tests.e2e.processes import banking, free_port, serving, shell

pytestmark = pytest.mark.e2e

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_lines(base: str, admin_token: str) -> str:
    """The "Try it" block of the README, with the token pasted in as a reader would."""
    section = README.read_text().split("\n## Try it\n", 1)[1].split("\n## ", 1)[0]
    block = next(b for b in re.findall(r"```sh\n(.*?)```", section, re.S) if "ADMIN=" in b)
    block, pasted = re.subn(r"^ADMIN=.*$", f"ADMIN={admin_token}", block, flags=re.M)
    block, based = re.subn(r"^BASE=.*$", f"BASE={base}", block, flags=re.M)
    assert (pasted, based) == (1, 1), "the README's block no longer starts with ADMIN= BASE="
    return block + 'echo "ids $KEY $A $B"\n'


def banner_curl(output: str) -> str:
    lines = output.splitlines()
    return lines[lines.index("Create an API client:") + 1]


def one(pattern: str, text: str) -> str:
    found = re.search(pattern, text, re.M)
    assert found is not None, f"{pattern!r} not in:\n{text}"
    return found[1]


def balances(base: str, key: str, *accounts: str) -> list[int]:
    headers = {"Authorization": f"Bearer {key}"}
    return [
        httpx.get(f"{base}/v1/accounts/{a}", headers=headers).json()["balance"] for a in accounts
    ]


@pytest.mark.skipif(shutil.which("curl") is None, reason="the README's lines need curl")
def test_the_readme_flow_survives_a_restart_and_the_books_reconcile(
    env: dict[str, str], workdir: Path
) -> None:
    data_dir = workdir / "pg"

    # Given the API served the newcomer's way: embedded database, generated admin token
    with serving(env, workdir) as server:
        admin = one(r"^Admin token: (\S+)$", server.output())

        # When the README's lines, then the start-up banner's curl line, run against it
        shown = shell(readme_lines(server.base, admin), env, workdir)
        key, a, b = one(r"^ids (.+)$", shown).split()
        made = json.loads(shell(banner_curl(server.output()), env, workdir))

        # Then the money moved as the README says, and the banner's line made a client
        assert '"balance_after": 7500' in shown
        assert balances(server.base, key, a, b) == [7500, 2500]
        assert made["api_key"].startswith("bk_")

        # When a process manager stops it, then it drains, exits 0 and stops its database
        assert server.stop() == 0
    assert not (data_dir / "postmaster.pid").exists()

    # When an operator creates a client while the API is down
    ops = banking(env, workdir, "clients", "create", "ops")
    assert ops.returncode == 0, ops.stderr
    ops_key = one(r"^api_key: (\S+)$", ops.stdout)

    # And serves again, with two workers and an admin token of their own
    configured = {**env, "BANKING_ADMIN_TOKEN": "e2e-admin-token"}
    with serving(configured, workdir, "--workers", "2") as server:
        entries = httpx.get(
            f"{server.base}/v1/accounts/{a}/entries", headers={"Authorization": f"Bearer {key}"}
        ).json()["data"]
        ops_accounts = httpx.get(
            f"{server.base}/v1/accounts", headers={"Authorization": f"Bearer {ops_key}"}
        )
        made = json.loads(shell(banner_curl(server.output()), configured, workdir))

        # Then the books are as they were, the new client is known, the token is theirs
        assert balances(server.base, key, a, b) == [7500, 2500]
        assert [(e["amount"], e["balance_after"]) for e in entries] == [
            (-2500, 7500),
            (10000, 10000),
        ]
        assert ops_accounts.json() == {"data": [], "next_cursor": None}
        assert made["name"] == "acme"
        assert "e2e-admin-token" not in server.output()
        assert server.stop() == 0
    assert not (data_dir / "postmaster.pid").exists()

    # And the books reconcile
    checked = banking(env, workdir, "reconcile")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count(" ... ok (") == len(invariants())
    assert checked.stdout.endswith(f"All {len(invariants())} invariants hold.\n")


def test_a_database_not_at_head_is_refused_in_one_line(
    env: dict[str, str], workdir: Path, empty_database_url: str
) -> None:
    configured = {**env, "BANKING_DATABASE_URL": empty_database_url}

    refused = banking(configured, workdir, "serve", "--port", str(free_port()))

    assert (refused.returncode, refused.stdout) == (1, "")
    assert refused.stderr == (
        "Error: the database schema is not at the latest migration: run `banking db upgrade`\n"
    )


def test_an_unreachable_database_is_refused_in_one_line(env: dict[str, str], workdir: Path) -> None:
    configured = {**env, "BANKING_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/postgres"}

    refused = banking(configured, workdir, "serve", "--port", str(free_port()))

    assert (refused.returncode, refused.stdout) == (1, "")
    assert refused.stderr.startswith("Error: connection failed")
    assert refused.stderr.count("\n") == 1


def test_a_configured_database_keeps_admin_closed_and_outlives_the_api(
    env: dict[str, str], workdir: Path, database_url: str
) -> None:
    configured = {**env, "BANKING_DATABASE_URL": database_url}

    with serving(configured, workdir) as server:
        guessed = httpx.post(
            f"{server.base}/v1/admin/clients",
            json={"name": "intruder"},
            headers={"Authorization": "Bearer guess"},
        )
        assert "Admin routes are closed" in server.output()
        assert guessed.status_code == 401
        assert server.stop() == 0

    # The API stopped; the operator's database server did not
    psycopg.connect(libpq_url(database_url), connect_timeout=5).close()
    assert not (workdir / "pg").exists()
