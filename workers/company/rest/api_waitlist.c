/*
 * /waitlist: a car that found nothing free queues for a station (or any station
 * of a city) and a window that may move by its flexibility. The consumer in
 * waitlist.c grants in arrival order and tells the car over MQTT.
 */
#include "api.h"
#include "app.h"
#include "log.h"
#include "timeutil.h"
#include "validate.h"
#include "waitlist.h"

#include <stdio.h>
#include <string.h>

#define MAX_FLEXIBILITY_MINUTES (12 * 60)

int api_waitlist_create(struct http_request *req)
{
	static const char sql[] =
		"WITH place AS ("
		"  SELECT coalesce((SELECT city FROM stations WHERE id = $2), $3) AS city),"
		" grp AS (INSERT INTO waitlist_groups (city) SELECT city FROM place WHERE city IS NOT NULL"
		"  ON CONFLICT DO NOTHING)"
		" INSERT INTO waitlist (car_id, station_id, city, want, flexibility, expires_at)"
		" SELECT $1, $2, place.city, tstzrange($4::timestamptz, $5::timestamptz), make_interval(mins => $6::int),"
		"  $7::timestamptz FROM place WHERE place.city IS NOT NULL"
		"  AND ($3::text IS NULL OR EXISTS (SELECT 1 FROM stations WHERE city = $3))"
		" RETURNING id, waitlist_json(waitlist)";
	json_t *body = NULL;
	struct jsonx_error err;
	const char *car, *station = NULL, *city = NULL, *start_text, *end_text, *expires_text;
	long long flex = 0;
	int64_t start, end, expires;
	int status;

	if ((status = http_read_json_object(req, &body)) != 0)
		return status;
	if (!jsonx_string(body, "car_id", true, VALIDATE_CAR_MAX, &car, &err) ||
	    !jsonx_string(body, "station_id", false, VALIDATE_STATION_MAX, &station, &err) ||
	    !jsonx_string(body, "city", false, 100, &city, &err) || !jsonx_string(body, "start", true, 64, &start_text, &err) ||
	    !jsonx_string(body, "end", true, 64, &end_text, &err) ||
	    !jsonx_integer(body, "flexibility_minutes", false, 0, MAX_FLEXIBILITY_MINUTES, &flex, NULL, &err) ||
	    !jsonx_string(body, "expires_at", true, 64, &expires_text, &err)) {
		status = http_reply_field_error(req, &err);
		goto cleanup;
	}
	char owner[VALIDATE_COMPANY_MAX + 1];
	if (!validate_car_id(car))
		status = http_reply_error(req, 400, "invalid_field", "field 'car_id' must be 1 to 64 of [A-Za-z0-9_.:-]");
	else if ((station == NULL) == (city == NULL))
		status = http_reply_error(req, 400, "invalid_field", "give either 'station_id' or 'city'");
	else if (station != NULL && (!validate_station_company(station, owner, sizeof(owner)) ||
				     strcmp(owner, req->app->cfg.company_id) != 0))
		status = http_reply_error(req, 404, "not_found", "no station '%s' here: join the waitlist at its owner", station);
	else if (!timeutil_parse_rfc3339(start_text, &start) || !timeutil_parse_rfc3339(end_text, &end) ||
		 !timeutil_parse_rfc3339(expires_text, &expires))
		status = http_reply_error(req, 400, "invalid_field", "start, end and expires_at must be RFC 3339 times");
	else if (end <= start || end - start > 86400)
		status = http_reply_error(req, 400, "invalid_window", "the window must be 1 s to 24 h long");
	else if (end + flex * 60 <= timeutil_now() || expires <= timeutil_now())
		status = http_reply_error(req, 400, "invalid_window", "the window or the deadline is already past");
	if (status != 0)
		goto cleanup;

	char s[TIMEUTIL_RFC3339_LEN], e[TIMEUTIL_RFC3339_LEN], x[TIMEUTIL_RFC3339_LEN], flex_text[16];
	timeutil_format_rfc3339(start, s);
	timeutil_format_rfc3339(end, e);
	timeutil_format_rfc3339(expires, x);
	snprintf(flex_text, sizeof(flex_text), "%lld", flex);
	const char *params[] = { car, station, city, s, e, flex_text, x };
	PGconn *conn = db_acquire(req->app->db, APP_DB_WAIT_MS);
	if (conn == NULL) {
		status = http_reply_db_unavailable(req);
		goto cleanup;
	}
	PGresult *res = db_exec(conn, sql, 7, params);
	if (!db_ok(res, "waitlist_create")) {
		status = api_reply_db_error(req, conn, res);
	} else if (PQntuples(res) == 0) {
		status = http_reply_error(req, 404, "not_found", station != NULL ? "no such station" : "no station of ours in that city");
	} else {
		char location[128];
		snprintf(location, sizeof(location), "Location: " HTTP_API_PREFIX "/waitlist/%s\r\n", PQgetvalue(res, 0, 0));
		log_info("event=waitlist_joined req=%s waitlist=%s car=%s station=%s city=%s", req->request_id,
			 PQgetvalue(res, 0, 0), car, station ? station : "-", city ? city : "-");
		status = http_reply_text(req, 201, PQgetvalue(res, 0, 1), location);
		waitlist_wake();
	}
	PQclear(res);
	db_release(req->app->db, conn);
cleanup:
	json_decref(body);
	return status;
}

int api_waitlist_get(struct http_request *req)
{
	static const char sql[] = "SELECT waitlist_json(w) FROM waitlist w WHERE w.id = $1::uuid";
	if (!validate_uuid(req->params[0]))
		return http_reply_error(req, 404, "not_found", "no such waitlist request");
	const char *params[] = { req->params[0] };
	return api_reply_query(req, 200, "no such waitlist request", sql, 1, params);
}

int api_waitlist_list(struct http_request *req)
{
	static const char sql[] =
		"SELECT json_build_object('items', coalesce(json_agg(waitlist_json(w) ORDER BY w.seq), '[]'::json))"
		" FROM (SELECT * FROM waitlist WHERE ($1::text IS NULL OR station_id = $1 OR (station_id IS NULL AND city ="
		"   (SELECT city FROM stations WHERE id = $1))) AND ($2::text IS NULL OR status = $2)"
		"   ORDER BY seq DESC LIMIT 500) w";
	char station[VALIDATE_STATION_MAX + 1], wstatus[16];
	int has_station = http_query(req, "station_id", station, sizeof(station));
	if (has_station > 1)
		return has_station;
	int has_status = http_query(req, "status", wstatus, sizeof(wstatus));
	if (has_status > 1)
		return has_status;
	const char *params[] = { has_station ? station : NULL, has_status ? wstatus : NULL };
	return api_reply_query(req, 200, "nothing", sql, 2, params);
}

int api_waitlist_delete(struct http_request *req)
{
	static const char sql[] =
		"WITH gone AS (UPDATE waitlist SET status = 'withdrawn', updated_at = now()"
		"  WHERE id = $1::uuid AND status = 'waiting' RETURNING *)"
		" SELECT waitlist_json(g::waitlist) FROM gone g"
		" UNION ALL SELECT waitlist_json(w) FROM waitlist w WHERE w.id = $1::uuid AND NOT EXISTS (SELECT 1 FROM gone)";
	if (!validate_uuid(req->params[0]))
		return http_reply_error(req, 404, "not_found", "no such waitlist request");
	const char *params[] = { req->params[0] };
	return api_reply_query(req, 200, "no such waitlist request", sql, 1, params);
}
