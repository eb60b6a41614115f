"""The committed state of the in-memory bank."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from domain.account import Account
from domain.api_client import ApiClient
from domain.batch import Batch
from domain.hold import Hold
from domain.idempotency import IdempotencyRecord
from domain.transfer import Entry, Transfer


@dataclass
class MemoryState:
    accounts: dict[uuid.UUID, Account] = field(default_factory=dict)
    transfers: dict[uuid.UUID, Transfer] = field(default_factory=dict)
    # Per account, in the order the entries were applied.
    entries: dict[uuid.UUID, list[Entry]] = field(default_factory=dict)
    clients: dict[uuid.UUID, ApiClient] = field(default_factory=dict)
    idempotency: dict[tuple[uuid.UUID, str], IdempotencyRecord] = field(default_factory=dict)
    holds: dict[uuid.UUID, Hold] = field(default_factory=dict)
    batches: dict[uuid.UUID, Batch] = field(default_factory=dict)

    def copy(self) -> MemoryState:
        """A working copy: new containers, shared immutable values.

        Accounts are mutable, so repositories copy them on the way in and out.
        """
        return MemoryState(
            accounts=dict(self.accounts),
            transfers=dict(self.transfers),
            entries={account_id: list(lines) for account_id, lines in self.entries.items()},
            clients=dict(self.clients),
            idempotency=dict(self.idempotency),
            holds=dict(self.holds),
            batches=dict(self.batches),
        )


class MemoryStore:
    """Committed state plus the lock that makes units of work run one at a time.

    Running them one after another is trivially serializable, the isolation the
    PostgreSQL adapter provides with SERIALIZABLE transactions and row locks.
    """

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self.state = MemoryState()
        self.lock = asyncio.Lock()
        # The units of work's clock; tests pass one they control.
        self.clock = clock or (lambda: datetime.now(UTC))
