"""API clients: the tenants that own accounts, and the keys they authenticate with."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

# A rotation keeps the replaced key working for at most this long, so that a client
# can roll the new key out; a longer overlap would be a second key in all but name.
MAX_KEY_OVERLAP = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class ApiClient:
    """A tenant. Its API keys are never kept, only their SHA-256 hashes.

    ``key_hash`` is the current key's, unless the client is revoked (``revoked_at``).
    ``previous_key_hash`` is the key the last rotation replaced, accepted until
    ``previous_key_expires_at``: one previous key at most.
    """

    id: uuid.UUID
    name: str
    key_hash: str
    created_at: datetime
    previous_key_hash: str | None = None
    previous_key_expires_at: datetime | None = None
    revoked_at: datetime | None = None

    def key_valid_until(self, key_hash: str, now: datetime) -> datetime | None:
        """Until when the key with ``key_hash`` authenticates this client: None if it
        does not (any more), ``datetime.max`` (UTC) if it has no end."""
        if key_hash == self.key_hash and self.revoked_at is None:
            return datetime.max.replace(tzinfo=now.tzinfo)
        expires = self.previous_key_expires_at
        if key_hash == self.previous_key_hash and expires is not None and now < expires:
            return expires
        return None

    def rotated(self, new_key_hash: str, now: datetime, overlap: timedelta) -> ApiClient:
        """The client with a new current key; the one it replaces keeps working for
        ``overlap`` (none if the client was revoked: a revoked key stays revoked)."""
        if not timedelta(0) <= overlap <= MAX_KEY_OVERLAP:
            raise ValueError("overlap out of range")
        keeps_previous = self.revoked_at is None and overlap > timedelta(0)
        return replace(
            self,
            key_hash=new_key_hash,
            previous_key_hash=self.key_hash if keeps_previous else None,
            previous_key_expires_at=now + overlap if keeps_previous else None,
            revoked_at=None,
        )

    def revoked(self, now: datetime) -> ApiClient:
        """No key of the client authenticates any more, until a rotation issues one."""
        return replace(
            self,
            previous_key_hash=None,
            previous_key_expires_at=None,
            revoked_at=self.revoked_at or now,
        )
