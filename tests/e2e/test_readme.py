"""The README's shell lines as a reader pastes them: their failures read as one line each,
and the lines for an operator's own PostgreSQL open the admin routes as they say.

The happy path of "Try it" runs in ``test_serve.py``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.e2e.processes import BANKING, COMMAND_SECONDS, free_port, serving
from tests.e2e.test_serve import README, readme_lines

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("curl") is None, reason="the README's lines need curl"),
]


def pasted(script: str, env: dict[str, str], workdir: Path) -> subprocess.CompletedProcess[str]:
    """``script`` run by bash without ``-e``: like lines pasted into a terminal, a failure
    does not stop the lines after it (bash then stops at a missing ``${VAR:?}``)."""
    return subprocess.run(
        ["bash", "-c", script],
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=COMMAND_SECONDS,
        check=False,
    )


def try_it(base: str, admin_token: str) -> str:
    """The README's "Try it" lines, without the line the happy-path test adds to them."""
    lines = readme_lines(base, admin_token)
    added = 'echo "ids $KEY $A $B"\n'
    assert lines.endswith(added)
    return lines.removesuffix(added)


def assert_readable(done: subprocess.CompletedProcess[str]) -> None:
    output = done.stdout + done.stderr
    assert "Traceback" not in output, output
    assert "KeyError" not in output, output
    assert '"status": 404' not in output, output  # the old last line: /v1/accounts//entries


def test_try_it_with_a_wrong_admin_token_says_so_in_one_line(
    env: dict[str, str], workdir: Path, database_url: str
) -> None:
    configured = {**env, "BANKING_DATABASE_URL": database_url, "BANKING_ADMIN_TOKEN": "right"}
    with serving(configured, workdir) as server:
        # When a reader pastes the lines with a token that is not the server's
        done = pasted(try_it(server.base, "wrong"), env, workdir)

    # Then the first error is the API's 401, and the lines after it name what is missing
    assert_readable(done)
    errors = done.stderr.splitlines()
    assert errors[0] == "401 unauthorized: send Authorization: Bearer <admin token>"
    assert errors[1:], "the lines after the failure ran on"
    assert all(_names_what_is_missing(line) for line in errors[1:]), errors
    assert done.stdout == ""


def test_try_it_without_a_server_says_so_in_one_line(env: dict[str, str], workdir: Path) -> None:
    done = pasted(try_it(f"http://127.0.0.1:{free_port()}", "any"), env, workdir)

    assert_readable(done)
    errors = done.stderr.splitlines()
    assert errors[0].startswith("curl: (7) Failed to connect to 127.0.0.1 port")
    assert all(_names_what_is_missing(line) for line in errors[1:]), errors
    assert done.stdout == ""


def _names_what_is_missing(line: str) -> bool:
    return re.fullmatch(r"bash: line \d+: (KEY: no API key|A: no account A)", line) is not None


def own_postgres_lines(url: str) -> tuple[str, str]:
    """The README's block for an operator's database: the lines before ``serve``, with the
    URL replaced, and the ``serve`` line."""
    section = README.read_text().split("\n## On your own PostgreSQL\n", 1)[1].split("\n## ")[0]
    (block,) = re.findall(r"```sh\n(.*?)```", section, re.S)
    block, replaced = re.subn(
        r"^export BANKING_DATABASE_URL=.*$",
        f"export BANKING_DATABASE_URL={url}",
        block,
        count=1,
        flags=re.M,
    )
    assert replaced == 1, "the block no longer starts with export BANKING_DATABASE_URL="
    before, serve = block.rstrip("\n").rsplit("\n", 1)
    return before.replace(".venv/bin/banking", BANKING), serve


def test_the_own_postgres_lines_migrate_and_their_token_opens_the_admin_routes(
    env: dict[str, str], workdir: Path, empty_database_url: str
) -> None:
    # Given the README's lines up to `banking serve`, on an empty database
    before, serve = own_postgres_lines(empty_database_url)
    assert serve == ".venv/bin/banking serve"
    done = pasted(before + '\necho "token=$BANKING_ADMIN_TOKEN"\n', env, workdir)
    assert done.returncode == 0, done.stdout + done.stderr
    token = done.stdout.split("token=", 1)[1].strip()
    assert len(token) >= 32

    # When the API is served with what they exported
    exported = {**env, "BANKING_DATABASE_URL": empty_database_url, "BANKING_ADMIN_TOKEN": token}
    with serving(exported, workdir) as server:
        made = httpx.post(
            f"{server.base}/v1/admin/clients",
            json={"name": "acme"},
            headers={"Authorization": f"Bearer {token}"},
        )
        banner = server.output()

    # Then the schema was migrated, and the token of their choice opens the admin routes
    assert made.status_code == 201, made.text
    assert "Admin token: the value of BANKING_ADMIN_TOKEN" in banner
    assert token not in banner
