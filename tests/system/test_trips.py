"""Distributed trips: one charging window per leg at stations of several companies,
booked all-or-nothing by two-phase commit. Every check looks at the API answer AND
at each company's database (reservations carrying the trip id, pg_prepared_xacts).

Each test makes its own stations (1 charger, so a second booking of a window is
refused) and picks windows months ahead at random minutes.
"""

import time
from datetime import timedelta

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

    again = get_trip(companies[coordinator], trip["id"])
    assert again["status"] == "confirmed" and again["phase"] == "confirmed", again
    assert [lg["reservation_id"] for lg in again["legs"]] == [lg["reservation_id"] for lg in trip["legs"]]
    assert all(lg["state"] == "confirmed" for lg in again["legs"]), again

    listed = companies[coordinator].get("/trips", params={"car_id": car})
    assert_status(listed, 200)
    items = assert_json(listed)["items"]
    assert [t["id"] for t in items] == [trip["id"]], items

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

    assert a.sql_one("SELECT count(*) FROM trips WHERE idempotency_key = %s", (key,))[0] == 1
    # Still exactly one reservation per leg: the retry booked nothing.
    assert_confirmed_everywhere(companies, trip, legs)


def test_same_key_with_another_body_is_422_and_books_nothing(companies):
    a = companies["a"]
    stations = fresh_stations(companies)
    legs = route(stations)
    key = new_key()
    first, _, _ = post_trip(a, legs, key=key)
    assert_status(first, 201)
    trip = assert_json(first)

    other_legs = route(stations)  # other windows
    r, _, _ = post_trip(a, other_legs, key=key)
    assert_error(r, 422)
    r, _, _ = post_trip(a, legs, car_id=new_car_id("other"), key=key)
    assert_error(r, 422)

    assert a.sql_one("SELECT count(*) FROM trips WHERE idempotency_key = %s", (key,))[0] == 1
    assert_confirmed_everywhere(companies, trip, legs)
    for cid, sid in zip(COMPANY_IDS, stations):
        n = companies[cid].sql_one(
            "SELECT count(*) FROM reservations WHERE station_id = %s AND status IN ('held', 'confirmed')", (sid,))[0]
        assert n == 1, f"{sid}: {n} live reservations, expected only the first trip's"


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
    assert_error(a.get("/trips/7f0c2a8e-1111-4222-8333-944455556666"), 404)
    assert_error(a.post("/trips/7f0c2a8e-1111-4222-8333-944455556666/cancel", admin=True), 404)
    assert_error(a.get("/trips/not-a-uuid"), 404)


# ---------------------------------------------------------------- refused requests

@pytest.mark.parametrize("key", [None, "", "has space", "x" * 101, "semi;colon"],
                         ids=["missing", "empty", "space", "too-long", "bad-char"])
def test_bad_or_missing_idempotency_key_is_400(companies, key):
    a = companies["a"]
    legs = route(fresh_stations(companies, ids=("a",)))
    headers = {} if key is None else {"Idempotency-Key": key}
    before = a.sql_one("SELECT count(*) FROM trips")[0]
    r = a.post("/trips", json={"car_id": new_car_id(), "legs": legs}, headers=headers)
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


@pytest.mark.parametrize("auth", [None, "Token 0123456789abcdef0123456789abcdef", "Bearer admin", "Token "],
                         ids=["none", "wrong-token", "admin-bearer", "empty-token"])
@pytest.mark.parametrize("method,path,body", FEDERATION_CALLS, ids=[c[1].split("/")[2] for c in FEDERATION_CALLS])
def test_federation_endpoints_need_the_peer_token(companies, method, path, body, auth):
    b = companies["b"]
    headers = {}
    if auth == "Bearer admin":
        headers["Authorization"] = f"Bearer {b.admin_token}"
    elif auth is not None:
        headers["Authorization"] = auth
    r = b.request(method, path, json=body, headers=headers)
    assert_error(r, 401)
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
