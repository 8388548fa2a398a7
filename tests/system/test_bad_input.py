"""Hostile and broken input: every request gets the right 4xx with the error
envelope, nothing is written, and the worker keeps serving.

Booking endpoints need a credential before they look at the input (a public
caller gets 401 first), so the bad requests here are sent as the car the body
names, or as this company's operator when the body's car_id itself is the bad
part (a car naming another car would get 403 instead)."""

import json
import re
import secrets
import subprocess
import uuid
from datetime import timedelta

import pytest
import requests

from conftest import assert_error, assert_json, assert_status, future_start, new_car_id, ts, utcnow


@pytest.fixture(scope="module")
def target(companies):
    """Company a and a fresh active station of its own, shared by this module's
    cases (none of them may book it)."""
    c = companies["a"]
    return c, c.create_station(chargers=2)


def good(station_id, /, **over):
    start = future_start()
    body = {"station_id": station_id, "car_id": new_car_id(), "start": ts(start),
            "end": ts(start + timedelta(hours=1))}
    body.update(over)
    return body


def expect_refused(company, method, path, status, codes=None, admin=False, car=None, **kw):
    """Sends one bad request (as the operator with admin, as that car with car);
    checks status, envelope, no write, worker alive."""
    if car is not None:
        company.car_token(car)  # issued before counting: it writes no station nor reservation
    before = company.counts()
    r = company.request(method, path, admin=admin, car=car, **kw)
    body = assert_error(r, status, codes)
    assert company.counts() == before, f"{method} {path} wrote something although refused"
    company.assert_alive()
    return body


# ---------------------------------------------------------------- reservations: body shape

RAW_BODIES = [
    ("truncated_json", b'{"station_id": '),
    ("trailing_garbage", b'{"station_id": "a-x"} xyz'),
    ("single_quotes", b"{'station_id': 'a-x'}"),
    ("json_array", b"[]"),
    ("json_array_of_object", None),  # filled in with a valid reservation in an array
    ("json_string", b'"hello"'),
    ("json_number", b"42"),
    ("json_null", b"null"),
    ("json_true", b"true"),
    ("empty_body", b""),
    ("whitespace_body", b"   \n "),
    ("not_utf8", b'{"station_id": "\xff\xfe", "car_id": "x"}'),
    ("nul_byte", b'{"station_id": "a-x\x00"}'),
    ("deep_nesting", b"[" * 5000 + b"]" * 5000),
]


@pytest.mark.parametrize("name,raw", RAW_BODIES, ids=[n for n, _ in RAW_BODIES])
def test_reservation_body_that_is_not_an_object_is_400(target, name, raw):
    company, st = target
    if name == "json_array_of_object":
        raw = json.dumps([good(st["id"])]).encode()
    expect_refused(company, "POST", "/reservations", 400, car=new_car_id("raw"), data=raw,
                   headers={"Content-Type": "application/json"})


# ---------------------------------------------------------------- reservations: fields

