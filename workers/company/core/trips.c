#include "trips.h"
#include "app.h"
#include "bounds.h"
#include "coredb.h"
#include "federation.h"
#include "http.h"
#include "jsonx.h"
#include "log.h"
#include "peer_client.h"
#include "policy.h"
#include "ratelimit.h"
#include "secret.h"
#include "timeutil.h"
#include "trip_legs.h"
#include "twopc.h"
#include "validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_LEGS 8
#define FORWARD_TIMEOUT_MS 20000L /* a forwarded cancel runs a whole 2PC at the coordinator */
#define RUNNING_POLL_MS 100L      /* a retry waiting on its key's first request looks again this often */

/* Adds company to the participants (a JSON array of ids) once. */
static void add_participant(json_t *participants, const char *company)
{
	size_t k;
	json_t *p;
	json_array_foreach(participants, k, p)
		if (strcmp(json_string_value(p), company) == 0)
			return;
	json_array_append_new(participants, json_string(company));
}

enum evc_err trips_read_legs(const struct config *cfg, json_t *input, int64_t now, json_t *legs, json_t *participants,
			     struct core_result *r)
{
	json_t *in = json_object_get(input, "legs");
	if (!json_is_array(in) || json_array_size(in) < 1 || json_array_size(in) > MAX_LEGS)
		return core_fail(r, EVC_ERR_INVALID, "invalid_field", "field 'legs' must be an array of 1 to %d legs", MAX_LEGS);
	/* The car's connector (a leg may name its own): each leg then books only chargers of that type. */
	json_t *car_connector = json_object_get(input, "connector");
	int64_t previous_end = 0;
	size_t i;
	json_t *leg;
	json_array_foreach(in, i, leg) {
		struct jsonx_error err;
		const char *station, *start_text, *end_text, *problem;
		int64_t start, end;
		char owner[VALIDATE_COMPANY_MAX + 1];
		if (!json_is_object(leg))
			return core_fail(r, EVC_ERR_INVALID, "invalid_field", "leg %zu must be an object", i + 1);
		if (!jsonx_string(leg, "station_id", true, VALIDATE_STATION_MAX, &station, &err) ||
		    !jsonx_string(leg, "start", true, 64, &start_text, &err) || !jsonx_string(leg, "end", true, 64, &end_text, &err))
			return core_fail(r, EVC_ERR_INVALID, err.code, "leg %zu: %s", i + 1, err.message);
		if (!validate_station_company(station, owner, sizeof(owner)))
			return core_fail(r, EVC_ERR_INVALID, "invalid_field", "leg %zu: malformed station id", i + 1);
		if (!timeutil_parse_rfc3339(start_text, &start) || !timeutil_parse_rfc3339(end_text, &end))
			return core_fail(r, EVC_ERR_INVALID, "invalid_field", "leg %zu: start and end must be RFC 3339 times", i + 1);
		if ((problem = bounds_window(cfg, start, end, now)) != NULL)
			return core_fail(r, EVC_ERR_INVALID, "invalid_window", "leg %zu: %s", i + 1, problem);
		if (start < previous_end)
			return core_fail(r, EVC_ERR_INVALID, "invalid_window", "leg %zu starts before leg %zu ends: legs go in time order",
					 i + 1, i);
		previous_end = end;
		char s[TIMEUTIL_RFC3339_LEN], e[TIMEUTIL_RFC3339_LEN];
		timeutil_format_rfc3339(start, s);
		timeutil_format_rfc3339(end, e);
		json_t *connector = json_object_get(leg, "connector") ?: car_connector;
		if (connector != NULL && !validate_connector(json_string_value(connector) ?: ""))
			return core_fail(r, EVC_ERR_INVALID, "invalid_field", "leg %zu: 'connector' must be " VALIDATE_CONNECTORS,
					 i + 1);
		json_array_append_new(legs, json_pack("{s:s, s:s, s:s, s:s, s:s, s:n, s:n}", "station_id", station, "company", owner,
						      "start", s, "end", e, "state", "pending", "reservation_id", "charger"));
		if (connector != NULL)
			json_object_set(json_array_get(legs, json_array_size(legs) - 1), "connector", connector);
		add_participant(participants, owner);
	}
	return EVC_OK;
}

