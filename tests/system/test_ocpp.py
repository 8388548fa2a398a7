"""The OCPP 1.6J central system (workers/company/ocpp/, README "OCPP"): a test
connects to company a as a charge point and goes through what a real one does.

The charge point is Debian's python3-websocket (websocket-client) with OCPP-J
frames built by hand: the frames are the thing under test, so the test writes
them byte for byte (including malformed ones, which an OCPP library refuses to
send), and every frame the central system sends is checked with an
independent validator, python3-jsonschema, against the official OCPP 1.6
schemas kept in docs/ocpp/schemas (the worker validates with its own C code).
"""

import base64
import json
import os
import secrets
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import jsonschema
import pytest
import websocket

from conftest import STACK_SCRIPT, assert_status, new_car_id, parse_ts, stack_dir, ts, utcnow
from mqttkit import Client, car_password
from tripkit import book_trip, federation_ready, get_trip, leg, wait_for

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "ocpp" / "schemas"
FRAME_TIMEOUT = 15       # seconds to wait for one answer
DELIVERY_TIMEOUT = 20    # ReserveNow/CancelReservation: the outbox runs every second
LEAD = 600               # EVC_OCPP_RESERVE_LEAD_SECONDS (default)
OFFLINE_AFTER = 3        # EVC_OCPP_OFFLINE_AFTER_S given to company c in the offline test


def schema(name):
    return json.loads((SCHEMAS / f"{name}.json").read_text())


def check_sent(action, payload, answer=False):
    """A message the central system sent must validate against the official schema."""
    jsonschema.validate(payload, schema(f"{action}Response" if answer else action),
                        format_checker=jsonschema.FormatChecker())


class ChargePoint:
    """One OCPP-J connection. call() sends a CALL and returns the CALLRESULT
    payload (or raises CallError); CALLs from the central system that arrive
    meanwhile are kept, validated, and answered with self.replies[action]."""

    def __init__(self, company, station, key):
        self.company, self.station, self.key = company, station, key
        self.received = []   # (action, payload) of CALLs from the central system
        self.replies = {"ReserveNow": {"status": "Accepted"}, "CancelReservation": {"status": "Accepted"},
                        "RemoteStartTransaction": {"status": "Accepted"}, "Reset": {"status": "Accepted"},
                        "RemoteStopTransaction": {"status": "Accepted"}, "ChangeAvailability": {"status": "Accepted"}}
        self.ws = connect(company, station, key)
        self.n = 0

    def close(self):
        self.ws.close()

    def send_raw(self, text):
        self.ws.send(text)

    def recv_frame(self, timeout=FRAME_TIMEOUT):
        self.ws.settimeout(timeout)
        text = self.ws.recv()
        if text == "":  # the central system closed the connection
            raise websocket.WebSocketConnectionClosedException("closed by the central system")
        frame = json.loads(text)
        if frame[0] == 2:  # a CALL from the central system: validate, keep, answer
            _, mid, action, payload = frame
            check_sent(action, payload)
            self.received.append((action, payload))
            reply = self.replies[action]
            if callable(reply):  # an answer that depends on the call (e.g. on the connector)
                reply = reply(payload)
            if reply == "CALLERROR":
                self.ws.send(json.dumps([4, mid, "InternalError", "the charge point failed", {}]))
            else:
                self.ws.send(json.dumps([3, mid, reply]))
        return frame

    def call(self, action, payload):
        self.n += 1
        mid = f"m{self.n}-{secrets.token_hex(3)}"
        self.ws.send(json.dumps([2, mid, action, payload]))
        return self.answer_to(mid, action)

    def answer_to(self, mid, action=None):
        deadline = time.monotonic() + FRAME_TIMEOUT
        while time.monotonic() < deadline:
            frame = self.recv_frame(deadline - time.monotonic())
            if frame[0] == 3 and frame[1] == mid:
                check_sent(action, frame[2], answer=True)
                return frame[2]
            if frame[0] == 4 and frame[1] in (mid, "-1"):
                raise CallError(frame)
        raise AssertionError(f"no answer to {mid} within {FRAME_TIMEOUT}s")

    def wait_call(self, action, predicate=lambda p: True, timeout=DELIVERY_TIMEOUT):
        """The first CALL `action` from the central system whose payload satisfies predicate."""
        deadline = time.monotonic() + timeout
        while True:
            for a, p in self.received:
                if a == action and predicate(p):
                    return p
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                self.recv_frame(min(left, 1.0))
            except websocket.WebSocketTimeoutException:
                pass

    def boot(self):
        return self.call("BootNotification", {"chargePointVendor": "SysTest", "chargePointModel": "CP-1"})

    def status(self, connector, status, error="NoError"):
        return self.call("StatusNotification", {"connectorId": connector, "errorCode": error, "status": status})


