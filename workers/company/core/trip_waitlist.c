#include "trip_waitlist.h"
#include "app.h"
#include "coredb.h"
#include "federation.h"
#include "jsonx.h"
#include "log.h"
#include "mqtt_bridge.h"
#include "policy.h"
#include "ticker.h"
#include "timeutil.h"
#include "trips.h"
#include "validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROUND_LOCK "hashtext('evc-trip-waitlist-round')"
#define KEY_MAX 64

static const char owner_sql[] = "SELECT car_id FROM trip_waitlist WHERE id = $1::uuid";

/* Tells the car what happened to its entry (after the change is committed). */
static void notify(struct app *app, const char *car, const char *entry_json, json_t *trip)
{
	json_t *body = json_loads(entry_json, 0, NULL);
	if (app->mqtt == NULL || body == NULL) {
		json_decref(body);
		json_decref(trip);
		return;
	}
	json_object_set_new(body, "type", json_string("trip_waitlist"));
	if (trip != NULL)
		json_object_set_new(body, "trip", trip);
	mqtt_bridge_notify(app->mqtt, car, "waitlist", body);
}

/* The entry's deadline: the first window's start, the wait bound and the car's own, whichever is first. */
static enum evc_err read_deadline(const struct app *app, json_t *input, json_t *legs, int64_t now, int64_t *expires,
				  struct core_result *r)
{
	struct jsonx_error err;
	const char *text = NULL;
	int64_t first = 0, mine;
	if (!jsonx_string(input, "expires_at", false, 64, &text, &err))
		return core_fail(r, EVC_ERR_INVALID, err.code, "%s", err.message);
	if (!timeutil_parse_rfc3339(json_string_value(json_object_get(json_array_get(legs, 0), "start")), &first))
		return core_fail(r, EVC_ERR_INVALID, "invalid_window", "the first leg has no start"); /* read_legs wrote it */
	*expires = now + (int64_t)app->cfg.trip_waitlist_max_wait_minutes * 60;
	if (first < *expires)
		*expires = first;
	if (text != NULL) {
		if (!timeutil_parse_rfc3339(text, &mine))
			return core_fail(r, EVC_ERR_INVALID, "invalid_field", "expires_at must be an RFC 3339 time");
		if (mine < *expires)
			*expires = mine;
	}
	if (*expires <= now)
		return core_fail(r, EVC_ERR_INVALID, "invalid_window",
				 "nothing to wait for: the first window starts, or the deadline passes, now");
	return EVC_OK;
}

/* Every leg's company is this one or a peer; EVC_OK or the 400 in r. */
static enum evc_err known_companies(struct app *app, json_t *participants, struct core_result *r)
{
	char url[256], token[FEDERATION_TOKEN_MAX];
	size_t i;
	json_t *p;
	json_array_foreach(participants, i, p) {
		const char *company = json_string_value(p);
		if (strcmp(company, app->cfg.company_id) != 0 && !federation_peer(company, url, sizeof(url), token, sizeof(token)))
			return core_fail(r, EVC_ERR_INVALID, "unknown_company", "no company '%s' in the federation", company);
	}
	return EVC_OK;
}

