"""Two-phase commit that tells the truth at the margins: the answers and timings a
fault-injection campaign found wrong, each reproduced and shown right.

  - the coordinator's database crashes under load: every 201 has its trip row,
    the commit decision and every leg (the decision and the row are durable
    together, before any 201 and before any participant is told);
  - the coordinator's database stops in the middle of a trip: the answer is a
    503 naming the trip, with Retry-After, and the chargers held by prepared
    participants are released within 10 s after it is back;
  - a restarted worker drives the cancels of its earlier trips (its own recovery
    never aborts them);
  - a slow participant under load, with an orphan delay shorter than its pause:
    no yes-voted trip is aborted by its coordinator's own recovery;
  - a decision racing another writer answers 409, never a false 503;
  - one car and key make one trip in the whole federation, at any number of
    coordinators, one after another or at once; a retry while the first request
    runs waits for its outcome;
  - a cancel a participant cannot take leaves the trip confirmed, and says so;
  - /health tells whether the federation is formed, and names what is missing.

Fail points: `participant_slow_prepare` makes a participant pause 3 s after
PREPARE TRANSACTION before it votes. Every test starts again what it stopped.
"""

import os
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from conftest import STACK_SCRIPT, assert_json, assert_status, future_start, new_car_id, stack_dir
from tripkit import (COMPANY_IDS, all_or_nothing, arm_failpoint, decision, disarm_failpoint, ensure_up,
                     fresh_stations, live_of_trip, log_tail, new_key, nothing_prepared, post_trip, prepared,
                     reservations_of_trip, route, trip_row, wait_for)

RELEASED_WITHIN = 10    # seconds after the coordinator's database is back until nothing is held
SETTLED_WITHIN = 30     # seconds for recovery to finish everything a crash left (ASan, 2 cores)
PAUSE = 3.0             # the pause of participant_slow_prepare (failpoint.h)


def stackctl(*args, check=True, timeout=180, **env):
    """scripts/stack with this test stack, and worker settings in env (EVC_*)."""
    full = dict(os.environ, EVC_STACK_DIR=stack_dir(), **{k: str(v) for k, v in env.items()})
    p = subprocess.run([str(STACK_SCRIPT), *args], env=full, capture_output=True, text=True, timeout=timeout)
    if check:
        assert p.returncode == 0, f"scripts/stack {' '.join(args)}: {p.returncode}\n{p.stdout[-1500:]}\n{p.stderr[-1500:]}"
    return p


def gids_held(companies, gids):
    """{company: [gid]} of the given gids still prepared at each company."""
    held = prepared(companies)
    return {cid: [g for g in gs if g in gids] for cid, gs in held.items() if any(g in gids for g in gs)}


def trip_gids(company, trip_ids):
    """Every gid the coordinator decided or holds for these trips (reserve, cancel...)."""
    ids = [str(t) for t in trip_ids]
    rows = company.sql("SELECT gid FROM tx_decisions WHERE trip_id = ANY(%s::uuid[])"
                       " UNION SELECT gid FROM trips WHERE id = ANY(%s::uuid[])", (ids, ids))
    return {r[0] for r in rows}


def post_in_thread(company, legs, key, car):
    """Starts POST /trips in a thread; returns (thread, holder) where holder[0] gets the response or error."""
    holder = [None]

    def run():
        try:
            holder[0], _, _ = post_trip(company, legs, car_id=car, key=key, timeout=60)
        except requests.RequestException as e:
            holder[0] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, holder


def wait_gid_prepared_at(company, coordinator, key, timeout=20):
    """The trip's gid once `company` holds it prepared (the participant is in its pause)."""
    def held():
        row = trip_row(coordinator, key=key)
        if row is None:
            return None
        gids = [r[0] for r in company.sql("SELECT gid FROM pg_prepared_xacts WHERE gid = %s", (row["gid"],))]
        return row if gids else None
    return wait_for(held, timeout, interval=0.05)


# ---------------------------------------------------------------- 1. durable before 201