class CallError(Exception):
    def __init__(self, frame):
        super().__init__(frame)
        self.frame = frame
        self.code = frame[2]


def connect(company, station, key, subprotocols=("ocpp1.6",), auth=True):
    headers = []
    if auth:
        headers.append("Authorization: Basic " + base64.b64encode(f"{station}:{key}".encode()).decode())
    return websocket.create_connection(f"ws://127.0.0.1:{company.port}/ocpp/{station}",
                                       subprotocols=list(subprotocols) if subprotocols else None,
                                       header=headers, timeout=FRAME_TIMEOUT)


def refused_status(company, station, key, **kw):
    with pytest.raises(websocket.WebSocketBadStatusException) as e:
        connect(company, station, key, **kw).close()
    return e.value.status_code


def rotate(company, station, **kw):
    return company.post(f"/stations/{station}/ocpp/key", **kw)


def new_charge_point(company, chargers=2, price=2.5, **station):
    st = company.create_station(chargers=chargers, price_per_kwh=price, **station)["id"]
    r = rotate(company, st, admin=True)
    assert_status(r, 200)
    cp = ChargePoint(company, st, r.json()["key"])
    assert cp.boot()["status"] == "Accepted"
    return cp


def key_row(company, station):
    return company.sql_one("SELECT key_salt, key_hash, last_seen FROM ocpp_stations WHERE station_id = %s",
                           (station,))


def reservation(company, rid):
    r = company.get(f"/reservations/{rid}", admin=True)
    assert_status(r, 200)
    return r.json()


# ---------------------------------------------------------------- the upgrade

def test_upgrade_refused_without_the_station_key_and_rotation_only_by_the_operator(companies):
    a, b = companies["a"], companies["b"]
    st = a.create_station(chargers=1)["id"]
    # No key yet: the station is unknown to the central system.
    assert refused_status(a, st, "0" * 32) == 401
    # Who may rotate the key: the operator of a only; a refusal writes nothing.
    car = new_car_id("ocpp")
    assert rotate(a, st).status_code == 401
    assert rotate(a, st, car=car).status_code == 403
    assert rotate(a, st, headers=b.admin).status_code == 401
    assert a.sql("SELECT 1 FROM ocpp_stations WHERE station_id = %s", (st,)) == []
    r = rotate(a, st, admin=True)
    assert_status(r, 200)
    key = r.json()["key"]
    assert len(key) == 32 and r.json()["station_id"] == st
    salt, digest, _ = key_row(a, st)
    assert key not in (salt, digest)  # stored hashed, never as given
    assert rotate(a, f"a-nosuch{secrets.token_hex(4)}", admin=True).status_code == 404

    assert refused_status(a, st, "f" * 32) == 401                        # wrong key
    assert refused_status(a, st, key, auth=False) == 401                 # no credentials
    assert refused_status(a, f"a-nosuch{secrets.token_hex(4)}", key) == 401  # unknown station
    assert refused_status(a, st, key, subprotocols=None) == 400          # not ocpp1.6
    assert refused_status(a, "b-" + st[2:], key) == 404                  # another company's station id
    assert key_row(a, st)[2] is None  # no refused upgrade wrote anything

    cp = ChargePoint(a, st, key)
    assert cp.ws.getsubprotocol() == "ocpp1.6"
    # A new connection of the same station replaces the old one.
    cp2 = ChargePoint(a, st, key)
    with pytest.raises((websocket.WebSocketConnectionClosedException, ConnectionError, OSError)):
        for _ in range(3):
            cp.recv_frame(5)
    assert cp2.call("Heartbeat", {})["currentTime"]
    # Rotating the key closes the connection made with the old one, and the old key stops working.
    new = rotate(a, st, admin=True).json()["key"]
    with pytest.raises((websocket.WebSocketConnectionClosedException, ConnectionError, OSError)):
        for _ in range(3):
            cp2.recv_frame(5)
    assert refused_status(a, st, key) == 401
    ChargePoint(a, st, new).close()
    a.assert_alive()


# ---------------------------------------------------------------- boot, heartbeat, status

def test_boot_heartbeat_status_and_the_operator_view(companies):
    a = companies["a"]
    cp = new_charge_point(a, chargers=2)
    boot = cp.boot()
    assert boot["status"] == "Accepted" and boot["interval"] > 0
    beat = cp.call("Heartbeat", {})
    assert abs((utcnow() - _parse(beat["currentTime"])).total_seconds()) < 60
    assert cp.status(0, "Available") == {}
    assert cp.status(1, "Charging") == {}
    assert cp.status(2, "Faulted", "GroundFailure") == {}
    rows = a.sql("SELECT charger, state, error_code FROM ocpp_chargers WHERE station_id = %s ORDER BY charger",
                 (cp.station,))
    assert rows == [(0, "Available", "NoError"), (1, "Charging", "NoError"), (2, "Faulted", "GroundFailure")]
    view = a.get(f"/stations/{cp.station}/ocpp", admin=True)
    assert_status(view, 200)
    v = view.json()
    assert v["connected"] is True and v["vendor"] == "SysTest" and v["last_seen"]
    assert [c["state"] for c in v["connectors"]] == ["Available", "Charging", "Faulted"]
    # The view is the operator's: a car may not see it.
    assert a.get(f"/stations/{cp.station}/ocpp", car=new_car_id("ocpp")).status_code == 403
    # A station the operator put in maintenance is Rejected at boot.
    assert_status(a.patch(f"/stations/{cp.station}", json={"status": "maintenance"}, admin=True), 200)
    assert cp.boot()["status"] == "Rejected"
    cp.close()


