"""System tests of the trip waitlist (workers/company/core/trip_waitlist.c).

A car whose trip across companies failed (409: a leg's charger taken) waits for
the whole route at the coordinator (POST /trip-waitlist, or MQTT type
"trip_waitlist"). The coordinator retries the whole trip, oldest entry first,
every EVC_TRIP_WAITLIST_RETRY_MS (2 s by default): when the blocking booking
goes, the trip is booked atomically (every leg at every company, or none) and
the car is told on evc/v1/<company>/cars/<car>/waitlist. A retry that fails
leaves the entry where it was; an entry expires when its first window starts;
a car may leave; another car neither sees nor removes an entry.
"""

import time
import uuid
from datetime import timedelta

import pytest

from conftest import assert_error, assert_json, assert_status, new_car_id, ts, utcnow
from mqttkit import Client, new_request_id, req_topic, resp_topic, wait_answer
from tripkit import fresh_stations, post_trip, reservations_of_trip, route, wait_for

BOOK_WAIT = 15  # seconds: a round every 2 s, a 2-company 2PC under ASan


@pytest.fixture(autouse=True)
def leave_leftovers(companies):
    """Entries a failed test left waiting would be retried for hours: they leave."""
    yield
    companies["a"].sql("UPDATE trip_waitlist SET status = 'left', updated_at = now() WHERE status = 'waiting'")


def waitlist_topic(company_id, car):
    return f"evc/v1/{company_id}/cars/{car}/waitlist"


def blocked_route(companies, start=None):
    """A route a -> b on fresh one-charger stations, and b's charger taken for the second leg
    by another car: (legs, blocking reservation id)."""
    sa, sb = fresh_stations(companies, ("a", "b"), chargers=1)
    legs = route([sa, sb], start=start, hours=1.0, gap_hours=2.0)
    b = companies["b"]
    blocker = b.book_ok(sb, legs[1]["start"], legs[1]["end"], car_id=new_car_id("blk"))
    return legs, blocker["id"]


def join(a, car, legs, **extra):
    r = a.post("/trip-waitlist", car=car, json={"legs": legs, **extra})
    assert_status(r, 201)
    return assert_json(r)


def entry(a, wid, car=None):
    r = a.get(f"/trip-waitlist/{wid}", **({"car": car} if car else {"admin": True}))
    assert_status(r, 200)
    return assert_json(r)


def wait_entry(a, wid, predicate, timeout=BOOK_WAIT):
    return wait_for(lambda: (lambda e: e if predicate(e) else None)(entry(a, wid)), timeout, interval=0.2)


def trip_rows(a, car):
    return a.sql("SELECT id::text, status FROM trips WHERE car_id = %s ORDER BY created_at", (car,))


def test_a_failed_trip_waits_and_is_booked_atomically_when_the_remote_charger_frees(companies, stack):
    a, b = companies["a"], companies["b"]
    legs, blocker = blocked_route(companies)
    car = new_car_id("twl")
    r, _, _ = post_trip(a, legs, car_id=car)
    assert_error(r, 409)
    with Client(stack, tag="twl") as mq:
        mq.subscribe(waitlist_topic("a", car))
        w = join(a, car, legs)
        assert w["status"] == "waiting" and w["car_id"] == car and w["position"] >= 1, w
        assert [(l["station_id"], l["start"], l["end"]) for l in w["legs"]] == \
            [(l["station_id"], l["start"], l["end"]) for l in legs], w
        # The first retry fails (b's charger is still taken): the entry stays, nothing is held anywhere.
        tried = wait_entry(a, w["id"], lambda e: e["attempts"] >= 1 and e["last_error"] is not None)
        assert tried and tried["status"] == "waiting" and tried["last_error"] == "no_charger_free", tried
        assert all(s == "aborted" for _, s in trip_rows(a, car)), trip_rows(a, car)
        assert_status(b.cancel(blocker), 200)
        done = wait_entry(a, w["id"], lambda e: e["status"] != "waiting")
        assert done and done["status"] == "booked" and done["trip_id"], done
        trip = a.get(f"/trips/{done['trip_id']}", car=car)
        assert_status(trip, 200)
        t = assert_json(trip)
        assert t["status"] == "confirmed" and all(l["state"] == "confirmed" for l in t["legs"]), t
        held = reservations_of_trip(companies, done["trip_id"])
        assert {cid: [row[2] for row in rows] for cid, rows in held.items()} == \
            {"a": ["confirmed"], "b": ["confirmed"], "c": []}, held
        # Exactly one trip of this car is live: no retry booked twice.
        assert [s for _, s in trip_rows(a, car)].count("confirmed") == 1, trip_rows(a, car)
        m = mq.wait_for(lambda m: m.topic == waitlist_topic("a", car), timeout=10)
        assert m is not None, "the car was not told over MQTT"
        note = m.json()
        assert note["type"] == "trip_waitlist" and note["id"] == w["id"] and note["status"] == "booked", note
        assert note["trip"]["id"] == done["trip_id"] and note["trip"]["status"] == "confirmed", note


