"""Distributed trips: one charging window per leg at stations of several companies,
booked all-or-nothing by two-phase commit. Every check looks at the API answer AND
at each company's database (reservations carrying the trip id, pg_prepared_xacts).

Each test makes its own stations (1 charger, so a second booking of a window is
refused) and picks windows months ahead at random minutes.
"""

import secrets
import time
from datetime import timedelta
from pathlib import Path

import pytest

from conftest import (assert_error, assert_json, assert_status, future_start, new_car_id, parse_ts,
                      run_stack, ts)
from tripkit import (COMPANY_IDS, book_trip, ensure_up, fresh_stations, get_trip, log_tail,
                     new_key, post_trip, prepared, reservations_of_trip, route, trip_row, wait_for)

TRIP_STATUSES = {"pending", "confirmed", "aborted", "cancelled", "finished"}
PHASES = {"preparing", "committing", "confirmed", "aborting", "aborted", "cancelling", "cancelled",
          "finishing", "finished"}


def assert_trip_shape(trip, legs, car_id):
    assert isinstance(trip, dict), trip
    assert isinstance(trip.get("id"), str) and len(trip["id"]) == 36, trip
    assert trip["car_id"] == car_id, trip
    assert trip["status"] in TRIP_STATUSES, trip
    assert trip["phase"] in PHASES, trip
    assert isinstance(trip["legs"], list) and len(trip["legs"]) == len(legs), trip
    for want, got in zip(legs, trip["legs"]):
        assert got["station_id"] == want["station_id"], (want, got)
        assert got["company"] == want["station_id"].split("-", 1)[0], got
        assert parse_ts(got["start"]) == parse_ts(want["start"]), (want, got)
        assert parse_ts(got["end"]) == parse_ts(want["end"]), (want, got)
    participants = []
    for lg in legs:
        cid = lg["station_id"].split("-", 1)[0]
        if cid not in participants:
            participants.append(cid)
    assert sorted(trip["participants"]) == sorted(participants), trip


def assert_confirmed_everywhere(companies, trip, legs):
    """The trip is confirmed and each leg is one confirmed reservation at its company."""
    assert trip["status"] == "confirmed" and trip["phase"] == "confirmed", trip
    rows = reservations_of_trip(companies, trip["id"])
    for i, (want, got) in enumerate(zip(legs, trip["legs"])):
        cid = got["company"]
        assert got["state"] == "confirmed", f"leg {i}: {got}"
        assert isinstance(got["reservation_id"], str) and got["reservation_id"], f"leg {i}: {got}"
        assert isinstance(got["charger"], int) and got["charger"] >= 1, f"leg {i}: {got}"
        mine = [r for r in rows[cid] if r[0] == want["station_id"]]
        assert len(mine) == 1, f"leg {i} at {cid}: reservations with the trip id there: {rows[cid]}"
        station_id, charger, status, start, end = mine[0]
        assert status == "confirmed", f"leg {i} at {cid}: reservation is {status}"
        assert charger == got["charger"], f"leg {i}: db charger {charger}, API {got['charger']}"
        assert start == parse_ts(want["start"]) and end == parse_ts(want["end"]), (mine, want)
    # Nothing else carries the trip id, anywhere.
    want_counts = {cid: sum(1 for lg in legs if lg["station_id"].startswith(cid + "-")) for cid in companies}
    got_counts = {cid: len(r) for cid, r in rows.items()}
    assert got_counts == want_counts, f"reservations with trip id per company: {rows}"


def assert_nothing_held(companies, trip_id, where=None):
    rows = reservations_of_trip(companies, trip_id)
    live = {cid: [r for r in rs if r[2] in ("held", "confirmed")] for cid, rs in rows.items()
            if where is None or cid in where}
    assert not any(live.values()), f"trip {trip_id} left live reservations: {live}"


def assert_nothing_prepared(companies, within=0):
    left = wait_for(lambda: not any(prepared(companies).values()) or None, within) if within else None
    if not left:
        p = prepared(companies)
        assert not any(p.values()), f"prepared transactions left: {p}"


# ---------------------------------------------------------------- the happy path