def _bad_fields(sid):
    start = future_start()
    end = start + timedelta(hours=1)
    year = start.year + 1
    past = utcnow().replace(microsecond=0)
    return [
        ("station_number", {"station_id": 42}),
        ("station_null", {"station_id": None}),
        ("station_object", {"station_id": {"id": sid}}),
        ("car_number", {"car_id": 123}),
        ("car_null", {"car_id": None}),
        ("car_list", {"car_id": ["x"]}),
        ("car_huge_float", {"car_id": 1e308}),
        ("car_huge_int", {"car_id": 99999999999999999999}),
        ("car_empty", {"car_id": ""}),
        ("car_space", {"car_id": "car 1"}),
        ("car_slash", {"car_id": "car/1"}),
        ("car_too_long", {"car_id": "c" * 65}),
        ("car_umlaut", {"car_id": "carü"}),
        ("car_nul", {"car_id": "car\u0000x"}),
        ("car_rtl_mark", {"car_id": "\u200fcar"}),
        ("car_rtl_override", {"car_id": "car\u202exyz"}),
        ("car_emoji", {"car_id": "car\U0001F697"}),
        ("car_sql", {"car_id": "x'; DROP TABLE reservations; --"}),
        ("start_number", {"start": 1767225600}),
        ("start_huge", {"start": 1e308}),
        ("end_huge_int", {"end": 99999999999999999999}),
        ("start_null", {"start": None}),
        ("end_bool", {"end": True}),
        ("month_13", {"start": f"{year}-13-01T00:00:00Z", "end": f"{year}-13-01T01:00:00Z"}),
        ("feb_30", {"start": f"{year}-02-30T10:00:00Z", "end": f"{year}-02-30T11:00:00Z"}),
        ("hour_25", {"start": f"{year}-11-23T25:00:00Z", "end": f"{year}-11-24T02:00:00Z"}),
        ("minute_61", {"start": f"{year}-11-23T08:61:00Z"}),
        ("yesterday", {"start": "yesterday"}),
        ("now", {"start": "now"}),
        ("space_no_seconds", {"start": f"{year}-11-23 08:00", "end": f"{year}-11-23 09:00"}),
        ("date_only", {"start": f"{year}-11-23", "end": f"{year}-11-24"}),
        ("no_zone", {"start": f"{year}-11-23T08:00:00", "end": f"{year}-11-23T09:00:00"}),
        ("empty_time", {"start": ""}),
        ("garbage_suffix", {"start": ts(start) + "garbage"}),
        ("year_99999", {"end": "99999-01-01T00:00:00Z"}),
        # Windows set whole: good() picks a random start of its own.
        ("zero_duration", {"start": ts(start), "end": ts(start)}),
        ("end_before_start", {"start": ts(end), "end": ts(start)}),
        ("negative_hours", {"start": ts(start), "end": ts(start - timedelta(hours=5))}),
        ("longer_than_24h", {"start": ts(start), "end": ts(start + timedelta(hours=24, minutes=1))}),
        ("way_longer", {"start": ts(start), "end": ts(start + timedelta(days=400))}),
        ("in_the_past", {"start": ts(past - timedelta(days=1)),
                         "end": ts(past - timedelta(days=1) + timedelta(hours=1))}),
        ("started_10_min_ago", {"start": ts(past - timedelta(minutes=10)),
                                "end": ts(past + timedelta(minutes=50))}),
        ("epoch", {"start": "1970-01-01T00:00:00Z", "end": "1970-01-01T01:00:00Z"}),
        # Time bounds: years 2000..2099, at most EVC_WINDOW_MAX_AHEAD_DAYS (366) ahead.
        ("year_1999", {"start": "1999-12-31T22:00:00Z", "end": "1999-12-31T23:00:00Z"}),
        ("year_2100", {"start": "2100-01-01T00:00:00Z", "end": "2100-01-01T01:00:00Z"}),
        ("beyond_366_days", {"start": ts(past + timedelta(days=367)),
                             "end": ts(past + timedelta(days=367, hours=1))}),
    ]


BAD_FIELD_NAMES = [n for n, _ in _bad_fields("a-x")]


def as_booker(body):
    """Who sends a booking body: the car it names, or the operator when its car_id
    is not a usable car id (the operator books on behalf of a car)."""
    car = body.get("car_id")
    if isinstance(car, str) and re.fullmatch(r"[A-Za-z0-9_.:-]{1,64}", car):
        return {"car": car}
    return {"admin": True}


@pytest.mark.parametrize("name", BAD_FIELD_NAMES)
def test_reservation_with_bad_field_is_400(target, name):
    company, st = target
    over = dict(_bad_fields(st["id"]))[name]
    body = good(st["id"], **over)
    expect_refused(company, "POST", "/reservations", 400, json=body, **as_booker(body))


@pytest.mark.parametrize("missing", ["station_id", "car_id", "start", "end"])
def test_reservation_missing_field_is_400(target, missing):
    """As the operator every field is required (car_id names the car it books for);
    as a car, the same holes except car_id (a car may omit it: it books for itself)."""
    company, st = target
    body = good(st["id"])
    del body[missing]
    expect_refused(company, "POST", "/reservations", 400, admin=True, json=body)
    if missing != "car_id":
        expect_refused(company, "POST", "/reservations", 400, car=body["car_id"], json=body)


def test_reservation_with_all_fields_missing_is_400(target):
    company, _ = target
    expect_refused(company, "POST", "/reservations", 400, admin=True, json={})
    expect_refused(company, "POST", "/reservations", 400, car=new_car_id(), json={})


def test_unknown_fields_are_ignored(target):
    company, st = target
    body = good(st["id"], comment="please", priority=9, nested={"a": [1, 2]})
    r = company.post("/reservations", json=body, car=body["car_id"])
    assert_status(r, 201)
    res = assert_json(r)
    assert "comment" not in res and "priority" not in res
    assert_status(company.cancel(res["id"]), 200)


