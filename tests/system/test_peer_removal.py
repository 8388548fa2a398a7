"""Removing a peer (DELETE /federation/peers/{id}, policy action peer.manage):
only an operator of this company may; it is refused (409) while the peer has a
transaction in doubt here or is configured in EVC_PEERS; a refusal writes
nothing; a removal drops its credentials and heartbeat, and the federation
keeps booking trips across a, b and c.

Each test registers its own placeholder peer at a (with the registration secret,
as the Insomnia export's example does), at an address where nobody listens.
"""

import secrets
import uuid
from pathlib import Path

import pytest
import requests

from conftest import HTTP_TIMEOUT, assert_error, assert_json, new_car_id, ts, window
from tripkit import book_trip, federation_ready, fresh_stations, route, wait_for

PEER_ROW = ("SELECT id, url, coalesce(inbound_token, ''), coalesce(outbound_token, '') FROM peers"
            " ORDER BY id")


def register_placeholder(stack, company):
    """Registers a made-up peer at company; returns (id, the token it now presents)."""
    secret = (Path(stack["state_dir"]) / "federation-secret").read_text().strip()
    pid = "z" + secrets.token_hex(4)
    body = {"id": pid, "url": "http://127.0.0.1:9", "token": secrets.token_hex(32)}
    r = company.post("/federation/peers", json=body, headers={"Authorization": f"Token {secret}"})
    assert r.status_code == 201, r.text
    return pid, assert_json(r)["token"]


def world(companies):
    """What a refusal must leave as it was: every company's peers (with tokens) and prepared transactions."""
    return {cid: (c.sql(PEER_ROW), sorted(g for (g,) in c.sql("SELECT gid FROM pg_prepared_xacts")))
            for cid, c in companies.items()}


def remove(company, pid, headers):
    return requests.delete(company.url(f"/federation/peers/{pid}"), headers=headers, timeout=HTTP_TIMEOUT)


@pytest.fixture
def placeholder(stack, companies):
    a = companies["a"]
    pid, token = register_placeholder(stack, a)
    yield pid, token
    # Whatever the test did, leave no placeholder behind (it would keep a not ready).
    for gid, in a.sql("SELECT gid FROM pg_prepared_xacts WHERE gid LIKE %s", (f"evc\\_{pid}\\_%",)):
        requests.post(a.url("/federation/abort"), json={"gid": gid}, headers={"Authorization": f"Token {token}"},
                      timeout=HTTP_TIMEOUT)
    remove(a, pid, a.admin)


