"""Over MQTT, a car acts as itself only (workers/company/mqtt/mqtt_bridge.c calls
the core in-process with the car the broker's ACL proved, never the REST API
with the operator's token): it cannot cancel, finish, read or check in another
car's trip; its own requests work; a redelivered request gets the stored answer;
a transient answer (429) is not stored, so a retry runs again.
"""

import time

import pytest

from mqttkit import Client, mqtt_stats, new_car, new_request_id, request, resp_topic
from tripkit import fresh_stations, post_trip, reservations_of_trip, route

ANSWER = 40  # seconds; a cancel runs a whole two-phase commit


@pytest.fixture
def mq(stack):
    c = Client(stack).connect()
    yield c
    c.close()


def live_legs(companies, trip_id):
    return sorted(row[2] for rows in reservations_of_trip(companies, trip_id).values() for row in rows)


def book_for(companies, car):
    """A confirmed two-company trip of car, booked over REST with its own token."""
    legs = route(fresh_stations(companies, ("a", "b")))
    r, _, _ = post_trip(companies["a"], legs, car_id=car)
    assert r.status_code == 201, r.text
    return r.json()


def test_a_car_cannot_touch_another_cars_trip_over_mqtt(companies, mq):
    owner, intruder = new_car("own"), new_car("intr")
    trip = book_for(companies, owner)
    leg_reservation = trip["legs"][0]["reservation_id"]
    mq.subscribe(resp_topic("a", intruder))
    mq.subscribe(resp_topic("a", owner))

    for kind, extra in (("cancel", {"trip_id": trip["id"]}), ("finish", {"trip_id": trip["id"]}),
                        ("status", {"trip_id": trip["id"]}), ("checkin", {"reservation_id": leg_reservation})):
        ans = request(mq, "a", intruder, {"type": kind, "request_id": new_request_id(kind), **extra}, timeout=ANSWER)
        assert ans is not None, f"no answer to {kind}"
        assert ans["status"] == 404, f"{kind} of another car's trip: {ans}"
        assert ans["body"]["error"]["code"] == "not_found", ans
    # Nothing changed: both legs still confirmed, not checked in.
    assert live_legs(companies, trip["id"]) == ["confirmed", "confirmed"]
    assert companies["a"].sql_one("SELECT checked_in_at IS NULL FROM reservations WHERE id = %s",
                                  (leg_reservation,))[0] is True

    # The owner's own requests work.
    ans = request(mq, "a", owner, {"type": "status", "request_id": new_request_id("st"), "trip_id": trip["id"]})
    assert ans is not None and ans["status"] == 200 and ans["body"]["id"] == trip["id"], ans
    cancel = {"type": "cancel", "request_id": new_request_id("cx"), "trip_id": trip["id"]}
    ans = request(mq, "a", owner, cancel, timeout=ANSWER)
    assert ans is not None and ans["status"] == 200, ans
    assert live_legs(companies, trip["id"]) == ["cancelled", "cancelled"]

    # A redelivery of the same request gets the stored answer and runs nothing again.
    before = companies["a"].sql_one("SELECT updated_at FROM trips WHERE id = %s", (trip["id"],))[0]
    mq.publish(f"evc/v1/a/cars/{owner}/req", cancel, qos=1)
    both = wait_answers(mq, owner, cancel["request_id"], 2)
    assert len(both) == 2, f"the redelivery was not answered: {both}"
    assert both[1]["status"] == 200 and both[1]["body"] == both[0]["body"], both
    assert companies["a"].sql_one("SELECT updated_at FROM trips WHERE id = %s", (trip["id"],))[0] == before


def wait_answers(mq, car, request_id, n, timeout=30):
    """The answers on car's resp topic at company a for request_id, once there are n (or at the timeout)."""
    deadline = time.time() + timeout
    while True:
        got = [m.json() for m in mq.received(resp_topic("a", car)) if m.json().get("request_id") == request_id]
        if len(got) >= n or time.time() > deadline:
            return got
        time.sleep(0.2)


def test_a_transient_answer_is_not_stored_and_a_retry_runs_again(companies, mq):
    """Reserve requests past the car's rate limit get 429: none is stored, and the
    same request id sent again later is answered anew (here: its real 400)."""
    a = companies["a"]
    car = new_car("rate")
    mq.subscribe(resp_topic("a", car))
    bad_legs = [{"station_id": "zz-nope", "start": "2030-01-01T00:00:00Z", "end": "2030-01-01T01:00:00Z"}]
    ids = [new_request_id(f"r{i}") for i in range(40)]
    for rid in ids:
        mq.publish(f"evc/v1/a/cars/{car}/req", {"type": "reserve", "request_id": rid, "legs": bad_legs}, qos=1)
    answers = {}
    deadline = time.time() + 60
    while len(answers) < len(ids) and time.time() < deadline:
        for m in mq.received(resp_topic("a", car)):
            body = m.json()
            answers[body.get("request_id")] = body["status"]
        time.sleep(0.2)
    assert set(answers) == set(ids), f"{len(answers)} of {len(ids)} answered"
    limited = [rid for rid, status in answers.items() if status == 429]
    assert limited, f"no request was rate limited: {sorted(set(answers.values()))}"
    assert set(answers.values()) <= {400, 429}, answers
    stored = dict(a.sql("SELECT request_id, status FROM mqtt_requests WHERE car_id = %s", (car,)))
    assert all(s != 429 for s in stored.values()), stored
    assert all(f"{car}/{rid}" not in stored for rid in limited), "a 429 claim was kept"
    time.sleep(2)  # the bucket refills
    retry = {"type": "reserve", "request_id": limited[0], "legs": bad_legs}
    mq.publish(f"evc/v1/a/cars/{car}/req", retry, qos=1)
    got = wait_answers(mq, car, limited[0], 2)
    status = got[-1]["status"] if len(got) >= 2 else None
    assert status == 400, f"the retried request was answered {status}"
    assert mqtt_stats(a)[0] == "ok"
