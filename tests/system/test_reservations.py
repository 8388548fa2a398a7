"""Booking charging windows: book, read, list, page, availability, charger
assignment, alternatives on a full station, cancellation, unavailable and foreign
stations, per-car limits, and what lands in the database.

A car books, reads and lists its own reservations (its token); the operator of
the company reads and lists them all; the public reads only the catalogue."""

import os
import re
import uuid
from datetime import timedelta

import pytest
import requests

from conftest import (TS_RE, assert_error, assert_json, assert_status, future_start,
                      new_car_id, next_link, parse_ts, ts, utcnow, window)

RES_FIELDS = {"id", "station_id", "charger", "car_id", "trip_id", "start", "end", "status",
              "created_at", "updated_at"}


def assert_reservation_shape(r):
    assert set(r) >= RES_FIELDS, f"reservation lacks {RES_FIELDS - set(r)}: {r!r}"
    uuid.UUID(r["id"])
    for f in ("start", "end", "created_at", "updated_at"):
        assert TS_RE.match(r[f]), (f, r)
    assert isinstance(r["charger"], int) and r["charger"] >= 1


# ---------------------------------------------------------------- book and read

def test_book_returns_201_with_location_and_can_be_read_back(company, station):
    start, end = window(hours=1.5)
    car = new_car_id()
    r = company.book(station["id"], start, end, car)
    assert_status(r, 201)
    res = assert_json(r)
    assert_reservation_shape(res)
    assert res["station_id"] == station["id"]
    assert res["car_id"] == car
    assert res["trip_id"] is None
    assert res["status"] == "confirmed"
    assert res["start"] == ts(start) and res["end"] == ts(end)
    assert 1 <= res["charger"] <= station["chargers"]
    assert abs((parse_ts(res["created_at"]) - utcnow()).total_seconds()) < 300

    loc = r.headers.get("Location")
    assert loc and loc.rstrip("/").endswith(f"/reservations/{res['id']}"), loc
    got = requests.get(requests.compat.urljoin(r.url, loc), headers=company.as_car(car), timeout=30)
    assert_status(got, 200)
    assert assert_json(got) == res

    for actor in ({"car": car}, {"admin": True}):
        got = company.get(f"/reservations/{res['id']}", **actor)
        assert_status(got, 200)
        assert assert_json(got) == res
    # Nobody else reads it: the public needs a credential, another car is told it does not exist.
    assert_error(company.get(f"/reservations/{res['id']}"), 401, "unauthorized")
    assert_error(company.get(f"/reservations/{res['id']}", car=new_car_id("other")), 404, "not_found")


