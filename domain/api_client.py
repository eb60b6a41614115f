"""API clients: the tenants that own accounts."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class ApiClient:
    """A tenant. Its API key is never kept, only the key's SHA-256 hash."""

    id: uuid.UUID
    name: str
    key_hash: str
    created_at: datetime
