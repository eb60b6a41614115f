"""The run's own PostgreSQL: an embedded server in a temporary directory, deleted at the end.

Durability stays at PostgreSQL's defaults (fsync and synchronous_commit on): every
committed transfer is on disk, as in production, so the ceiling is a fair one.
pg_stat_statements is loaded to count statements (round trips) and database time per
transfer; the server log counts serialization failures, whoever caused them.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from infrastructure.postgres import migrate
from infrastructure.postgres.embedded import EmbeddedPostgres
from infrastructure.postgres.engine import libpq_url

TEMPLATE = "bench_template"
_CONTROL = ("BEGIN", "START", "COMMIT", "ROLLBACK", "END")
_ERRORS = {
    "serialization_failure": re.compile(rb"ERROR:  could not serialize access"),
    "deadlock": re.compile(rb"ERROR:  deadlock detected"),
    "lock_timeout": re.compile(rb"ERROR:  canceling statement due to lock timeout"),
    "statement_timeout": re.compile(rb"ERROR:  canceling statement due to statement timeout"),
    "any_error": re.compile(rb"(?:ERROR|FATAL|PANIC):  "),
}


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Counters of one database at one moment, to subtract."""

    statements: dict[int, tuple[str, int, float]]  # queryid -> (query, calls, total ms)
    log_offset: int


class BenchServer:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="banking-bench-"))
        self._server: EmbeddedPostgres | None = None
        self.url = ""
        self.settings: dict[str, str] = {}

    @property
    def log_path(self) -> Path:
        return self.root / "pg" / "log"

    def start(self) -> None:
        self._start()
        with self.connect() as admin:
            admin.execute("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
            # The systems stay connected side by side: pgbench's 64 clients while the
            # service's and the application's pools sit idle.
            admin.execute("ALTER SYSTEM SET max_connections = 200")
        # Both settings need a restart.
        self._stop_server()
        self._start()
        with self.connect() as admin:
            admin.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            names = ("server_version", "fsync", "synchronous_commit", "max_connections")
            for name in names:
                row = admin.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()
                self.settings[name] = str(row[0]) if row else "?"
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(TEMPLATE)))
        migrate.upgrade(self.url_for(TEMPLATE), "head")

    def _start(self) -> None:
        self._server = EmbeddedPostgres(self.root / "pg")
        self.url = self._server.start()

    def _stop_server(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop()

    def stop(self) -> None:
        try:
            self._stop_server()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def postmaster_pid(self) -> int:
        """The server's main process (first line of postmaster.pid)."""
        return int((self.root / "pg" / "postmaster.pid").read_text().split()[0])

    def url_for(self, database: str) -> str:
        """The SQLAlchemy (psycopg) URL of ``database`` on this server."""
        return make_url(self.url).set(database=database).render_as_string(hide_password=False)

    def connect(self, database: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(libpq_url(self.url_for(database)), autocommit=True)

    def libpq_parts(self) -> dict[str, str]:
        """host (the socket directory), port and user, for pgbench."""
        parsed = make_url(self.url)
        return {
            "host": str(parsed.query["host"]),
            "port": str(parsed.port),
            "user": str(parsed.username),
        }

    def create_database(self, name: str) -> str:
        """A fresh database at the head migration (a copy of the migrated template)."""
        with self.connect() as admin:
            admin.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(TEMPLATE)
                )
            )
        return self.url_for(name)

    def checkpoint(self) -> None:
        """Flush dirty pages now, so no cell pays for the previous cell's checkpoint."""
        with self.connect() as admin:
            admin.execute("CHECKPOINT")

    def snapshot(self, database: str) -> Snapshot:
        with self.connect() as admin:
            rows = admin.execute(
                "SELECT queryid, query, calls, total_exec_time FROM pg_stat_statements"
                " WHERE dbid = (SELECT oid FROM pg_database WHERE datname = %s)",
                (database,),
            ).fetchall()
        statements = {int(q): (str(text), int(calls), float(ms)) for q, text, calls, ms in rows}
        return Snapshot(statements, self.log_path.stat().st_size)

    def delta(
        self, before: Snapshot, after: Snapshot, per: int, control: int | None = None
    ) -> dict[str, object]:
        """Statements, transactions, database time and server-side errors between two
        snapshots, per ``per`` committed transfers (when ``per`` > 0).

        pg_stat_statements misses BEGIN and COMMIT sent as named prepared statements
        (pgbench --protocol=prepared): ``control`` then gives their true number.
        """
        calls: Counter[str] = Counter()
        time_ms: Counter[str] = Counter()
        for queryid, (text, count, ms) in after.statements.items():
            _, old_count, old_ms = before.statements.get(queryid, (text, 0, 0.0))
            key = " ".join(text.split())[:120]
            calls[key] += count - old_count
            time_ms[key] += ms - old_ms
        if control is not None:
            for query in [q for q in calls if q.upper().startswith(_CONTROL)]:
                del calls[query]
            calls["BEGIN / COMMIT / ROLLBACK (from the client's count)"] = control
            begins = control // 2
        else:
            begins = sum(n for q, n in calls.items() if q.upper().startswith(_CONTROL[:2]))
        total = sum(calls.values())
        errors = self._log_errors(before.log_offset, after.log_offset)
        scale = per if per > 0 else 0

        def each(value: float) -> float | None:
            return round(value / scale, 3) if scale else None

        return {
            "statements": total,
            "statements_per_transfer": each(total),
            "transactions_per_transfer": each(begins),
            "db_time_ms_per_transfer": each(sum(time_ms.values())),
            "server_errors": errors,
            "serialization_failures_per_transfer": each(errors["serialization_failure"]),
            "by_statement": [
                {"query": q, "calls": n, "per_transfer": each(n), "ms": round(time_ms[q], 1)}
                for q, n in calls.most_common(12)
                if n
            ],
        }

    def _log_errors(self, start: int, end: int) -> dict[str, int]:
        with self.log_path.open("rb") as log:
            log.seek(start)
            text = log.read(max(0, end - start))
        return {name: len(pattern.findall(text)) for name, pattern in _ERRORS.items()}