def _parse(text):
    return parse_ts(text)


# ---------------------------------------------------------------- bad frames

def test_malformed_frames_get_a_callerror_change_nothing_and_the_worker_lives(companies):
    a = companies["a"]
    cp = new_charge_point(a, chargers=1)
    before = a.sql("SELECT x::text FROM ocpp_chargers x WHERE station_id = %s", (cp.station,))
    cases = [
        ("not json", "FormationViolation"),
        ('{"a": 1}', "FormationViolation"),
        ('[2, "x"]', "FormationViolation"),
        ('[7, "x", {}]', "ProtocolError"),
        ('[2, "x", "Heartbeat"]', "ProtocolError"),
        ('[2, 5, "Heartbeat", {}]', "FormationViolation"),
        ('[2, "x", "Heartbeat", []]', "FormationViolation"),
        ('[2, "x", "NoSuchAction", {}]', "NotImplemented"),
        ('[2, "x", "StatusNotification", {"connectorId": 1, "status": "Available"}]', "OccurenceConstraintViolation"),
        ('[2, "x", "StatusNotification", {"connectorId": "1", "errorCode": "NoError", "status": "Available"}]',
         "TypeConstraintViolation"),
        ('[2, "x", "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Broken"}]',
         "PropertyConstraintViolation"),
        ('[2, "x", "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Faulted", "x": 1}]',
         "FormationViolation"),
        ('[2, "x", "StatusNotification", {"connectorId": 9, "errorCode": "NoError", "status": "Faulted"}]',
         "PropertyConstraintViolation"),
        ('[2, "x", "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Faulted", '
         '"timestamp": "9999-12-31T23:59:59-23:59"}]', "PropertyConstraintViolation"),
        ('[2, "x", "Authorize", {"idTag": "' + "t" * 21 + '"}]', "PropertyConstraintViolation"),
        ('[2, "' + "i" * 37 + '", "Heartbeat", {}]', "FormationViolation"),
        ("[2, \"x\", \"Heartbeat\", {}, " + "1, " * 30000 + "1]", "FormationViolation"),  # beyond the frame bound
    ]
    for text, code in cases:
        cp.send_raw(text)
        frame = cp.recv_frame()
        assert frame[0] == 4 and frame[2] == code, (text[:80], frame)
        assert frame[1] in ("x", "-1"), frame
    assert a.sql("SELECT x::text FROM ocpp_chargers x WHERE station_id = %s", (cp.station,)) == before
    assert cp.call("Heartbeat", {})["currentTime"]  # the connection, and the worker, live on
    a.assert_alive()
    cp.close()


# ---------------------------------------------------------------- a whole session

