#include "api.h"
#include "live.h"
#include "app.h"
#include "federation.h"
#include "log.h"
#include "timeutil.h"
#include "mqtt_bridge.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PERIOD_MS 1000     /* a snapshot is built this often while someone watches */
#define KEEPALIVE_SECONDS 5 /* an unchanged snapshot is still sent this often */
#define MAX_CARS "200"     /* cars in one snapshot, most recently heard first */
#define CLOSE_TRY_AGAIN_LATER 1013

/*
 * One statement: what every page shows live. The reservations and trips pairs
 * (count, latest update) are change markers: when one moves, a page re-reads
 * the REST resource. The window keeps it on the indexes, not the whole table.
 */
static const char snapshot_sql[] =
	"SELECT json_build_object("
	" 'stations', (SELECT coalesce(json_agg(json_build_array(o.station_id, o.busy, o.chargers, o.status)"
	"   ORDER BY o.station_id), '[]'::json) FROM occupancy_now o),"
	" 'reservations', (SELECT json_build_array(count(*), rfc3339(max(updated_at))) FROM reservations"
	"   WHERE during && tstzrange(now() - interval '1 day', now() + interval '2 days')),"
	" 'trips', (SELECT json_build_array(count(*), rfc3339(max(updated_at))) FROM trips"
	"   WHERE updated_at > now() - interval '1 day'),"
	" 'in_flight', (SELECT count(*) FROM trips"
	"   WHERE status IN ('preparing', 'committing', 'aborting', 'cancelling', 'finishing')),"
	" 'in_doubt', (SELECT count(*) FROM pg_prepared_xacts WHERE database = current_database()),"
	" 'cars', (SELECT coalesce(json_agg(json_build_array(c.car_id, round(c.lat::numeric, 5), round(c.lon::numeric, 5),"
	"   round(c.soc::numeric, 1), round(c.speed_kmh::numeric), c.profile, rfc3339(c.ts)) ORDER BY c.car_id), '[]'::json)"
	"   FROM (SELECT * FROM car_state WHERE ts > now() - interval '10 minutes' ORDER BY ts DESC LIMIT " MAX_CARS ") c))";

static struct {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct mg_connection *clients[LIVE_MAX_CLIENTS];
	bool operator_of[LIVE_MAX_CLIENTS]; /* the client signed in as this company's operator: it sees cars */
	int count;
	bool fresh; /* a client joined: send at once */
	bool stopping;
	bool running;
	char *last;        /* the last message sent, given at once to a client that joins */
	char *last_public; /* the same without the cars' positions, for a client not signed in */
	pthread_t thread;
	struct app *app;
} live = { .lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER };

/* Caller holds live.lock. */
static int find_locked(const struct mg_connection *conn)
{
	for (int i = 0; i < live.count; i++)
		if (live.clients[i] == conn)
			return i;
	return -1;
}

/* Caller holds live.lock. */
static void remove_locked(int i)
{
	live.count--;
	live.clients[i] = live.clients[live.count];
	live.operator_of[i] = live.operator_of[live.count];
	live.clients[live.count] = NULL;
}

static int on_connect(const struct mg_connection *conn, void *cbdata)
{
	(void)conn;
	(void)cbdata;
	pthread_mutex_lock(&live.lock);
	int n = live.count;
	pthread_mutex_unlock(&live.lock);
	if (n >= LIVE_MAX_CLIENTS) {
		log_warn("event=live_refused clients=%d max=%d", n, LIVE_MAX_CLIENTS);
		return 1;
	}
	return 0;
}

static void on_ready(struct mg_connection *conn, void *cbdata)
{
	struct app *app = cbdata;
	/* Positions are personal data: only the signed-in operator's page gets them. */
	bool operator = api_session_valid(&app->cfg, mg_get_header(conn, "Cookie"), timeutil_now());
	pthread_mutex_lock(&live.lock);
	if (live.count >= LIVE_MAX_CLIENTS) {
		/* Two upgrades raced past on_connect for the last place. */
		pthread_mutex_unlock(&live.lock);
		static const unsigned char reason[] = { CLOSE_TRY_AGAIN_LATER >> 8, CLOSE_TRY_AGAIN_LATER & 0xff, 'f', 'u', 'l', 'l' };
		mg_websocket_write(conn, MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE, (const char *)reason, sizeof(reason));
		log_warn("event=live_refused clients=%d max=%d", LIVE_MAX_CLIENTS, LIVE_MAX_CLIENTS);
		return;
	}
	live.operator_of[live.count] = operator;
	live.clients[live.count++] = conn;
	const char *last = operator ? live.last : live.last_public;
	if (last != NULL)
		mg_websocket_write(conn, MG_WEBSOCKET_OPCODE_TEXT, last, strlen(last));
	live.fresh = true;
	int n = live.count;
	pthread_cond_signal(&live.wake);
	pthread_mutex_unlock(&live.lock);
	log_info("event=live_joined clients=%d", n);
}

/* Clients send nothing we act on; a close frame ends the connection. */
static int on_data(struct mg_connection *conn, int bits, char *data, size_t len, void *cbdata)
{
	(void)conn;
	(void)data;
	(void)len;
	(void)cbdata;
	return (bits & 0x0f) == MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE ? 0 : 1;
}

static void on_close(const struct mg_connection *conn, void *cbdata)
{
	(void)cbdata;
	pthread_mutex_lock(&live.lock);
	int i = find_locked(conn);
	if (i >= 0)
		remove_locked(i);
	int n = live.count;
	pthread_mutex_unlock(&live.lock);
	if (i >= 0)
		log_info("event=live_left clients=%d", n);
}