@pytest.mark.parametrize("coordinator", ["a", "b", "c"])
def test_three_company_trip_is_confirmed_in_every_database(companies, stack, coordinator):
    stations = fresh_stations(companies)
    legs = route(stations)
    car = new_car_id("trip")
    r, key, _ = post_trip(companies[coordinator], legs, car_id=car)
    assert_status(r, 201)
    trip = assert_json(r)
    assert_trip_shape(trip, legs, car)
    assert r.headers.get("Location", "").endswith(f"/trips/{trip['id']}"), r.headers
    assert_confirmed_everywhere(companies, trip, legs)

    again = get_trip(companies[coordinator], trip["id"])  # its operator
    assert again["status"] == "confirmed" and again["phase"] == "confirmed", again
    assert [lg["reservation_id"] for lg in again["legs"]] == [lg["reservation_id"] for lg in trip["legs"]]
    assert all(lg["state"] == "confirmed" for lg in again["legs"]), again
    for cid in COMPANY_IDS:  # its car, at any server
        seen = get_trip(companies[cid], trip["id"], car=car)
        assert seen["id"] == trip["id"] and seen["status"] == "confirmed", (cid, seen)

    assert_error(companies[coordinator].get("/trips", params={"car_id": car}), 401)
    for who in ({"car": car}, {"admin": True}):
        listed = companies[coordinator].get("/trips", params={"car_id": car}, **who)
        assert_status(listed, 200)
        items = assert_json(listed)["items"]
        assert [t["id"] for t in items] == [trip["id"]], (who, items)
    own = companies[coordinator].get("/trips", car=car)  # a car's list is its own trips
    assert_status(own, 200)
    assert [t["id"] for t in assert_json(own)["items"]] == [trip["id"]], own.text[:500]

    row = trip_row(companies[coordinator], trip_id=trip["id"])
    assert row and row["status"] == "confirmed" and row["idempotency_key"] == key, row
    tx = companies[coordinator].get("/federation/transactions")
    assert_status(tx, 200)
    tx = assert_json(tx)
    assert {"in_flight", "recent", "prepared_here"} <= set(tx), tx
    mine = [t for t in tx["recent"] if t.get("trip_id") == trip["id"]]
    assert mine and mine[0].get("decision") == "commit" and mine[0].get("phase") == "confirmed", tx["recent"][:3]
    assert not [t for t in tx["in_flight"] if t.get("trip_id") == trip["id"]], tx["in_flight"]
    assert_nothing_prepared(companies)
    for c in companies.values():
        h = assert_json(c.health())
        assert h.get("in_doubt") == 0, f"{c.id}: {h}"


def test_trip_at_one_company_only_is_confirmed(companies):
    (station,) = fresh_stations(companies, ids=("b",))
    legs = route([station])
    trip = book_trip(companies["a"], legs)
    assert trip["participants"] == ["b"], trip
    assert_confirmed_everywhere(companies, trip, legs)
    assert_nothing_prepared(companies)


# ---------------------------------------------------------------- idempotency

def test_retry_with_same_key_replays_the_same_trip(companies):
    a = companies["a"]
    legs = route(fresh_stations(companies))
    car = new_car_id("trip")
    key = new_key()
    first, _, body = post_trip(a, legs, car_id=car, key=key)
    assert_status(first, 201)
    trip = assert_json(first)

    for _ in range(2):
        again, _, _ = post_trip(a, legs, car_id=car, key=key)
        assert_status(again, 201)
        replay = assert_json(again)
        assert replay["id"] == trip["id"], (trip, replay)
        assert replay["status"] == "confirmed", replay
        assert again.headers.get("Idempotent-Replayed") == "true", dict(again.headers)

    assert a.sql_one("SELECT count(*) FROM trips WHERE idempotency_key = %s AND car_id = %s", (key, car))[0] == 1
    # Still exactly one reservation per leg: the retry booked nothing.
    assert_confirmed_everywhere(companies, trip, legs)


