"""System tests of two worker processes of one company on one database (replicas).

A second evc-worker for company a is started by hand with the environment that
`scripts/stack env a` prints, on another HTTP port, against the same database
and broker. Both beat in worker_instances. Then:

  (a) the waitlist consumers of both never grant one freed slot twice (a city's
      queue is served by one consumer at a time, waitlist_groups FOR UPDATE SKIP
      LOCKED);
  (b) trips coordinated by both at once are all-or-nothing, and neither replica's
      recovery aborts the other's in-flight trips (each trip is the instance's
      that runs it: trips.instance);
  (c) car requests on MQTT are handled once: both subscribe with a shared
      subscription ($share/evc-a/...), so each request reaches one of them.

The second process is stopped (SIGTERM) at the end of the module.
"""

import os
import re
import secrets
import shlex
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
import requests

from conftest import (REPO, Company, assert_json, assert_status, future_start, new_car_id, run_stack, ts,
                      utcnow)
from mqttkit import Client, new_request_id, req_topic, server_topic
from tripkit import (all_or_nothing, dump, federation_ready, live_counts_by_trip, nothing_prepared,
                     overlapping_live, post_trip, prepared, route, trip_row, wait_for)

START_WAIT = 60
ALIVE = "6 seconds"   # worker_instances: a process that beat within this is alive (twopc.c)


# ---------------------------------------------------------------- the second process

def free_port(start):
    for port in range(start, start + 200):
        try:
            out = subprocess.run(["ss", "-Htan", f"sport = :{port}"], capture_output=True, text=True,
                                 timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        if not out.strip():
            return port
    pytest.fail(f"no free port from {start}")


def stack_settings(state_dir):
    """KEY=value lines of <state>/stack.env (never sourced)."""
    out = {}
    path = Path(state_dir) / "stack.env"
    if path.is_file():
        for line in path.read_text().splitlines():
            m = re.match(r"^(EVC_[A-Z_]+)=(.*)$", line)
            if m:
                out[m.group(1)] = m.group(2)
    return out


def worker_env(company_id):
    """The worker's environment from `scripts/stack env COMPANY` (export lines)."""
    p = run_stack("env", company_id)
    env = {}
    for line in p.stdout.splitlines():
        words = shlex.split(line)
        if len(words) == 2 and words[0] == "export" and "=" in words[1]:
            key, value = words[1].split("=", 1)
            env[key] = value
    assert "EVC_HTTP_PORT" in env and "EVC_DATABASE_URL" in env, p.stdout
    return env


def live_instances(company):
    return {row[0] for row in company.sql(
        f"SELECT instance FROM worker_instances WHERE last_seen > now() - interval '{ALIVE}'")}


class Replica:
    def __init__(self, stack, main):
        self.stack, self.main = stack, main
        self.proc = None
        self.log_path = Path(stack["state_dir"]) / "logs" / "worker-a-replica.log"
        self.company = None
        self.instance = None
        self.main_instances = set()

    def start(self):
        env_words = worker_env(self.main.id)
        port = free_port(self.main.port + 50)
        env_words["EVC_HTTP_PORT"] = str(port)
        env_words["EVC_PUBLIC_URL"] = f"http://127.0.0.1:{port}"  # what it tells peers through the ping answer
        binary = stack_settings(self.stack["state_dir"]).get("EVC_WORKER_BIN") or str(REPO / "build" / "evc-worker")
        env = dict(os.environ)
        env.update(env_words)
        self.main_instances = live_instances(self.main)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = open(self.log_path, "ab")
        log.write(f"=== {ts(utcnow())} test_replicas: starting {binary} on port {port}\n".encode())
        log.flush()
        self.proc = subprocess.Popen([binary], env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                     start_new_session=True)
        log.close()
        url = f"http://127.0.0.1:{port}"
        self.company = Company(dict(self.main.info, http_url=url, api_url=url + "/api/v1"))
        deadline = time.monotonic() + START_WAIT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"the second worker exited with {self.proc.returncode}:\n{self.log_tail()}")
            if self.company.is_healthy():
                break
            time.sleep(0.2)
        else:
            pytest.fail(f"the second worker is not healthy after {START_WAIT}s:\n{self.log_tail()}")
        # Its MQTT bridge connected too (needed for the shared subscription test).
        wait_for(lambda: self.company.health(timeout=5).json().get("mqtt") == "ok", 15)
        new = wait_for(lambda: live_instances(self.main) - self.main_instances, 10)
        assert new and len(new) == 1, f"no new row in worker_instances: before {self.main_instances}, now " \
                                      f"{live_instances(self.main)}"
        self.instance = next(iter(new))
        return self

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            return None

    def log_lines(self):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self.log_offset)
                return f.read().decode("utf-8", errors="replace").splitlines()
        except OSError:
            return []

    def log_tail(self, n=30):
        return f"--- {self.log_path}\n" + "\n".join(self.log_lines()[-n:])


