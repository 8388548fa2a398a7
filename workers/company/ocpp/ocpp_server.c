/*
 * The WebSocket side of the central system: the upgrade's authentication, the
 * registry of connected stations, frames in (CALLs handled, answers matched
 * to the call waiting for them) and calls out.
 */
#include "ocpp.h"
#include "actor.h"
#include "app.h"
#include "chargers.h"
#include "log.h"
#include "ocpp_frame.h"
#include "ocpp_schema.h"
#include "ratelimit.h"
#include "secret.h"
#include "validate.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CLOSE_NORMAL 1000
#define CLOSE_TOO_BIG 1009

/* One connection. Freed by on_close once no caller uses it (users == 0). */
struct station_conn {
	char station[VALIDATE_STATION_MAX + 1];
	struct mg_connection *conn;
	bool closed;    /* on_close ran, or a newer connection replaced this one */
	int users;      /* callers writing to conn or waiting for an answer on it */
	bool call_busy; /* a CALL of ours is in flight (one at a time) */
	char call_id[OCPP_ID_MAX + 1];
	char call_action[OCPP_ACTION_MAX + 1];
	bool call_done;
	json_t *call_answer;  /* CALLRESULT payload */
	char call_error[330]; /* CALLERROR code and description */
	long limited;         /* CALLs refused by the rate limit on this connection (logged 1st, 100th, ...) */
	struct station_conn *next;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t changed; /* any call answered, any user left, any connection closed */
	struct station_conn *list; /* current connections, at most one per station */
	struct station_conn *retired; /* replaced or disconnected, until their on_close */
	int count;
	struct app *app;
	struct ocpp_schemas *schemas;
} reg = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL, 0, NULL, NULL };

const struct ocpp_schemas *ocpp_schemas_get(void)
{
	return reg.schemas;
}

/* Caller holds reg.lock. */
static struct station_conn *find_station_locked(const char *station)
{
	for (struct station_conn *sc = reg.list; sc != NULL; sc = sc->next)
		if (strcmp(sc->station, station) == 0)
			return sc;
	return NULL;
}

static struct station_conn *find_conn_locked(const struct mg_connection *conn)
{
	for (struct station_conn *sc = reg.list; sc != NULL; sc = sc->next)
		if (sc->conn == conn)
			return sc;
	return NULL;
}

static bool unlink_from_locked(struct station_conn **list, struct station_conn *gone)
{
	for (struct station_conn **p = list; *p != NULL; p = &(*p)->next)
		if (*p == gone) {
			*p = gone->next;
			return true;
		}
	return false;
}

/* Takes sc out of service: callers waiting on it give up; its on_close frees it. */
static void retire_locked(struct station_conn *sc)
{
	if (unlink_from_locked(&reg.list, sc))
		reg.count--;
	sc->closed = true;
	sc->next = reg.retired;
	reg.retired = sc;
	pthread_cond_broadcast(&reg.changed);
}

/* The station id of the path /ocpp/<id>, into out; false when the path names none of ours. */
static bool station_of_path(const struct mg_connection *conn, char *out, size_t size)
{
	const struct mg_request_info *info = mg_get_request_info(conn);
	const char *uri = info != NULL ? info->local_uri : NULL;
	if (uri == NULL || strncmp(uri, OCPP_PATH, strlen(OCPP_PATH)) != 0)
		return false;
	const char *id = uri + strlen(OCPP_PATH);
	char company[VALIDATE_COMPANY_MAX + 1];
	if (strlen(id) >= size || !validate_station_id(id) || !validate_station_company(id, company, sizeof(company)) ||
	    strcmp(company, reg.app->cfg.company_id) != 0)
		return false;
	snprintf(out, size, "%s", id);
	return true;
}