def test_reserve_now_before_the_window_then_a_whole_charging_session(companies):
    a = companies["a"]
    cp = new_charge_point(a, chargers=2, price=2.5)
    car = new_car_id("ocpp")
    now = utcnow().replace(microsecond=0)
    soon = a.book_ok(cp.station, now + timedelta(seconds=LEAD + 6), now + timedelta(seconds=LEAD + 3600), car)
    later = a.book_ok(cp.station, now + timedelta(hours=3), now + timedelta(hours=4), new_car_id("ocpp"))
    # Not yet within the lead time: nothing is sent in the first seconds.
    early = cp.wait_call("ReserveNow", timeout=2)
    assert early is None, early
    rn = cp.wait_call("ReserveNow")
    assert rn is not None, "no ReserveNow within the lead time"
    assert rn["connectorId"] == soon["charger"] and rn["idTag"] == car and rn["expiryDate"] == soon["end"]
    arrived = utcnow()
    assert arrived >= _parse(soon["start"]) - timedelta(seconds=LEAD + 1)
    assert not any(p["expiryDate"] == later["end"] for a_, p in cp.received if a_ == "ReserveNow")
    state = a.sql_one("SELECT state, answer FROM ocpp_reservations WHERE reservation_id = %s", (soon["id"],))
    assert state == ("accepted", "Accepted")

    assert cp.call("Authorize", {"idTag": car})["idTagInfo"]["status"] == "Accepted"
    assert cp.call("Authorize", {"idTag": "stranger"})["idTagInfo"]["status"] == "Invalid"
    started = cp.call("StartTransaction", {"connectorId": rn["connectorId"], "idTag": car, "meterStart": 1000,
                                           "reservationId": rn["reservationId"], "timestamp": ts(utcnow())})
    assert started["idTagInfo"]["status"] == "Accepted"
    tx = started["transactionId"]
    assert a.sql_one("SELECT checked_in_at IS NOT NULL FROM reservations WHERE id = %s", (soon["id"],))[0]
    mv = cp.call("MeterValues", {"connectorId": rn["connectorId"], "transactionId": tx, "meterValue": [
        {"timestamp": ts(utcnow()), "sampledValue": [{"value": "6000", "unit": "Wh"},
                                                     {"value": "22.0", "measurand": "Power.Active.Import",
                                                      "unit": "kW"}]}]})
    assert mv == {}
    assert a.sql_one("SELECT count(*) FROM ocpp_meter_values WHERE transaction_id = %s", (tx,))[0] == 2
    stop = cp.call("StopTransaction", {"transactionId": tx, "meterStop": 13345, "timestamp": ts(utcnow()),
                                       "reason": "EVDisconnected"})
    assert stop["idTagInfo"]["status"] == "Accepted"
    done = reservation(a, soon["id"])
    assert done["status"] == "completed"
    assert done["energy_wh"] == 12345
    assert float(done["cost"]) == pytest.approx(round(12.345 * 2.5, 2))
    assert done["charged_from"] and done["charged_to"]
    row = a.sql_one("SELECT status, energy_wh, cost::float FROM reservations WHERE id = %s", (soon["id"],))
    assert row == ("completed", 12345, pytest.approx(30.86))
    # A second stop of the same transaction changes nothing.
    again = cp.call("StopTransaction", {"transactionId": tx, "meterStop": 99999, "timestamp": ts(utcnow())})
    assert again["idTagInfo"]["status"] == "Invalid"
    assert a.sql_one("SELECT energy_wh FROM reservations WHERE id = %s", (soon["id"],))[0] == 12345
    cp.close()


def test_a_cancelled_booking_is_cancelled_at_the_charger(companies):
    a = companies["a"]
    cp = new_charge_point(a, chargers=1)
    now = utcnow().replace(microsecond=0)
    res = a.book_ok(cp.station, now + timedelta(seconds=60), now + timedelta(seconds=1800))
    rn = cp.wait_call("ReserveNow")
    assert rn is not None
    assert_status(a.cancel(res["id"]), 200)
    cancel = cp.wait_call("CancelReservation", lambda p: p["reservationId"] == rn["reservationId"])
    assert cancel is not None, "no CancelReservation after the booking was cancelled"
    cp.close()


# ---------------------------------------------------------------- faults move bookings

def test_a_fault_moves_the_booking_and_when_none_is_free_the_car_is_told(companies, stack):
    a = companies["a"]
    # A spot of its own (at sea, off the seeded stations), and a free station 1 km away.
    lat, lon = -8.0 - secrets.randbelow(1000) / 1000, -33.0 - secrets.randbelow(1000) / 1000
    cp = new_charge_point(a, chargers=2, lat=lat, lon=lon)
    start = utcnow().replace(microsecond=0) + timedelta(days=2)
    first = a.book_ok(cp.station, start, start + timedelta(hours=1), new_car_id("ocpp"))
    assert first["charger"] == 1
    # Charger 1 fails: the booking moves to charger 2, same window, and charger 1 takes no new booking.
    assert cp.status(1, "Faulted", "GroundFailure") == {}
    moved = reservation(a, first["id"])
    assert (moved["status"], moved["charger"], moved["start"], moved["end"]) == \
        ("confirmed", 2, first["start"], first["end"])
    r = a.book(cp.station, start + timedelta(hours=5), start + timedelta(hours=6), new_car_id("ocpp"))
    assert_status(r, 201)
    assert r.json()["charger"] == 2
    r = a.book(cp.station, start, start + timedelta(hours=1), new_car_id("ocpp"))
    assert r.status_code == 409, r.text

    # A trip's leg on charger 2, for a demo car listening on its own topic: charger 2 fails too, no charger is free.
    spare = a.create_station(chargers=1, lat=lat + 0.009, lon=lon)["id"]
    car = f"car-{secrets.randbelow(100) + 101:03d}"  # a demo car: its MQTT login is in the stack's credentials
    with Client(stack, tag="ocpp", username=car, password=car_password(stack, car)) as mq:
        mq.subscribe(f"evc/v1/a/cars/{car}/booking")
        trip = book_trip(a, [leg(cp.station, start + timedelta(hours=10))], car_id=car)
        trip_res = trip["legs"][0]["reservation_id"]
        assert cp.status(2, "Faulted", "GroundFailure") == {}
        told = mq.wait_for(lambda m: m.json().get("reservation_id") == trip_res, timeout=15)
        assert told is not None, "the car was not told on its MQTT topic"
        body = told.json()
        assert body["type"] == "reservation_disrupted" and body["station_id"] == cp.station
        assert isinstance(body["alternatives"], list)
        # Where else the car can charge in the same window: stations of a near this one with a free charger.
        assert body["nearby"] and body["nearby"][0]["station_id"] == spare, body["nearby"]
        for n in body["nearby"]:
            assert n["station_id"].startswith("a-") and n["distance_km"] <= 50
    assert reservation(a, trip_res)["status"] == "disrupted"
    assert reservation(a, first["id"])["status"] == "disrupted"
    shown = get_trip(a, trip["id"])
    assert shown["legs"][0]["state"] == "disrupted"
    a.post(f"/trips/{trip['id']}/cancel", car=car)  # the demo car's live trips are limited: leave none behind
    cp.close()


