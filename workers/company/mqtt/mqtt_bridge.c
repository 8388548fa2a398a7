#include "mqtt_bridge.h"
#include "app.h"
#include "bounds.h"
#include "jsonx.h"
#include "log.h"
#include "catalogue.h"
#include "plan.h"
#include "reservations.h"
#include "trips.h"
#include "trip_waitlist.h"
#include "waitlist.h"
#include "telemetry.h"
#include "timeutil.h"
#include "validate.h"

#include <MQTTAsync.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RETRY_SECONDS 2
#define QUEUE_MAX 20000           /* messages waiting for a handler; beyond, shed */
#define HANDLER_THREADS 4         /* requests run in parallel: a trip takes a few round trips */
#define FLUSH_MS 100              /* telemetry is stored at least this often */
#define FLUSH_ROWS 5000           /* or as soon as this many wait */
#define PRUNE_SECONDS 60
#define MAX_PAYLOAD 65536
#define REJECT_LOG_SECONDS 10     /* refused telemetry: one log line per reason this often, with the count */

enum item_kind { ITEM_TELEMETRY, ITEM_REQUEST, ITEM_STATION };

struct item {
	struct item *next;
	enum item_kind kind;
	char subject[VALIDATE_STATION_MAX + 1]; /* car id or station id, from the topic */
	char *payload;                          /* NUL-terminated copy */
	int64_t received;                       /* epoch ms */
};

/* A FIFO of items behind a lock, bounded. */
struct queue {
	pthread_mutex_t lock;
	pthread_cond_t ready;
	struct item *head, *tail;
	size_t length;
};

/* One batch of telemetry ready to store: the COPY text and the cars' latest state. */
struct telemetry_batch {
	char *copy;
	size_t used, rows;
	json_t *latest;
	int64_t newest_sample; /* epoch ms */
};

/*
 * From the flusher to the writer, one batch at a time: while the writer waits on
 * PostgreSQL for batch k, the flusher parses batch k+1 (issue 18: one thread
 * doing both kept up with 20,000 samples a second, not 40,000).
 */
struct handover {
	pthread_mutex_t lock;
	pthread_cond_t changed;
	struct telemetry_batch *pending;
	bool closed; /* the flusher is done: the writer stores what is pending, then ends */
};

struct mqtt_bridge {
	MQTTAsync client;
	struct app *app;
	char prefix[64];       /* evc/v1/<company>/ */
	char status_topic[128];
	char online[160];
	char offline[160];
	atomic_bool connected;
	atomic_bool connecting;
	atomic_bool auto_reconnects;
	atomic_bool stopping;

	struct queue requests;  /* car requests, run in parallel */
	struct queue telemetry; /* telemetry and station status, one consumer, in order */
	pthread_t handlers[HANDLER_THREADS];
	pthread_t flusher;
	pthread_t writer; /* stores the batches the flusher parsed: parsing and storing overlap */
	struct handover store;
	pthread_t retry_thread;
	pthread_mutex_t lock; /* guards the retry thread's sleep */
	pthread_cond_t wake;

	atomic_ullong telemetry_received, telemetry_stored, telemetry_rejected, telemetry_out_of_range, shed, oversized;
	atomic_ullong requests_answered, requests_rejected;
	atomic_llong last_lag_ms;

	/* Refused telemetry not logged yet, per reason (the flusher's own: no lock). */
	struct {
		const char *reason;
		size_t pending;
		int64_t logged_ms;
	} rejects[2];
};

enum sample_fate { SAMPLE_OK, SAMPLE_MALFORMED, SAMPLE_OUT_OF_RANGE };

static int64_t now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* ---- queues ------------------------------------------------------------------- */

static void queue_init(struct queue *q)
{
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->ready, NULL);
	q->head = q->tail = NULL;
	q->length = 0;
}

static bool queue_push(struct queue *q, struct item *it)
{
	pthread_mutex_lock(&q->lock);
	bool room = q->length < QUEUE_MAX;
	if (room) {
		it->next = NULL;
		if (q->tail != NULL)
			q->tail->next = it;
		else
			q->head = it;
		q->tail = it;
		q->length++;
		pthread_cond_signal(&q->ready);
	}
	pthread_mutex_unlock(&q->lock);
	return room;
}

/* Takes everything queued (a list), waiting at most wait_ms for the first. */
static struct item *queue_take_all(struct queue *q, int wait_ms)
{
	pthread_mutex_lock(&q->lock);
	if (q->head == NULL && wait_ms > 0) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += (long)wait_ms * 1000000L;
		until.tv_sec += until.tv_nsec / 1000000000L;
		until.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&q->ready, &q->lock, &until);
	}
	struct item *all = q->head;
	q->head = q->tail = NULL;
	q->length = 0;
	pthread_mutex_unlock(&q->lock);
	return all;
}

/* Takes one item, waiting until there is one or the bridge stops. */
static struct item *queue_take_one(struct mqtt_bridge *b, struct queue *q)
{
	pthread_mutex_lock(&q->lock);
	while (q->head == NULL && !atomic_load(&b->stopping))
		pthread_cond_wait(&q->ready, &q->lock);
	struct item *it = q->head;
	if (it != NULL) {
		q->head = it->next;
		if (q->head == NULL)
			q->tail = NULL;
		q->length--;
	}
	pthread_mutex_unlock(&q->lock);
	return it;
}

