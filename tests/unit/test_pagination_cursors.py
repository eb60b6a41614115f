"""Cursors: signed by the service, bound to their list, checked field by field before
any query sees them."""

from __future__ import annotations

import base64
import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from domain import pagination
from domain.errors import ValidationError
from domain.pagination import decode_cursor, encode_cursor, use_cursor_key
from infrastructure.cursor_secret import cursor_secret, cursor_secret_file
from infrastructure.settings import Settings


@pytest.fixture(autouse=True)
def restore_key() -> Iterator[None]:
    key = pagination._signing_key
    yield
    pagination._signing_key = key


def test_an_issued_cursor_decodes_to_its_position() -> None:
    cursor = encode_cursor("entries:a", [41])

    assert decode_cursor("entries:a", cursor, (int,)) == [41]


def test_a_cursor_signed_under_another_key_is_refused() -> None:
    use_cursor_key(b"k" * 32)
    cursor = encode_cursor("entries:a", [41])
    use_cursor_key(b"j" * 32)

    with pytest.raises(ValidationError):
        decode_cursor("entries:a", cursor, (int,))


def test_two_processes_with_one_key_accept_each_others_cursors() -> None:
    use_cursor_key(b"shared-secret-of-the-deployment")
    cursor = encode_cursor("accounts:x", [5, "id"])
    pagination._signing_key = b"another-process-random-default!!"
    use_cursor_key(b"shared-secret-of-the-deployment")

    assert decode_cursor("accounts:x", cursor, (int, str)) == [5, "id"]


@pytest.mark.parametrize(
    ("position", "shape"),
    [
        ([2**63], (int,)),
        ([-(2**63) - 1], (int,)),
        ([True], (int,)),
        ([1.0], (int,)),
        (["1"], (int,)),
        ([1, "x" * 65], (int, str)),
        ([1, 2], (int, str)),
        ([1], (int, str)),
    ],
)
def test_a_signed_position_out_of_type_or_range_is_refused(
    position: list[str | int], shape: tuple[type, ...]
) -> None:
    # Signed with the service's own key: the checks do not rely on the signature.
    cursor = encode_cursor("s", position)

    with pytest.raises(ValidationError):
        decode_cursor("s", cursor, shape)


def test_the_limits_of_a_bigint_are_in_range() -> None:
    for value in (2**63 - 1, -(2**63)):
        assert decode_cursor("s", encode_cursor("s", [value]), (int,)) == [value]


def test_an_unsigned_cursor_of_the_old_form_is_refused() -> None:
    raw = json.dumps({"s": "s", "p": [1]}).encode()
    unsigned = base64.urlsafe_b64encode(raw).decode().rstrip("=")

    with pytest.raises(ValidationError):
        decode_cursor("s", unsigned, (int,))


def test_a_short_key_is_refused() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        use_cursor_key(b"short")


def test_the_embedded_default_keeps_one_private_key_across_runs(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "pg", database_url=None, cursor_secret=None)

    first, second = cursor_secret(settings), cursor_secret(settings)

    assert first == second
    assert len(first) >= 32
    path = cursor_secret_file(settings)
    assert path.parent == tmp_path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not (tmp_path / "pg").exists()  # initdb still finds an empty place
    assert [entry.name for entry in tmp_path.iterdir()] == [path.name]


def test_a_configured_secret_wins_and_a_configured_database_gets_one_per_run(
    tmp_path: Path,
) -> None:
    configured = Settings(data_dir=tmp_path, cursor_secret=SecretStr("s" * 32))
    external = Settings(data_dir=tmp_path, database_url="postgresql+psycopg://x/y")

    assert cursor_secret(configured) == "s" * 32
    assert cursor_secret(external) != cursor_secret(external)
    assert list(tmp_path.iterdir()) == []
