"""Trip planning: POST /routes/plan turns "João Pessoa to Feira de Santana at 60%" into
options of charging windows at stations of every company, each bookable as it stands
with POST /trips; POST /availability/batch answers which windows are free.

The plans run on the demo stations (db/seed) and the road network (db/migrations/004).
Each test departs on a random day months ahead at a random minute, so runs never meet
each other's bookings; what a test books it cancels.

Planning needs a credential: a car plans for itself (car_id may be left out: its
token's car; naming another car is 403), the operator plans for a car it names.
"""

import os
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import requests

from conftest import (STACK_SCRIPT, assert_error, assert_json, assert_status, future_start, new_car_id, parse_ts,
                      run_stack, stack_dir, ts)
from tripkit import ensure_up, federation_ready, new_key, post_trip, wait_for

# A 50 kWh car at 18.5 kWh/100 km charged to 90%: about 200 km between charges, and
# from 60% about 120 km, short of Recife, so the trip starts at a Paraíba station (a),
# goes on at Pernambuco and Alagoas ones (b) and ends at Sergipe and Bahia ones (c).
BATTERY = {"capacity_kwh": 50, "soc": 60, "consumption_kwh_per_100km": 18.5, "target_soc": 90}
MIN_SOC = 15.0
PLAN_TIMEOUT = 60


def plan_body(origin="João Pessoa", destination="Feira de Santana", departure=None, battery=None,
              max_options=3, car_id=None):
    return {"car_id": car_id or new_car_id("plan"), "origin": origin, "destination": destination,
            "departure": ts(departure or future_start()), "battery": dict(battery or BATTERY),
            "max_options": max_options}


def plan(company, body, **who):
    """POST /routes/plan as the car the body names (its own token) unless who says otherwise
    (admin=True, car=..., or headers={} for the public)."""
    if not who:
        who = {"car": body["car_id"]}
    return company.post("/routes/plan", json=body, timeout=PLAN_TIMEOUT, **who)


def plan_ok(company, body, **who):
    r = plan(company, body, **who)
    assert_status(r, 200)
    return assert_json(r)


def overlaps(a_start, a_end, b_start, b_end):
    return parse_ts(a_start) < parse_ts(b_end) and parse_ts(b_start) < parse_ts(a_end)


def assert_option_shape(option, body, max_soc):
    """A well-formed option: legs in time order, charges within the limits, sums that add up."""
    legs = option["legs"]
    assert 1 <= len(legs) <= 8, option
    departure = parse_ts(body["departure"])
    previous_end = departure
    companies = []
    for leg in legs:
        for key in ("station_id", "company", "city", "window", "start", "end", "arrive_soc", "depart_soc",
                    "kwh", "cost"):
            assert key in leg, (key, leg)
        assert leg["station_id"].startswith(leg["company"] + "-"), leg
        assert leg["window"] == {"start": leg["start"], "end": leg["end"]}, leg
        start, end = parse_ts(leg["start"]), parse_ts(leg["end"])
        assert start >= previous_end and end > start, (previous_end, leg)
        assert start.second == 0 and end.second == 0, leg
        assert leg["arrive_soc"] >= MIN_SOC - 0.05, leg
        assert leg["arrive_soc"] < leg["depart_soc"] <= max_soc + 0.05, leg
        assert leg["kwh"] > 0 and leg["cost"] > 0, leg
        previous_end = end
        if leg["company"] not in companies:
            companies.append(leg["company"])
    assert option["companies"] == companies, option
    assert parse_ts(option["eta"]) > previous_end, option
    assert option["arrive_soc"] >= MIN_SOC - 0.05, option
    assert abs(option["total_cost"] - sum(leg["cost"] for leg in legs)) < 0.02, option


def signature(option):
    return tuple(leg["station_id"] for leg in option["legs"]), tuple(option["via"])


def trip_legs(option):
    """What POST /trips needs of an option: its legs, as they are."""
    return option["legs"]


def book(company, option, car_id):
    r, _, _ = post_trip(company, trip_legs(option), car_id=car_id)
    assert_status(r, 201)
    return assert_json(r)


def cancel_trip(company, trip):
    r = company.post(f"/trips/{trip['id']}/cancel", admin=True, headers={"Idempotency-Key": new_key("cancel")}, timeout=60)
    assert r.status_code in (200, 201, 202, 409), r.text[:300]


@pytest.fixture
def all_up(companies):
    """Every company sees every other up (a worker just started has not heartbeaten yet)."""
    assert federation_ready(companies, timeout=30), "the federation is not all up"
    return companies