/* "Basic base64(user:password)" into user and password; false when malformed. */
static bool basic_credentials(const char *header, char *user, size_t user_size, char *password, size_t password_size)
{
	if (header == NULL || strncasecmp(header, "Basic ", 6) != 0)
		return false;
	const char *b64 = header + 6;
	size_t len = strlen(b64);
	unsigned char decoded[256];
	if (len == 0 || len % 4 != 0 || len / 4 * 3 >= sizeof(decoded))
		return false;
	int n = EVP_DecodeBlock(decoded, (const unsigned char *)b64, (int)len);
	if (n < 0)
		return false;
	n -= (b64[len - 1] == '=') + (len > 1 && b64[len - 2] == '=');
	decoded[n] = '\0';
	if (memchr(decoded, '\0', (size_t)n) != NULL)
		return false;
	char *colon = strchr((char *)decoded, ':');
	if (colon == NULL || (size_t)(colon - (char *)decoded) >= user_size || strlen(colon + 1) >= password_size)
		return false;
	size_t user_len = (size_t)(colon - (char *)decoded);
	memcpy(user, decoded, user_len);
	user[user_len] = '\0';
	memcpy(password, colon + 1, strlen(colon + 1) + 1);
	return true;
}

static int refuse(const struct mg_connection *cconn, int status, const char *code, const char *message,
		  const char *station)
{
	struct mg_connection *conn = (struct mg_connection *)cconn; /* civetweb hands the upgrade's connection as const */
	char body[512];
	int len = snprintf(body, sizeof(body), "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}", code, message);
	mg_printf(conn,
		  "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%sConnection: close\r\n\r\n%s",
		  status, status == 401 ? "Unauthorized" : status == 404 ? "Not Found" : status == 503 ? "Service Unavailable" : "Bad Request",
		  len, status == 401 ? "WWW-Authenticate: Basic realm=\"ocpp\", charset=\"UTF-8\"\r\n" : "", body);
	const struct mg_request_info *info = mg_get_request_info(cconn);
	log_warn("event=ocpp_refused station=%s client=%s status=%d reason=\"%s\"", station != NULL ? station : "-",
		 info != NULL ? info->remote_addr : "-", status, message);
	return 1;
}

/*
 * True when the client offered ocpp1.6 in Sec-WebSocket-Protocol. Read from the
 * header itself: civetweb's acceptedWebSocketSubprotocol is not reset when a
 * client offers none, so it can still name an earlier upgrade's subprotocol
 * (seen here: an upgrade without the header was let through now and then).
 */
static bool offers_ocpp16(const struct mg_connection *conn)
{
	const char *offered = mg_get_header(conn, "Sec-WebSocket-Protocol");
	size_t want = strlen(OCPP_SUBPROTOCOL);
	for (const char *p = offered; p != NULL && *p != '\0';) {
		p += strspn(p, " \t,");
		size_t n = strcspn(p, " \t,");
		if (n == want && strncmp(p, OCPP_SUBPROTOCOL, want) == 0)
			return true;
		p += n;
	}
	return false;
}

static int on_connect(const struct mg_connection *conn, void *cbdata)
{
	struct app *app = cbdata;
	char station[VALIDATE_STATION_MAX + 1], user[VALIDATE_STATION_MAX + 2], key[CHARGERS_KEY_MAX + 2];
	const struct mg_request_info *info = mg_get_request_info(conn);
	if (!station_of_path(conn, station, sizeof(station)))
		return refuse(conn, 404, "not_found", "no such charge point of this company", NULL);
	const char *proto = info->acceptedWebSocketSubprotocol;
	if (proto == NULL || strcmp(proto, OCPP_SUBPROTOCOL) != 0 || !offers_ocpp16(conn))
		return refuse(conn, 400, "bad_request", "the WebSocket subprotocol must be ocpp1.6", station);
	if (!basic_credentials(mg_get_header(conn, "Authorization"), user, sizeof(user), key, sizeof(key)) ||
	    strcmp(user, station) != 0)
		return refuse(conn, 401, "unauthorized", "HTTP Basic auth with the station id and its OCPP key", station);
	bool valid = false;
	if (chargers_key_verify(app, station, key, &valid) != EVC_OK)
		return refuse(conn, 503, "unavailable", "the database is unavailable, retry later", station);
	if (!valid)
		return refuse(conn, 401, "unauthorized", "unknown charge point or wrong key", station);
	pthread_mutex_lock(&reg.lock);
	bool full = reg.count >= app->cfg.ocpp_max_connections && find_station_locked(station) == NULL;
	pthread_mutex_unlock(&reg.lock);
	if (full)
		return refuse(conn, 503, "unavailable", "too many charge points connected (EVC_OCPP_MAX_CONNECTIONS)", station);
	return 0;
}

