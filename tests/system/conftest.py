"""Shared fixtures for the system tests.

The tests run against a real stack started by `scripts/stack up`: three company
workers, their PostgreSQL clusters and Mosquitto. `EVC_STACK_DIR` names the
stack's folder; its `stack.json` tells where everything listens.

Every test makes its own stations and picks windows far in the future at random
offsets, so the suite can run again and again on a stack that keeps its data.
"""

import json
import os
import random
import re
import secrets
import subprocess
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import psycopg2
import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
STACK_SCRIPT = REPO / "scripts" / "stack"

# Generous: these tests check behaviour, not speed.
HTTP_TIMEOUT = 30
HEALTH_WAIT = 60

TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
CODE_RE = re.compile(r"^[a-z][a-z0-9_]*$")

# Error codes the contract gives each status. A 400 may carry `bad_request` or
# any more specific snake_case code (invalid_json, invalid_field, ...), so it is
# not narrowed here.
CONFLICT_CODES = {"conflict", "no_charger_free", "station_unavailable"}
CODES_BY_STATUS = {
    401: {"unauthorized"},
    404: {"not_found"},
    405: {"method_not_allowed"},
    409: CONFLICT_CODES,
    413: {"payload_too_large"},
    503: {"unavailable"},
}


# ---------------------------------------------------------------- time helpers

def utcnow():
    return datetime.now(timezone.utc)


def ts(t):
    """RFC 3339 UTC with second precision, as the API speaks it."""
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_ts(s):
    assert isinstance(s, str) and TS_RE.match(s), f"not a YYYY-MM-DDTHH:MM:SSZ timestamp: {s!r}"
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


# Windows draw from the operating system's randomness, never from the global
# generator, which a property-test library may seed and replay between examples.
_WINDOW_RANDOM = random.SystemRandom()


def future_start(min_days=30, max_days=300):
    """A whole-minute instant days ahead at a random offset, so runs never collide.
    (Within a year: the worker refuses bookings further ahead.)"""
    base = utcnow().replace(second=0, microsecond=0)
    return base + timedelta(days=_WINDOW_RANDOM.randint(min_days, max_days),
                            minutes=_WINDOW_RANDOM.randint(0, 24 * 60 - 1))


def window(hours=1.0, start=None):
    start = start or future_start()
    return start, start + timedelta(hours=hours)


def new_car_id(tag="car"):
    return f"{tag}-{secrets.token_hex(6)}"


# ---------------------------------------------------------------- assertions

def assert_json(resp):
    ctype = resp.headers.get("Content-Type", "")
    assert ctype.startswith("application/json"), (
        f"{resp.request.method} {resp.url}: Content-Type {ctype!r}, body {resp.text[:300]!r}")
    try:
        return resp.json()
    except ValueError:
        pytest.fail(f"{resp.request.method} {resp.url}: body is not JSON: {resp.text[:300]!r}")


def assert_status(resp, expected):
    expected = (expected,) if isinstance(expected, int) else tuple(expected)
    assert resp.status_code in expected, (
        f"{resp.request.method} {resp.url}: expected {expected}, got {resp.status_code}: "
        f"{resp.text[:500]!r}")


def assert_error(resp, status, codes=None):
    """Checks the status and the error envelope {"error":{"code","message"}}.

    `status` is an int or a collection of ints; `codes` an optional str or set
    narrowing the allowed codes (by default those the contract gives the status).
    Returns the body.
    """
    assert_status(resp, status)
    body = assert_json(resp)
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), (
        f"{resp.request.method} {resp.url}: no error envelope: {body!r}")
    err = body["error"]
    code, message = err.get("code"), err.get("message")
    assert isinstance(code, str) and CODE_RE.match(code), f"bad error code {code!r} in {body!r}"
    assert isinstance(message, str) and message.strip(), f"empty error message in {body!r}"
    if codes is None:
        codes = CODES_BY_STATUS.get(resp.status_code)
    elif isinstance(codes, str):
        codes = {codes}
    if codes is not None:
        assert code in codes, (
            f"{resp.request.method} {resp.url}: status {resp.status_code} code {code!r}, "
            f"expected one of {sorted(codes)}: {body!r}")
    return body


# ---------------------------------------------------------------- one company