def test_same_key_with_another_body_is_422_and_books_nothing(companies):
    a = companies["a"]
    stations = fresh_stations(companies)
    legs = route(stations)
    car = new_car_id("trip")
    key = new_key()
    first, _, _ = post_trip(a, legs, car_id=car, key=key)
    assert_status(first, 201)
    trip = assert_json(first)

    other_legs = route(stations)  # other windows
    r, _, _ = post_trip(a, other_legs, car_id=car, key=key)
    assert_error(r, 422)
    # The operator booking on behalf of the same car uses the same car's keys.
    r, _, _ = post_trip(a, other_legs, car_id=car, key=key, headers=a.admin)
    assert_error(r, 422)

    assert a.sql_one("SELECT count(*) FROM trips WHERE idempotency_key = %s", (key,))[0] == 1
    assert_confirmed_everywhere(companies, trip, legs)
    for cid, sid in zip(COMPANY_IDS, stations):
        n = companies[cid].sql_one(
            "SELECT count(*) FROM reservations WHERE station_id = %s AND status IN ('held', 'confirmed')", (sid,))[0]
        assert n == 1, f"{sid}: {n} live reservations, expected only the first trip's"


def test_same_key_from_another_car_is_another_trip(companies):
    """An Idempotency-Key is the car's own: another car's request with the same key is
    a trip of its own, never a replay of the first car's."""
    a = companies["a"]
    stations = fresh_stations(companies)  # 1 charger each
    legs = route(stations)
    first_car, second_car, third_car = new_car_id("k1"), new_car_id("k2"), new_car_id("k3")
    key = new_key()
    trip = book_trip(a, legs, car_id=first_car, key=key)

    # The same body from another car: its own trip, refused because the windows are taken.
    r, _, _ = post_trip(a, legs, car_id=second_car, key=key)
    body = assert_error(r, 409, {"no_charger_free"})
    assert body.get("trip_id") and body["trip_id"] != trip["id"], body
    assert r.headers.get("Idempotent-Replayed") != "true", dict(r.headers)
    # Another body from a third car: a new trip, confirmed.
    other_legs = route(stations)
    r, _, _ = post_trip(a, other_legs, car_id=third_car, key=key)
    assert_status(r, 201)
    third = assert_json(r)
    assert third["id"] != trip["id"] and third["car_id"] == third_car, third
    assert r.headers.get("Idempotent-Replayed") != "true", dict(r.headers)
    # A car naming another car in the body is refused, whatever the key: nothing written.
    before = a.sql_one("SELECT count(*) FROM trips")[0]
    r, _, _ = post_trip(a, route(stations), car_id=first_car, key=new_key(), headers=a.as_car(second_car))
    assert_error(r, 403, "forbidden")
    assert a.sql_one("SELECT count(*) FROM trips")[0] == before

    rows = a.sql("SELECT car_id, status FROM trips WHERE idempotency_key = %s ORDER BY car_id", (key,))
    assert sorted(rows) == sorted([(first_car, "confirmed"), (second_car, "aborted"), (third_car, "confirmed")]), rows
    # The first car's retry still replays its own trip.
    again, _, _ = post_trip(a, legs, car_id=first_car, key=key)
    assert_status(again, 201)
    assert assert_json(again)["id"] == trip["id"] and again.headers.get("Idempotent-Replayed") == "true"
    assert_confirmed_everywhere(companies, get_trip(a, trip["id"]), legs)
    assert_confirmed_everywhere(companies, get_trip(a, third["id"]), other_legs)
    assert_nothing_held(companies, body["trip_id"])


def test_replay_of_a_refused_trip_gives_the_same_409(companies):
    stations = fresh_stations(companies)
    legs = route(stations)
    companies["b"].book_ok(stations[1], legs[1]["start"], legs[1]["end"])
    r1, key, body = post_trip(companies["a"], legs)
    assert_status(r1, 409)
    r2, _, _ = post_trip(companies["a"], legs, car_id=body["car_id"], key=key)
    assert_status(r2, 409)
    assert assert_json(r2)["trip_id"] == assert_json(r1)["trip_id"], (r1.text, r2.text)
    assert r2.headers.get("Idempotent-Replayed") == "true", dict(r2.headers)


# ---------------------------------------------------------------- a leg that cannot be had

@pytest.mark.parametrize("coordinator,full_leg", [("a", 1), ("b", 0), ("c", 2)],
                         ids=["a-coordinates-full-leg-at-b", "b-coordinates-full-leg-at-a",
                              "c-coordinates-full-leg-at-c"])
