"""The real clock, id and secret sources injected into the application."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def new_uuid() -> uuid.UUID:
    return uuid.uuid4()


def new_api_secret() -> str:
    return secrets.token_urlsafe(32)
