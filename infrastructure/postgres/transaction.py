"""One PostgreSQL transaction on one pooled connection, begun and ended by hand.

The service never leaves state on a connection: isolation, timeouts and planner
settings are sent with ``BEGIN`` as ``SET LOCAL``, in the same round trip together with
the lock strategy's waits, and end with the transaction. So any pooled connection,
and a transaction-mode PgBouncer in front of the server, serves every transaction.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql import Executable

from infrastructure.postgres.errors import translated_errors

logger = logging.getLogger(__name__)

SERIALIZABLE = "SERIALIZABLE"
READ_ONLY = "REPEATABLE READ READ ONLY"


@dataclass(frozen=True, slots=True)
class TransactionSettings:
    statement_timeout_ms: int = 5000
    lock_timeout_ms: int = 3000

    def begin(self, isolation: str, before_snapshot: Sequence[str] = ()) -> str:
        """``BEGIN`` and what must precede the snapshot, as one multi-statement string.

        None of these statements takes a snapshot, so a wait in ``before_snapshot``
        (a ``LOCK TABLE``) happens before the transaction's snapshot is taken.
        """
        # enable_seqscan=off: at SERIALIZABLE a sequential scan takes a predicate lock on
        # the whole table, so while a table is small enough for the planner to prefer one,
        # every pair of concurrent transfers would abort each other. Index scans lock only
        # what they read. Reconciliation turns it back on for its whole-table queries.
        return "; ".join(
            [
                f"BEGIN ISOLATION LEVEL {isolation}",
                f"SET LOCAL statement_timeout = {self.statement_timeout_ms}",
                f"SET LOCAL lock_timeout = {self.lock_timeout_ms}",
                "SET LOCAL enable_seqscan = off",
                *before_snapshot,
            ]
        )


class Transaction:
    """The domain's errors instead of the driver's; the connection is checked out by
    ``begin`` and returned by ``close``, whatever happened in between."""

    def __init__(self, engine: AsyncEngine) -> None:
        # Autocommit at the driver: the transaction is ours to begin and end.
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._connection: AsyncConnection | None = None
        # From BEGIN until a COMMIT went through: what ``close`` must roll back.
        self._open = False

    async def begin(self, statements: str) -> None:
        with translated_errors():
            self._connection = await self._engine.connect()
            self._open = True
            await self._connection.exec_driver_sql(statements)

    async def execute(self, statement: Executable, parameters: Any = None) -> Any:
        if self._connection is None:
            raise RuntimeError("the transaction has not begun")
        with translated_errors():
            return await self._connection.execute(statement, parameters)

    async def run(self, statements: str) -> None:
        """Statements without parameters: savepoints, ``COMMIT``."""
        if self._connection is None:
            raise RuntimeError("the transaction has not begun")
        with translated_errors():
            await self._connection.exec_driver_sql(statements)

    async def commit(self) -> None:
        await self.run("COMMIT")
        self._open = False

    async def close(self) -> None:
        """Roll back whatever is open and return the connection.

        By now the outcome is settled (committed, or failing with its own error), so a
        failure here is logged, not raised. A connection that could not be cleaned up
        is discarded, never pooled.
        """
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            if self._open:
                self._open = False
                await connection.exec_driver_sql("ROLLBACK")
        except Exception as error:
            logger.warning("discarding a connection that could not be cleaned up: %s", error)
            await _discard(connection)
        except BaseException:  # cancelled: discard, and let the cancellation go on
            await _discard(connection)
            raise
        finally:
            await connection.close()


async def _discard(connection: AsyncConnection) -> None:
    with contextlib.suppress(Exception):
        await connection.invalidate()


class Statements(Protocol):
    """Where a repository sends its statements: a transaction, or one unit of work's
    share of a batch's transaction."""

    async def execute(self, statement: Executable, parameters: Any = None) -> Any: ...
