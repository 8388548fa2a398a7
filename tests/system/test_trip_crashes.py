"""Crashes in the middle of a trip's two-phase commit. A fail point makes a worker
SIGKILL itself at a chosen step; once it is started again, recovery must leave the
trip all-or-nothing with the outcome the protocol dictates (presumed abort before
the decision, commit after it) and nothing prepared anywhere.

Every test starts what it killed again in `finally`.
"""

import time

import pytest
import requests

from conftest import assert_json, assert_status, run_stack
from tripkit import (COMPANY_IDS, all_or_nothing, arm_failpoint, book_trip, decision, disarm_failpoint, ensure_up,
                     fresh_stations, live_of_trip, log_tail, new_key, post_trip, prepared, reservations_of_trip,
                     route, trip_row, wait_for)

RESOLVED_WITHIN = 10        # seconds after the restart until everything is resolved
DB_RESTART_RESOLVED_WITHIN = 15
CRASH_ANSWER_WITHIN = 30    # the POST that crashes a worker must end (error or 503) by then


def worker_logs(stack, cids, trip_id=None, gid=None):
    grep = [g for g in (trip_id, gid and gid[:40]) if g] or None
    return "\n".join(log_tail(stack, cid, 25, grep=grep) for cid in cids)


def describe(companies, a, key):
    row = trip_row(a, key=key)
    if row is None:
        return f"no trips row at a for key {key}"
    res = reservations_of_trip(companies, row["id"])
    return (f"trip {row['id']} phase {row['status']} gid {row['gid']}; reservations {res}; "
            f"prepared {prepared(companies)}")


def post_crashing_trip(coordinator, legs, key):
    """Posts a trip that should crash a worker; returns the response or the exception."""
    started = time.monotonic()
    try:
        r, _, _ = post_trip(coordinator, legs, key=key, timeout=CRASH_ANSWER_WITHIN)
        outcome = r
    except requests.RequestException as e:
        outcome = e
    return outcome, time.monotonic() - started


def worker_is_dead(company, timeout=10):
    def dead():
        try:
            company.health(timeout=2)
            return False
        except requests.RequestException:
            return True
    return bool(wait_for(dead, timeout, interval=0.2))


CASES = [
    # (fail point, worker that dies, expected outcome)
    ("coordinator_after_prepares", "a", "aborted"),
    ("coordinator_after_decision", "a", "confirmed"),
    ("coordinator_mid_commit", "a", "confirmed"),
    ("participant_after_prepare", "b", "aborted"),
]

# What the databases show right after the crash, before anything restarts: the phase
# of a's trips row, a's recorded decision, and where the trip's gid is still prepared.
AT_CRASH = {
    "coordinator_after_prepares": ("preparing", None, {"a", "b", "c"}),
    "coordinator_after_decision": ("committing", "commit", {"a", "b", "c"}),
    "coordinator_mid_commit": ("committing", "commit", {"b", "c"}),  # a (the first) committed
    "participant_after_prepare": ("aborting", "abort", {"b"}),        # a rolled back, c never asked
}


