"""The ISO 4217 catalog, from the ``iso4217`` package (updated with each ISO amendment)."""

from __future__ import annotations

from functools import cache

import iso4217

from domain.currency import Currency


class Iso4217Catalog:
    def find(self, code: str) -> Currency | None:
        return _find(code)


@cache
def _find(code: str) -> Currency | None:
    if len(code) != 3 or not code.isascii() or not code.isupper():
        return None
    try:
        entry = iso4217.Currency(code)
    except ValueError:
        return None
    if entry.exponent is None:  # funds, metals, testing and "no currency" codes
        return None
    return Currency(code=code, minor_unit=entry.exponent)
