"""Every test here needs a real PostgreSQL server: its fixtures live in
``tests/postgres_fixtures.py``, loaded for the whole suite by pyproject's ``addopts``."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(params=["stripes", "portable"])
def locks(request: pytest.FixtureRequest) -> str:
    """Each lock strategy the service can be composed with (BANKING_ACCOUNT_LOCKS)."""
    return str(request.param)
