"""The migrations are the schema: they apply, revert and match ``tables.py`` exactly."""

from __future__ import annotations

from typing import Any

import psycopg
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from click.testing import CliRunner
from sqlalchemy.ext.asyncio import AsyncEngine

from infrastructure.postgres import migrate
from infrastructure.postgres.engine import libpq_url
from infrastructure.postgres.tables import metadata
from interfaces.cli import main

HEAD = "0008_batches"
INITIAL_TABLES = {"api_clients", "accounts", "transfers", "entries", "idempotency_keys"}
TABLES = INITIAL_TABLES | {"holds", "batches"}


def table_names(url: str) -> set[str]:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            return set(sa.inspect(connection).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_every_revision_upgrades_downgrades_and_upgrades_again(empty_database_url: str) -> None:
    # Given an empty database and the revisions from oldest to newest
    scripts = ScriptDirectory.from_config(migrate.alembic_config())
    revisions = list(reversed(list(scripts.walk_revisions())))

    # When each revision is applied, reverted and applied again (the "stairway")
    for revision in revisions:
        migrate.upgrade(empty_database_url, revision.revision)
        migrate.downgrade(empty_database_url, "-1")
        migrate.upgrade(empty_database_url, revision.revision)

    # Then the database is at head with every table, and reverting all of it leaves none
    assert migrate.is_at_head(empty_database_url)
    assert table_names(empty_database_url) == TABLES
    migrate.downgrade(empty_database_url, "base")
    assert table_names(empty_database_url) == set()
    assert migrate.current(empty_database_url) == ()


def _schema_differences(connection: sa.Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": True}
    )
    return list(compare_metadata(context, metadata))


def _named_details(connection: sa.Connection) -> dict[str, object]:
    # What autogenerate does not compare: CHECK constraint names and index INCLUDE columns.
    inspector = sa.inspect(connection)
    details: dict[str, object] = {}
    for table in TABLES:
        for check in inspector.get_check_constraints(table):
            details[check["name"] or "?"] = table
        for index in inspector.get_indexes(table):
            details[index["name"] or "?"] = index["dialect_options"].get("postgresql_include")
    return details


def _expected_named_details() -> dict[str, object]:
    details: dict[str, object] = {}
    for table in metadata.tables.values():
        for constraint in table.constraints:
            if isinstance(constraint, sa.CheckConstraint):
                details[str(constraint.name)] = table.name
        for index in table.indexes:
            details[str(index.name)] = list(index.dialect_options["postgresql"]["include"] or [])
        for unique in table.constraints:
            if isinstance(unique, sa.UniqueConstraint):
                details[str(unique.name)] = []  # reflected as an index too
    return details


async def test_migrated_schema_matches_the_tables_module(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        differences = await connection.run_sync(_schema_differences)
        named = await connection.run_sync(_named_details)

    assert differences == []
    assert named == _expected_named_details()


def test_offline_sql_creates_every_table() -> None:
    script = migrate.offline_sql("base:head")

    for table in TABLES:
        assert f"CREATE TABLE {table} (" in script
    assert "CONSTRAINT pk_idempotency_keys PRIMARY KEY (client_id, key)" in script
    assert script.rstrip().endswith("COMMIT;")


def test_db_commands_report_upgrade_and_list_history(empty_database_url: str) -> None:
    runner = CliRunner()
    env = {"BANKING_DATABASE_URL": empty_database_url}

    before = runner.invoke(main, ["db", "current"], env=env)
    upgraded = runner.invoke(main, ["db", "upgrade"], env=env)
    after = runner.invoke(main, ["db", "current"], env=env)
    history = runner.invoke(main, ["db", "history"], env=env)

    assert (before.exit_code, before.output) == (0, "<base> (no migrations applied)\n")
    assert (upgraded.exit_code, upgraded.output) == (0, f"Schema at {HEAD} (head).\n")
    assert (after.exit_code, after.output) == (0, f"{HEAD} (head)\n")
    assert history.exit_code == 0
    assert history.output.startswith(f"0007_lighter_write_indexes -> {HEAD} (head), Batches")
    assert "0006_transfer_listing -> 0007_lighter_write_indexes, Fewer index writes" in (
        history.output
    )
    assert "0005_holds_and_limits -> 0006_transfer_listing, Transfer listing" in history.output
    assert "0004_bigint_versions -> 0005_holds_and_limits, Holds (two-phase transfers)" in (
        history.output
    )
    assert "0003_lock_stripes -> 0004_bigint_versions, Account versions as BIGINT" in (
        history.output
    )
    assert "0002_key_rotation -> 0003_lock_stripes, Lock stripes" in history.output
    assert "<base> -> 0001, Initial schema" in history.output
    assert table_names(empty_database_url) == TABLES


def test_db_command_failures_are_one_line_without_traceback() -> None:
    runner = CliRunner()
    unreachable = {"BANKING_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/postgres"}

    no_server = runner.invoke(main, ["db", "current"], env=unreachable)
    no_revision = runner.invoke(main, ["db", "sql", "9999"])

    assert no_server.exit_code == 1
    assert no_server.output.startswith("Error: connection failed")
    assert no_server.output.count("\n") == 1
    assert (no_revision.exit_code, no_revision.output) == (
        1,
        "Error: No such revision or branch '9999'\n",
    )


def _with_one_client(url: str) -> None:
    with psycopg.connect(libpq_url(url)) as connection:
        connection.execute(
            "INSERT INTO api_clients (id, name, key_hash, created_at)"
            " VALUES (gen_random_uuid(), 'acme', repeat('a', 64), now())"
        )


def _chain() -> list[str]:
    """The revisions as the scripts define them, newest first: the tests below step down
    the real chain, whatever migrations are added to it later."""
    scripts = ScriptDirectory.from_config(migrate.alembic_config())
    return [script.revision for script in scripts.walk_revisions()]


def _described(revision: str) -> str:
    script = ScriptDirectory.from_config(migrate.alembic_config()).get_revision(revision)
    assert script is not None
    return f"{revision} ({script.doc.rstrip('.')})"


def test_the_chain_is_one_line_from_0001_to_a_single_head() -> None:
    # The downgrade tests step down this chain; a branch would make "-1" ambiguous.
    chain = _chain()
    assert migrate.heads() == (chain[0],)
    assert chain[-1] == "0001"
    assert len(chain) >= 3


def test_a_downgrade_that_drops_data_needs_yes_off_a_terminal(database_url: str) -> None:
    # Given a database at head that holds a row
    _with_one_client(database_url)
    runner = CliRunner()
    env = {"BANKING_DATABASE_URL": database_url}
    chain = _chain()

    # When it is downgraded to base without --yes, from a script (stdin is no terminal)
    refused = runner.invoke(main, ["db", "downgrade", "base"], env=env)

    # Then nothing changed, and the refusal names every migration it would undo (newest
    # first, one a line), what would be lost and how to go ahead
    assert refused.exit_code == 1
    listed = "".join(f"\n  {_described(revision)}" for revision in chain)
    assert refused.output == (
        f"Error: Downgrading to <base> undoes {len(chain)} migrations, newest first:{listed}\n"
        "The database holds 1 row (api_clients 1); what they added is dropped with its data.\n"
        "Nothing was changed: pass --yes to go ahead.\n"
    )
    assert "\n  0001 (Initial schema" in refused.output
    assert migrate.is_at_head(database_url)
    assert table_names(database_url) == TABLES

    # When the operator confirms with --yes
    done = runner.invoke(main, ["db", "downgrade", "base", "--yes"], env=env)

    # Then it is done
    assert (done.exit_code, done.output) == (0, "Schema at <base> (no migrations applied).\n")
    assert table_names(database_url) == set()


def test_downgrade_takes_minus_one_as_alembic_users_type_it(database_url: str) -> None:
    runner = CliRunner()
    env = {"BANKING_DATABASE_URL": database_url}
    head, below_head, two_below = _chain()[:3]

    # A database without rows loses nothing: no confirmation is needed; -1 is one step
    stepped = runner.invoke(main, ["db", "downgrade", "-1"], env=env)
    assert (stepped.exit_code, stepped.output) == (0, f"Schema at {below_head}.\n")

    # With a row, -1 asks first, naming the one migration it undoes and where it ends
    migrate.upgrade(database_url)
    _with_one_client(database_url)
    refused = runner.invoke(main, ["db", "downgrade", "-1"], env=env)
    assert refused.exit_code == 1
    assert refused.output.startswith(
        f"Error: Downgrading to {below_head} undoes {_described(head)}.\n"
        "The database holds 1 row (api_clients 1); what this migration added is dropped"
    )
    assert migrate.is_at_head(database_url)

    # And it is taken before or after an option, one step each time
    confirmed = runner.invoke(main, ["db", "downgrade", "--yes", "-1"], env=env)
    assert (confirmed.exit_code, confirmed.output) == (0, f"Schema at {below_head}.\n")
    confirmed = runner.invoke(main, ["db", "downgrade", "-1", "--yes"], env=env)
    assert (confirmed.exit_code, confirmed.output) == (0, f"Schema at {two_below}.\n")


def test_db_sql_of_a_downward_range_prints_the_downgrade() -> None:
    runner = CliRunner()

    printed = runner.invoke(main, ["db", "sql", "0001:base"])

    assert printed.exit_code == 0, printed.output
    script = printed.output
    assert script.startswith("-- Downgrade from 0001 to base: undoes 0001 (Initial schema")
    for table in INITIAL_TABLES:
        assert f"DROP TABLE {table};" in script
    assert "DELETE FROM alembic_version WHERE alembic_version.version_num = '0001';" in script
    assert script.rstrip().endswith("COMMIT;")


def test_db_sql_of_a_range_that_runs_nothing_says_so() -> None:
    runner = CliRunner()

    same = runner.invoke(main, ["db", "sql", "0001:0001"])

    assert same.exit_code == 1
    assert same.output.startswith("Error: nothing to run from 0001 to 0001: ")
    assert same.output.count("\n") == 1


def test_key_rotation_keeps_existing_keys_and_its_downgrade_keeps_revoked_keys_dead(
    empty_database_url: str,
) -> None:
    engine = sa.create_engine(empty_database_url, poolclass=sa.pool.NullPool)
    live, revoked = "a" * 64, "b" * 64
    try:
        migrate.upgrade(empty_database_url, "0001")
        with engine.begin() as connection:
            for name, key_hash in (("live", live), ("revoked", revoked)):
                connection.execute(
                    sa.text(
                        "INSERT INTO api_clients (id, name, key_hash, created_at)"
                        " VALUES (gen_random_uuid(), :name, :key_hash, now())"
                    ),
                    {"name": name, "key_hash": key_hash},
                )

        migrate.upgrade(empty_database_url, HEAD)
        with engine.begin() as connection:
            rows = connection.execute(
                sa.text(
                    "SELECT key_hash, previous_key_hash, previous_key_expires_at, revoked_at"
                    " FROM api_clients ORDER BY name"
                )
            ).all()
            assert [tuple(row) for row in rows] == [
                (live, None, None, None),
                (revoked,) + (None,) * 3,
            ]
            connection.execute(
                sa.text("UPDATE api_clients SET revoked_at = now() WHERE name = 'revoked'")
            )

        migrate.downgrade(empty_database_url, "0001")
        with engine.begin() as connection:
            result = connection.execute(sa.text("SELECT name, key_hash FROM api_clients"))
            hashes: dict[str, str] = {row.name: row.key_hash for row in result}
        assert hashes["live"] == live
        assert hashes["revoked"] not in (revoked, live)
        assert len(hashes["revoked"]) == 64
    finally:
        engine.dispose()


TOP = 2**31 - 1  # INTEGER's last value


def _populated_at_0003(url: str) -> sa.Engine:
    """A database at 0003 whose books hold an account at INTEGER's last version."""
    migrate.upgrade(url, "0003_lock_stripes")
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    client, settlement, a1, a2, deposit, transfer = (
        f"00000000-0000-0000-0000-{n:012x}" for n in (0xC, 0xF0, 0xA1, 0xA2, 0xB1, 0xB2)
    )
    statements: list[tuple[str, list[dict[str, Any]]]] = [
        (
            "INSERT INTO api_clients (id, name, key_hash, created_at)"
            " VALUES (:id, 'acme', repeat('a', 64), now())",
            [{"id": client}],
        ),
        (
            "INSERT INTO accounts (id, owner_id, currency, kind, status, balance, version,"
            " created_at) VALUES (:id, :owner, 'USD', :kind, 'active', :balance, :version, now())",
            [
                {"id": a1, "owner": client, "kind": "customer", "balance": 70, "version": TOP},
                {"id": a2, "owner": client, "kind": "customer", "balance": 30, "version": 2},
                {"id": settlement, "owner": None, "kind": "settlement", "balance": 0, "version": 1},
            ],
        ),
        (
            "INSERT INTO transfers (id, kind, source_account_id, destination_account_id,"
            " amount, currency, status, created_at)"
            " VALUES (:id, :kind, :source, :destination, :amount, 'USD', 'posted', now())",
            [
                {
                    "id": deposit,
                    "kind": "deposit",
                    "source": settlement,
                    "destination": a1,
                    "amount": 100,
                },
                {"id": transfer, "kind": "transfer", "source": a1, "destination": a2, "amount": 30},
            ],
        ),
        (
            "INSERT INTO entries (id, transfer_id, account_id, amount, currency, balance_after,"
            " account_version, created_at)"
            " VALUES (gen_random_uuid(), :transfer, :account, :amount, 'USD', :after, :version,"
            " now())",
            [
                {
                    "transfer": deposit,
                    "account": settlement,
                    "amount": -100,
                    "after": None,
                    "version": None,
                },
                {
                    "transfer": deposit,
                    "account": a1,
                    "amount": 100,
                    "after": 100,
                    "version": TOP - 1,
                },
                {"transfer": transfer, "account": a1, "amount": -30, "after": 70, "version": TOP},
                {"transfer": transfer, "account": a2, "amount": 30, "after": 30, "version": 2},
            ],
        ),
    ]
    with engine.begin() as connection:
        for statement, rows in statements:
            connection.execute(sa.text(statement), rows)
    return engine


def _version_types(connection: sa.Connection) -> dict[str, str]:
    rows = connection.execute(
        sa.text(
            "SELECT table_name || '.' || column_name, data_type FROM information_schema.columns"
            " WHERE (table_name, column_name) IN"
            " (('accounts', 'version'), ('entries', 'account_version'))"
        )
    )
    return {str(name): str(data_type) for name, data_type in rows}


def _books(connection: sa.Connection) -> list[Any]:
    return [
        connection.execute(sa.text(f"SELECT * FROM {table} ORDER BY 1")).all()
        for table in ("api_clients", "accounts", "transfers", "entries", "idempotency_keys")
    ]


def test_bigint_versions_keep_a_populated_ledger_and_refuse_a_downgrade_that_cannot_fit(
    empty_database_url: str,
) -> None:
    # Given books at 0003 with an account at INTEGER's last version
    engine = _populated_at_0003(empty_database_url)
    runner = CliRunner()
    env = {"BANKING_DATABASE_URL": empty_database_url}
    try:
        with engine.connect() as connection:
            before = _books(connection)
            assert set(_version_types(connection).values()) == {"integer"}

        # When it is upgraded to 0004
        migrate.upgrade(empty_database_url, "0004_bigint_versions")

        # Then both version columns are BIGINT and every row is as it was
        with engine.begin() as connection:
            assert set(_version_types(connection).values()) == {"bigint"}
            assert _books(connection) == before
            # ... and the account can pass INTEGER's last version
            connection.execute(
                sa.text("UPDATE accounts SET version = version + 1 WHERE version = :top"),
                {"top": TOP},
            )
            beyond = _books(connection)

        # When a downgrade would have to squeeze that version back into INTEGER
        refused = runner.invoke(main, ["db", "downgrade", "0003_lock_stripes", "--yes"], env=env)

        # Then it is refused in one line that names the account, and nothing changed
        assert refused.exit_code == 1
        assert refused.output == (
            "Error: cannot downgrade 0004_bigint_versions: account"
            " 00000000-0000-0000-0000-0000000000a1 is at version 2147483648, beyond INTEGER"
            " (at most 2147483647); nothing was changed\n"
        )
        assert migrate.current(empty_database_url) == ("0004_bigint_versions",)
        with engine.connect() as connection:
            assert set(_version_types(connection).values()) == {"bigint"}
            assert _books(connection) == beyond

        # When every version fits again, the downgrade goes through and keeps every row
        with engine.begin() as connection:
            connection.execute(
                sa.text("UPDATE accounts SET version = :top WHERE version > :top"),
                {"top": TOP},
            )
        migrate.downgrade(empty_database_url, "0003_lock_stripes")
        with engine.connect() as connection:
            assert set(_version_types(connection).values()) == {"integer"}
            assert _books(connection) == before
    finally:
        engine.dispose()
