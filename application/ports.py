"""What the application needs from outside: time, ids and secrets."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

IdFactory = Callable[[], uuid.UUID]
SecretFactory = Callable[[], str]


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...
