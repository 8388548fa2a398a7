"""Failures of the parts around a worker: SIGKILL, a database that goes away and
comes back, a clean SIGTERM, the broker going away; and the migrations record.

Every test that stops something starts it again in `finally`, so the tests after
it see a healthy stack."""

import hashlib
import os
import re
import time
from datetime import timedelta
from pathlib import Path

import pytest
import requests

from conftest import (REPO, assert_error, assert_json, assert_status, future_start, new_car_id,
                      run_stack, ts, utcnow, window)

OUTAGE_ANSWER_WITHIN = 10   # seconds a request may take while the database is down
RECOVERY_WITHIN = 15        # seconds after the database is back until the worker serves


def worker_pid(stack, cid):
    p = Path(stack["state_dir"]) / "run" / f"worker-{cid}.pid"
    try:
        return int(p.read_text().strip())
    except (OSError, ValueError):
        return None


def process_alive(pid):
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except OSError:
        return True


def assert_not_serving(company):
    try:
        r = company.health(timeout=5)
    except requests.ConnectionError:
        return
    pytest.fail(f"worker {company.id} still answers after being stopped: {r.status_code}")


def restore(company, db=False):
    """Brings the company's database and worker back, whatever state they are in."""
    if db:
        run_stack("start", company.id, "db", check=False)
    if not company.is_healthy():
        # A worker that died or hangs: stop what is left, start afresh.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not company.is_healthy():
            time.sleep(0.5)
        if not company.is_healthy():
            run_stack("stop", company.id, "worker", check=False)
            run_stack("start", company.id, "worker", check=False)
    company.wait_healthy()


# ---------------------------------------------------------------- SIGKILL

def test_worker_killed_with_sigkill_restarts_with_data_intact(stack, companies):
    c = companies["c"]
    st = c.create_station(chargers=1)
    start, end = window(hours=1)
    res = c.book_ok(st["id"], start, end)
    counts = c.counts()
    old_pid = worker_pid(stack, "c")
    try:
        run_stack("kill", "c", "worker")
        assert_not_serving(c)
        assert not process_alive(old_pid)

        run_stack("start", "c", "worker")
        c.wait_healthy(timeout=30)
        assert worker_pid(stack, "c") != old_pid

        got = c.get(f"/reservations/{res['id']}", car=res["car_id"])  # its car (token issued before the kill)
        assert_status(got, 200)
        assert assert_json(got) == res
        got = c.get(f"/reservations/{res['id']}", admin=True)
        assert_status(got, 200)
        assert assert_json(got) == res
        assert assert_json(c.get(f"/stations/{st['id']}")) == st
        assert c.counts() == counts

        # The booked window is still taken, the next one is free.
        assert_error(c.book(st["id"], start, end), 409, "no_charger_free")
        c.book_ok(st["id"], end, end + timedelta(hours=1))
    finally:
        restore(c)


# ---------------------------------------------------------------- database outage

def _timed(fn):
    t0 = time.monotonic()
    try:
        r = fn()
    except requests.Timeout:
        pytest.fail(f"request hung longer than {OUTAGE_ANSWER_WITHIN} s during the outage")
    return r, time.monotonic() - t0


def test_database_outage_gives_503_then_worker_recovers_by_itself(stack, companies):
    b = companies["b"]
    st = b.create_station(chargers=2)
    start, end = window(hours=1)
    res = b.book_ok(st["id"], start, end)
    counts = b.counts()
    pid = worker_pid(stack, "b")
    assert process_alive(pid)
    t = OUTAGE_ANSWER_WITHIN
    outage_car = new_car_id("outage")
    o_start = future_start()
    outage_body = {"station_id": st["id"], "car_id": outage_car, "start": ts(o_start),
                   "end": ts(o_start + timedelta(hours=1))}
    b.car_token(outage_car)  # issued while the database is up: the calls below are credentialed
    car = res["car_id"]
    try:
        run_stack("stop", "b", "db")

        calls = [
            ("GET /stations", lambda: b.get("/stations", timeout=t)),
            ("GET /stations/{id}", lambda: b.get(f"/stations/{st['id']}", timeout=t)),
            ("GET availability", lambda: b.get(f"/stations/{st['id']}/availability", timeout=t,
                                               params={"from": ts(start), "to": ts(end)})),
            ("POST /reservations", lambda: b.post("/reservations", json=outage_body, car=outage_car, timeout=t)),
            ("POST /reservations (operator)", lambda: b.post("/reservations", json=outage_body, admin=True,
                                                             timeout=t)),
            ("GET /reservations/{id}", lambda: b.get(f"/reservations/{res['id']}", car=car, timeout=t)),
            ("GET /reservations/{id} (operator)", lambda: b.get(f"/reservations/{res['id']}", admin=True,
                                                                timeout=t)),
            ("GET /reservations", lambda: b.get("/reservations", params={"car_id": car}, car=car,
                                                timeout=t)),
            ("POST cancel (car)", lambda: b.post(f"/reservations/{res['id']}/cancel", car=car, timeout=t)),
            ("POST cancel", lambda: b.post(f"/reservations/{res['id']}/cancel", admin=True, timeout=t)),
        ]
        for _round in range(2):
            for name, call in calls:
                r, took = _timed(call)
                assert took < t, f"{name} took {took:.1f} s"
                assert_error(r, 503, "unavailable")

            h, took = _timed(lambda: b.health(timeout=t))
            if h.status_code == 200:
                assert assert_json(h)["database"] != "ok", h.text
            else:
                assert_status(h, 503)
        assert process_alive(pid), "the worker died during the database outage"

        run_stack("start", "b", "db")
        back = time.monotonic()
        deadline = back + RECOVERY_WITHIN
        last = None
        while time.monotonic() < deadline:
            try:
                last = b.get("/stations", timeout=5)
                if last.status_code == 200:
                    break
            except requests.RequestException as e:
                last = e
            time.sleep(0.25)
        else:
            pytest.fail(f"worker not serving {RECOVERY_WITHIN} s after the database came back: {last!r}")

        assert worker_pid(stack, "b") == pid and process_alive(pid), \
            "the worker must recover without a restart"
        h = b.health()
        assert_status(h, 200)
        assert assert_json(h)["database"] == "ok"

        # Nothing was written during the outage; what was there before is intact.
        assert b.counts() == counts
        got = assert_json(b.get(f"/reservations/{res['id']}", car=car))
        assert got == res
        assert b.sql("SELECT 1 FROM reservations WHERE car_id = %s", (outage_car,)) == []

        # And it books again (every pooled connection was replaced, not just one).
        for _ in range(5):
            o_start = future_start()
            b.book_ok(st["id"], o_start, o_start + timedelta(hours=1))
    finally:
        restore(b, db=True)


