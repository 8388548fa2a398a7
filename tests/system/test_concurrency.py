"""Many clients racing for the same chargers: exactly as many win as there are free
chargers, every other one gets a clean 409, and the database never holds two live
reservations of one charger that overlap. Each client is a car booking for itself
(its own token); one car racing itself still gets no more than its per-car limit."""

import os
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import requests

from conftest import assert_json, future_start, new_car_id, ts, window
from tripkit import fresh_stations, new_key, route

CAR_MAX_RESERVATIONS = int(os.environ.get("EVC_CAR_MAX_RESERVATIONS", "6"))
CAR_MAX_TRIPS = int(os.environ.get("EVC_CAR_MAX_TRIPS", "3"))

OVERLAP_CHECK = """
    SELECT count(*)
    FROM reservations r1
    JOIN reservations r2
      ON r1.station_id = r2.station_id
     AND r1.charger = r2.charger
     AND r1.id < r2.id
     AND r1.during && r2.during
    WHERE r1.status IN ('held', 'confirmed')
      AND r2.status IN ('held', 'confirmed')
"""


def race(company, bodies, path="/reservations", headers=None):
    """POSTs every body at once, one thread and one session each, each as the car it
    names (tokens issued beforehand, so the race is only the booking) plus `headers`
    (a dict, or a function of the body's index). Returns [(status, json or None), ...]
    in the order of `bodies`."""
    n = len(bodies)
    barrier = threading.Barrier(n, timeout=60)
    auth = [company.as_car(body["car_id"]) for body in bodies]
    extra = [(headers(i) if callable(headers) else headers) or {} for i in range(n)]

    def one(i):
        body = bodies[i]
        with requests.Session() as s:
            barrier.wait()
            try:
                r = s.post(company.url(path), json=body, headers=dict(auth[i], **extra[i]), timeout=60)
            except requests.RequestException as e:
                return ("error", repr(e))
            try:
                return (r.status_code, r.json())
            except ValueError:
                return (r.status_code, r.text[:200])

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(one, range(n)))


def live_in_window(company, station_id, start, end):
    return company.sql(
        "SELECT id::text, charger FROM reservations WHERE station_id = %s "
        "AND status IN ('held', 'confirmed') AND during && tstzrange(%s, %s) ORDER BY charger",
        (station_id, start, end))


def assert_no_overlaps_anywhere(company):
    assert company.sql_one(OVERLAP_CHECK)[0] == 0, "two live reservations of one charger overlap"


def summarize(results):
    return Counter(st for st, _ in results)


def test_50_clients_race_for_the_last_free_charger(companies):
    for company in companies.values():
        st = company.create_station(chargers=2)
        start, end = window(hours=1)
        first = company.book_ok(st["id"], start, end)

        bodies = [{"station_id": st["id"], "car_id": new_car_id(f"race{i}"),
                   "start": ts(start), "end": ts(end)} for i in range(50)]
        results = race(company, bodies)
        statuses = summarize(results)
        assert statuses == Counter({201: 1, 409: 49}), f"company {company.id}: {statuses}: " \
            f"{[r for r in results if r[0] not in (201, 409)][:3]}"
        for status, body in results:
            if status == 409:
                assert body["error"]["code"] == "no_charger_free", body
        winner = next(body for status, body in results if status == 201)
        assert winner["charger"] != first["charger"]
        assert winner["charger"] in (1, 2)

        live = live_in_window(company, st["id"], start, end)
        assert len(live) == 2, live
        assert {c for _, c in live} == {1, 2}, "the two live reservations use distinct chargers"
        assert {i for i, _ in live} == {first["id"], winner["id"]}, \
            "the database holds exactly the reservations the clients were told about"
        assert_no_overlaps_anywhere(company)
        company.assert_alive()


def test_40_clients_race_for_an_empty_station_with_3_chargers(company):
    st = company.create_station(chargers=3)
    start, end = window(hours=2)
    bodies = [{"station_id": st["id"], "car_id": new_car_id(f"race{i}"),
               "start": ts(start), "end": ts(end)} for i in range(40)]
    results = race(company, bodies)
    statuses = summarize(results)
    assert statuses == Counter({201: 3, 409: 37}), statuses

    winners = [body for status, body in results if status == 201]
    assert sorted(w["charger"] for w in winners) == [1, 2, 3]
    live = live_in_window(company, st["id"], start, end)
    assert sorted(c for _, c in live) == [1, 2, 3]
    assert {i for i, _ in live} == {w["id"] for w in winners}
    assert_no_overlaps_anywhere(company)
    company.assert_alive()