static void wake_all(struct queue *q)
{
	pthread_mutex_lock(&q->lock);
	pthread_cond_broadcast(&q->ready);
	pthread_mutex_unlock(&q->lock);
}

static void free_items(struct item *it)
{
	while (it != NULL) {
		struct item *next = it->next;
		free(it->payload);
		free(it);
		it = next;
	}
}

/* ---- publishing ----------------------------------------------------------------- */

static void publish(struct mqtt_bridge *b, const char *topic, const char *payload, int qos, bool retained)
{
	MQTTAsync_message msg = MQTTAsync_message_initializer;
	msg.payload = (void *)payload;
	msg.payloadlen = (int)strlen(payload);
	msg.qos = qos;
	msg.retained = retained;
	int rc = MQTTAsync_sendMessage(b->client, topic, &msg, NULL);
	if (rc != MQTTASYNC_SUCCESS)
		log_warn("event=mqtt_publish_failed topic=%s rc=%d", topic, rc);
}

/* Answers a car on its resp topic. body: reference stolen. */
static void answer(struct mqtt_bridge *b, const char *car, const char *request_id, const char *type, long status,
		   json_t *body)
{
	char topic[192];
	snprintf(topic, sizeof(topic), "%scars/%s/resp", b->prefix, car);
	json_t *msg = json_pack("{s:s?, s:s?, s:I, s:o}", "request_id", request_id, "type", type, "status",
				(json_int_t)status, "body", body != NULL ? body : json_null());
	char *text = json_dumps(msg, JSON_COMPACT);
	if (text != NULL)
		publish(b, topic, text, 1, false);
	free(text);
	json_decref(msg);
}

static void answer_error(struct mqtt_bridge *b, const char *car, const char *request_id, const char *type,
			 long status, const char *code, const char *message)
{
	log_info("event=mqtt_request_rejected car=%s request=%s status=%ld code=%s message=\"%s\"", car,
		 request_id != NULL ? request_id : "-", status, code, message);
	atomic_fetch_add(&b->requests_rejected, 1);
	answer(b, car, request_id, type, status, json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message));
}

/* ---- requests --------------------------------------------------------------------- */

#define CLAIM_ABANDONED "30 seconds" /* a claim older than this, unanswered, died with its worker */

/*
 * Claims the request; false when it was seen before (then *stored is its
 * answer, or NULL while another handler runs it). One statement: a racing
 * duplicate waits on the row and sees the first claim, never a second insert.
 *
 * On the relaxed pool (synchronous_commit off): the claim's commit does not wait
 * for its WAL flush (issue 18: no extra flush for bookkeeping). It is durable as
 * soon as anything the request writes after it is: the booking's commit, or the
 * answer remember_answer() stores, flushes the WAL up to itself, and the claim's
 * record lies before. Lost in a crash before that, the claim is lost with nothing
 * done for it, and a redelivery runs the request, as for any unclaimed one.
 */
static bool first_delivery(struct mqtt_bridge *b, const char *key, const char *car, const char *type, json_t **stored,
			   long *stored_status)
{
	static const char
		sql[] = "INSERT INTO mqtt_requests (request_id, car_id, type, claimed_by) VALUES ($1, $2, $3, $4)"
		" ON CONFLICT (request_id) DO UPDATE SET claimed_at = now(), claimed_by = $4"
		" WHERE mqtt_requests.status IS NULL AND (mqtt_requests.claimed_at < now() - interval '" CLAIM_ABANDONED "'"
		"   OR mqtt_requests.claimed_by IS NULL OR mqtt_requests.claimed_by NOT IN ("
		"     SELECT instance FROM worker_instances WHERE last_seen > now() - interval '6 seconds'))"
		" RETURNING true",
		/* Not claimed (answered, or a live handler runs it): what is stored, if anything. */
		stored_sql[] = "SELECT status, response FROM mqtt_requests WHERE request_id = $1";
	*stored = NULL;
	PGconn *conn = db_acquire(b->app->db_relaxed, APP_DB_WAIT_MS);
	if (conn == NULL)
		return true; /* cannot tell: run it; the trip's Idempotency-Key still guards reserve */
	const char *params[] = { key, car, type, b->app->instance };
	PGresult *res = db_exec(conn, sql, 4, params);
	bool first = !db_ok(res, "mqtt_request") || PQntuples(res) == 1;
	PQclear(res);
	if (!first) {
		res = db_exec(conn, stored_sql, 1, params);
		if (db_ok(res, "mqtt_request_stored") && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)) {
			*stored_status = atol(PQgetvalue(res, 0, 0));
			*stored = json_loads(PQgetvalue(res, 0, 1), 0, NULL);
		}
		PQclear(res);
	}
	db_release(b->app->db_relaxed, conn);
	return first;
}