def test_coordinator_database_crash_under_load_leaves_every_201_with_its_row_and_legs(companies, stack):
    """Trips stream into a; a's database crashes (immediate shutdown: unflushed WAL is lost)
    while some are in flight, and comes back. Every 201 must have a's trips row, a commit
    decision, and all its legs live at every company once recovery is done. Half the trips
    go through a slow b (decided after the crash), half only through a and c (decided
    around it)."""
    a, b = companies["a"], companies["b"]
    stations = fresh_stations(companies)
    trips = 30
    jobs = [(new_key("crash"), new_car_id("crash"),
             route(stations if i % 2 else [stations[0], stations[2]], start=future_start())) for i in range(trips)]
    for _, car, _ in jobs:
        a.car_token(car)  # issued before the crash
    results = {}

    def one(job):
        key, car, legs = job
        try:
            r, _, _ = post_trip(a, legs, car_id=car, key=key, timeout=60)
            results[key] = r
        except requests.RequestException as e:
            results[key] = e

    def crash():
        time.sleep(1.0)
        stackctl("kill", "a", "db")
        time.sleep(1.5)
        stackctl("start", "a", "db")

    try:
        arm_failpoint(b, "participant_slow_prepare")
        crasher = threading.Thread(target=crash, daemon=True)
        with ThreadPoolExecutor(max_workers=trips) as pool:
            crasher.start()
            futures = []
            for job in jobs:
                futures.append(pool.submit(one, job))
                time.sleep(0.15)
            for f in futures:
                f.result(timeout=120)
        crasher.join(60)
        disarm_failpoint(b, "participant_slow_prepare")
        a.wait_healthy()

        statuses = {key: (r.status_code if isinstance(r, requests.Response) else repr(r)) for key, r in results.items()}
        created = [key for key, r in results.items() if isinstance(r, requests.Response) and r.status_code == 201]
        assert set(statuses.values()) <= {201, 409, 503}, statuses
        assert created, f"no trip was confirmed at all: {statuses}"

        def settled():
            rows = [trip_row(a, key=key, car_id=car) for key, car, _ in jobs]
            rows = [r for r in rows if r is not None]
            if any(r["status"] not in ("confirmed", "aborted") for r in rows):
                return None
            return rows if not gids_held(companies, trip_gids(a, [r["id"] for r in rows])) else None
        assert wait_for(settled, SETTLED_WITHIN, interval=0.5), (
            f"{SETTLED_WITHIN}s after the crash, trips still in flight or held: "
            f"{[(trip_row(a, key=k, car_id=c) or {}).get('status') for k, c, _ in jobs]}")

        for key, car, _ in jobs:
            r = results[key]
            row = trip_row(a, key=key, car_id=car)
            if key in created:
                body = assert_json(r)
                assert row is not None, f"a 201 without a trip row: {body}"
                assert row["id"] == body["id"] and row["status"] == "confirmed", (row, body)
                assert decision(a, row["gid"]) == "commit", row
                want = {cid: sum(1 for lg in row["legs"] if lg["company"] == cid) for cid in COMPANY_IDS}
                assert live_of_trip(companies, row["id"]) == want, reservations_of_trip(companies, row["id"])
                assert all(lg.get("reservation_id") and lg.get("state") == "confirmed" for lg in row["legs"]), row
            else:
                if isinstance(r, requests.Response) and assert_json(r).get("trip_id"):
                    assert row is not None and row["id"] == r.json()["trip_id"], (r.text, row)
                if row is not None:
                    assert all_or_nothing(companies, row) is None, all_or_nothing(companies, row)
        print(f"\nanswers during a's database crash, in order: {[statuses[k] for k, _, _ in jobs]}; 503 with a trip id: "
              f"{sum(1 for r in results.values() if isinstance(r, requests.Response) and r.status_code == 503 and r.json().get('trip_id'))}")
    finally:
        disarm_failpoint(b, "participant_slow_prepare")
        stackctl("start", "a", "db", check=False)
        ensure_up(a)


# ---------------------------------------------------------------- 2. fast release

