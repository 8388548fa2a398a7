"""Who may do what (workers/company/core/policy.c, the README's matrix), walked
action by action against company a's server, for every kind of caller:

  anonymous        no credential
  car_a            the car that owns the items (its token, issued by a)
  car_b            another car (its token, issued by b: valid everywhere)
  operator_a       the operator of the company that keeps the items
  operator_b       b's operator token, shown at a: it proves nobody there
  peer_b           b's server (the token a issued it): the coordinating peer
  peer_c           c's server: another peer

Every cell gives the expected status; every refusal must leave every database
of the federation as it was.
"""

import secrets
import uuid
from pathlib import Path

import pytest
import requests

from conftest import HTTP_TIMEOUT, new_car_id, stack_dir, ts, window
from tripkit import fresh_stations, route

ACTORS = ["anonymous", "car_a", "car_b", "operator_a", "operator_b", "peer_b", "peer_c"]

def fingerprint(w):
    """The world's rows in every database of the federation (its cars, stations and
    trips only: other tests' bookings may expire meanwhile), to prove a refusal
    wrote nothing."""
    cars, stations = list(w.cars), [w.station] + list(w.stations_ab)
    trips = [str(t) for (t,) in w.a.sql("SELECT id FROM trips WHERE car_id = ANY(%s)", (cars,))]
    queries = {
        "stations": ("SELECT x::text FROM stations x WHERE id = ANY(%s)", stations),
        "reservations": ("SELECT x::text FROM reservations x WHERE car_id = ANY(%s)", cars),
        "trips": ("SELECT x::text FROM trips x WHERE car_id = ANY(%s)", cars),
        "waitlist": ("SELECT x::text FROM waitlist x WHERE car_id = ANY(%s)", cars),
        "tx_markers": ("SELECT x::text FROM tx_markers x WHERE trip_id::text = ANY(%s)", trips),
        "car_revocations": ("SELECT x::text FROM car_revocations x WHERE car_id = ANY(%s)", cars),
        "prepared": ("SELECT gid FROM pg_prepared_xacts WHERE split_part(gid, '_', 3) = ANY(%s)",
                     [t.replace("-", "") for t in trips]),
        "peers": ("SELECT id || ' ' || url || ' ' || coalesce(inbound_token, '') || ' ' || coalesce(outbound_token, '')"
                  " FROM peers WHERE cardinality(%s::text[]) >= 0", []),
    }
    out = {}
    for cid, c in w.companies.items():
        for name, (sql, arg) in queries.items():
            out[(cid, name)] = sorted(row[0] for row in c.sql(sql, (arg,)))
    return out


class World:
    """The items of car A at company a, and a header per actor."""

    def __init__(self, companies):
        self.companies = companies
        self.a, self.b, self.c = companies["a"], companies["b"], companies["c"]
        self.car_a, self.car_b = new_car_id("own"), new_car_id("other")
        self.cars = {self.car_a, self.car_b}
        self.station = self.a.create_station(chargers=4)["id"]
        self.stations_ab = fresh_stations(companies, ("a", "b"), chargers=4)
        self.placeholders = []
        peer_token = lambda caller: caller.sql_one("SELECT outbound_token FROM peers WHERE id = 'a'")[0]
        self.headers = {
            "anonymous": {},
            "car_a": self.a.as_car(self.car_a),
            "car_b": self.b.as_car(self.car_b),
            "operator_a": self.a.admin,
            "operator_b": self.b.admin,
            "peer_b": {"Authorization": f"Token {peer_token(self.b)}"},
            "peer_c": {"Authorization": f"Token {peer_token(self.c)}"},
        }

    # -- items of car A, made fresh by its own token
    def new_owner(self):
        """A fresh car A for a case that is allowed, so the per-car limits of one car
        are not what the matrix measures."""
        self.car_a = new_car_id("own")
        self.cars.add(self.car_a)
        self.headers["car_a"] = self.a.as_car(self.car_a)

    def reservation(self):
        start, end = window()
        r = self.a.post("/reservations", car=self.car_a,
                        json={"station_id": self.station, "start": ts(start), "end": ts(end)})
        assert r.status_code == 201, r.text
        return r.json()["id"]

    def trip(self):
        r = self.a.post("/trips", car=self.car_a, headers={"Idempotency-Key": secrets.token_hex(8)},
                        json={"legs": route(self.stations_ab)})
        assert r.status_code == 201, r.text
        return r.json()["id"]

    def placeholder_peer(self):
        """A made-up peer registered at a with the registration secret (nobody listens at its URL)."""
        secret = (Path(stack_dir()) / "federation-secret").read_text().strip()
        pid = "z" + secrets.token_hex(4)
        r = self.a.post("/federation/peers", headers={"Authorization": f"Token {secret}"},
                        json={"id": pid, "url": "http://127.0.0.1:9", "token": secrets.token_hex(32)})
        assert r.status_code == 201, r.text
        self.placeholders.append(pid)
        return pid

    def waitlist(self):
        start, end = window()
        r = self.a.post("/waitlist", car=self.car_a, json={
            "station_id": self.station, "start": ts(start), "end": ts(end), "expires_at": ts(end)})
        assert r.status_code == 201, r.text
        return r.json()["id"]