def test_first_come_first_served_leave_and_strangers(companies):
    a = companies["a"]
    legs, blocker = blocked_route(companies)
    first, second, stranger = new_car_id("fcfs1"), new_car_id("fcfs2"), new_car_id("stranger")
    w1 = join(a, first, legs)
    w2 = join(a, second, legs)
    assert w2["position"] == w1["position"] + 1, (w1, w2)
    # A stranger neither sees nor removes another car's entry; its list shows none of them.
    assert_error(a.get(f"/trip-waitlist/{w1['id']}", car=stranger), 404)
    assert_error(a.request("DELETE", f"/trip-waitlist/{w1['id']}", car=stranger), 404)
    r = a.get("/trip-waitlist", car=stranger)
    assert_status(r, 200)
    assert assert_json(r)["items"] == [], r.text
    assert entry(a, w1["id"])["status"] == "waiting"
    # The operator sees both; a car its own only.
    mine = assert_json(a.get("/trip-waitlist?status=waiting", car=first))["items"]
    assert [e["id"] for e in mine] == [w1["id"]], mine
    ids = {e["id"] for e in assert_json(a.get("/trip-waitlist?status=waiting", admin=True))["items"]}
    assert {w1["id"], w2["id"]} <= ids
    assert_error(a.get("/trip-waitlist?status=bogus", admin=True), 400)
    # While the first waits, the second (same windows) is never tried: the first goes first.
    assert wait_entry(a, w1["id"], lambda e: e["attempts"] >= 2), entry(a, w1["id"])
    assert entry(a, w2["id"])["attempts"] == 0
    assert_status(companies["b"].cancel(blocker), 200)
    got = wait_entry(a, w1["id"], lambda e: e["status"] != "waiting")
    assert got and got["status"] == "booked", got
    # Then the second is tried, meets the first car's trip, and stays waiting, first in line now.
    later = wait_entry(a, w2["id"], lambda e: e["attempts"] >= 1 and e["last_error"] is not None)
    assert later and later["status"] == "waiting" and later["position"] < w2["position"], later
    assert later["last_error"] == "no_charger_free", later
    # It leaves; leaving again answers the same; the entry is never retried again.
    r = a.request("DELETE", f"/trip-waitlist/{w2['id']}", car=second)
    assert_status(r, 200)
    assert assert_json(r)["status"] == "left"
    attempts = entry(a, w2["id"])["attempts"]
    r = a.request("DELETE", f"/trip-waitlist/{w2['id']}", car=second)
    assert_status(r, 200)
    assert assert_json(r)["status"] == "left"
    time.sleep(2.5)
    assert entry(a, w2["id"])["attempts"] == attempts
    assert [s for _, s in trip_rows(a, second)].count("confirmed") == 0


def test_mqtt_join_expires_when_the_first_window_starts(companies, stack):
    """Joined over MQTT (the bridge calls the same core as the car), with a first window
    a few seconds ahead on a blocked route: the entry expires when it starts, and the car is told."""
    a = companies["a"]
    legs, _ = blocked_route(companies, start=utcnow() + timedelta(seconds=8))
    car = new_car_id("twlx")
    with Client(stack, tag="twlx") as mq:
        mq.subscribe(waitlist_topic("a", car))
        mq.subscribe(resp_topic("a", car))
        rid = new_request_id("twl")
        mq.publish(req_topic("a", car), {"type": "trip_waitlist", "request_id": rid, "legs": legs})
        ans = wait_answer(mq, "a", car, rid)
        assert ans is not None and ans.get("status") == 201, ans
        wid = ans["body"]["id"]
        w = entry(a, wid, car=car)
        assert w["car_id"] == car and w["expires_at"] == legs[0]["start"], w
        m = mq.wait_for(lambda m: m.topic == waitlist_topic("a", car) and m.json().get("status") == "expired",
                        timeout=20)
        assert m is not None, entry(a, wid)
        assert entry(a, wid)["status"] == "expired"
        # Leaving over MQTT answers the entry as it is (expired, not left).
        rid = new_request_id("twl")
        mq.publish(req_topic("a", car), {"type": "trip_waitlist_leave", "request_id": rid, "entry_id": wid})
        ans = wait_answer(mq, "a", car, rid)
        assert ans is not None and ans.get("status") == 200 and ans["body"]["status"] == "expired", ans


