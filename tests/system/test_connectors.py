"""Connector types (db/migrations/017_connectors.sql): each charger of a station has a
connector (CCS2, CHAdeMO or Type2) and a power; a car that names its connector books,
plans and travels only on chargers of that type, over REST and over MQTT alike.

Every test uses fresh stations (or only reads the demo ones), its own cars and windows
months ahead, so the file runs again and again on one stack."""

from datetime import timedelta

import pytest

from conftest import assert_error, assert_json, assert_status, future_start, new_car_id, parse_ts, ts
from mqttkit import Client, new_car, new_request_id, request, resp_topic
from tripkit import new_key, post_trip, reservations_of_trip, route, wait_for

MIXED = [{"type": "CCS2", "power_kw": 150}, {"type": "CHAdeMO", "power_kw": 50}, {"type": "Type2", "power_kw": 22}]


def mixed_station(company, connectors=MIXED, **over):
    return company.create_station(chargers=len(connectors), connectors=connectors, **over)


def window(hours=1.0):
    start = future_start()
    return start, start + timedelta(hours=hours)


def book(company, station, start, end, connector=None, car=None):
    body = {"station_id": station, "car_id": car or new_car_id("conn"), "start": ts(start), "end": ts(end)}
    if connector is not None:
        body["connector"] = connector
    return company.post("/reservations", json=body, car=body["car_id"])


# ---------------------------------------------------------------- the catalogue

def test_stations_show_each_charger_and_the_list_filters_by_connector(companies):
    a, b = companies["a"], companies["b"]
    st = mixed_station(a)
    assert st["connectors"] == [{"charger": 1, "type": "CCS2", "power_kw": 150.0},
                                {"charger": 2, "type": "CHAdeMO", "power_kw": 50.0},
                                {"charger": 3, "type": "Type2", "power_kw": 22.0}], st
    plain = a.create_station(chargers=2, power_kw=60.0)  # no connectors given: CCS2 at the station's power
    assert plain["connectors"] == [{"charger": n, "type": "CCS2", "power_kw": 60.0} for n in (1, 2)], plain

    ids = lambda q: {s["id"] for s in assert_json(a.get(f"/stations?{q}"))["items"]}
    chademo = ids("connector=CHAdeMO")
    assert st["id"] in chademo and plain["id"] not in chademo
    assert {st["id"], plain["id"]} <= ids("connector=CCS2")
    for s in assert_json(a.get("/stations?connector=Type2&status=active"))["items"]:
        assert "Type2" in {c["type"] for c in s["connectors"]} and s["status"] == "active", s
    # The demo seed is a mix, and every demo charger has a known type and a power of 22 to 150 kW.
    seeded = {s["id"]: s for s in assert_json(a.get("/stations"))["items"] if s["id"] in ("a-jpa-01", "a-goi-01")}
    assert {c["type"] for c in seeded["a-jpa-01"]["connectors"]} == {"CCS2", "CHAdeMO", "Type2"}, seeded
    assert {c["type"] for c in seeded["a-goi-01"]["connectors"]} == {"CCS2"}, seeded
    assert all(22 <= c["power_kw"] <= 150 for s in seeded.values() for c in s["connectors"])

    # PATCH: a list of connectors replaces them and gives the count; more chargers get CCS2.
    r = a.request("PATCH", f"/stations/{plain['id']}", admin=True,
                  json={"connectors": [{"type": "Type2", "power_kw": 22}]})
    assert_status(r, 200)
    assert assert_json(r)["chargers"] == 1 and assert_json(r)["connectors"][0]["type"] == "Type2"
    r = a.request("PATCH", f"/stations/{plain['id']}", admin=True, json={"chargers": 2})
    assert [c["type"] for c in assert_json(r)["connectors"]] == ["Type2", "CCS2"]

    # The peers' cached catalogues carry them too (they refresh on updated_since).
    def cached():
        items = assert_json(b.get("/network/stations"))["items"]
        mine = [s for s in items if s["id"] == st["id"]]
        return mine and mine[0].get("connectors") == st["connectors"]
    assert wait_for(cached, 30), "peer b's catalogue never showed the station's connectors"


BAD_STATIONS = [
    {"connectors": [{"type": "ccs2"}]},
    {"connectors": [{"type": "GB/T"}]},
    {"connectors": [{"type": "CCS2", "power_kw": 0}]},
    {"connectors": [{"type": "CCS2", "power_kw": 5000}]},
    {"connectors": [{"type": "CCS2", "color": "red"}]},
    {"connectors": [{"type": "CCS2", "charger": 2}]},
    {"connectors": [{"power_kw": 50}]},
    {"connectors": ["CCS2"]},
    {"connectors": []},
    {"connectors": [{"type": "CCS2"}] * 65},
    {"connectors": "CCS2"},
    {"chargers": 2, "connectors": [{"type": "CCS2"}]},
]


