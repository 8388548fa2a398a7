#include "chargepoint.h"
#include "simtime.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SET_MAX 500
#define CONNECTORS_MAX 64
#define RESERVATIONS_MAX 64   /* ReserveNow held at once (the lead time may cover many simulated hours) */
#define VISITS_MAX 16
#define ID_TAG_MAX 20          /* OCPP 1.6 idToken */
#define CALL_TIMEOUT_MS 5000   /* our call unanswered this long: the connection is dropped */
#define METER_EVERY 300.0      /* simulated seconds between MeterValues while a car charges (at most one a tick) */
#define RECONNECT_FIRST 2.0
#define RECONNECT_MAX 60.0
#define START_TRIES 3          /* StartTransaction / StopTransaction refused this often: given up */
#define SAFE_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"

enum cstate { CS_UNKNOWN, CS_AVAILABLE, CS_RESERVED, CS_CHARGING, CS_FAULTED, CS_UNAVAILABLE };
static const char *const cstate_names[] = { "-", "Available", "Reserved", "Charging", "Faulted", "Unavailable" };

struct connector {
	enum cstate reported; /* last state the central system accepted; CS_UNKNOWN: to be sent */
	bool faulted;         /* a simulated fault (written under the lock: ReserveNow reads it) */
	bool inoperative;     /* ChangeAvailability Inoperative (under the lock) */
	bool stale;           /* a transaction of an earlier run is open here (ConcurrentTx): not used */
	long long meter_wh;   /* the energy register */
	int visit;            /* 1 + the index of the visit charging here; 0: none */
};

struct reservation {
	int id; /* 0: a free slot */
	int connector;
	char id_tag[ID_TAG_MAX + 1];
	double expiry;
};

/* A car at the station for its booked window: a transaction from the window's start to its departure. */
struct visit {
	char car[32]; /* "": a free slot */
	double start, end;
	int charger;  /* the booked charger, used when no ReserveNow named one */
	const double *energy_kwh;
	double energy_at_start, energy_at_leave; /* the car's counter at arrival (it charges from the window's start) and departure */
	int connector;
	long long tx; /* 0 until StartTransaction was answered */
	long long meter_start;
	double last_meter;
	bool metered; /* a MeterValues was sent for this transaction */
	bool leaving;
	int start_tries, stop_tries;
};

struct chargepoint {
	char station[64], key[80], host[128], path[96];
	int port, connectors, interval;
	double meter_every; /* real seconds between MeterValues */
	struct mg_connection *conn;
	double now, next_connect, backoff, next_boot, next_heartbeat;
	bool booted, warned;
	unsigned seq, started, stopped;
	struct connector con[CONNECTORS_MAX + 1]; /* [0]: the whole station */
	struct visit visits[VISITS_MAX];

	pthread_mutex_t lock; /* what civetweb's reader thread shares with the simulation */
	pthread_cond_t changed;
	bool closed, reset;
	struct reservation reservations[RESERVATIONS_MAX];
	char call_id[24];
	bool call_done;
	json_t *call_answer;
	char call_error[200];
};

struct chargepoint_set {
	struct chargepoint *items[SET_MAX];
	int count;
	double speedup; /* simulated seconds per real second: the meter samples on the simulated clock */
};