/* Every leg's company is this one or a peer of the federation; EVC_OK or the 400 in r. */
static enum evc_err known_companies(struct app *app, json_t *legs, struct core_result *r)
{
	char url[256], token[FEDERATION_TOKEN_MAX];
	size_t i;
	json_t *leg;
	json_array_foreach(legs, i, leg) {
		const char *owner = json_string_value(json_object_get(leg, "company"));
		if (strcmp(owner, app->cfg.company_id) != 0 && !federation_peer(owner, url, sizeof(url), token, sizeof(token)))
			return core_fail(r, EVC_ERR_INVALID, "unknown_company", "leg %zu: no company '%s' in the federation", i + 1, owner);
	}
	return EVC_OK;
}

/* What a retry of a key found: its answer in r, its first attempt still running, or a trip elsewhere. */
enum replay_kind { REPLAY_ANSWERED, REPLAY_RUNNING, REPLAY_ELSEWHERE };

/* The trip a key names at another coordinator (an attempt here met it at a participant). */
struct elsewhere {
	char trip_id[37];
	char coordinator[VALIDATE_COMPANY_MAX + 1];
};

/* Answers a retry of a key with the first request's outcome. */
static enum replay_kind replay(PGconn *conn, const char *car, const char *key, const char *request_text,
			       const char *request_id, struct elsewhere *dup, struct core_result *r)
{
	static const char sql[] =
		"SELECT request = $2::jsonb, response_status, response_body, status, trip_json(t), duplicate_of,"
		" duplicate_coordinator FROM trips t WHERE idempotency_key = $1 AND car_id = $3";
	const char *params[] = { key, request_text, car };
	PGresult *res = db_exec(conn, sql, 3, params);
	enum replay_kind kind = REPLAY_ANSWERED;
	if (!db_ok(res, "trip_replay") || PQntuples(res) == 0) {
		coredb_error(r, conn, res, request_id);
		PQclear(res);
		return kind;
	}
	const char *status = PQgetvalue(res, 0, 3);
	json_t *trip = json_loads(PQgetvalue(res, 0, 4), 0, NULL);
	if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
		json_decref(trip);
		core_fail(r, EVC_ERR_UNPROCESSABLE, "idempotency_key_reused", "this Idempotency-Key was used for another request");
	} else if (!PQgetisnull(res, 0, 5)) {
		json_decref(trip);
		snprintf(dup->trip_id, sizeof(dup->trip_id), "%s", PQgetvalue(res, 0, 5));
		snprintf(dup->coordinator, sizeof(dup->coordinator), "%s", PQgetvalue(res, 0, 6));
		kind = REPLAY_ELSEWHERE;
	} else if (!PQgetisnull(res, 0, 1)) {
		json_decref(trip);
		core_relay(r, atol(PQgetvalue(res, 0, 1)), json_loads(PQgetvalue(res, 0, 2), 0, NULL));
	} else if (strcmp(status, "confirmed") == 0 || strcmp(status, "committing") == 0) {
		core_ok(r, trip);
		r->created = true;
	} else if (strcmp(status, "aborted") == 0 || strcmp(status, "aborting") == 0) {
		core_fail_extra(r, EVC_ERR_CONFLICT, "aborted", trip, "the trip was aborted; nothing is held");
	} else {
		r->retry_after = 1;
		core_fail_extra(r, EVC_ERR_CONFLICT, "in_progress", trip,
				"the first request with this key is still running; ask GET /trips/{id}");
		kind = REPLAY_RUNNING;
	}
	r->replayed = true;
	PQclear(res);
	return kind;
}