@pytest.fixture(scope="module")
def replica(stack, companies):
    r = Replica(stack, companies["a"])
    try:
        yield r.start()
    finally:
        r.stop()


def main_log_offset(stack):
    p = Path(stack["state_dir"]) / "logs" / "worker-a.log"
    return p.stat().st_size if p.exists() else 0


def main_log_since(stack, offset):
    p = Path(stack["state_dir"]) / "logs" / "worker-a.log"
    with open(p, "rb") as f:
        f.seek(offset)
        return f.read().decode("utf-8", errors="replace").splitlines()


# ---------------------------------------------------------------- tests

def test_both_replicas_beat(replica, companies):
    a = companies["a"]
    rows = a.sql(f"SELECT instance FROM worker_instances WHERE last_seen > now() - interval '{ALIVE}'")
    alive = {r[0] for r in rows}
    assert replica.instance in alive and alive & replica.main_instances, (alive, replica.main_instances)
    h = replica.company.health().json()
    assert h["company"] == "a" and h["database"] == "ok", h


def test_each_freed_slot_is_granted_once(replica, companies, stack):
    a, a2 = companies["a"], replica.company
    chargers, waiters = 4, 10
    city = f"WL replica {secrets.token_hex(5)}"
    st = a.create_station(chargers=chargers, city=city)["id"]
    s = future_start()
    e = s + timedelta(hours=1)
    booked = [a.book_ok(st, s, e) for _ in range(chargers)]
    ids = []
    for i in range(waiters):  # joined through both, alternately, each car for itself
        car = new_car_id("rep")
        r = (a if i % 2 == 0 else a2).post("/waitlist", car=car, json={
            "car_id": car, "station_id": st, "start": ts(s), "end": ts(e),
            "expires_at": ts(utcnow() + timedelta(minutes=5))})
        assert_status(r, 201)
        ids.append(assert_json(r)["id"])

    def granted():
        return a.sql("SELECT id::text, reservation_id::text, car_id FROM waitlist WHERE id = ANY(%s::uuid[])"
                     " AND status = 'granted'", (ids,))

    freed = 0
    for batch in (booked[:3], booked[3:]):
        barrier = threading.Barrier(len(batch))
        results = []

        def cancel(i, rid):
            barrier.wait()
            results.append((a if i % 2 == 0 else a2).cancel(rid))

        threads = [threading.Thread(target=cancel, args=(i, r["id"])) for i, r in enumerate(batch)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert len(results) == len(batch) and all(r.status_code == 200 for r in results), \
            [(r.status_code, r.text[:200]) for r in results]
        freed += len(batch)
        wait_for(lambda: len(granted()) >= freed, 5, interval=0.1)
        time.sleep(2.5)  # a few rounds of both consumers: nothing more may be granted
        rows = granted()
        assert len(rows) == freed, (
            f"{freed} slots freed, {len(rows)} requests granted: {rows}\n{replica.log_tail(15)}")
        assert len({r[1] for r in rows}) == freed, f"two requests share a reservation: {rows}"
        live = a.sql("SELECT id::text, car_id FROM reservations WHERE id = ANY(%s::uuid[])"
                     " AND status = 'confirmed' AND station_id = %s", ([r[1] for r in rows], st))
        assert {r[0]: r[1] for r in live} == {r[1]: r[2] for r in rows}, (live, rows)
        assert overlapping_live(a, [st]) == []
        n_live = a.sql_one("SELECT count(*) FROM reservations WHERE station_id = %s"
                           " AND status IN ('held', 'confirmed')", (st,))[0]
        assert n_live == chargers, f"{n_live} live reservations on a {chargers}-charger station"
        waiting = a.sql_one("SELECT count(*) FROM waitlist WHERE id = ANY(%s::uuid[]) AND status = 'waiting'",
                            (ids,))[0]
        assert waiting == waiters - freed
    a.sql("UPDATE waitlist SET status = 'withdrawn' WHERE id = ANY(%s::uuid[]) AND status = 'waiting'", (ids,))


def test_trips_through_both_replicas_are_all_or_nothing(replica, companies, stack):
    a, a2, b = companies["a"], replica.company, companies["b"]
    federation_ready(companies)
    n = 30
    sa = a.create_station(chargers=1)["id"]
    sb = b.create_station(chargers=1)["id"]
    s = future_start(max_days=200)
    plans = [route([sa, sb], start=s + timedelta(hours=3 * i)) for i in range(n)]  # disjoint windows
    offset = main_log_offset(stack)
    replica_start = len(replica.log_lines())

    def one(i):
        coordinator = a if i % 2 == 0 else a2
        try:
            r, key, _ = post_trip(coordinator, plans[i])
            return i, r.status_code, key, (r.json() if r.headers.get("Content-Type", "").startswith(
                "application/json") else r.text[:300])
        except requests.RequestException as ex:
            return i, None, None, repr(ex)

    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(one, range(n)))

    assert wait_for(lambda: nothing_prepared(companies), 15), f"left prepared: {prepared(companies)}"
    problems = []
    rows = {}
    for i, status, key, body in results:
        row = trip_row(a, key=key) if key else None
        rows[i] = row
        if status != 201:
            problems.append(f"trip {i} via {'a' if i % 2 == 0 else 'replica'}: {status} {dump(body)[:300]}"
                            f" row status {row and row['status']}")
            continue
        if row is None:
            problems.append(f"trip {i}: 201 but no trips row for key {key}")
            continue
        bad = all_or_nothing(companies, row)
        if bad:
            problems.append(bad)
    # Every trip had its own windows: each must be confirmed, none aborted by the other replica.
    assert not problems, "\n".join(problems) + "\n" + replica.log_tail(20)
    live = live_counts_by_trip(companies, [rows[i]["id"] for i in range(n)])
    assert all(v == 2 for v in live.values()), live
    # Each trip belongs to the instance that ran it.
    for i in range(n):
        want = {replica.instance} if i % 2 else replica.main_instances
        assert rows[i]["instance"] in want, (i, rows[i]["instance"], replica.instance, replica.main_instances)
    assert overlapping_live(a, [sa]) == [] and overlapping_live(b, [sb]) == []
    # No recovery (of either process) decided any of them.
    trip_ids = {rows[i]["id"] for i in range(n)}
    by_recovery = [line for line in main_log_since(stack, offset) + replica.log_lines()[replica_start:]
                   if ("decision=abort" in line or "by=recovery" in line)
                   and any(f"trip={t}" in line for t in trip_ids)]
    assert not by_recovery, "\n".join(by_recovery)