def test_chargers_are_released_within_10s_after_the_coordinators_database_returns(companies, stack):
    """b pauses after preparing; meanwhile a's database stops. a cannot record a decision:
    it answers 503 with the trip's id and Retry-After. b and c hold their prepared legs while
    a's database is down (they never decide alone); once it is back, everything is released
    within 10 s (not after a 60 s orphan timer)."""
    a, b = companies["a"], companies["b"]
    legs = route(fresh_stations(companies))
    key, car = new_key("dbstop"), new_car_id("dbstop")
    a.car_token(car)
    try:
        arm_failpoint(b, "participant_slow_prepare")
        thread, holder = post_in_thread(a, legs, key, car)
        row = wait_gid_prepared_at(b, a, key)
        assert row is not None, "b never prepared the trip"
        gid, trip_id = row["gid"], row["id"]
        stackctl("stop", "a", "db")
        thread.join(60)
        r = holder[0]
        assert isinstance(r, requests.Response), f"the POST failed: {r!r}"
        body = assert_json(r)
        assert r.status_code == 503, (r.status_code, body)
        assert body.get("trip_id") == trip_id and body["error"]["code"] == "unavailable", body
        assert int(r.headers.get("Retry-After", "0")) >= 1, dict(r.headers)
        disarm_failpoint(b, "participant_slow_prepare")

        # While a's database is down the participants keep waiting (nobody decided). The outage
        # stays shorter than the orphan delay (6 s): a's process is alive all along.
        time.sleep(1)
        held = gids_held({k: companies[k] for k in ("b", "c")}, {gid})
        assert held == {"b": [gid], "c": [gid]}, f"a participant resolved without its coordinator: {held}"

        stackctl("start", "a", "db")
        back = time.monotonic()
        released = wait_for(lambda: not gids_held(companies, {gid})
                            and sum(live_of_trip(companies, trip_id).values()) == 0, 30, interval=0.1)
        took = time.monotonic() - back
        assert released and took <= RELEASED_WITHIN, (
            f"released after {took:.1f}s (must be within {RELEASED_WITHIN}s): held {gids_held(companies, {gid})}\n"
            + "\n".join(log_tail(stack, cid, 10, grep=trip_id) for cid in COMPANY_IDS))
        print(f"\nheld chargers released {took:.1f}s after a's database came back")
        assert wait_for(lambda: (trip_row(a, trip_id=trip_id) or {}).get("status") == "aborted", 10)
        assert decision(a, gid) == "abort"
        # The same key now tells the outcome; the route is free for a new trip.
        again, _, _ = post_trip(a, legs, car_id=car, key=key)
        assert_status(again, 409)
        assert assert_json(again)["error"]["code"] == "aborted"
        fresh, _, _ = post_trip(a, legs)
        assert_status(fresh, 201)
    finally:
        disarm_failpoint(b, "participant_slow_prepare")
        stackctl("start", "a", "db", check=False)
        ensure_up(a)


# ---------------------------------------------------------------- 3. liveness

def test_a_restarted_worker_drives_the_cancels_of_its_earlier_trips(companies, stack):
    """Trips booked at a; a restarts; their cars cancel them while b is slow (each cancel
    is prepared 3 s at b, longer than a recovery round). Every cancel succeeds: the claim
    moves the trip to the new process, whose recovery leaves it to the request."""
    a, b = companies["a"], companies["b"]
    stations = fresh_stations(companies)
    booked = []
    for _ in range(4):
        car = new_car_id("restart")
        r, _, _ = post_trip(a, route(stations, start=future_start()), car_id=car)
        assert_status(r, 201)
        booked.append((assert_json(r)["id"], car))
    try:
        stackctl("restart", "a", "worker")
        a.wait_healthy()
        instance = a.sql_one("SELECT instance FROM worker_instances ORDER BY started_at DESC LIMIT 1")[0]
        arm_failpoint(b, "participant_slow_prepare")
        with ThreadPoolExecutor(max_workers=len(booked)) as pool:
            answers = list(pool.map(lambda t: a.post(f"/trips/{t[0]}/cancel", car=t[1], timeout=60), booked))
        disarm_failpoint(b, "participant_slow_prepare")
        got = [(r.status_code, r.text[:200]) for r in answers]
        assert all(r.status_code == 200 and r.json()["status"] == "cancelled" for r in answers), got
        for trip_id, _ in booked:
            row = trip_row(a, trip_id=trip_id)
            assert row["status"] == "cancelled" and row["instance"] == instance, row
            assert a.sql_one("SELECT decision, decided_by FROM tx_decisions WHERE gid = %s",
                             (row["gid"],)) == ("commit", "request"), row
            assert sum(live_of_trip(companies, trip_id).values()) == 0, reservations_of_trip(companies, trip_id)
        assert wait_for(lambda: not gids_held(companies, trip_gids(a, [t for t, _ in booked])), 10)
    finally:
        disarm_failpoint(b, "participant_slow_prepare")
        ensure_up(a)


