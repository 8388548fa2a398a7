"""The station list's filters (?status=, ?city=) and DELETE /stations/{id} (operator):
refused with 409 while a live reservation is still ahead, then the station and its
history are gone; refused for anyone but this company's operator, writing nothing."""

from datetime import timedelta

import pytest

from conftest import assert_error, assert_json, assert_status, future_start, new_car_id


def test_the_list_filters_by_status_and_city(companies):
    a = companies["a"]
    city = f"Filtropolis {new_car_id('c')}"
    up = a.create_station(city=city)["id"]
    down = a.create_station(city=city, status="maintenance")["id"]
    other = a.create_station(city="Elsewhere", status="maintenance")["id"]
    ids = lambda q: [s["id"] for s in assert_json(a.get(f"/stations?{q}"))["items"]]
    assert sorted(ids(f"city={city}")) == sorted([up, down])
    assert ids(f"city={city.upper()}") == ids(f"city={city}")  # the city matches case-insensitively
    assert ids(f"city={city}&status=maintenance") == [down]
    assert other in ids("status=maintenance") and up not in ids("status=maintenance")
    assert all(s["status"] == "active" for s in assert_json(a.get("/stations?status=active"))["items"])
    assert ids("city=Nowhere%20at%20all") == []
    # UTF-8 city names pass intact.
    utf = a.create_station(city="São Cristóvão")["id"]
    assert utf in ids("city=S%C3%A3o%20Crist%C3%B3v%C3%A3o")


@pytest.mark.parametrize("query", ["status=closed", "status=", "city=", "city=" + "x" * 101])
def test_bad_filters_are_400(companies, query):
    assert_error(companies["a"].get(f"/stations?{query}"), 400, {"invalid_parameter"})


def test_delete_waits_for_live_bookings_then_removes_the_station(companies):
    a = companies["a"]
    st = a.create_station(chargers=1)["id"]
    start = future_start()
    res = a.book_ok(st, start, start + timedelta(hours=1))
    r = a.request("DELETE", f"/stations/{st}", admin=True)
    body = assert_error(r, 409, {"station_in_use"})
    assert "1 live reservation" in body["error"]["message"], body
    assert_status(a.get(f"/stations/{st}"), 200)
    assert_status(a.cancel(res["id"]), 200)
    r = a.request("DELETE", f"/stations/{st}", admin=True)
    assert_status(r, 200)
    assert assert_json(r) == {"id": st, "deleted": True, "reservations_removed": 1, "waitlist_removed": 0}
    assert_error(a.get(f"/stations/{st}"), 404)
    assert a.sql_one("SELECT count(*) FROM reservations WHERE station_id = %s", (st,))[0] == 0
    assert_error(a.request("DELETE", f"/stations/{st}", admin=True), 404)


@pytest.mark.parametrize("who", ["anonymous", "car", "other_operator"])
def test_only_the_operator_deletes_and_a_refusal_deletes_nothing(companies, who):
    a, b = companies["a"], companies["b"]
    st = a.create_station()["id"]
    car = new_car_id("del")
    headers = {"anonymous": {}, "car": a.as_car(car), "other_operator": b.admin}[who]
    r = a.request("DELETE", f"/stations/{st}", headers=headers)
    assert_error(r, {"anonymous": 401, "car": 403, "other_operator": 401}[who])
    assert_status(a.get(f"/stations/{st}"), 200)
