"""The operator's figures: GET /api/v1/stats and the SQL views of 013_business.sql.

Known sessions are booked, checked in, cancelled and finished through the API on
a fresh station (2 chargers, 50 kW, 2.00 BRL/kWh), then moved as a block to known
times of a past day (the API only books the future), and every figure is checked
against values computed by hand below:

  R1 charger 1, window 10:00-11:00, checked in 10:10, over        -> 50 min, 41 667 Wh,  83.33
  R2 charger 2, window 10:30-11:30, checked in 10:30, cancelled 11:00 -> 30 min, 25 000 Wh,  50.00
  T  charger 1, window 14:00-15:00 (a trip's leg), in 14:00, finished 14:45 -> 45 min, 37 500 Wh, 75.00
  N  charger 2, window 12:00-13:00, never checked in              -> a no-show
  C  charger 1, window 16:00-17:00, cancelled at 09:00 before it    -> a cancellation
"""

from datetime import datetime, timedelta, timezone

import pytest

import openapi_check
from conftest import assert_error, assert_json, assert_status, future_start, new_car_id, ts
from tripkit import book_trip, leg

POWER_KW, PRICE = 50.0, 2.00


def at(day, hhmm):
    h, m = map(int, hhmm.split(":"))
    return day + timedelta(hours=h, minutes=m)


@pytest.fixture(scope="module")
def known_day(companies):
    """Books the known sessions through the API, moves them to a past day, returns (day, station, ids)."""
    a = companies["a"]
    st = a.create_station(chargers=2, power_kw=POWER_KW, price_per_kwh=PRICE, city="Figureville")["id"]
    base = future_start()
    car = new_car_id("fig")
    ids = {}
    for name, offset in (("R1", 0), ("R2", 1), ("N", 2), ("C", 3)):
        s = base + timedelta(hours=3 * offset)
        ids[name] = a.book_ok(st, s, s + timedelta(hours=1), car_id=car)["id"]
    trip = book_trip(a, [leg(st, base + timedelta(hours=20))], car_id=car)
    ids["T"] = a.sql_one("SELECT id::text FROM reservations WHERE trip_id = %s", (trip["id"],))[0]
    for name in ("R1", "R2", "T"):
        assert_status(a.post(f"/reservations/{ids[name]}/checkin", car=car), 200)
    for name in ("R2", "C"):
        assert_status(a.cancel(ids[name]), 200)
    assert_status(a.post(f"/trips/{trip['id']}/finish", car=car, timeout=60), 200)

    day = (datetime.now(timezone.utc) - timedelta(days=2)).replace(hour=0, minute=0, second=0, microsecond=0)
    placed = {  # charger, window, checked in, last status change
        "R1": (1, "10:00", "11:00", "10:10", "10:10"),
        "R2": (2, "10:30", "11:30", "10:30", "11:00"),
        "T": (1, "14:00", "15:00", "14:00", "14:45"),
        "N": (2, "12:00", "13:00", None, "08:00"),
        "C": (1, "16:00", "17:00", None, "09:00"),
    }
    for name, (charger, start, end, checkin, changed) in placed.items():
        a.sql("UPDATE reservations SET charger = %s, during = tstzrange(%s, %s), checked_in_at = %s,"
              " updated_at = %s, created_at = %s WHERE id = %s",
              (charger, at(day, start), at(day, end), at(day, checkin) if checkin else None,
               at(day, changed), at(day, "07:00"), ids[name]))
    return day, st, ids, car


def stats(a, day, station=None, headers=None, days=1):
    q = f"/stats?from={ts(day)}&to={ts(day + timedelta(days=days))}"
    if station:
        q += f"&station_id={station}"
    return a.get(q, headers=headers) if headers is not None else a.get(q, admin=True)


