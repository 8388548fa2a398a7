"""The checker every system test runs through (conftest.py's validated_answers,
openapi_check.install): an answer docs/openapi.yaml does not describe fails the
request that got it; one it describes passes.

A small HTTP server on this machine plays a worker that breaks the contract in
one way per path; it is watched like the stack's servers for this module only.
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

import openapi_check  # noqa: E402  (skips the module without python3-jsonschema)

# path -> (status, headers, body): each one an answer the document does not describe, but one.
ANSWERS = {}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        status, headers, body = ANSWERS.get(self.path, (404, {}, {"error": {"code": "not_found", "message": "x"}}))
        data = json.dumps(body).encode() if not isinstance(body, bytes) else body
        self.send_response(status)
        for k, v in {"Content-Type": "application/json", **headers}.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def fake(companies):
    if not openapi_check.installed():
        pytest.skip("answers are not checked in this run (EVC_CHECK_ANSWERS=0)")
    health = companies["a"].health().json()  # a real, documented answer, to serve as is
    ANSWERS.update({
        "/api/v1/health": (200, {}, health),
        "/api/v1/health?teapot": (418, {}, {"error": {"code": "teapot", "message": "short and stout"}}),
        "/api/v1/stations?missing": (200, {}, {"item": []}),
        "/api/v1/stations?wrongtype": (200, {}, {"items": [{"id": 7}]}),
        "/api/v1/stations?text": (200, {"Content-Type": "text/plain"}, b"ok"),
        "/api/v1/health?retry": (503, {"Retry-After": "soon"},
                                 {"error": {"code": "unavailable", "message": "later"}}),
        "/api/v1/no/such/route": (200, {}, {}),
        "/api/v1/no/such/route?404": (404, {}, {"error": {"code": "not_found", "message": "no route"}}),
    })
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    openapi_check.install([("127.0.0.1", port)])
    yield f"http://127.0.0.1:{port}/api/v1"
    openapi_check.forget([("127.0.0.1", port)])
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("path,why", [
    ("/health?teapot", "status not documented"),
    ("/stations?missing", "body does not match"),
    ("/stations?wrongtype", "body does not match"),
    ("/stations?text", "Content-Type 'text/plain' not documented"),
    ("/no/such/route", "no operation of the document"),
])
def test_an_undocumented_answer_fails_the_request(fake, path, why):
    with pytest.raises(openapi_check.Mismatch, match=why):
        requests.get(fake + path, timeout=10)
    # In another thread too (tests that fan out with a pool).
    out = {}
    t = threading.Thread(target=lambda: out.update(r=_catch(lambda: requests.get(fake + path, timeout=10))))
    t.start()
    t.join(15)
    assert isinstance(out.get("r"), openapi_check.Mismatch), out


def _catch(call):
    try:
        return call()
    except Exception as e:  # noqa: BLE001 (handed back to the test thread)
        return e


def test_a_header_against_its_schema(fake):
    """503's Retry-After is documented as an integer: "soon" is refused."""
    responses = openapi_check.operation("GET", "/health")[1]["responses"]
    if "Retry-After" not in (openapi_check.resolve(responses.get("503", {})).get("headers") or {}):
        pytest.skip("GET /health documents no Retry-After on 503")
    with pytest.raises(openapi_check.Mismatch, match="header Retry-After"):
        requests.get(fake + "/health?retry", timeout=10)


def test_a_documented_answer_passes(fake, companies):
    r = requests.get(fake + "/health", timeout=10)
    assert r.status_code == 200 and r.json()["company"] == "a"
    # An unknown route answered with the 404 envelope, as the worker does, passes.
    assert requests.get(fake + "/no/such/route?404", timeout=10).status_code == 404
    # And the real worker's unknown route is exactly that.
    r = companies["a"].get("/no/such/route")
    assert r.status_code == 404 and r.json()["error"]["code"], r.text
    # unchecked() is the only way around the checker.
    with openapi_check.unchecked():
        assert requests.get(fake + "/health?teapot", timeout=10).status_code == 418
