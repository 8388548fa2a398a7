"""What protects the federation: rate limits, secrets that never reach a log, and
who may act: car tokens that cannot be forged, work at every company and can be
revoked, operator tokens that prove nothing at another company, a registration
secret that cannot take over a member, and items only their car or the operator
may touch."""

import base64
import json
import os
import secrets as pysecrets
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from conftest import Company, assert_error, assert_json, assert_status, new_car_id, ts, window
from tripkit import fresh_stations, get_trip, post_trip, route, wait_for

CAR_MAX_TRIPS = int(os.environ.get("EVC_CAR_MAX_TRIPS", "3"))


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def issue_token(company, car_id):
    """A fresh token for car_id from company's operator (not the fixtures' cache)."""
    r = company.post(f"/cars/{car_id}/tokens", admin=True)
    assert_status(r, 201)
    body = assert_json(r)
    assert body["car_id"] == car_id and body["issuer"] == company.id, body
    assert body["token"].startswith("evc1."), "a car token is evc1.<payload>.<signature>"
    return body["token"]


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def booking(station_id, car_id=None, hours=1.0):
    start, end = window(hours=hours)
    body = {"station_id": station_id, "start": ts(start), "end": ts(end)}
    if car_id is not None:
        body["car_id"] = car_id
    return body


def test_trip_creation_is_rate_limited_per_car(companies):
    """A car that asks for trips faster than EVC_TRIP_RATE_PER_SECOND (5/s, burst 20)
    gets 429 with Retry-After; another car is not affected. The requests go out
    together, so a slow machine cannot refill the bucket between them. Behind the
    rate limit stands the per-car limit (EVC_CAR_MAX_TRIPS, 3 live trips): of the
    burst that gets through, that many are booked and the rest get 409
    car_limit_reached."""
    a = companies["a"]
    stations = fresh_stations(companies, ids=("a",), chargers=64)
    car = new_car_id("flood")
    a.car_token(car)  # issued before the flood, so the requests go out together
    with ThreadPoolExecutor(max_workers=30) as pool:
        answers = list(pool.map(lambda _: post_trip(a, route(stations), car_id=car)[0], range(60)))
    statuses = [r.status_code for r in answers]
    limited = [r for r in answers if r.status_code == 429]
    assert limited, f"60 simultaneous trips by one car were never limited: {statuses}"
    for r in limited:
        assert_error(r, 429, {"too_many_requests"})
        assert r.headers.get("Retry-After") == "1"
    through = [r for r in answers if r.status_code != 429]
    assert len(through) >= 20, f"the burst of 20 was not honoured: {statuses}"
    assert set(statuses) <= {201, 409, 429}, statuses
    for r in through:
        if r.status_code == 409:
            assert_error(r, 409, {"car_limit_reached"})
    # Someone else still gets through at once.
    r, _, _ = post_trip(a, route(stations), car_id=new_car_id("calm"))
    assert r.status_code == 201, r.text
    # Nothing was written for the refused requests.
    assert a.sql_one("SELECT count(*) FROM trips WHERE car_id = %s", (car,))[0] == statuses.count(201)
    assert statuses.count(201) == min(CAR_MAX_TRIPS, len(through)), \
        f"the car got {statuses.count(201)} live trips, the limit is {CAR_MAX_TRIPS}: {statuses}"


def test_no_secret_reaches_a_log(stack, companies):
    """Operator tokens, federation secret and tokens, MQTT passwords, car tokens (the
    stack's and those issued in this run), car-token signing keys: none in any log."""
    state = Path(stack["state_dir"])
    secrets = {c["admin_token"] for c in stack["companies"]} | {stack.get("mqtt_password") or "-"}
    secret_file = state / "federation-secret"
    if secret_file.exists():
        secrets.add(secret_file.read_text().strip())
    creds = stack.get("mqtt_credentials_file")
    if creds and Path(creds).exists():
        secrets |= {line.split(":", 1)[1].strip() for line in Path(creds).read_text().splitlines() if ":" in line}
    tokens = stack.get("car_tokens_file")
    if tokens and Path(tokens).exists():
        secrets |= {line.split(":", 1)[1].strip() for line in Path(tokens).read_text().splitlines() if ":" in line}
    companies["a"].car_token(new_car_id("logged"))
    issued = set(Company._car_tokens.values())
    assert issued, "no car token issued in this run"
    secrets |= issued
    # A token's signature alone is as secret as the token.
    secrets |= {t.rsplit(".", 1)[1] for t in issued}
    for c in companies.values():
        for row in c.sql("SELECT coalesce(inbound_token, ''), coalesce(outbound_token, '') FROM peers"):
            secrets |= {t for t in row if t}
        secrets |= {row[0] for row in c.sql("SELECT encode(seed, 'hex') FROM signing_keys")}
    secrets.discard("")
    assert len(secrets) > 5, secrets
    logs = list((state / "logs").glob("*.log"))
    assert logs, "no log files to check"
    for log in logs:
        text = log.read_text(errors="replace")
        for s in secrets:
            assert s not in text, f"a secret ({s[:6]}...) appears in {log.name}"