# ---------------------------------------------------------------- odd station ids

@pytest.mark.parametrize("sid", [
    "a-ü",
    "a-\u00fc\u00fc",
    "\u0000",
    "a-x\u0000y",
    "a-\u200ftest",
    "a-\u202etset",
    "\u200f",
    "a-" + "x" * 5000,
    "../../etc/passwd",
    "a-x' OR '1'='1",
    "",
], ids=["umlaut", "umlauts", "nul", "inner_nul", "rtl_mark", "rtl_override", "only_rtl",
        "very_long", "path", "sql", "empty"])
def test_reservation_on_odd_station_id_is_400_or_404(target, sid):
    company, _ = target
    body = good(sid)
    expect_refused(company, "POST", "/reservations", (400, 404), json=body, car=body["car_id"])


def test_reservation_on_unknown_station_is_404(target):
    company, _ = target
    body = good(company.new_station_id("ghost"))
    expect_refused(company, "POST", "/reservations", 404, "not_found", json=body, car=body["car_id"])


@pytest.mark.parametrize("path", [
    "/stations/a-%C3%BC",
    "/stations/%00",
    "/stations/a-%E2%80%AEtest",
    "/stations/" + "a" * 4000,
    "/reservations/%00",
], ids=["umlaut", "nul", "rtl", "long", "res_nul"])
def test_odd_ids_in_paths_are_refused_cleanly(target, path):
    """As the operator, who may read everything: the refusal is about the id."""
    company, _ = target
    r = company.get(path, admin=True)
    assert_error(r, (400, 404, 414))
    company.assert_alive()


def _raw_get(company, raw_path):
    """GET with the path sent byte for byte (no client-side normalisation)."""
    import socket
    with socket.create_connection(("127.0.0.1", company.port), timeout=30) as s:
        s.sendall(b"GET " + raw_path.encode() + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data


@pytest.mark.parametrize("raw_path", [
    "/../../../../../../etc/passwd",
    "/api/v1/../../../../../etc/passwd",
    "/api/v1/reservations/..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    "/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
], ids=["plain", "api", "encoded_api", "dots_encoded", "slash_encoded"])
def test_path_traversal_never_leaks_files(target, raw_path):
    company, _ = target
    data = _raw_get(company, raw_path)
    status = int(data.split(b" ", 2)[1])
    assert 400 <= status < 500, data[:300]
    assert b"root:" not in data, "a file outside the static folder was served"
    company.assert_alive()


# ---------------------------------------------------------------- sizes and content types

def test_1mb_body_is_413(target):
    company, st = target
    body = good(st["id"], padding="x" * (1024 * 1024))
    expect_refused(company, "POST", "/reservations", 413, "payload_too_large", json=body, car=body["car_id"])


def test_body_just_over_64_kib_is_413(target):
    company, st = target
    body = good(st["id"])
    raw = json.dumps(body)
    pad = 64 * 1024 + 1 - len(raw) - len(', "padding": ""')
    body["padding"] = "x" * pad
    data = json.dumps(body).encode()
    assert len(data) == 64 * 1024 + 1
    expect_refused(company, "POST", "/reservations", 413, "payload_too_large", data=data,
                   car=body["car_id"], headers={"Content-Type": "application/json"})


def test_body_just_under_64_kib_is_served(target):
    company, st = target
    body = good(st["id"])
    body["padding"] = "x" * (60 * 1024)
    r = company.post("/reservations", json=body, car=body["car_id"])
    assert_status(r, 201)
    assert_status(company.cancel(assert_json(r)["id"]), 200)


def _chunks(data, size=4096):
    for i in range(0, len(data), size):
        yield data[i:i + size]


def test_chunked_body_is_read_whole(target):
    """A body without Content-Length (chunked) is read to its end and served."""
    company, st = target
    body = good(st["id"])
    data = json.dumps(body).encode()
    r = company.post("/reservations", data=_chunks(data, 7), car=body["car_id"],
                     headers={"Content-Type": "application/json"})
    assert_status(r, 201)
    assert_status(company.cancel(assert_json(r)["id"]), 200)


def test_chunked_body_over_64_kib_is_413(target):
    """Without a Content-Length to refuse up front, the cap still holds."""
    company, st = target
    body = good(st["id"], padding="x" * (512 * 1024))
    data = json.dumps(body).encode()
    expect_refused(company, "POST", "/reservations", 413, "payload_too_large", car=body["car_id"],
                   data=_chunks(data), headers={"Content-Type": "application/json"})


def test_1mb_station_body_is_413(target):
    company, _ = target
    body = company.station_body(name="n" * (1024 * 1024))
    expect_refused(company, "POST", "/stations", 413, "payload_too_large", admin=True, json=body)


def test_lying_content_length_is_refused(target):
    """A Content-Length bigger than the body sent: the worker must not hang forever
    nor crash; it answers 400/408/413 or closes the connection."""
    import socket
    company, st = target
    host, port = company.http_url.split("//")[1].split(":")
    path = company.api_url.split(str(company.port), 1)[1] + "/reservations"
    body = good(st["id"])
    payload = json.dumps(body).encode()
    auth = company.as_car(body["car_id"])["Authorization"].encode()
    before = company.counts()
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nAuthorization: " + auth + b"\r\n"
                  b"Content-Type: application/json\r\nContent-Length: 100000000\r\n\r\n" + payload)
        s.shutdown(socket.SHUT_WR)
        data = b""
        try:
            while chunk := s.recv(65536):
                data += chunk
        except ConnectionResetError:
            pass
        except socket.timeout:
            pytest.fail(f"worker neither answered nor closed within 30 s; got {data[:200]!r}")
    if data:
        status = int(data.split(b" ", 2)[1])
        assert status in (400, 408, 413), data[:300]
    assert company.counts() == before
    company.assert_alive()