def test_a_slow_participant_under_load_gets_no_yes_voted_trip_aborted(companies, stack):
    """a runs with a short recovery interval (0.5 s), an orphan delay (2 s) shorter than b's
    pause (3 s) and a small pool; ten trips at once: every one is confirmed, decided by its
    request, never by a's own recovery."""
    a, b = companies["a"], companies["b"]
    stations = fresh_stations(companies)
    jobs = [(new_car_id("slow"), route(stations, start=future_start())) for _ in range(10)]
    for car, _ in jobs:
        a.car_token(car)
    try:
        stackctl("restart", "a", "worker", EVC_RECOVERY_INTERVAL_MS=500, EVC_ORPHAN_AFTER_SECONDS=2,
              EVC_DB_POOL_SIZE=4)
        a.wait_healthy()
        arm_failpoint(b, "participant_slow_prepare")
        with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
            answers = list(pool.map(lambda j: post_trip(a, j[1], car_id=j[0], timeout=60)[0], jobs))
        disarm_failpoint(b, "participant_slow_prepare")
        got = [(r.status_code, r.text[:200]) for r in answers]
        assert all(r.status_code == 201 for r in answers), got
        ids = [r.json()["id"] for r in answers]
        decided = a.sql("SELECT t.id::text, d.decision, d.decided_by FROM trips t JOIN tx_decisions d ON d.gid = t.gid"
                        " WHERE t.id = ANY(%s::uuid[])", (ids,))
        assert sorted(d[1:] for d in decided) == [("commit", "request")] * len(ids), decided
        for trip_id in ids:
            assert live_of_trip(companies, trip_id) == {"a": 1, "b": 1, "c": 1}
    finally:
        disarm_failpoint(b, "participant_slow_prepare")
        stackctl("restart", "a", "worker", check=False)
        ensure_up(a)


# ---------------------------------------------------------------- 5. one trip per (car, key)

def live_trips_of_car(companies, car):
    """{trip_id: live reservations at every company} of the car's trips."""
    total = {}
    for c in companies.values():
        for trip_id, n in c.sql("SELECT trip_id::text, count(*) FROM reservations WHERE car_id = %s"
                                " AND status IN ('held', 'confirmed') GROUP BY trip_id", (car,)):
            total[trip_id] = total.get(trip_id, 0) + n
    return total


def test_one_car_and_key_at_two_coordinators_one_after_another_is_one_trip(companies):
    """A car whose server went silent retries at another company with the same key: it gets
    the first trip (201, the same id, `coordinator` a), never a second trip. Another request
    with that key is 422, and neither refusal holds or prepares anything."""
    a, b = companies["a"], companies["b"]
    stations = fresh_stations(companies)
    legs, car, key = route(stations), new_car_id("twice"), new_key("twice")
    first = assert_json(post_trip(a, legs, car_id=car, key=key)[0])
    for attempt in range(2):  # the retry at b, and b's own replay of it
        r, _, _ = post_trip(b, legs, car_id=car, key=key)
        assert_status(r, 201)
        again = assert_json(r)
        assert again["id"] == first["id"] and again.get("coordinator") == "a", (attempt, again)
        assert again["status"] == "confirmed", again
    assert live_trips_of_car(companies, car) == {first["id"]: 3}
    other = route(stations, start=future_start())
    r, _, _ = post_trip(b, other, car_id=car, key=key)
    body = r.json()
    assert r.status_code == 422 and body["error"]["code"] == "idempotency_key_reused", (r.status_code, body)
    assert live_trips_of_car(companies, car) == {first["id"]: 3}
    assert wait_for(lambda: nothing_prepared(companies), 10), prepared(companies)


