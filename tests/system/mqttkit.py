"""Helpers for the MQTT system tests (test_mqtt.py).

A small blocking wrapper around paho-mqtt 1.6 (Debian's python3-paho-mqtt):
connect, subscribe and wait for the SUBACK, publish and wait for the PUBACK,
and wait for messages on a topic. Plus the topic names of the worker's bridge
(workers/company/mqtt/mqtt_bridge.h) and a few readers of /health and the logs.
"""

import json
import re
import secrets
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import paho.mqtt.client as mqtt

# Generous: these tests check behaviour, not speed.
CONNECT_TIMEOUT = 10
ANSWER_TIMEOUT = 30


# ---------------------------------------------------------------- topics

def prefix(company_id):
    return f"evc/v1/{company_id}/"


def req_topic(company_id, car):
    return f"evc/v1/{company_id}/cars/{car}/req"


def resp_topic(company_id, car):
    return f"evc/v1/{company_id}/cars/{car}/resp"


def telemetry_topic(company_id, car):
    return f"evc/v1/{company_id}/cars/{car}/telemetry"


def station_topic(company_id, station_id):
    return f"evc/v1/{company_id}/stations/{station_id}/status"


def server_topic(company_id):
    """Every worker process of the company announces itself on its own topic
    evc/v1/<company>/servers/<instance>; this filter follows them all."""
    return f"evc/v1/{company_id}/servers/+"


def car_password(stack, car):
    """The password of a demo car (car-001 ...) from the stack's credentials file."""
    with open(stack["mqtt_credentials_file"], encoding="utf-8") as f:
        for line in f:
            user, _, password = line.strip().partition(":")
            if user == car:
                return password
    raise KeyError(car)


def on_server_topic(company_id, topic):
    return topic.startswith(f"evc/v1/{company_id}/servers/")


def new_car(tag="t"):
    return f"{tag}-{secrets.token_hex(6)}"


def new_request_id(tag="r"):
    return f"{tag}-{secrets.token_hex(8)}"


def broker_address(stack):
    """(host, port) of the stack's broker from stack.json's mqtt_url (tcp://host:port)."""
    url = urlparse(stack["mqtt_url"])
    return url.hostname or "127.0.0.1", url.port or 1883


# ---------------------------------------------------------------- a client

class Message:
    def __init__(self, msg):
        self.topic = msg.topic
        self.payload = bytes(msg.payload)
        self.retain = bool(msg.retain)
        self.qos = msg.qos
        self.at = time.monotonic()

    def json(self):
        return json.loads(self.payload.decode("utf-8"))

    def __repr__(self):
        return f"Message({self.topic!r}, {self.payload[:300]!r}, retain={self.retain})"