# ---------------------------------------------------------------- SIGTERM

def test_sigterm_stops_the_worker_cleanly_and_it_starts_again(stack, companies):
    a = companies["a"]
    st = a.create_station(chargers=1)
    res = a.book_ok(st["id"], *window())
    migrations = a.sql("SELECT version::text, checksum, applied_at FROM schema_migrations "
                       "ORDER BY version")
    counts = a.counts()
    pid = worker_pid(stack, "a")
    try:
        t0 = time.monotonic()
        p = run_stack("stop", "a", "worker")
        took = time.monotonic() - t0
        out = p.stdout + p.stderr
        assert "SIGKILL" not in out, f"the worker ignored SIGTERM: {out}"
        assert took < 10, f"stopping took {took:.1f} s"
        assert not process_alive(pid)
        assert_not_serving(a)

        # Nothing else in the federation depends on a to answer its own questions.
        companies["b"].assert_alive()

        run_stack("start", "a", "worker")
        a.wait_healthy(timeout=30)
        assert assert_json(a.get(f"/reservations/{res['id']}", car=res["car_id"])) == res
        assert a.counts() == counts
        assert a.sql("SELECT version::text, checksum, applied_at FROM schema_migrations "
                     "ORDER BY version") == migrations, "a restart must not re-apply migrations"
    finally:
        restore(a)


# ---------------------------------------------------------------- broker outage

def test_broker_outage_leaves_local_bookings_working(companies):
    a = companies["a"]
    st = a.create_station(chargers=1)
    try:
        run_stack("stop", "mqtt")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            h = assert_json(a.health())
            if h["mqtt"] == "down":
                break
            time.sleep(0.5)
        else:
            pytest.fail("health still says mqtt ok 30 s after the broker stopped")
        assert h["status"] == "ok" and h["database"] == "ok"
        a.book_ok(st["id"], *window())

        run_stack("start", "mqtt")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if assert_json(a.health())["mqtt"] == "ok":
                break
            time.sleep(0.5)
        else:
            pytest.fail("worker did not reconnect to the broker within 60 s")
    finally:
        run_stack("start", "mqtt", check=False)


# ---------------------------------------------------------------- migrations

MIGRATION_FILE = re.compile(r"^(\d+)_(.+)\.sql$")


def _migration_files():
    files = {}
    for p in sorted((REPO / "db" / "migrations").glob("*.sql")):
        m = MIGRATION_FILE.match(p.name)
        assert m, f"migration file name {p.name} is not NNN_name.sql"
        files[int(m.group(1))] = (p, m.group(2))
    assert files
    return files


@pytest.mark.parametrize("cid", ["a", "b", "c"])
def test_migrations_are_recorded_with_checksums(companies, cid):
    c = companies[cid]
    rows = c.sql("SELECT version::text, name, checksum, applied_at FROM schema_migrations")
    files = _migration_files()
    by_version = {}
    for version, name, checksum, applied_at in rows:
        assert re.match(r"^\d+$", version), version
        assert int(version) not in by_version, f"version {version} recorded twice"
        by_version[int(version)] = (name, checksum, applied_at)
    assert set(by_version) == set(files), \
        f"recorded {sorted(by_version)}, files {sorted(files)}"
    for v, (path, stem) in files.items():
        name, checksum, applied_at = by_version[v]
        assert name in (stem, path.name, path.stem), (v, name, path.name)
        assert isinstance(checksum, str) and checksum.strip(), (v, checksum)
        data = path.read_bytes()
        known = {hashlib.sha256(data).hexdigest(), hashlib.sha1(data).hexdigest(),
                 hashlib.md5(data).hexdigest()}
        assert checksum.lower() in known, \
            f"checksum of {path.name} recorded as {checksum!r}, the file hashes to {sorted(known)}"
        assert applied_at is not None and applied_at <= utcnow() + timedelta(minutes=1)