@pytest.mark.parametrize("bad", BAD_STATIONS)
def test_bad_connectors_are_400_and_change_nothing(companies, bad):
    a = companies["a"]
    st = mixed_station(a)
    before = a.counts()
    body = a.station_body(chargers=bad.get("chargers", 1), **{k: v for k, v in bad.items() if k != "chargers"})
    assert_error(a.post("/stations", json=body, admin=True), 400, {"invalid_field"})
    assert_error(a.request("PATCH", f"/stations/{st['id']}", admin=True, json=bad), 400, {"invalid_field"})
    assert a.counts() == before
    assert assert_json(a.get(f"/stations/{st['id']}"))["connectors"] == st["connectors"]
    assert_error(a.get(f"/stations/{body['id']}"), 404)


@pytest.mark.parametrize("who", ["anonymous", "car", "other_operator"])
def test_only_the_operator_sets_connectors_and_a_refusal_changes_nothing(companies, who):
    a, b = companies["a"], companies["b"]
    st = mixed_station(a)
    headers = {"anonymous": {}, "car": a.as_car(new_car_id("who")), "other_operator": b.admin}[who]
    change = {"connectors": [{"type": "Type2", "power_kw": 22}] * 3}
    r = a.request("PATCH", f"/stations/{st['id']}", headers=headers, json=change)
    assert_error(r, {"anonymous": 401, "car": 403, "other_operator": 401}[who])
    body = a.station_body(connectors=[{"type": "CHAdeMO"}], chargers=1)
    assert_error(a.request("POST", "/stations", headers=headers, json=body),
                 {"anonymous": 401, "car": 403, "other_operator": 401}[who])
    assert assert_json(a.get(f"/stations/{st['id']}"))["connectors"] == st["connectors"]
    assert_error(a.get(f"/stations/{body['id']}"), 404)


# ---------------------------------------------------------------- single bookings

def test_a_booking_with_a_connector_takes_only_that_type(companies):
    a = companies["a"]
    st = mixed_station(a)["id"]
    start, end = window()
    got = {c: assert_json(book(a, st, start, end, c)) for c in ("Type2", "CHAdeMO")}
    assert got["Type2"]["charger"] == 3 and got["CHAdeMO"]["charger"] == 2, got

    # The CCS2 charger is still free, but not for a CHAdeMO car: 409, with windows free for it.
    r = book(a, st, start, end, "CHAdeMO")
    body = assert_error(r, 409, {"no_charger_free"})
    assert "CHAdeMO" in body["error"]["message"], body
    for alt in body.get("alternatives", []):
        assert parse_ts(alt["end"]) <= start or parse_ts(alt["start"]) >= end, alt
    assert a.sql_one("SELECT count(*) FROM reservations WHERE station_id = %s", (st,))[0] == 2
    # Without a connector any free charger will do.
    assert assert_json(book(a, st, start, end))["charger"] == 1


@pytest.mark.parametrize("bad", ["ccs2", "CCS", "", "CHAdeMO ", 5, None, ["CCS2"]])
def test_a_bad_connector_is_400_and_books_nothing(companies, bad):
    a = companies["a"]
    st = mixed_station(a)["id"]
    start, end = window()
    before = a.counts()
    body = {"station_id": st, "car_id": new_car_id("bad"), "start": ts(start), "end": ts(end), "connector": bad}
    assert_error(a.post("/reservations", json=body, car=body["car_id"]), 400)
    r, _, _ = post_trip(a, [{"station_id": st, "start": ts(start), "end": ts(end), "connector": bad}])
    assert_error(r, 400)
    assert a.counts() == before
    assert a.sql_one("SELECT count(*) FROM trips WHERE car_id = %s", (body["car_id"],))[0] == 0
    assert_error(a.get("/stations", params={"connector": bad if isinstance(bad, str) else "x"}), 400)


# ---------------------------------------------------------------- trips across companies

def test_a_trip_leg_at_another_company_takes_the_cars_connector(companies):
    a, b = companies["a"], companies["b"]
    here = mixed_station(a)["id"]
    there = mixed_station(b, connectors=[{"type": "CCS2"}, {"type": "CHAdeMO"}])["id"]
    legs = route([here, there])
    car = new_car_id("trip")
    body = {"car_id": car, "connector": "CHAdeMO", "legs": legs}
    r = a.post("/trips", json=body, headers={"Idempotency-Key": new_key(), **a.as_car(car)}, timeout=60)
    assert_status(r, 201)
    trip = assert_json(r)
    assert [leg["charger"] for leg in trip["legs"]] == [2, 2], trip
    assert all(leg.get("connector") == "CHAdeMO" for leg in trip["legs"]), trip

    # The same window again: b's CHAdeMO charger is taken, its CCS2 one free. The 2PC
    # participant picks by type, so the trip is refused and nothing is held anywhere.
    car2 = new_car_id("trip")
    legs2 = [legs[0] | {"station_id": mixed_station(a)["id"]}, legs[1]]
    r = a.post("/trips", json={"car_id": car2, "connector": "CHAdeMO", "legs": legs2},
               headers={"Idempotency-Key": new_key(), **a.as_car(car2)}, timeout=60)
    refused = assert_error(r, 409)
    assert refused.get("failed_leg") == 1, refused
    held = a.sql_one("SELECT count(*) FROM reservations WHERE car_id = %s AND status IN ('held', 'confirmed')",
                     (car2,))[0] + b.sql_one(
        "SELECT count(*) FROM reservations WHERE car_id = %s AND status IN ('held', 'confirmed')", (car2,))[0]
    assert held == 0
    # A CCS2 car gets b's free CCS2 charger for that same window.
    r = a.post("/trips", json={"car_id": car2, "connector": "CCS2", "legs": legs2},
               headers={"Idempotency-Key": new_key(), **a.as_car(car2)}, timeout=60)
    assert_status(r, 201)
    assert assert_json(r)["legs"][1]["charger"] == 1


