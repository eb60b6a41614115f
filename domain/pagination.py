"""Keyset pagination: a page of items and an opaque, signed cursor to the next one."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, TypeVar

from domain.errors import ValidationError

T = TypeVar("T")

MAX_PAGE_SIZE = 200
DEFAULT_PAGE_SIZE = 50

# What any position field may hold, checked before a position reaches a query: an
# integer a SQL BIGINT takes, a string no longer than an id. A database refuses
# anything larger with an error, not an empty page.
MIN_POSITION_INT = -(2**63)
MAX_POSITION_INT = 2**63 - 1
MAX_POSITION_TEXT = 64
_MAC_BYTES = 16  # 128 bits: forging one is a 2**-128 guess per request
_NOT_ISSUED = "the cursor is not one this list issued"

# Until the composition root sets the deployment's key, a process signs with a key of
# its own: its cursors are valid in that process only.
_signing_key = secrets.token_bytes(32)


def use_cursor_key(key: bytes) -> None:
    """Sign and check cursors with ``key`` from now on.

    Every process serving one deployment must use the same key, or a cursor issued by
    one worker is refused by the next.
    """
    global _signing_key
    if len(key) < 16:
        raise ValueError("a cursor key needs at least 16 bytes")
    _signing_key = key


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
    """A cursor names the list it belongs to (``scope``) and the last item's sort key,
    followed by a MAC of both, so that only cursors this service issued are taken."""
    raw = json.dumps({"s": scope, "p": position}, separators=(",", ":")).encode()
    payload = _b64(raw)
    return f"{payload}.{_b64(_mac(payload))}"


def decode_cursor(scope: str, cursor: str, shape: tuple[type, ...]) -> list[str | int]:
    """The position inside ``scope``.

    A cursor this service did not sign, one issued for another list, or one not shaped
    like this list's positions is a validation error: never ignored, never clamped.
    """
    payload, _, mac = cursor.partition(".")
    try:
        genuine = hmac.compare_digest(_unb64(mac), _mac(payload))
        content = json.loads(_unb64(payload)) if genuine else None
    except (ValueError, UnicodeError, binascii.Error):
        raise ValidationError(_NOT_ISSUED) from None
    position = content.get("p") if isinstance(content, dict) else None
    if (
        not isinstance(content, dict)
        or content.get("s") != scope
        or not isinstance(position, list)
        or len(position) != len(shape)
        or not all(_fits(part, kind) for part, kind in zip(position, shape, strict=True))
    ):
        raise ValidationError(_NOT_ISSUED)
    return position


def timestamp_position(moment: datetime) -> int:
    """A timestamp as whole microseconds since the epoch: exact and totally ordered."""
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _fits(part: object, kind: type) -> bool:
    if type(part) is not kind:  # `type`, not isinstance: True is no integer here
        return False
    if isinstance(part, int):
        return MIN_POSITION_INT <= part <= MAX_POSITION_INT
    return isinstance(part, str) and len(part) <= MAX_POSITION_TEXT


def _mac(payload: str) -> bytes:
    digest = hmac.new(_signing_key, payload.encode("utf-8", "replace"), hashlib.sha256)
    return digest.digest()[:_MAC_BYTES]


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    padded = text + "=" * (-len(text) % 4)
    return base64.urlsafe_b64decode(padded.encode("ascii"))
