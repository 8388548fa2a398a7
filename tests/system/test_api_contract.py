"""The inter-company API as a contract, and the containers that run it.

- docs/openapi.yaml describes exactly the routes of the worker's one route table
  (workers/company/rest/routes.c), method by method, and names their handlers;
- static/openapi.json, read by the API page, is the same document;
- docs/insomnia.json (Insomnia v4) has a request for every route, an environment
  per company, and the three-company trip scenario;
- every worker serves the spec at /api/v1/openapi.yaml, and the API page;
- docker-compose.yml and deploy/compose.company.yml (no Docker engine here:
  parsed) run what the worker needs, with only variables it reads.
"""

import json
import re

import pytest
import requests
import yaml

from conftest import HTTP_TIMEOUT, REPO

SPEC_PATH = REPO / "docs" / "openapi.yaml"
SPEC_JSON = REPO / "static" / "openapi.json"
INSOMNIA = REPO / "docs" / "insomnia.json"
ROUTES_C = REPO / "workers" / "company" / "rest" / "routes.c"
CONFIG_C = REPO / "workers" / "company" / "config.c"
COMPOSE = REPO / "docker-compose.yml"
COMPOSE_COMPANY = REPO / "deploy" / "compose.company.yml"
ENV_EXAMPLE = REPO / ".env.example"
DOCKERFILE = REPO / "Dockerfile"

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
REQUIRED_ENV = {"EVC_COMPANY_ID", "EVC_DATABASE_URL"}
API_PREFIX = "/api/v1"


# ---------------------------------------------------------------- sources

def route_table():
    """{(METHOD, pattern): handler} from routes.c's table."""
    text = ROUTES_C.read_text()
    routes = {}
    for method, pattern, handler in re.findall(r'\{\s*"([A-Z]+)"\s*,\s*"([^"]+)"\s*,\s*(\w+)\s*\}', text):
        assert (method, pattern) not in routes, f"routes.c lists {method} {pattern} twice"
        routes[(method, pattern)] = handler
    assert len(routes) >= 20, f"could not read the route table of {ROUTES_C}: {routes}"
    return routes


def load_spec():
    return yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))


def spec_operations(spec):
    """{(METHOD, path): operation} of the spec."""
    return {(method.upper(), path): op
            for path, item in spec["paths"].items()
            for method, op in item.items() if method in HTTP_METHODS}


def resolve(spec, node):
    """Follows a local $ref ("#/components/...")."""
    while isinstance(node, dict) and "$ref" in node:
        target = spec
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def required_fields(spec, schema):
    """Required properties of an object schema, allOf parts included."""
    schema = resolve(spec, schema)
    out = set(schema.get("required", []))
    for part in schema.get("allOf", []):
        out |= required_fields(spec, part)
    return out


def config_variables():
    """The EVC_* names config.c reads (read_string/read_int/read_long calls)."""
    names = set(re.findall(r'read_\w+\(\s*"(EVC_[A-Z0-9_]+)"', CONFIG_C.read_text()))
    assert REQUIRED_ENV <= names, f"config.c no longer reads {REQUIRED_ENV - names}?"
    return names


def segments(path):
    return [s for s in path.strip("/").split("/")]


def path_matches(pattern, path_segments):
    """pattern "/stations/{id}" against segments where None stands for a templated one."""
    want = segments(pattern)
    if len(want) != len(path_segments):
        return False
    for w, got in zip(want, path_segments):
        if w.startswith("{") and w.endswith("}"):
            continue  # a placeholder takes any one segment, templated or literal
        if got is None or got != w:
            return False
    return True


# ---------------------------------------------------------------- (a) the spec and the route table

def test_spec_is_openapi_3_1_with_its_security_schemes():
    spec = load_spec()
    assert str(spec["openapi"]).startswith("3.1"), spec["openapi"]
    schemes = spec["components"]["securitySchemes"]
    assert {"adminBearer", "peerToken", "registrationSecret"} <= set(schemes), sorted(schemes)
    assert schemes["adminBearer"]["scheme"] == "bearer"
    for name in ("Station", "Reservation", "Trip", "Leg", "Error", "Alternatives"):
        assert name in spec["components"]["schemas"], f"no reusable schema {name}"


