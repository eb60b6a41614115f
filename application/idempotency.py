"""Idempotency: a request sent with an Idempotency-Key takes effect at most once.

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

``Once`` carries one request's key and outcome through ``Transactions.attempts``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Generic, Protocol, TypeVar

from application.ports import Clock
from application.validation import valid_idempotency_key
from application.views import Completed
from domain.errors import IdempotencyKeyReusedError, RuleViolationError
from domain.idempotency import IdempotencyRecord
from domain.ports import UnitOfWork

R = TypeVar("R")


@dataclasses.dataclass(frozen=True, slots=True)
class Codec(Generic[R]):
    encode: Callable[[R], dict[str, Any]]
    decode: Callable[[dict[str, Any]], R]


class KeyedCommand(Protocol):
    @property
    def client_id(self) -> uuid.UUID: ...

    @property
    def idempotency_key(self) -> str | None: ...


def request_fingerprint(operation: str, command: object) -> str:
    """Identifies "the same request": the operation and the validated command.

    The caller and the key are not part of it; absent optional fields and explicit
    nulls are the same value (None) by the time a command exists.
    """
    fields = _canonical(command)
    assert isinstance(fields, dict)
    for name in ("client_id", "idempotency_key"):
        fields.pop(name, None)
    canonical = json.dumps([operation, fields], sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _canonical(value: object) -> object:
    """A command's fields as JSON values; nested commands (a batch's items) too."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            field.name: _canonical(getattr(value, field.name))
            for field in dataclasses.fields(value)
        }
    if isinstance(value, Mapping):
        # Absent metadata and {} are the same request.
        return dict(value) or None
    if isinstance(value, tuple | list):
        return [_canonical(item) for item in value]
    return value


class Once(Generic[R]):
    """One request's idempotency: its key (if any), and the outcome it ends with."""

    def __init__(self, command: KeyedCommand, operation: str, codec: Codec[R], clock: Clock):
        self._client_id = command.client_id
        self._key = command.idempotency_key
        self._codec = codec
        self._clock = clock
        self._fingerprint = ""
        if self._key is not None:
            valid_idempotency_key(self._key)
            self._fingerprint = request_fingerprint(operation, command)
        self._result: R | None = None
        self._stored: IdempotencyRecord | None = None

    @property
    def keyed(self) -> bool:
        return self._key is not None

    async def commit(self, uow: UnitOfWork, result: R) -> None:
        """Store ``result`` as the key's outcome, with the effect, and commit both."""
        await self._store(uow, {"ok": self._codec.encode(result)})
        await uow.commit()
        self._result = result

    async def commit_refusal(self, uow: UnitOfWork, refusal: RuleViolationError) -> None:
        """Store the refusal as the key's outcome (the effect is already rolled back)."""
        error: dict[str, Any] = {"code": refusal.code, "detail": refusal.detail}
        if refusal.failed_index is not None:
            error["failed_index"] = refusal.failed_index
        await self._store(uow, {"error": error})
        await uow.commit()

    async def found_stored(self, uow: UnitOfWork) -> bool:
        """After losing the key to another request: read that request's outcome."""
        assert self._key is not None
        self._stored = await uow.idempotency.get(self._client_id, self._key)
        return self._stored is not None

    def outcome(self) -> Completed[R]:
        """The committed result, or the replay of the stored outcome (which may be a
        refusal, raised again)."""
        if self._stored is not None:
            return Completed(self._replay(self._stored), replayed=True)
        if self._result is None:
            raise RuntimeError("the unit of work ended without committing an outcome")
        return Completed(self._result)

    async def _store(self, uow: UnitOfWork, outcome: dict[str, Any]) -> None:
        if self._key is None:
            return
        await uow.idempotency.add(
            IdempotencyRecord(
                client_id=self._client_id,
                key=self._key,
                fingerprint=self._fingerprint,
                outcome=json.dumps(outcome, separators=(",", ":")),
                created_at=self._clock.now(),
            )
        )

    def _replay(self, record: IdempotencyRecord) -> R:
        if record.fingerprint != self._fingerprint:
            raise IdempotencyKeyReusedError()
        outcome = json.loads(record.outcome)
        if "error" in outcome:
            error = outcome["error"]
            rejection = RuleViolationError.from_code(
                error["code"], error["detail"], error.get("failed_index")
            )
            rejection.replayed = True
            raise rejection
        return self._codec.decode(outcome["ok"])
