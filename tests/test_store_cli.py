"""Choosing a store (`warroom serve --store`, the config's store) and moving one (`warroom store copy`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.config import load_hub_config
from server.runner import HubServer
from server.store import PostgresStore, SchemaMismatch
from server.store.postgres import SCHEMA_VERSION
from tests.conftest import TOKEN, ClientFactory, declare, fetch_postgres, issue, log_of
from tests.pg import Cluster
from tests.test_cli import warroom
from warroom.client import HubClient
from warroom.core.errors import WarroomError


async def a_used_hub(db: Path, make_client: ClientFactory) -> tuple[str, list[str]]:
    """A SQLite hub with two incidents, a personal token and an audit log; stopped. Its token and rooms."""
    server = HubServer(db, TOKEN)
    await server.start()
    try:
        client = await make_client(server.url, "ann")
        rooms = [await declare(client, "Checkout is down"), await declare(client, "Search is slow", "SEV3")]
        for n in range(30):
            await client.send("entry.added", {"text": f"step {n} é"}, rooms[n % 2])
        token = await issue(server, "bob", level="responder")
    finally:
        await server.stop()
    return token, rooms


@pytest.mark.sqlite_only  # the SQLite side of a copy
async def test_a_sqlite_hub_moves_to_postgresql_and_back_whole(
    tmp_path: Path, pg_cluster: Cluster, env: dict[str, str], make_client: ClientFactory
) -> None:
    db = tmp_path / "hub.db"
    token, rooms = await a_used_hub(db, make_client)
    url = pg_cluster.fresh_url()

    moved = await warroom(env, "store", "copy", "--from", f"sqlite:{db}", "--to", url)
    assert moved.code == 0, moved.err
    assert (
        moved.out.startswith("copied 32 events in 2 incidents, 1 tokens") and "both logs match" in moved.out
    )
    assert log_of(url) == log_of(db)

    server = HubServer(db, TOKEN, store=url)  # the same signing secret, beside --db
    await server.start()
    try:
        bob = HubClient(server.url, token, "bob")  # a token made on SQLite works on PostgreSQL
        await bob.connect()
        view = await bob.join(rooms[0])
        assert [e.text for e in view.state.entries.values()].count("step 0 é") == 1
        assert await declare(bob, "A third") == "INC-3"  # numbering carries on past the copied rooms
        await bob.close()
        audit = await server.access.store.audit(None, None, 100)
        assert any(line.kind == "token.created" for line in audit)
    finally:
        await server.stop()

    back = tmp_path / "back.db"
    returned = await warroom(env, "store", "copy", "--from", url, "--to", f"sqlite:{back}")
    assert returned.code == 0, returned.err
    assert log_of(back) == log_of(url) and len(log_of(back)) == len(log_of(db)) + 2


@pytest.mark.sqlite_only  # the SQLite side of a copy
async def test_a_store_that_holds_anything_is_never_copied_over(
    tmp_path: Path, pg_cluster: Cluster, env: dict[str, str], make_client: ClientFactory
) -> None:
    db = tmp_path / "hub.db"
    await a_used_hub(db, make_client)
    url = pg_cluster.fresh_url()
    assert (await warroom(env, "store", "copy", "--from", str(db), "--to", url)).code == 0
    before = log_of(url)
    other = tmp_path / "other.db"
    await a_used_hub(other, make_client)

    refused = (await warroom(env, "store", "copy", "--from", str(other), "--to", url)).one_line_error()
    assert "is not empty" in refused and "copy only into an empty store" in refused
    assert log_of(url) == before
    refused = (await warroom(env, "store", "copy", "--from", url, "--to", f"sqlite:{db}")).one_line_error()
    assert "is not empty" in refused
    missing = (
        await warroom(env, "store", "copy", "--from", str(tmp_path / "nope.db"), "--to", url)
    ).one_line_error()
    assert "does not exist" in missing
    bad = (await warroom(env, "store", "copy", "--from", "redis://x/1", "--to", url)).one_line_error()
    assert "redis" in bad


async def test_serve_refuses_a_store_it_cannot_use_in_one_line(tmp_path: Path, env: dict[str, str]) -> None:
    serve = ["serve", "--port", "0", "--http-port", "0", "--db", str(tmp_path / "hub.db"), "--token", TOKEN]
    unknown = (await warroom(env, *serve, "--store", "redis://cache/0")).one_line_error()
    assert "redis:// stores are not known" in unknown
    away = f"postgresql://warroom:s3cret@/warroom?host={tmp_path}"  # no server on that socket
    line = (await warroom(env, *serve, "--store", away)).one_line_error()
    assert line.startswith("warroom: cannot start the hub on postgresql://warroom:***@/warroom")
    assert "s3cret" not in line
    config = tmp_path / "hub.toml"
    config.write_text(f'store = "{away}"\nstore_password_file = "missing-password"\n')
    line = (await warroom(env, *serve, "--config", str(config))).one_line_error()
    assert "missing-password" in line and "s3cret" not in line
    config.write_text('store = "mysql://x"\n')
    line = (await warroom(env, *serve, "--config", str(config))).one_line_error()
    assert "store: a store URL" in line


async def test_a_postgresql_database_carries_its_schema_version(pg_cluster: Cluster) -> None:
    url = pg_cluster.fresh_url()
    store = PostgresStore(url)
    assert await store.upgrade() == (None, SCHEMA_VERSION)  # a new database, made whole
    assert await PostgresStore(url).upgrade() == (SCHEMA_VERSION, SCHEMA_VERSION)  # nothing to do
    rows = fetch_postgres(url, "SELECT value FROM meta WHERE key = 'schema_version'")
    assert rows == [(str(SCHEMA_VERSION),)]
    newer = SCHEMA_VERSION + 1
    schema = url.rsplit("search_path=", 1)[1]
    pg_cluster.sql("warroom", f"UPDATE {schema}.meta SET value = '{newer}' WHERE key = 'schema_version'")
    with pytest.raises(SchemaMismatch, match=f"schema version {newer}, newer than this warroom knows"):
        await PostgresStore(url).open()
    with pytest.raises(SchemaMismatch, match="newer"):
        await PostgresStore(url).upgrade()


async def test_a_reload_that_changes_the_store_is_refused_whole(tmp_path: Path) -> None:
    config = tmp_path / "hub.toml"
    config.write_text(f'store = "sqlite:{tmp_path / "hub.db"}"\n')
    server = HubServer(tmp_path / "hub.db", TOKEN, config=load_hub_config(config), config_path=config)
    await server.start()
    try:
        config.write_text('store = "postgresql://warroom@db.internal/warroom"\n')
        with pytest.raises(WarroomError, match="store changed: restart the hub"):
            await server.reload_config()
        assert server.config.store == f"sqlite:{tmp_path / 'hub.db'}"
    finally:
        await server.stop()


async def test_db_upgrade_makes_and_then_leaves_a_postgresql_database(
    pg_cluster: Cluster, env: dict[str, str]
) -> None:
    url = pg_cluster.fresh_url()
    made = await warroom(env, "db", "upgrade", "--store", url)
    assert made.code == 0 and f"a new database, made at schema version {SCHEMA_VERSION}" in made.out
    again = await warroom(env, "db", "upgrade", "--store", url)
    assert again.code == 0 and "nothing to do" in again.out
    away = await warroom(
        env, "db", "upgrade", "--store", f"postgresql://warroom:pw@/x?host={pg_cluster.root}/no"
    )
    assert "PostgreSQL" in away.one_line_error() and ":pw@" not in away.err