def test_every_route_is_in_the_spec_and_nothing_else():
    routes = route_table()
    ops = spec_operations(load_spec())
    missing = sorted(set(routes) - set(ops))
    extra = sorted(set(ops) - set(routes))
    assert not missing, (f"routes of routes.c missing from docs/openapi.yaml: {missing}; describe them "
                         "(with x-handler), run make openapi-json, and add a request to docs/insomnia.json")
    assert not extra, f"docs/openapi.yaml describes routes the worker lacks: {extra}"


def test_spec_operations_name_their_handler_and_document_errors():
    routes = route_table()
    spec = load_spec()
    seen_ids = set()
    for key, op in spec_operations(spec).items():
        assert op.get("x-handler") == routes.get(key), (
            f"{key}: x-handler {op.get('x-handler')!r}, routes.c says {routes.get(key)!r}")
        assert op.get("operationId") and op["operationId"] not in seen_ids, f"{key}: operationId"
        seen_ids.add(op["operationId"])
        assert "security" in op, f"{key}: say who may call it (security: [] when public)"
        statuses = set(op["responses"])
        assert any(s.startswith("2") for s in statuses), f"{key}: no success answer"
        # An operation with credentials documents the 401 its handler sends.
        if op["security"]:
            assert "401" in statuses, f"{key}: needs credentials but documents no 401"
        if "requestBody" in op:
            assert "413" in statuses, f"{key}: takes a body but documents no 413"
        # Every error answer is the envelope {"error": {...}}, possibly with more fields.
        for status, resp in op["responses"].items():
            if status.startswith(("4", "5")):
                schema = resolve(spec, resolve(spec, resp)["content"]["application/json"]["schema"])
                assert "error" in required_fields(spec, schema), f"{key} {status}: not the error envelope"


def test_path_parameters_are_declared():
    spec = load_spec()
    for path, item in spec["paths"].items():
        names = set(re.findall(r"\{(\w+)\}", path))
        for method, op in item.items():
            if method not in HTTP_METHODS:
                continue
            declared = set()
            for p in item.get("parameters", []) + op.get("parameters", []):
                if "$ref" in p:
                    p = spec["components"]["parameters"][p["$ref"].rsplit("/", 1)[1]]
                if p["in"] == "path":
                    declared.add(p["name"])
            assert names == declared, f"{method.upper()} {path}: path parameters {declared} != {names}"


def test_the_api_page_json_is_the_spec():
    assert SPEC_JSON.is_file(), "static/openapi.json is missing: make openapi-json"
    assert json.loads(SPEC_JSON.read_text(encoding="utf-8")) == load_spec(), (
        "static/openapi.json differs from docs/openapi.yaml: run make openapi-json")
    page = (REPO / "static" / "api.html").read_text(encoding="utf-8")
    assert "openapi.json" in page
    assert not re.search(r'(src|href)="https?://', page), "the API page must work offline (no CDN)"


# ---------------------------------------------------------------- (b) the Insomnia collection

def load_insomnia():
    data = json.loads(INSOMNIA.read_text(encoding="utf-8"))
    assert data.get("_type") == "export" and data.get("__export_format") == 4, "not an Insomnia v4 export"
    return data["resources"]


TEMPLATE_RE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}")


def insomnia_path(url):
    """Segments of the request's path below /api/v1; None for a templated segment."""
    url = url.strip()
    # The base is an environment variable ({{ _.base_url }}, {{ _.a_url }}) or a literal origin.
    url = re.sub(r"^(\{\{[^}]*\}\}|https?://[^/]+)", "", url)
    url = url.split("?", 1)[0]
    assert url.startswith(API_PREFIX + "/"), f"request URL does not start with <base>{API_PREFIX}: {url!r}"
    out = []
    for seg in segments(url[len(API_PREFIX):]):
        out.append(None if TEMPLATE_RE.search(seg) else seg)
    return out


def test_insomnia_export_is_well_formed():
    resources = load_insomnia()
    ids = [r["_id"] for r in resources]
    assert len(ids) == len(set(ids)), "duplicate _id"
    known = set(ids)
    workspaces = [r for r in resources if r["_type"] == "workspace"]
    assert len(workspaces) == 1
    for r in resources:
        if r["_type"] != "workspace":
            assert r["parentId"] in known, f"{r['_id']}: parent {r['parentId']} missing"


