"""Hostile clients at the HTTP level: what civetweb itself refuses, what it
accepts but the worker must refuse, clients that send slowly or open too many
connections, and the bounds on time windows and telemetry times.

Everything here speaks raw sockets where a client library would tidy the
request up. Each refusal must be the error envelope with its 4xx, logged, and
the worker must keep serving."""

import json
import re
import socket
import threading
import time
from datetime import timedelta

import pytest
import requests

from conftest import HTTP_TIMEOUT, assert_error, future_start, new_car_id, ts, utcnow
from mqttkit import Client, log_size, mqtt_stats, telemetry_topic, wait_log

CODE_RE = re.compile(r"^[a-z][a-z0-9_]*$")
# Raw requests below read until the worker closes; a live worker answers far sooner.
RAW_TIMEOUT = 15


def address(company):
    host, port = company.http_url.split("//", 1)[1].rsplit(":", 1)
    return host, int(port.split("/")[0])


def raw_exchange(company, data, timeout=RAW_TIMEOUT):
    """Sends data on a new connection, half-closes, and returns everything read until the close."""
    with socket.create_connection(address(company), timeout=timeout) as s:
        s.sendall(data)
        try:
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        out = b""
        try:
            while chunk := s.recv(65536):
                out += chunk
        except ConnectionResetError:
            pass
    return out


def parse_response(data):
    """(status, headers dict with lower-case names, body bytes) of one raw HTTP answer."""
    head, sep, body = data.partition(b"\r\n\r\n")
    assert sep, f"no complete HTTP answer: {data[:300]!r}"
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3}) ", lines[0] + " ")
    assert m, f"not an HTTP status line: {lines[0]!r}"
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        body = body[:int(headers["content-length"])]
    return int(m.group(1)), headers, body


def assert_envelope(data, status, code=None):
    """The raw answer is `status` with the JSON error envelope (and `code` when given); returns the envelope."""
    got, headers, body = parse_response(data)
    assert got == status, f"expected {status}, got {got}: {data[:400]!r}"
    assert headers.get("content-type", "").startswith("application/json"), data[:400]
    assert headers.get("x-request-id"), f"no X-Request-Id: {data[:400]!r}"
    doc = json.loads(body)
    err = doc.get("error")
    assert isinstance(err, dict) and CODE_RE.match(err.get("code", "")) and err.get("message", "").strip(), doc
    if code is not None:
        assert err["code"] == code, doc
    return doc


# ---------------------------------------------------------------- 1. malformed HTTP at server level

H = b"Host: x\r\n"
MALFORMED = [
    ("garbage_line", b"HELLO\r\n\r\n", 400, "bad_request"),
    ("no_version", b"GET /api/v1/health\r\n\r\n", 400, "bad_request"),
    ("unknown_method", b"FOO /api/v1/health HTTP/1.1\r\n" + H + b"\r\n", 405, "method_not_allowed"),
    ("trace", b"TRACE /api/v1/health HTTP/1.1\r\n" + H + b"\r\n", 405, "method_not_allowed"),
    ("http2_line", b"GET /api/v1/health HTTP/2.0\r\n" + H + b"\r\n", 400, "unsupported_http_version"),
    ("http_1_7", b"GET /api/v1/health HTTP/1.7\r\n" + H + b"\r\n", 400, "unsupported_http_version"),
    ("head_over_16k", b"GET /api/v1/health HTTP/1.1\r\n" + H + b"X-Pad: " + b"a" * 20000 + b"\r\n\r\n",
     431, "headers_too_large"),
    ("100_headers", b"GET /api/v1/health HTTP/1.1\r\n" + b"".join(b"X-H%d: 1\r\n" % i for i in range(100)) + b"\r\n",
     431, "headers_too_large"),
    ("control_char", b"GET /api/v1/health HTTP/1.1\r\nHost: x\x01y\r\n\r\n", 400, "bad_request"),
    ("two_lengths", b"POST /api/v1/reservations HTTP/1.1\r\n" + H + b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}x",
     400, "bad_request"),
    ("same_length_twice", b"POST /api/v1/reservations HTTP/1.1\r\n" + H +
     b"Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}", 400, "bad_request"),
    ("length_and_chunked", b"POST /api/v1/reservations HTTP/1.1\r\n" + H +
     b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "bad_request"),
    ("negative_length", b"POST /api/v1/reservations HTTP/1.1\r\n" + H + b"Content-Length: -1\r\n\r\n", 400, "bad_request"),
    ("length_with_junk", b"POST /api/v1/reservations HTTP/1.1\r\n" + H + b"Content-Length: 2x\r\n\r\n{}", 400,
     "bad_request"),
    ("gzip_encoding", b"POST /api/v1/reservations HTTP/1.1\r\n" + H + b"Transfer-Encoding: gzip\r\n\r\n", 400,
     "bad_request"),
    ("nul_in_path", b"GET /api/v1/health%00.json HTTP/1.1\r\n" + H + b"\r\n", 400, "bad_request"),
    ("bad_escape_in_path", b"GET /api/v1/heal%zzth HTTP/1.1\r\n" + H + b"\r\n", 400, "bad_request"),
    ("cut_escape_in_path", b"GET /api/v1/health% HTTP/1.1\r\n" + H + b"\r\n", 400, "bad_request"),
    ("nul_in_query", b"GET /api/v1/stations?updated_since=%00 HTTP/1.1\r\n" + H + b"\r\n", 400, "bad_request"),
    ("bad_escape_in_query", b"GET /api/v1/stations?x=%g1 HTTP/1.1\r\n" + H + b"\r\n", 400, "bad_request"),
    ("relative_uri", b"GET nope HTTP/1.1\r\n" + H + b"\r\n", 400, "bad_request"),
    ("static_not_found", b"GET /no-such-page.html HTTP/1.1\r\n" + H + b"\r\n", 404, "not_found"),
]