@pytest.fixture(scope="module")
def world(companies):
    return World(companies)


def booking_body(w):
    start, end = window()
    return {"station_id": w.station, "car_id": w.car_a, "start": ts(start), "end": ts(end)}


def trip_body(w):
    return {"car_id": w.car_a, "legs": route(w.stations_ab)}


def waitlist_body(w):
    start, end = window()
    return {"station_id": w.station, "car_id": w.car_a, "start": ts(start), "end": ts(end), "expires_at": ts(end)}


def plan_body(w):
    return {"car_id": w.car_a, "origin": "João Pessoa", "destination": "Feira de Santana", "departure": ts(window()[0]),
            "battery": {"capacity_kwh": 50, "soc": 60, "consumption_kwh_per_100km": 18.5, "target_soc": 90}}


def prepare_cancel(w):
    """A peer asks a to prepare the cancel of car A's trip (legs booked by a itself)."""
    trip = w.trip()
    gid = f"evc_b_{trip.replace('-', '')}_c{secrets.token_hex(4)}"
    legs = w.a.sql("SELECT station_id, lower(during), upper(during) FROM reservations WHERE trip_id = %s", (trip,))
    body = {"gid": gid, "trip_id": trip, "coordinator": "b", "op": "cancel", "car_id": w.car_a,
            "legs": [{"index": 0, "station_id": s, "start": ts(x), "end": ts(y)} for s, x, y in legs]}
    return "/federation/prepare", body