def test_insomnia_has_an_environment_per_company():
    envs = [r for r in load_insomnia() if r["_type"] == "environment"]
    base = [e for e in envs if e["parentId"].startswith("wrk_")]
    assert len(base) == 1, "one base environment"
    subs = {e["data"].get("company"): e for e in envs if e["parentId"] == base[0]["_id"]}
    for company, port in (("a", 8081), ("b", 8082), ("c", 8083)):
        assert company in subs, f"no environment for company {company}"
        data = subs[company]["data"]
        assert data["base_url"] == f"http://127.0.0.1:{port}", data
        assert "admin_token" in data and ".stack/stack.json" in data["admin_token"], data


def test_insomnia_has_a_request_for_every_route():
    requests_ = [r for r in load_insomnia() if r["_type"] == "request"]
    covered = {(r["method"].upper(), tuple(insomnia_path(r["url"]))) for r in requests_}
    missing = []
    for method, pattern in route_table():
        if not any(m == method and path_matches(pattern, list(p)) for m, p in covered):
            missing.append(f"{method} {pattern}")
    assert not missing, f"docs/insomnia.json has no request for: {missing}"


def test_insomnia_scenario_books_inspects_and_cancels_a_trip_across_three_companies():
    resources = load_insomnia()
    folders = [r for r in resources if r["_type"] == "request_group" and "Trip across three companies" in r["name"]]
    assert len(folders) == 1, "no scenario folder 'Trip across three companies'"
    steps = sorted((r for r in resources if r["_type"] == "request" and r["parentId"] == folders[0]["_id"]),
                   key=lambda r: r["metaSortKey"])
    flow = [(r["method"], insomnia_path(r["url"])) for r in steps]

    def index(method, pattern, start=0):
        for i in range(start, len(flow)):
            if flow[i][0] == method and path_matches(pattern, flow[i][1]):
                return i
        pytest.fail(f"scenario: no {method} {pattern} after step {start}: {flow}")

    plan = index("GET", "/network/stations")
    book = index("POST", "/trips", plan)
    booking = steps[book]
    legs = json.loads(TEMPLATE_RE.sub("X", booking["body"]["text"]))["legs"]
    assert [leg["station_id"] for leg in legs] == ["a-jpa-01", "b-mcz-01", "c-fsa-01"]
    assert any(h["name"].lower() == "idempotency-key" for h in booking["headers"])
    inspect = index("GET", "/trips/{id}", book)
    at_companies = set()
    for i, r in enumerate(steps):
        if i > inspect and flow[i][0] == "GET" and path_matches("/reservations", flow[i][1]):
            assert any(p["name"] == "trip_id" for p in r["parameters"]) or "trip_id=" in r["url"]
            at_companies.add(re.match(r"\{\{ _\.(\w)_url \}\}", r["url"]).group(1))
    assert at_companies == {"a", "b", "c"}, f"scenario inspects legs at {at_companies}"
    index("POST", "/trips/{id}/cancel", inspect)


# ---------------------------------------------------------------- (c) served by the running workers

def test_every_worker_serves_the_spec(companies):
    expected = SPEC_PATH.read_bytes()
    for c in companies.values():
        r = requests.get(c.api_url + "/openapi.yaml", timeout=HTTP_TIMEOUT)
        assert r.status_code == 200, f"{c.id}: {r.status_code} {r.text[:200]!r}"
        assert r.headers["Content-Type"].startswith("application/yaml"), r.headers["Content-Type"]
        assert r.content == expected, f"{c.id} serves another openapi.yaml than docs/"
        assert r.headers.get("X-Request-Id")


def test_the_api_page_is_served(company):
    page = requests.get(company.http_url + "/api.html", timeout=HTTP_TIMEOUT)
    assert page.status_code == 200 and "text/html" in page.headers.get("Content-Type", "")
    copy = requests.get(company.http_url + "/openapi.json", timeout=HTTP_TIMEOUT)
    assert copy.status_code == 200
    assert copy.json() == load_spec()


# ---------------------------------------------------------------- (d) containers, read without Docker

def load_compose(path):
    assert path.is_file(), f"{path} is missing"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data.get("services"), dict) and data["services"], f"{path}: no services"
    return data


def environment(service):
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return {k: ("" if v is None else str(v)) for k, v in env.items()}


def workers(compose):
    return {name: s for name, s in compose["services"].items() if "EVC_COMPANY_ID" in environment(s)}