/* Keeps the final answer for a retry with the same key (never a transient one). */
static void remember_answer(struct app *app, const char *trip_id, const struct core_result *r)
{
	if (evc_err_is_transient(r->err))
		return;
	PGconn *conn = db_acquire(app->db, APP_DB_WAIT_MS);
	if (conn == NULL) {
		log_warn("event=trip_answer_not_stored trip=%s reason=db_unavailable", trip_id);
		return;
	}
	char status_text[8];
	snprintf(status_text, sizeof(status_text), "%d", core_result_status(r));
	char *reply_text = json_dumps(r->body, JSON_COMPACT);
	const char *params[] = { trip_id, status_text, reply_text };
	PGresult *res = db_exec(conn, "UPDATE trips SET response_status = $2::int, response_body = $3::jsonb WHERE id = $1::uuid",
				3, params);
	PQclear(res);
	free(reply_text);
	db_release(app->db, conn);
}

/*
 * Calls a peer for actor: a car's request goes with the peer token and the car
 * it is for (the peer trusts our word for the cars we authenticated, as it
 * trusts our prepares); anyone else's as this company.
 */
static void call_peer_as(const struct actor *actor, const char *peer, const char *method, const char *path, long timeout,
			 const char *request_id, struct peer_response *out)
{
	char behalf[VALIDATE_CAR_MAX + 40];
	snprintf(behalf, sizeof(behalf), HTTP_ON_BEHALF_HEADER ": car:%s", actor->id);
	federation_call(peer, method, path, NULL, timeout, request_id, actor->kind == ACTOR_CAR ? behalf : NULL, out);
}

/* Where a request stands once its row is written or its key found. */
enum trip_start { START_FRESH, START_ANSWERED, START_RUNNING, START_ELSEWHERE };

/* SQLSTATE trip_open raises past the car's live-trip limit (021_trip_path.sql). */
#define CAR_LIMIT_SQLSTATE "EV001"

/*
 * Writes the trip's row under the car's lock, counted against EVC_CAR_MAX_TRIPS,
 * in one statement (trip_open), or finds what its key names. params: id, car,
 * key, request, legs, participants, instance, gid.
 */
static enum trip_start open_trip(struct app *app, const char *const params[8], struct elsewhere *dup,
				 const char *request_id, struct core_result *r)
{
	static const char sql[] = "SELECT trip_open($1::uuid, $2, $3, $4::jsonb, $5::jsonb, $6::json, $7, $8, $9::int)";
	const char *car = params[1], *key = params[2], *request_text = params[3];
	char max[16];
	snprintf(max, sizeof(max), "%d", app->cfg.car_max_trips);
	const char *all[] = { params[0], params[1], params[2], params[3], params[4], params[5], params[6], params[7], max };
	enum trip_start start = START_ANSWERED;
	PGconn *conn = db_acquire(app->db, APP_DB_WAIT_MS);
	if (conn == NULL) {
		coredb_unavailable(r, request_id);
		return start;
	}
	PGresult *res = db_exec(conn, sql, 9, all);
	bool ok = db_ok(res, "trip_open");
	if (db_sqlstate_is(res, CAR_LIMIT_SQLSTATE))
		core_fail(r, EVC_ERR_CONFLICT, "car_limit_reached",
			  "car '%s' already has %d live trips coordinated here, the most a car may (EVC_CAR_MAX_TRIPS)", car,
			  app->cfg.car_max_trips);
	else if (!ok)
		coredb_error(r, conn, res, request_id);
	else if (strcmp(PQgetvalue(res, 0, 0), "fresh") == 0)
		start = START_FRESH;
	if (ok && start != START_FRESH) {
		/* The key's row was committed before our lock was granted: what it names. */
		enum replay_kind kind = replay(conn, car, key, request_text, request_id, dup, r);
		if (kind == REPLAY_RUNNING)
			start = START_RUNNING;
		else if (kind == REPLAY_ELSEWHERE && r->err == EVC_OK)
			start = START_ELSEWHERE;
	}
	PQclear(res);
	db_release(app->db, conn);
	return start;
}

