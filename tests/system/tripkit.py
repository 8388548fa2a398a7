"""Helpers for the distributed-trip system tests (test_trip*.py).

A trip books one charging window per leg at stations of any companies, by
two-phase commit over PREPARE TRANSACTION. These helpers build routes on fresh
stations, post trips, and look into every company's database to tell whether a
trip is all-or-nothing and whether anything is left prepared.

The fixtures and the Company class come from conftest.py.
"""

import json
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import psycopg2
import requests

from conftest import HTTP_TIMEOUT, assert_json, assert_status, future_start, new_car_id, run_stack, ts

COMPANY_IDS = ("a", "b", "c")
LIVE = ("held", "confirmed")
DEFINITE = ("confirmed", "aborted", "cancelled", "finished")
# Generous: under AddressSanitizer a 3-company commit takes much longer than in a release build.
TRIP_TIMEOUT = 60


# ---------------------------------------------------------------- building trips

def new_key(tag="trip"):
    """A fresh Idempotency-Key."""
    return f"{tag}-{uuid.uuid4().hex}"


def leg(station_id, start, hours=1.0):
    return {"station_id": station_id, "start": ts(start), "end": ts(start + timedelta(hours=hours))}


def route(station_ids, start=None, hours=1.0, gap_hours=2.0):
    """Legs at the stations in order, `hours` long, starting every `gap_hours`."""
    start = start or future_start()
    return [leg(sid, start + timedelta(hours=i * gap_hours), hours) for i, sid in enumerate(station_ids)]


def fresh_stations(companies, ids=COMPANY_IDS, chargers=1):
    """One new station per company id (in order), with `chargers` chargers: station ids."""
    return [companies[cid].create_station(chargers=chargers)["id"] for cid in ids]


def post_trip(company, legs, car_id=None, key=None, timeout=TRIP_TIMEOUT, headers=None):
    """POST /trips at `company`. Returns (response, key, body sent)."""
    key = key or new_key()
    body = {"car_id": car_id or new_car_id("trip"), "legs": legs}
    h = {"Idempotency-Key": key}
    if "Authorization" not in (headers or {}):
        h.update(company.as_car(body["car_id"]))  # the car books for itself
    h.update(headers or {})
    r = company.post("/trips", json=body, headers=h, timeout=timeout)
    return r, key, body


def book_trip(company, legs, car_id=None, key=None):
    """Posts a trip that must be confirmed; returns the trip."""
    r, _, _ = post_trip(company, legs, car_id=car_id, key=key)
    assert_status(r, 201)
    return assert_json(r)


def get_trip(company, trip_id, timeout=HTTP_TIMEOUT, car=None):
    """The trip as its car sees it (any server), or as the company's operator (its coordinator)."""
    r = company.get(f"/trips/{trip_id}", timeout=timeout, **({"car": car} if car else {"admin": True}))
    assert_status(r, 200)
    return assert_json(r)


# ---------------------------------------------------------------- looking into the databases

def reservations_of_trip(companies, trip_id):
    """{company: [(station_id, charger, status, start, end)]} of every reservation carrying trip_id."""
    out = {}
    for cid, c in companies.items():
        out[cid] = c.sql(
            "SELECT station_id, charger, status, lower(during), upper(during) FROM reservations"
            " WHERE trip_id = %s::uuid ORDER BY lower(during)", (str(trip_id),))
    return out


def live_of_trip(companies, trip_id):
    """{company: number of live (held/confirmed) reservations carrying trip_id}."""
    return {cid: sum(1 for row in rows if row[2] in LIVE)
            for cid, rows in reservations_of_trip(companies, trip_id).items()}


def live_counts_by_trip(companies, trip_ids):
    """{trip_id: total live reservations across all companies} for many trips at once."""
    ids = [str(t) for t in trip_ids]
    total = {t: 0 for t in ids}
    if not ids:
        return total
    for c in companies.values():
        for trip_id, n in c.sql(
                "SELECT trip_id::text, count(*) FROM reservations"
                " WHERE trip_id = ANY(%s::uuid[]) AND status IN ('held', 'confirmed') GROUP BY trip_id",
                (ids,)):
            total[trip_id] += n
    return total


def prepared(companies):
    """{company: [gid]} of the transactions left prepared in each company's database."""
    out = {}
    for cid, c in companies.items():
        out[cid] = [row[0] for row in c.sql(
            "SELECT gid FROM pg_prepared_xacts WHERE database = current_database() ORDER BY prepared")]
    return out


def nothing_prepared(companies):
    return not any(prepared(companies).values())