def variables_used(path):
    """${NAME...} references of a compose file ($$ escapes excluded)."""
    text = path.read_text(encoding="utf-8").replace("$$", "")
    return set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", text))


def env_example():
    names = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            names[key] = value
    return names


def unvar(value):
    """"${NAME:-x}" -> "NAME"; anything else unchanged."""
    m = re.fullmatch(r"\$\{([A-Za-z_][A-Za-z0-9_]*)[^}]*\}", value)
    return m.group(1) if m else value


def host_ports(service):
    out = []
    for p in service.get("ports", []):
        # "${EVC_PUBLISH_A:-8081}:8081": the default is the port a newcomer gets.
        parts = re.sub(r"\$\{[A-Za-z_][A-Za-z0-9_]*:-([^}]*)\}", r"\1", str(p)).split(":")
        out.append((parts[-2], parts[-1]))  # (host port, container port); host address dropped
    return out


def check_worker(path, name, service, config_names):
    env = environment(service)
    unknown = sorted(set(k for k in env if k.startswith("EVC_")) - config_names)
    assert not unknown, f"{path.name} {name}: the worker reads no {unknown} (config.c)"
    not_evc = sorted(k for k in env if not k.startswith("EVC_"))
    assert not not_evc, f"{path.name} {name}: variables the worker does not read: {not_evc}"
    for key in REQUIRED_ENV | {"EVC_HTTP_PORT", "EVC_PUBLIC_URL", "EVC_PEERS", "EVC_FEDERATION_SECRET",
                               "EVC_ADMIN_TOKEN"}:
        assert env.get(key), f"{path.name} {name}: {key} is not set"
    assert env.get("EVC_HTTP_HOST") == "0.0.0.0", f"{path.name} {name}: a container must listen on 0.0.0.0"
    assert service.get("healthcheck", {}).get("test"), f"{path.name} {name}: no healthcheck"
    assert "/api/v1/health" in json.dumps(service["healthcheck"]["test"])
    assert service.get("build") or service.get("image"), f"{path.name} {name}: no image"
    ports = host_ports(service)
    assert ports, f"{path.name} {name}: no published port"
    assert unvar(ports[0][1]) == unvar(env["EVC_HTTP_PORT"]), (
        f"{path.name} {name}: publishes {ports} but listens on {env['EVC_HTTP_PORT']}")
    deps = service.get("depends_on") or {}
    assert isinstance(deps, dict) and any(v.get("condition") == "service_healthy" for v in deps.values()), (
        f"{path.name} {name}: must wait for its database to be healthy")


def check_database(path, name, service, compose):
    # Built offline from Debian's packages by scripts/images (deploy/images/postgres).
    assert service.get("image") == "evc-postgres:15", f"{path.name} {name}: {service.get('image')}"
    assert "max_prepared_transactions" in json.dumps(service.get("command", "")), (
        f"{path.name} {name}: two-phase commit needs max_prepared_transactions")
    assert "pg_isready" in json.dumps(service.get("healthcheck", {}).get("test", "")), f"{path.name} {name}: healthcheck"
    mounts = [str(v) for v in service.get("volumes", [])]
    data = [m for m in mounts if m.endswith(":/var/lib/postgresql/data")]
    assert data, f"{path.name} {name}: the data folder is not on a volume"
    volume = data[0].split(":")[0]
    assert volume in (compose.get("volumes") or {}), f"{path.name} {name}: volume {volume} not declared"


def check_broker(path, broker):
    assert broker["image"] == "evc-mosquitto:2", f"{path.name}: {broker['image']}"
    mounts = {str(v).rsplit(":", 2)[-2] if str(v).endswith(":ro") else str(v).rsplit(":", 1)[-1]
              for v in broker.get("volumes", [])}
    assert {"/mosquitto/credentials", "/mosquitto/acl"} <= mounts, f"{path.name}: broker mounts {mounts}"
    conf = (REPO / "deploy" / "mosquitto.conf").read_text(encoding="utf-8")
    assert re.search(r"^allow_anonymous false$", conf, re.M), "the containers' broker must refuse anonymous clients"
    assert re.search(r"^password_file ", conf, re.M) and re.search(r"^acl_file ", conf, re.M)