/* True when two trips' legs are the same stations and windows, in the same order. */
static bool same_legs(json_t *mine, json_t *theirs)
{
	static const char *const fields[] = { "station_id", "start", "end" };
	if (!json_is_array(theirs) || json_array_size(mine) != json_array_size(theirs))
		return false;
	for (size_t i = 0; i < json_array_size(mine); i++)
		for (size_t f = 0; f < 3; f++) {
			const char *a = json_string_value(json_object_get(json_array_get(mine, i), fields[f]));
			const char *b = json_string_value(json_object_get(json_array_get(theirs, i), fields[f]));
			if (a == NULL || b == NULL || strcmp(a, b) != 0)
				return false;
		}
	return true;
}

/* Asks one peer whether it coordinates trip_id: 1 yes (answer in r), 0 no, -1 it did not answer. */
static int ask_coordinator(struct app *app, const struct actor *actor, const char *company, const char *path,
			   const char *request_id, struct core_result *r)
{
	struct peer_response pr;
	call_peer_as(actor, company, "GET", path, app->cfg.peer_timeout_ms, request_id, &pr);
	int verdict = pr.status == 0 || pr.status >= 500 ? -1 : 0;
	if (pr.status == 200 && pr.body != NULL) {
		verdict = 1;
		json_object_set_new(pr.body, "coordinator", json_string(company));
		core_ok(r, json_incref(pr.body));
	}
	peer_response_clear(&pr);
	return verdict;
}

/*
 * Answers with the trip the car's key names at another coordinator, as a
 * retry there would: 201 with the trip (and `coordinator`), 409 if it was
 * aborted, 422 if that trip's legs are not this request's.
 */
static void answer_elsewhere(struct app *app, const struct actor *actor, json_t *legs, const struct elsewhere *dup,
			     const char *request_id, struct core_result *r)
{
	char path[128];
	snprintf(path, sizeof(path), HTTP_API_PREFIX "/trips/%s?local=1", dup->trip_id);
	struct core_result found = CORE_RESULT_INIT;
	int verdict = ask_coordinator(app, actor, dup->coordinator, path, request_id, &found);
	json_t *trip = verdict == 1 ? found.body : NULL; /* with `coordinator` set */
	const char *status = json_string_value(json_object_get(trip, "status"));
	if (trip == NULL || status == NULL) {
		log_warn("event=trip_key_elsewhere_unread req=%s trip=%s coordinator=%s answered=%s", request_id,
			 dup->trip_id, dup->coordinator, verdict < 0 ? "no" : "without_the_trip");
		r->retry_after = TWOPC_RETRY_AFTER_SECONDS;
		core_fail(r, EVC_ERR_UNAVAILABLE, "peer_unavailable",
			  "this Idempotency-Key names trip %s, kept by company '%s', which could not show it; retry later",
			  dup->trip_id, dup->coordinator);
	} else if (!same_legs(legs, json_object_get(trip, "legs"))) {
		core_fail(r, EVC_ERR_UNPROCESSABLE, "idempotency_key_reused",
			  "this Idempotency-Key was used for another request (trip %s at company '%s')", dup->trip_id,
			  dup->coordinator);
	} else {
		if (strcmp(status, "aborted") == 0 || strcmp(status, "aborting") == 0) {
			core_fail_extra(r, EVC_ERR_CONFLICT, "aborted", json_incref(trip), "the trip was aborted; nothing is held");
		} else {
			core_ok(r, json_incref(trip));
			r->created = true;
			snprintf(r->location, sizeof(r->location), "/trips/%s", dup->trip_id);
		}
		r->replayed = true;
		log_info("event=trip_key_elsewhere req=%s trip=%s coordinator=%s status=%s", request_id, dup->trip_id,
			 dup->coordinator, status);
	}
	core_result_clear(&found);
}

/*
 * A participant told us the car's key names another coordinator's trip: this
 * attempt (aborted, nothing held) records it, so a retry here asks that trip
 * again. True with dup filled.
 */
