"""Keyset pagination: a page of items and an opaque cursor to the next one."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, TypeVar

from domain.errors import ValidationError

T = TypeVar("T")

MAX_PAGE_SIZE = 200
DEFAULT_PAGE_SIZE = 50


@dataclass(frozen=True, slots=True)
class PageRequest:
    limit: int = DEFAULT_PAGE_SIZE
    after: str | None = None

    def __post_init__(self) -> None:
        if type(self.limit) is not int or not 1 <= self.limit <= MAX_PAGE_SIZE:
            raise ValidationError(f"limit must be an integer from 1 to {MAX_PAGE_SIZE}")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """``next_cursor`` is None exactly when no further items exist."""

    items: list[T]
    next_cursor: str | None


def encode_cursor(scope: str, position: list[str | int]) -> str:
    """A cursor names the list it belongs to (``scope``) and the last item's sort key."""
    raw = json.dumps({"s": scope, "p": position}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(scope: str, cursor: str, shape: tuple[type, ...]) -> list[str | int]:
    """The position inside ``scope``.

    A cursor issued for another list, or not shaped like this list's positions,
    is a validation error: never ignored, never clamped.
    """
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error):
        raise ValidationError("the cursor is not one this list issued") from None
    position = payload.get("p") if isinstance(payload, dict) else None
    if (
        not isinstance(payload, dict)
        or payload.get("s") != scope
        or not isinstance(position, list)
        or len(position) != len(shape)
        or any(type(part) is not kind for part, kind in zip(position, shape, strict=True))
    ):
        raise ValidationError("the cursor is not one this list issued")
    return position


def timestamp_position(moment: datetime) -> int:
    """A timestamp as whole microseconds since the epoch: exact and totally ordered."""
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
