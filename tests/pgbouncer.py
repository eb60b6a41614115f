"""A PgBouncer in transaction mode in front of a PostgreSQL server: the ``pgbouncer``
target of ``tests/postgres_fixtures.py`` (the service's suites run through it as they
would behind a pooler in production) and the benchmark's ``--pgbouncer``. Debian's
``pgbouncer`` package provides it (``.ci/run`` installs it); without it the target's
tests are skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import URL

START_SECONDS = 10


class PgBouncerMissing(Exception):
    """No ``pgbouncer`` binary on this machine."""


@contextmanager
def pgbouncer(server: URL, pool_size: int = 40) -> Iterator[URL]:
    """``server``'s databases through a PgBouncer in transaction mode; the URL to use."""
    binary = shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin")
    if binary is None:
        raise PgBouncerMissing("pgbouncer is not installed (Debian: apt-get install pgbouncer)")
    root = Path(tempfile.mkdtemp(prefix="banking-test-pgbouncer-"))
    root.chmod(0o755)  # read by the unprivileged user it runs as under root
    port = _free_port()
    host = server.query.get("host") or server.host or "127.0.0.1"
    backend = f"host={host} port={server.port or 5432}"
    user = server.username or "postgres"
    (root / "users.txt").write_text(f'"{user}" ""\n')
    config = root / "pgbouncer.ini"
    config.write_text(
        "[databases]\n"
        f"* = {backend}\n"
        "[pgbouncer]\n"
        "listen_addr = 127.0.0.1\n"
        f"listen_port = {port}\n"
        "unix_socket_dir =\n"
        "auth_type = trust\n"
        f"auth_file = {root / 'users.txt'}\n"
        "pool_mode = transaction\n"
        "max_client_conn = 1000\n"
        f"default_pool_size = {pool_size}\n"
        "server_reset_query =\n"
        # Tests drop each database with its connections: a server connection cut that
        # way must not make the next login wait out the default 15 s retry delay.
        "server_login_retry = 0\n"
    )
    for path in root.iterdir():
        path.chmod(0o666)
    as_root = ["-u", "embedded_postgres"] if os.geteuid() == 0 else []
    log = root / "pgbouncer.log"
    # PgBouncer writes every log line to stderr. A pipe nobody drains fills up after
    # about 90 test databases' worth of connection lines, and PgBouncer then blocks in
    # write() for good: every later login times out. A file never fills up, and it is
    # the only log (no ``logfile``), read back when PgBouncer fails to start.
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [binary, *as_root, str(config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        _wait_for_port(port, process, log)
        yield URL.create(
            server.drivername, username=user, host="127.0.0.1", port=port, database="postgres"
        )
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(root, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = log.read_text(errors="replace")
            raise RuntimeError(f"pgbouncer exited ({process.returncode}): {output}"[-2000:])
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"pgbouncer did not listen on port {port} within {START_SECONDS} s")