def test_rest_figures_match_the_hand_computed_day(companies, known_day):
    a = companies["a"]
    day, st, ids, _ = known_day
    r = stats(a, day, st)
    assert_status(r, 200)
    openapi_check.check(r)
    body = assert_json(r)
    assert body["station_id"] == st and body["from"] == ts(day)
    t = body["totals"]
    assert t["sessions"] == 3
    assert t["energy_kwh"] == pytest.approx(104.167, abs=0.001)  # 41.667 + 25 + 37.5
    assert float(t["revenue"]) == pytest.approx(208.33, abs=0.001)  # 83.33 + 50 + 75
    assert t["avg_session_minutes"] == pytest.approx(41.7, abs=0.05)  # (50 + 30 + 45) / 3
    assert t["no_shows"] == 1 and t["cancellations"] == 2
    assert t["busy_charger_hours"] == pytest.approx(125 / 60, abs=0.001)
    assert t["available_charger_hours"] == pytest.approx(48)  # 2 chargers x 24 h
    assert t["utilisation"] == pytest.approx(125 / 60 / 48, abs=0.0001)
    [one] = body["stations"]
    assert one["station_id"] == st and one["sessions"] == 3 and one["no_shows"] == 1
    assert body["daily"] == [{"day": day.strftime("%Y-%m-%d"), "sessions": 3, "energy_kwh": 104.167,
                              "revenue": 208.33}]
    hourly = {h["hour"]: h for h in body["hourly"]}
    assert hourly[ts(at(day, "10:00"))]["busy_charger_hours"] == pytest.approx(80 / 60, abs=0.001)
    assert hourly[ts(at(day, "10:00"))]["utilisation"] == pytest.approx(80 / 60 / 2, abs=0.0001)
    assert hourly[ts(at(day, "10:00"))]["booked_charger_hours"] == pytest.approx(1.0)  # R2 was cancelled
    assert hourly[ts(at(day, "14:00"))]["utilisation"] == pytest.approx(0.375)
    assert hourly[ts(at(day, "12:00"))]["busy_charger_hours"] == 0  # the no-show's hour: booked, idle
    assert hourly[ts(at(day, "12:00"))]["booked_charger_hours"] == pytest.approx(1.0)
    # The day before holds none of it; the company-wide figures include it.
    assert stats(a, day - timedelta(days=1), st).json()["totals"]["sessions"] == 0
    r = stats(a, day)
    openapi_check.check(r)
    company = r.json()
    assert company["station_id"] is None and company["totals"]["sessions"] >= 3
    assert company["totals"]["stations"] == len(company["stations"]) > 1
    assert sum(s["sessions"] for s in company["stations"]) == company["totals"]["sessions"]


def test_the_reservation_shows_its_check_in_and_energy(companies, known_day):
    a = companies["a"]
    day, _, ids, car = known_day
    r = a.get(f"/reservations/{ids['R1']}", car=car)
    openapi_check.check(r)
    r1 = assert_json(r)
    assert r1["checked_in_at"] == ts(at(day, "10:10"))
    assert r1["energy_wh"] == 41667 and r1["energy_metered"] is False
    n = assert_json(a.get(f"/reservations/{ids['N']}", car=car))
    assert n["checked_in_at"] is None and n["energy_wh"] is None
    # A meter's reading, when one is recorded, wins over the estimate.
    a.sql("UPDATE reservations SET energy_wh = 30000 WHERE id = %s", (ids["T"],))
    try:
        t = assert_json(a.get(f"/reservations/{ids['T']}", car=car))
        assert t["energy_wh"] == 30000 and t["energy_metered"] is True
        assert stats(a, day, known_day[1]).json()["totals"]["energy_kwh"] == pytest.approx(96.667, abs=0.001)
    finally:
        a.sql("UPDATE reservations SET energy_wh = NULL WHERE id = %s", (ids["T"],))


