/*
 * /trips: a car's whole journey, one charging window per leg at stations of any
 * companies, booked atomically by two-phase commit (twopc.c). This company is
 * the coordinator of the trips asked of it.
 */
#include "api.h"
#include "app.h"
#include "federation.h"
#include "log.h"
#include "peer_client.h"
#include "ratelimit.h"
#include "timeutil.h"
#include "twopc.h"
#include "validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define MAX_LEGS 8
#define MAX_KEY 100

/* A random version 4 UUID. */
static bool new_uuid(char out[37])
{
	unsigned char b[16];
	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
		return false;
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3],
		 b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
	return true;
}

/*
 * Validates the legs and returns them normalized (station_id, company, start,
 * end in UTC, state) in *legs and the companies in prepare order in
 * *participants. 0, or the 400 status sent.
 */
static int read_legs(struct http_request *req, json_t *body, json_t **legs, json_t **participants)
{
	json_t *in = json_object_get(body, "legs");
	if (!json_is_array(in) || json_array_size(in) < 1 || json_array_size(in) > MAX_LEGS)
		return http_reply_error(req, 400, "invalid_field", "field 'legs' must be an array of 1 to %d legs", MAX_LEGS);

	*legs = json_array();
	*participants = json_array();
	int64_t previous_end = 0;
	size_t i;
	json_t *leg;
	json_array_foreach(in, i, leg) {
		struct jsonx_error err;
		const char *station, *start_text, *end_text;
		int64_t start, end, now = timeutil_now();
		char owner[VALIDATE_COMPANY_MAX + 1], url[256], token[FEDERATION_TOKEN_MAX];
		if (!json_is_object(leg))
			return http_reply_error(req, 400, "invalid_field", "leg %zu must be an object", i + 1);
		if (!jsonx_string(leg, "station_id", true, VALIDATE_STATION_MAX, &station, &err) ||
		    !jsonx_string(leg, "start", true, 64, &start_text, &err) ||
		    !jsonx_string(leg, "end", true, 64, &end_text, &err))
			return http_reply_error(req, 400, err.code, "leg %zu: %s", i + 1, err.message);
		if (!validate_station_company(station, owner, sizeof(owner)))
			return http_reply_error(req, 400, "invalid_field", "leg %zu: malformed station id", i + 1);
		if (!timeutil_parse_rfc3339(start_text, &start) || !timeutil_parse_rfc3339(end_text, &end))
			return http_reply_error(req, 400, "invalid_field", "leg %zu: start and end must be RFC 3339 times", i + 1);
		if (end <= start || end - start > 86400)
			return http_reply_error(req, 400, "invalid_window", "leg %zu: the window must be 1 s to 24 h long", i + 1);
		if (start < now - 300 || start > now + 366 * 86400)
			return http_reply_error(req, 400, "invalid_window", "leg %zu: the window must start between now and a year ahead", i + 1);
		if (start < previous_end)
			return http_reply_error(req, 400, "invalid_window", "leg %zu starts before leg %zu ends: legs go in time order", i + 1, i);
		previous_end = end;
		if (strcmp(owner, req->app->cfg.company_id) != 0 && !federation_peer(owner, url, sizeof(url), token, sizeof(token)))
			return http_reply_error(req, 400, "unknown_company", "leg %zu: no company '%s' in the federation", i + 1, owner);

		char s[TIMEUTIL_RFC3339_LEN], e[TIMEUTIL_RFC3339_LEN];
		timeutil_format_rfc3339(start, s);
		timeutil_format_rfc3339(end, e);
		json_array_append_new(*legs, json_pack("{s:s, s:s, s:s, s:s, s:s, s:n, s:n}", "station_id", station, "company", owner,
						       "start", s, "end", e, "state", "pending", "reservation_id", "charger"));
		bool known = false;
		size_t k;
		json_t *p;
		json_array_foreach(*participants, k, p)
			known = known || strcmp(json_string_value(p), owner) == 0;
		if (!known)
			json_array_append_new(*participants, json_string(owner));
	}
	return 0;
}

