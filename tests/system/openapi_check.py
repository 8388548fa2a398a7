"""Checks a worker's answer against the OpenAPI document (static/openapi.json, the
JSON copy of docs/openapi.yaml).

Given (method, concrete path, status, headers, body) it finds the operation (the
concrete path matched against the document's path templates, a literal template
before a templated one), requires the status to be documented for it (or covered
by `default`), required response headers to be present and every documented
header that is present to match its schema, a JSON answer where the document
gives application/json content, and the body to be valid against the response
schema. Schemas are JSON Schema 2020-12 (OpenAPI 3.1), checked with
python3-jsonschema's Draft202012Validator, `#/components/...` references
resolved against the whole document, `date-time` checked as RFC 3339."""

import json
import re
import threading
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

jsonschema = pytest.importorskip("jsonschema", reason="python3-jsonschema is not installed (scripts/install-deps)")
from jsonschema import Draft202012Validator, FormatChecker, RefResolver  # noqa: E402

SPEC_PATH = Path(__file__).resolve().parents[2] / "static" / "openapi.json"
API_PREFIX = "/api/v1"
METHODS = ("get", "put", "post", "patch", "delete", "head", "options")

_DATE_TIME = re.compile(r"^\d{4}-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-](\d{2}):(\d{2}))$")


def _is_date_time(value):
    if not isinstance(value, str):
        return True
    m = _DATE_TIME.match(value)
    if not m:
        return False
    mo, d, h, mi, s = (int(m.group(i)) for i in range(1, 6))
    zh, zm = int(m.group(8) or 0), int(m.group(9) or 0)
    return 1 <= mo <= 12 and 1 <= d <= 31 and h <= 23 and mi <= 59 and s <= 60 and zh <= 23 and zm <= 59


FORMATS = FormatChecker(formats=())
FORMATS.checks("date-time")(_is_date_time)


class Mismatch(AssertionError):
    """The answer does not match the document."""


@lru_cache(maxsize=None)
def spec():
    return json.loads(SPEC_PATH.read_text())


@lru_cache(maxsize=None)
def _resolver():
    return RefResolver(base_uri="", referrer=spec())


def resolve(node):
    """node with a top-level `$ref` into the document followed (repeatedly)."""
    seen = 0
    while isinstance(node, dict) and "$ref" in node and seen < 20:
        node = _resolver().resolve(node["$ref"])[1]
        seen += 1
    return node


@lru_cache(maxsize=None)
def _templates():
    """(regex, template) for every path, literal templates first."""
    out = []
    for template in spec()["paths"]:
        parts = re.split(r"(\{[^}/]+\})", template)
        rx = "".join("[^/]+" if p.startswith("{") and p.endswith("}") else re.escape(p) for p in parts)
        out.append((template.count("{"), re.compile(f"^{rx}$"), template))
    out.sort(key=lambda t: t[0])
    return [(rx, template) for _, rx, template in out]


def match_path(path):
    """The document's path template for a concrete path (with or without /api/v1,
    a query or a full URL), or None."""
    path = urlsplit(path).path if "://" in path else path.split("?", 1)[0]
    if path.startswith(API_PREFIX + "/") or path == API_PREFIX:
        path = path[len(API_PREFIX):]
    for rx, template in _templates():
        if rx.match(path) or rx.match(unquote(path)):
            return template
    return None


def operation(method, path):
    """(template, operation object) or raises Mismatch."""
    template = match_path(path)
    if template is None:
        raise Mismatch(f"{method} {path}: no path of the document matches")
    op = spec()["paths"][template].get(method.lower())
    if op is None:
        raise Mismatch(f"{method} {path}: {template} documents no {method.upper()}")
    return template, op


def validator(schema):
    return Draft202012Validator(schema, resolver=_resolver(), format_checker=FORMATS)


def schema_errors(schema, instance):
    """Messages for every way instance fails schema (empty when valid)."""
    errors = sorted(validator(schema).iter_errors(instance), key=lambda e: list(e.absolute_path))
    return [f"at body/{'/'.join(map(str, e.absolute_path))} (schema {'/'.join(map(str, e.absolute_schema_path))}):"
            f" {e.message[:300]}" for e in errors]


def _header_value(schema, value):
    """A header's text as the typed value its schema (OpenAPI `simple` style) describes;
    text that is not one stays text, so the schema refuses it."""
    kind = resolve(schema).get("type")
    try:
        if kind == "integer" and re.fullmatch(r"-?[0-9]+", value):
            return int(value)
        if kind == "number" and re.fullmatch(r"-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?", value):
            return float(value)
    except ValueError:
        pass
    if kind == "boolean" and value in ("true", "false"):
        return value == "true"
    return value


