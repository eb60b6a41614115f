"""Which currencies the bank accepts, as a port: the data comes from a maintained library."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Currency:
    code: str
    minor_unit: int  # digits after the decimal point: USD 2, JPY 0, BHD 3


class CurrencyCatalog(Protocol):
    def find(self, code: str) -> Currency | None:
        """The active ISO 4217 currency with a defined minor unit, or None.

        Codes are case-sensitive (``usd`` is not a currency); funds and metals
        without a minor unit (``XAU``, ``XXX``) are not accepted.
        """
        ...