def test_racing_overlapping_windows_never_double_book(company):
    """30 clients ask for staggered, overlapping windows on 2 chargers. Whatever
    wins, every 201 is a live row, every live row was a 201, and no charger is
    booked twice at any instant."""
    st = company.create_station(chargers=2)
    t0 = future_start()
    bodies = []
    for i in range(30):
        s = t0 + timedelta(minutes=10 * (i % 10))
        bodies.append({"station_id": st["id"], "car_id": new_car_id(f"stagger{i}"),
                       "start": ts(s), "end": ts(s + timedelta(minutes=45))})
    results = race(company, bodies)
    statuses = summarize(results)
    assert set(statuses) <= {201, 409}, statuses
    assert statuses[201] >= 2

    won = {body["id"] for status, body in results if status == 201}
    rows = company.sql("SELECT id::text FROM reservations WHERE station_id = %s "
                       "AND status IN ('held', 'confirmed')", (st["id"],))
    assert {r[0] for r in rows} == won
    assert_no_overlaps_anywhere(company)

    # No refusal was wrong: nothing was cancelled, so a charger free over a refused
    # window now was free when the request was refused too.
    for (status, body), req in zip(results, bodies):
        if status != 409:
            continue
        assert body["error"]["code"] == "no_charger_free", body
        for charger in (1, 2):
            busy = company.sql_one(
                "SELECT count(*) FROM reservations WHERE station_id = %s AND charger = %s "
                "AND status IN ('held', 'confirmed') AND during && tstzrange(%s, %s)",
                (st["id"], charger, req["start"], req["end"]))[0]
            assert busy > 0, f"refused {req['start']}..{req['end']} but charger {charger} is free"

    seg = assert_json(company.get(f"/stations/{st['id']}/availability",
                                  params={"from": ts(t0), "to": ts(t0 + timedelta(hours=3))}))
    assert all(0 <= s["free"] <= 2 for s in seg["segments"]), seg


def test_concurrent_cancel_and_rebook_leave_one_live_reservation(company):
    """Cancelling the only reservation of a 1-charger station while 20 clients try
    to take the window: at most one of them wins, and only after the cancel."""
    st = company.create_station(chargers=1)
    start, end = window(hours=1)
    held = company.book_ok(st["id"], start, end)

    n = 21
    barrier = threading.Barrier(n, timeout=60)
    cars = [None] + [new_car_id(f"rebook{i}") for i in range(1, n)]
    auth = [company.admin] + [company.as_car(car) for car in cars[1:]]

    def act(i):
        with requests.Session() as s:
            barrier.wait()
            if i == 0:
                r = s.post(company.url(f"/reservations/{held['id']}/cancel"), headers=auth[0], timeout=60)
            else:
                r = s.post(company.url("/reservations"), timeout=60, headers=auth[i],
                           json={"station_id": st["id"], "car_id": cars[i],
                                 "start": ts(start), "end": ts(end)})
            return r.status_code, r.json()

    with ThreadPoolExecutor(max_workers=n) as pool:
        results = list(pool.map(act, range(n)))
    assert results[0][0] == 200 and results[0][1]["status"] == "cancelled", results[0]
    statuses = summarize(results[1:])
    assert set(statuses) <= {201, 409}, statuses
    assert statuses[201] <= 1
    live = live_in_window(company, st["id"], start, end)
    assert len(live) == statuses[201]
    assert_no_overlaps_anywhere(company)
    # Whatever the race gave, the window is bookable exactly once more if it is free now.
    if statuses[201] == 0:
        company.book_ok(st["id"], start, end)
    assert len(live_in_window(company, st["id"], start, end)) == 1