def test_leg_at_a_full_station_is_409_and_holds_nothing(companies, stack, coordinator, full_leg):
    stations = fresh_stations(companies)  # 1 charger each
    legs = route(stations)
    full_company = COMPANY_IDS[full_leg]
    blocker = companies[full_company].book_ok(stations[full_leg], legs[full_leg]["start"], legs[full_leg]["end"])

    started = time.monotonic()
    r, key, _ = post_trip(companies[coordinator], legs)
    elapsed = time.monotonic() - started
    body = assert_error(r, 409, {"no_charger_free"})
    assert body.get("station_id") == stations[full_leg], body
    assert body.get("company") == full_company, body
    trip_id = body.get("trip_id")
    assert isinstance(trip_id, str) and len(trip_id) == 36, body

    alts = body.get("alternatives")
    assert isinstance(alts, dict), body
    assert isinstance(alts.get("windows"), list) and isinstance(alts.get("stations"), list), alts
    assert alts["windows"], f"no alternative window offered though the station is free around the booking: {alts}"
    want = parse_ts(legs[full_leg]["end"]) - parse_ts(legs[full_leg]["start"])
    for w in alts["windows"]:
        s, e = parse_ts(w["start"]), parse_ts(w["end"])
        assert e - s == want, w
        assert e <= parse_ts(blocker["start"]) or s >= parse_ts(blocker["end"]), (
            f"alternative window {w} overlaps the booking that made the leg fail {blocker}")

    assert_nothing_held(companies, trip_id)
    assert_nothing_prepared(companies, within=5)
    row = trip_row(companies[coordinator], trip_id=trip_id)
    assert row is not None and row["idempotency_key"] == key, row
    t = get_trip(companies[coordinator], trip_id)
    assert t["status"] == "aborted", t
    assert elapsed < 15, f"a refused trip took {elapsed:.1f}s"
    # The other legs' windows are free: a single booking of each goes through.
    for i, (cid, sid) in enumerate(zip(COMPANY_IDS, stations)):
        if i != full_leg:
            companies[cid].book_ok(sid, legs[i]["start"], legs[i]["end"])
    # Checked last, so that everything above is known to hold even when only this fails.
    assert body.get("failed_leg") == full_leg, (
        f"POST /trips at {coordinator}: failed_leg {body.get('failed_leg')!r}, expected {full_leg} "
        f"(station {body.get('station_id')}): {body}")


def test_leg_at_unknown_station_is_409_unknown_station(companies):
    stations = fresh_stations(companies)
    stations[2] = companies["c"].new_station_id("nx")  # well-formed, never created
    legs = route(stations)
    r, _, _ = post_trip(companies["a"], legs)
    body = assert_error(r, 409, {"unknown_station"})
    assert body.get("station_id") == stations[2] and body.get("company") == "c", body
    assert_nothing_held(companies, body["trip_id"])
    assert_nothing_prepared(companies, within=5)
    assert body.get("failed_leg") == 2, body


# ---------------------------------------------------------------- cancel and finish

def test_cancel_releases_every_leg_and_is_repeatable(companies):
    a = companies["a"]
    stations = fresh_stations(companies)
    legs = route(stations)
    trip = book_trip(a, legs)

    r = a.post(f"/trips/{trip['id']}/cancel", admin=True, timeout=60)
    assert_status(r, 200)
    t = assert_json(r)
    assert t["id"] == trip["id"] and t["status"] == "cancelled", t
    rows = reservations_of_trip(companies, trip["id"])
    for cid in COMPANY_IDS:
        assert [row[2] for row in rows[cid]] == ["cancelled"], f"{cid}: {rows[cid]}"
    assert_nothing_prepared(companies)
    got = get_trip(a, trip["id"])
    assert got["status"] == "cancelled" and got["phase"] == "cancelled", got

    again = a.post(f"/trips/{trip['id']}/cancel", admin=True, timeout=60)
    assert_status(again, 200)
    assert assert_json(again)["status"] == "cancelled", again.text

    # The windows are free again: the same 1-charger windows can be booked.
    for cid, sid, lg in zip(COMPANY_IDS, stations, legs):
        companies[cid].book_ok(sid, lg["start"], lg["end"])
    # ... and a cancelled trip cannot be finished.
    r = a.post(f"/trips/{trip['id']}/finish", admin=True, timeout=60)
    assert_error(r, 409)