def check_response(method, path, status, headers, body_text, content_type=None):
    """Raises Mismatch naming operation, status, body and schema path when the
    answer is not one the document describes. Returns the parsed body (or None)."""
    template, op = operation(method, path)
    where = f"{method.upper()} {template} -> {status}"
    responses = op.get("responses", {})
    response = responses.get(str(status)) or responses.get(f"{str(status)[0]}XX") or responses.get("default")
    if response is None:
        raise Mismatch(f"{where}: status not documented (documented: {sorted(responses)}); body {body_text[:300]!r}")
    response = resolve(response)

    lower = {k.lower(): v for k, v in (headers or {}).items()}
    for name, spec_header in (response.get("headers") or {}).items():
        spec_header = resolve(spec_header)
        value = lower.get(name.lower())
        if value is None:
            if spec_header.get("required"):
                raise Mismatch(f"{where}: required header {name} missing")
            continue
        if "schema" in spec_header:
            errs = schema_errors(spec_header["schema"], _header_value(spec_header["schema"], value))
            if errs:
                raise Mismatch(f"{where}: header {name}: {value!r}: {errs}")

    content = response.get("content") or {}
    if not content:
        return None
    ctype = (content_type if content_type is not None else lower.get("content-type", "")).split(";")[0].strip().lower()
    media = content.get(ctype)
    if media is None:
        raise Mismatch(f"{where}: Content-Type {ctype!r} not documented (documented: {sorted(content)});"
                       f" body {body_text[:300]!r}")
    if ctype != "application/json" and not ctype.endswith("+json"):
        return None
    try:
        body = json.loads(body_text)
    except ValueError as e:
        raise Mismatch(f"{where}: body is not JSON ({e}): {body_text[:300]!r}") from None
    if "schema" in media:
        errs = schema_errors(media["schema"], body)
        if errs:
            raise Mismatch(f"{where}: body does not match {json.dumps(media['schema'])[:200]}: {errs[:5]};"
                           f" body {body_text[:500]!r}")
    return body


def check(resp, method=None, path=None):
    """check_response for a requests.Response (method and path from its request
    unless given)."""
    method = method or resp.request.method
    path = path or urlsplit(resp.request.url).path
    return check_response(method, path, resp.status_code, resp.headers, resp.text)


def body_operations(exclude=()):
    """[(method, template, operation, request schema)] for every operation with a
    JSON request body, in document order, templates in exclude left out."""
    out = []
    for template, item in spec()["paths"].items():
        if template in exclude:
            continue
        for method in METHODS:
            op = item.get(method)
            if not op:
                continue
            body = resolve(op.get("requestBody") or {})
            media = (body.get("content") or {}).get("application/json")
            if media and "schema" in media:
                out.append((method.upper(), template, op, media["schema"]))
    return out


def security_schemes(op):
    """Names of the security schemes any requirement of op lists; {} for an open op."""
    reqs = op.get("security", spec().get("security", []))
    return {name for req in reqs for name in req}


# ---------------------------------------------------------------- every answer the tests get

_watched = set()           # (host, port) of the stack's servers whose answers are checked
_real_send = None
_local = threading.local()  # .off > 0: inside unchecked()

LOOPBACK = {"127.0.0.1", "localhost"}


def watched(url):
    """True when url is an API path (below /api/v1) of a server whose answers are checked."""
    parts = urlsplit(url)
    return ((parts.hostname, parts.port) in _watched and
            (parts.path.startswith(API_PREFIX + "/") or parts.path == API_PREFIX))


def check_any(resp):
    """check() for any answer of a watched server, including a path the document does
    not have: that one must be the 404 or 405 envelope (the document's `Error`), as the
    server answers unknown routes."""
    method, path = resp.request.method, urlsplit(resp.request.url).path
    if method.upper() == "HEAD":
        method = "GET"  # civetweb answers HEAD as GET without the body: only the status is checked
        template, op = operation(method, path)
        if str(resp.status_code) not in op.get("responses", {}) and "default" not in op.get("responses", {}):
            raise Mismatch(f"HEAD {template} -> {resp.status_code}: status not documented for GET")
        return None
    if match_path(path) is None or spec()["paths"][match_path(path)].get(method.lower()) is None:
        if resp.status_code not in (404, 405):
            raise Mismatch(f"{method} {path} -> {resp.status_code}: no operation of the document, and not a 404/405")
        try:
            body = json.loads(resp.text)
        except ValueError:
            raise Mismatch(f"{method} {path} -> {resp.status_code}: not the JSON error envelope: {resp.text[:200]!r}") \
                from None
        errs = schema_errors({"$ref": "#/components/schemas/Error"}, body)
        if errs:
            raise Mismatch(f"{method} {path} -> {resp.status_code}: not the error envelope: {errs}")
        return body
    return check_response(method, path, resp.status_code, resp.headers, resp.text)


def install(servers):
    """From now on every answer that `requests` (any session, any thread) gets from
    one of servers ([(host, port)]) below /api/v1 is checked against the document;
    an answer it does not describe raises Mismatch in the caller, so the test that got
    it fails. Streamed answers are left alone (their body is the caller's to read)."""
    global _real_send
    for host, port in servers:
        _watched.update({(h, port) for h in (LOOPBACK if host in LOOPBACK else {host})})
    if _real_send is not None:
        return
    import requests
    _real_send = requests.Session.send

    def send(session, request, **kw):
        resp = _real_send(session, request, **kw)
        if not kw.get("stream") and getattr(_local, "off", 0) == 0 and watched(request.url):
            check_any(resp)
        return resp

    requests.Session.send = send


def installed():
    return _real_send is not None


@contextmanager
def unchecked():
    """Answers this thread gets inside are not checked (for a test of the checker itself)."""
    _local.off = getattr(_local, "off", 0) + 1
    try:
        yield
    finally:
        _local.off -= 1


def forget(servers):
    """Stops checking the answers of servers ([(host, port)]) that install() watched."""
    for host, port in servers:
        _watched.difference_update({(h, port) for h in (LOOPBACK if host in LOOPBACK else {host})})