def test_plan_across_three_companies_books_as_it_stands(all_up):
    companies = all_up
    a, b = companies["a"], companies["b"]
    body = plan_body()
    answer = plan_ok(b, body)  # any company plans for the whole federation

    assert answer["origin"]["name"] == "João Pessoa" and answer["destination"]["name"] == "Feira de Santana"
    assert answer["battery"]["consumption_source"] == "request"
    assert answer["companies_left_out"] == [], answer["companies_left_out"]
    options = answer["options"]
    assert 1 <= len(options) <= 3, answer
    etas = [parse_ts(o["eta"]) for o in options]
    assert etas == sorted(etas), etas
    assert len({signature(o) for o in options}) == len(options), "options must differ"
    for option in options:
        assert_option_shape(option, body, BATTERY["target_soc"])
        assert set(option["companies"]) == {"a", "b", "c"}, option["companies"]
        assert option["legs"][0]["company"] == "a" and option["legs"][-1]["company"] == "c", option

    # The first option books as it stands, at company a this time.
    trip = book(a, options[0], body["car_id"])
    try:
        assert trip["status"] == "confirmed", trip
        assert [leg["station_id"] for leg in trip["legs"]] == [leg["station_id"] for leg in options[0]["legs"]]
        assert sorted(trip["participants"]) == ["a", "b", "c"], trip
    finally:
        cancel_trip(a, trip)


def test_a_taken_window_gives_another_window_or_station(all_up):
    companies = all_up
    a = companies["a"]
    body = plan_body()
    first = plan_ok(a, body)["options"][0]
    trip = book(a, first, body["car_id"])
    taken = first["legs"][0]
    owner = companies[taken["company"]]
    fillers = []
    try:
        # Every other charger of the first leg's station, same window: it is full now.
        r = owner.get(f"/stations/{taken['station_id']}")
        assert_status(r, 200)
        for _ in range(assert_json(r)["chargers"] - 1):
            fillers.append(owner.book_ok(taken["station_id"], taken["start"], taken["end"])["id"])
        assert owner.book(taken["station_id"], taken["start"], taken["end"]).status_code == 409

        again = plan_ok(a, plan_body(departure=parse_ts(body["departure"]), car_id=new_car_id("plan")))
        assert again["options"], again
        for option in again["options"]:
            for leg in option["legs"]:
                assert not (leg["station_id"] == taken["station_id"]
                            and overlaps(leg["start"], leg["end"], taken["start"], taken["end"])), (
                    f"the full window {taken} is offered again: {leg}")
        new_first = again["options"][0]["legs"][0]
        assert (new_first["station_id"] != taken["station_id"]
                or parse_ts(new_first["start"]) >= parse_ts(taken["end"])), new_first

        # What is offered instead is free: it books.
        second = book(a, again["options"][0], new_car_id("plan"))
        cancel_trip(a, second)
    finally:
        for rid in fillers:
            owner.cancel(rid)
        cancel_trip(a, trip)


def test_a_company_down_is_left_out(all_up):
    companies = all_up
    a, c = companies["a"], companies["c"]

    def c_down_at_a():
        r = a.get("/federation/peers", timeout=5)
        return any(p["company"] == "c" and p["status"] == "down" for p in r.json()["items"])

    run_stack("stop", "c", "worker")
    try:
        assert wait_for(c_down_at_a, timeout=30), "company a never saw c down"

        # A trip that a and b can serve: planned without c's stations, and said so.
        answer = plan_ok(a, plan_body(destination="Penedo"))
        assert {"company": "c", "reason": "down"} in answer["companies_left_out"], answer
        for option in answer["options"]:
            assert "c" not in option["companies"], option
            assert_option_shape(option, answer, BATTERY["target_soc"])

        # A trip that needs c: no option, and the answer says c was left out.
        r = plan(a, plan_body())
        body = assert_error(r, 422, {"no_route"})
        assert {"company": "c", "reason": "down"} in body["companies_left_out"], body
        assert "left out" in body["error"]["message"], body
    finally:
        run_stack("start", "c", "worker", check=False)
        ensure_up(c)
        federation_ready(companies, timeout=30)


def test_no_option_is_a_422_with_the_reason(company):
    # 20 kWh at 20 kWh/100 km, even 100% down to 15%: 85 km between charges, shorter
    # than the gaps between the demo stations (the 80% target is only a preference).
    battery = {"capacity_kwh": 20, "soc": 60, "consumption_kwh_per_100km": 20}
    r = plan(company, plan_body(battery=battery))
    body = assert_error(r, 422, {"no_route"})
    reason = body["reason"]
    assert reason["gap_km"] > reason["range_km"] == 85, reason
    assert reason["from"] and reason["to"], reason
    assert "longest gap" in body["error"]["message"], body