def test_a_charger_refusing_reserve_now_as_faulted_moves_the_booking(companies):
    a = companies["a"]
    cp = new_charge_point(a, chargers=2)
    cp.replies["ReserveNow"] = {"status": "Faulted"}
    now = utcnow().replace(microsecond=0)
    res = a.book_ok(cp.station, now + timedelta(seconds=60), now + timedelta(seconds=1800), new_car_id("ocpp"))
    assert res["charger"] == 1
    first = cp.wait_call("ReserveNow", lambda p: p["connectorId"] == 1)
    assert first is not None
    cp.replies["ReserveNow"] = {"status": "Accepted"}
    second = cp.wait_call("ReserveNow", lambda p: p["connectorId"] == 2)
    assert second is not None, "the moved booking was not reserved on its new charger"
    assert second["reservationId"] != first["reservationId"]
    assert reservation(a, res["id"])["charger"] == 2
    assert a.sql_one("SELECT state FROM ocpp_chargers WHERE station_id = %s AND charger = 1", (cp.station,))[0] == \
        "Faulted"
    cp.close()


def test_remote_commands_by_the_operator_only(companies):
    a = companies["a"]
    cp = new_charge_point(a, chargers=2)
    path = f"/stations/{cp.station}/ocpp/commands"
    body = {"action": "ChangeAvailability", "payload": {"connectorId": 1, "type": "Inoperative"}}
    assert a.post(path, json=body).status_code == 401
    assert a.post(path, json=body, car=new_car_id("ocpp")).status_code == 403
    assert a.post(path, json={"action": "Reset", "payload": {"type": "Sideways"}}, admin=True).status_code == 400
    assert a.post(path, json={"action": "UpdateFirmware", "payload": {}}, admin=True).status_code == 400
    assert not any(act == "ChangeAvailability" for act, _ in cp.received)  # no refusal reached the charger
    with ThreadPoolExecutor(1) as pool:
        sent = pool.submit(a.post, path, json=body, admin=True, timeout=30)
        got = cp.wait_call("ChangeAvailability")
        r = sent.result()
    assert got == {"connectorId": 1, "type": "Inoperative"}
    assert_status(r, 200)
    assert r.json() == {"station_id": cp.station, "action": "ChangeAvailability", "answer": {"status": "Accepted"}}
    cp.close()
    # Not connected: the command is refused, not queued.
    time.sleep(0.5)
    r = a.post(path, json={"action": "Reset", "payload": {"type": "Soft"}}, admin=True)
    assert r.status_code == 409 and r.json()["error"]["code"] == "station_offline", r.text


def test_an_unanswered_reserve_now_is_retried_then_given_up(companies):
    a = companies["a"]
    cp = new_charge_point(a, chargers=1)
    cp.replies["ReserveNow"] = "CALLERROR"
    now = utcnow().replace(microsecond=0)
    res = a.book_ok(cp.station, now + timedelta(seconds=60), now + timedelta(seconds=1800))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and sum(1 for act, _ in cp.received if act == "ReserveNow") < 4:
        cp.wait_call("NoSuchCall", timeout=1)
    ids = [p["reservationId"] for act, p in cp.received if act == "ReserveNow"]
    assert len(ids) == 4 and len(set(ids)) == 1, ids  # the first call and EVC_OCPP_CALL_RETRIES (3) more, same id
    row = a.sql_one("SELECT state, answer, attempts FROM ocpp_reservations WHERE reservation_id = %s", (res["id"],))
    assert row == ("refused", "no_answer", 4)
    assert cp.wait_call("ReserveNow", lambda p: True, timeout=3) is not None  # (the ones already received)
    extra = sum(1 for act, _ in cp.received if act == "ReserveNow")
    assert extra == 4, "retried beyond EVC_OCPP_CALL_RETRIES"
    assert reservation(a, res["id"])["status"] == "confirmed"  # the booking itself stands
    cp.close()