/* Keeps a final answer for a redelivery; a transient one (429, 503) stays retryable. */
static void remember_answer(struct mqtt_bridge *b, const char *key, const struct core_result *r)
{
	static const char store_sql[] = "UPDATE mqtt_requests SET status = $2::int, response = $3::jsonb WHERE request_id = $1",
			  release_sql[] = "DELETE FROM mqtt_requests WHERE request_id = $1 AND status IS NULL";
	PGconn *conn = db_acquire(b->app->db, APP_DB_WAIT_MS);
	if (conn == NULL) {
		log_warn("event=mqtt_answer_not_stored request=%s reason=db_unavailable", key);
		return;
	}
	char status_text[16];
	snprintf(status_text, sizeof(status_text), "%d", core_result_status(r));
	char *text = json_dumps(r->body != NULL ? r->body : json_null(), JSON_COMPACT | JSON_ENCODE_ANY);
	const char *params[] = { key, status_text, text };
	bool transient = evc_err_is_transient(r->err);
	PGresult *res = db_exec(conn, transient ? release_sql : store_sql, transient ? 1 : 3, params);
	if (!db_ok(res, "mqtt_request_answer"))
		log_warn("event=mqtt_answer_not_stored request=%s", key);
	PQclear(res);
	free(text);
	db_release(b->app->db, conn);
}


/* True when type is known and the request has the fields it needs (checked before any claim). */
static bool well_formed(const char *type, json_t *req)
{
	static const char *const plain[] = { "plan", "waitlist", "servers", "stations", NULL };
	static const char *const with_trip[] = { "status", "cancel", "finish", NULL };
	for (const char *const *t = plain; *t != NULL; t++)
		if (strcmp(type, *t) == 0)
			return true;
	for (const char *const *t = with_trip; *t != NULL; t++)
		if (strcmp(type, *t) == 0)
			return validate_uuid(json_string_value(json_object_get(req, "trip_id")) ?: "");
	if (strcmp(type, "checkin") == 0)
		return validate_uuid(json_string_value(json_object_get(req, "reservation_id")) ?: "");
	if (strcmp(type, "trip_waitlist_leave") == 0)
		return validate_uuid(json_string_value(json_object_get(req, "entry_id")) ?: "");
	return (strcmp(type, "reserve") == 0 || strcmp(type, "trip_waitlist") == 0) && json_is_array(json_object_get(req, "legs"));
}

/* Runs a well-formed request through the core as the car (the broker's ACL proved the topic's car logged in). */
static void run_request(struct mqtt_bridge *b, const struct actor *car, const char *type, json_t *input,
			const char *request_id, struct core_result *r)
{
	struct app *app = b->app;
	const char *trip = json_string_value(json_object_get(input, "trip_id"));
	if (strcmp(type, "plan") == 0) {
		plan_route(app, car, input, request_id, r);
	} else if (strcmp(type, "reserve") == 0) {
		char key[160];
		snprintf(key, sizeof(key), "mqtt-%s-%s", car->id, request_id);
		trips_create(app, car, input, key, request_id, r);
	} else if (strcmp(type, "waitlist") == 0) {
		waitlist_join(app, car, input, request_id, r);
	} else if (strcmp(type, "trip_waitlist") == 0) {
		trip_waitlist_join(app, car, input, request_id, r);
	} else if (strcmp(type, "trip_waitlist_leave") == 0) {
		trip_waitlist_leave(app, car, json_string_value(json_object_get(input, "entry_id")), request_id, r);
	} else if (strcmp(type, "checkin") == 0) {
		reservations_checkin(app, car, json_string_value(json_object_get(input, "reservation_id")), request_id, r);
	} else if (strcmp(type, "servers") == 0) {
		catalogue_servers(app, car, request_id, r);
	} else if (strcmp(type, "stations") == 0) {
		catalogue_network_stations(app, car, request_id, r);
	} else if (strcmp(type, "status") == 0) {
		trips_get(app, car, trip, false, request_id, r);
	} else {
		trips_change(app, car, trip, type, request_id, r); /* cancel, finish */
	}
}

static bool valid_request_id(const char *id)
{
	size_t n = id != NULL ? strlen(id) : 0;
	return n >= 1 && n <= 64 && strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:-") == n;
}

bool mqtt_bridge_read_request(const char *payload, size_t len, struct mqtt_bridge_request *out)
{
	struct jsonx_error err;
	memset(out, 0, sizeof(*out));
	out->code = "invalid_json";
	if (!jsonx_load_object(payload, len, MQTT_MAX_JSON_DEPTH, &out->req, &err)) {
		snprintf(out->message, sizeof(out->message), "payload must be a JSON object (%s)", err.message);
		return false;
	}
	out->request_id = json_string_value(json_object_get(out->req, "request_id"));
	out->type = json_string_value(json_object_get(out->req, "type"));
	if (!valid_request_id(out->request_id)) {
		out->request_id = NULL;
		out->code = "invalid_field";
		snprintf(out->message, sizeof(out->message), "request_id must be 1 to 64 of [A-Za-z0-9_.:-]");
		return false;
	}
	if (out->type == NULL || !well_formed(out->type, out->req)) {
		out->code = "invalid_request";
		snprintf(out->message, sizeof(out->message), "%s",
			 "type must be plan, reserve (with legs), cancel, finish or status (with trip_id), waitlist, "
			 "checkin (with reservation_id), servers, stations, trip_waitlist (with legs) or trip_waitlist_leave "
			 "(with entry_id)");
		return false;
	}
	/* What the core reads: the request without the envelope's fields. */
	out->input = json_deep_copy(out->req);
	json_object_del(out->input, "type");
	json_object_del(out->input, "request_id");
	out->code = NULL;
	return true;
}

void mqtt_bridge_request_clear(struct mqtt_bridge_request *q)
{
	json_decref(q->input);
	json_decref(q->req);
	memset(q, 0, sizeof(*q));
}

