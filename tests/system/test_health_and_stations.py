"""Health of every company, and the station catalogue: list, create, read, update,
who may change it and what it refuses."""

import numbers

import pytest

from conftest import TS_RE, assert_error, assert_json, assert_status, parse_ts

STATION_FIELDS = {"id", "company", "name", "city", "lat", "lon", "chargers", "power_kw",
                  "price_per_kwh", "status", "updated_at"}


def assert_station_shape(st):
    assert set(st) >= STATION_FIELDS, f"station lacks {STATION_FIELDS - set(st)}: {st!r}"
    for f in ("id", "company", "name", "city", "status"):
        assert isinstance(st[f], str) and st[f], f"{f} should be a non-empty string: {st!r}"
    for f in ("lat", "lon", "power_kw", "price_per_kwh"):
        assert isinstance(st[f], numbers.Real) and not isinstance(st[f], bool), (
            f"{f} should be a JSON number: {st!r}")
    assert isinstance(st["chargers"], int) and not isinstance(st["chargers"], bool), st
    assert 1 <= st["chargers"] <= 64
    assert st["status"] in ("active", "maintenance", "offline")
    assert st["id"].startswith(st["company"] + "-"), st
    assert TS_RE.match(st["updated_at"]), st


# ---------------------------------------------------------------- health

@pytest.mark.parametrize("cid", ["a", "b", "c"])
def test_health_reports_company_database_and_mqtt(companies, cid):
    c = companies[cid]
    r = c.health()
    assert_status(r, 200)
    body = assert_json(r)
    assert body["company"] == cid
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["mqtt"] in ("ok", "down")
    assert isinstance(body["version"], str) and body["version"]
    assert isinstance(body["name"], str) and body["name"]
    if c.name:
        assert body["name"] == c.name


def test_companies_listen_on_distinct_ports_and_databases(companies):
    assert len({c.api_url for c in companies.values()}) == 3
    names = {c.sql_one("SELECT current_database() || '@' || inet_server_port()")[0]
             for c in companies.values()}
    assert len(names) == 3, f"companies share a database: {names}"


# ---------------------------------------------------------------- listing

@pytest.mark.parametrize("cid", ["a", "b", "c"])
def test_station_list_has_seeded_stations_matching_the_database(companies, cid):
    c = companies[cid]
    r = c.get("/stations")
    assert_status(r, 200)
    body = assert_json(r)
    items = body["items"]
    assert isinstance(items, list) and items
    for st in items:
        assert_station_shape(st)
    own = {st["id"]: st for st in items if st["company"] == cid}
    active = [st for st in own.values() if st["status"] == "active"]
    assert len(active) >= 5, f"company {cid} should have its seeded active stations: {sorted(own)}"
    assert all(st["city"].strip() for st in own.values())

    # The catalogue is the company's own table, field for field.
    rows = c.sql("SELECT id, name, city, lat, lon, chargers, power_kw::float8, "
                 "price_per_kwh::float8, status FROM stations")
    db = {row[0]: row for row in rows}
    assert set(own) == set(db), "API list and stations table differ"
    for sid, (_, name, city, lat, lon, chargers, power, price, status) in db.items():
        st = own[sid]
        assert (st["name"], st["city"], st["chargers"], st["status"]) == (name, city, chargers, status)
        assert st["lat"] == pytest.approx(lat) and st["lon"] == pytest.approx(lon)
        assert st["power_kw"] == pytest.approx(power)
        assert st["price_per_kwh"] == pytest.approx(price)


# ---------------------------------------------------------------- create, get, patch

def test_create_get_and_patch_station(company):
    body = company.station_body(name="Estação Teste São João", city="Feira de Santana", lat=-12.98, lon=-38.47,
                                chargers=4, power_kw=50.5, price_per_kwh=2.25)
    r = company.post("/stations", json=body, admin=True)
    assert_status(r, 201)
    st = assert_json(r)
    assert_station_shape(st)
    for k, v in body.items():
        assert st[k] == pytest.approx(v) if isinstance(v, float) else st[k] == v, (k, st)
    assert st["company"] == company.id
    assert st["status"] == "active", "status defaults to active"

    r = company.get(f"/stations/{body['id']}")
    assert_status(r, 200)
    assert assert_json(r) == st

    listed = assert_json(company.get("/stations"))["items"]
    assert body["id"] in {s["id"] for s in listed}

    r = company.patch(f"/stations/{body['id']}", json={"name": "Posto Renomeado",
                                                       "status": "maintenance",
                                                       "chargers": 6}, admin=True)
    assert_status(r, 200)
    patched = assert_json(r)
    assert patched["name"] == "Posto Renomeado"
    assert patched["status"] == "maintenance"
    assert patched["chargers"] == 6
    for k in ("city", "lat", "lon", "power_kw", "price_per_kwh"):
        assert patched[k] == st[k], f"PATCH changed {k}"
    assert parse_ts(patched["updated_at"]) >= parse_ts(st["updated_at"])

    assert assert_json(company.get(f"/stations/{body['id']}")) == patched
    row = company.sql_one("SELECT name, status, chargers, city FROM stations WHERE id = %s",
                          (body["id"],))
    assert row == ("Posto Renomeado", "maintenance", 6, "Feira de Santana")


def test_create_station_with_explicit_status(company):
    st = company.create_station(status="offline")
    assert st["status"] == "offline"


def test_get_unknown_station_is_404(company):
    assert_error(company.get(f"/stations/{company.new_station_id('nope')}"), 404)