def test_finish_completes_every_leg(companies):
    b = companies["b"]
    legs = route(fresh_stations(companies))
    trip = book_trip(b, legs)
    r = b.post(f"/trips/{trip['id']}/finish", admin=True, timeout=60)
    assert_status(r, 200)
    t = assert_json(r)
    assert t["status"] == "finished", t
    rows = reservations_of_trip(companies, trip["id"])
    for cid in COMPANY_IDS:
        assert [row[2] for row in rows[cid]] == ["completed"], f"{cid}: {rows[cid]}"
    assert_nothing_prepared(companies)
    again = b.post(f"/trips/{trip['id']}/finish", admin=True, timeout=60)
    assert_status(again, 200)
    r = b.post(f"/trips/{trip['id']}/cancel", admin=True, timeout=60)
    assert_error(r, 409)


def test_unknown_trip_is_404(companies):
    a = companies["a"]
    unknown = "7f0c2a8e-1111-4222-8333-944455556666"
    # Without a credential the question is not even asked.
    assert_error(a.get(f"/trips/{unknown}"), 401, "unauthorized")
    assert_error(a.post(f"/trips/{unknown}/cancel"), 401, "unauthorized")
    for who in ({"car": new_car_id("nobody")}, {"admin": True}):
        assert_error(a.get(f"/trips/{unknown}", **who), 404)
        assert_error(a.post(f"/trips/{unknown}/cancel", timeout=60, **who), 404)
        assert_error(a.post(f"/trips/{unknown}/finish", timeout=60, **who), 404)
        assert_error(a.get("/trips/not-a-uuid", **who), 404)


# ---------------------------------------------------------------- refused requests

@pytest.mark.parametrize("key", [None, "", "has space", "x" * 101, "semi;colon"],
                         ids=["missing", "empty", "space", "too-long", "bad-char"])
def test_bad_or_missing_idempotency_key_is_400(companies, key):
    a = companies["a"]
    legs = route(fresh_stations(companies, ids=("a",)))
    headers = {} if key is None else {"Idempotency-Key": key}
    before = a.sql_one("SELECT count(*) FROM trips")[0]
    car = new_car_id()
    r = a.post("/trips", json={"car_id": car, "legs": legs}, headers=headers, car=car)
    assert_error(r, 400)
    assert a.sql_one("SELECT count(*) FROM trips")[0] == before


def test_unknown_company_prefix_is_400(companies):
    a = companies["a"]
    stations = fresh_stations(companies, ids=("a", "b"))
    legs = route(stations + ["zz-nowhere1"])
    r, key, _ = post_trip(a, legs)
    assert_error(r, 400)
    assert trip_row(a, key=key) is None


@pytest.mark.parametrize("legs_fn,what", [
    (lambda s: [], "no legs"),
    (lambda s: route([s] * 9, hours=1, gap_hours=1), "nine legs"),
    (lambda s: list(reversed(route([s, s]))), "legs out of time order"),
    (lambda s: [{"station_id": s, "start": ts(future_start()), "end": ts(future_start() - timedelta(days=400))}],
     "end before start"),
    (lambda s: route([s], hours=25), "window longer than 24 h"),
    (lambda s: [{"station_id": s, "start": "2020-01-01T00:00:00Z", "end": "2020-01-01T01:00:00Z"}], "in the past"),
])
def test_malformed_legs_are_400(companies, legs_fn, what):
    a = companies["a"]
    (station,) = fresh_stations(companies, ids=("b",))
    r, key, _ = post_trip(a, legs_fn(station))
    assert r.status_code == 400, f"{what}: {r.status_code} {r.text[:300]}"
    assert_error(r, 400)
    assert trip_row(a, key=key) is None, what


FEDERATION_CALLS = [
    ("POST", "/federation/prepare", {"gid": "evc_a_00000000000000000000000000000000_r00000000",
                                     "trip_id": "00000000-0000-0000-0000-000000000000", "coordinator": "a",
                                     "op": "reserve", "car_id": "x", "legs": []}),
    ("POST", "/federation/commit", {"gid": "evc_a_00000000000000000000000000000000_r00000000"}),
    ("POST", "/federation/abort", {"gid": "evc_a_00000000000000000000000000000000_r00000000"}),
    ("GET", "/federation/decisions/evc_b_00000000000000000000000000000000_r00000000", None),
    ("GET", "/federation/ping", None),
]


# (credential, status): nobody proven is 401; a known actor that is not a peer is 403.
FEDERATION_AUTH = [
    (None, 401),
    ("Token 0123456789abcdef0123456789abcdef", 401),
    ("Token ", 401),
    ("Bearer evc1.nonsense", 401),
    ("other-operator", 401),   # a's operator token proves nobody at b
    ("operator", 403),         # b's own operator
    ("car", 403),              # a car with a valid token
]