static void base64(const char *in, char *out, size_t size)
{
	static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = strlen(in), o = 0;
	for (size_t i = 0; i < n && o + 5 < size; i += 3) {
		unsigned v = (unsigned)(unsigned char)in[i] << 16;
		v |= i + 1 < n ? (unsigned)(unsigned char)in[i + 1] << 8 : 0;
		v |= i + 2 < n ? (unsigned)(unsigned char)in[i + 2] : 0;
		out[o++] = abc[v >> 18 & 63];
		out[o++] = abc[v >> 12 & 63];
		out[o++] = i + 1 < n ? abc[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? abc[v & 63] : '=';
	}
	out[o] = '\0';
}

static bool safe(const char *s)
{
	return s != NULL && s[0] != '\0' && strspn(s, SAFE_CHARS) == strlen(s);
}

struct chargepoint *chargepoint_new(const char *station_id, const char *key, const char *server_url, int connectors)
{
	char host[128];
	int port = 0;
	if (!safe(station_id) || strlen(station_id) >= 64 || !safe(key) || strlen(key) >= 80 || connectors < 1 ||
	    connectors > CONNECTORS_MAX || server_url == NULL ||
	    sscanf(server_url, "http://%127[^:/]:%d", host, &port) != 2 || port <= 0 || port > 65535)
		return NULL;
	struct chargepoint *cp = calloc(1, sizeof(*cp));
	if (cp == NULL)
		return NULL;
	snprintf(cp->station, sizeof(cp->station), "%s", station_id);
	snprintf(cp->key, sizeof(cp->key), "%s", key);
	snprintf(cp->host, sizeof(cp->host), "%s", host);
	snprintf(cp->path, sizeof(cp->path), "/ocpp/%s", station_id);
	cp->port = port;
	cp->connectors = connectors;
	cp->backoff = RECONNECT_FIRST;
	cp->interval = 300;
	pthread_mutex_init(&cp->lock, NULL);
	pthread_cond_init(&cp->changed, NULL);
	return cp;
}

/* ---- the central system's calls, on civetweb's reader thread ---------------------------- */

static const char *reserve_now_locked(struct chargepoint *cp, json_t *p)
{
	json_int_t c = json_integer_value(json_object_get(p, "connectorId"));
	json_int_t id = json_integer_value(json_object_get(p, "reservationId"));
	const char *tag = json_string_value(json_object_get(p, "idTag"));
	double expiry = parse_time(json_string_value(json_object_get(p, "expiryDate")));
	if (c < 1 || c > cp->connectors || id <= 0 || id > 0x7fffffff || tag == NULL || strlen(tag) > ID_TAG_MAX)
		return "Rejected"; /* never "any connector" (0): a window is one charger's */
	if (cp->con[c].faulted)
		return "Faulted";
	if (cp->con[c].inoperative)
		return "Unavailable";
	struct reservation *slot = NULL;
	double now = (double)time(NULL);
	for (int i = 0; i < RESERVATIONS_MAX; i++) {
		struct reservation *r = &cp->reservations[i];
		if (r->id == id || (slot == NULL && (r->id == 0 || r->expiry < now)))
			slot = r;
		if (r->id == id)
			break;
	}
	if (slot == NULL)
		return "Rejected";
	slot->id = (int)id;
	slot->connector = (int)c;
	slot->expiry = expiry;
	snprintf(slot->id_tag, sizeof(slot->id_tag), "%s", tag);
	return "Accepted";
}

static const char *cancel_reservation_locked(struct chargepoint *cp, json_t *p)
{
	json_int_t id = json_integer_value(json_object_get(p, "reservationId"));
	for (int i = 0; i < RESERVATIONS_MAX; i++)
		if (id > 0 && cp->reservations[i].id == id) {
			cp->reservations[i].id = 0;
			return "Accepted";
		}
	return "Rejected";
}

static const char *change_availability_locked(struct chargepoint *cp, json_t *p)
{
	json_int_t c = json_integer_value(json_object_get(p, "connectorId"));
	bool inoperative = strcmp(json_string_value(json_object_get(p, "type")) ?: "", "Inoperative") == 0;
	if (c < 0 || c > cp->connectors)
		return "Rejected";
	for (json_int_t k = c == 0 ? 1 : c; k <= (c == 0 ? cp->connectors : c); k++)
		cp->con[k].inoperative = inoperative;
	return "Accepted";
}

/* Answers one CALL of the central system (a CALLERROR NotImplemented for what a simulated station cannot do). */
static void answer_call(struct chargepoint *cp, struct mg_connection *conn, const char *id, const char *action,
			json_t *payload)
{
	const char *status = NULL;
	pthread_mutex_lock(&cp->lock);
	if (action == NULL || !json_is_object(payload))
		status = NULL;
	else if (strcmp(action, "ReserveNow") == 0)
		status = reserve_now_locked(cp, payload);
	else if (strcmp(action, "CancelReservation") == 0)
		status = cancel_reservation_locked(cp, payload);
	else if (strcmp(action, "ChangeAvailability") == 0)
		status = change_availability_locked(cp, payload);
	else if (strcmp(action, "Reset") == 0)
		cp->reset = true, status = "Accepted"; /* boots again */
	else if (strcmp(action, "RemoteStartTransaction") == 0 || strcmp(action, "RemoteStopTransaction") == 0)
		status = "Rejected"; /* a simulated station charges the cars that arrive, nobody else */
	pthread_mutex_unlock(&cp->lock);
	json_t *reply = status != NULL ? json_pack("[i, s, {s:s}]", 3, id, "status", status)
				       : json_pack("[i, s, s, s, {}]", 4, id, "NotImplemented", "not simulated");
	char *text = reply != NULL ? json_dumps(reply, JSON_COMPACT) : NULL;
	if (text != NULL)
		mg_websocket_client_write(conn, MG_WEBSOCKET_OPCODE_TEXT, text, strlen(text));
	free(text);
	json_decref(reply);
	if (action != NULL && strcmp(action, "ReserveNow") == 0)
		printf("station %s: ReserveNow connector %lld reservation %lld for %s: %s\n", cp->station,
		       (long long)json_integer_value(json_object_get(payload, "connectorId")),
		       (long long)json_integer_value(json_object_get(payload, "reservationId")),
		       json_string_value(json_object_get(payload, "idTag")) ?: "?", status ?: "-");
	else
		printf("station %s: %s: %s\n", cp->station, action ?: "?", status ?: "NotImplemented");
}

/* A CALLRESULT or CALLERROR: the answer to our call in flight, or dropped. */
static void take_answer(struct chargepoint *cp, json_int_t type, const char *id, json_t *frame)
{
	pthread_mutex_lock(&cp->lock);
	if (cp->call_id[0] != '\0' && strcmp(cp->call_id, id) == 0 && !cp->call_done) {
		cp->call_done = true;
		if (type == 3 && json_is_object(json_array_get(frame, 2)))
			cp->call_answer = json_deep_copy(json_array_get(frame, 2)); /* a copy: jansson shares no object across threads */
		else
			snprintf(cp->call_error, sizeof(cp->call_error), "%.60s: %.130s",
				 json_string_value(json_array_get(frame, 2)) ?: "?",
				 json_string_value(json_array_get(frame, 3)) ?: "");
		pthread_cond_broadcast(&cp->changed);
	}
	pthread_mutex_unlock(&cp->lock);
}

static int on_data(struct mg_connection *conn, int bits, char *data, size_t len, void *user)
{
	struct chargepoint *cp = user;
	int opcode = bits & 0x0f;
	if (opcode == MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE)
		return 0;
	if (opcode == MG_WEBSOCKET_OPCODE_PING) {
		mg_websocket_client_write(conn, MG_WEBSOCKET_OPCODE_PONG, data, len);
		return 1;
	}
	if (opcode != MG_WEBSOCKET_OPCODE_TEXT)
		return 1;
	json_t *frame = json_loadb(data, len, 0, NULL);
	json_int_t type = json_integer_value(json_array_get(frame, 0));
	const char *id = json_string_value(json_array_get(frame, 1));
	if (id != NULL && type == 2)
		answer_call(cp, conn, id, json_string_value(json_array_get(frame, 2)), json_array_get(frame, 3));
	else if (id != NULL && (type == 3 || type == 4))
		take_answer(cp, type, id, frame);
	else
		printf("station %s: a frame that is not OCPP-J from the central system: %.80s\n", cp->station, data);
	json_decref(frame);
	return 1;
}

static void on_close(const struct mg_connection *conn, void *user)
{
	(void)conn;
	struct chargepoint *cp = user;
	pthread_mutex_lock(&cp->lock);
	cp->closed = true;
	pthread_cond_broadcast(&cp->changed);
	pthread_mutex_unlock(&cp->lock);
}

/* ---- our side, on the simulation thread ---------------------------------------------------- */

/*
 * Asks the central system to close (a close frame): its answer ends our
 * reader thread at once, which mg_close_connection then joins without
 * waiting for civetweb's 2 s poll quantum.
 */
static void send_close(struct chargepoint *cp)
{
	static const char frame[] = "\x03\xe8" "bye"; /* 1000, normal closure */
	if (cp->conn != NULL)
		mg_websocket_client_write(cp->conn, MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE, frame, sizeof(frame) - 1);
}

static bool closed_by_now(struct chargepoint *cp)
{
	pthread_mutex_lock(&cp->lock);
	bool closed = cp->closed;
	pthread_mutex_unlock(&cp->lock);
	return closed;
}

static void drop(struct chargepoint *cp, const char *why)
{
	if (cp->conn == NULL)
		return;
	printf("station %s: OCPP connection lost (%s), reconnecting\n", cp->station, why);
	send_close(cp);
	for (int i = 0; i < 50 && !closed_by_now(cp); i++)
		usleep(10000);
	mg_close_connection(cp->conn); /* joins civetweb's reader thread */
	cp->conn = NULL;
	cp->booted = false;
	cp->next_connect = cp->now + cp->backoff;
	for (int c = 0; c <= cp->connectors; c++)
		cp->con[c].reported = CS_UNKNOWN;
}

/*
 * civetweb's client writes a frame's header and its payload in two send()s
 * and leaves Nagle on, with no way to reach its socket: every call would
 * wait ~40 ms for the server's delayed ACK. So TCP_NODELAY is set on each
 * socket of ours connected to the server (ours only: the MQTT links go to
 * the broker's port), found by its peer address.
 */
static void nodelay_to(const char *host, int port)
{
	struct in_addr want;
	if (inet_pton(AF_INET, host, &want) != 1)
		return; /* a name, not an address: left alone */
	for (int fd = 3; fd < 1024; fd++) {
		struct sockaddr_in peer;
		socklen_t len = sizeof(peer);
		if (getpeername(fd, (struct sockaddr *)&peer, &len) == 0 && peer.sin_family == AF_INET &&
		    ntohs(peer.sin_port) == port && peer.sin_addr.s_addr == want.s_addr) {
			int on = 1;
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
		}
	}
}

static void cp_connect(struct chargepoint *cp)
{
	char err[256] = "", creds[160], auth[240], origin[400];
	snprintf(creds, sizeof(creds), "%s:%s", cp->station, cp->key);
	base64(creds, auth, sizeof(auth));
	/*
	 * civetweb's client takes no request headers: the subprotocol and the
	 * Basic credentials ride after the Origin value it prints verbatim
	 * (station id and key hold no CR or LF: checked by chargepoint_new).
	 */
	snprintf(origin, sizeof(origin), "http://evc-sim\r\nSec-WebSocket-Protocol: ocpp1.6\r\nAuthorization: Basic %s",
		 auth);
	pthread_mutex_lock(&cp->lock);
	cp->closed = false;
	pthread_mutex_unlock(&cp->lock);
	cp->conn = mg_connect_websocket_client(cp->host, cp->port, 0, err, sizeof(err), cp->path, origin, on_data,
					       on_close, cp);
	if (cp->conn == NULL) {
		if (!cp->warned)
			printf("station %s: cannot connect to ws://%s:%d%s (%s), retrying\n", cp->station, cp->host, cp->port,
			       cp->path, err);
		cp->warned = true;
		cp->next_connect = cp->now + cp->backoff;
		cp->backoff = fmin(RECONNECT_MAX, cp->backoff * 2);
		return;
	}
	nodelay_to(cp->host, cp->port);
	cp->warned = false;
	cp->backoff = RECONNECT_FIRST;
	cp->booted = false;
	cp->next_boot = cp->now;
}

/* Sends [2, id, action, payload] (payload: stolen) and waits for the answer: a new reference, or NULL. */
static json_t *call(struct chargepoint *cp, const char *action, json_t *payload)
{
	char id[24], text_id[24];
	snprintf(id, sizeof(id), "sim%u", ++cp->seq);
	json_t *frame = payload != NULL ? json_pack("[i, s, s, o]", 2, id, action, payload) : NULL;
	char *text = frame != NULL && cp->conn != NULL ? json_dumps(frame, JSON_COMPACT) : NULL;
	json_decref(frame);
	if (text == NULL)
		return NULL;
	pthread_mutex_lock(&cp->lock);
	snprintf(cp->call_id, sizeof(cp->call_id), "%s", id);
	cp->call_done = false;
	cp->call_error[0] = '\0';
	pthread_mutex_unlock(&cp->lock);
	bool sent = mg_websocket_client_write(cp->conn, MG_WEBSOCKET_OPCODE_TEXT, text, strlen(text)) > 0;
	free(text);
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += CALL_TIMEOUT_MS / 1000;
	pthread_mutex_lock(&cp->lock);
	while (sent && !cp->call_done && !cp->closed)
		if (pthread_cond_timedwait(&cp->changed, &cp->lock, &deadline) != 0)
			break;
	json_t *answer = cp->call_answer;
	bool done = cp->call_done;
	char error[sizeof(cp->call_error)];
	snprintf(error, sizeof(error), "%s", cp->call_error);
	snprintf(text_id, sizeof(text_id), "%s", cp->call_id);
	cp->call_answer = NULL;
	cp->call_id[0] = '\0';
	pthread_mutex_unlock(&cp->lock);
	if (!done) {
		char why[96];
		snprintf(why, sizeof(why), "no answer to %s %s", action, text_id);
		drop(cp, why);
	} else if (answer == NULL) {
		printf("station %s: %s refused: %s\n", cp->station, action, error);
	}
	return answer;
}

static void boot(struct chargepoint *cp)
{
	json_t *a = call(cp, "BootNotification", json_pack("{s:s, s:s, s:s}", "chargePointVendor", "evc-sim",
							    "chargePointModel", "simulated-dc", "firmwareVersion", "1.0"));
	cp->next_boot = cp->now + 10;
	if (a == NULL)
		return;
	json_int_t interval = json_integer_value(json_object_get(a, "interval"));
	cp->interval = interval >= 10 && interval <= 86400 ? (int)interval : 300;
	const char *status = json_string_value(json_object_get(a, "status")) ?: "";
	if (strcmp(status, "Accepted") == 0) {
		cp->booted = true;
		cp->next_heartbeat = cp->now + cp->interval;
		for (int c = 0; c <= cp->connectors; c++)
			cp->con[c].reported = CS_UNKNOWN;
	} else {
		cp->next_boot = cp->now + cp->interval; /* OCPP: try again after the interval given */
	}
	printf("station %s: BootNotification %s, heartbeat every %d s\n", cp->station, status, cp->interval);
	json_decref(a);
}

/* The state connector c is in now. Caller holds the lock. */
static enum cstate desired_locked(const struct chargepoint *cp, int c)
{
	const struct connector *k = &cp->con[c];
	if (c == 0)
		return CS_AVAILABLE;
	if (k->faulted)
		return CS_FAULTED;
	if (k->inoperative)
		return CS_UNAVAILABLE;
	if (k->visit != 0)
		return CS_CHARGING;
	for (int i = 0; i < RESERVATIONS_MAX; i++)
		if (cp->reservations[i].id != 0 && cp->reservations[i].connector == c && cp->reservations[i].expiry > cp->now)
			return CS_RESERVED;
	return CS_AVAILABLE;
}

/* StatusNotification for each connector whose state changed since it was last told. */
static void report_status(struct chargepoint *cp)
{
	char ts[32];
	rfc3339(cp->now, ts);
	for (int c = 0; c <= cp->connectors && cp->booted; c++) {
		pthread_mutex_lock(&cp->lock);
		enum cstate want = desired_locked(cp, c);
		pthread_mutex_unlock(&cp->lock);
		if (want == cp->con[c].reported)
			continue;
		json_t *p = json_pack("{s:i, s:s, s:s, s:s}", "connectorId", c, "errorCode",
				      want == CS_FAULTED ? "OtherError" : "NoError", "status", cstate_names[want], "timestamp", ts);
		if (p != NULL && want == CS_FAULTED)
			json_object_set_new(p, "info", json_string("simulated fault"));
		json_t *a = call(cp, "StatusNotification", p);
		if (a != NULL)
			cp->con[c].reported = want;
		json_decref(a);
	}
}

/* The connector and reservation for the visit: the ReserveNow made for its car, else its booked charger, else any free one. */
static int pick_connector(struct chargepoint *cp, const struct visit *v, int *reservation)
{
	int connector = 0;
	double best = 1e18;
	*reservation = 0;
	pthread_mutex_lock(&cp->lock);
	for (int i = 0; i < RESERVATIONS_MAX; i++) {
		const struct reservation *r = &cp->reservations[i];
		if (r->id != 0 && strncmp(r->id_tag, v->car, ID_TAG_MAX) == 0 && fabs(r->expiry - v->end) < best &&
		    cp->con[r->connector].visit == 0 && !cp->con[r->connector].stale) {
			best = fabs(r->expiry - v->end);
			connector = r->connector;
			*reservation = r->id;
		}
	}
	for (int c = v->charger; connector == 0 && c >= 1 && c <= cp->connectors; c = 0)
		if (cp->con[c].visit == 0 && !cp->con[c].stale && !cp->con[c].faulted)
			connector = c;
	for (int c = 1; connector == 0 && c <= cp->connectors; c++)
		if (cp->con[c].visit == 0 && !cp->con[c].stale && !cp->con[c].faulted)
			connector = c;
	pthread_mutex_unlock(&cp->lock);
	return connector;
}

static void forget_reservation(struct chargepoint *cp, int id)
{
	pthread_mutex_lock(&cp->lock);
	for (int i = 0; i < RESERVATIONS_MAX; i++)
		if (id != 0 && cp->reservations[i].id == id)
			cp->reservations[i].id = 0;
	pthread_mutex_unlock(&cp->lock);
}

/* StartTransaction for a car whose window has opened: idTag = the car's, with ReserveNow's reservationId. */
static void start_visit(struct chargepoint *cp, struct visit *v, int slot)
{
	int reservation, connector = pick_connector(cp, v, &reservation);
	char ts[32], tag[ID_TAG_MAX + 1];
	if (connector == 0) {
		if (++v->start_tries == START_TRIES)
			printf("station %s: no free connector for %s\n", cp->station, v->car);
		return;
	}
	rfc3339(cp->now, ts);
	snprintf(tag, sizeof(tag), "%s", v->car);
	json_t *p = json_pack("{s:i, s:s, s:I, s:s}", "connectorId", connector, "idTag", tag, "meterStart",
			      (json_int_t)cp->con[connector].meter_wh, "timestamp", ts);
	if (p != NULL && reservation != 0)
		json_object_set_new(p, "reservationId", json_integer(reservation));
	json_t *a = call(cp, "StartTransaction", p);
	const char *status = json_string_value(json_object_get(json_object_get(a, "idTagInfo"), "status")) ?: "";
	json_int_t tx = json_integer_value(json_object_get(a, "transactionId"));
	if (a == NULL || tx <= 0 || strcmp(status, "ConcurrentTx") == 0) {
		if (strcmp(status, "ConcurrentTx") == 0) /* left open by an earlier run: this connector is not used */
			cp->con[connector].stale = true;
		v->start_tries += cp->conn != NULL;
		json_decref(a);
		return;
	}
	v->tx = tx;
	v->connector = connector;
	v->meter_start = cp->con[connector].meter_wh;
	v->last_meter = cp->now;
	cp->con[connector].visit = slot + 1;
	cp->started++;
	forget_reservation(cp, reservation);
	printf("station %s: StartTransaction %lld for %s on connector %d, reservation %d: %s\n", cp->station,
	       (long long)tx, v->car, connector, reservation, status);
	json_decref(a);
}

static long long meter_now(const struct visit *v, double energy_kwh)
{
	return v->meter_start + llround(fmax(0.0, energy_kwh - v->energy_at_start) * 1000.0);
}

static void meter_visit(struct chargepoint *cp, struct visit *v)
{
	char ts[32], value[32];
	rfc3339(cp->now, ts);
	snprintf(value, sizeof(value), "%lld", meter_now(v, *v->energy_kwh));
	json_t *p = json_pack("{s:i, s:I, s:[{s:s, s:[{s:s, s:s, s:s}]}]}", "connectorId", v->connector, "transactionId",
			      (json_int_t)v->tx, "meterValue", "timestamp", ts, "sampledValue", "value", value, "measurand",
			      "Energy.Active.Import.Register", "unit", "Wh");
	json_decref(call(cp, "MeterValues", p));
	v->last_meter = cp->now;
	v->metered = true;
}

/* StopTransaction with the meter when the car left; the visit ends once answered (or refused for good). */
static void stop_visit(struct chargepoint *cp, struct visit *v)
{
	char ts[32], tag[ID_TAG_MAX + 1];
	long long meter = meter_now(v, v->energy_at_leave);
	rfc3339(cp->now, ts);
	snprintf(tag, sizeof(tag), "%s", v->car);
	json_t *a = call(cp, "StopTransaction", json_pack("{s:I, s:I, s:s, s:s, s:s}", "transactionId", (json_int_t)v->tx,
							   "meterStop", (json_int_t)meter, "timestamp", ts, "reason",
							   "EVDisconnected", "idTag", tag));
	if (a == NULL && (cp->conn == NULL || ++v->stop_tries < START_TRIES))
		return; /* offline: sent again once reconnected, as a charger keeps its transaction messages */
	printf("station %s: StopTransaction %lld for %s: %lld Wh, %s\n", cp->station, (long long)v->tx, v->car,
	       meter - v->meter_start,
	       json_string_value(json_object_get(json_object_get(a, "idTagInfo"), "status")) ?: "refused");
	cp->con[v->connector].meter_wh = meter;
	cp->con[v->connector].visit = 0;
	cp->stopped++;
	v->car[0] = '\0';
	json_decref(a);
}

/*
 * Each visit: started when its window opened (also when the car charged within
 * one tick and has left already), stopped when the car left, metered between.
 */
static void run_visits(struct chargepoint *cp)
{
	for (int i = 0; i < VISITS_MAX && cp->booted; i++) {
		struct visit *v = &cp->visits[i];
		if (v->car[0] == '\0')
			continue;
		if (v->tx == 0 && cp->now >= v->start && v->start_tries < START_TRIES)
			start_visit(cp, v, i);
		if (v->leaving && v->tx == 0 && (cp->conn == NULL || cp->now < v->start || v->start_tries >= START_TRIES))
			v->car[0] = '\0'; /* it never started here (offline, no free connector) */
		else if (v->leaving && v->tx != 0) {
			if (!v->metered && cp->conn != NULL)
				meter_visit(cp, v); /* a session shorter than a tick still reports its meter once */
			stop_visit(cp, v);
		}
		else if (!v->leaving && v->tx != 0 && cp->now - v->last_meter >= cp->meter_every)
			meter_visit(cp, v);
	}
}

static void cp_tick(struct chargepoint *cp, double now)
{
	cp->now = now;
	pthread_mutex_lock(&cp->lock);
	bool closed = cp->closed, reset = cp->reset;
	cp->reset = false;
	pthread_mutex_unlock(&cp->lock);
	if (cp->conn != NULL && closed)
		drop(cp, "closed by the central system");
	if (cp->conn == NULL && now >= cp->next_connect)
		cp_connect(cp);
	if (cp->conn == NULL)
		return;
	if (reset) {
		cp->booted = false;
		cp->next_boot = now;
	}
	if (!cp->booted && now >= cp->next_boot)
		boot(cp);
	run_visits(cp);
	report_status(cp);
	if (cp->booted && now >= cp->next_heartbeat) {
		json_decref(call(cp, "Heartbeat", json_object()));
		cp->next_heartbeat = now + cp->interval;
	}
}

void chargepoint_fault(struct chargepoint *cp, bool faulted, uint64_t roll)
{
	int chosen = 0;
	bool was = false;
	pthread_mutex_lock(&cp->lock);
	for (int c = 1; c <= cp->connectors; c++)
		if (!faulted) {
			was |= cp->con[c].faulted;
			cp->con[c].faulted = false;
		}
	for (int k = 0; faulted && chosen == 0 && k < cp->connectors; k++) {
		int c = 1 + (int)((roll + (uint64_t)k) % (uint64_t)cp->connectors);
		if (cp->con[c].visit == 0 && !cp->con[c].faulted)
			chosen = c;
	}
	if (chosen != 0)
		cp->con[chosen].faulted = true;
	pthread_mutex_unlock(&cp->lock);
	if (chosen != 0)
		printf("station %s: connector %d faults for a while\n", cp->station, chosen);
	else if (!faulted && was)
		printf("station %s: faults cleared\n", cp->station);
}

/* ---- the set -------------------------------------------------------------------------------- */

struct chargepoint_set *chargepoint_set_new(double speedup)
{
	struct chargepoint_set *set = calloc(1, sizeof(struct chargepoint_set));
	if (set != NULL)
		set->speedup = speedup > 0 ? speedup : 1;
	return set;
}

bool chargepoint_set_add(struct chargepoint_set *set, struct chargepoint *cp)
{
	if (set == NULL || cp == NULL || set->count >= SET_MAX)
		return false;
	cp->meter_every = METER_EVERY / set->speedup;
	set->items[set->count++] = cp;
	return true;
}

struct chargepoint *chargepoint_set_find(struct chargepoint_set *set, const char *station_id)
{
	for (int i = 0; set != NULL && station_id != NULL && i < set->count; i++)
		if (strcmp(set->items[i]->station, station_id) == 0)
			return set->items[i];
	return NULL;
}

void chargepoint_set_tick(struct chargepoint_set *set, double now)
{
	for (int i = 0; set != NULL && i < set->count; i++)
		cp_tick(set->items[i], now);
}

bool chargepoint_set_arrive(struct chargepoint_set *set, const char *station_id, const char *car_id, json_t *leg,
			    const double *energy_kwh)
{
	struct chargepoint *cp = chargepoint_set_find(set, station_id);
	if (cp == NULL || cp->conn == NULL || !cp->booted || car_id == NULL || strlen(car_id) > ID_TAG_MAX)
		return false;
	for (int i = 0; i < VISITS_MAX; i++) {
		struct visit *v = &cp->visits[i];
		if (v->car[0] != '\0')
			continue;
		memset(v, 0, sizeof(*v));
		snprintf(v->car, sizeof(v->car), "%s", car_id);
		v->start = parse_time(json_string_value(json_object_get(leg, "start")));
		v->end = parse_time(json_string_value(json_object_get(leg, "end")));
		v->charger = (int)json_integer_value(json_object_get(leg, "charger"));
		v->energy_kwh = energy_kwh;
		v->energy_at_start = *energy_kwh;
		printf("station %s: %s arrived for its window, %.0f s from now\n", cp->station, car_id, v->start - cp->now);
		return true;
	}
	return false;
}

void chargepoint_set_depart(struct chargepoint_set *set, const char *station_id, const char *car_id)
{
	struct chargepoint *cp = chargepoint_set_find(set, station_id);
	for (int i = 0; cp != NULL && car_id != NULL && i < VISITS_MAX; i++) {
		struct visit *v = &cp->visits[i];
		if (!v->leaving && strcmp(v->car, car_id) == 0) {
			v->leaving = true;
			v->energy_at_leave = *v->energy_kwh;
		}
	}
}

void chargepoint_set_describe(const struct chargepoint_set *set, char *out, size_t size)
{
	int connected = 0, booted = 0;
	unsigned started = 0, stopped = 0;
	for (int i = 0; set != NULL && i < set->count; i++) {
		connected += set->items[i]->conn != NULL;
		booted += set->items[i]->booted;
		started += set->items[i]->started;
		stopped += set->items[i]->stopped;
	}
	snprintf(out, size, "stations=%d connected=%d booted=%d sessions_started=%u sessions_stopped=%u",
		 set != NULL ? set->count : 0, connected, booted, started, stopped);
}

/* Closes every connection: all asked first, then all joined (each join alone may wait 2 s). */
static void close_all(struct chargepoint_set *set)
{
	for (int i = 0; i < set->count; i++)
		send_close(set->items[i]);
	for (int wait = 0; wait < 100; wait++) {
		bool all = true;
		for (int i = 0; i < set->count && all; i++)
			all = set->items[i]->conn == NULL || closed_by_now(set->items[i]);
		if (all)
			break;
		usleep(10000);
	}
	for (int i = 0; i < set->count; i++)
		if (set->items[i]->conn != NULL) {
			mg_close_connection(set->items[i]->conn);
			set->items[i]->conn = NULL;
		}
}

void chargepoint_set_free(struct chargepoint_set *set)
{
	if (set == NULL)
		return;
	for (int i = 0; i < set->count; i++) {
		struct chargepoint *cp = set->items[i];
		for (int k = 0; k < VISITS_MAX; k++) {
			struct visit *v = &cp->visits[k];
			if (v->car[0] != '\0' && v->tx == 0)
				v->car[0] = '\0';
			else if (v->car[0] != '\0' && !v->leaving)
				chargepoint_set_depart(set, cp->station, v->car);
		}
		chargepoint_fault(cp, false, 0);
		run_visits(cp);    /* the open transactions stopped: no session stays open at the central system */
		report_status(cp); /* and no connector stays Faulted, taking no bookings, after the run */
	}
	close_all(set);
	for (int i = 0; i < set->count; i++) {
		struct chargepoint *cp = set->items[i];
		json_decref(cp->call_answer);
		pthread_mutex_destroy(&cp->lock);
		pthread_cond_destroy(&cp->changed);
		free(cp);
	}
	free(set);
}