def trip_row(company, trip_id=None, key=None, car_id=None):
    """The coordinator's trips row (as a dict) by id or Idempotency-Key, or None.
    A key is unique per car: give car_id too when another car may have used the same key."""
    if trip_id is not None:
        where, params = "id = %s::uuid", (str(trip_id),)
    elif car_id is not None:
        where, params = "idempotency_key = %s AND car_id = %s", (key, car_id)
    else:
        where, params = "idempotency_key = %s", (key,)
    rows = company.sql(
        "SELECT id::text, idempotency_key, status, gid, participants, legs, response_status, instance"
        f" FROM trips WHERE {where}", params)
    if not rows:
        return None
    assert len(rows) == 1, f"{len(rows)} trips rows for key {key!r}: give the car_id too"
    r = rows[0]
    return {"id": r[0], "idempotency_key": r[1], "status": r[2], "gid": r[3], "participants": r[4],
            "legs": r[5], "response_status": r[6], "instance": r[7]}


def decision(company, gid):
    rows = company.sql("SELECT decision FROM tx_decisions WHERE gid = %s", (gid,))
    return rows[0][0] if rows else None


def overlapping_live(company, station_ids=None):
    """Pairs of live reservations of one charger whose windows overlap (must be none)."""
    sql = ("SELECT r1.id::text, r2.id::text, r1.station_id, r1.charger, r1.during::text, r2.during::text"
           " FROM reservations r1 JOIN reservations r2"
           "   ON r1.station_id = r2.station_id AND r1.charger = r2.charger AND r1.id < r2.id"
           "  AND r1.during && r2.during"
           " WHERE r1.status IN ('held', 'confirmed') AND r2.status IN ('held', 'confirmed')")
    if station_ids is not None:
        sql += " AND r1.station_id = ANY(%s)"
        return company.sql(sql, (list(station_ids),))
    return company.sql(sql)


def all_or_nothing(companies, row):
    """None when the trip row and the databases agree (confirmed with every leg live,
    or aborted with none), else a description of what is wrong."""
    live = live_of_trip(companies, row["id"])
    total = sum(live.values())
    want = {}
    for lg in row["legs"]:
        want[lg["company"]] = want.get(lg["company"], 0) + 1
    if row["status"] == "confirmed":
        if live != {cid: want.get(cid, 0) for cid in live}:
            return f"trip {row['id']} confirmed but live legs per company {live}, expected {want}"
        return None
    if row["status"] == "aborted":
        if total:
            return f"trip {row['id']} aborted but {live} live legs remain"
        return None
    return f"trip {row['id']} still in phase {row['status']!r} (live legs {live})"


# ---------------------------------------------------------------- waiting and the stack

def wait_for(predicate, timeout, interval=0.25):
    """Calls predicate until it returns something truthy or timeout seconds pass; returns
    its last value (falsy on timeout). Database errors count as "not yet"."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except (psycopg2.Error, requests.RequestException):
            value = None
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def log_tail(stack, cid, lines=40, grep=None):
    """The last lines of a worker's log (those containing `grep` when given), for failure messages."""
    path = Path(stack["state_dir"]) / "logs" / f"worker-{cid}.log"
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError as e:
        return f"(no log {path}: {e})"
    if grep:
        text = [line for line in text if any(g in line for g in ([grep] if isinstance(grep, str) else grep))]
    return f"--- {path} (last {lines}{' matching ' + repr(grep) if grep else ''})\n" + "\n".join(text[-lines:])


def arm_failpoint(company, name, enabled=True):
    r = company.post("/admin/failpoints", admin=True, json={"name": name, "enabled": enabled})
    assert_status(r, 200)
    return assert_json(r)


def disarm_failpoint(company, name):
    """Best effort: the worker may be dead (then its fail points are gone anyway)."""
    try:
        company.post("/admin/failpoints", admin=True, json={"name": name, "enabled": False}, timeout=10)
    except requests.RequestException:
        pass


def ensure_up(company):
    """Brings a company's database and worker back after a test stopped or killed them."""
    run_stack("start", company.id, "db", check=False)
    if company.is_healthy():
        return
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not company.is_healthy():
        time.sleep(0.25)
    if not company.is_healthy():
        # Whatever is left of a worker that died or hangs goes; a fresh one starts.
        run_stack("stop", company.id, "worker", check=False)
        run_stack("start", company.id, "worker", check=False)
    company.wait_healthy()


def federation_ready(companies, timeout=30):
    """Waits until every worker's federation/servers view reports every peer up (best
    effort: returns False on timeout instead of failing, the test then sees what happens)."""
    def ready():
        for c in companies.values():
            r = c.get("/federation/peers", timeout=5)
            if r.status_code != 200:
                return False
            items = r.json().get("items", [])
            if len([p for p in items if p.get("status") == "up"]) < len(companies) - 1:
                return False
        return True
    return bool(wait_for(ready, timeout, interval=0.5))


def iso(dt):
    return dt.isoformat() if isinstance(dt, datetime) else dt


def dump(obj):
    return json.dumps(obj, default=iso, indent=None)[:2000]