def test_the_target_charge_is_a_preference_not_a_cap(all_up):
    """A 30% target leaves 40 km between charges, shorter than any gap on the way; the
    car can make the trip charging further, so it gets a plan that says so."""
    a = all_up["a"]
    asked = plan_body(battery=dict(BATTERY, target_soc=30), max_options=1)
    body = plan_ok(a, asked)
    assert body["target_soc_raised"] is True, body
    assert body["battery"]["target_soc"] == 30
    [option] = body["options"]
    assert max(leg["depart_soc"] for leg in option["legs"]) > 30, option
    assert_option_shape(option, asked, 100)
    # Within the target, nothing is raised.
    assert plan_ok(a, plan_body(max_options=1))["target_soc_raised"] is False


def test_all_routes_come_in_pages(all_up):
    """Every distinct route, two at a time: pages do not repeat a route, the last page
    says there is no next one, and an offset past the documented 9 is a 400."""
    a = all_up["a"]
    body = plan_body(max_options=2)
    seen, offset, pages = [], 0, 0
    while offset is not None and pages < 6:
        body["offset"] = offset
        page = plan_ok(a, body)
        assert page["offset"] == offset and len(page["options"]) <= 2, page
        seen += [tuple(leg["station_id"] for leg in o["legs"]) for o in page["options"]]
        offset, pages = page["next_offset"], pages + 1
    assert len(seen) > 2, f"one page only: {seen}"
    assert len(seen) == len(set(seen)) <= 9, f"a route came twice: {seen}"
    assert offset is None or pages == 6
    # The last page is cut at the documented 9; past it there is nothing to page to.
    body.update(offset=8, max_options=2)
    last = plan_ok(a, body)
    assert len(last["options"]) <= 1 and last["next_offset"] is None, last
    body.update(offset=9)
    assert_error(plan(a, body), 400, {"invalid_field"})


@pytest.mark.parametrize("change, code", [
    ({"origin": "Atlantis"}, "unknown_city"),
    ({"destination": "joao-pessoa"}, "invalid_field"),
    ({"battery": {"soc": 60}}, "missing_field"),
    ({"battery": {"capacity_kwh": 50, "soc": 160}}, "invalid_field"),
    ({"battery": {"capacity_kwh": 50, "soc": 60, "min_soc": 40, "target_soc": 30}}, "invalid_field"),
    ({"battery": {"capacity_kwh": 50, "soc": 60, "colour": "red"}}, "invalid_field"),
    ({"max_options": 0}, "invalid_field"),
    ({"offset": -1}, "invalid_field"),
    ({"offset": 9}, "invalid_field"),
    ({"departure": "tomorrow"}, "invalid_field"),
    ({"car_id": "no spaces"}, "invalid_field"),
    ({"speed": 120}, "invalid_field"),
])
@pytest.mark.parametrize("who", ["car", "operator"])
def test_bad_plans_are_400(company, change, code, who):
    body = plan_body(origin="joao-pessoa")
    car = body["car_id"]
    body.update(change)
    if who == "operator":
        assert_error(plan(company, body, admin=True), 400, {code})
    elif "car_id" in change:
        # A car naming any car but itself is refused before the field is looked at:
        # the malformed car_id is the operator's case.
        assert_error(plan(company, body, car=car), 403, {"forbidden"})
    else:
        assert_error(plan(company, body, car=car), 400, {code})
    company.assert_alive()


def options_seen(answer):
    """What a plan offers, without its timings: the legs of each option and who was left out."""
    return ([[(leg["station_id"], leg["start"], leg["end"]) for leg in o["legs"]] for o in answer["options"]],
            answer["companies_left_out"])


def test_who_may_plan(all_up):
    """A car plans for itself with or without car_id (its token works at every server);
    the operator plans for the car it names; the answers are the same plan. The public,
    a bad token, a car naming another car and an operator naming none are refused."""
    companies = all_up
    a, b = companies["a"], companies["b"]
    body = plan_body(destination="Penedo")
    car = body["car_id"]
    no_car = {k: v for k, v in body.items() if k != "car_id"}

    assert_error(plan(a, body, headers={}), 401, {"unauthorized"})
    assert_error(plan(a, no_car, headers={}), 401, {"unauthorized"})
    assert_error(plan(a, body, headers={"Authorization": "Bearer evc1.not-a-real-token"}), 401)
    assert_error(plan(a, body, headers={"Authorization": f"Bearer {a.admin_token}x"}), 401)
    assert_error(plan(a, dict(body, car_id=new_car_id("plan")), car=car), 403, {"forbidden"})
    assert_error(plan(a, no_car, admin=True), 400, {"missing_field"})
    a.assert_alive()

    as_car = plan_ok(a, no_car, car=car)
    assert as_car["car_id"] == car, as_car["car_id"]
    assert as_car["options"], as_car
    for option in as_car["options"]:
        assert_option_shape(option, body, BATTERY["target_soc"])
    named = plan_ok(a, body, car=car)
    assert named["car_id"] == car
    by_operator = plan_ok(a, body, admin=True)
    assert by_operator["car_id"] == car
    assert options_seen(named) == options_seen(as_car) == options_seen(by_operator), (
        as_car["options"], named["options"], by_operator["options"])

    # The car's token from company a is good at company b; b's operator token is not good at a.
    at_b = plan_ok(b, no_car, headers=a.as_car(car))
    assert at_b["car_id"] == car and at_b["options"], at_b
    assert_error(plan(a, body, headers=b.admin), 401)


