"""Shared by every reliability test (``make reliability``; ``make test`` leaves this
directory out, see pyproject's ``testpaths``).

- ``reliability_report`` -> Report: ``report(name, summary)`` prints a test's numbers on
  one line, writes them to ``var/reliability/<name>.json`` (git-ignored), and lists the
  line again at the end of the run.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPORT_DIR = Path(__file__).resolve().parents[2] / "var" / "reliability"

Report = Callable[[str, dict[str, Any]], None]

_LINES = pytest.StashKey[list[str]]()


@pytest.fixture
def reliability_report(request: pytest.FixtureRequest) -> Report:
    def report(name: str, summary: dict[str, Any]) -> None:
        REPORT_DIR.mkdir(parents=True, exist_ok=True)
        path = REPORT_DIR / f"{name}.json"
        path.write_text(json.dumps(summary, indent=2, sort_keys=True, default=str) + "\n")
        line = f"{name}: " + ", ".join(
            f"{field} {summary[field]}" for field in _HEADLINE if field in summary
        )
        print(line)
        request.config.stash.setdefault(_LINES, []).append(f"{line} ({path.name})")

    return report


# The numbers that go on the one line; the JSON file has the rest.
_HEADLINE = (
    "requests_sent",
    "operations",
    "acknowledged",
    "refused",
    "retried_requests",
    "retried_operations",
    "retry_causes",
    "unanswered",
    "server_errors",
    "reconcile",
    "ready_again_after_seconds",
)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    lines = config.stash.get(_LINES, [])
    if lines:
        terminalreporter.section("reliability numbers")
        for line in lines:
            terminalreporter.write_line(line)