static bool note_elsewhere(struct app *app, const char *trip_id, json_t *reply, struct elsewhere *dup,
			   const char *request_id)
{
	const char *other = json_string_value(json_object_get(reply, "key_trip_id"));
	const char *coordinator = json_string_value(json_object_get(reply, "key_coordinator"));
	if (other == NULL || coordinator == NULL || !validate_uuid(other) || !validate_company_id(coordinator))
		return false;
	snprintf(dup->trip_id, sizeof(dup->trip_id), "%s", other);
	snprintf(dup->coordinator, sizeof(dup->coordinator), "%s", coordinator);
	PGconn *conn = db_acquire(app->db, APP_DB_WAIT_MS);
	PGresult *res = NULL;
	const char *params[] = { trip_id, other, coordinator };
	if (conn != NULL)
		res = db_exec(conn, "UPDATE trips SET duplicate_of = $2::uuid, duplicate_coordinator = $3 WHERE id = $1::uuid",
			      3, params);
	if (conn == NULL || !db_ok(res, "trip_duplicate"))
		log_warn("event=trip_duplicate_not_noted req=%s trip=%s key_trip=%s coordinator=%s", request_id, trip_id,
			 other, coordinator);
	PQclear(res);
	if (conn != NULL)
		db_release(app->db, conn);
	return true;
}

/* Runs the 2PC of a fresh trip; true when its key turned out to name a trip elsewhere (dup filled). */
static bool drive_new_trip(struct app *app, const char *trip_id, const char *gid, const struct twopc_trip *t,
			   struct elsewhere *dup, const char *request_id, struct core_result *r)
{
	json_t *reply = NULL;
	bool kept = false;
	int status = twopc_run_new(app, trip_id, gid, t, request_id, &reply, &kept);
	const char *code = json_string_value(json_object_get(json_object_get(reply, "error"), "code"));
	if (status == 409 && code != NULL && strcmp(code, "duplicate_key") == 0 &&
	    note_elsewhere(app, trip_id, reply, dup, request_id)) {
		json_decref(reply);
		return true;
	}
	core_relay(r, status, reply);
	if (status == 201)
		snprintf(r->location, sizeof(r->location), "/trips/%s", trip_id);
	if (status == 503 || (status == 409 && code != NULL && strcmp(code, "in_progress") == 0))
		r->retry_after = TWOPC_RETRY_AFTER_SECONDS;
	if (!kept && (status != 409 || code == NULL || strcmp(code, "in_progress") != 0))
		remember_answer(app, trip_id, r); /* "another attempt is undecided" is no final answer */
	return false;
}

static void pause_ms(long ms)
{
	struct timespec pause = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&pause, NULL);
}

static enum evc_err run_new_trip(struct app *app, const struct actor *actor, const char *car, const char *key,
				 json_t *input, json_t *legs, json_t *participants, const char *request_id,
				 struct core_result *r)
{
	char trip_id[37], gid[TWOPC_GID_MAX];
	if (!secret_uuid(trip_id) || !twopc_gid_make(app->cfg.company_id, trip_id, "reserve", gid))
		return core_fail(r, EVC_ERR_UNAVAILABLE, "unavailable", "no randomness for ids");
	/* Ours from before the row exists: recovery never takes a trip a request of this process drives. */
	if (!twopc_flight_begin(app, gid)) {
		r->retry_after = TWOPC_RETRY_AFTER_SECONDS;
		return core_fail(r, EVC_ERR_UNAVAILABLE, "unavailable", "too many trips in flight here; retry later");
	}
	json_t *request = json_deep_copy(input);
	json_object_set_new(request, "car_id", json_string(car));
	char *request_text = json_dumps(request, JSON_COMPACT | JSON_SORT_KEYS);
	char *legs_text = json_dumps(legs, JSON_COMPACT), *participants_text = json_dumps(participants, JSON_COMPACT);
	json_decref(request);
	/* A key is the car's own (unique per car): another car's request can never replay it. */
	const char *params[] = { trip_id, car, key, request_text, legs_text, participants_text, app->instance, gid };
	struct elsewhere dup = { "", "" };
	enum trip_start start = open_trip(app, params, &dup, request_id, r);
	/* A retry while the key's first request runs here waits for its outcome, a bounded while. */
	for (long waited = 0; start == START_RUNNING && waited < 2L * app->cfg.peer_timeout_ms; waited += RUNNING_POLL_MS) {
		pause_ms(RUNNING_POLL_MS);
		core_result_clear(r);
		*r = (struct core_result)CORE_RESULT_INIT;
		start = open_trip(app, params, &dup, request_id, r);
	}
	if (start == START_FRESH) {
		log_info("event=trip_requested req=%s trip=%s car=%s legs=%zu participants=%s", request_id, trip_id, car,
			 json_array_size(legs), participants_text);
		const struct twopc_trip known = { car, key, legs, participants };
		if (drive_new_trip(app, trip_id, gid, &known, &dup, request_id, r))
			start = START_ELSEWHERE;
	}
	if (start == START_ELSEWHERE)
		answer_elsewhere(app, actor, legs, &dup, request_id, r);
	twopc_flight_end(app, gid);
	free(request_text);
	free(legs_text);
	free(participants_text);
	return r->err;
}