# ---------------------------------------------------------------- the planner

BATTERY = {"capacity_kwh": 50, "soc": 60, "consumption_kwh_per_100km": 18.5, "target_soc": 90}


def plan(company, connector, car=None):
    car = car or new_car_id("plan")
    body = {"car_id": car, "origin": "João Pessoa", "destination": "Feira de Santana",
            "departure": ts(future_start()), "battery": dict(BATTERY), "max_options": 3}
    if connector is not None:
        body["connector"] = connector
    return company.post("/routes/plan", json=body, car=car, timeout=60)


def test_the_planner_only_proposes_stations_with_the_cars_connector(companies):
    a = companies["a"]
    catalogue = {s["id"]: s for s in assert_json(a.get("/network/stations"))["items"]}
    anyone = assert_json(plan(a, None))
    chademo = assert_json(plan(a, "CHAdeMO"))
    assert chademo["connector"] == "CHAdeMO" and anyone["connector"] is None
    having = [s for s in catalogue.values() if s["status"] == "active"
              and "CHAdeMO" in {c["type"] for c in s.get("connectors", [])}]
    assert 0 < chademo["stations_considered"] < anyone["stations_considered"], (chademo, anyone)
    assert chademo["options"], chademo
    for option in chademo["options"]:
        for leg in option["legs"]:
            chargers = [c for c in catalogue[leg["station_id"]]["connectors"] if c["type"] == "CHAdeMO"]
            assert chargers, f"{leg['station_id']} has no CHAdeMO charger: {option}"
            assert leg["power_kw"] == max(c["power_kw"] for c in chargers), leg  # charged at that charger's power
    assert len(having) < len(catalogue)
    assert_error(plan(a, "chademo"), 400, {"invalid_field"})

    # The availability batch between companies counts only chargers of the asked type.
    st = mixed_station(companies["b"], connectors=[{"type": "CCS2"}, {"type": "CHAdeMO"}])["id"]
    start, end = window()
    assert_status(book(companies["b"], st, start, end, "CHAdeMO"), 201)
    asked = lambda c: companies["b"].post("/availability/batch", admin=True, json={"windows": [
        {"station_id": st, "start": ts(start), "end": ts(end)} | ({"connector": c} if c else {})]})
    answers = {c: assert_json(asked(c))["windows"][0]["free"] for c in (None, "CCS2", "CHAdeMO")}
    assert answers == {None: True, "CCS2": True, "CHAdeMO": False}, answers
    assert_error(asked("GB/T"), 400)


# ---------------------------------------------------------------- MQTT

def test_mqtt_requests_follow_the_same_rule(companies, stack):
    a, b = companies["a"], companies["b"]
    stations = [mixed_station(a)["id"], mixed_station(b, connectors=[{"type": "CCS2"}, {"type": "Type2"}])["id"]]
    legs = route(stations)
    car = new_car()
    with Client(stack) as mq:
        mq.subscribe(resp_topic("a", car))
        rid = new_request_id("conn")
        ans = request(mq, "a", car, {"type": "reserve", "request_id": rid, "legs": legs, "connector": "Type2"})
        assert ans is not None and ans["status"] == 201, ans
        trip = ans["body"]
        assert [leg["charger"] for leg in trip["legs"]] == [3, 2], trip
        rows = reservations_of_trip(companies, trip["id"])
        assert [r[2] for r in rows["a"] + rows["b"]] == ["confirmed", "confirmed"], rows

        before = (a.counts(), b.counts())
        rid = new_request_id("conn")
        ans = request(mq, "a", car, {"type": "reserve", "request_id": rid, "legs": route(stations),
                                     "connector": "type2"})
        assert ans is not None and ans["status"] == 400, ans
        rid = new_request_id("conn")
        ans = request(mq, "a", car, {"type": "plan", "request_id": rid, "origin": "Natal", "destination": "Recife",
                                     "battery": {"capacity_kwh": 50, "soc": 80}, "connector": "GB/T"})
        assert ans is not None and ans["status"] == 400, ans
        assert (a.counts(), b.counts()) == before