static void send_close(struct mg_connection *conn, int code, const char *reason)
{
	unsigned char frame[64] = { (unsigned char)(code >> 8), (unsigned char)(code & 0xff) };
	size_t n = strlen(reason) < sizeof(frame) - 2 ? strlen(reason) : sizeof(frame) - 2;
	memcpy(frame + 2, reason, n);
	mg_websocket_write(conn, MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE, (const char *)frame, n + 2);
}

static void on_ready(struct mg_connection *conn, void *cbdata)
{
	(void)cbdata;
	struct station_conn *sc = calloc(1, sizeof(*sc)), *old;
	if (sc == NULL || !station_of_path(conn, sc->station, sizeof(sc->station))) {
		free(sc);
		send_close(conn, CLOSE_NORMAL, "unavailable");
		return;
	}
	sc->conn = conn;
	pthread_mutex_lock(&reg.lock);
	if ((old = find_station_locked(sc->station)) != NULL) {
		/* One connection per station: the new one wins, the old one is told and dropped. */
		retire_locked(old);
		old->users++;
	}
	sc->next = reg.list;
	reg.list = sc;
	reg.count++;
	int n = reg.count;
	pthread_mutex_unlock(&reg.lock);
	if (old != NULL) {
		send_close(old->conn, CLOSE_NORMAL, "replaced by a new connection");
		pthread_mutex_lock(&reg.lock);
		old->users--;
		pthread_cond_broadcast(&reg.changed);
		pthread_mutex_unlock(&reg.lock);
	}
	chargers_connection_seen(reg.app, sc->station, true); /* once connected, it may be judged offline */
	log_info("event=ocpp_connected station=%s replaced=%s connections=%d", sc->station, old != NULL ? "yes" : "no", n);
}

static void send_text(struct mg_connection *conn, const char *text)
{
	if (text != NULL)
		mg_websocket_write(conn, MG_WEBSOCKET_OPCODE_TEXT, text, strlen(text));
}

static void send_error(struct mg_connection *conn, const char *station, const char *id, const char *code,
		       const char *why)
{
	char *text = ocpp_frame_error(id, code, why);
	if (text == NULL)
		text = ocpp_frame_error(id, code, "invalid frame");
	send_text(conn, text);
	free(text);
	log_warn("event=ocpp_callerror_sent station=%s id=%s code=%s why=\"%.200s\"", station, id, code, why);
}

/* A CALLERROR without a log line of its own (the caller logs, throttled). */
static void send_text_error(struct mg_connection *conn, const char *id, const char *code, const char *why)
{
	char *text = ocpp_frame_error(id, code, why);
	send_text(conn, text);
	free(text);
}

/* A CALL from the station: validated, handled by the core, answered (the answer validated too). */
static void answer_call(struct mg_connection *conn, const char *station, struct ocpp_frame *f)
{
	char why[320], name[OCPP_ACTION_MAX + 16], request_id[40];
	const char *code = NULL;
	json_t *answer = NULL;
	if (!secret_random_hex(request_id, 8))
		snprintf(request_id, sizeof(request_id), "ocpp");
	if (!ocpp_schemas_has(reg.schemas, f->action)) {
		snprintf(why, sizeof(why), "action %.64s is not implemented by this central system", f->action);
		code = "NotImplemented";
	} else if ((code = ocpp_schema_check(reg.schemas, f->action, f->payload, why, sizeof(why))) == NULL) {
		struct actor actor = actor_station(station);
		code = ocpp_handle_call(reg.app, &actor, f->action, f->payload, request_id, &answer, why, sizeof(why));
	}
	snprintf(name, sizeof(name), "%sResponse", f->action);
	if (code == NULL && ocpp_schema_check(reg.schemas, name, answer, why, sizeof(why)) != NULL) {
		log_error("event=ocpp_invalid_answer station=%s action=%s why=\"%s\"", station, f->action, why);
		code = "InternalError";
		snprintf(why, sizeof(why), "the central system built an invalid answer");
	}
	if (code != NULL) {
		send_error(conn, station, f->id, code, why);
	} else {
		char *text = ocpp_frame_result(f->id, answer);
		send_text(conn, text);
		free(text);
		log_debug("event=ocpp_call station=%s req=%s action=%s id=%s", station, request_id, f->action, f->id);
	}
	json_decref(answer);
}