void live_register(struct mg_context *ctx, struct app *app)
{
	live.app = app;
	mg_set_websocket_handler(ctx, LIVE_PATH, on_connect, on_ready, on_data, on_close, app);
}

/* Peers as [id, "up"|"down", last_seen or null, latency_ms]: compact, the page knows the order. */
static json_t *compact_peers(void)
{
	json_t *peers = federation_peers_json(), *out = json_array();
	size_t i;
	json_t *p;
	json_array_foreach(peers, i, p) {
		double latency = json_real_value(json_object_get(p, "latency_ms"));
		json_array_append_new(out, json_pack("[O, O, O, f]", json_object_get(p, "company"), json_object_get(p, "status"),
						      json_object_get(p, "last_seen"), (double)(long)(latency * 10 + 0.5) / 10));
	}
	json_decref(peers);
	return out;
}

/* The snapshot without its sequence number and time (new string, caller frees), or NULL. */
static char *build_body(struct app *app)
{
	PGconn *conn = db_acquire(app->db, 1000);
	if (conn == NULL)
		return NULL;
	PGresult *res = db_exec(conn, snapshot_sql, 0, NULL);
	json_t *body = db_ok(res, "live_snapshot") ? json_loads(PQgetvalue(res, 0, 0), 0, NULL) : NULL;
	PQclear(res);
	db_release(app->db, conn);
	if (body == NULL)
		return NULL;
	json_object_set_new(body, "company", json_string(app->cfg.company_id));
	json_object_set_new(body, "peers", compact_peers());
	json_object_set_new(body, "mqtt", json_string(app->mqtt == NULL ? "disabled" : mqtt_bridge_connected(app->mqtt) ? "ok" : "down"));
	char *text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	return text;
}

/* {"type":"snapshot","seq":n,"at":"...", ...body} (new string, caller frees). */
static char *wrap(const char *body, unsigned long seq)
{
	char at[32];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm);
	size_t size = strlen(body) + 96;
	char *msg = malloc(size);
	if (msg != NULL)
		snprintf(msg, size, "{\"type\":\"snapshot\",\"seq\":%lu,\"at\":\"%s\",%s", seq, at, body + 1);
	return msg;
}

/* The snapshot without the cars' positions (new string, caller frees), or NULL. */
static char *without_cars(const char *msg)
{
	json_t *doc = json_loads(msg, 0, NULL);
	if (doc == NULL)
		return NULL;
	json_object_set_new(doc, "cars", json_array());
	char *text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	return text;
}

/*
 * Sends msg (to operators) or its public form to every client; a client whose
 * socket fails is dropped (civetweb closes it). Takes msg.
 */
static void broadcast(char *msg)
{
	char *public_msg = without_cars(msg);
	if (public_msg == NULL) {
		free(msg);
		return;
	}
	pthread_mutex_lock(&live.lock);
	for (int i = live.count - 1; i >= 0; i--) {
		const char *text = live.operator_of[i] ? msg : public_msg;
		if (mg_websocket_write(live.clients[i], MG_WEBSOCKET_OPCODE_TEXT, text, strlen(text)) <= 0) {
			remove_locked(i);
			log_info("event=live_dropped clients=%d", live.count);
		}
	}
	free(live.last);
	free(live.last_public);
	live.last = msg;
	live.last_public = public_msg;
	pthread_mutex_unlock(&live.lock);
}

static void *broadcaster(void *arg)
{
	struct app *app = arg;
	char *last_body = NULL;
	time_t last_sent = 0;
	unsigned long seq = 0;

	pthread_mutex_lock(&live.lock);
	while (!live.stopping) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += (long)PERIOD_MS * 1000000L;
		until.tv_sec += until.tv_nsec / 1000000000L;
		until.tv_nsec %= 1000000000L;
		if (!live.fresh)
			pthread_cond_timedwait(&live.wake, &live.lock, &until);
		if (live.stopping)
			break;
		bool watched = live.count > 0, fresh = live.fresh;
		live.fresh = false;
		pthread_mutex_unlock(&live.lock);

		/* Nobody watching: no query at all. */
		char *body = watched ? build_body(app) : NULL;
		time_t now = time(NULL);
		if (body != NULL && (fresh || last_body == NULL || strcmp(body, last_body) != 0 ||
				     now - last_sent >= KEEPALIVE_SECONDS)) {
			char *msg = wrap(body, ++seq);
			if (msg != NULL) {
				broadcast(msg); /* takes msg */
				last_sent = now;
			}
		}
		if (body != NULL) {
			free(last_body);
			last_body = body;
		}
		pthread_mutex_lock(&live.lock);
	}
	pthread_mutex_unlock(&live.lock);
	free(last_body);
	return NULL;
}

bool live_start(struct app *app)
{
	live.app = app;
	live.stopping = false;
	if (pthread_create(&live.thread, NULL, broadcaster, app) != 0) {
		log_error("event=live_start_failed");
		return false;
	}
	live.running = true;
	log_info("event=live_started path=%s max_clients=%d", LIVE_PATH, LIVE_MAX_CLIENTS);
	return true;
}

void live_stop(void)
{
	if (!live.running)
		return;
	pthread_mutex_lock(&live.lock);
	live.stopping = true;
	pthread_cond_signal(&live.wake);
	pthread_mutex_unlock(&live.lock);
	pthread_join(live.thread, NULL);
	live.running = false;
	pthread_mutex_lock(&live.lock);
	free(live.last);
	free(live.last_public);
	live.last = NULL;
	live.last_public = NULL;
	pthread_mutex_unlock(&live.lock);
}