class Client:
    """One MQTT connection with its own network thread; every received message is kept."""

    def __init__(self, stack, tag="systest", username=None, password=None):
        """Logs in as the stack's operator (every topic) unless given a user: the
        broker takes no anonymous client."""
        self.host, self.port = broker_address(stack)
        self.client_id = f"{tag}-{secrets.token_hex(6)}"
        self.messages = []
        self._cond = threading.Condition()
        self._connected = threading.Event()
        self._connect_rc = None
        self._subacks = {}
        c = mqtt.Client(client_id=self.client_id, clean_session=True)
        if username is None:
            username, password = stack.get("mqtt_username"), stack.get("mqtt_password")
        if username is not None:
            c.username_pw_set(username, password)
        c.max_inflight_messages_set(1000)
        c.max_queued_messages_set(0)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        c.on_subscribe = self._on_subscribe
        self.c = c

    # -- callbacks (paho's thread)

    def _on_connect(self, client, userdata, flags, rc):
        self._connect_rc = rc
        if rc == 0:
            self._connected.set()

    def _on_disconnect(self, client, userdata, rc):
        self._connected.clear()

    def _on_message(self, client, userdata, msg):
        with self._cond:
            self.messages.append(Message(msg))
            self._cond.notify_all()

    def _on_subscribe(self, client, userdata, mid, granted_qos):
        with self._cond:
            self._subacks[mid] = granted_qos
            self._cond.notify_all()

    # -- API

    def connect(self, timeout=CONNECT_TIMEOUT):
        self.c.connect(self.host, self.port, keepalive=30)
        self.c.loop_start()
        if not self._connected.wait(timeout):
            self.close()
            raise AssertionError(f"MQTT client {self.client_id}: no CONNACK from {self.host}:{self.port} "
                                 f"within {timeout}s (rc {self._connect_rc})")
        return self

    def close(self):
        try:
            self.c.disconnect()
        finally:
            self.c.loop_stop()

    def __enter__(self):
        return self.connect()

    def __exit__(self, *exc):
        self.close()

    def subscribe(self, topic, qos=1, timeout=CONNECT_TIMEOUT):
        rc, mid = self.c.subscribe(topic, qos)
        assert rc == mqtt.MQTT_ERR_SUCCESS, f"subscribe {topic}: rc {rc}"
        with self._cond:
            ok = self._cond.wait_for(lambda: mid in self._subacks, timeout)
        assert ok, f"no SUBACK for {topic} within {timeout}s"
        granted = self._subacks[mid]
        assert all(g != 0x80 for g in granted), f"subscription to {topic} refused: {granted}"

    def publish(self, topic, payload, qos=1, retain=False, wait=True, timeout=CONNECT_TIMEOUT):
        if isinstance(payload, (dict, list)):
            payload = json.dumps(payload)
        info = self.c.publish(topic, payload, qos=qos, retain=retain)
        assert info.rc == mqtt.MQTT_ERR_SUCCESS, f"publish {topic}: rc {info.rc}"
        if wait and qos > 0:
            info.wait_for_publish(timeout)
            assert info.is_published(), f"no PUBACK for {topic} within {timeout}s"
        return info

    def received(self, topic=None):
        with self._cond:
            return [m for m in self.messages if topic is None or mqtt.topic_matches_sub(topic, m.topic)]

    def wait_for(self, predicate, timeout=ANSWER_TIMEOUT):
        """The first kept message satisfying predicate(message), waiting up to timeout; None if none."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for m in self.messages:
                    if predicate(m):
                        return m
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)

    def wait_count(self, topic, n, timeout):
        """Waits until at least n messages were kept on topic; returns them all."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = [m for m in self.messages if mqtt.topic_matches_sub(topic, m.topic)]
                left = deadline - time.monotonic()
                if len(got) >= n or left <= 0:
                    return got
                self._cond.wait(left)


def answers(client, company_id, car, request_id=None):
    """The decoded answers kept on a car's resp topic (those for request_id when given)."""
    out = []
    for m in client.received(resp_topic(company_id, car)):
        try:
            body = m.json()
        except ValueError:
            body = {"_undecodable": m.payload[:200]}
        if request_id is None or (isinstance(body, dict) and body.get("request_id") == request_id):
            out.append(body)
    return out


def wait_answer(client, company_id, car, request_id=None, timeout=ANSWER_TIMEOUT):
    """The first answer on the car's resp topic (for request_id when given), decoded, or None."""
    topic = resp_topic(company_id, car)

    def match(m):
        if m.topic != topic:
            return False
        if request_id is None:
            return True
        try:
            body = m.json()
        except ValueError:
            return False
        return isinstance(body, dict) and body.get("request_id") == request_id

    m = client.wait_for(match, timeout)
    return None if m is None else m.json()


def request(client, company_id, car, payload, timeout=ANSWER_TIMEOUT):
    """Publishes a request on the car's req topic (QoS 1) and returns its answer (dict) or None.
    The client must already be subscribed to the car's resp topic."""
    client.publish(req_topic(company_id, car), payload, qos=1)
    return wait_answer(client, company_id, car, payload.get("request_id"), timeout)


# ---------------------------------------------------------------- the worker's side

def mqtt_stats(company):
    """(mqtt, mqtt_stats) of the company's /health."""
    r = company.health(timeout=10)
    body = r.json()
    return body.get("mqtt"), body.get("mqtt_stats") or {}


def worker_log(stack, company_id):
    return Path(stack["state_dir"]) / "logs" / f"worker-{company_id}.log"


def log_size(stack, company_id):
    try:
        return worker_log(stack, company_id).stat().st_size
    except OSError:
        return 0


def log_since(stack, company_id, offset):
    """The worker's log lines written after byte offset."""
    try:
        with open(worker_log(stack, company_id), "rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", errors="replace").splitlines()
    except OSError:
        return []


def log_lines(stack, company_id, pattern, offset=0):
    rx = re.compile(pattern)
    return [line for line in log_since(stack, company_id, offset) if rx.search(line)]


def wait_log(stack, company_id, pattern, offset=0, timeout=5):
    deadline = time.monotonic() + timeout
    while True:
        got = log_lines(stack, company_id, pattern, offset)
        if got or time.monotonic() >= deadline:
            return got
        time.sleep(0.1)