# ---------------------------------------------------------------- media type: 415

# What clients send when the body is not declared JSON: curl -d (form), a
# browser's fetch of a string (text/plain), a hand-rolled client (none), a JSON
# that is not UTF-8, a look-alike.
WRONG_MEDIA_TYPES = ["text/plain;charset=UTF-8", "application/x-www-form-urlencoded", None,
                     "application/json; charset=iso-8859-1", "application/jsonp", "multipart/form-data; boundary=x"]


def writes(company):
    """Rows every body-taking route may write, and the stations' last change."""
    return company.sql_one(
        "SELECT (SELECT count(*) FROM stations), (SELECT max(updated_at) FROM stations),"
        " (SELECT count(*) FROM reservations), (SELECT count(*) FROM waitlist), (SELECT count(*) FROM trips),"
        " (SELECT count(*) FROM peers), (SELECT count(*) FROM tx_decisions), (SELECT count(*) FROM tx_markers),"
        " (SELECT count(*) FROM pg_prepared_xacts)")


def body_routes(companies, st):
    """One request per body-taking route family, each with a body the route
    would act on if it were declared JSON: (method, path, company, headers, body)."""
    a, b = companies["a"], companies["b"]
    car = new_car_id("mt")
    start = future_start()
    win = {"start": ts(start), "end": ts(start + timedelta(hours=1))}
    as_car = a.as_car(car)
    peer = {"Authorization": "Token " + a.sql_one("SELECT outbound_token FROM peers WHERE id = %s", (b.id,))[0]}
    gid = f"evc_{a.id}_{secrets.token_hex(16)}_r{secrets.token_hex(4)}"
    return {
        "stations_create": ("POST", "/stations", a, a.admin, a.station_body()),
        "stations_update": ("PATCH", f"/stations/{st['id']}", a, a.admin, {"name": "renamed by a refused body"}),
        "reservations": ("POST", "/reservations", a, as_car, good(st["id"], car_id=car)),
        "waitlist": ("POST", "/waitlist", a, as_car, dict(station_id=st["id"], expires_at=win["start"], **win)),
        "trips": ("POST", "/trips", a, dict(as_car, **{"Idempotency-Key": secrets.token_hex(8)}),
                  {"legs": [dict(station_id=st["id"], **win)]}),
        "routes_plan": ("POST", "/routes/plan", a, as_car,
                        {"origin": "Testville", "destination": "Testville", "departure": win["start"],
                         "battery": {"capacity_kwh": 60, "soc": 60}}),
        "availability_batch": ("POST", "/availability/batch", a, {}, {"windows": [dict(station_id=st["id"], **win)]}),
        "session": ("POST", "/session", a, {}, {"token": a.admin_token}),
        "federation_peers": ("POST", "/federation/peers", a, a.admin, {"company": "z", "url": "http://127.0.0.1:9"}),
        "federation_prepare": ("POST", "/federation/prepare", b, peer,
                               {"gid": gid, "trip_id": str(uuid.uuid4()), "coordinator": a.id, "op": "reserve",
                                "car_id": car, "legs": []}),
        "federation_commit": ("POST", "/federation/commit", b, peer, {"gid": gid}),
        "federation_abort": ("POST", "/federation/abort", b, peer, {"gid": gid}),
        "admin_failpoints": ("POST", "/admin/failpoints", a, a.admin, {"name": "coordinator_after_decision", "enabled": False}),
    }