/* Writes the entry under the car's lock, within the per-car and total bounds. */
static enum evc_err insert_entry(struct app *app, const char *car, json_t *legs, int64_t expires, const char *request_id,
				 struct core_result *r)
{
	static const char sql[] =
		"WITH counts AS (SELECT count(*) FILTER (WHERE car_id = $1) AS mine, count(*) AS total"
		"  FROM trip_waitlist WHERE status = 'waiting')"
		" INSERT INTO trip_waitlist (car_id, legs, expires_at)"
		" SELECT $1, $2::jsonb, $3::timestamptz FROM counts WHERE mine < $4::int AND total < $5::int"
		" RETURNING id";
	/* A statement of its own: the INSERT's own snapshot does not see the row it counts the position with. */
	static const char json_sql[] = "SELECT id, trip_waitlist_json(w) FROM trip_waitlist w WHERE id = $1::uuid";
	char x[TIMEUTIL_RFC3339_LEN], car_max[16], total_max[16];
	timeutil_format_rfc3339(expires, x);
	snprintf(car_max, sizeof(car_max), "%d", app->cfg.trip_waitlist_car_max);
	snprintf(total_max, sizeof(total_max), "%d", app->cfg.trip_waitlist_max);
	char *legs_text = json_dumps(legs, JSON_COMPACT);
	const char *params[] = { car, legs_text, x, car_max, total_max };
	PGconn *conn = db_acquire(app->db, APP_DB_WAIT_MS);
	if (conn == NULL) {
		free(legs_text);
		return coredb_unavailable(r, request_id);
	}
	if (coredb_begin_car(conn, car, request_id, r) == EVC_OK) {
		PGresult *res = db_exec(conn, sql, 5, params);
		if (db_ok(res, "trip_waitlist_insert") && PQntuples(res) == 1) {
			const char *id_param[] = { PQgetvalue(res, 0, 0) };
			PGresult *inserted = db_exec(conn, json_sql, 1, id_param);
			PQclear(res);
			res = inserted;
		}
		if (!db_ok(res, "trip_waitlist_insert")) {
			coredb_error(r, conn, res, request_id);
		} else if (PQntuples(res) == 0) {
			core_fail(r, EVC_ERR_CONFLICT, "trip_waitlist_full",
				  "car '%s' already waits for %d trips (EVC_TRIP_WAITLIST_CAR_MAX), or the trip waitlist holds"
				  " %d entries (EVC_TRIP_WAITLIST_MAX)", car, app->cfg.trip_waitlist_car_max, app->cfg.trip_waitlist_max);
		} else {
			core_ok_text(r, PQgetvalue(res, 0, 1));
			r->created = true;
			snprintf(r->location, sizeof(r->location), "/trip-waitlist/%s", PQgetvalue(res, 0, 0));
			log_info("event=trip_waitlist_joined req=%s entry=%s car=%s legs=%zu expires=%s", request_id,
				 PQgetvalue(res, 0, 0), car, json_array_size(legs), x);
		}
		PQclear(res);
		coredb_end(conn, request_id, r);
	}
	db_release(app->db, conn);
	free(legs_text);
	return r->err;
}

enum evc_err trip_waitlist_join(struct app *app, const struct actor *actor, json_t *input, const char *request_id,
				struct core_result *r)
{
	struct jsonx_error err;
	const char *car_id = NULL, *car;
	int64_t now = timeutil_now(), expires = 0;
	if (policy_check(actor, POLICY_TRIP_WAITLIST_JOIN, NULL, request_id, r) != EVC_OK)
		return r->err;
	if (!jsonx_string(input, "car_id", false, VALIDATE_CAR_MAX, &car_id, &err))
		return core_fail(r, EVC_ERR_INVALID, err.code, "%s", err.message);
	if (policy_booking_car(actor, car_id, &car, request_id, r) != EVC_OK)
		return r->err;
	json_t *legs = json_array(), *participants = json_array();
	if (trips_read_legs(&app->cfg, input, now, legs, participants, r) == EVC_OK &&
	    known_companies(app, participants, r) == EVC_OK && read_deadline(app, input, legs, now, &expires, r) == EVC_OK) {
		/* Only what a trip request takes: the state fields trips_read_legs adds are the trip's own. */
		size_t i;
		json_t *leg;
		json_array_foreach(legs, i, leg) {
			json_object_del(leg, "state");
			json_object_del(leg, "reservation_id");
			json_object_del(leg, "charger");
			json_object_del(leg, "company");
		}
		if (insert_entry(app, car, legs, expires, request_id, r) == EVC_OK)
			ticker_wake(app->trip_waitlist_ticker); /* the first try at once */
	}
	json_decref(legs);
	json_decref(participants);
	return r->err;
}