def test_only_this_companys_operator_removes_a_peer(stack, companies, placeholder):
    a, b = companies["a"], companies["b"]
    pid, token = placeholder
    car = new_car_id("peerrm")
    peer_b = b.sql_one("SELECT outbound_token FROM peers WHERE id = 'a'")[0]
    refusals = {
        "anonymous": ({}, 401, "unauthorized"),
        "a car": (a.as_car(car), 403, "forbidden"),
        "b's operator": (b.admin, 401, "unauthorized"),
        "peer b": ({"Authorization": f"Token {peer_b}"}, 403, "forbidden"),
        "the peer itself": ({"Authorization": f"Token {token}"}, 403, "forbidden"),
    }
    before = world(companies)
    for who, (headers, status, code) in refusals.items():
        r = remove(a, pid, headers)
        assert r.status_code == status, f"{who}: {r.status_code} {r.text[:300]}"
        assert r.json()["error"]["code"] == code, f"{who}: {r.text}"
        assert world(companies) == before, f"{who} was refused but something changed"
    # A peer named in EVC_PEERS would come back at the next start: refused, nothing changes.
    assert_error(remove(a, "b", a.admin), 409, {"peer_configured"})
    assert world(companies) == before
    # Unknown ids and this company itself: 404.
    assert_error(remove(a, "nosuchpeer", a.admin), 404, {"not_found"})
    assert_error(remove(a, "a", a.admin), 404, {"not_found"})
    assert world(companies) == before

    r = remove(a, pid, a.admin)
    assert r.status_code == 200, r.text
    assert r.json() == {"company": pid, "url": "http://127.0.0.1:9", "stations_forgotten": 0}
    assert a.sql("SELECT 1 FROM peers WHERE id = %s", (pid,)) == []
    assert pid not in [p["company"] for p in assert_json(a.get("/federation/peers"))["items"]]
    # Its credential proves nobody any more, and a second removal finds nothing.
    r = requests.get(a.url("/federation/ping"), headers={"Authorization": f"Token {token}"}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 401, r.text
    assert_error(remove(a, pid, a.admin), 404, {"not_found"})


def test_a_peer_with_a_transaction_in_doubt_stays_until_it_is_decided(stack, companies, placeholder):
    """The placeholder prepares a leg at a and never decides: while that prepared
    transaction is held, removal is 409 peer_in_doubt and changes nothing; once the
    peer aborts it, removal goes through and a, b and c still book trips together."""
    a = companies["a"]
    pid, token = placeholder
    as_peer = {"Authorization": f"Token {token}"}
    station = a.create_station(chargers=1)["id"]
    start, end = window()
    trip = str(uuid.uuid4())
    gid = f"evc_{pid}_{trip.replace('-', '')}_r{secrets.token_hex(4)}"
    body = {"gid": gid, "trip_id": trip, "coordinator": pid, "op": "reserve", "car_id": new_car_id("peerrm"),
            "legs": [{"index": 0, "station_id": station, "start": ts(start), "end": ts(end)}]}
    r = requests.post(a.url("/federation/prepare"), json=body, headers=as_peer, timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, r.text
    assert a.sql("SELECT gid FROM pg_prepared_xacts WHERE gid = %s", (gid,)) == [(gid,)]

    before = world(companies)
    r = remove(a, pid, a.admin)
    body = assert_error(r, 409, {"peer_in_doubt"})
    assert body["prepared_here"] == 1 and body["trips_in_flight"] == 0, body
    assert world(companies) == before, "a refused removal changed something"
    # The peer still works meanwhile: it can decide its transaction.
    r = requests.post(a.url("/federation/abort"), json={"gid": gid}, headers=as_peer, timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, r.text
    assert a.sql("SELECT gid FROM pg_prepared_xacts WHERE gid = %s", (gid,)) == []

    r = remove(a, pid, a.admin)
    assert r.status_code == 200, r.text
    # No heartbeat to it any more: a's readiness no longer waits for it.
    def ready():
        fed = assert_json(a.health())["federation"]
        return fed["ready"] and not any(m.startswith(pid) for m in fed["missing"])
    assert wait_for(ready, 30), assert_json(a.health())["federation"]
    # The federation keeps working: a 3-company trip through a.
    assert federation_ready(companies)
    trip = book_trip(a, route(fresh_stations(companies)))
    assert trip["status"] == "confirmed", trip


def test_a_handshake_repeated_as_it_was_gets_the_same_answer(stack, companies):
    """An initiator whose handshake answer was lost (a timeout) repeats it with the
    same token: it gets the same answer, instead of a 409 that would lock it out for
    good. A different token or URL with the secret alone is still a 409."""
    a = companies["a"]
    secret = (Path(stack["state_dir"]) / "federation-secret").read_text().strip()
    pid = "z" + secrets.token_hex(4)
    body = {"id": pid, "url": "http://127.0.0.1:9", "token": secrets.token_hex(32)}
    with_secret = {"Authorization": f"Token {secret}"}
    try:
        first = a.post("/federation/peers", json=body, headers=with_secret)
        assert first.status_code == 201, first.text
        again = a.post("/federation/peers", json=body, headers=with_secret)
        assert again.status_code == 201, again.text
        assert again.json() == first.json()
        rows = a.sql("SELECT url, inbound_token, outbound_token FROM peers WHERE id = %s", (pid,))
        assert rows == [(body["url"], first.json()["token"], body["token"])]
        for change in ({"token": secrets.token_hex(32)}, {"url": "http://127.0.0.1:10"}):
            assert_error(a.post("/federation/peers", json={**body, **change}, headers=with_secret), 409,
                         {"already_registered"})
            assert a.sql("SELECT url, inbound_token, outbound_token FROM peers WHERE id = %s", (pid,)) == rows
    finally:
        remove(a, pid, a.admin)