def test_a_station_cannot_touch_another_stations_session_and_refusals_write_nothing(companies):
    a = companies["a"]
    mine, other = new_charge_point(a, chargers=1), new_charge_point(a, chargers=1)
    started = mine.call("StartTransaction", {"connectorId": 1, "idTag": "walk-in", "meterStart": 0,
                                             "timestamp": ts(utcnow())})
    assert started["idTagInfo"]["status"] == "Invalid"  # no booking: a transaction id all the same
    tx = started["transactionId"]
    before = a.sql("SELECT x::text FROM ocpp_transactions x WHERE station_id IN (%s, %s) ORDER BY id",
                   (mine.station, other.station))
    meter_before = a.sql_one("SELECT count(*) FROM ocpp_meter_values WHERE station_id IN (%s, %s)",
                             (mine.station, other.station))[0]
    # Another station stops it: refused as unknown there, nothing changes.
    stop = other.call("StopTransaction", {"transactionId": tx, "meterStop": 5000, "timestamp": ts(utcnow())})
    assert stop["idTagInfo"]["status"] == "Invalid"
    # A connector the station does not have, and too many samples: CALLERRORs, nothing stored.
    with pytest.raises(CallError) as e:
        other.call("StartTransaction", {"connectorId": 2, "idTag": "walk-in", "meterStart": 0,
                                        "timestamp": ts(utcnow())})
    assert e.value.code == "PropertyConstraintViolation"
    samples = [{"value": str(i)} for i in range(65)]
    with pytest.raises(CallError) as e:
        other.call("MeterValues", {"connectorId": 1, "transactionId": tx,
                                   "meterValue": [{"timestamp": ts(utcnow()), "sampledValue": samples}]})
    assert e.value.code == "OccurenceConstraintViolation"
    with pytest.raises(CallError) as e:
        other.call("StopTransaction", {"transactionId": tx, "meterStop": -1, "timestamp": ts(utcnow())})
    assert e.value.code == "PropertyConstraintViolation"
    assert a.sql("SELECT x::text FROM ocpp_transactions x WHERE station_id IN (%s, %s) ORDER BY id",
                 (mine.station, other.station)) == before
    assert a.sql_one("SELECT count(*) FROM ocpp_meter_values WHERE station_id IN (%s, %s)",
                     (mine.station, other.station))[0] == meter_before
    # The owner stops it.
    assert mine.call("StopTransaction", {"transactionId": tx, "meterStop": 5000,
                                         "timestamp": ts(utcnow())})["idTagInfo"]["status"] == "Accepted"
    assert a.sql_one("SELECT energy_wh FROM ocpp_transactions WHERE id = %s", (tx,))[0] == 5000
    mine.close()
    other.close()


def test_a_charger_answering_occupied_or_rejected_loses_that_reservation_only(companies):
    """ReserveNow answered Occupied (or Rejected): the reservation moves to another free
    charger of the station, which gets its own ReserveNow; the refusing charger stays in
    service; when no other charger is free the booking is disrupted."""
    a = companies["a"]
    cp = new_charge_point(a, chargers=2)
    cp.replies["ReserveNow"] = lambda p: {"status": "Occupied" if p["connectorId"] == 1 else "Accepted"}
    now = utcnow().replace(microsecond=0)
    first = a.book_ok(cp.station, now + timedelta(seconds=60), now + timedelta(seconds=1800), new_car_id("ocpp"))
    assert first["charger"] == 1
    again = cp.wait_call("ReserveNow", lambda p: p["connectorId"] == 2)
    assert again is not None, "the refused reservation was not reserved on another charger"
    moved = reservation(a, first["id"])
    assert (moved["status"], moved["charger"], moved["start"], moved["end"]) == \
        ("confirmed", 2, first["start"], first["end"])
    assert a.sql("SELECT charger, answer FROM ocpp_refusals WHERE reservation_id = %s", (first["id"],)) == \
        [(1, "Occupied")]
    # Charger 1 itself stays in service: no state stored, and a later window still books it.
    assert a.sql("SELECT state FROM ocpp_chargers WHERE station_id = %s AND charger = 1", (cp.station,)) == []
    later = a.book_ok(cp.station, now + timedelta(hours=3), now + timedelta(hours=4), new_car_id("ocpp"))
    assert later["charger"] == 1
    # An overlapping booking lands on charger 1, which refuses it too; charger 2 is taken: disrupted.
    car = new_car_id("ocpp")
    second = a.book_ok(cp.station, now + timedelta(seconds=90), now + timedelta(seconds=1800), car)
    assert second["charger"] == 1
    assert cp.wait_call("ReserveNow", lambda p: p["idTag"] == car) is not None
    assert wait_for(lambda: reservation(a, second["id"])["status"] == "disrupted", DELIVERY_TIMEOUT, interval=0.5), \
        reservation(a, second["id"])
    assert reservation(a, first["id"])["charger"] == 2 and reservation(a, later["id"])["status"] == "confirmed"
    # Rejected on a one-charger station: the booking is disrupted at once, never offered back to that charger.
    one = new_charge_point(a, chargers=1)
    one.replies["ReserveNow"] = {"status": "Rejected"}
    lone = a.book_ok(one.station, now + timedelta(seconds=60), now + timedelta(seconds=1800), new_car_id("ocpp"))
    assert one.wait_call("ReserveNow") is not None
    assert wait_for(lambda: reservation(a, lone["id"])["status"] == "disrupted", DELIVERY_TIMEOUT, interval=0.5)
    assert sum(1 for act, _ in one.received if act == "ReserveNow") == 1
    cp.close()
    one.close()


