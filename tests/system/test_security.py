"""What protects the federation: rate limits, and secrets that never reach a log."""

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from conftest import assert_error, new_car_id, ts, window
from tripkit import fresh_stations, post_trip, route


def test_trip_creation_is_rate_limited_per_car(companies):
    """A car that asks for trips faster than EVC_TRIP_RATE_PER_SECOND (5/s, burst 20)
    gets 429 with Retry-After; another car is not affected. The requests go out
    together, so a slow machine cannot refill the bucket between them."""
    a = companies["a"]
    stations = fresh_stations(companies, ids=("a",), chargers=64)
    car = new_car_id("flood")
    with ThreadPoolExecutor(max_workers=30) as pool:
        answers = list(pool.map(lambda _: post_trip(a, route(stations), car_id=car)[0], range(60)))
    statuses = [r.status_code for r in answers]
    limited = [r for r in answers if r.status_code == 429]
    assert limited, f"60 simultaneous trips by one car were never limited: {statuses}"
    for r in limited:
        assert_error(r, 429, {"too_many_requests"})
        assert r.headers.get("Retry-After") == "1"
    assert statuses.count(201) >= 20, f"the burst of 20 was not honoured: {statuses}"
    assert set(statuses) <= {201, 429}, statuses
    # Someone else still gets through at once.
    r, _, _ = post_trip(a, route(stations), car_id=new_car_id("calm"))
    assert r.status_code == 201, r.text
    # Nothing was written for the refused requests.
    assert a.sql_one("SELECT count(*) FROM trips WHERE car_id = %s", (car,))[0] == statuses.count(201)


def test_no_secret_reaches_a_log(stack, companies):
    """Admin token, federation secret and tokens, MQTT passwords: none in any log."""
    state = Path(stack["state_dir"])
    secrets = {stack["companies"][0]["admin_token"], stack.get("mqtt_password") or "-"}
    secret_file = state / "federation-secret"
    if secret_file.exists():
        secrets.add(secret_file.read_text().strip())
    creds = stack.get("mqtt_credentials_file")
    if creds and Path(creds).exists():
        secrets |= {line.split(":", 1)[1].strip() for line in Path(creds).read_text().splitlines() if ":" in line}
    for c in companies.values():
        for row in c.sql("SELECT coalesce(inbound_token, ''), coalesce(outbound_token, '') FROM peers"):
            secrets |= {t for t in row if t}
    secrets.discard("")
    assert len(secrets) > 5, secrets
    logs = list((state / "logs").glob("*.log"))
    assert logs, "no log files to check"
    for log in logs:
        text = log.read_text(errors="replace")
        for s in secrets:
            assert s not in text, f"a secret ({s[:6]}...) appears in {log.name}"


def test_cancel_finish_and_checkin_need_the_admin_token(companies, company, station):
    """On REST, cancelling, finishing and checking in are operators' actions (cars do
    them over MQTT, where the broker knows who they are): without the admin token, 401
    and nothing changes."""
    a = companies["a"]
    start, end = window()
    r = a.post("/reservations", json={"station_id": station["id"], "car_id": new_car_id("auth"),
                                      "start": ts(start), "end": ts(end)})
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    for path in (f"/reservations/{rid}/cancel", f"/reservations/{rid}/checkin"):
        assert_error(a.post(path), 401, {"unauthorized"})
        assert_error(a.post(path, headers={"Authorization": "Bearer wrong"}), 401, {"unauthorized"})
    row = a.sql_one("SELECT status, checked_in_at IS NULL FROM reservations WHERE id = %s", (rid,))
    assert row == ("confirmed", True), row
    stations = fresh_stations(companies, ids=("a",))
    r, _, _ = post_trip(a, route(stations))
    assert r.status_code == 201, r.text
    for op in ("cancel", "finish"):
        assert_error(a.post(f"/trips/{r.json()['id']}/{op}"), 401, {"unauthorized"})
    assert a.get(f"/trips/{r.json()['id']}").json()["status"] == "confirmed"