enum evc_err trips_create(struct app *app, const struct actor *actor, json_t *input, const char *key,
			  const char *request_id, struct core_result *r)
{
	struct jsonx_error err;
	const char *car_id = NULL, *car;
	if (policy_check(actor, POLICY_TRIP_CREATE, NULL, request_id, r) != EVC_OK)
		return r->err;
	if (key == NULL || !validate_idempotency_key(key))
		return core_fail(r, EVC_ERR_INVALID, "missing_idempotency_key",
				 "an Idempotency-Key (1 to %d of [A-Za-z0-9-_.:]) is required, so a retry never books twice",
				 VALIDATE_KEY_MAX);
	if (!jsonx_string(input, "car_id", false, VALIDATE_CAR_MAX, &car_id, &err))
		return core_fail(r, EVC_ERR_INVALID, err.code, "%s", err.message);
	if (policy_booking_car(actor, car_id, &car, request_id, r) != EVC_OK)
		return r->err;
	if (!ratelimit_take(app->trip_limit, car, (double)timeutil_now())) {
		r->retry_after = 1;
		return core_fail(r, EVC_ERR_RATE_LIMITED, "too_many_requests",
				 "car '%s' asks for trips faster than %d per second; retry later", car,
				 app->cfg.trip_rate_per_second);
	}
	json_t *legs = json_array(), *participants = json_array();
	if (trips_read_legs(&app->cfg, input, timeutil_now(), legs, participants, r) == EVC_OK &&
	    known_companies(app, legs, r) == EVC_OK)
		run_new_trip(app, actor, car, key, input, legs, participants, request_id, r);
	json_decref(legs);
	json_decref(participants);
	return r->err;
}

/* The trip kept here: EVC_OK with its JSON, NOT_FOUND when not coordinated here. Checks the owner. */
static enum evc_err local_trip(struct app *app, const struct actor *actor, enum policy_action action,
			       const char *trip_id, bool *here, const char *request_id, struct core_result *r)
{
	static const char sql[] = "SELECT car_id, trip_json(t) FROM trips t WHERE t.id = $1::uuid";
	PGconn *conn = db_acquire(app->db, APP_DB_WAIT_MS);
	if (conn == NULL)
		return coredb_unavailable(r, request_id);
	const char *params[] = { trip_id };
	PGresult *res = db_exec(conn, sql, 1, params);
	*here = db_ok(res, "trip_get") && PQntuples(res) == 1;
	if (!db_ok(res, "trip_get"))
		coredb_error(r, conn, res, request_id);
	else if (PQntuples(res) == 0)
		core_fail(r, EVC_ERR_NOT_FOUND, "not_found", "no such trip coordinated here");
	else if (policy_check(actor, action, PQgetvalue(res, 0, 0), request_id, r) == EVC_OK)
		core_ok_text(r, PQgetvalue(res, 0, 1));
	PQclear(res);
	db_release(app->db, conn);
	return r->err;
}