ROUTE_FAMILIES = ["stations_create", "stations_update", "reservations", "waitlist", "trips", "routes_plan",
                  "availability_batch", "session", "federation_peers", "federation_prepare", "federation_commit",
                  "federation_abort", "admin_failpoints"]


@pytest.mark.parametrize("family", ROUTE_FAMILIES)
def test_body_not_declared_json_is_415_and_writes_nothing(companies, target, family):
    """Every route that takes a body refuses one that is not sent as
    application/json (or not declared at all) with 415, before reading it:
    nothing written, no cookie, the worker serving."""
    method, path, company, headers, body = body_routes(companies, target[1])[family]
    data = json.dumps(body).encode()
    for ctype in WRONG_MEDIA_TYPES:
        h = dict(headers, **({"Content-Type": ctype} if ctype is not None else {}))
        before = writes(company)
        r = requests.request(method, company.url(path), headers=h, data=data, timeout=30)
        envelope = assert_error(r, 415, "unsupported_media_type")
        assert "application/json" in envelope["error"]["message"], envelope
        assert "Set-Cookie" not in r.headers, (family, ctype)
        assert writes(company) == before, f"{family} with Content-Type {ctype!r} wrote something although refused"
    company.assert_alive()


@pytest.mark.parametrize("ctype", ["application/json", "application/json; charset=utf-8", "Application/JSON;charset=UTF-8",
                                   'application/json; charset="utf-8"'])
def test_json_media_types_clients_send_are_served(target, ctype):
    """requests (json=), Postman and Insomnia send application/json; browsers'
    fetch and some SDKs add a charset: all are served."""
    company, st = target
    body = good(st["id"])
    company.car_token(body["car_id"])
    before = company.counts()
    r = company.post("/reservations", data=json.dumps(body), car=body["car_id"], headers={"Content-Type": ctype})
    assert_status(r, 201)
    assert company.counts()[1] == before[1] + 1
    assert_status(company.cancel(assert_json(r)["id"]), 200)


def test_curl_json_is_served_and_curl_data_is_415(target):
    """The real curl: -d sends application/x-www-form-urlencoded (refused with
    a message that says what to send), --json sends application/json (served)."""
    company, st = target
    body = good(st["id"])
    auth = f"Authorization: Bearer {company.car_token(body['car_id'])}"
    before = company.counts()
    url = company.url("/reservations")
    out = subprocess.run(["curl", "-s", "-H", auth, "-d", json.dumps(body), url],
                         capture_output=True, text=True, timeout=30).stdout
    assert json.loads(out)["error"]["code"] == "unsupported_media_type", out
    assert company.counts() == before
    out = subprocess.run(["curl", "-s", "-H", auth, "--json", json.dumps(body), url],
                         capture_output=True, text=True, timeout=30).stdout
    created = json.loads(out)
    assert created.get("status") in ("confirmed", "held"), out
    assert company.counts()[1] == before[1] + 1
    assert_status(company.cancel(created["id"]), 200)


# ---------------------------------------------------------------- stations with bad bodies

@pytest.mark.parametrize("raw", [b"{", b"[]", b"[{}]", b'"a"', b"", b"null", b"{}"],
                         ids=["truncated", "array", "array_obj", "string", "empty", "null",
                              "empty_object"])
def test_station_body_that_is_not_a_station_is_400(target, raw):
    company, _ = target
    expect_refused(company, "POST", "/stations", 400, admin=True, data=raw,
                   headers={"Content-Type": "application/json"})