@pytest.mark.parametrize("auth,status", FEDERATION_AUTH,
                         ids=["none", "wrong-token", "empty-token", "bad-bearer", "other-operator", "operator-bearer",
                              "car-bearer"])
@pytest.mark.parametrize("method,path,body", FEDERATION_CALLS, ids=[c[1].split("/")[2] for c in FEDERATION_CALLS])
def test_federation_endpoints_need_the_peer_token(companies, method, path, body, auth, status):
    b = companies["b"]
    headers = {}
    if auth == "operator":
        headers = b.admin
    elif auth == "other-operator":
        headers = companies["a"].admin
    elif auth == "car":
        headers = b.as_car(new_car_id("fed"))
    elif auth is not None:
        headers["Authorization"] = auth
    r = b.request(method, path, json=body, headers=headers)
    assert_error(r, status, "unauthorized" if status == 401 else "forbidden")
    assert not any(prepared(companies).values())


# ---------------------------------------------------------------- a peer that is down

def test_peer_down_gives_503_fast_and_holds_nothing(companies, stack):
    a, c = companies["a"], companies["c"]
    stations = fresh_stations(companies)
    legs = route(stations)
    try:
        run_stack("stop", "c", "worker")
        started = time.monotonic()
        r, key, _ = post_trip(a, legs, timeout=30)
        elapsed = time.monotonic() - started
        body = assert_error(r, 503, {"peer_unavailable"})
        assert body.get("company") == "c", body
        assert elapsed < 5, f"503 came after {elapsed:.1f}s (expected < 5s)\n{log_tail(stack, 'a', 20)}"
        trip_id = body.get("trip_id")
        assert isinstance(trip_id, str), body
        # a and b prepared their legs before c was found down: both must be rolled back at once.
        assert_nothing_held(companies, trip_id, where=("a", "b"))
        p = prepared({k: companies[k] for k in ("a", "b")})
        assert not any(p.values()), f"prepared left at a/b while c is down: {p}"
        t = get_trip(a, trip_id)
        assert t["status"] == "aborted", t
        # A car asking b for a trip b does not keep: c, which may keep it, is
        # silent, so "no such trip" would be a guess. The truth is 503.
        unknown = "7f0c2a8e-1111-4222-8333-944455556666"
        asked = companies["b"].get(f"/trips/{unknown}", car=new_car_id("asker"), timeout=60)
        assert_error(asked, 503, {"peer_unavailable"})

        # A trip that does not touch c still works.
        legs_ab = route(stations[:2])
        r2, _, _ = post_trip(a, legs_ab)
        assert_status(r2, 201)
        trip2 = assert_json(r2)
        assert_confirmed_everywhere({k: companies[k] for k in ("a", "b")}, trip2, legs_ab)
        # ... also coordinated by b.
        legs_ab2 = route(stations[:2])
        trip3 = book_trip(companies["b"], legs_ab2)
        assert trip3["status"] == "confirmed", trip3
    finally:
        ensure_up(c)
    # c is back: a trip through it works again (its tokens survived the restart).
    legs3 = route(stations)
    r3, _, _ = post_trip(a, legs3)
    assert_status(r3, 201)
    assert_confirmed_everywhere(companies, assert_json(r3), legs3)


# ---------------------------------------------------------------- who may act on a trip

def coordinator_token(caller, callee):
    """The peer token `caller` presents to `callee` (as test_twopc_protocol.py gets it)."""
    return caller.sql_one("SELECT outbound_token FROM peers WHERE id = %s", (callee.id,))[0]


def worker_setting(stack, cid, name, default):
    """A setting of the running worker (its environment), or the worker's default."""
    try:
        pid = int((Path(stack["state_dir"]) / "run" / f"worker-{cid}.pid").read_text().strip())
        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return default
    for item in env:
        k, _, v = item.decode(errors="replace").partition("=")
        if k == name and v.strip():
            return int(v)
    return default