def test_compose_files_work_with_compose_1_29_and_v2_on_images_made_offline():
    """Debian's docker-compose 1.29 refuses a top-level `name:`; the project name comes
    from COMPOSE_PROJECT_NAME. Workers run under an init (fail points SIGKILL the
    worker, which as PID 1 would ignore it) with the local stack's thread count. The
    images are the ones scripts/images builds offline."""
    images_script = (REPO / "scripts" / "images").read_text(encoding="utf-8")
    for path in (COMPOSE, COMPOSE_COMPANY):
        compose = load_compose(path)
        assert "name" not in compose, f"{path.name}: docker-compose 1.29 refuses a top-level name:"
        for name, service in workers(compose).items():
            assert service.get("init") is True, f"{path.name} {name}: init: true (fail points)"
            assert "EVC_HTTP_THREADS" not in environment(service), (
                f"{path.name} {name}: EVC_HTTP_THREADS as in the local stack (config.c's default)")
        for name, service in compose["services"].items():
            image = str(service.get("image", ""))
            assert image.split(":")[0] in ("evc-worker", "evc-postgres", "evc-mosquitto"), f"{path.name} {name}: {image}"
            assert image in images_script, f"{path.name} {name}: scripts/images does not build {image}"
    assert "COMPOSE_PROJECT_NAME" in env_example()
    for sub in ("postgres", "mosquitto"):
        assert (REPO / "deploy" / "images" / sub / "Dockerfile").is_file()
        assert "FROM debian:12-slim" in (REPO / "deploy" / "images" / sub / "Dockerfile").read_text(encoding="utf-8")


def test_compose_runs_the_federation():
    compose = load_compose(COMPOSE)
    config_names = config_variables()
    services = compose["services"]
    ws = workers(compose)
    assert {"a-worker", "b-worker-1", "b-worker-2", "c-worker"} <= set(ws), sorted(ws)
    for name, service in ws.items():
        check_worker(COMPOSE, name, service, config_names)

    dbs = {}
    for company in "abc":
        db = f"{company}-db"
        assert db in services, f"no {db}"
        check_database(COMPOSE, db, services[db], compose)
        dbs[company] = db
    by_company = {}
    for name, service in ws.items():
        env = environment(service)
        company = env["EVC_COMPANY_ID"]
        by_company.setdefault(company, []).append(name)
        assert f"@{dbs[company]}:5432/" in env["EVC_DATABASE_URL"], f"{name}: not on {dbs[company]}"
        assert dbs[company] in service["depends_on"], f"{name} does not wait for {dbs[company]}"
        # Peers by service name and the port that service listens on.
        peers = dict(item.split("=", 1) for item in env["EVC_PEERS"].split(","))
        assert set(peers) == set("abc") - {company}, f"{name}: EVC_PEERS {peers}"
        for peer, url in peers.items():
            m = re.fullmatch(r"http://([a-z0-9-]+):(\d+)", url)
            assert m and m.group(1) in ws, f"{name}: peer {peer} at {url} is no worker service"
            target = environment(ws[m.group(1)])
            assert target["EVC_COMPANY_ID"] == peer and target["EVC_HTTP_PORT"] == m.group(2), f"{name}: {url}"
        public = re.fullmatch(r"http://([a-z0-9-]+):(\d+)", env["EVC_PUBLIC_URL"])
        assert public and public.group(1) == name and public.group(2) == env["EVC_HTTP_PORT"], f"{name}: EVC_PUBLIC_URL"
        assert env["EVC_MQTT_URL"] == "tcp://mosquitto:1883"
    assert len(by_company["b"]) == 2, f"company b runs two replicas: {by_company}"
    b_urls = {environment(ws[n])["EVC_DATABASE_URL"] for n in by_company["b"]}
    assert len(b_urls) == 1, "b's replicas share one database"

    published = [hp for s in services.values() for hp, _ in host_ports(s)]
    assert len(published) == len(set(published)), f"a host port is published twice: {published}"
    assert {"8081", "8082", "8083"} <= set(published)

    broker = services["mosquitto"]
    check_broker(COMPOSE, broker)
    conf = [v for v in broker.get("volumes", []) if str(v).endswith("/mosquitto/config/mosquitto.conf:ro")]
    assert conf and (REPO / conf[0].split(":")[0]).resolve().is_file(), f"mosquitto config mount: {conf}"
    assert broker.get("healthcheck", {}).get("test"), "mosquitto: no healthcheck"
    assert any(hp == "1883" for hp, _ in host_ports(broker))

    sims = [s for s in services.values() if "evc-sim" in json.dumps(s.get("entrypoint", ""))]
    assert sims, "the simulators are part of the federation"
    assert "tcp://mosquitto:1883" in sims[0]["command"]
    assert "--credentials" in sims[0]["command"], "the simulator's cars log in with their own accounts"
    for name, service in ws.items():
        env = environment(service)
        assert env.get("EVC_MQTT_USERNAME") == f"worker-{env['EVC_COMPANY_ID']}", f"{name}: its own broker account"
        assert unvar(env.get("EVC_MQTT_PASSWORD", "")).startswith("EVC_MQTT_PASSWORD"), f"{name}: MQTT password"

    for var in variables_used(COMPOSE):
        assert var in env_example(), f"docker-compose.yml uses ${{{var}}}, not in .env.example"