/*
 * The station's CALL budget (EVC_OCPP_CALLS_PER_SECOND, EVC_OCPP_CALLS_BURST,
 * per station id, so reconnecting gives no fresh budget): true when this CALL
 * (or malformed frame) may be handled. A refused one gets a CALLERROR, with a
 * warn line for the first and every hundredth refusal of the connection.
 */
static bool within_budget(struct station_conn *sc, const char *station)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (ratelimit_take(reg.app->ocpp_limit, station, (double)now.tv_sec + (double)now.tv_nsec / 1e9))
		return true;
	pthread_mutex_lock(&reg.lock);
	long n = ++sc->limited;
	pthread_mutex_unlock(&reg.lock);
	if (n == 1 || n % 100 == 0)
		log_warn("event=ocpp_rate_limited station=%s refused=%ld per_second=%d burst=%d", station, n,
			 reg.app->cfg.ocpp_calls_per_second, reg.app->cfg.ocpp_calls_burst);
	return false;
}

/* A CALLRESULT or CALLERROR: the answer to our call in flight, or dropped. */
static void take_answer(struct station_conn *sc, struct ocpp_frame *f)
{
	pthread_mutex_lock(&reg.lock);
	bool ours = sc->call_busy && !sc->call_done && strcmp(sc->call_id, f->id) == 0;
	if (ours) {
		sc->call_done = true;
		if (f->type == OCPP_CALLRESULT)
			sc->call_answer = json_incref(f->payload);
		else
			snprintf(sc->call_error, sizeof(sc->call_error), "%s: %s", f->error_code, f->error_description);
		pthread_cond_broadcast(&reg.changed);
	}
	pthread_mutex_unlock(&reg.lock);
	if (!ours)
		log_warn("event=ocpp_unexpected_answer station=%s id=%s", sc->station, f->id);
}

static int on_data(struct mg_connection *conn, int bits, char *data, size_t len, void *cbdata)
{
	(void)cbdata;
	int opcode = bits & 0x0f;
	if (opcode == MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE)
		return 0;
	if (opcode == MG_WEBSOCKET_OPCODE_PING || opcode == MG_WEBSOCKET_OPCODE_PONG)
		return 1;
	pthread_mutex_lock(&reg.lock);
	struct station_conn *sc = find_conn_locked(conn);
	char station[VALIDATE_STATION_MAX + 1] = "";
	if (sc != NULL)
		snprintf(station, sizeof(station), "%s", sc->station);
	pthread_mutex_unlock(&reg.lock);
	if (sc == NULL)
		return 0; /* replaced by a newer connection: this one ends */
	if ((size_t)reg.app->cfg.ocpp_max_frame_bytes < len) {
		char why[128];
		snprintf(why, sizeof(why), "a message may hold at most %ld bytes (EVC_OCPP_MAX_FRAME_BYTES)",
			 reg.app->cfg.ocpp_max_frame_bytes);
		send_error(conn, station, "-1", "FormationViolation", why);
		return 1;
	}
	if (opcode != MG_WEBSOCKET_OPCODE_TEXT || (bits & 0x80) == 0) {
		send_error(conn, station, "-1", "FormationViolation", "OCPP-J messages are whole text frames");
		return 1;
	}
	struct ocpp_frame f;
	char why[256];
	const char *code = ocpp_frame_parse(data, len, &f, why, sizeof(why));
	if ((code != NULL || f.type == OCPP_CALL) && !within_budget(sc, station))
		send_text_error(conn, f.id, "GenericError", "too many messages: at most EVC_OCPP_CALLS_PER_SECOND a second");
	else if (code != NULL)
		send_error(conn, station, f.id, code, why);
	else if (f.type == OCPP_CALL)
		answer_call(conn, station, &f);
	else
		take_answer(sc, &f); /* sc lives until on_close, which runs on this very thread */
	ocpp_frame_clear(&f);
	return 1;
}

