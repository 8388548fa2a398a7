"""The participant's side of two-phase commit, spoken to directly as a coordinator would."""

import secrets
import uuid

from conftest import assert_error, new_car_id
from tripkit import fresh_stations, route


def coordinator_token(caller, callee):
    """The token `caller` presents to `callee` (issued by callee in the handshake)."""
    return caller.sql_one("SELECT outbound_token FROM peers WHERE id = %s", (callee.id,))[0]


def gid_for(coordinator, trip_id):
    return f"evc_{coordinator.id}_{trip_id.replace('-', '')}_r{secrets.token_hex(4)}"


def test_an_abort_that_overtakes_its_prepare_makes_the_prepare_vote_no(companies):
    """When a coordinator gives up on a slow participant it aborts at once; the prepare
    that arrives after that must not hold the participant's charger."""
    a, b = companies["a"], companies["b"]
    headers = {"Authorization": f"Token {coordinator_token(a, b)}"}
    station = fresh_stations(companies, ids=("b",))[0]
    trip = str(uuid.uuid4())
    gid = gid_for(a, trip)

    r = b.post("/federation/abort", json={"gid": gid}, headers=headers)
    assert r.status_code == 200 and r.json()["state"] == "aborted", r.text

    legs = [dict(index=0, **route([station])[0])]
    r = b.post("/federation/prepare", headers=headers, json={
        "gid": gid, "trip_id": trip, "coordinator": a.id, "op": "reserve", "car_id": new_car_id("late"), "legs": legs})
    assert_error(r, 409, {"aborted"})
    assert b.sql_one("SELECT count(*) FROM pg_prepared_xacts WHERE gid = %s", (gid,))[0] == 0
    assert b.sql_one("SELECT count(*) FROM reservations WHERE trip_id = %s", (trip,))[0] == 0
    # A commit of it is refused, and a repeated abort still answers aborted.
    assert b.post("/federation/commit", json={"gid": gid}, headers=headers).status_code == 409
    r = b.post("/federation/abort", json={"gid": gid}, headers=headers)
    assert r.status_code == 200 and r.json()["state"] == "aborted", r.text


def test_prepare_commit_and_their_repeats(companies):
    """Prepare, commit, then the same again: the vote and the outcome stand, nothing twice."""
    a, b = companies["a"], companies["b"]
    headers = {"Authorization": f"Token {coordinator_token(a, b)}"}
    station = fresh_stations(companies, ids=("b",))[0]
    trip = str(uuid.uuid4())
    gid = gid_for(a, trip)
    body = {"gid": gid, "trip_id": trip, "coordinator": a.id, "op": "reserve", "car_id": new_car_id("rep"),
            "legs": [dict(index=0, **route([station])[0])]}

    r = b.post("/federation/prepare", json=body, headers=headers)
    assert r.status_code == 200 and r.json()["vote"] == "yes", r.text
    assert b.sql_one("SELECT count(*) FROM pg_prepared_xacts WHERE gid = %s", (gid,))[0] == 1
    r = b.post("/federation/prepare", json=body, headers=headers)
    assert r.status_code == 200 and r.json()["vote"] == "yes", r.text
    for _ in range(2):
        r = b.post("/federation/commit", json={"gid": gid}, headers=headers)
        assert r.status_code == 200 and r.json()["state"] == "committed", r.text
    assert b.sql_one("SELECT count(*) FROM reservations WHERE trip_id = %s AND status = 'confirmed'", (trip,))[0] == 1
    assert b.sql_one("SELECT count(*) FROM pg_prepared_xacts WHERE gid = %s", (gid,))[0] == 0
    # Aborting a committed transaction is refused.
    assert b.post("/federation/abort", json={"gid": gid}, headers=headers).status_code == 409


def test_only_the_coordinator_decides(companies):
    """c may not commit or abort a transaction that a coordinates, even with valid credentials."""
    a, b, c = companies["a"], companies["b"], companies["c"]
    gid = gid_for(a, str(uuid.uuid4()))
    headers = {"Authorization": f"Token {coordinator_token(c, b)}"}
    for op in ("commit", "abort"):
        assert_error(b.post(f"/federation/{op}", json={"gid": gid}, headers=headers), 403)