# action: (method, path maker, body maker, {actor: expected status}); the path maker
# may make a fresh item (only when the actor is allowed, so refusals see the same world).
R401, R403, R404 = 401, 403, 404
MATRIX = {
    "catalogue.read": ("GET", lambda w, ok: "/stations", None,
                       dict(anonymous=200, car_a=200, car_b=200, operator_a=200, operator_b=R401, peer_b=200, peer_c=200)),
    "route.plan": ("POST", lambda w, ok: "/routes/plan", plan_body,
                   dict(anonymous=R401, car_a=200, car_b=R403, operator_a=200, operator_b=R401, peer_b=R403, peer_c=R403)),
    "reservation.create": ("POST", lambda w, ok: "/reservations", booking_body,
                           dict(anonymous=R401, car_a=201, car_b=R403, operator_a=201, operator_b=R401, peer_b=R403,
                                peer_c=R403)),
    "reservation.read": ("GET", lambda w, ok: f"/reservations/{w.reservation() if ok else w.shared['res']}", None,
                         dict(anonymous=R401, car_a=200, car_b=R404, operator_a=200, operator_b=R401, peer_b=R403,
                              peer_c=R403)),
    "reservation.cancel": ("POST", lambda w, ok: f"/reservations/{w.reservation() if ok else w.shared['res']}/cancel", None,
                           dict(anonymous=R401, car_a=200, car_b=R404, operator_a=200, operator_b=R401, peer_b=R403,
                                peer_c=R403)),
    "reservation.checkin": ("POST", lambda w, ok: f"/reservations/{w.reservation() if ok else w.shared['res']}/checkin",
                            None, dict(anonymous=R401, car_a=200, car_b=R404, operator_a=200, operator_b=R401,
                                       peer_b=R403, peer_c=R403)),
    "trip.create": ("POST", lambda w, ok: "/trips", trip_body,
                    dict(anonymous=R401, car_a=201, car_b=R403, operator_a=201, operator_b=R401, peer_b=R403,
                         peer_c=R403)),
    "trip.read": ("GET", lambda w, ok: f"/trips/{w.trip() if ok else w.shared['trip']}", None,
                  dict(anonymous=R401, car_a=200, car_b=R404, operator_a=200, operator_b=R401, peer_b=R403, peer_c=R403)),
    "trip.cancel": ("POST", lambda w, ok: f"/trips/{w.trip() if ok else w.shared['trip']}/cancel", None,
                    dict(anonymous=R401, car_a=200, car_b=R404, operator_a=200, operator_b=R401, peer_b=R403,
                         peer_c=R403)),
    "trip.finish": ("POST", lambda w, ok: f"/trips/{w.trip() if ok else w.shared['trip']}/finish", None,
                    dict(anonymous=R401, car_a=200, car_b=R404, operator_a=200, operator_b=R401, peer_b=R403,
                         peer_c=R403)),
    "waitlist.join": ("POST", lambda w, ok: "/waitlist", waitlist_body,
                      dict(anonymous=R401, car_a=201, car_b=R403, operator_a=201, operator_b=R401, peer_b=R403,
                           peer_c=R403)),
    "waitlist.read": ("GET", lambda w, ok: f"/waitlist/{w.waitlist() if ok else w.shared['wait']}", None,
                      dict(anonymous=R401, car_a=200, car_b=R404, operator_a=200, operator_b=R401, peer_b=R403,
                           peer_c=R403)),
    "waitlist.withdraw": ("DELETE", lambda w, ok: f"/waitlist/{w.waitlist() if ok else w.shared['wait']}", None,
                          dict(anonymous=R401, car_a=200, car_b=R404, operator_a=200, operator_b=R401, peer_b=R403,
                               peer_c=R403)),
    "car.data.read": ("GET", lambda w, ok: f"/cars", None,
                      dict(anonymous=R401, car_a=200, car_b=200, operator_a=200, operator_b=R401, peer_b=R403,
                           peer_c=R403)),
    "car.token.manage": ("POST", lambda w, ok: f"/cars/{w.car_a}/tokens", None,
                         dict(anonymous=R401, car_a=R403, car_b=R403, operator_a=201, operator_b=R401, peer_b=R403,
                              peer_c=R403)),
    "station.manage": ("PATCH", lambda w, ok: f"/stations/{w.station}", lambda w: {"price_per_kwh": 2.19},
                       dict(anonymous=R401, car_a=R403, car_b=R403, operator_a=200, operator_b=R401, peer_b=R403,
                            peer_c=R403)),
    "stats.read": ("GET", lambda w, ok: "/stats", None,
                   dict(anonymous=R401, car_a=R403, car_b=R403, operator_a=200, operator_b=R401, peer_b=R403,
                        peer_c=R403)),
    "alerts.read": ("GET", lambda w, ok: "/alerts", None,
                    dict(anonymous=R401, car_a=R403, car_b=R403, operator_a=200, operator_b=R401, peer_b=R403,
                         peer_c=R403)),
    "failpoint.set": ("POST", lambda w, ok: "/admin/failpoints", lambda w: {"name": "participant_after_prepare",
                                                                            "enabled": False},
                      dict(anonymous=R401, car_a=R403, car_b=R403, operator_a=200, operator_b=R401, peer_b=R403,
                           peer_c=R403)),
    "peer.manage": ("DELETE", lambda w, ok: f"/federation/peers/{w.placeholder_peer() if ok else w.shared['peer']}",
                    None, dict(anonymous=R401, car_a=R403, car_b=R403, operator_a=200, operator_b=R401, peer_b=R403,
                               peer_c=R403)),
    "federation.call": ("GET", lambda w, ok: "/federation/ping", None,
                        dict(anonymous=R401, car_a=R403, car_b=R403, operator_a=R403, operator_b=R401, peer_b=200,
                             peer_c=200)),
    # a coordinates the trip: no peer may read its legs here (the allowed case, the coordinator asking a
    # participant, is in test_ocpp.py's remote-leg test).
    "trip.legs.read": ("GET", lambda w, ok: f"/federation/trips/{w.shared['trip']}/legs", None,
                       dict(anonymous=R401, car_a=R403, car_b=R403, operator_a=R403, operator_b=R401, peer_b=R404,
                            peer_c=R404)),
}