static void on_close(const struct mg_connection *conn, void *cbdata)
{
	(void)cbdata;
	pthread_mutex_lock(&reg.lock);
	struct station_conn *sc = find_conn_locked(conn);
	if (sc != NULL) {
		retire_locked(sc);
	} else {
		for (sc = reg.retired; sc != NULL && sc->conn != conn; sc = sc->next)
			;
	}
	if (sc != NULL) {
		while (sc->users > 0)
			pthread_cond_wait(&reg.changed, &reg.lock);
		unlink_from_locked(&reg.retired, sc);
	}
	int n = reg.count;
	pthread_mutex_unlock(&reg.lock);
	if (sc == NULL)
		return;
	if (!ocpp_connected(sc->station)) /* not replaced by a newer connection: the loss counts from now */
		chargers_connection_seen(reg.app, sc->station, false);
	log_info("event=ocpp_disconnected station=%s connections=%d", sc->station, n);
	json_decref(sc->call_answer);
	free(sc);
}

bool ocpp_register(struct mg_context *ctx, struct app *app)
{
	static const char *protocols[] = { OCPP_SUBPROTOCOL };
	static struct mg_websocket_subprotocols subprotocols = { 1, protocols };
	char dir[4200], err[512];
	snprintf(dir, sizeof(dir), "%s/ocpp/schemas", app->cfg.docs_dir);
	reg.app = app;
	if ((reg.schemas = ocpp_schemas_load(dir, err, sizeof(err))) == NULL) {
		log_error("event=ocpp_schemas_missing error=\"%s\"", err);
		return false;
	}
	mg_set_websocket_handler_with_subprotocols(ctx, "/ocpp", &subprotocols, on_connect, on_ready, on_data, on_close,
						  app);
	return true;
}

bool ocpp_connected(const char *station_id)
{
	pthread_mutex_lock(&reg.lock);
	bool yes = find_station_locked(station_id) != NULL;
	pthread_mutex_unlock(&reg.lock);
	return yes;
}

char *ocpp_connected_list(void)
{
	pthread_mutex_lock(&reg.lock);
	size_t size = 3;
	for (struct station_conn *sc = reg.list; sc != NULL; sc = sc->next)
		size += strlen(sc->station) + 1;
	char *out = malloc(size), *p = out;
	if (out != NULL) {
		*p++ = '{';
		for (struct station_conn *sc = reg.list; sc != NULL; sc = sc->next)
			p += sprintf(p, "%s%s", p == out + 1 ? "" : ",", sc->station);
		*p++ = '}';
		*p = '\0';
	}
	pthread_mutex_unlock(&reg.lock);
	return out;
}

void ocpp_disconnect(const char *station_id)
{
	pthread_mutex_lock(&reg.lock);
	struct station_conn *sc = find_station_locked(station_id);
	if (sc != NULL) {
		retire_locked(sc);
		sc->users++;
	}
	pthread_mutex_unlock(&reg.lock);
	if (sc == NULL)
		return;
	send_close(sc->conn, CLOSE_NORMAL, "key rotated");
	pthread_mutex_lock(&reg.lock);
	sc->users--;
	pthread_cond_broadcast(&reg.changed);
	pthread_mutex_unlock(&reg.lock);
	log_info("event=ocpp_disconnected_by_operator station=%s", station_id);
}

/* Waits on reg.changed until deadline; false when it passed. Caller holds reg.lock. */
static bool wait_until(const struct timespec *deadline)
{
	return pthread_cond_timedwait(&reg.changed, &reg.lock, deadline) == 0;
}

/* Takes the station's call slot (one CALL in flight); NULL when offline or the deadline passed (*outcome says). */
static struct station_conn *take_slot(const char *station_id, const struct timespec *deadline,
				      enum ocpp_call_outcome *outcome)
{
	pthread_mutex_lock(&reg.lock);
	struct station_conn *sc = find_station_locked(station_id);
	*outcome = OCPP_CALL_OFFLINE;
	if (sc != NULL) {
		sc->users++;
		bool in_time = true;
		while (sc->call_busy && !sc->closed && in_time)
			in_time = wait_until(deadline) || !sc->call_busy;
		if (sc->closed || sc->call_busy) {
			*outcome = sc->closed ? OCPP_CALL_OFFLINE : OCPP_CALL_TIMEOUT;
			sc->users--;
			pthread_cond_broadcast(&reg.changed);
			sc = NULL;
		} else {
			sc->call_busy = true;
			sc->call_done = false;
			sc->call_error[0] = '\0';
		}
	}
	pthread_mutex_unlock(&reg.lock);
	return sc;
}