@pytest.mark.parametrize("failpoint,victim,expected", CASES, ids=[c[0] for c in CASES])
def test_crash_during_two_phase_commit_is_resolved(companies, stack, failpoint, victim, expected):
    a = companies["a"]
    dying = companies[victim]
    stations = fresh_stations(companies)
    legs = route(stations)
    key = new_key("crash")
    try:
        arm_failpoint(dying, failpoint)
        outcome, elapsed = post_crashing_trip(a, legs, key)
        if victim == "a":
            assert isinstance(outcome, requests.ConnectionError), (
                f"{failpoint}: POST /trips to a should have lost its connection (a killed itself), got "
                f"{outcome.status_code if isinstance(outcome, requests.Response) else outcome!r}: "
                f"{getattr(outcome, 'text', '')[:300]}")
        else:
            assert isinstance(outcome, requests.Response), f"{failpoint}: coordinator a failed too: {outcome!r}"
            assert_status(outcome, 503)
            body = assert_json(outcome)
            assert body.get("error", {}).get("code") == "peer_unavailable" and body.get("company") == victim, body
        assert elapsed < CRASH_ANSWER_WITHIN, f"{failpoint}: the POST took {elapsed:.1f}s"
        assert worker_is_dead(dying), f"{failpoint}: worker {victim} still answers after its fail point"

        row = trip_row(a, key=key)
        assert row is not None, f"{failpoint}: no trips row at a for the key (the trip must be durable first)"
        assert row["participants"] == ["a", "b", "c"], row
        want_phase, want_decision, want_prepared = AT_CRASH[failpoint]
        held = prepared(companies)
        state = (row["status"], decision(a, row["gid"]), {cid for cid, gids in held.items() if row["gid"] in gids})
        assert state == (want_phase, want_decision, want_prepared), (
            f"{failpoint}: right after the crash expected (phase, decision, prepared at) "
            f"{(want_phase, want_decision, want_prepared)}, got {state}; prepared {held}")

        run_stack("start", victim, "worker")
        restarted = time.monotonic()

        def resolved():
            r = trip_row(a, key=key)
            if r is None or r["status"] != expected or any(prepared(companies).values()):
                return None
            if all_or_nothing(companies, r) is not None:
                return None
            t = a.get(f"/trips/{r['id']}", timeout=10, admin=True)  # a coordinates it
            return r if t.status_code == 200 and t.json().get("status") == expected else None

        done = wait_for(resolved, RESOLVED_WITHIN, interval=0.25)
        took = time.monotonic() - restarted
        row = trip_row(a, key=key)
        assert done, (
            f"{failpoint}: {RESOLVED_WITHIN}s after restarting {victim}, expected the trip {expected}, nothing "
            f"prepared and all-or-nothing; got: {describe(companies, a, key)}\n"
            + worker_logs(stack, COMPANY_IDS, trip_id=row and row["id"]))

        problem = all_or_nothing(companies, row)
        assert problem is None, problem
        live = live_of_trip(companies, row["id"])
        assert sum(live.values()) == (3 if expected == "confirmed" else 0), live
        trip = assert_json(a.get(f"/trips/{row['id']}", admin=True))
        assert trip["status"] == expected, trip
        assert trip["status"] not in ("pending",) and trip["phase"] not in ("preparing",), trip
        for c in companies.values():
            h = assert_json(c.health())
            assert h.get("in_doubt") == 0, f"{c.id}: {h}"
        print(f"\n{failpoint}: resolved {took:.1f}s after the restart of {victim}")

        # A retry with the same key tells the same outcome, and books nothing more.
        again, _, _ = post_trip(a, legs, key=key, car_id=row_car(a, row["id"]))
        if expected == "confirmed":
            assert_status(again, 201)
            assert assert_json(again)["id"] == row["id"], again.text
        else:
            assert again.status_code in (409, 503), again.text
        assert sum(live_of_trip(companies, row["id"]).values()) == (3 if expected == "confirmed" else 0)
    finally:
        disarm_failpoint(dying, failpoint)
        ensure_up(dying)
        # Whatever happened, no transaction of this test may stay prepared for the next one.
        wait_for(lambda: not any(prepared(companies).values()), RESOLVED_WITHIN)


# The coordinator that is its trip's last participant (c, for legs at a, b, c) books
# its own leg and records the decision in ONE local transaction, with no PREPARE
# TRANSACTION: right after a crash, c never holds the trip prepared; its leg is
# committed with the decision or not at all.
LOCAL_CASES = [
    # (fail point, expected outcome, phase and decision at c right after the crash, c's live legs then)
    ("coordinator_after_prepares", "aborted", ("preparing", None), 0),
    ("coordinator_after_decision", "confirmed", ("committing", "commit"), 1),
]


@pytest.mark.parametrize("failpoint,expected,at_crash,live_at_c", LOCAL_CASES, ids=[c[0] for c in LOCAL_CASES])
def test_crash_of_a_coordinator_that_is_its_own_last_participant(companies, stack, failpoint, expected, at_crash,
                                                                 live_at_c):
    c = companies["c"]
    legs = route(fresh_stations(companies))
    key = new_key("crashlocal")
    try:
        arm_failpoint(c, failpoint)
        outcome, _ = post_crashing_trip(c, legs, key)
        assert isinstance(outcome, requests.ConnectionError), f"{failpoint}: c should have died: {outcome!r}"
        assert worker_is_dead(c), f"{failpoint}: c still answers after its fail point"
        row = trip_row(c, key=key)
        assert row is not None and row["participants"] == ["a", "b", "c"], row
        held = prepared(companies)
        state = (row["status"], decision(c, row["gid"]))
        assert state == at_crash, f"{failpoint}: expected (phase, decision) {at_crash} at the crash, got {state}"
        assert {cid for cid, gids in held.items() if row["gid"] in gids} == {"a", "b"}, held
        assert live_of_trip({"c": c}, row["id"])["c"] == live_at_c, reservations_of_trip(companies, row["id"])

        run_stack("start", "c", "worker")

        def resolved():
            r = trip_row(c, key=key)
            if r is None or r["status"] != expected or any(prepared(companies).values()):
                return None
            return r if all_or_nothing(companies, r) is None else None

        assert wait_for(resolved, RESOLVED_WITHIN, interval=0.25), (
            f"{failpoint}: {RESOLVED_WITHIN}s after restarting c: {describe(companies, c, key)}\n"
            + worker_logs(stack, COMPANY_IDS, trip_id=row["id"]))
        live = live_of_trip(companies, row["id"])
        assert sum(live.values()) == (3 if expected == "confirmed" else 0), live
        # A retry with the same key tells the same outcome, and books nothing more.
        again, _, _ = post_trip(c, legs, key=key, car_id=row_car(c, row["id"]))
        if expected == "confirmed":
            assert_status(again, 201)
            assert assert_json(again)["id"] == row["id"], again.text
        else:
            assert again.status_code in (409, 503), again.text
        assert sum(live_of_trip(companies, row["id"]).values()) == sum(live.values())
    finally:
        disarm_failpoint(c, failpoint)
        ensure_up(c)
        wait_for(lambda: not any(prepared(companies).values()), RESOLVED_WITHIN)