static void handle_request(struct mqtt_bridge *b, const struct item *it)
{
	const char *car_id = it->subject;
	struct mqtt_bridge_request q;
	struct core_result r = CORE_RESULT_INIT;

	if (!mqtt_bridge_read_request(it->payload, strlen(it->payload), &q)) {
		answer_error(b, car_id, q.request_id, q.type, 400, q.code, q.message);
		goto done;
	}
	const char *request_id = q.request_id, *type = q.type;
	char key[160];
	snprintf(key, sizeof(key), "%s/%s", car_id, request_id);
	json_t *stored = NULL;
	long stored_status = 0;
	if (!first_delivery(b, key, car_id, type, &stored, &stored_status)) {
		/* A redelivery: answer again what was answered, never run it twice. */
		if (stored != NULL)
			answer(b, car_id, request_id, type, stored_status, stored);
		log_info("event=mqtt_request_duplicate car=%s request=%s answered=%s", car_id, request_id,
			 stored ? "again" : "later");
		goto done;
	}
	struct actor car = actor_car(car_id);
	run_request(b, &car, type, q.input, request_id, &r);
	remember_answer(b, key, &r);
	int status = core_result_status(&r);
	answer(b, car_id, request_id, type, status, json_incref(r.body));
	atomic_fetch_add(&b->requests_answered, 1);
	/* A car's look-ups (its trip's status, the servers, the stations) are polls: debug. */
	bool poll = type != NULL && (strcmp(type, "status") == 0 || strcmp(type, "servers") == 0 ||
				     strcmp(type, "stations") == 0);
	log_write(poll && status < 400 ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO,
		  "event=mqtt_request car=%s request=%s type=%s status=%d", car_id, request_id, type, status);
done:
	core_result_clear(&r);
	mqtt_bridge_request_clear(&q);
}

/* A station's birth or Last Will: an offline station takes no new bookings. */
static void handle_station(struct mqtt_bridge *b, const struct item *it)
{
	char owner[VALIDATE_COMPANY_MAX + 1];
	json_t *msg = NULL;
	struct jsonx_error err;
	if (!jsonx_load_object(it->payload, strlen(it->payload), MQTT_MAX_JSON_DEPTH, &msg, &err))
		msg = NULL; /* refused below, as a payload without "online" */
	json_t *online = json_object_get(msg, "online");
	if (!validate_station_company(it->subject, owner, sizeof(owner)) || strcmp(owner, b->app->cfg.company_id) != 0 ||
	    !json_is_boolean(online)) {
		log_info("event=mqtt_station_status_ignored station=%s", it->subject);
		json_decref(msg);
		return;
	}
	/* Only active <-> offline: maintenance is an operator's decision, not the station's. */
	static const char sql[] =
		"UPDATE stations SET status = $2, updated_at = now()"
		" WHERE id = $1 AND status = CASE $2 WHEN 'active' THEN 'offline' ELSE 'active' END";
	const char *params[] = { it->subject, json_is_true(online) ? "active" : "offline" };
	PGconn *conn = db_acquire(b->app->db, APP_DB_WAIT_MS);
	if (conn != NULL) {
		PGresult *res = db_exec(conn, sql, 2, params);
		if (db_ok(res, "station_status") && atoi(PQcmdTuples(res)) > 0)
			log_info("event=station_%s station=%s", json_is_true(online) ? "online" : "offline", it->subject);
		PQclear(res);
		db_release(b->app->db, conn);
	}
	json_decref(msg);
}

static void *handler_loop(void *arg)
{
	struct mqtt_bridge *b = arg;
	struct item *it;
	while ((it = queue_take_one(b, &b->requests)) != NULL) {
		handle_request(b, it);
		it->next = NULL;
		free_items(it);
	}
	return NULL;
}

/* ---- telemetry ------------------------------------------------------------------- */

/*
 * Turns one sample into a COPY line and notes it as the car's latest; or tells
 * why not (counted by the caller: telemetry has no one to answer). A sample
 * older than the retention would be pruned at once; one from the future would
 * stay the car's latest position for good.
 */
static enum sample_fate telemetry_line(const struct config *cfg, const struct item *it, int64_t now, char *line,
				       size_t size, json_t *latest, int64_t *sample_ms)
{
	struct telemetry_sample t;
	if (!validate_car_id(it->subject) || !telemetry_parse(it->payload, strlen(it->payload), &t))
		return SAMPLE_MALFORMED;
	if (bounds_telemetry(cfg, t.ts, now) != NULL)
		return SAMPLE_OUT_OF_RANGE;
	char stamp[TIMEUTIL_RFC3339_LEN];
	timeutil_format_rfc3339(t.ts, stamp);
	snprintf(line, size, "%s\t%s\t%.6f\t%.6f\t%.2f\t%.2f\t%.2f\n", it->subject, stamp, t.lat, t.lon, t.soc,
		 t.speed_kmh, t.consumption);
	*sample_ms = t.ts * 1000;
	json_t *prev = json_object_get(latest, it->subject);
	if (prev == NULL || json_integer_value(json_object_get(prev, "epoch")) <= t.ts)
		json_object_set_new(latest, it->subject,
				    json_pack("{s:s, s:I, s:s, s:f, s:f, s:f, s:f, s:f, s:s?}", "car_id", it->subject, "epoch",
					      (json_int_t)t.ts, "ts", stamp, "lat", t.lat, "lon", t.lon, "soc", t.soc, "speed_kmh",
					      t.speed_kmh, "consumption", t.consumption, "profile",
					      t.profile[0] ? t.profile : NULL));
	return SAMPLE_OK;
}

