"""Idempotent execution: a request sent with an Idempotency-Key takes effect at most once.

The policy, after the IETF Idempotency-Key draft and Stripe:

- the key is scoped to the API client;
- the first completed attempt's outcome (a result, or a rule violation such as
  ``insufficient_funds``) is stored in the same unit of work as the effect, so the
  effect and its record commit or vanish together;
- a repeat of the same request replays that outcome, marked as replayed;
- the same key with a different request is ``idempotency_key_reused``;
- the unique (client, key) record decides: a repeat, or the loser of a race, fails to
  insert it, its unit of work (effect included) rolls back, and it replays the stored
  outcome, so the effect never happens twice.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable, Collection
from typing import Any, Generic, TypeVar

from application.ports import Clock, TransactionRunner
from application.validation import valid_idempotency_key
from application.views import Completed
from domain.errors import (
    IdempotencyKeyInProgressError,
    IdempotencyKeyReusedError,
    IdempotencyKeyTakenError,
    RuleViolationError,
)
from domain.idempotency import IdempotencyRecord
from domain.ports import UnitOfWork

R = TypeVar("R")

# A lost race is settled by replaying the winner; the bound only guards against a
# winner that keeps vanishing (its transaction rolled back after we saw its key).
_ATTEMPTS_AFTER_LOST_RACE = 3


@dataclasses.dataclass(frozen=True, slots=True)
class Codec(Generic[R]):
    encode: Callable[[R], dict[str, Any]]
    decode: Callable[[dict[str, Any]], R]


def request_fingerprint(operation: str, command: object) -> str:
    """Identifies "the same request": the operation and the validated command.

    The caller and the key are not part of it; absent optional fields and explicit
    nulls are the same value (None) by the time a command exists.
    """
    assert dataclasses.is_dataclass(command)
    assert not isinstance(command, type)
    fields = {
        field.name: getattr(command, field.name)
        for field in dataclasses.fields(command)
        if field.name not in ("client_id", "idempotency_key")
    }
    canonical = json.dumps([operation, fields], sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class IdempotentExecutor:
    def __init__(self, runner: TransactionRunner, clock: Clock) -> None:
        self._runner = runner
        self._clock = clock

    async def execute(
        self,
        *,
        client_id: uuid.UUID,
        key: str | None,
        operation: str,
        command: object,
        work: Callable[[UnitOfWork], Awaitable[R]],
        codec: Codec[R],
        accounts: Collection[uuid.UUID] = (),
    ) -> Completed[R]:
        """Run ``work`` at most once per (client, key); ``accounts`` as for the runner."""
        if key is None:
            return Completed(await self._runner.run(_committing(work), accounts))

        valid_idempotency_key(key)
        fingerprint = request_fingerprint(operation, command)

        async def lookup(uow: UnitOfWork) -> IdempotencyRecord | None:
            return await uow.idempotency.get(client_id, key)

        async def attempt(uow: UnitOfWork) -> Completed[R]:
            try:
                result = await work(uow)
            except RuleViolationError as rejection:
                # Drop whatever the refused work touched; keep only its verdict.
                await uow.rollback()
                outcome = {"error": {"code": rejection.code, "detail": rejection.detail}}
                await self._store(uow, client_id, key, fingerprint, outcome)
                raise
            await self._store(uow, client_id, key, fingerprint, {"ok": codec.encode(result)})
            return Completed(result)

        for _ in range(_ATTEMPTS_AFTER_LOST_RACE):
            # Optimistic: most keys are new, so the request runs straight away and the
            # unique (client, key) record decides. A repeat finds the key taken: its
            # effect rolls back with the failed insert, and the stored outcome is read,
            # in its own read-only snapshot, and replayed.
            try:
                return await self._runner.run(attempt, accounts)
            except IdempotencyKeyTakenError:
                record = await self._runner.read(lookup)
            if record is not None:
                return Completed(_replay(record, fingerprint, codec), replayed=True)
        raise IdempotencyKeyInProgressError()

    async def _store(
        self,
        uow: UnitOfWork,
        client_id: uuid.UUID,
        key: str,
        fingerprint: str,
        outcome: dict[str, Any],
    ) -> None:
        record = IdempotencyRecord(
            client_id=client_id,
            key=key,
            fingerprint=fingerprint,
            outcome=json.dumps(outcome, separators=(",", ":")),
            created_at=self._clock.now(),
        )
        await uow.idempotency.add(record)
        await uow.commit()


def _replay(record: IdempotencyRecord, fingerprint: str, codec: Codec[R]) -> R:
    if record.fingerprint != fingerprint:
        raise IdempotencyKeyReusedError()
    outcome = json.loads(record.outcome)
    if "error" in outcome:
        rejection = RuleViolationError.from_code(
            outcome["error"]["code"], outcome["error"]["detail"]
        )
        rejection.replayed = True
        raise rejection
    return codec.decode(outcome["ok"])


def _committing(work: Callable[[UnitOfWork], Awaitable[R]]) -> Callable[[UnitOfWork], Awaitable[R]]:
    async def run_and_commit(uow: UnitOfWork) -> R:
        result = await work(uow)
        await uow.commit()
        return result

    return run_and_commit