/* Answers a retry of an Idempotency-Key with the first request's outcome. */
static int replay(struct http_request *req, PGconn *conn, const char *key, json_t *body)
{
	static const char sql[] =
		"SELECT request = $2::jsonb, response_status, response_body, status, trip_json(t) FROM trips t"
		" WHERE idempotency_key = $1";
	char *request_text = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
	const char *params[] = { key, request_text };
	PGresult *res = db_exec(conn, sql, 2, params);
	free(request_text);
	int status;
	if (!db_ok(res, "trip_replay") || PQntuples(res) == 0)
		status = api_reply_db_error(req, conn, res);
	else if (strcmp(PQgetvalue(res, 0, 0), "t") != 0)
		status = http_reply_error(req, 422, "idempotency_key_reused", "this Idempotency-Key was used for another request");
	else if (!PQgetisnull(res, 0, 1))
		status = http_reply_text(req, atoi(PQgetvalue(res, 0, 1)), PQgetvalue(res, 0, 2), "Idempotent-Replayed: true\r\n");
	else if (strcmp(PQgetvalue(res, 0, 3), "confirmed") == 0 || strcmp(PQgetvalue(res, 0, 3), "committing") == 0)
		status = http_reply_text(req, 201, PQgetvalue(res, 0, 4), "Idempotent-Replayed: true\r\n");
	else if (strcmp(PQgetvalue(res, 0, 3), "aborted") == 0 || strcmp(PQgetvalue(res, 0, 3), "aborting") == 0)
		status = http_reply_error_extra(req, 409, "aborted", json_loads(PQgetvalue(res, 0, 4), 0, NULL) ?: json_object(),
						"the trip was aborted; nothing is held");
	else
		status = http_reply_error_extra(req, 409, "in_progress", json_loads(PQgetvalue(res, 0, 4), 0, NULL) ?: json_object(),
						"the first request with this key is still running; ask GET /trips/{id}");
	PQclear(res);
	return status;
}