def test_one_car_and_key_at_two_coordinators_at_once_is_one_trip(companies):
    """Both coordinators race the same car and key: whichever prepares first at the first
    participant wins; the other waits there for the outcome and answers with that trip."""
    a, b = companies["a"], companies["b"]
    for _ in range(3):
        stations = fresh_stations(companies)
        legs, car, key = route(stations), new_car_id("race"), new_key("race")
        a.car_token(car)
        with ThreadPoolExecutor(max_workers=2) as pool:
            answers = list(pool.map(lambda c: post_trip(c, legs, car_id=car, key=key, timeout=60)[0], (a, b)))
        got = [(r.status_code, r.text[:300]) for r in answers]
        assert all(r.status_code == 201 for r in answers), got
        ids = {r.json()["id"] for r in answers}
        assert len(ids) == 1, got
        assert live_trips_of_car(companies, car) == {ids.pop(): 3}, got
    assert wait_for(lambda: nothing_prepared(companies), 10), prepared(companies)


def test_a_retry_while_the_first_request_runs_waits_for_its_outcome(companies):
    """The same key again at the same server while the first request is still in its 2PC
    (c pauses 3 s before its vote): the retry waits and answers 201 with the same trip,
    not 409 in_progress."""
    a, c = companies["a"], companies["c"]
    stations = fresh_stations(companies)
    legs, car, key = route(stations), new_car_id("retry"), new_key("retry")
    a.car_token(car)
    try:
        arm_failpoint(c, "participant_slow_prepare")
        thread, holder = post_in_thread(a, legs, key, car)
        assert wait_for(lambda: trip_row(a, key=key, car_id=car), 20), "the first request never started"
        r, _, _ = post_trip(a, legs, car_id=car, key=key, timeout=60)
        thread.join(60)
    finally:
        disarm_failpoint(c, "participant_slow_prepare")
    assert isinstance(holder[0], requests.Response), holder[0]
    assert_status(holder[0], 201)
    assert_status(r, 201)
    assert r.json()["id"] == holder[0].json()["id"], (r.text[:300], holder[0].text[:300])
    assert live_trips_of_car(companies, car) == {r.json()["id"]: 3}


# ---------------------------------------------------------------- 6. truthful states

def test_a_cancel_a_participant_cannot_take_leaves_the_trip_confirmed_and_says_so(companies):
    """c is down while its car cancels: the cancel is all or nothing, so the answer is 503
    `peer_unavailable`, and the trip and every leg still read confirmed, as every charger
    still is. Once c is back the same cancel goes through everywhere."""
    a, c = companies["a"], companies["c"]
    stations = fresh_stations(companies)
    car = new_car_id("cancel")
    trip = assert_json(post_trip(a, route(stations), car_id=car)[0])
    try:
        stackctl("stop", "c", "worker")
        r = a.post(f"/trips/{trip['id']}/cancel", car=car, timeout=60)
        assert r.status_code == 503 and r.json()["error"]["code"] == "peer_unavailable", (r.status_code, r.text[:300])
        seen = assert_json(a.get(f"/trips/{trip['id']}", car=car))
        assert seen["status"] == "confirmed", seen
        assert [leg["state"] for leg in seen["legs"]] == ["confirmed"] * 3, seen["legs"]
        assert live_of_trip(companies, trip["id"]) == {"a": 1, "b": 1, "c": 1}
    finally:
        stackctl("start", "c", "worker", check=False)
        ensure_up(c)
    r = a.post(f"/trips/{trip['id']}/cancel", car=car, timeout=60)
    assert_status(r, 200)
    assert r.json()["status"] == "cancelled", r.json()
    assert live_of_trip(companies, trip["id"]) == {"a": 0, "b": 0, "c": 0}
    assert wait_for(lambda: nothing_prepared(companies), 10), prepared(companies)


# ---------------------------------------------------------------- 4. no false 503