@pytest.mark.parametrize("over", [
    {"chargers": "4"},
    {"chargers": 1e308},
    {"chargers": 99999999999999999999},
    {"chargers": -99999999999999999999},
    {"lat": 1e308},
    {"lon": -1e308},
    {"power_kw": 1e308},
    {"price_per_kwh": 99999999999999999999},
    {"id": "a-ü"},
    {"id": "a-\u0000"},
    {"id": "a-\u200fx"},
    {"id": "\u202ea-x"},
    {"name": "x" * 201},
    {"name": "nul\u0000inside"},
], ids=lambda o: json.dumps(o)[:40])
def test_station_with_hostile_values_is_400(target, over):
    company, _ = target
    expect_refused(company, "POST", "/stations", 400, admin=True,
                   json=company.station_body(**over))


@pytest.mark.parametrize("raw", [b"{", b"[]", b"null", b""], ids=["truncated", "array", "null", "empty"])
def test_patch_with_bad_body_is_400(target, raw):
    company, st = target
    expect_refused(company, "PATCH", f"/stations/{st['id']}", 400, admin=True, data=raw,
                   headers={"Content-Type": "application/json"})


# ---------------------------------------------------------------- query strings

@pytest.mark.parametrize("params", [
    {"limit": "abc"},
    {"limit": "-1"},
    {"limit": "501"},
    {"limit": "1e3"},
    {"limit": "99999999999999999999"},
    {"offset": "-5"},
    {"offset": "x"},
    {"from": "garbage"},
    {"to": "2026-13-01T00:00:00Z"},
], ids=lambda p: json.dumps(p))
def test_bad_list_parameters_are_400(target, params):
    """As the operator, whose list is every reservation, and as a car, whose list is its own."""
    company, _ = target
    expect_refused(company, "GET", "/reservations", 400, admin=True, params=params)
    expect_refused(company, "GET", "/reservations", 400, car=new_car_id("lister"), params=params)


@pytest.mark.parametrize("params", [
    {"status": "exploded"},
    {"trip_id": "not-a-uuid"},
    {"station_id": "a-\u00fc\u0000"},
    {"car_id": "x' OR '1'='1"},
], ids=lambda p: json.dumps(p))
def test_odd_list_filters_are_400_or_match_nothing(target, params):
    """Filters the contract does not validate: a 400, or an empty list; never a 5xx.
    Asked by the operator, who would see every match."""
    company, _ = target
    r = company.get("/reservations", params=params, admin=True)
    if r.status_code == 200:
        body = assert_json(r)
        assert body["items"] == [] and body["total"] == 0, body
    else:
        assert_error(r, 400)
    company.assert_alive()


# ---------------------------------------------------------------- routes and methods

@pytest.mark.parametrize("path", ["/nope", "/stations/a-x/nope", "/reservations/a/b/c", "/"])
def test_unknown_route_is_404_with_envelope(target, path):
    company, _ = target
    assert_error(company.get(path), 404, "not_found")
    company.assert_alive()


@pytest.mark.parametrize("method,path", [
    ("DELETE", "/stations"),
    ("PUT", "/reservations"),
    ("DELETE", "/reservations"),
    ("PATCH", "/reservations"),
    ("POST", "/health"),
    ("GET", "/reservations/{res}/cancel"),
    ("PUT", "/stations/{station}"),
    ("POST", "/stations/{station}/availability"),
])
def test_wrong_method_on_known_route_is_405(target, method, path):
    company, st = target
    res_id = "00000000-0000-4000-8000-000000000000"
    p = path.format(res=res_id, station=st["id"])
    expect_refused(company, method, p, 405, "method_not_allowed", admin=True, json={})


def test_worker_survives_a_burst_of_garbage(target):
    """200 broken requests back to back, from a car (so they reach the parser); the
    worker still serves a real booking."""
    company, st = target
    car = new_car_id("garbage")
    headers = dict(company.as_car(car), **{"Content-Type": "application/json"})
    before = company.counts()
    garbage = [b"{", b"[1,2", b"\x00\x01\x02", b'{"station_id":1e999}', b'{"a":' * 50]
    with requests.Session() as s:
        for i in range(200):
            r = s.post(company.url("/reservations"), data=garbage[i % len(garbage)],
                       headers=headers, timeout=30)
            assert 400 <= r.status_code < 500 and r.status_code not in (401, 403), \
                (i, r.status_code, r.text[:200])
    assert company.counts() == before
    company.assert_alive()
    body = good(st["id"], car_id=car)
    r = company.post("/reservations", json=body, car=car)
    assert_status(r, 201)
    assert_status(company.cancel(assert_json(r)["id"]), 200)