def test_another_car_can_neither_read_nor_cancel_nor_finish_a_trip(companies):
    """Car B asks about car A's trip at its coordinator (a) and at a server that does not
    coordinate it (c): 404 every time, as if the trip did not exist; nothing changes."""
    a = companies["a"]
    legs = route(fresh_stations(companies))
    owner, other = new_car_id("own"), new_car_id("other")
    trip = book_trip(a, legs, car_id=owner)
    for cid in ("a", "c"):
        srv = companies[cid]
        assert_error(srv.get(f"/trips/{trip['id']}", car=other), 404)
        assert_error(srv.post(f"/trips/{trip['id']}/cancel", car=other, timeout=60), 404)
        assert_error(srv.post(f"/trips/{trip['id']}/finish", car=other, timeout=60), 404)
        # Nor without a credential.
        assert_error(srv.post(f"/trips/{trip['id']}/cancel", timeout=60), 401, "unauthorized")
        assert_error(srv.post(f"/trips/{trip['id']}/finish", timeout=60), 401, "unauthorized")
        # B's own list does not show it.
        listed = srv.get("/trips", car=other)
        assert_status(listed, 200)
        assert trip["id"] not in [t["id"] for t in assert_json(listed)["items"]], listed.text[:500]
    # An operator answers only for the trips its company coordinates: c's does not know it.
    c = companies["c"]
    assert_error(c.get(f"/trips/{trip['id']}", admin=True), 404)
    assert_error(c.post(f"/trips/{trip['id']}/cancel", admin=True, timeout=60), 404)
    assert_error(c.post(f"/trips/{trip['id']}/finish", admin=True, timeout=60), 404)

    assert_nothing_prepared(companies, within=5)
    got = get_trip(a, trip["id"])
    assert_confirmed_everywhere(companies, got, legs)
    assert [lg["reservation_id"] for lg in got["legs"]] == [lg["reservation_id"] for lg in trip["legs"]]
    # The owner still sees it, at either server.
    for cid in ("a", "c"):
        assert get_trip(companies[cid], trip["id"], car=owner)["status"] == "confirmed"


@pytest.mark.parametrize("op,via,final,leg_status", [("cancel", "c", "cancelled", "cancelled"),
                                                      ("finish", "b", "finished", "completed")])
def test_a_car_changes_its_trip_at_a_server_that_does_not_coordinate_it(companies, op, via, final, leg_status):
    """The trip is coordinated by a; the car sends its cancel (finish) to another server,
    which forwards it to a: every leg in every database changes, nothing is left prepared."""
    a, srv = companies["a"], companies[via]
    stations = fresh_stations(companies)
    legs = route(stations)
    car = new_car_id("fwd")
    trip = book_trip(a, legs, car_id=car)
    assert srv.sql_one("SELECT count(*) FROM trips WHERE id = %s::uuid", (trip["id"],))[0] == 0

    r = srv.post(f"/trips/{trip['id']}/{op}", car=car, timeout=90)
    assert_status(r, 200)
    t = assert_json(r)
    assert t["id"] == trip["id"] and t["status"] == final, t
    rows = reservations_of_trip(companies, trip["id"])
    for cid in COMPANY_IDS:
        assert [row[2] for row in rows[cid]] == [leg_status], f"{cid}: {rows[cid]}"
    assert_nothing_prepared(companies, within=5)
    got = get_trip(a, trip["id"])
    assert got["status"] == final and got["phase"] == final, got
    assert trip_row(a, trip_id=trip["id"])["status"] == final
    # The forwarding server keeps no trip of its own.
    assert srv.sql_one("SELECT count(*) FROM trips WHERE id = %s::uuid", (trip["id"],))[0] == 0
    # Repeated through the same server: the same answer, nothing more changes.
    again = srv.post(f"/trips/{trip['id']}/{op}", car=car, timeout=90)
    assert_status(again, 200)
    assert assert_json(again)["status"] == final, again.text
    assert reservations_of_trip(companies, trip["id"]) == rows
    if op == "cancel":
        # The windows are free again.
        for cid, sid, lg in zip(COMPANY_IDS, stations, legs):
            companies[cid].book_ok(sid, lg["start"], lg["end"])