enum evc_err trip_waitlist_get(struct app *app, const struct actor *actor, const char *id, const char *request_id,
			       struct core_result *r)
{
	static const char sql[] = "SELECT trip_waitlist_json(w) FROM trip_waitlist w WHERE w.id = $1::uuid";
	if (coredb_authorize_item(app, actor, POLICY_TRIP_WAITLIST_READ, owner_sql, id, "no such trip waitlist entry",
				  request_id, r) != EVC_OK)
		return r->err;
	const char *params[] = { id };
	return coredb_query_json(app, r, "no such trip waitlist entry", sql, 1, params, request_id);
}

enum evc_err trip_waitlist_list(struct app *app, const struct actor *actor, const char *status, const char *request_id,
				struct core_result *r)
{
	static const char sql[] =
		"SELECT json_build_object('items', coalesce(json_agg(trip_waitlist_json(w) ORDER BY w.seq DESC), '[]'::json))"
		" FROM (SELECT * FROM trip_waitlist WHERE ($1::text IS NULL OR car_id = $1)"
		"   AND ($2::text IS NULL OR status = $2) ORDER BY seq DESC LIMIT 500) w";
	const char *scope;
	if (policy_list_scope(actor, POLICY_TRIP_WAITLIST_READ, NULL, &scope, request_id, r) != EVC_OK)
		return r->err;
	const char *params[] = { scope, status };
	return coredb_query_json(app, r, "nothing", sql, 2, params, request_id);
}

enum evc_err trip_waitlist_leave(struct app *app, const struct actor *actor, const char *id, const char *request_id,
				 struct core_result *r)
{
	static const char sql[] =
		"WITH gone AS (UPDATE trip_waitlist SET status = 'left', updated_at = now()"
		"  WHERE id = $1::uuid AND status = 'waiting' RETURNING *)"
		" SELECT trip_waitlist_json(g::trip_waitlist), EXISTS (SELECT 1 FROM gone) FROM gone g"
		" UNION ALL SELECT trip_waitlist_json(w), false FROM trip_waitlist w"
		"  WHERE w.id = $1::uuid AND NOT EXISTS (SELECT 1 FROM gone)";
	if (coredb_authorize_item(app, actor, POLICY_TRIP_WAITLIST_LEAVE, owner_sql, id, "no such trip waitlist entry",
				  request_id, r) != EVC_OK)
		return r->err;
	const char *params[] = { id };
	if (coredb_query_json(app, r, "no such trip waitlist entry", sql, 1, params, request_id) == EVC_OK) {
		char who[ACTOR_DESCRIBE_MAX];
		log_info("event=trip_waitlist_left req=%s entry=%s actor=%s status=%s", request_id, id,
			 actor_describe(actor, who), json_string_value(json_object_get(r->body, "status")));
	}
	return r->err;
}

/* ------------------------------------------------------------------ the retry round */

/* One waiting entry, as the round read it. */
struct entry {
	const char *id, *car, *legs;
	int attempts;
};

/* How the trip of an attempt's key stands at this coordinator: "" when there is none. */
static void key_state(PGconn *conn, const char *car, const char *key, char state[16])
{
	const char *params[] = { car, key };
	PGresult *res = db_exec(conn, "SELECT status FROM trips WHERE car_id = $1 AND idempotency_key = $2", 2, params);
	state[0] = '\0';
	if (db_ok(res, "trip_waitlist_key") && PQntuples(res) == 1)
		snprintf(state, 16, "%s", PQgetvalue(res, 0, 0));
	else if (PQresultStatus(res) != PGRES_TUPLES_OK)
		snprintf(state, 16, "unknown"); /* the database failed: try again next round */
	PQclear(res);
}