def test_the_views_agree_with_the_hand_computed_day(companies, known_day):
    a = companies["a"]
    day, st, ids, _ = known_day
    sessions = {r[0]: r[1:] for r in a.sql(
        "SELECT reservation_id::text, minutes::float8, energy_wh, revenue::float8, ended FROM v_sessions WHERE station_id = %s", (st,))}
    assert sessions == {ids["R1"]: (50, 41667, 83.33, True), ids["R2"]: (30, 25000, 50.00, True),
                        ids["T"]: (45, 37500, 75.00, True)}
    assert a.sql("SELECT day, sessions, energy_kwh::float8, revenue::float8, avg_session_minutes::float8 FROM v_revenue_daily"
                 " WHERE station_id = %s", (st,)) == [(day.date(), 3, pytest.approx(104.167), 208.33, 41.7)]
    util = {h: (busy, avail, u) for h, busy, avail, u in a.sql(
        "SELECT hour, busy_charger_hours::float8, available_charger_hours, utilisation::float8 FROM v_station_utilisation_hourly"
        " WHERE station_id = %s", (st,))}
    assert util[at(day, "10:00")] == (pytest.approx(1.333), 2, pytest.approx(0.6667))
    assert util[at(day, "14:00")] == (pytest.approx(0.75), 2, pytest.approx(0.375))
    assert util[at(day, "16:00")][0] == 0  # the cancelled window's hour
    assert [r[0] for r in a.sql("SELECT reservation_id::text FROM v_no_shows WHERE station_id = %s", (st,))] == [ids["N"]]
    assert sorted(r[0] for r in a.sql("SELECT reservation_id::text FROM v_cancellations WHERE station_id = %s",
                                      (st,))) == sorted([ids["R2"], ids["C"]])
    # Every column of every figures view says what it means.
    uncommented = a.sql(
        "SELECT c.relname, a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
        " WHERE c.relname IN ('v_sessions', 'v_station_utilisation_hourly', 'v_revenue_daily', 'v_no_shows',"
        "   'v_cancellations', 'v_waitlist_daily') AND a.attnum > 0 AND col_description(c.oid, a.attnum) IS NULL")
    assert uncommented == []


def test_waitlist_figures_count_joins_and_grants(companies):
    a = companies["a"]
    st = a.create_station(chargers=1, city="Queueville")["id"]
    start = future_start()
    a.book_ok(st, start, start + timedelta(hours=1))
    car = new_car_id("wl")
    r = a.post("/waitlist", json={"station_id": st, "car_id": car, "start": ts(start),
                                  "end": ts(start + timedelta(hours=1)),
                                  "expires_at": ts(datetime.now(timezone.utc) + timedelta(minutes=10))}, car=car)
    assert_status(r, 201)
    now = datetime.now(timezone.utc)
    w = stats(a, now - timedelta(hours=1), st, days=1).json()["waitlist"]
    assert w["joined"] == 1 and w["waiting_now"] == 1 and w["granted"] == 0


@pytest.mark.parametrize("who", ["anonymous", "car", "peer", "other_operator"])
def test_only_this_companys_operator_reads_the_figures(companies, known_day, who):
    a, b = companies["a"], companies["b"]
    day, st, _, car = known_day
    headers = {"anonymous": {}, "car": a.as_car(car),
               "peer": {"Authorization": f"Token {peer_token(b, a)}"},
               "other_operator": b.admin}[who]
    before = a.sql_one("SELECT (SELECT count(*) FROM reservations), (SELECT max(updated_at) FROM reservations),"
                       " (SELECT count(*) FROM waitlist)")
    r = stats(a, day, st, headers=headers)
    assert_error(r, {"anonymous": 401, "car": 403, "peer": 403, "other_operator": 401}[who])
    openapi_check.check(r)
    assert "sessions" not in r.text
    assert a.sql_one("SELECT (SELECT count(*) FROM reservations), (SELECT max(updated_at) FROM reservations),"
                     " (SELECT count(*) FROM waitlist)") == before


def peer_token(peer, host):
    """The token peer presents when it calls host (from peer's database)."""
    return peer.sql_one("SELECT outbound_token FROM peers WHERE id = %s", (host.id,))[0]


@pytest.mark.parametrize("query,code", [
    ("from=2026-01-10T00:00:00Z&to=2026-01-09T00:00:00Z", "invalid_parameter"),
    ("from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", "invalid_parameter"),
    ("from=yesterday", "invalid_parameter"),
    ("station_id=", "invalid_parameter"),
    ("station_id=" + "x" * 300, "invalid_parameter"),
])
def test_bad_periods_are_400(companies, query, code):
    r = companies["a"].get(f"/stats?{query}", admin=True)
    assert_error(r, 400, code)
    openapi_check.check(r)


def test_another_companys_station_is_404(companies):
    a = companies["a"]
    assert_error(a.get("/stats?station_id=b-anything", admin=True), 404)
    assert_error(a.get("/stats?station_id=a-nosuchstation", admin=True), 404)
