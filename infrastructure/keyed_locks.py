"""In-process locks by key, so that one process does not make its own transactions
fight inside PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field


@dataclass
class _Entry:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


class KeyedLocks:
    """A lock per key, created on demand and dropped when nobody uses it."""

    def __init__(self) -> None:
        self._entries: dict[Hashable, _Entry] = {}

    async def acquire(self, keys: Iterable[Hashable]) -> list[Hashable]:
        """Acquire every key's lock in sorted order (so two callers never deadlock);
        returns the keys, for ``release``."""
        ordered = sorted(set(keys))  # type: ignore[type-var]
        acquired: list[Hashable] = []
        try:
            for key in ordered:
                entry = self._entries.setdefault(key, _Entry())
                entry.users += 1
                try:
                    await entry.lock.acquire()
                except BaseException:
                    self._forget(key, entry)
                    raise
                acquired.append(key)
        except BaseException:
            self.release(acquired)
            raise
        return acquired

    def release(self, keys: Iterable[Hashable]) -> None:
        for key in keys:
            entry = self._entries[key]
            entry.lock.release()
            self._forget(key, entry)

    def _forget(self, key: Hashable, entry: _Entry) -> None:
        entry.users -= 1
        if entry.users == 0:
            del self._entries[key]

    def __len__(self) -> int:
        return len(self._entries)
