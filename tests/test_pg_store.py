"""The shared store's schema on a real PostgreSQL: migrations, connection errors."""

from __future__ import annotations

import threading

import psycopg
import pytest

from rag import pg

pytestmark = pytest.mark.postgres


def versions(url: str) -> list[int]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute("SELECT version FROM schema_version ORDER BY version")]


def test_migrations_apply_once_in_order_and_again_change_nothing(pg_url):
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert pg.schema_version(conn) == 0
        assert pg.apply_migrations(conn, pg_url) == 0
        assert pg.apply_migrations(conn, pg_url) == pg.SCHEMA_VERSION
        assert pg.schema_version(conn) == pg.SCHEMA_VERSION
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert versions(pg_url) == [v for v, _sql in pg.MIGRATIONS]
    assert {"builds", "current_build", "documents", "chunks", "feedback", "upload_jobs"} <= tables


def test_servers_starting_together_migrate_once(pg_url):
    found: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def migrate() -> None:
        try:
            with psycopg.connect(pg_url, autocommit=True) as conn:
                start.wait()
                found.append(pg.apply_migrations(conn, pg_url))
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=migrate) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(found) == [0] + [pg.SCHEMA_VERSION] * 3  # one applied everything, the others found it done
    assert versions(pg_url) == [v for v, _sql in pg.MIGRATIONS]


def test_a_newer_schema_is_refused(pg_url):
    with pg.connect(pg_url) as conn:
        conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (pg.SCHEMA_VERSION + 1,))
    with psycopg.connect(pg_url, autocommit=True) as conn, pytest.raises(pg.StoreUnavailable, match="upgrade"):
        pg.apply_migrations(conn, pg_url)


def test_an_unreachable_server_is_named_without_its_password(tmp_path):
    url = f"postgresql://rag:secret@/library?host={tmp_path}&port=1"
    with pytest.raises(pg.StoreUnavailable, match="cannot reach") as caught:
        pg.connect(url)
    assert "secret" not in str(caught.value)
    assert "RAG_DATABASE_URL" in str(caught.value)


def test_a_user_who_may_not_create_the_vector_extension_is_told_so(pg_server, pg_url):
    name = psycopg.conninfo.conninfo_to_dict(pg_url)["dbname"]
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute("DROP ROLE IF EXISTS reader")
        admin.execute("CREATE ROLE reader LOGIN")
        admin.execute(f'GRANT ALL ON DATABASE "{name}" TO reader')
        admin.execute("GRANT ALL ON SCHEMA public TO reader")
    url = pg_url.replace("postgres:@", "reader:@", 1)
    try:
        with pytest.raises(pg.StoreUnavailable, match="lacks the vector extension"):
            pg.connect(url)
    finally:
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute("DROP OWNED BY reader")
            admin.execute("DROP ROLE reader")