def test_a_decision_that_loses_a_race_answers_409_not_503(companies, stack):
    """While b pauses, another session records abort for the trip's gid and holds it
    uncommitted; a's decision statement waits for it, then must read the winner (abort)
    and answer 409 - not 503 "database unavailable" from a snapshot that saw nothing."""
    a, b = companies["a"], companies["b"]
    legs = route(fresh_stations(companies))
    key, car = new_key("race"), new_car_id("race")
    a.car_token(car)
    rival = a.connect()
    rival.autocommit = False
    try:
        arm_failpoint(b, "participant_slow_prepare")
        thread, holder = post_in_thread(a, legs, key, car)
        row = wait_gid_prepared_at(b, a, key)
        assert row is not None, "b never prepared the trip"
        with rival.cursor() as cur:
            cur.execute("INSERT INTO tx_decisions (gid, trip_id, decision, decided_by) VALUES (%s, %s, 'abort', 'test')",
                        (row["gid"], row["id"]))
        # a's decision now waits on the rival's row; let it wait, then commit the rival.
        waiting = wait_for(lambda: a.sql_one(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%tx_decisions%'")[0],
            PAUSE + 10, interval=0.1)
        assert waiting, "a's decision never waited for the rival's decision"
        rival.commit()
        thread.join(60)
        r = holder[0]
        assert isinstance(r, requests.Response), r
        assert r.status_code == 409, (r.status_code, r.text[:300])
        assert assert_json(r)["error"]["code"] == "aborted"
        assert wait_for(lambda: (trip_row(a, key=key, car_id=car) or {}).get("status") == "aborted"
                        and not gids_held(companies, {row["gid"]}), 15)
        assert sum(live_of_trip(companies, row["id"]).values()) == 0
    finally:
        disarm_failpoint(b, "participant_slow_prepare")
        rival.rollback()
        rival.close()


def test_racing_cars_get_201_or_409_only(companies, stack):
    """Eight cars at once for one route of single-charger stations, through all three
    coordinators: one 201, seven 409, no 503 while every database is up."""
    stations = fresh_stations(companies, chargers=1)
    legs = route(stations)
    cars = [(companies[COMPANY_IDS[i % 3]], new_car_id("rc")) for i in range(8)]
    for c, car in cars:
        c.car_token(car)
    barrier = threading.Barrier(len(cars))

    def race(job):
        c, car = job
        barrier.wait(timeout=30)
        return post_trip(c, legs, car_id=car)[0]

    with ThreadPoolExecutor(max_workers=len(cars)) as pool:
        answers = list(pool.map(race, cars))
    codes = sorted(r.status_code for r in answers)
    assert codes == [201] + [409] * (len(cars) - 1), [(r.status_code, r.text[:200]) for r in answers]
    assert wait_for(lambda: not any(prepared(companies).values()), 15), prepared(companies)


# ---------------------------------------------------------------- 5. configuration, 6. readiness

def test_the_worker_refuses_an_orphan_delay_shorter_than_three_recovery_rounds(stack):
    binary = next((line.split("=", 1)[1] for line in
                   (open(os.path.join(stack_dir(), "stack.env")).read().splitlines())
                   if line.startswith("EVC_WORKER_BIN=")), None)
    env = dict(os.environ, EVC_COMPANY_ID="zz", EVC_DATABASE_URL="postgresql://nobody@127.0.0.1:1/none",
               EVC_RECOVERY_INTERVAL_MS="2000", EVC_ORPHAN_AFTER_SECONDS="5")
    p = subprocess.run([binary, "migrate"], env=env, capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "EVC_ORPHAN_AFTER_SECONDS" in p.stderr, (p.returncode, p.stderr)


def test_health_tells_whether_the_federation_is_formed(companies, stack):
    a, c = companies["a"], companies["c"]
    for company in companies.values():
        fed = assert_json(company.health())["federation"]
        assert fed == {"ready": True, "missing": []}, (company.id, fed)
    try:
        stackctl("stop", "c", "worker")
        fed = wait_for(lambda: (lambda f: f if not f["ready"] else None)(assert_json(a.health())["federation"]), 15)
        assert fed and "c:down" in fed["missing"], fed
    finally:
        stackctl("start", "c", "worker", check=False)
        ensure_up(c)
    assert wait_for(lambda: assert_json(a.health())["federation"]["ready"], 15), assert_json(a.health())