def test_cancel_finish_and_checkin_need_the_owner_or_the_operator(companies, company, station):
    """Cancelling, finishing and checking in are the car's own actions (its token) or
    the operator's: the public gets 401, a bad bearer 401, another car 404 as if
    the item did not exist (also through another server, which forwards), and
    nothing changes; the car itself and the operator get 200."""
    a, b = companies["a"], companies["b"]
    car, other = new_car_id("owner"), new_car_id("intruder")
    start, end = window()
    r = a.post("/reservations", car=car, json={"station_id": station["id"], "car_id": car,
                                               "start": ts(start), "end": ts(end)})
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    for path in (f"/reservations/{rid}/cancel", f"/reservations/{rid}/checkin"):
        assert_error(a.post(path), 401, {"unauthorized"})
        assert_error(a.post(path, headers={"Authorization": "Bearer wrong"}), 401, {"unauthorized"})
        assert_error(a.post(path, car=other), 404, {"not_found"})
        assert_error(b.post(path, admin=True), 404, {"not_found"})  # b's operator: not b's reservation
    row = a.sql_one("SELECT status, checked_in_at IS NULL FROM reservations WHERE id = %s", (rid,))
    assert row == ("confirmed", True), row

    r = a.post(f"/reservations/{rid}/checkin", car=car)
    assert_status(r, 200)
    assert a.sql_one("SELECT checked_in_at IS NOT NULL FROM reservations WHERE id = %s", (rid,))[0]
    assert_status(a.post(f"/reservations/{rid}/checkin", admin=True), 200)
    r = a.post(f"/reservations/{rid}/cancel", car=car)
    assert_status(r, 200)
    assert r.json()["status"] == "cancelled"
    other_res = a.book_ok(station["id"], *window(), car_id=car)
    r = a.post(f"/reservations/{other_res['id']}/cancel", admin=True)
    assert_status(r, 200)
    assert r.json()["status"] == "cancelled"

    stations = fresh_stations(companies, ids=("a",), chargers=2)
    trips = []
    for _ in range(2):
        r, _, _ = post_trip(a, route(stations), car_id=car)
        assert r.status_code == 201, r.text
        trips.append(r.json()["id"])
    tid = trips[0]
    for op in ("cancel", "finish"):
        assert_error(a.post(f"/trips/{tid}/{op}"), 401, {"unauthorized"})
        assert_error(a.post(f"/trips/{tid}/{op}", headers={"Authorization": "Bearer wrong"}), 401,
                     {"unauthorized"})
        assert_error(a.post(f"/trips/{tid}/{op}", car=other), 404, {"not_found"})
        assert_error(b.post(f"/trips/{tid}/{op}", car=other), 404, {"not_found"})
    assert get_trip(a, tid, car=car)["status"] == "confirmed"
    assert a.sql_one("SELECT status FROM trips WHERE id = %s", (tid,))[0] == "confirmed"

    r = a.post(f"/trips/{tid}/cancel", car=car)
    assert_status(r, 200)
    assert r.json()["status"] == "cancelled"
    r = a.post(f"/trips/{trips[1]}/finish", admin=True)
    assert_status(r, 200)
    assert r.json()["status"] == "finished"


# ---------------------------------------------------------------- car tokens