@pytest.mark.parametrize("name,data,status,code", MALFORMED, ids=[c[0] for c in MALFORMED])
def test_server_level_refusal_is_the_envelope(companies, stack, name, data, status, code):
    a = companies["a"]
    offset = log_size(stack, "a")
    answer = raw_exchange(a, data)
    assert_envelope(answer, status, code)
    assert parse_response(answer)[1].get("connection", "").lower() == "close", answer[:300]
    if status == 405:
        assert parse_response(answer)[1].get("allow"), answer[:300]
    # Logged with its status, like every refusal.
    assert wait_log(stack, "a", rf"event=http_rejected .*status={status} code={code}", offset), (
        f"no log line for the {status} of {name}")
    a.assert_alive()


def test_nul_in_path_never_reaches_a_route(companies):
    """/health%00.json was once served as /health: the NUL cut the path short."""
    answer = raw_exchange(companies["a"], b"GET /api/v1/health%00.json HTTP/1.1\r\nHost: x\r\n\r\n")
    assert parse_response(answer)[0] == 400
    assert b'"company"' not in answer


def test_escaped_path_still_routes(companies, stack):
    """The dispatcher decodes the path itself: an escaped character routes as before."""
    a = companies["a"]
    answer = raw_exchange(a, b"GET /api/v1/%68ealth HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    status, _, body = parse_response(answer)
    assert status == 200 and json.loads(body)["company"] == "a", answer[:300]


def test_smuggled_second_request_is_not_served(companies):
    """Two lengths could frame the body two ways: the worker answers the first
    request with a 400 and closes, so a request hidden in the body never runs."""
    a = companies["a"]
    hidden = b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n"
    data = (b"POST /api/v1/availability/batch HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
            b"Content-Length: " + str(len(hidden)).encode() + b"\r\n\r\n" + hidden)
    answer = raw_exchange(a, data)
    assert_envelope(answer, 400, "bad_request")
    assert answer.count(b"HTTP/1.1 ") == 1, f"a second answer followed: {answer!r}"


# ---------------------------------------------------------------- 2. slow and greedy clients

def health_within(company, seconds):
    started = time.monotonic()
    r = requests.get(company.api_url + "/health", timeout=seconds)
    return r, time.monotonic() - started


def test_health_and_federation_are_served_while_hundreds_of_connections_trickle(companies, stack):
    """250 connections from this address send their heads a byte at a time; a
    normal request from the same address is still answered at once, the peers
    still see this company, and the connections beyond the per-client limit
    are refused with 429 in the envelope (and logged)."""
    a, b = companies["a"], companies["b"]
    offset = log_size(stack, "a")
    head = b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"p" * 400 + b"\r\n\r\n"
    conns = []
    try:
        for _ in range(250):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(address(a))
            conns.append({"sock": s, "sent": 0, "answer": b"", "closed": False})

        def trickle(rounds=1, pause=0.25):
            """One byte more on each connection still waiting, after reading what it was answered
            (read first: a byte sent to a socket the worker closed would reset it, answer unread)."""
            for _ in range(rounds):
                for c in conns:
                    if c["closed"]:
                        continue
                    try:
                        chunk = c["sock"].recv(65536)
                        c["answer"] += chunk
                        c["closed"] = not chunk
                    except (BlockingIOError, InterruptedError):
                        pass
                    except OSError:
                        c["closed"] = True
                    if c["closed"] or c["answer"] or c["sent"] >= len(head) - 4:  # never the end of the head
                        continue
                    try:
                        c["sock"].send(head[c["sent"]:c["sent"] + 1])
                        c["sent"] += 1
                    except (BlockingIOError, InterruptedError):
                        pass
                    except OSError:
                        c["closed"] = True
                time.sleep(pause)

        trickle(rounds=4)
        # The same address, a normal client: answered at once, not after the tricklers' timeout.
        for _ in range(3):
            r, took = health_within(a, 5)
            assert r.status_code == 200 and r.json()["company"] == "a", r.text[:200]
            assert took < 3, f"/health took {took:.1f} s while 250 connections trickled"
            r = requests.get(a.api_url + "/federation/servers", timeout=5)
            assert r.status_code == 200, r.text[:200]
            trickle(rounds=1)
        # A peer's view of this company stays up (its heartbeat calls keep getting through).
        peers = {p["company"]: p for p in b.get("/federation/peers").json()["items"]}
        assert peers["a"]["status"] == "up", peers["a"]
        trickle(rounds=1)

        refused = [c for c in conns if c["answer"].startswith(b"HTTP/1.1 429")]
        assert len(refused) >= 150, (f"only {len(refused)} of 250 trickling connections were refused with 429; "
                                     f"answers: {[c['answer'][:40] for c in conns[:5]]}")
        assert_envelope(refused[0]["answer"], 429, "too_many_connections")
        assert parse_response(refused[0]["answer"])[1].get("retry-after") == "1"
        assert wait_log(stack, "a", r"event=http_refused .*status=429 reason=too_many_connections", offset)
    finally:
        for c in conns:
            c["sock"].close()
    a.assert_alive()


def slow_exchange(company, head, dribble, every, limit):
    """Sends head, then one byte of dribble every `every` seconds (after reading
    what arrived) until the worker closes the connection or `limit` passes.
    Returns (answer, seconds to the first byte of the answer, seconds to the close)."""
    started = time.monotonic()
    answered = closed = None
    with socket.create_connection(address(company), timeout=limit) as s:
        s.sendall(head)
        s.setblocking(False)
        answer, i = b"", 0
        while time.monotonic() - started < limit:
            try:
                chunk = s.recv(65536)
                if not chunk:
                    closed = time.monotonic() - started
                    break
                answer += chunk
                answered = answered or time.monotonic() - started
            except BlockingIOError:
                pass
            except OSError:
                closed = time.monotonic() - started
                break
            if i < len(dribble):
                try:
                    s.send(dribble[i:i + 1])
                    i += 1
                except OSError:
                    pass
            time.sleep(every)
    return answer, answered, closed


def test_slow_head_body_or_unread_rest_is_cut_within_the_timeout(companies, stack):
    """Bytes that arrive one every half second, never stopping: a head or a
    body is cut off after EVC_HTTP_REQUEST_TIMEOUT_MS (10 s by default) with a
    408 envelope; the rest of a body the answer did not need (here a 401) is
    read and dropped for at most as long, then the connection closes. None
    holds its thread longer."""
    a = companies["a"]
    offset = log_size(stack, "a")
    cases = {
        "head": (b"GET /api/v1/health HTTP/1.1\r\n", b"X-Slow: " + b"s" * 200),
        "body": (b"POST /api/v1/availability/batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 400\r\n\r\n{", b" " * 399),
        "unread_rest": (b"POST /api/v1/reservations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer not-a-token\r\n"
                        b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{", b" " * 999),
    }
    results = {}
    threads = [threading.Thread(target=lambda k=k, v=v: results.__setitem__(k, slow_exchange(a, *v, 0.5, 25)))
               for k, v in cases.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for what in ("head", "body"):
        answer, answered, closed = results[what]
        assert answer, f"slow {what}: no answer"
        assert_envelope(answer, 408, "request_timeout")
        assert 8 <= answered <= 16, f"slow {what}: answered after {answered:.1f} s (timeout 10 s)"
        assert closed is not None and closed <= 17, f"slow {what}: not closed after its 408 ({closed})"
    answer, answered, closed = results["unread_rest"]
    assert_envelope(answer, 401, "unauthorized")
    assert parse_response(answer)[1].get("connection", "").lower() == "close"
    assert answered < 3, f"the 401 took {answered:.1f} s"
    assert closed is not None and closed <= 16, f"the unread rest held the connection for {closed} s"
    assert wait_log(stack, "a", r"event=http_rejected .*status=408 code=request_timeout", offset)
    a.assert_alive()


def test_a_client_sending_a_refused_body_fast_reads_its_answer(companies):
    """The rest of a body refused early (413 on its Content-Length) is read and
    dropped while it comes, so a client still sending reads its 413 instead of
    a reset connection."""
    a = companies["a"]
    r = requests.post(a.url("/availability/batch"), data=b"x" * (3 * 1024 * 1024),
                      headers={"Content-Type": "application/json"}, timeout=HTTP_TIMEOUT)
    assert_error(r, 413, "payload_too_large")
    assert r.headers.get("Connection", "").lower() == "close"


# ---------------------------------------------------------------- 3. time bounds

@pytest.mark.parametrize("shift", ["reversed", "empty", "over_24h", "year_2100", "year_1999"])
def test_availability_batch_refuses_bad_windows(companies, shift):
    a = companies["a"]
    t0 = future_start()
    start, end = ts(t0), ts(t0 + timedelta(hours=1))
    if shift == "reversed":
        start, end = end, start
    elif shift == "empty":
        end = start
    elif shift == "over_24h":
        end = ts(t0 + timedelta(hours=24, seconds=1))
    elif shift == "year_2100":
        start, end = "2100-01-01T00:00:00Z", "2100-01-01T01:00:00Z"
    elif shift == "year_1999":
        start, end = "1999-12-31T23:00:00Z", "1999-12-31T23:30:00Z"
    r = a.post("/availability/batch", json={"windows": [{"station_id": "a-x1", "start": start, "end": end}]})
    assert_error(r, 400)


@pytest.mark.parametrize("params", [
    {"from": "2100-01-01T00:00:00Z", "to": "2100-01-01T01:00:00Z"},
    {"from": "9999-12-31T23:59:59-23:59", "to": "9999-12-31T23:59:59Z"},
    {"from": "TO", "to": "FROM"},
    {"from": "FROM", "to": "FAR"},
], ids=["year_2100", "year_9999", "reversed", "over_7_days"])
def test_availability_refuses_bad_ranges_even_without_a_station(companies, params):
    """The range is checked before the station is looked up: no 404 leaks past a bad range."""
    a = companies["a"]
    t0 = future_start()
    values = {"FROM": ts(t0), "TO": ts(t0 + timedelta(hours=2)), "FAR": ts(t0 + timedelta(days=8))}
    q = {k: values.get(v, v) for k, v in params.items()}
    assert_error(a.get(f"/stations/{a.new_station_id('nope')}/availability", params=q), 400)


def sample(t, **over):
    s = {"ts": ts(t), "lat": -7.1, "lon": -34.8, "soc": 50, "speed_kmh": 60.0,
         "consumption_kwh_per_100km": 16.0}
    s.update(over)
    return s


def test_telemetry_outside_retention_or_ahead_is_refused_and_counted(companies, stack):
    """A sample older than EVC_TELEMETRY_RETENTION_HOURS (24 h) or more than 5
    minutes ahead is dropped, counted in mqtt_stats (telemetry_out_of_range, and
    telemetry_rejected) and logged at info once for the lot; an in-range sample
    of the same car is stored, and a future one never becomes its latest."""
    a = companies["a"]
    car = new_car_id("telrange")
    now = utcnow().replace(microsecond=0)
    out = [now - timedelta(hours=24, minutes=5), now - timedelta(days=400), now + timedelta(minutes=10),
           now + timedelta(days=365)]
    offset = log_size(stack, "a")
    _, before = mqtt_stats(a)
    with Client(stack, tag="telrange") as mq:
        for t in out:
            mq.publish(telemetry_topic("a", car), sample(t, soc=11), qos=1)
        mq.publish(telemetry_topic("a", car), sample(now - timedelta(minutes=1), soc=77), qos=1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        rows = a.sql("SELECT ts, soc FROM car_telemetry WHERE car_id = %s", (car,))
        if rows:
            break
        time.sleep(0.2)
    time.sleep(0.5)  # same batch or the next: the refused ones are counted by now
    rows = a.sql("SELECT ts, soc FROM car_telemetry WHERE car_id = %s", (car,))
    assert [r[0] for r in rows] == [now - timedelta(minutes=1)], f"stored: {rows}"
    state = a.sql_one("SELECT ts, soc FROM car_state WHERE car_id = %s", (car,))
    assert state[0] == now - timedelta(minutes=1) and state[1] == pytest.approx(77), state
    _, after = mqtt_stats(a)
    assert after["telemetry_out_of_range"] - before["telemetry_out_of_range"] >= len(out), (before, after)
    assert after["telemetry_rejected"] - before["telemetry_rejected"] >= len(out), (before, after)
    # One line per reason at most every 10 s, with the count: never one per sample.
    lines = wait_log(stack, "a", r"event=telemetry_rejected count=\d+ reason=out_of_range", offset, timeout=12)
    assert lines, "no log line for the refused telemetry"
    assert all("level=info" in line for line in lines), lines
    a.assert_alive()