def test_availability_batch_says_free_and_nearest_free(companies):
    b = companies["b"]
    station = b.create_station(chargers=1)["id"]
    start = future_start()
    booked = b.book_ok(station, start, start + timedelta(hours=1))
    try:
        windows = [
            {"station_id": station, "start": ts(start + timedelta(minutes=30)), "end": ts(start + timedelta(minutes=50))},
            {"station_id": station, "start": ts(start + timedelta(hours=2)), "end": ts(start + timedelta(hours=3))},
            {"station_id": "b-nosuchstation", "start": ts(start), "end": ts(start + timedelta(hours=1))},
        ]
        r = b.post("/availability/batch", json={"windows": windows})  # public: the catalogue
        assert_status(r, 200)
        got = assert_json(r)
        assert got["company"] == "b"
        taken, free, unknown = got["windows"]
        assert taken["free"] is False and taken["reason"] == "taken", taken
        # The nearest free window of the same length starts when the booking ends.
        assert parse_ts(taken["nearest_free"]["start"]) == start + timedelta(hours=1), taken
        assert parse_ts(taken["nearest_free"]["end"]) == start + timedelta(hours=1, minutes=20), taken
        assert free["free"] is True and free["nearest_free"] is None, free
        assert unknown["free"] is False and unknown["reason"] == "unknown_station", unknown
    finally:
        b.cancel(booked["id"])

    # A credential that proves nobody is refused even where the public may read.
    assert_error(b.post("/availability/batch", json={"windows": windows[:1]},
                        headers={"Authorization": "Bearer evc1.not-a-real-token"}), 401)

    for bad in ({}, {"windows": []}, {"windows": [{"station_id": station}]},
                {"windows": [{"station_id": station, "start": ts(start), "end": ts(start)}]},
                {"windows": [{"station_id": "BAD ID", "start": ts(start), "end": ts(start + timedelta(hours=1))}]}):
        assert_error(b.post("/availability/batch", json=bad), 400)


def restart_a_with(**settings):
    """Restarts company a's worker with these worker settings in its environment
    (none: back to the defaults), and waits until the federation is whole again."""
    env = {k: v for k, v in os.environ.items() if k not in ("EVC_PLAN_MAX_INFLIGHT", "EVC_PLAN_QUEUE_MS")}
    env.update({k: str(v) for k, v in settings.items()}, EVC_STACK_DIR=stack_dir())
    p = subprocess.run([str(STACK_SCRIPT), "restart", "a", "worker"], env=env, capture_output=True, text=True,
                       timeout=180)
    assert p.returncode == 0, p.stderr[-2000:]


def test_a_saturated_planner_sheds_at_once_with_retry_after(all_up):
    """Admission control: with one plan admitted at a time and no queue
    (EVC_PLAN_MAX_INFLIGHT=1, EVC_PLAN_QUEUE_MS=0), 8 plans sent at once each get a 200
    or a 503 `overloaded` with Retry-After, answered at once (well under the 5 s a peer
    may take); at least one is shed, the worker stays healthy, and once the burst is
    over a plan goes through."""
    companies = all_up
    a = companies["a"]
    restart_a_with(EVC_PLAN_MAX_INFLIGHT=1, EVC_PLAN_QUEUE_MS=0)
    try:
        a.wait_healthy()
        assert federation_ready(companies, timeout=30), "the federation is not all up"
        car = new_car_id("shed")
        body = plan_body(car_id=car)
        headers = a.as_car(car)
        barrier = threading.Barrier(8, timeout=60)

        def one(_):
            with requests.Session() as s:
                barrier.wait()
                t0 = time.monotonic()
                r = s.post(a.url("/routes/plan"), json=body, headers=headers, timeout=PLAN_TIMEOUT)
                return r, time.monotonic() - t0

        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(one, range(8)))
        statuses = sorted(r.status_code for r, _ in answers)
        assert set(statuses) <= {200, 503}, statuses
        assert 200 in statuses and 503 in statuses, statuses
        for r, seconds in answers:
            if r.status_code == 503:
                assert_error(r, 503, "overloaded")
                assert r.headers.get("Retry-After") == "1", r.headers
                assert seconds < 2.0, f"a shed plan took {seconds:.2f} s"
        plan_ok(a, plan_body(car_id=car))  # the burst is over: admitted again
    finally:
        restart_a_with()
        a.wait_healthy()
        federation_ready(companies, timeout=30)