def test_a_forged_car_token_is_refused_and_books_nothing(companies):
    """A token of the right shape whose signature was changed in one character, or
    whose payload was changed to name another car, proves nobody: 401 at the
    issuer and at another company, nothing written. The genuine token books."""
    a, b = companies["a"], companies["b"]
    car, victim = new_car_id("forger"), new_car_id("victim")
    token = issue_token(a, car)
    head, payload, sig = token.split(".")
    i = len(sig) // 2
    bad_sig = sig[:i] + ("B" if sig[i] == "A" else "A") + sig[i + 1:]
    claims = json.loads(unb64url(payload))
    assert claims["car"] == car and claims["iss"] == "a", claims
    other_payload = b64url(json.dumps(dict(claims, car=victim), separators=(",", ":")).encode())
    forged = {"signature": f"{head}.{payload}.{bad_sig}", "payload": f"{head}.{other_payload}.{sig}"}

    for server in (a, b):
        st = server.create_station(chargers=1)
        for what, fake in forged.items():
            for body_car in (car, victim, None):
                before = server.counts()
                r = server.post("/reservations", headers=bearer(fake), json=booking(st["id"], body_car))
                assert_error(r, 401, {"unauthorized"})
                assert server.counts() == before, f"a token with a forged {what} wrote at {server.id}"
            assert_error(server.get("/reservations", headers=bearer(fake)), 401, {"unauthorized"})
        for cid in (car, victim):
            assert server.sql("SELECT 1 FROM reservations WHERE car_id = %s", (cid,)) == []
        r = server.post("/reservations", headers=bearer(token), json=booking(st["id"]))
        assert_status(r, 201)
        assert r.json()["car_id"] == car


def test_forged_tokens_name_no_secret_in_the_answer(company, station):
    """The 401 for a bad token says why in general terms; it never echoes the token."""
    token = issue_token(company, new_car_id("echo"))
    fake = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    r = company.post("/reservations", headers=bearer(fake), json=booking(station["id"]))
    assert_error(r, 401, {"unauthorized"})
    assert fake not in r.text and token.rsplit(".", 1)[1] not in r.text


@pytest.mark.parametrize("issuer,server", [("a", "b"), ("b", "c"), ("c", "a")])
def test_a_car_token_works_at_every_company(companies, issuer, server):
    """A token issued by one company's operator is the car's at every server: the
    car books, reads and cancels a station of another company with it."""
    iss, srv = companies[issuer], companies[server]
    car = new_car_id("roamer")
    headers = iss.as_car(car)
    st = srv.create_station(chargers=1)
    r = srv.post("/reservations", headers=headers, json=booking(st["id"], car))
    assert_status(r, 201)
    res = assert_json(r)
    assert res["car_id"] == car and res["station_id"] == st["id"]
    assert srv.sql("SELECT car_id, status FROM reservations WHERE id = %s", (res["id"],)) == [(car, "confirmed")]
    got = srv.get(f"/reservations/{res['id']}", headers=headers)
    assert_status(got, 200)
    assert assert_json(got) == res
    mine = assert_json(srv.get("/reservations", headers=headers))
    assert [i["id"] for i in mine["items"]] == [res["id"]]
    # The car omits car_id: it books for itself, also here.
    r = srv.post("/reservations", headers=headers, json=booking(st["id"]))
    assert_status(r, 201)
    assert r.json()["car_id"] == car
    r = srv.post(f"/reservations/{res['id']}/cancel", headers=headers)
    assert_status(r, 200)
    assert r.json()["status"] == "cancelled"


def _status_as(company, token):
    try:
        return company.get("/reservations", headers=bearer(token), timeout=10).status_code
    except requests.RequestException:
        return None


def test_a_revoked_car_token_is_refused_everywhere_within_a_minute(companies):
    """The operator of a revokes car X: within 60 s X's old token is refused with
    401 at a, b and c; a token issued after the revocation works at all three."""
    a = companies["a"]
    car = new_car_id("revoked")
    old = issue_token(a, car)
    everyone = list(companies.values())
    # Every company knows a's signing key (heartbeats): the old token works everywhere.
    assert wait_for(lambda: all(_status_as(c, old) == 200 for c in everyone), 30, interval=1), \
        {c.id: _status_as(c, old) for c in everyone}

    r = a.post(f"/cars/{car}/revoke", admin=True)
    assert_status(r, 200)
    body = assert_json(r)
    assert body["car_id"] == car and body["issuer"] == "a", body
    revoked = time.monotonic()
    assert a.sql_one("SELECT count(*) FROM car_revocations WHERE issuer = 'a' AND car_id = %s", (car,))[0] == 1

    deadline = revoked + 60
    while True:
        answers = {c.id: _status_as(c, old) for c in everyone}
        if all(s == 401 for s in answers.values()) or time.monotonic() >= deadline:
            break
        time.sleep(1)
    assert all(s == 401 for s in answers.values()), \
        f"{time.monotonic() - revoked:.0f} s after the revocation the old token still gets {answers}"
    for c in everyone:
        assert_error(c.get("/reservations", headers=bearer(old)), 401, {"unauthorized"})
        st_before = c.counts()
        assert_error(c.post("/reservations", headers=bearer(old), json=booking(f"{c.id}-nope")), 401,
                     {"unauthorized"})
        assert c.counts() == st_before

    new = issue_token(a, car)
    assert new != old
    for c in everyone:
        r = c.get("/reservations", headers=bearer(new))
        assert_status(r, 200)
        assert assert_json(r)["items"] == []