/* Moves the entry to its next attempt (and key); false when it was no longer waiting or the database failed. */
static bool next_attempt(PGconn *conn, struct entry *e)
{
	char old[16];
	snprintf(old, sizeof(old), "%d", e->attempts);
	const char *params[] = { e->id, old };
	PGresult *res = db_exec(conn,
				"UPDATE trip_waitlist SET attempts = attempts + 1, last_attempt_at = now(), updated_at = now()"
				" WHERE id = $1::uuid AND attempts = $2::int AND status = 'waiting' RETURNING attempts",
				2, params);
	bool moved = db_ok(res, "trip_waitlist_attempt") && PQntuples(res) == 1;
	if (moved)
		e->attempts = atoi(PQgetvalue(res, 0, 0));
	else if (PQresultStatus(res) != PGRES_TUPLES_OK)
		log_warn("event=trip_waitlist_db_failed entry=%s car=%s step=attempt", e->id, e->car);
	PQclear(res);
	return moved;
}

/*
 * Writes the outcome of an attempt: 1 written (the entry's JSON in *json when it
 * changed status, caller frees), 0 the entry was no longer waiting, -1 the
 * database failed.
 */
static int record(PGconn *conn, const struct entry *e, const char *status, const char *trip_id, const char *error,
		  char **json)
{
	static const char sql[] =
		"UPDATE trip_waitlist SET status = $2, trip_id = $3::uuid, last_error = $4, last_attempt_at = now(),"
		" updated_at = now() WHERE id = $1::uuid AND status = 'waiting' RETURNING trip_waitlist_json(trip_waitlist)";
	const char *params[] = { e->id, status, trip_id, error };
	PGresult *res = db_exec(conn, sql, 4, params);
	int written = -1;
	*json = NULL;
	if (!db_ok(res, "trip_waitlist_record")) {
		log_warn("event=trip_waitlist_db_failed entry=%s car=%s step=record status=%s", e->id, e->car, status);
	} else {
		written = PQntuples(res) == 1;
		if (written && strcmp(status, "waiting") != 0)
			*json = strdup(PQgetvalue(res, 0, 0));
	}
	PQclear(res);
	return written;
}

/* The car left while its trip was being booked: leaving wins, the trip is cancelled (all legs again). */
static void undo_booked(struct app *app, const struct actor *car, const char *entry_id, const char *trip_id)
{
	struct core_result c = CORE_RESULT_INIT;
	char req[80];
	snprintf(req, sizeof(req), "twl-undo-%s", entry_id);
	trips_change(app, car, trip_id, "cancel", req, &c);
	if (c.err != EVC_OK)
		log_warn("event=trip_waitlist_undo_failed entry=%s car=%s trip=%s status=%d", entry_id, car->id, trip_id,
			 core_result_status(&c));
	else
		log_info("event=trip_waitlist_undone entry=%s car=%s trip=%s reason=left_while_booking", entry_id, car->id,
			 trip_id);
	core_result_clear(&c);
}

/* What one attempt's answer means for the entry. */
static void settle(struct app *app, PGconn *conn, const struct entry *e, const struct actor *car, struct core_result *t)
{
	int status = core_result_status(t);
	const char *code = json_string_value(json_object_get(json_object_get(t->body, "error"), "code"));
	char *json = NULL;
	if (status == 201) {
		const char *trip_id = json_string_value(json_object_get(t->body, "id"));
		int written = record(conn, e, "booked", trip_id, NULL, &json);
		if (written < 0)
			return; /* the entry still waits: the next round finds this key's trip confirmed and records it */
		if (written == 0 && trip_id != NULL) {
			undo_booked(app, car, e->id, trip_id);
			return;
		}
		log_info("event=trip_waitlist_booked entry=%s car=%s trip=%s attempts=%d", e->id, e->car,
			 trip_id ? trip_id : "-", e->attempts);
		notify(app, e->car, json, json_incref(t->body));
	} else if (status == 409 || evc_err_is_transient(t->err)) {
		/* Still taken, or a peer or the database could not answer now: the entry keeps its place. */
		(void)record(conn, e, "waiting", NULL, code ? code : "unavailable", &json);
		log_debug("event=trip_waitlist_retry_failed entry=%s car=%s status=%d code=%s", e->id, e->car, status,
			  code ? code : "-");
	} else {
		/* The trip as asked can no longer be booked (a window now too near, a station gone): say so. */
		(void)record(conn, e, "failed", NULL, code ? code : "failed", &json);
		log_info("event=trip_waitlist_failed entry=%s car=%s status=%d code=%s", e->id, e->car, status,
			 code ? code : "-");
		if (json != NULL)
			notify(app, e->car, json, NULL);
	}
	free(json);
}

