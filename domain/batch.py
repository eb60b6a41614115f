"""A batch: several transfers submitted in one request, applied in order in one
transaction, either all or none (atomic) or each on its own."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

MAX_BATCH_ITEMS = 100


@dataclass(frozen=True, slots=True)
class Batch:
    """A batch that was applied, and the answer its client got.

    The transfers it made carry its id; ``answer`` is that answer as JSON text (the
    outcome of every item, refusals included), so that reading the batch later answers
    exactly what the request did. A refused atomic batch applies nothing and leaves no
    batch behind.
    """

    id: uuid.UUID
    client_id: uuid.UUID
    atomic: bool
    created_at: datetime
    answer: str
    metadata: Mapping[str, str] = field(default_factory=dict)