class Company:
    def __init__(self, info):
        self.info = info
        self.id = info["id"]
        self.name = info.get("name", "")
        self.http_url = info["http_url"].rstrip("/")
        self.api_url = info["api_url"].rstrip("/")
        self.database_url = info["database_url"]
        self.admin_token = info["admin_token"]

    def __repr__(self):
        return f"Company({self.id})"

    # -- HTTP

    @property
    def port(self):
        return int(self.http_url.rsplit(":", 1)[1].split("/")[0])

    @property
    def admin(self):
        return {"Authorization": f"Bearer {self.admin_token}"}

    def url(self, path):
        if path.startswith("http://") or path.startswith("https://"):
            return path
        return self.api_url + path

    # Car tokens this company issued in this run, by car id: one POST each.
    _car_tokens = {}

    def car_token(self, car_id):
        """A bearer token for car_id, issued by this company's operator (cached)."""
        key = (self.id, car_id)
        if key not in Company._car_tokens:
            r = requests.post(self.url(f"/cars/{car_id}/tokens"), headers=self.admin, timeout=HTTP_TIMEOUT)
            assert r.status_code == 201, f"{self.id} did not issue a token for {car_id}: {r.status_code} {r.text[:300]}"
            Company._car_tokens[key] = r.json()["token"]
        return Company._car_tokens[key]

    def as_car(self, car_id):
        return {"Authorization": f"Bearer {self.car_token(car_id)}"}

    def request(self, method, path, admin=False, car=None, headers=None, timeout=HTTP_TIMEOUT, **kw):
        """admin: as this company's operator; car: as that car (its token)."""
        h = dict(self.admin) if admin else {}
        if car is not None:
            h.update(self.as_car(car))
        h.update(headers or {})
        return requests.request(method, self.url(path), headers=h, timeout=timeout, **kw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def patch(self, path, **kw):
        return self.request("PATCH", path, **kw)

    def health(self, timeout=HTTP_TIMEOUT):
        return requests.get(self.api_url + "/health", timeout=timeout)

    def is_healthy(self):
        try:
            r = self.health(timeout=5)
            return r.status_code == 200 and r.json().get("database") == "ok"
        except (requests.RequestException, ValueError):
            return False

    def wait_healthy(self, timeout=HEALTH_WAIT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.is_healthy():
                return
            time.sleep(0.25)
        pytest.fail(f"company {self.id}: not healthy within {timeout}s")

    def assert_alive(self):
        """The worker still answers /health with 200 (bad input must not kill it)."""
        r = self.health(timeout=10)
        assert r.status_code == 200, f"company {self.id} /health: {r.status_code} {r.text[:200]!r}"

    # -- SQL

    def connect(self):
        conn = psycopg2.connect(self.database_url, connect_timeout=10)
        conn.autocommit = True
        return conn

    def sql(self, query, params=None):
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(query, params)
                return cur.fetchall() if cur.description else None
        finally:
            conn.close()

    def sql_one(self, query, params=None):
        rows = self.sql(query, params)
        assert rows, f"no row for {query!r} {params!r}"
        return rows[0]

    def counts(self):
        """(stations, reservations) row counts, to prove nothing was written."""
        return self.sql_one("SELECT (SELECT count(*) FROM stations), (SELECT count(*) FROM reservations)")

    # -- domain helpers

    def new_station_id(self, tag="t"):
        return f"{self.id}-{tag}{secrets.token_hex(6)}"

    def station_body(self, **over):
        body = {
            "id": self.new_station_id(),
            "name": "System test station",
            "city": "Testville",
            "lat": -12.9714,
            "lon": -38.5014,
            "chargers": 2,
            "power_kw": 150.0,
            "price_per_kwh": 1.99,
        }
        body.update(over)
        return body

    def create_station(self, **over):
        body = self.station_body(**over)
        r = self.post("/stations", json=body, admin=True)
        assert_status(r, 201)
        st = assert_json(r)
        assert st["id"] == body["id"]
        return st

    def book(self, station_id, start, end, car_id=None, **kw):
        """POST /reservations as the car (its own token) unless kw says otherwise."""
        car_id = car_id or new_car_id()
        body = {"station_id": station_id, "car_id": car_id,
                "start": ts(start) if isinstance(start, datetime) else start,
                "end": ts(end) if isinstance(end, datetime) else end}
        if "admin" not in kw and "car" not in kw and "Authorization" not in (kw.get("headers") or {}):
            kw["car"] = car_id
        return self.post("/reservations", json=body, **kw)

    def book_ok(self, station_id, start, end, car_id=None):
        r = self.book(station_id, start, end, car_id)
        assert_status(r, 201)
        return assert_json(r)

    def cancel(self, reservation_id):
        return self.post(f"/reservations/{reservation_id}/cancel", admin=True)


def follow(resp, link):
    """Absolute URL of a Link target relative to the response's URL."""
    return urljoin(resp.url, link)


def next_link(resp):
    """The rel="next" target of a Link header, or None."""
    header = resp.headers.get("Link")
    if not header:
        return None
    for part in header.split(","):
        m = re.match(r'\s*<([^>]*)>\s*;(.*)$', part)
        if m and re.search(r'rel\s*=\s*"?next"?', m.group(2)):
            return follow(resp, m.group(1))
    return None


# ---------------------------------------------------------------- the stack

def stack_dir():
    d = os.environ.get("EVC_STACK_DIR")
    if not d:
        pytest.fail("EVC_STACK_DIR is not set: start the stack with scripts/stack up "
                    "and run pytest with EVC_STACK_DIR=<its folder>")
    return d


def run_stack(*args, timeout=180, check=True):
    """Runs scripts/stack with the test stack's EVC_STACK_DIR."""
    env = dict(os.environ, EVC_STACK_DIR=stack_dir())
    p = subprocess.run([str(STACK_SCRIPT), *args], env=env, capture_output=True,
                       text=True, timeout=timeout)
    if check:
        assert p.returncode == 0, (
            f"scripts/stack {' '.join(args)} exited {p.returncode}\n"
            f"stdout: {p.stdout[-2000:]}\nstderr: {p.stderr[-2000:]}")
    return p


def listening_pid(port):
    """PID of the process listening on a TCP port of this machine, or None."""
    try:
        out = subprocess.run(["ss", "-Htlnp", f"sport = :{port}"], capture_output=True,
                             text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"pid=(\d+)", out)
    return int(m.group(1)) if m else None


@pytest.fixture(scope="session")
def stack():
    path = Path(stack_dir()) / "stack.json"
    assert path.is_file(), f"{path} does not exist: is the stack up?"
    data = json.loads(path.read_text())
    assert {c["id"] for c in data["companies"]} >= {"a", "b", "c"}, data
    return data


@pytest.fixture(scope="session", autouse=True)
def validated_answers(request):
    """Every answer a test gets from the stack's servers below /api/v1 must be one
    docs/openapi.yaml describes (status for that operation, headers, body schema):
    tests/system/openapi_check.py checks each one as `requests` receives it, and an
    undocumented answer fails the test that got it. EVC_CHECK_ANSWERS=0 turns it off."""
    if os.environ.get("EVC_CHECK_ANSWERS", "1") == "0" or not os.environ.get("EVC_STACK_DIR"):
        return
    try:
        import openapi_check
    except pytest.skip.Exception:
        return  # python3-jsonschema missing: test_properties.py says so
    path = Path(os.environ["EVC_STACK_DIR"]) / "stack.json"
    if not path.is_file():
        return
    servers = []
    for c in json.loads(path.read_text())["companies"]:
        for key in ("http_url", "api_url"):
            parts = urlsplit(c[key])
            servers.append((parts.hostname, parts.port))
    openapi_check.install(servers)


@pytest.fixture(scope="session")
def companies(stack):
    cs = {c["id"]: Company(c) for c in stack["companies"]}
    for c in cs.values():
        c.wait_healthy()
    return cs


@pytest.fixture(autouse=True)
def workers_survive(companies):
    """After each test every worker must still be healthy. A worker found dead is
    started again (so one crash does not fail every later test) and the test that
    killed it gets an error naming the worker."""
    yield
    dead = []
    for c in companies.values():
        if c.is_healthy():
            continue
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not c.is_healthy():
            time.sleep(0.25)
        if c.is_healthy():
            continue
        dead.append(c.id)
        run_stack("start", c.id, "db", check=False)
        run_stack("stop", c.id, "worker", check=False)
        run_stack("start", c.id, "worker", check=False)
    if dead:
        pytest.fail(f"worker(s) {dead} were not healthy after this test (restarted)")


@pytest.fixture
def company(companies):
    """Company a, the one most tests talk to."""
    return companies["a"]


@pytest.fixture
def station(company):
    """A fresh active station with 2 chargers on company a."""
    return company.create_station(chargers=2)