/*
 * Finds the peer that coordinates trip_id: EVC_OK and its id in peer. Every
 * known peer is asked, not only those the last heartbeat saw (a trip must not
 * vanish because one ping was late); a peer that does not answer is asked once
 * more. "No such trip" is said only when every peer answered no; otherwise the
 * truth is that we could not tell (503).
 */
static enum evc_err find_coordinator(struct app *app, const struct actor *actor, const char *trip_id,
				     const char *request_id, char peer[VALIDATE_COMPANY_MAX + 1], struct core_result *r)
{
	char path[128];
	snprintf(path, sizeof(path), HTTP_API_PREFIX "/trips/%s?local=1", trip_id);
	json_t *peers = federation_peers_json();
	int silent = 0;
	size_t i;
	json_t *p;
	json_array_foreach(peers, i, p) {
		const char *company = json_string_value(json_object_get(p, "company"));
		int verdict = -1;
		for (int attempt = 0; attempt < 2 && verdict < 0 && company != NULL; attempt++)
			verdict = ask_coordinator(app, actor, company, path, request_id, r);
		if (verdict == 1) {
			snprintf(peer, VALIDATE_COMPANY_MAX + 1, "%s", company);
			json_decref(peers);
			return EVC_OK;
		}
		if (verdict < 0) {
			silent++;
			log_warn("event=trip_lookup_peer_silent req=%s trip=%s peer=%s", request_id, trip_id,
				 company ? company : "?");
		}
	}
	json_decref(peers);
	if (silent > 0)
		return core_fail(r, EVC_ERR_UNAVAILABLE, "peer_unavailable",
				 "the trip is not here and a server that may coordinate it did not answer");
	return core_fail(r, EVC_ERR_NOT_FOUND, "not_found", "no such trip at any server of the federation");
}

enum evc_err trips_get(struct app *app, const struct actor *actor, const char *trip_id, bool local_only,
		       const char *request_id, struct core_result *r)
{
	char peer[VALIDATE_COMPANY_MAX + 1];
	bool here = false;
	if (policy_check(actor, POLICY_TRIP_READ, NULL, request_id, r) != EVC_OK)
		return r->err;
	if (!validate_uuid(trip_id))
		return core_fail(r, EVC_ERR_NOT_FOUND, "not_found", "no such trip");
	/*
	 * Only a car's question goes on to the peers, as the car (a forwarded one
	 * never does: no loops). An operator sees the trips this company keeps.
	 */
	if (local_trip(app, actor, POLICY_TRIP_READ, trip_id, &here, request_id, r) != EVC_ERR_NOT_FOUND || here ||
	    local_only || actor->kind != ACTOR_CAR || actor->via[0] != '\0') {
		if (here)
			trip_legs_refresh(app, trip_id, r, request_id); /* legs held elsewhere, as they are now */
		return r->err;
	}
	return find_coordinator(app, actor, trip_id, request_id, peer, r);
}

/* Cancel or finish at the live peer that coordinates the trip, as the car. */
static enum evc_err forward_change(struct app *app, const struct actor *actor, const char *trip_id, const char *op,
				   const char *request_id, struct core_result *r)
{
	char peer[VALIDATE_COMPANY_MAX + 1], path[128];
	if (actor->kind != ACTOR_CAR || actor->via[0] != '\0')
		return core_fail(r, EVC_ERR_NOT_FOUND, "not_found", "no such trip coordinated here");
	if (find_coordinator(app, actor, trip_id, request_id, peer, r) != EVC_OK)
		return r->err;
	core_result_clear(r);
	snprintf(path, sizeof(path), HTTP_API_PREFIX "/trips/%s/%s", trip_id, op);
	struct peer_response pr;
	call_peer_as(actor, peer, "POST", path, FORWARD_TIMEOUT_MS, request_id, &pr);
	if (pr.status == 0)
		log_warn("event=trip_forward_failed req=%s trip=%s op=%s coordinator=%s", request_id, trip_id, op, peer);
	else
		log_info("event=trip_forwarded req=%s trip=%s op=%s coordinator=%s status=%ld", request_id, trip_id, op, peer,
			 pr.status);
	core_relay(r, pr.status, json_incref(pr.body));
	peer_response_clear(&pr);
	return r->err;
}