CASES = [(action, actor) for action in MATRIX for actor in ACTORS]


@pytest.fixture(scope="module")
def shared(world):
    world.shared = {"res": world.reservation(), "trip": world.trip(), "wait": world.waitlist(),
                    "peer": world.placeholder_peer(), "car": world.car_a, "headers": dict(world.headers["car_a"])}
    yield world
    for pid in world.placeholders:  # a placeholder left behind would keep a's federation not ready
        requests.delete(world.a.url(f"/federation/peers/{pid}"), headers=world.a.admin, timeout=HTTP_TIMEOUT)


@pytest.mark.parametrize("action,actor", CASES, ids=[f"{a}-{b}" for a, b in CASES])
def test_matrix(shared, companies, action, actor):
    w = shared
    method, path_of, body_of, expected = MATRIX[action]
    want = expected[actor]
    allowed = want < 400
    if allowed:
        w.new_owner()
    path = path_of(w, allowed)
    body = body_of(w) if body_of else None
    headers = dict(w.headers[actor])
    if action == "trip.create":
        headers["Idempotency-Key"] = secrets.token_hex(8)
    before = None if allowed else fingerprint(w)
    r = requests.request(method, w.a.url(path), json=body, headers=headers, timeout=HTTP_TIMEOUT)
    assert r.status_code == want, f"{action} as {actor}: expected {want}, got {r.status_code}: {r.text[:300]}"
    if not allowed:
        err = r.json().get("error", {})
        assert err.get("code") in {R401: {"unauthorized"}, R403: {"forbidden"}, R404: {"not_found"}}[want], r.text
        assert fingerprint(w) == before, f"{action} as {actor} was refused but wrote something"


def test_a_cars_lists_show_its_own_items_only(shared):
    w = shared
    for path, key in (("/reservations", "items"), ("/trips", "items"), ("/waitlist", "items"), ("/cars", "items")):
        r = w.a.get(path, headers=w.headers["car_b"])
        assert r.status_code == 200, r.text
        assert all(item.get("car_id") == w.car_b for item in r.json()[key]), f"{path} shows another car's items"
    mine = w.a.get("/reservations", headers=w.shared["headers"]).json()["items"]
    assert mine and all(item["car_id"] == w.shared["car"] for item in mine)
    # A car's filter naming another car is refused, not answered.
    r = w.a.get(f"/reservations?car_id={w.shared['car']}", headers=w.headers["car_b"])
    assert r.status_code == 404, r.text


@pytest.mark.parametrize("peer,want", [("peer_b", 200), ("peer_c", 403)])
def test_only_the_company_that_booked_a_trip_may_change_its_legs(shared, companies, peer, want):
    """a booked (coordinates) car A's trip; b may not prepare its cancel at a, nor may c:
    a's own legs are bound to a, the peer that prepared them."""
    w = shared
    path, body = prepare_cancel(w)
    if peer == "peer_c":
        body["coordinator"] = "c"
        body["gid"] = body["gid"].replace("evc_b_", "evc_c_", 1)
    else:
        want = 403  # b did not book this trip's legs at a either
    before = fingerprint(w)
    r = requests.post(w.a.url(path), json=body, headers=w.headers[peer], timeout=HTTP_TIMEOUT)
    assert r.status_code == want, r.text
    assert r.json()["error"]["code"] == "forbidden"
    assert fingerprint(w) == before
