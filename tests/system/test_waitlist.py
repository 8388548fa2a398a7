"""System tests of the waitlist (workers/company/core/waitlist.c, rest/api_waitlist.c).

The rule (waitlist.h): per city, requests are served strictly in arrival order;
a request is served when one of its stations has a free charger for its window
moved by at most its flexibility (nearest move first, earlier first on a tie); a
request that does not fit is passed over, but a younger request is never served
before an older one that fits. The consumer runs every second and at once after a
cancel; it also expires requests past their deadline and confirmed reservations
not checked in within the no-show grace (EVC_NO_SHOW_GRACE_MINUTES, default 15).

Who may act (core/policy.c): a car joins, reads and withdraws its own requests only
(another car's is a 404, as if it did not exist) and its list shows only its own;
the operator of the company reads and withdraws every request and joins on behalf
of a car it names; the public gets 401.

Every test makes stations in a city of its own (so it has a queue of its own) and
books windows days ahead at random offsets.
"""

import secrets
import threading
import time
from datetime import timedelta

import pytest
import requests

from conftest import (assert_error, assert_json, assert_status, future_start, new_car_id, parse_ts, run_stack, ts,
                      utcnow)
from mqttkit import Client, new_request_id, req_topic, resp_topic, wait_answer
from tripkit import ensure_up, log_tail, wait_for

GRANT_WAIT = 5      # seconds: the consumer runs right after a cancel, and every second anyway
ROUND = 1.5         # a bit more than one consumer round


# ---------------------------------------------------------------- helpers

_joined = []  # every request a test made, withdrawn after it so queues do not pile up on the stack


@pytest.fixture(autouse=True)
def withdraw_leftovers(companies):
    yield
    ids, _joined[:] = list(_joined), []
    if ids:
        try:
            companies["a"].sql("UPDATE waitlist SET status = 'withdrawn', updated_at = now()"
                               " WHERE id = ANY(%s::uuid[]) AND status = 'waiting'", (ids,))
        except Exception:  # best effort
            pass


def new_city(tag="WL"):
    return f"{tag} {secrets.token_hex(5)}"


def waitlist_topic(company_id, car):
    return f"evc/v1/{company_id}/cars/{car}/waitlist"


def join_body(car=None, station_id=None, city=None, start=None, end=None, flex=None, expires=None):
    body = {"car_id": car or new_car_id("wl")}
    if station_id is not None:
        body["station_id"] = station_id
    if city is not None:
        body["city"] = city
    body["start"] = ts(start) if start is not None else None
    body["end"] = ts(end) if end is not None else None
    if flex is not None:
        body["flexibility_minutes"] = flex
    body["expires_at"] = ts(expires or utcnow() + timedelta(minutes=10))
    return {k: v for k, v in body.items() if v is not None}


def join_ok(company, **kw):
    """Joins as the car itself (its own token)."""
    body = join_body(**kw)
    r = company.post("/waitlist", json=body, car=body["car_id"])
    assert_status(r, 201)
    w = assert_json(r)
    assert isinstance(w.get("id"), str), w
    _joined.append(w["id"])
    assert w["car_id"] == body["car_id"], w
    assert w["status"] in ("waiting", "granted"), w
    return w


def get_wl(company, wid, car=None):
    """The request as its car sees it (car=), else as the company's operator."""
    r = company.get(f"/waitlist/{wid}", **({"car": car} if car else {"admin": True}))
    assert_status(r, 200)
    return assert_json(r)


def statuses(company, ids):
    return {wid: get_wl(company, wid) for wid in ids}


def wait_statuses(company, ids, want, timeout=GRANT_WAIT):
    """Waits until every request in ids has status `want`; returns {id: request}."""
    got = wait_for(lambda: (lambda s: s if all(w["status"] == want for w in s.values()) else None)(
        statuses(company, ids)), timeout, interval=0.1)
    return got or statuses(company, ids)


def book_many(company, station_id, start, end, n):
    return [company.book_ok(station_id, start, end) for _ in range(n)]


def cancel_ok(company, reservation_id):
    r = company.cancel(reservation_id)
    assert_status(r, 200)
    return assert_json(r)