int api_trips_create(struct http_request *req)
{
	static const char insert_sql[] =
		"INSERT INTO trips (id, car_id, idempotency_key, request, status, legs, participants, instance, gid)"
		" SELECT $1::uuid, $2, $3, $4::jsonb, 'preparing', $5::jsonb,"
		"  ARRAY(SELECT json_array_elements_text($6::json)), $7, $8"
		" ON CONFLICT (idempotency_key) DO NOTHING RETURNING id";
	json_t *body = NULL, *legs = NULL, *participants = NULL, *reply = NULL;
	char *request_text = NULL, *legs_text = NULL, *participants_text = NULL;
	PGconn *conn = NULL;
	struct jsonx_error err;
	const char *car_id;
	char trip_id[37], gid[TWOPC_GID_MAX];
	int status;

	const char *key = mg_get_header(req->conn, "Idempotency-Key");
	if (key == NULL || strlen(key) < 1 || strlen(key) > MAX_KEY || strspn(key, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.:") != strlen(key))
		return http_reply_error(req, 400, "missing_idempotency_key",
					"header Idempotency-Key (1 to %d of [A-Za-z0-9-_.:]) is required, so a retry never books twice", MAX_KEY);
	if ((status = http_read_json_object(req, &body)) != 0)
		return status;
	if (!jsonx_string(body, "car_id", true, VALIDATE_CAR_MAX, &car_id, &err)) {
		status = http_reply_field_error(req, &err);
		goto cleanup;
	}
	if (!validate_car_id(car_id)) {
		status = http_reply_error(req, 400, "invalid_field", "field 'car_id' must be 1 to 64 of [A-Za-z0-9_.:-]");
		goto cleanup;
	}
	if (!ratelimit_take(req->app->trip_limit, car_id, (double)timeutil_now())) {
		status = http_reply_error_headers(req, 429, "too_many_requests", "Retry-After: 1\r\n",
						  "car '%s' asks for trips faster than %d per second; retry later", car_id,
						  req->app->cfg.trip_rate_per_second);
		goto cleanup;
	}
	if ((status = read_legs(req, body, &legs, &participants)) != 0)
		goto cleanup;
	if (!new_uuid(trip_id) || !twopc_gid_make(req->app->cfg.company_id, trip_id, "reserve", gid)) {
		trip_id[0] = '\0';
		status = http_reply_error(req, 503, "unavailable", "no randomness for ids");
		goto cleanup;
	}

	/* Relaxed: a trip row lost in a crash leaves no decision, and presumed abort covers it. */
	if ((conn = db_acquire(req->app->db_relaxed, APP_DB_WAIT_MS)) == NULL) {
		status = http_reply_db_unavailable(req);
		goto cleanup;
	}
	request_text = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
	legs_text = json_dumps(legs, JSON_COMPACT);
	participants_text = json_dumps(participants, JSON_COMPACT);
	const char *params[] = { trip_id, car_id, key, request_text, legs_text, participants_text, req->app->instance, gid };
	PGresult *res = db_exec(conn, insert_sql, 8, params);
	bool fresh = db_ok(res, "trip_insert") && PQntuples(res) == 1;
	bool failed = PQresultStatus(res) != PGRES_TUPLES_OK;
	if (failed)
		status = api_reply_db_error(req, conn, res);
	PQclear(res);
	if (failed)
		goto cleanup;
	if (!fresh) {
		status = replay(req, conn, key, body);
		goto cleanup;
	}
	snprintf(req->trip_id, sizeof(req->trip_id), "%s", trip_id);
	/* The trip and its participants are written before any participant is asked. */
	db_release(req->app->db_relaxed, conn);
	conn = NULL;
	log_info("event=trip_requested req=%s trip=%s car=%s legs=%zu participants=%s", req->request_id, trip_id, car_id,
		 json_array_size(legs), participants_text);

	status = twopc_run(req->app, trip_id, gid, req->request_id, &reply);

	char *reply_text = json_dumps(reply, JSON_COMPACT);
	char status_text[8];
	snprintf(status_text, sizeof(status_text), "%d", status);
	if (status != 503 && (conn = db_acquire(req->app->db_relaxed, APP_DB_WAIT_MS)) != NULL) {
		/* A retry with the same key gets exactly this answer. */
		const char *save_params[] = { trip_id, status_text, reply_text };
		/* Relaxed: without it a retry's answer is derived from the trip's phase. */
		res = db_exec(conn, "UPDATE trips SET response_status = $2::int, response_body = $3::jsonb WHERE id = $1::uuid", 3,
			      save_params);
		PQclear(res);
	}
	free(reply_text);
	char location[128];
	snprintf(location, sizeof(location), "Location: " HTTP_API_PREFIX "/trips/%s\r\n", trip_id);
	status = http_reply_json(req, status, reply, status == 201 ? location : NULL);
	reply = NULL;

cleanup:
	if (conn != NULL)
		db_release(req->app->db_relaxed, conn);
	free(request_text);
	free(legs_text);
	free(participants_text);
	json_decref(reply);
	json_decref(legs);
	json_decref(participants);
	json_decref(body);
	return status;
}

/*
 * A trip is kept by its coordinator; any server answers for it by asking its
 * peers, so a car whose server died can ask another. ?local=1 asks only here.
 */
int api_trips_get(struct http_request *req)
{
	static const char sql[] = "SELECT trip_json(t) FROM trips t WHERE t.id = $1::uuid";
	if (!validate_uuid(req->params[0]))
		return http_reply_error(req, 404, "not_found", "no such trip");
	snprintf(req->trip_id, sizeof(req->trip_id), "%.36s", req->params[0]);
	const char *params[] = { req->params[0] };
	char local[4];
	int rc = http_query(req, "local", local, sizeof(local));
	if (rc > 1)
		return rc;

	PGconn *conn = db_acquire(req->app->db, APP_DB_WAIT_MS);
	if (conn == NULL)
		return http_reply_db_unavailable(req);
	PGresult *res = db_exec(conn, sql, 1, params);
	int status = 0;
	if (!db_ok(res, "trip_get"))
		status = api_reply_db_error(req, conn, res);
	else if (PQntuples(res) == 1)
		status = http_reply_text(req, 200, PQgetvalue(res, 0, 0), NULL);
	PQclear(res);
	db_release(req->app->db, conn);
	if (status != 0 || rc == 1)
		return status != 0 ? status : http_reply_error(req, 404, "not_found", "no such trip coordinated here");

	char path[HTTP_PARAM_MAX + 32];
	snprintf(path, sizeof(path), HTTP_API_PREFIX "/trips/%s?local=1", req->params[0]);
	json_t *servers = federation_servers();
	size_t i;
	json_t *server;
	json_array_foreach(servers, i, server) {
		if (i == 0)
			continue; /* ourselves */
		struct peer_response r;
		peer_call("GET", json_string_value(json_object_get(server, "url")), path, NULL, NULL, 2000, req->request_id, &r);
		if (r.status == 200 && r.body != NULL) {
			json_object_set_new(r.body, "coordinator", json_incref(json_object_get(server, "company")));
			status = http_reply_json(req, 200, json_incref(r.body), NULL);
			peer_response_clear(&r);
			break;
		}
		peer_response_clear(&r);
	}
	json_decref(servers);
	return status != 0 ? status : http_reply_error(req, 404, "not_found", "no such trip at any live server");
}

int api_trips_list(struct http_request *req)
{
	static const char sql[] =
		"SELECT json_build_object('items', coalesce(json_agg(trip_json(t) ORDER BY t.created_at DESC), '[]'::json))"
		" FROM (SELECT * FROM trips WHERE ($1::text IS NULL OR car_id = $1) ORDER BY created_at DESC LIMIT 100) t";
	char car[VALIDATE_CAR_MAX + 1];
	int rc = http_query(req, "car_id", car, sizeof(car));
	if (rc > 1)
		return rc;
	if (rc == 1 && !validate_car_id(car))
		return http_reply_error(req, 400, "invalid_parameter", "query parameter 'car_id' must be a car id");
	const char *params[] = { rc == 1 ? car : NULL };
	return api_reply_query(req, 200, "no trips", sql, 1, params);
}

/* Cancel and finish: a new distributed transaction on a confirmed trip. */
static int change_trip(struct http_request *req, const char *op)
{
	static const char claim_sql[] =
		"UPDATE trips SET status = $3, gid = $2, updated_at = now()"
		" WHERE id = $1::uuid AND status = 'confirmed' RETURNING id";
	static const char state_sql[] = "SELECT status, trip_json(t) FROM trips t WHERE id = $1::uuid";
	const char *busy_status = strcmp(op, "cancel") == 0 ? "cancelling" : "finishing";
	const char *done_status = strcmp(op, "cancel") == 0 ? "cancelled" : "finished";
	char gid[TWOPC_GID_MAX];
	/* Cars cancel and finish over MQTT, where the broker knows who they are; REST is for operators. */
	int auth = http_require_admin(req);
	if (auth != 0)
		return auth;
	if (!validate_uuid(req->params[0]) || !twopc_gid_make(req->app->cfg.company_id, req->params[0], op, gid))
		return http_reply_error(req, 404, "not_found", "no such trip");
	snprintf(req->trip_id, sizeof(req->trip_id), "%.36s", req->params[0]);

	PGconn *conn = db_acquire(req->app->db, APP_DB_WAIT_MS);
	if (conn == NULL)
		return http_reply_db_unavailable(req);
	const char *params[] = { req->params[0], gid, busy_status };
	PGresult *res = db_exec(conn, claim_sql, 3, params);
	bool claimed = db_ok(res, "trip_claim") && PQntuples(res) == 1;
	bool failed = PQresultStatus(res) != PGRES_TUPLES_OK;
	int status = 0;
	if (failed)
		status = api_reply_db_error(req, conn, res);
	PQclear(res);
	if (!failed && !claimed) {
		res = db_exec(conn, state_sql, 1, params);
		if (!db_ok(res, "trip_state"))
			status = api_reply_db_error(req, conn, res);
		else if (PQntuples(res) == 0)
			status = http_reply_error(req, 404, "not_found", "no such trip");
		else if (strcmp(PQgetvalue(res, 0, 0), done_status) == 0)
			status = http_reply_text(req, 200, PQgetvalue(res, 0, 1), NULL); /* already done: idempotent */
		else
			status = http_reply_error(req, 409, "conflict", "a %s trip cannot be %s", PQgetvalue(res, 0, 0),
						  strcmp(op, "cancel") == 0 ? "cancelled" : "finished");
		PQclear(res);
	}
	db_release(req->app->db, conn);
	if (status != 0)
		return status;

	json_t *reply = NULL;
	status = twopc_run(req->app, req->params[0], gid, req->request_id, &reply);
	return http_reply_json(req, status, reply, NULL);
}

int api_trips_cancel(struct http_request *req)
{
	return change_trip(req, "cancel");
}

int api_trips_finish(struct http_request *req)
{
	return change_trip(req, "finish");
}