@pytest.mark.parametrize("op", ["cancel", "finish"])
def test_a_peer_cannot_change_legs_another_company_booked(companies, op):
    """a booked the trip's legs; c (a real peer, with its own peer token) asks b to
    prepare a cancel (finish) of them: 403, and the legs stay confirmed."""
    a, b, c = companies["a"], companies["b"], companies["c"]
    legs = route(fresh_stations(companies))
    trip = book_trip(a, legs)
    hexid = trip["id"].replace("-", "")
    headers = {"Authorization": f"Token {coordinator_token(c, b)}"}
    b_legs = [dict(index=i, station_id=lg["station_id"], start=lg["start"], end=lg["end"])
              for i, lg in enumerate(legs) if lg["station_id"].startswith("b-")]
    gids = []
    # As itself (the coordinator named is c, which did not book the legs) ...
    gid = f"evc_c_{hexid}_{op[0]}{secrets.token_hex(4)}"
    gids.append(gid)
    r = b.post("/federation/prepare", headers=headers, json={
        "gid": gid, "trip_id": trip["id"], "coordinator": "c", "op": op, "car_id": trip["car_id"], "legs": b_legs})
    assert_error(r, 403, "forbidden")
    # ... or posing as a, the real coordinator.
    gid = f"evc_a_{hexid}_{op[0]}{secrets.token_hex(4)}"
    gids.append(gid)
    r = b.post("/federation/prepare", headers=headers, json={
        "gid": gid, "trip_id": trip["id"], "coordinator": "a", "op": op, "car_id": trip["car_id"], "legs": b_legs})
    assert_error(r, 403, "forbidden")

    assert b.sql_one("SELECT count(*) FROM pg_prepared_xacts WHERE gid = ANY(%s)", (gids,))[0] == 0
    assert b.sql_one("SELECT count(*) FROM tx_markers WHERE gid = ANY(%s)", (gids,))[0] == 0
    assert_nothing_prepared(companies, within=5)
    assert_confirmed_everywhere(companies, get_trip(a, trip["id"]), legs)


def test_car_trip_limit_refuses_one_more_live_trip_and_books_nothing(companies, stack):
    """With the default EVC_CAR_MAX_TRIPS=3, a car's 4th live future trip coordinated at
    one company is 409 car_limit_reached and books nothing; the limit is per coordinator,
    and a cancelled trip no longer counts."""
    limit = worker_setting(stack, "a", "EVC_CAR_MAX_TRIPS", 3)
    if limit == 0 or limit > 20:
        pytest.skip(f"the stack runs with EVC_CAR_MAX_TRIPS={limit}")
    a, b = companies["a"], companies["b"]
    stations = fresh_stations(companies)
    car = new_car_id("limit")
    start = future_start(max_days=200)
    plans = [route(stations, start=start + timedelta(days=i)) for i in range(limit + 2)]
    trips = [book_trip(a, plans[i], car_id=car) for i in range(limit)]

    extra = plans[limit]
    r, key, _ = post_trip(a, extra, car_id=car)
    assert_error(r, 409, "car_limit_reached")
    assert trip_row(a, key=key, car_id=car) is None
    assert a.sql_one("SELECT count(*) FROM trips WHERE car_id = %s", (car,))[0] == limit

    def extra_windows_live():
        n = 0
        for cid, sid, lg in zip(COMPANY_IDS, stations, extra):
            n += companies[cid].sql_one(
                "SELECT count(*) FROM reservations WHERE station_id = %s AND status IN ('held', 'confirmed')"
                " AND during && tstzrange(%s::timestamptz, %s::timestamptz)", (sid, lg["start"], lg["end"]))[0]
        return n

    assert extra_windows_live() == 0
    live_of_car = sum(c.sql_one("SELECT count(*) FROM reservations WHERE car_id = %s"
                                " AND status IN ('held', 'confirmed')", (car,))[0] for c in companies.values())
    assert live_of_car == 3 * limit, live_of_car
    assert_nothing_prepared(companies, within=5)

    # Another coordinator counts its own trips: the same car books there.
    at_b = book_trip(b, plans[limit + 1], car_id=car)
    assert at_b["status"] == "confirmed", at_b
    # Once one of its trips at a is cancelled, the refused request goes through (it left nothing behind).
    r = a.post(f"/trips/{trips[0]['id']}/cancel", car=car, timeout=60)
    assert_status(r, 200)
    r, _, _ = post_trip(a, extra, car_id=car, key=key)
    assert_status(r, 201)
    assert r.headers.get("Idempotent-Replayed") != "true", dict(r.headers)
    assert_confirmed_everywhere(companies, assert_json(r), extra)