/*
 * One info line per reason at most every REJECT_LOG_SECONDS, with the count
 * since the last: a car flooding bad samples must not flood the log. The
 * first after a quiet spell is logged at once.
 */
static void log_rejections(struct mqtt_bridge *b, int64_t now)
{
	for (size_t i = 0; i < sizeof(b->rejects) / sizeof(b->rejects[0]); i++) {
		if (b->rejects[i].pending == 0 || now - b->rejects[i].logged_ms < REJECT_LOG_SECONDS * 1000)
			continue;
		log_info("event=telemetry_rejected count=%zu reason=%s", b->rejects[i].pending, b->rejects[i].reason);
		b->rejects[i].pending = 0;
		b->rejects[i].logged_ms = now;
	}
}

static void batch_free(struct telemetry_batch *t)
{
	if (t == NULL)
		return;
	json_decref(t->latest);
	free(t->copy);
	free(t);
}

/* Parses a list of items into a batch to store; NULL when no sample in it is fit to keep. */
static struct telemetry_batch *parse_batch(struct mqtt_bridge *b, struct item *batch)
{
	size_t capacity = 1 << 16, malformed = 0, out_of_range = 0;
	struct telemetry_batch *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return NULL;
	t->copy = malloc(capacity);
	t->latest = json_object();
	int64_t now = timeutil_now();
	for (struct item *it = batch; it != NULL && t->copy != NULL && t->latest != NULL; it = it->next) {
		char line[512];
		if (it->kind != ITEM_TELEMETRY)
			continue;
		int64_t sample_ms = 0;
		enum sample_fate fate = telemetry_line(&b->app->cfg, it, now, line, sizeof(line), t->latest, &sample_ms);
		if (fate != SAMPLE_OK) {
			*(fate == SAMPLE_MALFORMED ? &malformed : &out_of_range) += 1;
			continue;
		}
		size_t n = strlen(line);
		if (t->used + n + 1 > capacity) {
			char *grown = realloc(t->copy, capacity * 2);
			if (grown == NULL)
				break;
			t->copy = grown;
			capacity *= 2;
		}
		memcpy(t->copy + t->used, line, n);
		t->used += n;
		t->rows++;
		if (sample_ms > t->newest_sample)
			t->newest_sample = sample_ms;
	}
	atomic_fetch_add(&b->telemetry_rejected, malformed + out_of_range);
	atomic_fetch_add(&b->telemetry_out_of_range, out_of_range);
	b->rejects[0].pending += malformed;
	b->rejects[1].pending += out_of_range;
	log_rejections(b, now_ms());
	if (t->rows == 0) {
		batch_free(t);
		return NULL;
	}
	return t;
}

/* COPYs the samples; true when they are stored. */
static bool copy_samples(PGconn *conn, const struct telemetry_batch *t)
{
	bool ok = false;
	PGresult *res = PQexec(conn, "COPY car_telemetry (car_id, ts, lat, lon, soc, speed_kmh, consumption) FROM STDIN");
	if (PQresultStatus(res) == PGRES_COPY_IN) {
		PQclear(res);
		ok = PQputCopyData(conn, t->copy, (int)t->used) == 1 && PQputCopyEnd(conn, NULL) == 1;
		res = PQgetResult(conn);
		ok = ok && PQresultStatus(res) == PGRES_COMMAND_OK;
		PQclear(res);
		while ((res = PQgetResult(conn)) != NULL)
			PQclear(res);
	} else {
		PQclear(res);
	}
	return ok;
}

/* Stores a batch (and frees it): one COPY for the samples, one statement for the cars' latest state. */
static void write_batch(struct mqtt_bridge *b, struct telemetry_batch *t)
{
	PGconn *conn = db_acquire(b->app->db, APP_DB_WAIT_MS);
	if (conn == NULL) {
		log_warn("event=telemetry_store_failed rows=%zu reason=database", t->rows);
		batch_free(t);
		return;
	}
	if (copy_samples(conn, t)) {
		char *states = json_dumps(t->latest, JSON_COMPACT);
		const char *params[] = { states };
		PGresult *res = db_exec(conn,
			      "INSERT INTO car_state (car_id, ts, lat, lon, soc, speed_kmh, consumption, profile)"
			      " SELECT x.car_id, x.ts, x.lat, x.lon, x.soc, x.speed_kmh, x.consumption, x.profile"
			      " FROM json_each($1::json) e,"
			      "  json_to_record(e.value) AS x(car_id text, ts timestamptz, lat float8, lon float8,"
			      "  soc float8, speed_kmh float8, consumption float8, profile text)"
			      " ON CONFLICT (car_id) DO UPDATE SET ts = EXCLUDED.ts, lat = EXCLUDED.lat, lon = EXCLUDED.lon,"
			      "  soc = EXCLUDED.soc, speed_kmh = EXCLUDED.speed_kmh, consumption = EXCLUDED.consumption,"
			      "  profile = coalesce(EXCLUDED.profile, car_state.profile), updated_at = now()"
			      " WHERE car_state.ts <= EXCLUDED.ts",
			      1, params);
		db_ok(res, "car_state");
		PQclear(res);
		free(states);
		atomic_fetch_add(&b->telemetry_stored, t->rows);
		atomic_store(&b->last_lag_ms, (long long)(now_ms() - t->newest_sample));
	} else {
		log_warn("event=telemetry_store_failed rows=%zu error=\"%.*s\"", t->rows,
			 (int)strcspn(PQerrorMessage(conn), "\n"), PQerrorMessage(conn));
	}
	db_release(b->app->db, conn);
	batch_free(t);
}