def test_one_car_racing_itself_gets_no_more_than_its_reservation_limit(company):
    """20 bookings of one car at once, on distinct windows of a roomy station: exactly
    EVC_CAR_MAX_RESERVATIONS (6) win, the rest get 409 car_limit_reached, and the
    database holds exactly the winners."""
    if not 0 < CAR_MAX_RESERVATIONS < 20:
        pytest.skip(f"EVC_CAR_MAX_RESERVATIONS={CAR_MAX_RESERVATIONS}")
    st = company.create_station(chargers=4)
    car = new_car_id("greedy")
    t0 = future_start()
    bodies = [{"station_id": st["id"], "car_id": car, "start": ts(t0 + timedelta(hours=2 * i)),
               "end": ts(t0 + timedelta(hours=2 * i + 1))} for i in range(20)]
    results = race(company, bodies)
    statuses = summarize(results)
    assert statuses == Counter({201: CAR_MAX_RESERVATIONS, 409: 20 - CAR_MAX_RESERVATIONS}), \
        f"{statuses}: {[r for r in results if r[0] not in (201, 409)][:3]}"
    for status, body in results:
        if status == 409:
            assert body["error"]["code"] == "car_limit_reached", body
    won = {body["id"] for status, body in results if status == 201}
    rows = company.sql("SELECT id::text FROM reservations WHERE car_id = %s "
                       "AND status IN ('held', 'confirmed')", (car,))
    assert {r[0] for r in rows} == won
    company.assert_alive()


def test_two_bookings_of_a_car_one_short_of_its_limit_only_one_wins(company):
    """A car one booking short of EVC_CAR_MAX_RESERVATIONS sends two at once (distinct
    windows, so only the limit can refuse one): exactly one is booked, the other is
    409 car_limit_reached and writes nothing. Five cars in a row, so an unlucky
    interleaving that let both through would show."""
    if not 0 < CAR_MAX_RESERVATIONS < 20:
        pytest.skip(f"EVC_CAR_MAX_RESERVATIONS={CAR_MAX_RESERVATIONS}")
    st = company.create_station(chargers=2)
    t0 = future_start()
    for round_ in range(5):
        car = new_car_id(f"edge{round_}")
        base = t0 + timedelta(days=round_)
        for i in range(CAR_MAX_RESERVATIONS - 1):
            company.book_ok(st["id"], base + timedelta(hours=i), base + timedelta(hours=i, minutes=30), car)
        bodies = [{"station_id": st["id"], "car_id": car,
                   "start": ts(base + timedelta(hours=12 + 2 * k)), "end": ts(base + timedelta(hours=13 + 2 * k))}
                  for k in range(2)]
        results = race(company, bodies)
        assert summarize(results) == Counter({201: 1, 409: 1}), results
        refused = next(body for status, body in results if status == 409)
        assert refused["error"]["code"] == "car_limit_reached", refused
        live = company.sql_one("SELECT count(*) FROM reservations WHERE car_id = %s "
                               "AND status IN ('held', 'confirmed')", (car,))[0]
        assert live == CAR_MAX_RESERVATIONS
    company.assert_alive()


def test_one_car_racing_itself_gets_no_more_than_its_trip_limit(companies):
    """10 trips of one car at once (under the rate limit's burst of 20), each on its
    own stretch of a roomy station: exactly EVC_CAR_MAX_TRIPS (3) are confirmed, the
    rest get 409 car_limit_reached, and no refused trip holds a charger."""
    if not 0 < CAR_MAX_TRIPS < 10:
        pytest.skip(f"EVC_CAR_MAX_TRIPS={CAR_MAX_TRIPS}")
    a = companies["a"]
    stations = fresh_stations(companies, ids=("a",), chargers=4)
    car = new_car_id("greedy-trips")
    t0 = future_start()
    bodies = [{"car_id": car, "legs": route(stations, start=t0 + timedelta(hours=3 * i))} for i in range(10)]
    results = race(a, bodies, path="/trips", headers=lambda i: {"Idempotency-Key": new_key("greedy")})
    statuses = summarize(results)
    assert statuses == Counter({201: CAR_MAX_TRIPS, 409: 10 - CAR_MAX_TRIPS}), \
        f"{statuses}: {[r for r in results if r[0] not in (201, 409)][:3]}"
    for status, body in results:
        if status == 409:
            assert body["error"]["code"] == "car_limit_reached", body
    live = a.sql_one("SELECT count(*) FROM trips WHERE car_id = %s "
                     "AND status IN ('preparing', 'committing', 'confirmed')", (car,))[0]
    assert live == CAR_MAX_TRIPS
    held = a.sql_one("SELECT count(*) FROM reservations WHERE car_id = %s "
                     "AND status IN ('held', 'confirmed')", (car,))[0]
    assert held == CAR_MAX_TRIPS, "each confirmed one-leg trip holds one charger, a refused one none"