def test_bad_joins_write_nothing(companies):
    a = companies["a"]
    legs, _ = blocked_route(companies)
    car, other = new_car_id("twlbad"), new_car_id("twlother")
    count = lambda: a.sql_one("SELECT count(*) FROM trip_waitlist WHERE car_id = ANY(%s)", ([car, other],))[0]

    cases = [
        (dict(car=car, json={}), 400),
        (dict(car=car, json={"legs": legs, "expires_at": "yesterday"}), 400),
        (dict(car=car, json={"legs": legs, "expires_at": ts(utcnow() - timedelta(minutes=1))}), 400),
        (dict(car=car, json={"legs": [{**legs[0], "station_id": "zz-nowhere"}]}), 400),
        (dict(car=car, json={"legs": legs, "car_id": other}), 403),
        (dict(json={"legs": legs, "car_id": car}), 401),
    ]
    for kw, status in cases:
        assert_error(a.post("/trip-waitlist", **kw), status)
    assert count() == 0
    assert_error(a.get(f"/trip-waitlist/{uuid.uuid4()}", car=car), 404)
    assert_error(a.get("/trip-waitlist/not-a-uuid", car=car), 404)
    # The bound per car (EVC_TRIP_WAITLIST_CAR_MAX, 3 by default).
    for _ in range(3):
        join(a, car, legs)
    assert_error(a.post("/trip-waitlist", car=car, json={"legs": legs}), 409, "trip_waitlist_full")
    assert count() == 3


def test_who_may_join_read_and_leave(companies):
    """The policy table's three trip waitlist actions, for every kind of caller at a;
    a refusal leaves the trip waitlist (and the trips) as they were."""
    a, b, c = companies["a"], companies["b"], companies["c"]
    legs, _ = blocked_route(companies)
    owner, other = new_car_id("twlown"), new_car_id("twloth")
    peer = lambda x: {"Authorization": f"Token {x.sql_one('SELECT outbound_token FROM peers WHERE id = %s', ('a',))[0]}"}
    actors = {"anonymous": {}, "car_b": b.as_car(other), "operator_b": b.admin, "peer_b": peer(b), "peer_c": peer(c)}
    refused = {"anonymous": 401, "car_b": 403, "operator_b": 401, "peer_b": 403, "peer_c": 403}
    refused_item = dict(refused, car_b=404)  # another car's entry: as if it did not exist
    w = join(a, owner, legs)
    # What a refusal could change (the retry round itself moves attempts and last_attempt_at).
    state = lambda: (a.sql("SELECT concat_ws(' ', id, car_id, legs, status, expires_at, trip_id) FROM trip_waitlist"
                           " ORDER BY seq"),
                     a.sql("SELECT count(*) FROM trips WHERE car_id = ANY(%s)", ([owner, other],)))
    for actor, headers in actors.items():
        before = state()[0]
        assert_error(a.post("/trip-waitlist", headers=headers, json={"legs": legs, "car_id": owner}), refused[actor])
        assert_error(a.get(f"/trip-waitlist/{w['id']}", headers=headers), refused_item[actor])
        assert_error(a.request("DELETE", f"/trip-waitlist/{w['id']}", headers=headers), refused_item[actor])
        assert [row for row in state()[0] if w["id"] in row[0] or owner in row[0] or other in row[0]] == \
            [row for row in before if w["id"] in row[0] or owner in row[0] or other in row[0]], actor
    # The owner reads its entry; the operator joins for a named car, reads and removes any car's.
    assert entry(a, w["id"], car=owner)["id"] == w["id"]
    r = a.post("/trip-waitlist", admin=True, json={"legs": legs, "car_id": other})
    assert_status(r, 201)
    by_operator = assert_json(r)
    assert by_operator["car_id"] == other
    assert_error(a.post("/trip-waitlist", admin=True, json={"legs": legs}), 400)  # an operator names the car
    for wid in (w["id"], by_operator["id"]):
        r = a.request("DELETE", f"/trip-waitlist/{wid}", admin=True)
        assert_status(r, 200)
        assert assert_json(r)["status"] == "left"
