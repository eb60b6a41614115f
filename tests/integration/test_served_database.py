from pathlib import Path

import psycopg
import pytest

from infrastructure.postgres import migrate
from infrastructure.postgres.engine import libpq_url
from infrastructure.postgres.served import SchemaNotAtHeadError, served_database
from infrastructure.settings import Settings


def test_the_embedded_default_migrates_and_a_second_start_reuses_the_data(tmp_path: Path) -> None:
    settings = Settings(database_url=None, data_dir=tmp_path / "pg")
    with served_database(settings) as url:
        assert migrate.is_at_head(url)
        with psycopg.connect(libpq_url(url), autocommit=True) as connection:
            connection.execute(
                "INSERT INTO api_clients (id, name, key_hash, created_at)"
                " VALUES (gen_random_uuid(), 'kept', repeat('a', 64), now())"
            )
    with served_database(settings) as url, psycopg.connect(libpq_url(url)) as connection:
        names = connection.execute("SELECT name FROM api_clients").fetchall()
    assert names == [("kept",)]


def test_a_configured_database_must_already_be_at_head(empty_database_url: str) -> None:
    with (
        pytest.raises(SchemaNotAtHeadError, match="banking db upgrade"),
        served_database(Settings(database_url=empty_database_url)),
    ):
        pass


def test_a_configured_database_at_head_is_served_as_is(database_url: str) -> None:
    with served_database(Settings(database_url=database_url)) as url:
        assert url == database_url