def test_mqtt_requests_answered_once(replica, companies, stack):
    a, b = companies["a"], companies["b"]
    federation_ready(companies)
    n = 20
    sa = a.create_station(chargers=1)["id"]
    sb = b.create_station(chargers=1)["id"]
    s = future_start(max_days=200)
    tag = secrets.token_hex(3)
    cars = [f"rep{tag}-{i:02d}" for i in range(n)]
    rids = [new_request_id("rep") for _ in range(n)]
    offset = main_log_offset(stack)
    replica_start = len(replica.log_lines())

    with Client(stack, tag="replica") as mq:
        mq.subscribe("evc/v1/a/cars/+/resp")
        for i in range(n):
            mq.publish(req_topic("a", cars[i]), {"type": "reserve", "request_id": rids[i],
                                                 "legs": route([sa, sb], start=s + timedelta(hours=3 * i))})

        def ours():
            out = []
            for m in mq.received("evc/v1/a/cars/+/resp"):
                car = m.topic.split("/")[4]
                if car in cars:
                    out.append((car, m.json()))
            return out

        wait_for(lambda: len(ours()) >= n, 45, interval=0.2)
        time.sleep(2)  # a duplicate would come by now
        got = ours()

    by_request = {}
    for car, ans in got:
        by_request.setdefault(ans.get("request_id"), []).append((car, ans))
    missing = [rids[i] for i in range(n) if rids[i] not in by_request]
    twice = {k: v for k, v in by_request.items() if len(v) > 1}
    assert not missing and not twice and len(got) == n, (
        f"{len(got)} answers to {n} requests; missing {missing}; more than once {dump(twice)}")
    for i in range(n):
        (car, ans), = by_request[rids[i]]
        assert car == cars[i] and ans.get("status") == 201, ans
        assert ans["body"].get("status") == "confirmed", ans

    keys = [f"mqtt-{cars[i]}-{rids[i]}" for i in range(n)]
    rows = a.sql("SELECT idempotency_key, count(*) FROM trips WHERE idempotency_key = ANY(%s) GROUP BY 1", (keys,))
    assert sorted(r[0] for r in rows) == sorted(keys) and all(r[1] == 1 for r in rows), rows
    assert a.sql_one("SELECT count(*) FROM trips WHERE car_id = ANY(%s)", (cars,))[0] == n

    # Who handled what: each request once, in one of the two processes.
    handled = {}
    for who, lines in (("a", main_log_since(stack, offset)), ("replica", replica.log_lines()[replica_start:])):
        for line in lines:
            m = re.search(r"event=mqtt_request(?:_duplicate)? car=(\S+) request=(\S+)", line)
            if m and m.group(2) in rids:
                handled.setdefault(m.group(2), []).append((who, line))
    twice = {k: v for k, v in handled.items() if len(v) != 1}
    assert len(handled) == n and not twice, f"handled: {dump(handled)}"
    split = {who for v in handled.values() for who, _ in v}
    assert split == {"a", "replica"}, f"all {n} requests went to {split}: is the subscription shared?"


