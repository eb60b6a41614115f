"""The domain imports only the standard library, the application only the domain.

import-linter checks the contracts between our packages; this test closes the gap it
leaves: a third-party import that no contract names.
"""

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ALLOWED = {
    "domain": {"domain"},
    "application": {"domain", "application"},
}


def imported_top_levels(package: str) -> set[tuple[str, str]]:
    found = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            found |= {(str(path.relative_to(ROOT)), name.split(".")[0]) for name in names}
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_only_the_standard_library_and_inner_layers(package: str) -> None:
    offending = sorted(
        (path, module)
        for path, module in imported_top_levels(package)
        if module not in sys.stdlib_module_names and module not in ALLOWED[package]
    )
    assert offending == []


def test_the_check_sees_imports_at_all() -> None:
    assert ("application/accounts.py", "domain") in imported_top_levels("application")