/* Hands a batch to the writer, waiting while it still stores the previous one. */
static void handover_put(struct handover *h, struct telemetry_batch *t)
{
	pthread_mutex_lock(&h->lock);
	while (h->pending != NULL)
		pthread_cond_wait(&h->changed, &h->lock);
	h->pending = t;
	pthread_cond_broadcast(&h->changed);
	pthread_mutex_unlock(&h->lock);
}

/* The writer: stores each batch handed over, until the flusher closes the hand-over and none is left. */
static void *write_loop(void *arg)
{
	struct mqtt_bridge *b = arg;
	struct handover *h = &b->store;
	pthread_mutex_lock(&h->lock);
	for (;;) {
		while (h->pending == NULL && !h->closed)
			pthread_cond_wait(&h->changed, &h->lock);
		struct telemetry_batch *t = h->pending;
		if (t == NULL)
			break;
		pthread_mutex_unlock(&h->lock);
		write_batch(b, t);
		pthread_mutex_lock(&h->lock);
		h->pending = NULL; /* only now: the flusher is at most one batch ahead */
		pthread_cond_broadcast(&h->changed);
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

static void prune_telemetry(struct mqtt_bridge *b)
{
	PGconn *conn = db_acquire(b->app->db, APP_DB_WAIT_MS);
	if (conn == NULL)
		return;
	char hours[16];
	snprintf(hours, sizeof(hours), "%d", b->app->cfg.telemetry_retention_hours);
	const char *params[] = { hours };
	PGresult *res = db_exec(conn, "DELETE FROM car_telemetry WHERE ts < now() - make_interval(hours => $1::int)", 1, params);
	if (db_ok(res, "telemetry_prune") && atoi(PQcmdTuples(res)) > 0)
		log_info("event=telemetry_pruned rows=%s", PQcmdTuples(res));
	PQclear(res);
	db_release(b->app->db, conn);
}

static void *flush_loop(void *arg)
{
	struct mqtt_bridge *b = arg;
	int64_t last_prune = 0;
	for (;;) {
		bool stopping = atomic_load(&b->stopping);
		struct item *batch = queue_take_all(&b->telemetry, FLUSH_MS);
		/* A small batch: pause, so the next COPY carries more rows. */
		bool small = batch == NULL || batch->next == NULL;
		struct telemetry_batch *parsed = batch != NULL ? parse_batch(b, batch) : NULL;
		if (parsed != NULL)
			handover_put(&b->store, parsed);
		for (struct item *it = batch; it != NULL; it = it->next)
			if (it->kind == ITEM_STATION)
				handle_station(b, it); /* in arrival order: a Last Will then a birth ends online */
		free_items(batch);
		log_rejections(b, now_ms());
		if (now_ms() - last_prune > PRUNE_SECONDS * 1000) {
			prune_telemetry(b);
			last_prune = now_ms();
		}
		if (stopping) {
			/* One last pass after the stop was seen, stored before we end: nothing buffered is lost. */
			pthread_mutex_lock(&b->store.lock);
			b->store.closed = true;
			pthread_cond_broadcast(&b->store.changed);
			pthread_mutex_unlock(&b->store.lock);
			pthread_join(b->writer, NULL);
			return NULL;
		}
		struct timespec pause = { 0, FLUSH_MS * 1000000L };
		if (small)
			nanosleep(&pause, NULL);
	}
}

/* ---- the paho side -------------------------------------------------------------- */

/* Splits "evc/v1/<company>/cars/<car>/<leaf>"; false when the topic is not one of ours. */
static bool parse_topic(const struct mqtt_bridge *b, const char *topic, int len, const char *kind, char *subject,
			char *leaf, size_t leaf_size)
{
	char copy[256];
	if (len <= 0 || (size_t)len >= sizeof(copy))
		return false;
	memcpy(copy, topic, (size_t)len);
	copy[len] = '\0';
	size_t plen = strlen(b->prefix), klen = strlen(kind);
	if (strncmp(copy, b->prefix, plen) != 0 || strncmp(copy + plen, kind, klen) != 0 || copy[plen + klen] != '/')
		return false;
	char *id = copy + plen + klen + 1;
	char *slash = strchr(id, '/');
	if (slash == NULL || slash == id || (size_t)(slash - id) > VALIDATE_STATION_MAX)
		return false;
	*slash = '\0';
	snprintf(subject, VALIDATE_STATION_MAX + 1, "%s", id);
	snprintf(leaf, leaf_size, "%s", slash + 1);
	return true;
}

/* paho's thread: copy, queue, return. Nothing here waits on the database or the network. */
static int on_message(void *context, char *topic, int topic_len, MQTTAsync_message *msg)
{
	struct mqtt_bridge *b = context;
	char subject[VALIDATE_STATION_MAX + 1], leaf[32];
	int len = topic_len > 0 ? topic_len : (int)strlen(topic);
	struct item *it = NULL;
	enum item_kind kind;
	bool ours = true;

	if (parse_topic(b, topic, len, "cars", subject, leaf, sizeof(leaf)) && strcmp(leaf, "telemetry") == 0)
		kind = ITEM_TELEMETRY;
	else if (parse_topic(b, topic, len, "cars", subject, leaf, sizeof(leaf)) && strcmp(leaf, "req") == 0)
		kind = ITEM_REQUEST;
	else if (parse_topic(b, topic, len, "stations", subject, leaf, sizeof(leaf)) && strcmp(leaf, "status") == 0)
		kind = ITEM_STATION;
	else
		ours = false;

	if (ours && kind == ITEM_TELEMETRY)
		atomic_fetch_add(&b->telemetry_received, 1);
	if (ours && msg->payloadlen >= 0 && msg->payloadlen <= MAX_PAYLOAD && (it = calloc(1, sizeof(*it))) != NULL &&
	    (it->payload = malloc((size_t)msg->payloadlen + 1)) != NULL) {
		memcpy(it->payload, msg->payload, (size_t)msg->payloadlen);
		it->payload[msg->payloadlen] = '\0';
		it->kind = kind;
		it->received = now_ms();
		snprintf(it->subject, sizeof(it->subject), "%s", subject);
		/* Station messages share the telemetry queue: its single consumer keeps their order. */
		if (!queue_push(kind == ITEM_REQUEST ? &b->requests : &b->telemetry, it)) {
			atomic_fetch_add(&b->shed, 1);
			free_items(it);
		}
	} else if (it != NULL) {
		free(it);
	} else if (ours) {
		atomic_fetch_add(&b->oversized, 1);
		/* The sender's fault, not ours: info, like every refused input. */
		log_info("event=mqtt_payload_refused subject=%s bytes=%d limit=%d", subject, msg->payloadlen, MAX_PAYLOAD);
	}
	MQTTAsync_freeMessage(&msg);
	MQTTAsync_free(topic);
	return 1;
}

static void subscribe(struct mqtt_bridge *b)
{
	const char *company = b->app->cfg.company_id;
	char req[160], telemetry[160], stations[160];
	/* Shared: with several replicas each car message is handled by one of them. */
	snprintf(req, sizeof(req), "$share/evc-%s/%scars/+/req", company, b->prefix);
	snprintf(telemetry, sizeof(telemetry), "$share/evc-%s/%scars/+/telemetry", company, b->prefix);
	snprintf(stations, sizeof(stations), "%sstations/+/status", b->prefix);
	char *topics[] = { req, telemetry, stations };
	int qos[] = { 1, 0, 1 };
	int rc = MQTTAsync_subscribeMany(b->client, 3, topics, qos, NULL);
	if (rc != MQTTASYNC_SUCCESS)
		log_warn("event=mqtt_subscribe_failed rc=%d", rc);
}

/* After every (re)connect: announce, and subscribe again (clean sessions forget). */
static void on_connected(void *context, char *cause)
{
	struct mqtt_bridge *b = context;
	(void)cause;
	atomic_store(&b->connected, true);
	atomic_store(&b->connecting, false);
	atomic_store(&b->auto_reconnects, true);
	log_info("event=mqtt_connected");
	subscribe(b);
	publish(b, b->status_topic, b->online, 1, true);
}

static void on_connection_lost(void *context, char *cause)
{
	struct mqtt_bridge *b = context;
	atomic_store(&b->connected, false);
	log_warn("event=mqtt_connection_lost cause=\"%s\"", cause != NULL ? cause : "unknown");
}

static void on_connect_failure(void *context, MQTTAsync_failureData *response)
{
	struct mqtt_bridge *b = context;
	atomic_store(&b->connecting, false);
	log_warn("event=mqtt_connect_failed rc=%d", response != NULL ? response->code : 0);
}

static void try_connect(struct mqtt_bridge *b)
{
	MQTTAsync_willOptions will = MQTTAsync_willOptions_initializer;
	will.topicName = b->status_topic;
	will.message = b->offline;
	will.retained = 1;
	will.qos = 1;

	MQTTAsync_connectOptions opts = MQTTAsync_connectOptions_initializer;
	opts.keepAliveInterval = 10;
	opts.cleansession = 1;
	opts.automaticReconnect = 1;
	opts.minRetryInterval = 1;
	opts.maxRetryInterval = 4;
	opts.connectTimeout = 5;
	opts.will = &will;
	opts.onFailure = on_connect_failure;
	opts.context = b;
	if (b->app->cfg.mqtt_username[0] != '\0') {
		opts.username = b->app->cfg.mqtt_username;
		opts.password = b->app->cfg.mqtt_password;
	}

	atomic_store(&b->connecting, true);
	int rc = MQTTAsync_connect(b->client, &opts);
	if (rc != MQTTASYNC_SUCCESS) {
		atomic_store(&b->connecting, false);
		log_warn("event=mqtt_connect_refused rc=%d", rc);
	}
}

/* paho retries only connections that once succeeded: this thread covers the first one. */
static void *retry_loop(void *arg)
{
	struct mqtt_bridge *b = arg;
	pthread_mutex_lock(&b->lock);
	while (!atomic_load(&b->stopping)) {
		if (!atomic_load(&b->auto_reconnects) && !atomic_load(&b->connecting))
			try_connect(b);
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += RETRY_SECONDS;
		pthread_cond_timedwait(&b->wake, &b->lock, &until);
	}
	pthread_mutex_unlock(&b->lock);
	return NULL;
}

struct mqtt_bridge *mqtt_bridge_start(struct app *app)
{
	struct mqtt_bridge *b = calloc(1, sizeof(*b));
	if (b == NULL)
		return NULL;
	const char *company = app->cfg.company_id;
	b->app = app;
	b->rejects[0].reason = "malformed";
	b->rejects[1].reason = "out_of_range";
	for (size_t i = 0; i < sizeof(b->rejects) / sizeof(b->rejects[0]); i++)
		b->rejects[i].logged_ms = -REJECT_LOG_SECONDS * 1000;
	char client_id[64];
	snprintf(client_id, sizeof(client_id), "evc-worker-%s-%.8s", company, app->instance);
	snprintf(b->prefix, sizeof(b->prefix), "evc/v1/%s/", company);
	/* One topic per process: replicas of a company come and go on their own. */
	snprintf(b->status_topic, sizeof(b->status_topic), "evc/v1/%s/servers/%s", company, app->instance);
	snprintf(b->online, sizeof(b->online), "{\"company\":\"%s\",\"instance\":\"%s\",\"online\":true}", company,
		 app->instance);
	snprintf(b->offline, sizeof(b->offline), "{\"company\":\"%s\",\"instance\":\"%s\",\"online\":false}",
		 company, app->instance);

	if (MQTTAsync_create(&b->client, app->cfg.mqtt_url, client_id, MQTTCLIENT_PERSISTENCE_NONE, NULL) !=
	    MQTTASYNC_SUCCESS) {
		log_error("event=mqtt_create_failed url=%s", app->cfg.mqtt_url);
		free(b);
		return NULL;
	}
	queue_init(&b->requests);
	queue_init(&b->telemetry);
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->wake, NULL);
	MQTTAsync_setCallbacks(b->client, b, on_connection_lost, on_message, NULL);
	MQTTAsync_setConnected(b->client, b, on_connected);
	for (int i = 0; i < HANDLER_THREADS; i++)
		pthread_create(&b->handlers[i], NULL, handler_loop, b);
	pthread_mutex_init(&b->store.lock, NULL);
	pthread_cond_init(&b->store.changed, NULL);
	pthread_create(&b->writer, NULL, write_loop, b);
	pthread_create(&b->flusher, NULL, flush_loop, b);
	pthread_create(&b->retry_thread, NULL, retry_loop, b);
	return b;
}

bool mqtt_bridge_connected(struct mqtt_bridge *b)
{
	return atomic_load(&b->connected);
}

void mqtt_bridge_notify(struct mqtt_bridge *b, const char *car, const char *leaf, json_t *body)
{
	char topic[192];
	snprintf(topic, sizeof(topic), "%scars/%s/%s", b->prefix, car, leaf);
	char *text = json_dumps(body, JSON_COMPACT);
	if (text != NULL)
		publish(b, topic, text, 1, false);
	free(text);
	json_decref(body);
}

json_t *mqtt_bridge_stats(struct mqtt_bridge *b)
{
	return json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "connected", atomic_load(&b->connected),
			 "telemetry_received", (json_int_t)atomic_load(&b->telemetry_received), "telemetry_stored",
			 (json_int_t)atomic_load(&b->telemetry_stored), "telemetry_rejected",
			 (json_int_t)atomic_load(&b->telemetry_rejected), "telemetry_out_of_range",
			 (json_int_t)atomic_load(&b->telemetry_out_of_range), "telemetry_lag_ms",
			 (json_int_t)atomic_load(&b->last_lag_ms), "requests_answered",
			 (json_int_t)atomic_load(&b->requests_answered), "requests_rejected",
			 (json_int_t)atomic_load(&b->requests_rejected), "shed", (json_int_t)atomic_load(&b->shed), "oversized",
			 (json_int_t)atomic_load(&b->oversized));
}