def stack_restart(company_id, **settings):
    """Restarts a company's worker with these worker settings (none: the defaults)."""
    env = dict(os.environ, EVC_STACK_DIR=stack_dir(), **{k: str(v) for k, v in settings.items()})
    p = subprocess.run([str(STACK_SCRIPT), "restart", company_id, "worker"], env=env, capture_output=True,
                       text=True, timeout=180)
    assert p.returncode == 0, p.stderr[-2000:]


def test_a_station_offline_longer_than_the_bound_disrupts_its_bookings(companies):
    """c runs with EVC_OCPP_OFFLINE_AFTER_S=3: a charge point that connected once and then
    lost its connection for longer has its future bookings (a trip's leg too) disrupted and
    takes no new booking until it connects again; a station still connected, and one that
    never spoke OCPP, keep theirs."""
    c = companies["c"]
    stack_restart("c", EVC_OCPP_OFFLINE_AFTER_S=OFFLINE_AFTER)
    try:
        c.wait_healthy()
        lost, kept = new_charge_point(c, chargers=2), new_charge_point(c, chargers=1)
        never = c.create_station(chargers=1)["id"]
        assert_status(rotate(c, never, admin=True), 200)  # it has a key, but never connected (an MQTT station)
        start = utcnow().replace(microsecond=0) + timedelta(days=2)
        booked = {st: c.book_ok(st, start, start + timedelta(hours=1), new_car_id("ocpp"))
                  for st in (lost.station, kept.station, never)}
        trip = book_trip(c, [leg(lost.station, start + timedelta(hours=10))], car_id=new_car_id("ocpp"))
        lost.close()
        closed_at = time.monotonic()
        assert reservation(c, booked[lost.station]["id"])["status"] == "confirmed"  # not before the bound
        assert wait_for(lambda: reservation(c, booked[lost.station]["id"])["status"] == "disrupted",
                        OFFLINE_AFTER + 10, interval=0.25)
        assert time.monotonic() - closed_at >= OFFLINE_AFTER - 1.5
        assert reservation(c, trip["legs"][0]["reservation_id"])["status"] == "disrupted"
        assert get_trip(c, trip["id"])["legs"][0]["state"] == "disrupted"
        assert reservation(c, booked[kept.station]["id"])["status"] == "confirmed"
        assert reservation(c, booked[never]["id"])["status"] == "confirmed"
        # Every charger of the lost station is out: no new booking there.
        r = c.book(lost.station, start + timedelta(hours=20), start + timedelta(hours=21), new_car_id("ocpp"))
        assert r.status_code == 409, r.text
        view = c.get(f"/stations/{lost.station}/ocpp", admin=True).json()
        assert view["connected"] is False and view["offline_since"], view
        assert c.get(f"/stations/{kept.station}/ocpp", admin=True).json()["offline_since"] is None
        # Back online: it takes bookings again (the disrupted ones stay disrupted: their cars were told).
        back = ChargePoint(c, lost.station, lost.key)
        assert back.boot()["status"] == "Accepted"
        assert wait_for(lambda: c.book(lost.station, start + timedelta(hours=20), start + timedelta(hours=21),
                                       new_car_id("ocpp")).status_code == 201, 10, interval=0.5)
        assert reservation(c, booked[lost.station]["id"])["status"] == "disrupted"
        assert c.get(f"/stations/{lost.station}/ocpp", admin=True).json()["offline_since"] is None
        back.close()
        kept.close()
        c.assert_alive()
    finally:
        stack_restart("c")
        c.wait_healthy()
        federation_ready(companies)