/* Claims a confirmed trip for op; EVC_OK when claimed, or the answer (done already, conflict) in r. */
static enum evc_err claim_trip(struct app *app, const char *trip_id, const char *op, const char *gid, bool *claimed,
			       const char *request_id, struct core_result *r)
{
	/* The claim moves the trip to this process: a restarted process drives the changes it accepts. */
	static const char claim_sql[] = "UPDATE trips SET status = $3, gid = $2, instance = $4, updated_at = now()"
					" WHERE id = $1::uuid AND status = 'confirmed' RETURNING id";
	static const char state_sql[] = "SELECT status, trip_json(t) FROM trips t WHERE id = $1::uuid";
	bool cancel = strcmp(op, "cancel") == 0;
	const char *params[] = { trip_id, gid, cancel ? "cancelling" : "finishing", app->instance };
	*claimed = false;
	PGconn *conn = db_acquire(app->db, APP_DB_WAIT_MS);
	if (conn == NULL)
		return coredb_unavailable(r, request_id);
	PGresult *res = db_exec(conn, claim_sql, 4, params);
	*claimed = db_ok(res, "trip_claim") && PQntuples(res) == 1;
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		coredb_error(r, conn, res, request_id);
	PQclear(res);
	if (r->err == EVC_OK && !*claimed) {
		res = db_exec(conn, state_sql, 1, params);
		if (!db_ok(res, "trip_state"))
			coredb_error(r, conn, res, request_id);
		else if (PQntuples(res) == 0)
			core_fail(r, EVC_ERR_NOT_FOUND, "not_found", "no such trip");
		else if (strcmp(PQgetvalue(res, 0, 0), cancel ? "cancelled" : "finished") == 0)
			core_ok_text(r, PQgetvalue(res, 0, 1)); /* already done: idempotent */
		else
			core_fail(r, EVC_ERR_CONFLICT, "conflict", "a %s trip cannot be %s", PQgetvalue(res, 0, 0),
				  cancel ? "cancelled" : "finished");
		PQclear(res);
	}
	db_release(app->db, conn);
	return r->err;
}

enum evc_err trips_change(struct app *app, const struct actor *actor, const char *trip_id, const char *op,
			  const char *request_id, struct core_result *r)
{
	enum policy_action action = strcmp(op, "cancel") == 0 ? POLICY_TRIP_CANCEL : POLICY_TRIP_FINISH;
	char gid[TWOPC_GID_MAX];
	bool claimed = false, here = false;
	if (policy_check(actor, action, NULL, request_id, r) != EVC_OK)
		return r->err;
	if (!validate_uuid(trip_id) || !twopc_gid_make(app->cfg.company_id, trip_id, op, gid))
		return core_fail(r, EVC_ERR_NOT_FOUND, "not_found", "no such trip");
	enum evc_err found = local_trip(app, actor, action, trip_id, &here, request_id, r);
	if (found == EVC_ERR_NOT_FOUND && !here)
		return forward_change(app, actor, trip_id, op, request_id, r);
	if (found != EVC_OK)
		return r->err;
	if (!twopc_flight_begin(app, gid)) {
		r->retry_after = TWOPC_RETRY_AFTER_SECONDS;
		return core_fail(r, EVC_ERR_UNAVAILABLE, "unavailable", "too many trips in flight here; retry later");
	}
	if (claim_trip(app, trip_id, op, gid, &claimed, request_id, r) == EVC_OK && claimed) {
		char who[ACTOR_DESCRIBE_MAX];
		log_info("event=trip_change req=%s trip=%s op=%s actor=%s", request_id, trip_id, op, actor_describe(actor, who));
		json_t *reply = NULL;
		int status = twopc_run(app, trip_id, gid, request_id, &reply);
		core_relay(r, status, reply);
		if (status == 503)
			r->retry_after = TWOPC_RETRY_AFTER_SECONDS;
	}
	twopc_flight_end(app, gid);
	return r->err;
}
