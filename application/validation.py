"""Input rules of docs/api.md that hold whatever the transport: amounts, text, keys, currencies."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta

from domain.currency import CurrencyCatalog
from domain.errors import ValidationError
from domain.money import Money

MAX_AMOUNT = 10**15
MAX_DESCRIPTION = 256
MAX_REFERENCE = 128
MAX_CLIENT_NAME = 64
MAX_IDEMPOTENCY_KEY = 255
MAX_OVERDRAFT_LIMIT = 10**15
MAX_METADATA_KEYS = 50
MAX_METADATA_VALUE = 500
_METADATA_KEY = re.compile(r"[A-Za-z0-9_.-]{1,40}")
MAX_HOLD_SECONDS = 30 * 24 * 3600
DEFAULT_HOLD_SECONDS = 7 * 24 * 3600


def valid_money(catalog: CurrencyCatalog, amount: object, currency: str) -> Money:
    return Money(valid_amount(amount), valid_currency(catalog, currency))


def valid_amount(amount: object) -> int:
    if type(amount) is not int or not 1 <= amount <= MAX_AMOUNT:
        raise ValidationError(f"amount must be an integer from 1 to {MAX_AMOUNT}")
    return amount


def valid_currency(catalog: CurrencyCatalog, code: str) -> str:
    if catalog.find(code) is None:
        raise ValidationError(f"{code!r} is not an active ISO 4217 currency with a minor unit")
    return code


def valid_text(
    value: str | None, field: str, max_length: int, *, required: bool = False
) -> str | None:
    """Lengths count code points; NUL and lone surrogates are refused."""
    if value is None:
        if required:
            raise ValidationError(f"{field} is required")
        return None
    if required and not value:
        raise ValidationError(f"{field} must not be empty")
    if len(value) > max_length:
        raise ValidationError(f"{field} must be at most {max_length} characters")
    if "\x00" in value or any("\ud800" <= char <= "\udfff" for char in value):
        raise ValidationError(f"{field} contains a NUL or an unpaired surrogate")
    return value


def valid_idempotency_key(key: str) -> str:
    if not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY or any(not " " <= char <= "~" for char in key):
        raise ValidationError(
            f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters"
        )
    return key


def valid_overdraft_limit(limit: object) -> int:
    if type(limit) is not int or not 0 <= limit <= MAX_OVERDRAFT_LIMIT:
        raise ValidationError(f"overdraft_limit must be an integer from 0 to {MAX_OVERDRAFT_LIMIT}")
    return limit


def valid_metadata(
    metadata: Mapping[str, str | None] | None, *, removals: bool = False
) -> dict[str, str | None]:
    """At most 50 keys of 1..40 characters of ``[A-Za-z0-9_.-]``, each to a text of at
    most 500 code points; a None value (removing the key) only where ``removals``."""
    if metadata is None:
        return {}
    if len(metadata) > MAX_METADATA_KEYS:
        raise ValidationError(f"metadata holds at most {MAX_METADATA_KEYS} keys")
    checked: dict[str, str | None] = {}
    for key, value in metadata.items():
        if not isinstance(key, str) or not _METADATA_KEY.fullmatch(key):
            raise ValidationError("a metadata key is 1 to 40 characters of A-Z a-z 0-9 _ . -")
        if value is None and not removals:
            raise ValidationError(f"metadata[{key}] must be a string")
        if value is not None:
            if not isinstance(value, str):
                raise ValidationError(f"metadata[{key}] must be a string")
            valid_text(value, f"metadata[{key}]", MAX_METADATA_VALUE)
        checked[key] = value
    return checked


def fixed_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    """Metadata of an object that cannot change it later: no None values."""
    return {key: value for key, value in valid_metadata(metadata).items() if value is not None}


def valid_hold_duration(seconds: object) -> timedelta:
    if type(seconds) is not int or not 1 <= seconds <= MAX_HOLD_SECONDS:
        raise ValidationError(f"expires_in_seconds must be an integer from 1 to {MAX_HOLD_SECONDS}")
    return timedelta(seconds=seconds)