/* One try of one entry: its current key's trip first, a fresh attempt only after an abort. */
static void serve_entry(struct app *app, PGconn *conn, struct entry *e)
{
	char key[KEY_MAX], state[16] = "";
	snprintf(key, sizeof(key), "twl-%s-%d", e->id, e->attempts);
	if (e->attempts > 0)
		key_state(conn, e->car, key, state);
	if (strcmp(state, "preparing") == 0 || strcmp(state, "unknown") == 0)
		return; /* the attempt is undecided (recovery finishes it), or the database failed: next round */
	bool over = strcmp(state, "aborted") == 0 || strcmp(state, "aborting") == 0 || strcmp(state, "cancelled") == 0 ||
		    strcmp(state, "cancelling") == 0 || strcmp(state, "finished") == 0 || strcmp(state, "finishing") == 0;
	if (e->attempts == 0 || over) {
		if (!next_attempt(conn, e))
			return;
		snprintf(key, sizeof(key), "twl-%s-%d", e->id, e->attempts);
	}
	/* The car's standing request: it proved itself when it joined, and a trip is booked for it alone. */
	struct actor car = actor_car(e->car);
	json_t *legs = json_loads(e->legs, 0, NULL);
	json_t *input = legs != NULL ? json_pack("{s:o}", "legs", legs) : NULL;
	if (input == NULL) {
		log_warn("event=trip_waitlist_unreadable entry=%s car=%s", e->id, e->car);
		return;
	}
	struct core_result t = CORE_RESULT_INIT;
	char req[80];
	snprintf(req, sizeof(req), "twl-%.36s-%d", e->id, e->attempts);
	trips_create(app, &car, input, key, req, &t);
	settle(app, conn, e, &car, &t);
	core_result_clear(&t);
	json_decref(input);
}

/* Entries past their deadline: expired, and their cars told. */
static void expire_entries(struct app *app, PGconn *conn)
{
	PGresult *res = db_exec(conn,
				"UPDATE trip_waitlist SET status = 'expired', updated_at = now()"
				" WHERE status = 'waiting' AND expires_at <= now() RETURNING id, car_id, trip_waitlist_json(trip_waitlist)",
				0, NULL);
	if (!db_ok(res, "trip_waitlist_expire"))
		log_warn("event=trip_waitlist_db_failed step=expire");
	for (int i = 0; PQresultStatus(res) == PGRES_TUPLES_OK && i < PQntuples(res); i++) {
		log_info("event=trip_waitlist_expired entry=%s car=%s", PQgetvalue(res, i, 0), PQgetvalue(res, i, 1));
		notify(app, PQgetvalue(res, i, 1), PQgetvalue(res, i, 2), NULL);
	}
	PQclear(res);
}

/*
 * The entries of one round: the EVC_TRIP_WAITLIST_BATCH least recently tried
 * (so every entry gets its turn however many wait) among those due (an entry
 * that failed n times waits EVC_TRIP_WAITLIST_RETRY_MS * 2^(n-1), at most
 * EVC_TRIP_WAITLIST_BACKOFF_MAX_MS, so a long wait costs the peers little), in
 * arrival order; "behind"
 * while an older waiting entry wants an overlapping window at one of the same
 * stations: that one is served first (first come, first served per charger
 * window), even when a charger frees in the middle of a round.
 */