def test_only_the_operator_issues_and_revokes_car_tokens(companies):
    """POST /cars/{id}/tokens and /cars/{id}/revoke: a car gets 403 (even for
    itself), the public and a bad bearer 401, and nothing is issued or revoked."""
    a = companies["a"]
    car, target = new_car_id("asker"), new_car_id("target")
    token = issue_token(a, target)
    for op in ("tokens", "revoke"):
        for cid in (target, car):
            r = a.post(f"/cars/{cid}/{op}", car=car)
            assert_error(r, 403, {"forbidden"})
            assert "evc1." not in r.text
            assert_error(a.post(f"/cars/{cid}/{op}"), 401, {"unauthorized"})
            assert_error(a.post(f"/cars/{cid}/{op}", headers={"Authorization": "Bearer wrong"}), 401,
                         {"unauthorized"})
            assert_error(a.post(f"/cars/{cid}/{op}", headers=bearer(token)), 403, {"forbidden"})
    for c in companies.values():
        assert c.sql("SELECT 1 FROM car_revocations WHERE car_id IN (%s, %s)", (car, target)) == []
    # The target's token is still good.
    assert_status(a.get("/reservations", headers=bearer(token)), 200)


# ---------------------------------------------------------------- operators and peers

def test_an_operator_token_proves_nobody_at_another_company(companies):
    """Each company has its own operator token: a's at b is a bearer that proves
    nobody there, so 401 on an operator action, and nothing is written."""
    a, b = companies["a"], companies["b"]
    body = b.station_body()
    before = b.counts()
    assert_error(b.post("/stations", json=body, headers=a.admin), 401, {"unauthorized"})
    assert b.counts() == before
    for c in companies.values():
        assert c.sql("SELECT 1 FROM stations WHERE id = %s", (body["id"],)) == []
    assert_error(b.post(f"/cars/{new_car_id()}/tokens", headers=a.admin), 401, {"unauthorized"})
    assert_error(b.get("/reservations", headers=a.admin), 401, {"unauthorized"})
    # b's own operator token does it.
    assert_status(b.post("/stations", json=body, admin=True), 201)


def test_registration_secret_cannot_take_over_a_member(stack, companies):
    """The registration secret admits newcomers only: registering the existing id
    "a" at b again, with another URL and token, is 409 already_registered, and b
    keeps a's URL and tokens."""
    b = companies["b"]
    secret = (Path(stack["state_dir"]) / "federation-secret").read_text().strip()
    query = "SELECT url, inbound_token, outbound_token FROM peers WHERE id = 'a'"
    before = b.sql(query)
    assert len(before) == 1 and all(before[0]), before
    evil = {"id": "a", "url": "http://127.0.0.1:9/evil", "token": pysecrets.token_hex(32)}
    r = b.post("/federation/peers", json=evil, headers={"Authorization": f"Token {secret}"})
    body = assert_error(r, 409, {"already_registered"})
    assert evil["token"] not in r.text and secret not in r.text, body
    assert b.sql(query) == before, "b's peers row for a changed"
    # Without the secret, or with a wrong one: 401; still nothing changes.
    assert_error(b.post("/federation/peers", json=evil), 401, {"unauthorized"})
    assert_error(b.post("/federation/peers", json=evil,
                        headers={"Authorization": f"Token {pysecrets.token_hex(32)}"}), 401, {"unauthorized"})
    assert b.sql(query) == before, "b's peers row for a changed"
    peers = assert_json(b.get("/federation/peers"))["items"]
    assert [p["url"] for p in peers if p["company"] == "a"] == [before[0][0]], peers
