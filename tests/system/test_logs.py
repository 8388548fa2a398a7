"""What an operator reads in a worker's log ($EVC_STACK_DIR/logs/worker-<id>.log, the
README's "Logs"): one info line per business event, routine pings at debug, and
UTF-8 (city names) intact in the log and in the JSON answer."""

import re
import secrets
import time

from conftest import assert_error, assert_json, assert_status, new_car_id, ts, window
from mqttkit import log_since, log_size
from tripkit import book_trip, fresh_stations, route

HEARTBEAT_WAIT = 4.5  # seconds: more than two heartbeats (2 s) and stations' and dashboards' polls


def info_lines(lines, pattern):
    rx = re.compile(pattern)
    return [l for l in lines if " level=info " in l and rx.search(l)]


def test_a_booking_and_a_trip_are_one_info_line_each_and_pings_stay_at_debug(companies, stack):
    a, b = companies["a"], companies["b"]
    start_a, start_b = log_size(stack, "a"), log_size(stack, "b")
    station = a.create_station(chargers=1)["id"]
    s, e = window()
    booked = a.book_ok(station, s, e, car_id=new_car_id("log"))
    trip = book_trip(a, route(fresh_stations(companies, ("a", "b"))), car_id=new_car_id("logtrip"))
    time.sleep(HEARTBEAT_WAIT)
    la, lb = log_since(stack, "a", start_a), log_since(stack, "b", start_b)
    assert len(info_lines(la, rf"event=reservation_created .*reservation={booked['id']}")) == 1, la[-20:]
    # The trip: its outcome once at the coordinator, its leg booked once at the participant.
    assert len(info_lines(la, rf"event=twopc_done .*trip={trip['id']}")) == 1, la[-20:]
    assert len(info_lines(lb, rf"event=twopc_committed .*trip={trip['id']}")) == 1, lb[-20:]
    assert info_lines(la + lb, rf"event=twopc_(prepared|decided) .*trip={trip['id']}") == []
    # Heartbeats and polls ran meanwhile, and none of them is an info line.
    assert info_lines(la + lb, r"federation/ping|event=heartbeat|path=\"/api/v1/health\"") == []
    assert all(re.search(r" level=(debug|info|warn|error) ", l) for l in la if l.startswith("ts=")), la[:5]


def test_utf8_city_names_stay_intact_in_the_log_and_the_answer(companies, stack):
    a = companies["a"]
    car = new_car_id("utf8")
    city = f"São Luís do Maranhão Ç {secrets.token_hex(3)}"
    offset = log_size(stack, "a")
    r = a.post("/routes/plan", car=car, json={
        "car_id": car, "origin": city, "destination": "Feira de Santana", "departure": ts(window()[0]),
        "battery": {"capacity_kwh": 50, "soc": 60, "consumption_kwh_per_100km": 18.5, "target_soc": 90}})
    body = assert_error(r, 400, "unknown_city")
    assert city in body["error"]["message"], body
    assert city.encode("utf-8") in r.content, r.content  # raw UTF-8, not \\u escapes or '?'
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not any(city in l for l in log_since(stack, "a", offset)):
        time.sleep(0.1)
    lines = [l for l in log_since(stack, "a", offset) if "unknown_city" in l]
    assert lines and all(city in l for l in lines), lines
