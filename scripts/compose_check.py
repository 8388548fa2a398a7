"""The HTTP half of scripts/compose-check, against the containers' published ports.

  compose_check.py wait|trip|failpoint|dashboards ENV_FILE

ENV_FILE is the env file compose-check wrote (tokens, EVC_PUBLISH_* ports).
Each step prints one line of figures and exits 1 with the reason when it fails.
"""

import secrets
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone

import requests

COMPANIES = ("a", "b", "c")


def load(path):
    env = {}
    for line in open(path, encoding="utf-8"):
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            k, v = line.split("=", 1)
            env[k] = v
    return env


def base(env, cid):
    return f"http://127.0.0.1:{env['EVC_PUBLISH_' + cid.upper()]}/api/v1"


def admin(env, cid):
    return {"Authorization": f"Bearer {env['EVC_ADMIN_TOKEN_' + cid.upper()]}"}


def fail(why):
    print(f"compose-check: {why}", file=sys.stderr)
    sys.exit(1)


def ready(env, cid):
    try:
        r = requests.get(base(env, cid) + "/health", timeout=5)
        return r.status_code == 200 and r.json().get("federation", {}).get("ready") is True
    except requests.RequestException:
        return False


def wait(env, timeout=240):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(ready(env, c) for c in COMPANIES):
            return
        time.sleep(1)
    fail("not every company's /health says the federation is formed: " +
         ", ".join(f"{c}={ready(env, c)}" for c in COMPANIES))


def ts(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def legs(env):
    """One leg at a new station of each company (the simulator takes the seeded ones
    offline now and then), a random day 30 to 300 days ahead."""
    pick = {}
    for c in COMPANIES:
        body = {"id": f"{c}-check{secrets.token_hex(4)}", "name": "compose-check", "city": "Testville",
                "lat": -12.97, "lon": -38.5, "chargers": 2, "power_kw": 150.0, "price_per_kwh": 1.99}
        r = requests.post(base(env, c) + "/stations", json=body, headers=admin(env, c), timeout=10)
        if r.status_code != 201:
            fail(f"new station at {c}: {r.status_code} {r.text[:200]}")
        pick[c] = body["id"]
    start = datetime.now(timezone.utc).replace(microsecond=0, second=0) + timedelta(
        days=30 + secrets.randbelow(270), minutes=secrets.randbelow(600))
    return [{"station_id": pick[c], "start": ts(start + timedelta(hours=2 * i)),
             "end": ts(start + timedelta(hours=2 * i + 1))} for i, c in enumerate(COMPANIES)]


def book(env, at, car):
    token = requests.post(base(env, at) + f"/cars/{car}/tokens", headers=admin(env, at), timeout=10)
    if token.status_code != 201:
        fail(f"no car token at {at}: {token.status_code} {token.text[:200]}")
    headers = {"Authorization": f"Bearer {token.json()['token']}", "Idempotency-Key": uuid.uuid4().hex}
    started = time.monotonic()
    r = requests.post(base(env, at) + "/trips", json={"legs": legs(env)}, headers=headers, timeout=60)
    return r, time.monotonic() - started, headers


def trip(env):
    car = f"compose-{secrets.token_hex(4)}"
    r, took, headers = book(env, "b", car)
    if r.status_code != 201 or r.json().get("status") != "confirmed":
        fail(f"trip at b: {r.status_code} {r.text[:300]}")
    t = r.json()
    for c in ("a", "c"):  # read at the other companies, as the car
        seen = requests.get(base(env, c) + f"/trips/{t['id']}", headers={"Authorization": headers["Authorization"]},
                            timeout=30)
        if seen.status_code != 200 or seen.json().get("status") != "confirmed":
            fail(f"trip {t['id']} read at {c}: {seen.status_code} {seen.text[:200]}")
    companies = sorted({leg.get("company") for leg in t["legs"]})
    print(f"compose-check: trip {t['id']} at b: 201 confirmed in {took * 1000:.0f} ms, legs at {companies},"
          f" read back at a and c", file=sys.stderr)


def failpoint(env):
    arm = requests.post(base(env, "a") + "/admin/failpoints", headers=admin(env, "a"),
                        json={"name": "coordinator_after_decision", "enabled": True}, timeout=10)
    if arm.status_code != 200:
        fail(f"arming the fail point: {arm.status_code} {arm.text[:200]}")
    car = f"compose-fp-{secrets.token_hex(4)}"
    try:
        r, _, headers = book(env, "a", car)
        fail(f"a answered {r.status_code} instead of dying at the fail point")
    except requests.RequestException:
        pass  # the worker killed itself mid-request: what the fail point is for
    died = time.monotonic()
    deadline = died + 120
    while time.monotonic() < deadline and not ready(env, "a"):
        time.sleep(1)
    if not ready(env, "a"):
        fail("a did not come back within 120 s of its fail point")
    back = time.monotonic() - died
    # The trip it had decided is confirmed after the restart (recovery finishes it).
    trips = requests.get(base(env, "a") + f"/trips?car_id={car}", headers=admin(env, "a"), timeout=10).json()["items"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (trips and trips[0]["status"] == "confirmed"):
        time.sleep(1)
        trips = requests.get(base(env, "a") + f"/trips?car_id={car}", headers=admin(env, "a"),
                             timeout=10).json()["items"]
    if not trips or trips[0]["status"] != "confirmed":
        fail(f"the trip a decided before dying is not confirmed after its restart: {trips}")
    print(f"compose-check: a died at coordinator_after_decision, healthy again after {back:.0f} s;"
          f" its trip {trips[0]['id']} confirmed by recovery", file=sys.stderr)


def dashboards(env):
    for c in COMPANIES:
        page = requests.get(base(env, c).rsplit("/api/v1", 1)[0] + "/", timeout=10)
        if page.status_code != 200 or "<html" not in page.text.lower():
            fail(f"{c}'s dashboard page: {page.status_code}")
        api = requests.get(base(env, c).rsplit("/api/v1", 1)[0] + "/api.html", timeout=10)
        if api.status_code != 200:
            fail(f"{c}'s API page: {api.status_code}")
        view = requests.get(base(env, c) + "/federation/overview", timeout=30)
        items = view.json().get("items", []) if view.status_code == 200 else []
        up = sorted(i["company"] for i in items if i.get("status") == "up")
        if up != list(COMPANIES):
            fail(f"{c}'s federation overview: up {up}: {view.text[:300]}")
    print("compose-check: dashboards of a, b and c answer, each sees a, b and c up", file=sys.stderr)


if __name__ == "__main__":
    steps = {"wait": wait, "trip": trip, "failpoint": failpoint, "dashboards": dashboards}
    if len(sys.argv) != 3 or sys.argv[1] not in steps:
        fail("usage: compose_check.py wait|trip|failpoint|dashboards ENV_FILE")
    steps[sys.argv[1]](load(sys.argv[2]))