def test_a_trip_reaches_a_company_through_its_other_replica(replica, companies, stack):
    """b learns a's second process from a's ping answer (`urls`); with a's first process
    stopped, b still sees a up and a trip b coordinates books a's leg through the replica."""
    a, b = companies["a"], companies["b"]
    url = replica.company.http_url

    def a_at_b():
        peers = assert_json(b.get("/federation/peers", admin=True))["items"]
        return next(p for p in peers if p["company"] == "a")
    assert wait_for(lambda: url in a_at_b()["urls"], 20), a_at_b()
    stations = [companies[cid].create_station(chargers=1)["id"] for cid in ("a", "b", "c")]
    legs = route(stations)
    car = new_car_id("failover")
    b.car_token(car)
    try:
        run_stack("stop", "a", "worker")
        time.sleep(3)  # more than a heartbeat: b must keep a up through the replica
        assert a_at_b()["status"] == "up", a_at_b()
        r, _, _ = post_trip(b, legs, car_id=car, timeout=60)
        assert_status(r, 201)
        trip = assert_json(r)
        legs_at_a = a.sql("SELECT status FROM reservations WHERE trip_id = %s::uuid", (trip["id"],))
        assert legs_at_a == [("confirmed",)], legs_at_a
        problem = all_or_nothing(companies, trip_row(b, trip_id=trip["id"]))
        assert problem is None, problem
    finally:
        run_stack("start", "a", "worker", check=False)
        a.wait_healthy()


def test_stopping_a_replica_keeps_the_company_online(replica, companies, stack):
    """Last: stops the second process (SIGTERM). Each process has its own retained
    status topic (evc/v1/a/servers/<instance>): the stopped one says offline, the
    first still says online, so the company is seen up."""
    a = companies["a"]
    rc = replica.stop()
    assert rc == 0, f"the second worker exited with {rc} on SIGTERM:\n{replica.log_tail(20)}"
    assert wait_for(lambda: replica.instance not in live_instances(a), 10), "its worker_instances row stayed"
    assert a.is_healthy()
    first = next(i for i in live_instances(a))
    with Client(stack, tag="replica-status") as mq:
        mq.subscribe(server_topic("a"))
        stopped = mq.wait_for(lambda m: m.topic.endswith("/" + replica.instance), timeout=5)
        running = mq.wait_for(lambda m: m.topic.endswith("/" + first), timeout=5)
    assert stopped is not None and stopped.json().get("online") is False, (
        f"the stopped replica's retained status: {stopped and stopped.json()}")
    assert running is not None and running.json().get("online") is True, (
        f"company a still runs (process {first}) but its retained status is {running and running.json()}")