static const char queue_sql[] =
	"WITH pick AS (SELECT id FROM trip_waitlist WHERE status = 'waiting' AND expires_at > now()"
	"  AND (last_attempt_at IS NULL OR last_attempt_at + make_interval(secs => least($2::float8,"
	"   $3::float8 * 2 ^ least(attempts - 1, 16)) / 1000) <= now() + interval '100 milliseconds')"
	"  ORDER BY last_attempt_at NULLS FIRST, seq LIMIT $1::int)"
	" SELECT w.id, w.car_id, w.legs::text, w.attempts, EXISTS ("
	"  SELECT 1 FROM trip_waitlist o, jsonb_array_elements(o.legs) ol, jsonb_array_elements(w.legs) wl"
	"  WHERE o.status = 'waiting' AND o.seq < w.seq AND o.expires_at > now()"
	"   AND ol->>'station_id' = wl->>'station_id'"
	"   AND tstzrange((ol->>'start')::timestamptz, (ol->>'end')::timestamptz)"
	"    && tstzrange((wl->>'start')::timestamptz, (wl->>'end')::timestamptz))"
	" FROM trip_waitlist w WHERE w.id IN (SELECT id FROM pick) ORDER BY w.seq";

/* An entry passed over for an older one: its turn in the rotation is used all the same. */
static void pass_over(PGconn *conn, const char *id)
{
	const char *params[] = { id };
	PGresult *res = db_exec(conn, "UPDATE trip_waitlist SET last_attempt_at = now() WHERE id = $1::uuid", 1, params);
	if (!db_ok(res, "trip_waitlist_pass"))
		log_warn("event=trip_waitlist_db_failed entry=%s step=pass_over", id);
	PQclear(res);
}

/* One round: expiry, then the round's entries one after the other, oldest first. */
static void serve_round(struct app *app)
{
	PGconn *conn = db_acquire(app->db, APP_DB_WAIT_MS);
	if (conn == NULL) {
		log_warn("event=trip_waitlist_db_failed step=connect");
		return;
	}
	PGresult *lock = db_exec(conn, "SELECT pg_try_advisory_lock(" ROUND_LOCK ")", 0, NULL);
	bool mine = db_ok(lock, "trip_waitlist_lock") && strcmp(PQgetvalue(lock, 0, 0), "t") == 0;
	PQclear(lock);
	if (mine) {
		expire_entries(app, conn);
		char batch[16], most[16], period[16];
		snprintf(batch, sizeof(batch), "%d", app->cfg.trip_waitlist_batch);
		snprintf(most, sizeof(most), "%d", app->cfg.trip_waitlist_backoff_max_ms);
		snprintf(period, sizeof(period), "%d", app->cfg.trip_waitlist_retry_ms);
		const char *params[] = { batch, most, period };
		PGresult *queue = db_exec(conn, queue_sql, 3, params);
		if (!db_ok(queue, "trip_waitlist_queue"))
			log_warn("event=trip_waitlist_db_failed step=queue");
		for (int i = 0; PQresultStatus(queue) == PGRES_TUPLES_OK && i < PQntuples(queue); i++) {
			struct entry e = { PQgetvalue(queue, i, 0), PQgetvalue(queue, i, 1), PQgetvalue(queue, i, 2),
					   atoi(PQgetvalue(queue, i, 3)) };
			if (strcmp(PQgetvalue(queue, i, 4), "t") == 0)
				pass_over(conn, e.id);
			else
				serve_entry(app, conn, &e);
		}
		PQclear(queue);
		PGresult *unlock = db_exec(conn, "SELECT pg_advisory_unlock(" ROUND_LOCK ")", 0, NULL);
		PQclear(unlock);
	}
	db_release(app->db, conn);
}

static void serve_job(void *arg)
{
	serve_round(arg);
}

bool trip_waitlist_start(struct app *app)
{
	app->trip_waitlist_ticker = ticker_start("trip_waitlist", app->cfg.trip_waitlist_retry_ms, serve_job, app);
	return app->trip_waitlist_ticker != NULL;
}

void trip_waitlist_stop(struct app *app)
{
	ticker_stop(app->trip_waitlist_ticker);
	app->trip_waitlist_ticker = NULL;
}
