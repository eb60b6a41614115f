import pytest

from domain.errors import CurrencyMismatchError
from domain.money import Money


def test_adds_and_subtracts_within_one_currency() -> None:
    assert Money(150, "USD") + Money(50, "USD") == Money(200, "USD")
    assert Money(150, "USD") - Money(200, "USD") == Money(-50, "USD")
    assert -Money(5, "JPY") == Money(-5, "JPY")


def test_compares_within_one_currency() -> None:
    assert Money(1, "USD") < Money(2, "USD")
    assert Money(2, "USD") >= Money(2, "USD")
    assert not Money(3, "USD") <= Money(2, "USD")


@pytest.mark.parametrize(
    "combine",
    [
        lambda a, b: a + b,
        lambda a, b: a - b,
        lambda a, b: a < b,
        lambda a, b: a <= b,
        lambda a, b: a > b,
        lambda a, b: a >= b,
    ],
)
def test_refuses_to_mix_currencies(combine) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CurrencyMismatchError):
        combine(Money(1, "USD"), Money(1, "EUR"))


@pytest.mark.parametrize("amount", [1.0, 10.5, "100", True, None])
def test_accepts_only_integer_minor_units(amount: object) -> None:
    with pytest.raises(TypeError):
        Money(amount, "USD")  # type: ignore[arg-type]


@pytest.mark.parametrize("currency", ["usd", "US", "USDX", "", "U1D"])
def test_needs_an_upper_case_three_letter_code(currency: str) -> None:
    with pytest.raises(ValueError, match="ISO 4217"):
        Money(1, currency)


def test_is_immutable() -> None:
    money = Money(1, "USD")
    with pytest.raises(AttributeError):
        money.amount = 2  # type: ignore[misc]