def test_patch_unknown_station_is_404(company):
    r = company.patch(f"/stations/{company.new_station_id('nope')}", json={"name": "x"},
                      admin=True)
    assert_error(r, 404)


@pytest.mark.parametrize("patch", [
    {"owner": "me"},
    {"id": "a-renamed"},
    {"company": "b"},
    {"chargers": 0},
    {"chargers": 65},
    {"chargers": "3"},
    {"lat": 90.5},
    {"lon": -181},
    {"power_kw": 0},
    {"price_per_kwh": -1},
    {"status": "closed"},
    {"name": ""},
    {"name": None},
], ids=lambda p: repr(p))
def test_patch_rejects_unknown_or_invalid_fields(company, station, patch):
    before = company.sql_one("SELECT name, city, lat, lon, chargers, power_kw, price_per_kwh, "
                             "status, updated_at FROM stations WHERE id = %s", (station["id"],))
    r = company.patch(f"/stations/{station['id']}", json=patch, admin=True)
    assert_error(r, 400)
    after = company.sql_one("SELECT name, city, lat, lon, chargers, power_kw, price_per_kwh, "
                            "status, updated_at FROM stations WHERE id = %s", (station["id"],))
    assert before == after, "a refused PATCH must change nothing"


# ---------------------------------------------------------------- admin token

@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": "Bearer wrong-token"},
    {"Authorization": "Bearer "},
    {"Authorization": "Basic YWRtaW46YWRtaW4="},
], ids=["none", "wrong", "empty", "basic"])
def test_station_writes_need_the_admin_token(company, station, headers):
    before = company.counts()
    body = company.station_body()
    r = company.post("/stations", json=body, headers=headers)
    assert_error(r, 401, "unauthorized")
    r = company.patch(f"/stations/{station['id']}", json={"name": "hijacked"}, headers=headers)
    assert_error(r, 401, "unauthorized")
    assert company.counts() == before
    assert company.sql_one("SELECT name FROM stations WHERE id = %s", (station["id"],))[0] != "hijacked"


# ---------------------------------------------------------------- validation

def _long_id(company):
    return f"{company.id}-" + "x" * 49


BAD_STATIONS = [
    ("id_uppercase", lambda c: {"id": f"{c.id}-UPPER"}),
    ("id_no_code", lambda c: {"id": f"{c.id}-"}),
    ("id_no_prefix", lambda c: {"id": "justcode"}),
    ("id_underscore", lambda c: {"id": f"{c.id}-has_underscore"}),
    ("id_space", lambda c: {"id": f"{c.id}-has space"}),
    ("id_too_long", lambda c: {"id": _long_id(c)}),
    ("id_number", lambda c: {"id": 42}),
    ("name_empty", lambda c: {"name": ""}),
    ("name_number", lambda c: {"name": 7}),
    ("city_empty", lambda c: {"city": ""}),
    ("lat_high", lambda c: {"lat": 90.01}),
    ("lat_low", lambda c: {"lat": -90.01}),
    ("lon_high", lambda c: {"lon": 180.01}),
    ("lon_low", lambda c: {"lon": -180.01}),
    ("lat_string", lambda c: {"lat": "12.5"}),
    ("chargers_zero", lambda c: {"chargers": 0}),
    ("chargers_65", lambda c: {"chargers": 65}),
    ("chargers_negative", lambda c: {"chargers": -1}),
    ("chargers_string", lambda c: {"chargers": "2"}),
    ("chargers_fraction", lambda c: {"chargers": 1.5}),
    ("chargers_null", lambda c: {"chargers": None}),
    ("power_zero", lambda c: {"power_kw": 0}),
    ("power_negative", lambda c: {"power_kw": -50}),
    ("power_string", lambda c: {"power_kw": "fast"}),
    ("price_negative", lambda c: {"price_per_kwh": -0.01}),
    ("price_bool", lambda c: {"price_per_kwh": True}),
    ("status_unknown", lambda c: {"status": "broken"}),
    ("status_case", lambda c: {"status": "ACTIVE"}),
]


@pytest.mark.parametrize("case", [c[1] for c in BAD_STATIONS], ids=[c[0] for c in BAD_STATIONS])
def test_create_station_rejects_invalid_field(company, case):
    body = company.station_body(**case(company))
    before = company.counts()
    r = company.post("/stations", json=body, admin=True)
    assert_error(r, 400)
    assert company.counts() == before, "a refused station must not be written"
    company.assert_alive()


@pytest.mark.parametrize("missing", ["id", "name", "city", "lat", "lon", "chargers", "power_kw",
                                     "price_per_kwh"])
def test_create_station_rejects_missing_field(company, missing):
    body = company.station_body()
    del body[missing]
    before = company.counts()
    assert_error(company.post("/stations", json=body, admin=True), 400)
    assert company.counts() == before


def test_duplicate_station_id_is_409(company, station):
    before = company.counts()
    body = company.station_body(id=station["id"], name="Other name")
    r = company.post("/stations", json=body, admin=True)
    assert_error(r, 409, "conflict")
    assert company.counts() == before
    assert assert_json(company.get(f"/stations/{station['id']}"))["name"] == station["name"]


@pytest.mark.parametrize("owner,target", [("b", "a"), ("a", "b"), ("c", "a")])
def test_station_with_another_companys_prefix_is_400(companies, owner, target):
    c = companies[target]
    foreign_id = companies[owner].new_station_id()
    before = c.counts()
    r = c.post("/stations", json=c.station_body(id=foreign_id), admin=True)
    assert_error(r, 400)
    assert c.counts() == before
    assert c.sql("SELECT 1 FROM stations WHERE id = %s", (foreign_id,)) == []
