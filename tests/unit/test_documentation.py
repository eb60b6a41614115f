"""The repository documents itself: no link leaves it, and docs/api.md covers the API
the app serves (every operation of its OpenAPI description and every error code)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from infrastructure.memory.store import MemoryStore
from interfaces.container import Container, use_in_memory
from interfaces.http.app import create_app
from interfaces.http.problems import STATUS_BY_CODE

REPO = Path(__file__).resolve().parents[2]
API_DOC = REPO / "docs" / "api.md"
# Markdown a reader opens: the README, docs/ and bench/'s README.
DOCUMENTS = sorted({REPO / "README.md", *REPO.glob("docs/**/*.md"), *REPO.glob("bench/*.md")})
# Spelled in two parts so that this file does not mention it itself.
OUTSIDE = "/".join(("..", "shared"))
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(REPO)))
def test_every_relative_link_points_inside_the_repository(document: Path) -> None:
    text = document.read_text()

    targets = [t for t in LINK.findall(text) if not re.match(r"[a-z]+:", t)]
    for target in targets:
        resolved = (document.parent / target).resolve()
        assert resolved.is_relative_to(REPO), f"{target} leaves the repository"
        assert resolved.exists(), f"{target} does not exist"
    assert OUTSIDE not in text


async def _ready() -> bool:
    return True


def test_no_file_refers_to_documents_outside_the_repository() -> None:
    skipped = {".git", ".venv", "var", "build", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
    files = [
        path
        for path in REPO.rglob("*")
        if path.is_file()
        and not skipped & set(path.relative_to(REPO).parts)
        and not any(part.endswith(".egg-info") for part in path.parts)
        and path.suffix in {".py", ".md", ".toml", ".cfg", ".ini", ".sh", ""}
    ]
    assert files
    mentions = [path for path in files if OUTSIDE in path.read_text(errors="replace")]
    assert mentions == []


def test_docs_api_names_every_operation_the_app_serves() -> None:
    container = Container()
    use_in_memory(container, MemoryStore())
    document = create_app(container, admin_token="unused", readiness=_ready).openapi()
    documented = API_DOC.read_text()

    operations = [
        f"`{method.upper()} {re.sub(r'{[a-z_]+}', '{id}', path)}`"
        for path, methods in document["paths"].items()
        for method in methods
    ]
    assert operations
    missing = [operation for operation in operations if operation not in documented]
    assert missing == []


def test_docs_api_lists_every_error_code_with_its_status() -> None:
    documented = API_DOC.read_text()

    for code, status in STATUS_BY_CODE.items():
        assert f"| {status} | `{code}` |" in documented, code
