"""What the bank remembers about a request sent with an Idempotency-Key."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    """The stored outcome of the first completed attempt of a request.

    ``fingerprint`` identifies the request (operation and validated command) so a
    key reused for a different request is recognised; ``outcome`` is the serialised
    result or rule violation, replayed verbatim on every repeat.
    """

    client_id: uuid.UUID
    key: str
    fingerprint: str
    outcome: str
    created_at: datetime