def row_car(company, trip_id):
    return company.sql_one("SELECT car_id FROM trips WHERE id = %s::uuid", (trip_id,))[0]


def test_prepared_transactions_survive_a_participant_database_restart(companies, stack):
    """a dies after every participant voted yes; b's database restarts while b holds
    the in-doubt transaction; once a is back, recovery aborts the trip everywhere."""
    a, b = companies["a"], companies["b"]
    legs = route(fresh_stations(companies))
    key = new_key("dbrestart")
    try:
        arm_failpoint(a, "coordinator_after_prepares")
        outcome, _ = post_crashing_trip(a, legs, key)
        assert isinstance(outcome, requests.ConnectionError), f"a should have died: {outcome!r}"
        assert worker_is_dead(a)
        row = trip_row(a, key=key)
        assert row is not None and row["status"] == "preparing", row

        held = prepared(companies)
        assert any(gid == row["gid"] for gid in held["b"]), f"b should hold {row['gid']} prepared: {held}"
        assert any(gid == row["gid"] for gid in held["c"]), f"c should hold {row['gid']} prepared: {held}"
        # b reports its in-doubt transaction (its coordinator is down, so it must wait).
        time.sleep(2.5)  # past IN_DOUBT_AFTER: b's recovery has asked a (unreachable) at least once
        h = assert_json(b.health())
        assert h.get("in_doubt", 0) >= 1 and h.get("oldest_prepared_seconds", 0) > 0, h
        tx = assert_json(b.get("/federation/transactions"))
        assert row["gid"] in [p.get("gid") for p in tx.get("prepared_here", [])], tx
        assert row["gid"] in prepared({"b": b})["b"], "b resolved the transaction without its coordinator"

        run_stack("restart", "b", "db")
        held = prepared({"b": b})
        assert row["gid"] in held["b"], f"the prepared transaction did not survive b's database restart: {held}"
        # b's leg is still held by the prepared transaction (not yet visible as a row: it is uncommitted),
        # and b's worker serves again over its new database connections.
        b.wait_healthy()

        run_stack("start", "a", "worker")

        def resolved():
            r = trip_row(a, key=key)
            return (r if r and r["status"] == "aborted" and not any(prepared(companies).values())
                    and sum(live_of_trip(companies, r["id"]).values()) == 0 else None)

        done = wait_for(resolved, DB_RESTART_RESOLVED_WITHIN, interval=0.25)
        assert done, (f"{DB_RESTART_RESOLVED_WITHIN}s after a's restart: {describe(companies, a, key)}\n"
                      + worker_logs(stack, COMPANY_IDS, trip_id=row["id"]))
        trip = assert_json(a.get(f"/trips/{row['id']}", admin=True))
        assert trip["status"] == "aborted", trip

        # The windows are free again: the same trip under a new key is confirmed.
        again = book_trip(a, legs)
        assert again["status"] == "confirmed", again
    finally:
        disarm_failpoint(a, "coordinator_after_prepares")
        run_stack("start", "b", "db", check=False)
        ensure_up(a)
        ensure_up(b)
        wait_for(lambda: not any(prepared(companies).values()), DB_RESTART_RESOLVED_WITHIN)


def test_participant_killed_while_idle_comes_back_and_trips_work(companies, stack):
    b = companies["b"]
    stations = fresh_stations(companies)
    before = book_trip(companies["a"], route(stations))
    try:
        run_stack("kill", "b", "worker")
        assert worker_is_dead(b), "b still answers after kill -9"
        run_stack("start", "b", "worker")
        b.wait_healthy()
        # The trip booked before the kill is intact.
        assert sum(live_of_trip(companies, before["id"]).values()) == 3
        assert not any(prepared(companies).values()), prepared(companies)
        # New trips work, through every coordinator, b included.
        for cid in COMPANY_IDS:
            legs = route(stations)
            trip = book_trip(companies[cid], legs)
            assert trip["status"] == "confirmed", trip
            assert sum(live_of_trip(companies, trip["id"]).values()) == 3
    finally:
        ensure_up(b)