void mqtt_bridge_stop(struct mqtt_bridge *b)
{
	if (b == NULL)
		return;
	pthread_mutex_lock(&b->lock);
	atomic_store(&b->stopping, true);
	pthread_cond_signal(&b->wake);
	pthread_mutex_unlock(&b->lock);
	pthread_join(b->retry_thread, NULL);

	if (atomic_load(&b->connected)) {
		publish(b, b->status_topic, b->offline, 1, true);
		MQTTAsync_disconnectOptions opts = MQTTAsync_disconnectOptions_initializer;
		opts.timeout = 1000;
		MQTTAsync_disconnect(b->client, &opts);
		struct timespec pause = { 0, 200 * 1000000L };
		nanosleep(&pause, NULL);
	}
	/* No message arrives any more: drain what is queued, then stop the threads. */
	wake_all(&b->requests);
	wake_all(&b->telemetry);
	for (int i = 0; i < HANDLER_THREADS; i++)
		pthread_join(b->handlers[i], NULL);
	pthread_join(b->flusher, NULL);
	free_items(queue_take_all(&b->requests, 0));
	MQTTAsync_destroy(&b->client);
	pthread_mutex_destroy(&b->lock);
	pthread_cond_destroy(&b->wake);
	pthread_mutex_destroy(&b->store.lock);
	pthread_cond_destroy(&b->store.changed);
	free(b);
}