def test_booking_with_offset_timestamp_is_understood_or_refused(company, station):
    """An RFC 3339 offset is either honoured (stored as the same instant in UTC)
    or refused with 400; it is never read as if it were UTC."""
    start, end = window(hours=1)
    # The same instants written with a -03:00 offset.
    local = lambda t: (t - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%S-03:00")
    r = company.book(station["id"], local(start), local(end))
    if r.status_code == 400:
        assert_error(r, 400)
        return
    assert_status(r, 201)
    res = assert_json(r)
    assert (res["start"], res["end"]) == (ts(start), ts(end))


def test_start_a_minute_ago_is_still_accepted(company, station):
    """The contract only refuses starts more than 5 minutes in the past."""
    start = utcnow().replace(microsecond=0) - timedelta(minutes=1)
    r = company.book(station["id"], start, start + timedelta(minutes=30))
    assert_status(r, 201)


def test_window_of_exactly_24_hours_is_accepted(company, station):
    start, end = window(hours=24)
    assert_status(company.book(station["id"], start, end), 201)


def test_get_unknown_reservation_is_404(company):
    assert_error(company.get(f"/reservations/{uuid.uuid4()}", admin=True), 404)
    assert_error(company.get(f"/reservations/{uuid.uuid4()}", car=new_car_id()), 404)


@pytest.mark.parametrize("bad", ["not-a-uuid", "12345", "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz"])
def test_get_malformed_reservation_id_is_400_or_404(company, bad):
    assert_error(company.get(f"/reservations/{bad}", admin=True), (400, 404))
    assert_error(company.get(f"/reservations/{bad}", car=new_car_id()), (400, 404))
    company.assert_alive()


def test_a_car_books_for_itself_only(company, station):
    """A car may leave car_id out (it books for itself); naming another car is 403
    and writes nothing; the operator books on behalf of the car it names."""
    car, other = new_car_id("self"), new_car_id("other")
    start, end = window(hours=1)
    r = company.post("/reservations", car=car,
                     json={"station_id": station["id"], "start": ts(start), "end": ts(end)})
    assert_status(r, 201)
    assert assert_json(r)["car_id"] == car

    before = company.counts()
    body = {"station_id": station["id"], "car_id": other, "start": ts(start), "end": ts(end)}
    assert_error(company.post("/reservations", car=car, json=body), 403, "forbidden")
    assert_error(company.post("/reservations", json=body), 401, "unauthorized")
    assert_error(company.post("/reservations", json=body, headers={"Authorization": "Bearer wrong"}),
                 401, "unauthorized")
    assert company.counts() == before
    assert company.sql("SELECT 1 FROM reservations WHERE car_id = %s", (other,)) == []

    r = company.post("/reservations", admin=True, json=body)
    assert_status(r, 201)
    assert assert_json(r)["car_id"] == other


# ---------------------------------------------------------------- listing

def _list(company, actor=None, **params):
    """GET /reservations as actor ({"car": id} or, by default, the operator)."""
    r = company.get("/reservations", params=params, **(actor or {"admin": True}))
    assert_status(r, 200)
    body = assert_json(r)
    assert set(body) >= {"items", "total", "limit", "offset"}, body
    assert r.headers.get("X-Total-Count") == str(body["total"]), r.headers
    return r, body


def test_list_filters_by_car_and_station(company):
    s1 = company.create_station(chargers=2)
    s2 = company.create_station(chargers=2)
    car_x, car_y = new_car_id("x"), new_car_id("y")
    base = future_start()
    h = timedelta(hours=1)
    made = {
        "x1": company.book_ok(s1["id"], base, base + h, car_x),
        "x2": company.book_ok(s1["id"], base + 3 * h, base + 4 * h, car_x),
        "y1": company.book_ok(s1["id"], base + h, base + 2 * h, car_y),
        "x3": company.book_ok(s2["id"], base + 2 * h, base + 3 * h, car_x),
    }

    def ids(body):
        return [i["id"] for i in body["items"]]

    _, by_car = _list(company, car_id=car_x)
    assert ids(by_car) == [made["x1"]["id"], made["x3"]["id"], made["x2"]["id"]], "start order"
    assert by_car["total"] == 3
    for item in by_car["items"]:
        assert_reservation_shape(item)

    _, by_station = _list(company, station_id=s1["id"])
    assert ids(by_station) == [made["x1"]["id"], made["y1"]["id"], made["x2"]["id"]]
    assert by_station["total"] == 3

    _, both = _list(company, station_id=s1["id"], car_id=car_x)
    assert ids(both) == [made["x1"]["id"], made["x2"]["id"]]

    _, none = _list(company, car_id=new_car_id("nobody"))
    assert none["items"] == [] and none["total"] == 0

    # A car's list holds its own reservations only, whatever it filters by.
    as_x = {"car": car_x}
    _, own = _list(company, as_x)
    assert ids(own) == [made["x1"]["id"], made["x3"]["id"], made["x2"]["id"]] and own["total"] == 3
    _, own_s1 = _list(company, as_x, station_id=s1["id"])
    assert ids(own_s1) == [made["x1"]["id"], made["x2"]["id"]] and own_s1["total"] == 2
    r = company.get("/reservations", params={"car_id": car_y}, car=car_x)
    if r.status_code == 200:
        assert assert_json(r)["items"] == [] and assert_json(r)["total"] == 0, r.text
    else:
        assert_error(r, 404, "not_found")
    _, y_own = _list(company, {"car": car_y}, station_id=s1["id"])
    assert ids(y_own) == [made["y1"]["id"]]
    assert_error(company.get("/reservations"), 401, "unauthorized")


def test_list_filters_by_status_and_time_range(company, station):
    car = new_car_id()
    base = future_start()
    h = timedelta(hours=1)
    early = company.book_ok(station["id"], base, base + h, car)
    late = company.book_ok(station["id"], base + 10 * h, base + 11 * h, car)
    assert_status(company.cancel(early["id"]), 200)

    _, cancelled = _list(company, car_id=car, status="cancelled")
    assert [i["id"] for i in cancelled["items"]] == [early["id"]]
    _, confirmed = _list(company, car_id=car, status="confirmed")
    assert [i["id"] for i in confirmed["items"]] == [late["id"]]

    # A range that holds only the late window, whatever overlap rule is used.
    _, ranged = _list(company, car_id=car, **{"from": ts(base + 9 * h), "to": ts(base + 12 * h)})
    assert [i["id"] for i in ranged["items"]] == [late["id"]]


def test_list_pages_with_limit_offset_link_and_total(company):
    st = company.create_station(chargers=1)
    car = new_car_id()
    base = future_start()
    made = [company.book_ok(st["id"], base + timedelta(hours=i), base + timedelta(hours=i + 1), car)
            for i in range(5)]
    expected = [m["id"] for m in made]

    r, first = _list(company, station_id=st["id"], limit=2)
    assert first["total"] == 5 and first["limit"] == 2 and first["offset"] == 0
    assert len(first["items"]) == 2
    assert r.headers["X-Total-Count"] == "5"

    seen = [i["id"] for i in first["items"]]
    url, pages = next_link(r), 1
    while url:
        assert pages < 10, "Link rel=next never ends"
        r = requests.get(url, headers=company.admin, timeout=30)
        assert_status(r, 200)
        page = assert_json(r)
        assert page["total"] == 5 and r.headers["X-Total-Count"] == "5"
        seen += [i["id"] for i in page["items"]]
        url, pages = next_link(r), pages + 1
    assert seen == expected, "following rel=next visits every reservation once, in start order"
    assert pages == 3

    r, last = _list(company, station_id=st["id"], limit=2, offset=4)
    assert [i["id"] for i in last["items"]] == expected[4:]
    assert last["offset"] == 4
    assert next_link(r) is None, "no rel=next on the last page"

    r, beyond = _list(company, station_id=st["id"], limit=2, offset=10)
    assert beyond["items"] == [] and beyond["total"] == 5

    _, default = _list(company, station_id=st["id"])
    assert default["limit"] == 50 and len(default["items"]) == 5

    _, biggest = _list(company, station_id=st["id"], limit=500)
    assert biggest["limit"] == 500

    assert_error(company.get("/reservations", params={"limit": 501}, admin=True), 400)

    # The car pages through the same five, its own.
    r, mine = _list(company, {"car": car}, limit=2, offset=2)
    assert [i["id"] for i in mine["items"]] == expected[2:4] and mine["total"] == 5
    nxt = next_link(r)
    assert nxt, "a car's page has rel=next too"
    r = requests.get(nxt, headers=company.as_car(car), timeout=30)
    assert_status(r, 200)
    assert [i["id"] for i in assert_json(r)["items"]] == expected[4:]


# ---------------------------------------------------------------- availability

def _availability(company, sid, frm, to):
    r = company.get(f"/stations/{sid}/availability", params={"from": ts(frm), "to": ts(to)})
    assert_status(r, 200)
    return assert_json(r)


def test_availability_segments_reflect_bookings(company, station):
    t0 = future_start()
    m = lambda minutes: t0 + timedelta(minutes=minutes)
    empty = _availability(company, station["id"], t0, m(240))
    assert empty["station_id"] == station["id"]
    assert empty["chargers"] == 2
    assert (empty["from"], empty["to"]) == (ts(t0), ts(m(240)))
    assert empty["segments"] == [{"start": ts(t0), "end": ts(m(240)), "free": 2}]

    company.book_ok(station["id"], m(60), m(120))
    company.book_ok(station["id"], m(90), m(180))
    # A booking outside the asked range changes nothing inside it.
    company.book_ok(station["id"], m(300), m(360))

    got = _availability(company, station["id"], t0, m(240))
    assert [(s["start"], s["end"], s["free"]) for s in got["segments"]] == [
        (ts(t0), ts(m(60)), 2),
        (ts(m(60)), ts(m(90)), 1),
        (ts(m(90)), ts(m(120)), 0),
        (ts(m(120)), ts(m(180)), 1),
        (ts(m(180)), ts(m(240)), 2),
    ]


def test_availability_counts_bookings_that_cross_the_range_edges(company, station):
    t0 = future_start()
    m = lambda minutes: t0 + timedelta(minutes=minutes)
    company.book_ok(station["id"], m(-30), m(30))    # starts before `from`
    company.book_ok(station["id"], m(90), m(150))    # ends after `to`
    got = _availability(company, station["id"], t0, m(120))
    assert [(s["start"], s["end"], s["free"]) for s in got["segments"]] == [
        (ts(t0), ts(m(30)), 1),
        (ts(m(30)), ts(m(90)), 2),
        (ts(m(90)), ts(m(120)), 1),
    ]


def test_availability_ignores_cancelled_reservations(company, station):
    t0 = future_start()
    res = company.book_ok(station["id"], t0, t0 + timedelta(hours=1))
    assert_status(company.cancel(res["id"]), 200)
    got = _availability(company, station["id"], t0, t0 + timedelta(hours=2))
    assert all(s["free"] == 2 for s in got["segments"]), got


@pytest.mark.parametrize("params", [
    {},
    {"from": "FROM"},
    {"to": "TO"},
    {"from": "FROM", "to": "FROM"},
    {"from": "TO", "to": "FROM"},
    {"from": "FROM", "to": "FAR"},
    {"from": "garbage", "to": "TO"},
], ids=["none", "no_to", "no_from", "empty_range", "reversed", "over_7_days", "garbage"])
def test_availability_rejects_bad_ranges(company, station, params):
    t0 = future_start()
    values = {"FROM": ts(t0), "TO": ts(t0 + timedelta(hours=2)),
              "FAR": ts(t0 + timedelta(days=7, minutes=1))}
    q = {k: values.get(v, v) for k, v in params.items()}
    assert_error(company.get(f"/stations/{station['id']}/availability", params=q), 400)


def test_availability_of_exactly_7_days_is_allowed(company, station):
    t0 = future_start()
    got = _availability(company, station["id"], t0, t0 + timedelta(days=7))
    assert got["segments"] == [{"start": ts(t0), "end": ts(t0 + timedelta(days=7)), "free": 2}]


def test_availability_of_unknown_station_is_404(company):
    t0 = future_start()
    r = company.get(f"/stations/{company.new_station_id('nope')}/availability",
                    params={"from": ts(t0), "to": ts(t0 + timedelta(hours=1))})
    assert_error(r, 404)


# ---------------------------------------------------------------- chargers and alternatives

def test_chargers_fill_up_then_409_with_bookable_alternatives(company):
    st = company.create_station(chargers=3)
    start, end = window(hours=2)
    got = [company.book_ok(st["id"], start, end) for _ in range(3)]
    assert sorted(g["charger"] for g in got) == [1, 2, 3], "each booking takes a different charger"

    before = company.counts()
    r = company.book(st["id"], start, end)
    body = assert_error(r, 409, "no_charger_free")
    assert company.counts() == before
    alts = body.get("alternatives")
    assert isinstance(alts, list), f"409 must carry top-level alternatives: {body!r}"
    assert alts, "free windows exist right before and after the full one"
    length = end - start
    for alt in alts:
        a_start, a_end = parse_ts(alt["start"]), parse_ts(alt["end"])
        assert a_end - a_start == length, f"alternative has another length: {alt}"
        assert a_start >= utcnow() - timedelta(minutes=5)
        assert a_end <= start or a_start >= end, f"alternative overlaps the full window: {alt}"
    # The nearest alternatives touch the full window.
    assert {ts(end), ts(start - length)} & {a["start"] for a in alts}, alts

    for alt in alts:
        res = company.book_ok(st["id"], alt["start"], alt["end"])
        assert (res["start"], res["end"]) == (alt["start"], alt["end"])
        assert_status(company.cancel(res["id"]), 200)


def test_overlapping_but_not_identical_windows_share_chargers(company):
    st = company.create_station(chargers=1)
    t0 = future_start()
    h = timedelta(hours=1)
    company.book_ok(st["id"], t0, t0 + 2 * h)
    # Touching windows are fine: [start, end) is half-open.
    company.book_ok(st["id"], t0 + 2 * h, t0 + 3 * h)
    company.book_ok(st["id"], t0 - h, t0)
    # Any overlap is not.
    assert_error(company.book(st["id"], t0 + h, t0 + 2 * h + timedelta(minutes=30)), 409,
                 "no_charger_free")
    assert_error(company.book(st["id"], t0 - timedelta(minutes=1), t0 + timedelta(minutes=1)),
                 409, "no_charger_free")


# ---------------------------------------------------------------- cancel

def test_cancel_frees_the_window(company):
    st = company.create_station(chargers=1)
    start, end = window(hours=1)
    first = company.book_ok(st["id"], start, end)
    assert_error(company.book(st["id"], start, end), 409, "no_charger_free")

    r = company.cancel(first["id"])
    assert_status(r, 200)
    cancelled = assert_json(r)
    assert cancelled["id"] == first["id"] and cancelled["status"] == "cancelled"
    assert assert_json(company.get(f"/reservations/{first['id']}", admin=True))["status"] == "cancelled"

    second = company.book_ok(st["id"], start, end)
    assert second["charger"] == 1 and second["id"] != first["id"]
    assert company.sql_one("SELECT status FROM reservations WHERE id = %s", (first["id"],))[0] \
        == "cancelled"


def test_cancel_is_idempotent(company, station):
    start, end = window(hours=1)
    res = company.book_ok(station["id"], start, end)
    one = company.cancel(res["id"])
    two = company.cancel(res["id"])
    assert_status(one, 200)
    assert_status(two, 200)
    assert assert_json(one)["status"] == "cancelled"
    assert assert_json(two)["status"] == "cancelled"
    assert company.sql_one("SELECT count(*) FROM reservations WHERE id = %s", (res["id"],))[0] == 1


def test_cancel_unknown_reservation_is_404(company):
    assert_error(company.cancel(uuid.uuid4()), 404)


@pytest.mark.parametrize("final", ["completed", "expired"])
def test_cancel_of_finished_reservation_is_409(company, station, final):
    res = company.book_ok(station["id"], *window(hours=1))
    # No clock to wait on: mark it finished as the worker's housekeeping would.
    company.sql("UPDATE reservations SET status = %s WHERE id = %s", (final, res["id"]))
    assert_error(company.cancel(res["id"]), 409)
    assert company.sql_one("SELECT status FROM reservations WHERE id = %s", (res["id"],))[0] == final


@pytest.mark.parametrize("final", ["completed", "expired"])
def test_finished_reservation_no_longer_holds_its_charger(company, final):
    """OCPP implementations are known to leave a connector stuck "reserved" after
    its reservation expired: here the window must be free again."""
    st = company.create_station(chargers=1)
    start, end = window(hours=1)
    res = company.book_ok(st["id"], start, end)
    company.sql("UPDATE reservations SET status = %s WHERE id = %s", (final, res["id"]))
    got = _availability(company, st["id"], start, end)
    assert got["segments"] == [{"start": ts(start), "end": ts(end), "free": 1}]
    again = company.book_ok(st["id"], start, end)
    assert again["charger"] == 1


# ---------------------------------------------------------------- unavailable and foreign stations

@pytest.mark.parametrize("status", ["maintenance", "offline"])
def test_station_not_active_refuses_bookings(company, status):
    st = company.create_station(status=status)
    before = company.counts()
    assert_error(company.book(st["id"], *window()), 409, "station_unavailable")
    assert company.counts() == before


def test_station_put_in_maintenance_then_back_to_active(company, station):
    start, end = window()
    r = company.patch(f"/stations/{station['id']}", json={"status": "maintenance"}, admin=True)
    assert_status(r, 200)
    assert_error(company.book(station["id"], start, end), 409, "station_unavailable")
    r = company.patch(f"/stations/{station['id']}", json={"status": "active"}, admin=True)
    assert_status(r, 200)
    assert_status(company.book(station["id"], start, end), 201)


def test_unknown_station_is_404(company):
    before = company.counts()
    assert_error(company.book(company.new_station_id("nope"), *window()), 404)
    assert company.counts() == before


@pytest.mark.parametrize("here,owner", [("a", "b"), ("b", "c"), ("c", "a")])
def test_station_of_another_company_is_404_naming_the_owner(companies, here, owner):
    c, o = companies[here], companies[owner]
    foreign = o.create_station()
    before = c.counts()
    body = assert_error(c.book(foreign["id"], *window()), 404, "not_found")
    msg = body["error"]["message"].replace(foreign["id"], "")
    names_owner = re.search(rf"\b{o.id}\b", msg) or (o.name and o.name.lower() in msg.lower())
    assert names_owner, f"message should name company {o.id!r} ({o.name}): {body['error']['message']!r}"
    assert c.counts() == before
    assert o.sql("SELECT 1 FROM reservations WHERE station_id = %s", (foreign["id"],)) == []


# ---------------------------------------------------------------- per-car limit

CAR_MAX_RESERVATIONS = int(os.environ.get("EVC_CAR_MAX_RESERVATIONS", "6"))


def test_a_car_holds_at_most_its_limit_of_live_reservations(company):
    """EVC_CAR_MAX_RESERVATIONS (6) live future single reservations per car here;
    one more is 409 car_limit_reached, from the car or from the operator on its
    behalf, and writes nothing. A cancel makes room; another car is not affected."""
    if CAR_MAX_RESERVATIONS == 0 or CAR_MAX_RESERVATIONS > 20:
        pytest.skip(f"EVC_CAR_MAX_RESERVATIONS={CAR_MAX_RESERVATIONS}")
    st = company.create_station(chargers=1)
    car = new_car_id("limit")
    base = future_start()
    h = timedelta(hours=1)
    made = [company.book_ok(st["id"], base + i * h, base + (i + 1) * h, car)
            for i in range(CAR_MAX_RESERVATIONS)]
    more = (base + 50 * h, base + 51 * h)
    before = company.counts()
    assert_error(company.book(st["id"], *more, car), 409, "car_limit_reached")
    assert_error(company.book(st["id"], *more, car, admin=True), 409, "car_limit_reached")
    assert company.counts() == before
    company.book_ok(st["id"], *more, new_car_id("other"))

    assert_status(company.cancel(made[0]["id"]), 200)
    again = company.book_ok(st["id"], base + 60 * h, base + 61 * h, car)
    assert again["car_id"] == car
    live = company.sql_one("SELECT count(*) FROM reservations WHERE car_id = %s AND status IN "
                           "('held', 'confirmed')", (car,))[0]
    assert live == CAR_MAX_RESERVATIONS


# ---------------------------------------------------------------- database

def test_reservation_row_in_sql_has_the_booked_range(company, station):
    start, end = window(hours=2)
    car = new_car_id()
    res = company.book_ok(station["id"], start, end, car)
    row = company.sql_one(
        "SELECT station_id, charger, car_id, trip_id, status, lower(during), upper(during), "
        "lower_inc(during), upper_inc(during) FROM reservations WHERE id = %s", (res["id"],))
    assert row[:5] == (station["id"], res["charger"], car, None, "confirmed")
    assert row[5] == start and row[6] == end
    assert row[7] is True and row[8] is False, "the window is stored half-open [start, end)"

    view = company.sql("SELECT station_id, charger, starts, ends, car_id FROM upcoming_reservations "
                       "WHERE reservation_id = %s", (res["id"],))
    assert view == [(station["id"], res["charger"], start, end, car)]