def test_a_remote_legs_change_shows_at_the_trips_coordinator_and_only_it_may_ask(companies):
    """A trip coordinated by a with a leg at b's charge point: the leg's charger faults at
    b (moved to charger 2), then charger 2 too (disrupted); a's GET /trips/{id} shows
    each change, and keeps it. Only a (the coordinator) may read b's legs of the trip."""
    a, b, c = companies["a"], companies["b"], companies["c"]
    cp = new_charge_point(b, chargers=2)
    here = a.create_station(chargers=1)["id"]
    start = utcnow().replace(microsecond=0) + timedelta(days=3)
    car = new_car_id("ocpp")
    trip = book_trip(a, [leg(here, start), leg(cp.station, start + timedelta(hours=3))], car_id=car)
    remote = trip["legs"][1]
    assert (remote["company"], remote["charger"]) == ("b", 1)
    assert cp.status(1, "Faulted", "GroundFailure") == {}
    shown = get_trip(a, trip["id"])["legs"][1]
    assert (shown["charger"], shown["state"]) == (2, "confirmed"), shown
    assert get_trip(a, trip["id"], car=car)["legs"][1]["charger"] == 2  # the car, asking its coordinator
    assert cp.status(2, "Faulted", "GroundFailure") == {}
    assert get_trip(a, trip["id"])["legs"][1]["state"] == "disrupted"
    stored = a.sql_one("SELECT legs FROM trips WHERE id = %s", (trip["id"],))[0]
    assert stored[1]["state"] == "disrupted" and stored[0]["state"] == "confirmed"  # kept, the local leg untouched

    # Who may ask b for the legs it holds: the coordinator's server only; a refusal writes nothing.
    path = f"/federation/trips/{trip['id']}/legs"
    token = lambda caller: caller.sql_one("SELECT outbound_token FROM peers WHERE id = 'b'")[0]
    before = b.sql("SELECT x::text FROM reservations x WHERE trip_id = %s", (trip["id"],))
    ok = b.get(path, headers={"Authorization": f"Token {token(a)}"})
    assert_status(ok, 200)
    assert [(x["reservation_id"], x["status"]) for x in ok.json()["legs"]] == [(remote["reservation_id"], "disrupted")]
    refused = {"peer c": (b.get(path, headers={"Authorization": f"Token {token(c)}"}), 404),
               "the trip's car": (b.get(path, car=car), 403),
               "b's operator": (b.get(path, admin=True), 403),
               "anonymous": (b.get(path), 401),
               "an unknown trip": (b.get(f"/federation/trips/{secrets.token_hex(4)}/legs",
                                         headers={"Authorization": f"Token {token(a)}"}), 404)}
    for who, (r, want) in refused.items():
        assert r.status_code == want, (who, r.status_code, r.text)
    assert b.sql("SELECT x::text FROM reservations x WHERE trip_id = %s", (trip["id"],)) == before
    a.post(f"/trips/{trip['id']}/cancel", car=car)
    cp.close()


def test_a_station_flooding_calls_gets_callerrors_and_the_worker_stays_healthy(companies, stack):
    """EVC_OCPP_CALLS_PER_SECOND (10) and EVC_OCPP_CALLS_BURST (30), per station: 100
    CALLs sent at once are each answered, those beyond the budget with a CALLERROR
    GenericError; a warn line names the station; a moment later the station is served
    again."""
    a = companies["a"]
    cp = new_charge_point(a, chargers=1)
    n = 100
    for i in range(n):
        cp.send_raw(json.dumps([2, f"flood{i}", "Heartbeat", {}]))
    answers = [cp.recv_frame() for _ in range(n)]
    assert sorted(f[1] for f in answers) == sorted(f"flood{i}" for i in range(n))  # each answered once
    served = [f for f in answers if f[0] == 3]
    limited = [f for f in answers if f[0] == 4]
    assert all(f[2] == "GenericError" for f in limited), limited[:3]
    assert len(served) >= 25 and len(limited) >= 10, (len(served), len(limited))
    log = Path(stack["state_dir"]) / "logs" / "worker-a.log"
    assert wait_for(lambda: any("event=ocpp_rate_limited" in line and f"station={cp.station} " in line
                                for line in log.read_text(errors="replace").splitlines()), 5)
    time.sleep(1.2)
    assert cp.call("Heartbeat", {})["currentTime"]
    a.assert_alive()
    cp.close()


def test_the_availability_a_planner_asks_never_counts_a_charger_out_of_service(companies):
    """A plan proposes only what a booking can take: the availability batch (what every
    company's planner asks) counts a Faulted charger as not there, like the booking does."""
    b = companies["b"]
    cp = new_charge_point(b, chargers=1)
    start = utcnow().replace(microsecond=0) + timedelta(days=3)
    window = {"station_id": cp.station, "start": ts(start), "end": ts(start + timedelta(hours=1))}

    def free():
        r = b.post("/availability/batch", admin=True, json={"windows": [window]})
        assert_status(r, 200)
        return r.json()["windows"][0]["free"]

    assert free() is True
    assert cp.status(1, "Faulted", "GroundFailure") == {}
    assert free() is False
    assert b.book(cp.station, start, start + timedelta(hours=1), new_car_id("ocpp")).status_code == 409
    assert cp.status(1, "Available") == {}
    assert free() is True
    cp.close()
