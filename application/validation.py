"""Input rules of docs/api.md that hold whatever the transport: amounts, text, keys, currencies."""

from __future__ import annotations

from domain.currency import CurrencyCatalog
from domain.errors import ValidationError
from domain.money import Money

MAX_AMOUNT = 10**15
MAX_DESCRIPTION = 256
MAX_REFERENCE = 128
MAX_CLIENT_NAME = 64
MAX_IDEMPOTENCY_KEY = 255


def valid_money(catalog: CurrencyCatalog, amount: object, currency: str) -> Money:
    if type(amount) is not int or not 1 <= amount <= MAX_AMOUNT:
        raise ValidationError(f"amount must be an integer from 1 to {MAX_AMOUNT}")
    return Money(amount, valid_currency(catalog, currency))


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