/* Waits for the answer, frees the slot; the outcome and, when answered, *answer. */
static enum ocpp_call_outcome await_answer(struct station_conn *sc, const struct timespec *deadline, json_t **answer,
					   char *why, size_t why_size)
{
	pthread_mutex_lock(&reg.lock);
	bool in_time = true;
	while (!sc->call_done && !sc->closed && in_time)
		in_time = wait_until(deadline) || sc->call_done;
	enum ocpp_call_outcome outcome = OCPP_CALL_TIMEOUT;
	if (sc->call_done && sc->call_answer != NULL) {
		outcome = OCPP_CALL_ANSWERED;
		*answer = sc->call_answer;
		sc->call_answer = NULL;
	} else if (sc->call_done) {
		outcome = OCPP_CALL_ERROR;
		snprintf(why, why_size, "%s", sc->call_error);
	} else if (sc->closed) {
		outcome = OCPP_CALL_OFFLINE;
	}
	sc->call_busy = false;
	sc->users--;
	pthread_cond_broadcast(&reg.changed);
	pthread_mutex_unlock(&reg.lock);
	return outcome;
}

enum ocpp_call_outcome ocpp_call(struct app *app, const char *station_id, const char *action, json_t *payload,
				 int timeout_ms, json_t **answer, char *why, size_t why_size)
{
	(void)app;
	*answer = NULL;
	snprintf(why, why_size, "-");
	if (ocpp_schema_check(reg.schemas, action, payload, why, why_size) != NULL) {
		log_error("event=ocpp_invalid_call station=%s action=%s why=\"%s\"", station_id, action, why);
		return OCPP_CALL_INVALID;
	}
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	enum ocpp_call_outcome outcome;
	struct station_conn *sc = take_slot(station_id, &deadline, &outcome);
	if (sc == NULL)
		return outcome;
	char id[OCPP_ID_MAX + 1];
	if (!secret_random_hex(id, 16))
		snprintf(id, sizeof(id), "%ld", (long)deadline.tv_nsec);
	pthread_mutex_lock(&reg.lock);
	snprintf(sc->call_id, sizeof(sc->call_id), "%s", id);
	snprintf(sc->call_action, sizeof(sc->call_action), "%s", action);
	pthread_mutex_unlock(&reg.lock);
	char *text = ocpp_frame_call(id, action, payload);
	if (text == NULL || mg_websocket_write(sc->conn, MG_WEBSOCKET_OPCODE_TEXT, text, strlen(text)) <= 0)
		log_warn("event=ocpp_send_failed station=%s action=%s id=%s", station_id, action, id);
	free(text);
	outcome = await_answer(sc, &deadline, answer, why, why_size);
	char name[OCPP_ACTION_MAX + 16];
	snprintf(name, sizeof(name), "%sResponse", action);
	if (outcome == OCPP_CALL_ANSWERED && ocpp_schema_check(reg.schemas, name, *answer, why, why_size) != NULL) {
		json_decref(*answer);
		*answer = NULL;
		outcome = OCPP_CALL_ERROR;
	}
	log_info("event=ocpp_call_sent station=%s action=%s id=%s outcome=%s", station_id, action, id,
		 ocpp_call_outcome_name(outcome));
	return outcome;
}

const char *ocpp_call_outcome_name(enum ocpp_call_outcome outcome)
{
	switch (outcome) {
	case OCPP_CALL_ANSWERED:
		return "answered";
	case OCPP_CALL_ERROR:
		return "callerror";
	case OCPP_CALL_TIMEOUT:
		return "timeout";
	case OCPP_CALL_OFFLINE:
		return "offline";
	case OCPP_CALL_INVALID:
		return "invalid";
	}
	return "unknown";
}
