"""Translate driver errors into the domain's, by SQLSTATE and constraint name, never by text."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from psycopg import errors as pg_errors
from sqlalchemy.exc import DBAPIError

from domain.errors import (
    ConcurrencyConflictError,
    IdempotencyKeyTakenError,
    TransientConflictError,
)
from infrastructure.postgres.tables import IDEMPOTENCY_KEYS_PK

# 40001 serialization_failure and 40P01 deadlock_detected: the transaction did
# nothing wrong and may succeed when re-run from scratch.
_TRANSIENT = (pg_errors.SerializationFailure, pg_errors.DeadlockDetected)


@contextmanager
def translated_errors() -> Iterator[None]:
    try:
        yield
    except DBAPIError as error:
        cause = error.orig
        if isinstance(cause, _TRANSIENT):
            raise TransientConflictError(type(cause).__name__) from error
        if isinstance(cause, pg_errors.LockNotAvailable):
            # 55P03, lock_timeout: another transaction held the accounts longer than we
            # wait. Contention, not an outage (docs/api.md's concurrency_conflict); not
            # retried here, since every try could wait the whole timeout again.
            raise ConcurrencyConflictError() from error
        if (
            isinstance(cause, pg_errors.UniqueViolation)
            and cause.diag.constraint_name == IDEMPOTENCY_KEYS_PK
        ):
            raise IdempotencyKeyTakenError() from error
        raise
