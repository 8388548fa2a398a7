"""A migration never waits for ever on a transaction in doubt.

A new migration that alters a table held by a prepared transaction (a vote yes
left from before an upgrade) would wait for its lock, and the worker that
resolves that transaction would never start. The migrator waits at most
EVC_MIGRATION_LOCK_TIMEOUT_MS, then fails, names the prepared transactions that
hold the tables, and records nothing.
"""

import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import psycopg2

from conftest import REPO, stack_dir


def worker_binary():
    for line in Path(stack_dir(), "stack.env").read_text().splitlines():
        if line.startswith("EVC_WORKER_BIN="):
            return line.split("=", 1)[1]
    return str(REPO / "build" / "evc-worker")


def test_a_migration_blocked_by_a_prepared_transaction_fails_fast_and_names_it(companies, tmp_path):
    a = companies["a"]
    migrations = tmp_path / "migrations"
    shutil.copytree(REPO / "db" / "migrations", migrations)
    (migrations / "999_touch_stations.sql").write_text("ALTER TABLE stations ADD COLUMN touched integer;\n")
    gid = f"test_blocker_{uuid.uuid4().hex[:12]}"
    station = a.create_station(chargers=1)["id"]
    conn = psycopg2.connect(a.database_url, connect_timeout=10)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("BEGIN")
            cur.execute("UPDATE stations SET name = name WHERE id = %s", (station,))
            cur.execute(f"PREPARE TRANSACTION '{gid}'")
        env = dict(os.environ, EVC_COMPANY_ID="a", EVC_DATABASE_URL=a.database_url,
                   EVC_MIGRATIONS_DIR=str(migrations), EVC_MIGRATION_LOCK_TIMEOUT_MS="1500")
        started = time.monotonic()
        p = subprocess.run([worker_binary(), "migrate"], env=env, capture_output=True, text=True, timeout=60)
        elapsed = time.monotonic() - started
        assert p.returncode != 0, (p.returncode, p.stderr[-2000:])
        assert elapsed < 30, f"the migrator waited {elapsed:.1f}s"
        assert "event=migration_blocked" in p.stderr and gid in p.stderr, p.stderr[-2000:]
        assert a.sql("SELECT count(*) FROM schema_migrations WHERE version = 999")[0][0] == 0
        assert a.sql("SELECT count(*) FROM information_schema.columns"
                     " WHERE table_name = 'stations' AND column_name = 'touched'")[0][0] == 0
    finally:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_prepared_xacts WHERE gid = %s", (gid,))
            if cur.fetchone():
                cur.execute(f"ROLLBACK PREPARED '{gid}'")
        conn.close()