def test_compose_for_one_company_per_computer():
    compose = load_compose(COMPOSE_COMPANY)
    config_names = config_variables()
    ws = workers(compose)
    assert list(ws) == ["worker"], f"one worker per computer: {sorted(ws)}"
    check_worker(COMPOSE_COMPANY, "worker", ws["worker"], config_names)
    env = environment(ws["worker"])
    # Everything that differs between computers comes from the env file.
    for key in ("EVC_COMPANY_ID", "EVC_HTTP_PORT", "EVC_PUBLIC_URL", "EVC_PEERS", "EVC_FEDERATION_SECRET",
                "EVC_ADMIN_TOKEN"):
        assert env[key].startswith("${" + key), f"{key} must come from the env file: {env[key]!r}"
    assert "@db:5432/" in env["EVC_DATABASE_URL"]
    check_database(COMPOSE_COMPANY, "db", compose["services"]["db"], compose)
    broker = compose["services"].get("mosquitto")
    assert broker and "broker" in broker.get("profiles", []), "the broker runs on one computer only (profile)"
    check_broker(COMPOSE_COMPANY, broker)
    assert ws["worker"].get("init") is True, "the worker must not be PID 1 (fail points)"
    build = ws["worker"].get("build", {})
    context = (COMPOSE_COMPANY.parent / build.get("context", ".")).resolve()
    assert (context / build.get("dockerfile", "Dockerfile")).is_file(), f"build context {context}"

    example = env_example()
    for var in variables_used(COMPOSE_COMPANY):
        assert var in example, f"deploy/compose.company.yml uses ${{{var}}}, not in .env.example"
    # The example is a working lab setup: peers by address, this computer's public URL.
    peers = dict(item.split("=", 1) for item in example["EVC_PEERS"].split(","))
    assert example["EVC_COMPANY_ID"] not in peers and len(peers) == 2
    assert all(re.fullmatch(r"http://\d+\.\d+\.\d+\.\d+:\d+", u) for u in peers.values()), peers
    assert example["EVC_PUBLIC_URL"].endswith(":" + example["EVC_HTTP_PORT"])


def test_dockerfile_is_multi_stage_and_runs_as_a_user():
    text = DOCKERFILE.read_text()
    stages = re.findall(r"^FROM\s+(\S+)", text, re.M)
    assert len(stages) >= 2 and all(s == "debian:12-slim" for s in stages), stages
    runtime = text[text.rindex("\nFROM "):]
    assert "make build" in text[:text.rindex("\nFROM ")]
    for lib in ("libpq5", "libcivetweb1", "libpaho-mqtt1.3", "libjansson4", "libcurl4"):
        assert lib in runtime, f"runtime stage lacks {lib}"
    assert "-dev" not in runtime, "no -dev package in the runtime image"
    user = re.findall(r"^USER\s+(\S+)", runtime, re.M)
    assert user and not user[-1].startswith(("root", "0")), f"runs as {user}"
    assert re.search(r"^HEALTHCHECK .*", runtime, re.M) and "/api/v1/health" in runtime
    assert re.search(r'^ENTRYPOINT \[".*evc-worker"\]', runtime, re.M)
    for folder in ("db/migrations", "static", "docs"):
        assert re.search(rf"^COPY {re.escape(folder)} ", runtime, re.M), f"runtime stage does not copy {folder}"
