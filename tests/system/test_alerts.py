"""The alerts (GET /api/v1/alerts, core/alerts.c, policy action alerts.read):
what needs the operator now, each rule driven by the real thing that causes it
on company a: a charger reporting Faulted over OCPP (and the alert gone once it
reports Available), a peer that is down (a placeholder peer registered where
nobody listens), a prepared transaction left in doubt longer than
EVC_ALERT_IN_DOUBT_SECONDS, a station whose one charger was busy for the whole
last hour (and not one busy half of it). Who may read them is in
test_policy_matrix.py (operator only); here also: a car and a peer are refused
and nothing is written.
"""

import secrets
import time
from datetime import timedelta

import psycopg2
import pytest

from conftest import assert_error, assert_json, new_car_id, utcnow
from test_ocpp import new_charge_point
from test_peer_removal import register_placeholder, remove


def alerts(company):
    r = company.get("/alerts", admin=True)
    assert r.status_code == 200, r.text
    return assert_json(r)


def find(company, **want):
    return [i for i in alerts(company)["items"] if all(i.get(k) == v for k, v in want.items())]


def wait_for_alert(company, timeout, **want):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = find(company, **want)
        if found:
            return found[0]
        time.sleep(0.5)
    raise AssertionError(f"no alert {want} within {timeout} s: {alerts(company)['items'][:10]}")


def test_only_the_operator_reads_alerts_and_a_refusal_writes_nothing(companies):
    a, b = companies["a"], companies["b"]
    before = a.counts()
    assert_error(a.get("/alerts"), 401, {"unauthorized"})
    assert_error(a.get("/alerts", car=new_car_id("alerts")), 403, {"forbidden"})
    assert_error(a.get("/alerts", headers=b.admin), 401, {"unauthorized"})
    assert a.counts() == before
    body = alerts(a)
    assert body["rules"]["busy_percent"] == 90 and body["rules"]["busy_window_minutes"] == 60
    assert body["count"] >= len(body["items"]) and body["truncated"] == (body["count"] > len(body["items"]))
    severities = [i["severity"] for i in body["items"]]
    assert severities == sorted(severities, key=lambda s: s != "critical"), "critical alerts come first"


def test_a_faulted_charger_alerts_until_it_is_available_again(companies):
    a = companies["a"]
    cp = new_charge_point(a, chargers=2)
    try:
        assert find(a, station_id=cp.station) == []
        cp.status(2, "Faulted", "GroundFailure")
        item = wait_for_alert(a, 5, kind="charger_faulted", station_id=cp.station)
        assert item["severity"] == "critical" and item["charger"] == 2
        assert "GroundFailure" in item["message"] and cp.station in item["message"]
        cp.status(2, "Available")
        deadline = time.monotonic() + 5
        while find(a, kind="charger_faulted", station_id=cp.station) and time.monotonic() < deadline:
            time.sleep(0.3)
        assert find(a, station_id=cp.station) == [], "the alert stays after the charger is Available"
    finally:
        cp.close()


def test_a_peer_down_alerts_until_it_is_removed(stack, companies):
    a = companies["a"]
    pid, _ = register_placeholder(stack, a)
    try:
        item = wait_for_alert(a, 15, kind="peer_down", peer=pid)
        assert item["severity"] == "critical" and pid in item["message"]
        # The real peers are up: no alert names them.
        assert find(a, kind="peer_down", peer="b") == [] and find(a, kind="peer_down", peer="c") == []
    finally:
        remove(a, pid, a.admin)
    assert find(a, kind="peer_down", peer=pid) == []


def test_a_transaction_in_doubt_longer_than_the_limit_alerts(companies):
    a = companies["a"]
    limit = alerts(a)["rules"]["in_doubt_seconds"]
    if limit > 20:
        pytest.skip(f"EVC_ALERT_IN_DOUBT_SECONDS is {limit} here: make test sets 5")
    gid = "alerts_test_" + secrets.token_hex(6)  # not evc_*: the worker's recovery leaves it alone
    conn = psycopg2.connect(a.database_url, connect_timeout=10)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
            cur.execute(f"PREPARE TRANSACTION '{gid}'")
        conn.commit()
        assert find(a, kind="in_doubt", gid=gid) == [], "alerted before the limit"
        item = wait_for_alert(a, limit + 10, kind="in_doubt", gid=gid)
        assert item["severity"] == "critical" and item["value"] >= limit and gid in item["message"]
    finally:
        conn.close()
        a.sql(f"ROLLBACK PREPARED '{gid}'")
    assert find(a, kind="in_doubt", gid=gid) == []


def test_a_station_busy_over_nine_tenths_of_the_last_hour_alerts(companies):
    a = companies["a"]
    busy = a.create_station(chargers=1)["id"]
    half = a.create_station(chargers=1)["id"]
    now = utcnow()
    # The whole last hour charging (100 %), and the last 30 minutes only (50 %).
    for st, began in ((busy, now - timedelta(minutes=70)), (half, now - timedelta(minutes=30))):
        a.sql("INSERT INTO reservations (station_id, charger, car_id, during, status, checked_in_at)"
              " VALUES (%s, 1, %s, tstzrange(%s, %s), 'confirmed', %s)",
              (st, new_car_id("busy"), began, now + timedelta(minutes=30), began))
    item = wait_for_alert(a, 5, kind="station_busy", station_id=busy)
    assert item["severity"] == "warning" and 0.95 <= item["value"] <= 1.0
    assert "busy over the last hour" in item["message"]
    assert find(a, kind="station_busy", station_id=half) == []