def cancel_concurrently(company, reservation_ids):
    """Cancels the reservations from one thread each, released together."""
    barrier = threading.Barrier(len(reservation_ids))
    results = {}

    def one(rid):
        barrier.wait()
        results[rid] = company.cancel(rid)

    threads = [threading.Thread(target=one, args=(rid,)) for rid in reservation_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for rid in reservation_ids:
        assert rid in results, f"cancel of {rid} did not return"
        assert_status(results[rid], 200)


def check_granted(company, w, station_id=None, start=None, end=None):
    """A granted request points at a confirmed reservation of its car for its granted window."""
    assert w["status"] == "granted", w
    assert w.get("position") is None, w
    assert isinstance(w.get("reservation_id"), str), w
    gs, ge = parse_ts(w["granted_start"]), parse_ts(w["granted_end"])
    if start is not None:
        assert gs == start, f"granted_start {w['granted_start']}, expected {ts(start)}: {w}"
    if end is not None:
        assert ge == end, f"granted_end {w['granted_end']}, expected {ts(end)}: {w}"
    r = company.get(f"/reservations/{w['reservation_id']}", car=w["car_id"])  # the car sees its own reservation
    assert_status(r, 200)
    res = assert_json(r)
    assert res["status"] == "confirmed", res
    assert res["car_id"] == w["car_id"], (res, w)
    assert parse_ts(res["start"]) == gs and parse_ts(res["end"]) == ge, (res, w)
    if station_id is not None:
        assert res["station_id"] == station_id, (res, w)
    return res


def diag(stack, company, ids):
    return f"requests: {statuses(company, ids)}\n{log_tail(stack, company.id, 30, grep='waitlist')}"


# ---------------------------------------------------------------- 1. FIFO

def test_fifo_under_concurrent_frees(company, stack):
    a = company
    city = new_city()
    st = a.create_station(chargers=2, city=city)["id"]
    start = future_start()
    end = start + timedelta(hours=1)
    booked = book_many(a, st, start, end, 2)
    assert_status(a.book(st, start, end), 409)  # really full

    waiters = []
    for _ in range(6):
        w = join_ok(a, station_id=st, start=start, end=end)
        assert w["status"] == "waiting", w
        waiters.append(w)
    ids = [w["id"] for w in waiters]
    now = statuses(a, ids)
    assert [now[i]["status"] for i in ids] == ["waiting"] * 6, now
    assert [now[i]["position"] for i in ids] == [1, 2, 3, 4, 5, 6], now

    cancel_concurrently(a, [r["id"] for r in booked])
    t0 = time.monotonic()
    got = wait_for(lambda: (lambda s: s if sum(w["status"] == "granted" for w in s.values()) >= 2 else None)(
        statuses(a, ids)), GRANT_WAIT, interval=0.1)
    assert got, f"two cancels did not grant two requests within {GRANT_WAIT}s\n{diag(stack, a, ids)}"
    elapsed = time.monotonic() - t0
    time.sleep(ROUND)  # nothing more may be granted: only two chargers freed
    now = statuses(a, ids)
    assert [now[i]["status"] for i in ids] == ["granted"] * 2 + ["waiting"] * 4, (
        f"after the first two cancels (granted in {elapsed:.1f}s):\n{diag(stack, a, ids)}")
    assert [now[i]["position"] for i in ids[2:]] == [1, 2, 3, 4], now
    first = [check_granted(a, now[i], st, start, end) for i in ids[:2]]
    assert len({r["id"] for r in first}) == 2, first

    # The list shows the queue, waiting only, in arrival order.
    r = a.get("/waitlist", params={"station_id": st, "status": "waiting"}, admin=True)
    assert_status(r, 200)
    assert [w["id"] for w in assert_json(r)["items"]] == ids[2:], r.text[:1000]

    # The granted cars free their windows: the next two in order get them.
    cancel_concurrently(a, [r["id"] for r in first])
    got = wait_statuses(a, ids[2:4], "granted")
    assert all(w["status"] == "granted" for w in got.values()), (
        f"second round of cancels:\n{diag(stack, a, ids)}")
    time.sleep(ROUND)
    now = statuses(a, ids)
    assert [now[i]["status"] for i in ids[2:]] == ["granted"] * 2 + ["waiting"] * 2, diag(stack, a, ids)
    assert [now[i]["position"] for i in ids[4:]] == [1, 2], now
    second = [check_granted(a, now[i], st, start, end) for i in ids[2:4]]
    assert len({r["id"] for r in second}) == 2, second
    # The first two stay granted (with their now cancelled reservations).
    assert [now[i]["reservation_id"] for i in ids[:2]] == [r["id"] for r in first]


def test_fifo_frees_in_quick_succession(company, stack):
    """More chargers freed one after another, a few ms apart, with a longer queue:
    each cancel wakes the consumer, and the next lands while it goes through the
    queue. The chargers must still go to exactly the oldest requests."""
    a = company
    chargers, queue = 6, 40
    st = a.create_station(chargers=chargers, city=new_city())["id"]
    start = future_start()
    end = start + timedelta(hours=1)
    booked = book_many(a, st, start, end, chargers)
    ids = [join_ok(a, station_id=st, start=start, end=end)["id"] for _ in range(queue)]
    session = requests.Session()
    for r in booked:
        assert_status(session.post(a.url(f"/reservations/{r['id']}/cancel"), headers=a.admin, timeout=30), 200)
        time.sleep(0.005)
    wait_for(lambda: sum(w["status"] == "granted" for w in statuses(a, ids).values()) >= chargers,
             GRANT_WAIT, interval=0.2)
    time.sleep(ROUND)
    now = statuses(a, ids)
    got = ["G" if now[i]["status"] == "granted" else "w" if now[i]["status"] == "waiting" else "?" for i in ids]
    assert "".join(got) == "G" * chargers + "w" * (queue - chargers), (
        f"grants by arrival order (G granted, w waiting): {''.join(got)}\n"
        f"{log_tail(stack, 'a', chargers + 4, grep=['waitlist_granted', 'reservation_cancelled'])}")
    assert [now[i]["position"] for i in ids[chargers:]] == list(range(1, queue - chargers + 1))


def test_every_city_is_served(company, stack):
    """Many cities have requests that cannot be served (their stations are full);
    a city sorting after all of them, whose station is free, is still served."""
    a = company
    blocked = 70
    tag = secrets.token_hex(3)
    s = future_start()
    e = s + timedelta(hours=1)
    soon = utcnow() + timedelta(minutes=3)
    for i in range(blocked):
        st = a.create_station(chargers=1, city=f"WL many {tag} {i:03d}")["id"]
        a.book_ok(st, s, e)
        assert join_ok(a, station_id=st, start=s, end=e, expires=soon)["status"] == "waiting"
    last_city = f"zzzz WL last {tag}"
    free = a.create_station(chargers=1, city=last_city)["id"]
    w = join_ok(a, station_id=free, start=s, end=e, expires=soon)
    got = wait_statuses(a, [w["id"]], "granted", timeout=GRANT_WAIT)[w["id"]]
    waiting_cities = a.sql_one("SELECT count(DISTINCT city) FROM waitlist WHERE status = 'waiting'")[0]
    assert got["status"] == "granted", (
        f"a request at a free station of city {last_city!r} still {got['status']} after {GRANT_WAIT}s, "
        f"with {waiting_cities} cities waiting\n{log_tail(stack, 'a', 5, grep='waitlist')}")
    check_granted(a, got, free, s, e)


def test_position_in_join_response(company):
    """The 201 of a join tells the request's place in the queue, the same as GET."""
    a = company
    st = a.create_station(chargers=1, city=new_city())["id"]
    start = future_start()
    end = start + timedelta(hours=1)
    a.book_ok(st, start, end)
    joined = [join_ok(a, station_id=st, start=start, end=end) for _ in range(3)]
    got = [get_wl(a, w["id"])["position"] for w in joined]
    assert got == [1, 2, 3], got
    assert [w["position"] for w in joined] == got, (
        f"positions in the 201 bodies {[w['position'] for w in joined]}, GET says {got}")


# ---------------------------------------------------------------- 2. flexibility

def test_flexibility_moves_the_window(company, stack):
    """Wanted [S, S+1h) with 60 min of flexibility; the charger is busy until S+30m
    and (at first) from S+30m on too. Freeing S+30m.. grants [S+30m, S+1h30m)."""
    a = company
    st = a.create_station(chargers=1, city=new_city())["id"]
    s = future_start()
    a.book_ok(st, s - timedelta(hours=2), s + timedelta(minutes=30))
    later = a.book_ok(st, s + timedelta(minutes=30), s + timedelta(hours=3))
    w = join_ok(a, station_id=st, start=s, end=s + timedelta(hours=1), flex=60)
    assert w["flexibility_minutes"] == 60, w
    time.sleep(ROUND)
    assert get_wl(a, w["id"])["status"] == "waiting", "nothing fits within 60 min yet"

    cancel_ok(a, later["id"])
    got = wait_statuses(a, [w["id"]], "granted")[w["id"]]
    assert got["status"] == "granted", diag(stack, a, [w["id"]])
    check_granted(a, got, st, s + timedelta(minutes=30), s + timedelta(minutes=90))
    # The wanted window is still what the car asked for.
    assert parse_ts(got["start"]) == s and parse_ts(got["end"]) == s + timedelta(hours=1), got


def test_nearest_move_earlier_first(company, stack):
    """Wanted [S, S+1h) with 30 min of flexibility at a 2-charger station where the
    window fits neither charger as it is, nor moved by 5 min, but charger 1 is free
    10 min earlier and charger 2 10 min later: the earlier move wins the tie."""
    a = company
    st = a.create_station(chargers=2, city=new_city())["id"]
    s = future_start()
    m = lambda n: s + timedelta(minutes=n)
    for charger, busy in ((1, [(-180, -10), (50, 240)]), (2, [(-180, 10), (70, 240)])):
        for lo, hi in busy:
            a.sql("INSERT INTO reservations (station_id, charger, car_id, during)"
                  " VALUES (%s, %s, %s, tstzrange(%s, %s))", (st, charger, new_car_id("blk"), m(lo), m(hi)))
    w = join_ok(a, station_id=st, start=s, end=m(60), flex=30)
    got = wait_statuses(a, [w["id"]], "granted")[w["id"]]
    assert got["status"] == "granted", diag(stack, a, [w["id"]])
    check_granted(a, got, st, m(-10), m(50))
    charger = a.sql_one("SELECT charger FROM reservations WHERE id = %s::uuid", (got["reservation_id"],))[0]
    assert charger == 1, charger


def test_younger_more_flexible_never_overtakes_older_that_fits(company, stack):
    a = company
    st = a.create_station(chargers=1, city=new_city())["id"]
    s = future_start()
    e = s + timedelta(hours=1)
    a.book_ok(st, s - timedelta(hours=3), s)
    a.book_ok(st, e, e + timedelta(hours=3))
    taken = a.book_ok(st, s, e)
    older = join_ok(a, station_id=st, start=s, end=e)  # fits exactly the slot that will free
    younger = join_ok(a, station_id=st, start=s + timedelta(minutes=10), end=e + timedelta(minutes=10), flex=120)
    ids = [older["id"], younger["id"]]
    time.sleep(ROUND)
    assert [w["status"] for w in statuses(a, ids).values()] == ["waiting", "waiting"], diag(stack, a, ids)

    cancel_ok(a, taken["id"])
    wait_statuses(a, [older["id"]], "granted")
    time.sleep(ROUND)
    now = statuses(a, ids)
    assert now[older["id"]]["status"] == "granted", f"the older request that fits was not served:\n{diag(stack, a, ids)}"
    assert now[younger["id"]]["status"] == "waiting", f"the younger one overtook it:\n{diag(stack, a, ids)}"
    assert now[younger["id"]]["position"] == 1, now
    check_granted(a, now[older["id"]], st, s, e)


def test_request_that_does_not_fit_is_passed_over(company, stack):
    a = company
    st = a.create_station(chargers=1, city=new_city())["id"]
    s = future_start()
    e = s + timedelta(hours=1)
    t = s + timedelta(hours=5)
    freed = a.book_ok(st, s, e)
    a.book_ok(st, t, t + timedelta(hours=1))
    older = join_ok(a, station_id=st, start=t, end=t + timedelta(hours=1))  # stays full
    younger = join_ok(a, station_id=st, start=s, end=e)
    ids = [older["id"], younger["id"]]
    cancel_ok(a, freed["id"])
    got = wait_statuses(a, [younger["id"]], "granted")
    assert got[younger["id"]]["status"] == "granted", f"younger fitting request not served:\n{diag(stack, a, ids)}"
    check_granted(a, got[younger["id"]], st, s, e)
    now = get_wl(a, older["id"])
    assert now["status"] == "waiting" and now["position"] == 1, now


def test_city_request_takes_any_station_of_the_city(company, stack):
    a = company
    city = new_city()
    st1 = a.create_station(chargers=1, city=city)["id"]
    st2 = a.create_station(chargers=1, city=city)["id"]
    s = future_start()
    e = s + timedelta(hours=1)
    a.book_ok(st1, s, e)
    r2 = a.book_ok(st2, s, e)
    w = join_ok(a, city=city, start=s, end=e)
    assert w["city"] == city and w["station_id"] is None, w
    time.sleep(ROUND)
    assert get_wl(a, w["id"])["status"] == "waiting"
    # Listed under either station of the city.
    r = a.get("/waitlist", params={"station_id": st1}, admin=True)
    assert_status(r, 200)
    assert w["id"] in [x["id"] for x in assert_json(r)["items"]], r.text[:500]
    cancel_ok(a, r2["id"])
    got = wait_statuses(a, [w["id"]], "granted")[w["id"]]
    assert got["status"] == "granted", diag(stack, a, [w["id"]])
    check_granted(a, got, st2, s, e)


# ---------------------------------------------------------------- 3. expiry and MQTT

def test_expired_request_is_never_granted(company, stack):
    a = company
    st = a.create_station(chargers=1, city=new_city())["id"]
    s = future_start()
    e = s + timedelta(hours=1)
    taken = a.book_ok(st, s, e)
    deadline = utcnow().replace(microsecond=0) + timedelta(seconds=3)
    short = join_ok(a, station_id=st, start=s, end=e, expires=deadline)
    patient = join_ok(a, station_id=st, start=s, end=e)
    assert parse_ts(short["expires_at"]) == deadline, short
    ids = [short["id"], patient["id"]]

    got = wait_statuses(a, [short["id"]], "expired", timeout=10)[short["id"]]
    late = (utcnow() - deadline).total_seconds()
    assert got["status"] == "expired", f"not expired {late:.1f}s after its deadline:\n{diag(stack, a, ids)}"
    assert late < 4.5, f"expired only {late:.1f}s after the deadline"
    assert got["position"] is None and got["reservation_id"] is None, got
    assert get_wl(a, patient["id"])["position"] == 1

    # Capacity frees: the expired request gets nothing, the next one gets it.
    cancel_ok(a, taken["id"])
    wait_statuses(a, [patient["id"]], "granted")
    time.sleep(ROUND)
    now = statuses(a, ids)
    assert now[short["id"]]["status"] == "expired" and now[short["id"]]["reservation_id"] is None, now
    assert now[patient["id"]]["status"] == "granted", diag(stack, a, ids)
    check_granted(a, now[patient["id"]], st, s, e)
    assert a.sql_one("SELECT count(*) FROM reservations WHERE car_id = %s", (short["car_id"],))[0] == 0


def test_grant_and_expiry_notified_over_mqtt(company, stack):
    a = company
    st = a.create_station(chargers=1, city=new_city())["id"]
    s = future_start()
    e = s + timedelta(hours=1)
    taken = a.book_ok(st, s, e)
    car_grant, car_expire = new_car_id("wlg"), new_car_id("wlx")
    with Client(stack, tag="wl") as mq:
        mq.subscribe(waitlist_topic("a", car_grant))
        mq.subscribe(waitlist_topic("a", car_expire))
        mq.subscribe(resp_topic("a", car_grant))

        # The one to be granted joins over MQTT (request type "waitlist").
        rid = new_request_id("wl")
        mq.publish(req_topic("a", car_grant), {
            "type": "waitlist", "request_id": rid, "station_id": st, "start": ts(s), "end": ts(e),
            "expires_at": ts(utcnow() + timedelta(minutes=10))})
        ans = wait_answer(mq, "a", car_grant, rid, timeout=15)
        assert ans is not None, "no answer to the MQTT waitlist request"
        assert ans.get("status") == 201 and ans.get("type") == "waitlist", ans
        joined = ans["body"]
        _joined.append(joined["id"])
        assert joined.get("car_id") == car_grant and joined.get("status") == "waiting", ans

        deadline = utcnow().replace(microsecond=0) + timedelta(seconds=2)
        short = join_ok(a, car=car_expire, station_id=st, start=s, end=e, expires=deadline)

        m = mq.wait_for(lambda m: m.topic == waitlist_topic("a", car_expire), timeout=10)
        assert m is not None, f"no expiry notice on {waitlist_topic('a', car_expire)}\n{diag(stack, a, [short['id']])}"
        note = m.json()
        assert note.get("id") == short["id"] and note.get("status") == "expired", note

        cancel_ok(a, taken["id"])
        m = mq.wait_for(lambda m: m.topic == waitlist_topic("a", car_grant), timeout=10)
        assert m is not None, f"no grant notice on {waitlist_topic('a', car_grant)}\n{diag(stack, a, [joined['id']])}"
        note = m.json()
        assert note.get("id") == joined["id"] and note.get("status") == "granted", note
        rest = get_wl(a, joined["id"])
        assert note.get("reservation_id") == rest["reservation_id"] is not None, (note, rest)
        assert note.get("granted_start") == ts(s) and note.get("granted_end") == ts(e), note
        check_granted(a, rest, st, s, e)
        time.sleep(ROUND)
        assert len(mq.received(waitlist_topic("a", car_grant))) == 1, mq.received(waitlist_topic("a", car_grant))
        assert len(mq.received(waitlist_topic("a", car_expire))) == 1, mq.received(waitlist_topic("a", car_expire))


# ---------------------------------------------------------------- 4. crash

def test_requests_survive_kill_and_are_served_in_order(companies, stack):
    a = companies["a"]
    st = a.create_station(chargers=2, city=new_city())["id"]
    s = future_start()
    e = s + timedelta(hours=1)
    booked = book_many(a, st, s, e, 2)
    deadline = utcnow().replace(microsecond=0) + timedelta(seconds=4)
    expiring = join_ok(a, station_id=st, start=s, end=e, expires=deadline)  # deadline passes while down
    rest = [join_ok(a, station_id=st, start=s, end=e) for _ in range(4)]
    ids = [expiring["id"]] + [w["id"] for w in rest]
    try:
        run_stack("kill", "a", "worker")
        assert not a.is_healthy()
        n = a.sql_one("WITH c AS (UPDATE reservations SET status = 'cancelled', updated_at = now()"
                      " WHERE id = ANY(%s::uuid[]) RETURNING 1) SELECT count(*) FROM c",
                      ([r["id"] for r in booked],))[0]
        assert n == 2
        left = (deadline - utcnow()).total_seconds()
        if left > -0.5:
            time.sleep(left + 0.5)
        run_stack("start", "a", "worker")
    finally:
        ensure_up(a)

    got = wait_statuses(a, [w["id"] for w in rest[:2]], "granted", timeout=10)
    time.sleep(ROUND)
    now = statuses(a, ids)
    assert [now[i]["status"] for i in ids] == ["expired", "granted", "granted", "waiting", "waiting"], (
        f"after the restart (first grants seen: {[w['status'] for w in got.values()]}):\n{diag(stack, a, ids)}")
    assert [now[i]["position"] for i in ids[3:]] == [1, 2], now
    granted = [check_granted(a, now[i], st, s, e) for i in ids[1:3]]
    assert len({g["id"] for g in granted}) == 2


# ---------------------------------------------------------------- 5. withdraw and validation

def wl_status(company, wid):
    """The request's status as the database has it (to prove a refusal wrote nothing)."""
    return company.sql_one("SELECT status FROM waitlist WHERE id = %s::uuid", (wid,))[0]


UNKNOWN_WL = "00000000-0000-4000-8000-000000000000"


def test_withdraw(company, stack):
    a = company
    st = a.create_station(chargers=1, city=new_city())["id"]
    s = future_start()
    e = s + timedelta(hours=1)
    taken = a.book_ok(st, s, e)
    gone = join_ok(a, station_id=st, start=s, end=e)
    stays = join_ok(a, station_id=st, start=s, end=e)
    other = new_car_id("wlo")

    # Refused: nobody, and another car (answered as if the request did not exist).
    assert_error(a.request("DELETE", f"/waitlist/{gone['id']}"), 401, "unauthorized")
    assert_error(a.request("DELETE", f"/waitlist/{gone['id']}", car=other), 404, "not_found")
    assert wl_status(a, gone["id"]) == "waiting", "a refused withdraw changed the request"
    assert get_wl(a, gone["id"])["position"] == 1

    # The car withdraws its own.
    r = a.request("DELETE", f"/waitlist/{gone['id']}", car=gone["car_id"])
    assert_status(r, 200)
    body = assert_json(r)
    assert body["id"] == gone["id"] and body["status"] == "withdrawn" and body["position"] is None, body
    assert wl_status(a, gone["id"]) == "withdrawn"
    assert get_wl(a, stays["id"])["position"] == 1
    # Again, by the car and by the operator: the same answer.
    for who in ({"car": gone["car_id"]}, {"admin": True}):
        r = a.request("DELETE", f"/waitlist/{gone['id']}", **who)
        assert_status(r, 200)
        assert assert_json(r)["status"] == "withdrawn"

    cancel_ok(a, taken["id"])
    wait_statuses(a, [stays["id"]], "granted")
    time.sleep(ROUND)
    now = statuses(a, [gone["id"], stays["id"]])
    assert now[gone["id"]]["status"] == "withdrawn" and now[gone["id"]]["reservation_id"] is None, now
    assert now[stays["id"]]["status"] == "granted", diag(stack, a, list(now))
    assert a.sql_one("SELECT count(*) FROM reservations WHERE car_id = %s", (gone["car_id"],))[0] == 0

    for who in ({"admin": True}, {"car": gone["car_id"]}):
        assert_error(a.request("DELETE", f"/waitlist/{UNKNOWN_WL}", **who), 404)
        assert_error(a.get(f"/waitlist/{UNKNOWN_WL}", **who), 404)
        assert_error(a.get("/waitlist/not-a-uuid", **who), 404)


def test_operator_withdraws_any_request(company):
    a = company
    st = a.create_station(chargers=1, city=new_city())["id"]
    s = future_start()
    e = s + timedelta(hours=1)
    a.book_ok(st, s, e)
    w = join_ok(a, station_id=st, start=s, end=e)
    r = a.request("DELETE", f"/waitlist/{w['id']}", admin=True)
    assert_status(r, 200)
    body = assert_json(r)
    assert body["id"] == w["id"] and body["status"] == "withdrawn" and body["car_id"] == w["car_id"], body
    assert wl_status(a, w["id"]) == "withdrawn"
    assert get_wl(a, w["id"], car=w["car_id"])["status"] == "withdrawn"  # the car sees it withdrawn


def test_requests_belong_to_their_car(company):
    """Car B can neither read nor withdraw car A's request (404, as if unknown), a car's
    list shows only its own requests, and the public may not join, read nor withdraw."""
    a = company
    city = new_city()
    st = a.create_station(chargers=1, city=city)["id"]
    s = future_start()
    e = s + timedelta(hours=1)
    a.book_ok(st, s, e)
    car_a, car_b = new_car_id("wla"), new_car_id("wlb")
    a1 = join_ok(a, car=car_a, station_id=st, start=s, end=e)
    a2 = join_ok(a, car=car_a, city=city, start=s, end=e)
    b1 = join_ok(a, car=car_b, station_id=st, start=s, end=e)
    assert [w["status"] for w in (a1, a2, b1)] == ["waiting"] * 3, (a1, a2, b1)

    # Car B and car A's request.
    assert_error(a.get(f"/waitlist/{a1['id']}", car=car_b), 404, "not_found")
    assert_error(a.request("DELETE", f"/waitlist/{a1['id']}", car=car_b), 404, "not_found")
    assert wl_status(a, a1["id"]) == "waiting", "car B's withdraw changed car A's request"
    # Each car reads its own.
    assert get_wl(a, a1["id"], car=car_a)["car_id"] == car_a
    assert get_wl(a, b1["id"], car=car_b)["car_id"] == car_b

    # The public: no join, no read, no withdraw, no list; nothing written.
    before = a.sql_one("SELECT count(*) FROM waitlist WHERE car_id = %s", (car_a,))[0]
    assert_error(a.post("/waitlist", json=join_body(car=car_a, station_id=st, start=s, end=e)), 401, "unauthorized")
    assert_error(a.post("/waitlist", json={k: v for k, v in join_body(station_id=st, start=s, end=e).items()
                                          if k != "car_id"}), 401, "unauthorized")
    assert a.sql_one("SELECT count(*) FROM waitlist WHERE car_id = %s", (car_a,))[0] == before == 2
    assert_error(a.request("DELETE", f"/waitlist/{a1['id']}"), 401, "unauthorized")
    assert wl_status(a, a1["id"]) == "waiting", "the public's withdraw changed the request"
    assert_error(a.get(f"/waitlist/{a1['id']}"), 401, "unauthorized")
    assert_error(a.get("/waitlist", params={"station_id": st}), 401, "unauthorized")
    # A credential that proves nobody is 401 too.
    bad = {"headers": {"Authorization": "Bearer evc1.not-a-real-token"}}
    assert_error(a.post("/waitlist", json=join_body(car=car_a, station_id=st, start=s, end=e), **bad), 401)
    assert_error(a.request("DELETE", f"/waitlist/{a1['id']}", **bad), 401)
    assert wl_status(a, a1["id"]) == "waiting"

    # A car's list shows only its own requests, with or without a filter.
    for params in ({}, {"station_id": st}, {"station_id": st, "status": "waiting"}):
        r = a.get("/waitlist", params=params, car=car_a)
        assert_status(r, 200)
        got = [w["id"] for w in assert_json(r)["items"]]
        assert got == [a1["id"], a2["id"]], (params, r.text[:1000])
        r = a.get("/waitlist", params=params, car=car_b)
        assert_status(r, 200)
        assert [w["id"] for w in assert_json(r)["items"]] == [b1["id"]], (params, r.text[:1000])
    # The operator's list shows all three, in arrival order.
    r = a.get("/waitlist", params={"station_id": st}, admin=True)
    assert_status(r, 200)
    assert [w["id"] for w in assert_json(r)["items"]] == [a1["id"], a2["id"], b1["id"]], r.text[:1000]
    # Car B's withdrawing its own leaves car A's alone.
    r = a.request("DELETE", f"/waitlist/{b1['id']}", car=car_b)
    assert_status(r, 200)
    assert assert_json(r)["status"] == "withdrawn"
    assert [wl_status(a, w["id"]) for w in (a1, a2, b1)] == ["waiting", "waiting", "withdrawn"]


def test_join_as_car_or_operator(company):
    """A car joins for itself (car_id may be left out; naming another car is 403); the
    operator joins on behalf of a car it must name."""
    a = company
    st = a.create_station(chargers=1, city=new_city())["id"]
    s = future_start()
    e = s + timedelta(hours=1)
    a.book_ok(st, s, e)
    car, other = new_car_id("wlc"), new_car_id("wlx")
    body = join_body(car=car, station_id=st, start=s, end=e)
    no_car = {k: v for k, v in body.items() if k != "car_id"}

    assert_error(a.post("/waitlist", json=dict(body, car_id=other), car=car), 403, "forbidden")
    assert_error(a.post("/waitlist", json=no_car, admin=True), 400)
    assert a.sql_one("SELECT count(*) FROM waitlist WHERE car_id = ANY(%s)", ([car, other],))[0] == 0

    r = a.post("/waitlist", json=no_car, car=car)
    assert_status(r, 201)
    mine = assert_json(r)
    _joined.append(mine["id"])
    assert mine["car_id"] == car and mine["status"] == "waiting", mine

    r = a.post("/waitlist", json=dict(body, car_id=other), admin=True)
    assert_status(r, 201)
    theirs = assert_json(r)
    _joined.append(theirs["id"])
    assert theirs["car_id"] == other and theirs["status"] == "waiting", theirs
    # The car the operator named owns it.
    assert get_wl(a, theirs["id"], car=other)["id"] == theirs["id"]
    assert_error(a.get(f"/waitlist/{theirs['id']}", car=car), 404, "not_found")
    assert a.sql("SELECT car_id FROM waitlist WHERE id = ANY(%s::uuid[]) ORDER BY seq",
                 ([mine["id"], theirs["id"]],)) == [(car,), (other,)]


def test_validation(companies):
    a, b = companies["a"], companies["b"]
    city = new_city()
    st = a.create_station(chargers=1, city=city)["id"]
    s = future_start()
    e = s + timedelta(hours=1)
    good = join_body(station_id=st, start=s, end=e)
    car = good["car_id"]

    # The operator must name the car; a car may leave car_id out (its own), so that
    # case is the operator's. The operator is the one to send a malformed car_id too:
    # a car naming any other car is refused before the field is looked at (403).
    assert_error(a.post("/waitlist", json={k: v for k, v in good.items() if k != "car_id"}, admin=True), 400)
    assert_error(a.post("/waitlist", json=dict(good, car_id="no spaces allowed"), admin=True), 400)
    assert_error(a.post("/waitlist", json=dict(good, car_id="no spaces allowed"), car=car), 403, "forbidden")

    far = utcnow().replace(microsecond=0) + timedelta(days=400)
    b_station = b.create_station(chargers=1, city=city)["id"]
    past = utcnow() - timedelta(hours=3)
    for who in ({"car": car}, {"admin": True}):  # the same checks for both who may join
        for field in ("start", "end", "expires_at"):
            body = dict(good)
            del body[field]
            assert_error(a.post("/waitlist", json=body, **who), 400)
        assert_error(a.post("/waitlist", json={k: v for k, v in good.items() if k != "station_id"}, **who), 400)  # neither
        assert_error(a.post("/waitlist", json=dict(good, city=city), **who), 400)  # both
        assert_error(a.post("/waitlist", json=dict(good, start=ts(e), end=ts(s)), **who), 400)  # end before start
        assert_error(a.post("/waitlist", json=dict(good, end=ts(s)), **who), 400)  # empty window
        assert_error(a.post("/waitlist", json=dict(good, expires_at=ts(utcnow() - timedelta(minutes=1))), **who), 400)
        assert_error(a.post("/waitlist", json=dict(good, start=ts(past), end=ts(past + timedelta(hours=1))), **who), 400)
        assert_error(a.post("/waitlist", json=dict(good, end=ts(s + timedelta(hours=25))), **who), 400)  # over 24 h
        assert_error(a.post("/waitlist", json=dict(good, start=ts(far), end=ts(far + timedelta(hours=1))), **who),
                     400)  # over 366 days ahead
        assert_error(a.post("/waitlist", json=dict(good, start="2100-01-01T10:00:00Z", end="2100-01-01T11:00:00Z"),
                            **who), 400)  # beyond 2099
        assert_error(a.post("/waitlist", json=dict(good, start="tomorrow"), **who), 400)
        assert_error(a.post("/waitlist", json=dict(good, flexibility_minutes=-5), **who), 400)
        assert_error(a.post("/waitlist", json=dict(good, flexibility_minutes=13 * 60), **who), 400)
        assert_error(a.post("/waitlist", json=dict(good, flexibility_minutes="60"), **who), 400)
        assert_error(a.post("/waitlist", data="{not json", headers={"Content-Type": "application/json"}, **who), 400)

        assert_error(a.post("/waitlist", json=dict(good, station_id=b_station), **who), 404)  # another company's
        assert_error(a.post("/waitlist", json=dict(good, station_id=a.new_station_id()), **who), 404)  # unknown
        assert_error(a.post("/waitlist", json={k: v for k, v in dict(good, city=new_city()).items()
                                              if k != "station_id"}, **who), 404)  # no station of ours there

    stored = a.sql_one("SELECT count(*) FROM waitlist WHERE car_id IN (%s, 'no spaces allowed')", (car,))[0]
    assert stored == 0, "a refused request was stored"
    # The good body itself is taken (the station is free: granted at once or soon).
    assert join_ok(a, station_id=st, start=s, end=e)["status"] in ("waiting", "granted")


# ---------------------------------------------------------------- 6. no-shows

def insert_reservation(company, station_id, started_ago_min, minutes=60, checked_in=False, car=None):
    car = car or new_car_id("ns")
    return company.sql_one(
        "INSERT INTO reservations (station_id, charger, car_id, during, status, checked_in_at)"
        " VALUES (%s, 1, %s, tstzrange(now() - make_interval(mins => %s), now() + make_interval(mins => %s)),"
        " 'confirmed', CASE WHEN %s THEN now() END) RETURNING id::text",
        (station_id, car, started_ago_min, minutes - started_ago_min, checked_in))[0]


def reservation_state(company, rid):
    return company.sql_one("SELECT status, checked_in_at IS NOT NULL FROM reservations WHERE id = %s::uuid", (rid,))


def test_no_show_expires_and_frees_the_charger(company, stack):
    a = company
    city = new_city()
    st = a.create_station(chargers=1, city=city)["id"]
    ctl = a.create_station(chargers=1, city=city)["id"]

    # Started 20 min ago, checked in for now: it must stay.
    noshow = insert_reservation(a, st, 20, checked_in=True)
    # Started 10 min ago, not checked in: within the grace period.
    recent = insert_reservation(a, ctl, 10)

    now = utcnow().replace(microsecond=0)
    ws, we = now + timedelta(minutes=3), now + timedelta(minutes=33)
    w = join_ok(a, station_id=st, start=ws, end=we)
    time.sleep(ROUND + 0.5)
    assert get_wl(a, w["id"])["status"] == "waiting", "the charger is held by a checked-in reservation"
    assert reservation_state(a, noshow) == ("confirmed", True)
    assert reservation_state(a, recent) == ("confirmed", False), "expired within the grace period"

    # The car never came: without the check-in it is a no-show.
    a.sql("UPDATE reservations SET checked_in_at = NULL WHERE id = %s::uuid", (noshow,))
    gone = wait_for(lambda: reservation_state(a, noshow)[0] == "expired", 4, interval=0.1)
    assert gone, (f"no-show not expired: {reservation_state(a, noshow)}\n"
                  f"{log_tail(stack, 'a', 20, grep=['no_show', 'waitlist'])}")
    got = wait_statuses(a, [w["id"]], "granted")[w["id"]]
    assert got["status"] == "granted", f"the freed charger did not go to the waiter:\n{diag(stack, a, [w['id']])}"
    check_granted(a, got, st, ws, we)
    assert reservation_state(a, recent) == ("confirmed", False)


def test_checked_in_reservation_is_not_a_no_show(company, stack):
    a = company
    st = a.create_station(chargers=1, city=new_city())["id"]
    rid = insert_reservation(a, st, 5)
    r = a.post(f"/reservations/{rid}/checkin", json={}, admin=True)
    assert_status(r, 200)
    assert assert_json(r)["id"] == rid
    assert reservation_state(a, rid) == ("confirmed", True)
    # Now it started well beyond the grace period: checked in, it stays.
    a.sql("UPDATE reservations SET during = tstzrange(now() - interval '20 minutes', now() + interval '40 minutes')"
          " WHERE id = %s::uuid", (rid,))
    time.sleep(2.5)
    assert reservation_state(a, rid) == ("confirmed", True), log_tail(stack, "a", 20, grep="no_show")
    # Checking in twice is fine; an unknown reservation is 404.
    assert_status(a.post(f"/reservations/{rid}/checkin", json={}, admin=True), 200)
    assert_error(a.post("/reservations/00000000-0000-4000-8000-000000000000/checkin", json={}, admin=True), 404)
