/*
 * /reservations: single-company bookings of one charging window. The worker
 * picks the charger; the database guarantees no two live reservations of a
 * charger overlap.
 */
#include "api.h"
#include "app.h"
#include "booking.h"
#include "log.h"
#include "timeutil.h"
#include "validate.h"
#include "waitlist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WINDOW_SECONDS 86400          /* one charging window is at most a day */
#define MAX_AHEAD_SECONDS (366 * 86400)   /* bookings at most a year ahead */
#define PAST_TOLERANCE_SECONDS 300        /* clocks of cars and servers differ a little */
#define LIST_DEFAULT_LIMIT 50
#define LIST_MAX_LIMIT 500
#define ALTERNATIVES 3

static const char *const reservation_statuses[] = { "held", "confirmed", "cancelled", "completed", "expired", NULL };

/* Reads an RFC 3339 time field; false with err when absent or malformed. */
static bool read_time(json_t *body, const char *key, int64_t *epoch, struct jsonx_error *err)
{
	const char *text;
	if (!jsonx_string(body, key, true, 64, &text, err))
		return false;
	if (!timeutil_parse_rfc3339(text, epoch)) {
		err->code = "invalid_field";
		snprintf(err->message, sizeof(err->message),
			 "field '%s' must be an RFC 3339 time like 2026-11-23T08:00:00Z", key);
		return false;
	}
	return true;
}

/* Checks a window against the rules every booking follows; false with err. */
static bool check_window(int64_t start, int64_t end, struct jsonx_error *err)
{
	int64_t now = timeutil_now();
	const char *problem = NULL;
	if (end <= start)
		problem = "'end' must be after 'start'";
	else if (end - start > MAX_WINDOW_SECONDS)
		problem = "a window is at most 24 hours long";
	else if (start < now - PAST_TOLERANCE_SECONDS)
		problem = "the window starts in the past";
	else if (start > now + MAX_AHEAD_SECONDS)
		problem = "the window starts more than a year ahead";
	if (problem == NULL)
		return true;
	err->code = "invalid_window";
	snprintf(err->message, sizeof(err->message), "%s", problem);
	return false;
}

int api_reservations_create(struct http_request *req)
{
	const char *company = req->app->cfg.company_id;
	json_t *body = NULL;
	PGconn *conn = NULL;
	PGresult *booked = NULL, *failed = NULL;
	char *alternatives = NULL;
	struct jsonx_error err;
	const char *station_id, *car_id;
	int64_t start, end;
	char owner[VALIDATE_COMPANY_MAX + 1];
	char start_text[TIMEUTIL_RFC3339_LEN], end_text[TIMEUTIL_RFC3339_LEN];
	int status;

	if ((status = http_read_json_object(req, &body)) != 0)
		return status;
	if (!jsonx_string(body, "station_id", true, VALIDATE_STATION_MAX, &station_id, &err) ||
	    !jsonx_string(body, "car_id", true, VALIDATE_CAR_MAX, &car_id, &err) ||
	    !read_time(body, "start", &start, &err) || !read_time(body, "end", &end, &err)) {
		status = http_reply_field_error(req, &err);
		goto cleanup;
	}
	if (!validate_car_id(car_id)) {
		status = http_reply_error(req, 400, "invalid_field", "field 'car_id' must be 1 to 64 of [A-Za-z0-9_.:-]");
		goto cleanup;
	}
	if (!check_window(start, end, &err)) {
		status = http_reply_field_error(req, &err);
		goto cleanup;
	}
	if (!validate_station_company(station_id, owner, sizeof(owner))) {
		status = http_reply_error(req, 404, "not_found", "no such station");
		goto cleanup;
	}
	if (strcmp(owner, company) != 0) {
		status = http_reply_error(req, 404, "not_found",
					  "station '%s' belongs to company '%s': book it on that company's server, or as a leg of POST /api/v1/trips",
					  station_id, owner);
		goto cleanup;
	}

	timeutil_format_rfc3339(start, start_text);
	timeutil_format_rfc3339(end, end_text);
	struct booking_window w = { station_id, car_id, NULL, start_text, end_text };

	if ((conn = db_acquire(req->app->db, APP_DB_WAIT_MS)) == NULL) {
		status = http_reply_db_unavailable(req);
		goto cleanup;
	}
	switch (booking_reserve(conn, &w, &booked, &failed)) {
	case BOOKING_OK: {
		char location[128];
		snprintf(location, sizeof(location), "Location: " HTTP_API_PREFIX "/reservations/%s\r\n",
			 PQgetvalue(booked, 0, 0));
		log_info("event=reservation_created req=%s reservation=%s station=%s car=%s start=%s end=%s",
			 req->request_id, PQgetvalue(booked, 0, 0), station_id, car_id, start_text, end_text);
		status = http_reply_text(req, 201, PQgetvalue(booked, 0, 1), location);
		break;
	}
	case BOOKING_UNKNOWN_STATION:
		status = http_reply_error(req, 404, "not_found", "no such station");
		break;
	case BOOKING_STATION_UNAVAILABLE:
		status = http_reply_error(req, 409, "station_unavailable", "station '%s' is not taking reservations now",
					  station_id);
		break;
	case BOOKING_NO_CHARGER: {
		alternatives = booking_alternatives(conn, &w, ALTERNATIVES);
		json_t *extra = json_object();
		json_t *alts = alternatives != NULL ? json_loads(alternatives, 0, NULL) : NULL;
		json_object_set_new(extra, "alternatives", alts != NULL ? alts : json_array());
		status = http_reply_error_extra(req, 409, "no_charger_free", extra,
						"every charger of '%s' is booked from %s to %s", station_id, start_text, end_text);
		break;
	}
	case BOOKING_DB_ERROR:
		status = api_reply_db_error(req, conn, failed);
		break;
	}

cleanup:
	free(alternatives);
	PQclear(booked);
	PQclear(failed);
	if (conn != NULL)
		db_release(req->app->db, conn);
	json_decref(body);
	return status;
}

/* Reads an optional query parameter and checks it; 1 present, 0 absent, or the 400 sent. */
static int query_checked(struct http_request *req, const char *name, char *buf, size_t size,
			 bool (*valid)(const char *), const char *rule)
{
	int rc = http_query(req, name, buf, size);
	if (rc == 1 && !valid(buf))
		return http_reply_error(req, 400, "invalid_parameter", "query parameter '%s' must be %s", name, rule);
	return rc;
}

static bool is_reservation_status(const char *s)
{
	for (const char *const *p = reservation_statuses; *p != NULL; p++)
		if (strcmp(*p, s) == 0)
			return true;
	return false;
}

static bool is_count(const char *s)
{
	size_t n = strspn(s, "0123456789");
	return n > 0 && n <= 7 && s[n] == '\0';
}

int api_reservations_list(struct http_request *req)
{
	static const char sql[] =
		"WITH f AS ("
		"  SELECT id, lower(during) AS starts FROM reservations"
		"  WHERE ($1::text IS NULL OR station_id = $1) AND ($2::text IS NULL OR car_id = $2)"
		"    AND ($3::uuid IS NULL OR trip_id = $3::uuid) AND ($4::text IS NULL OR status = $4)"
		"    AND ($5::timestamptz IS NULL OR upper(during) > $5::timestamptz)"
		"    AND ($6::timestamptz IS NULL OR lower(during) < $6::timestamptz)),"
		" page AS (SELECT id FROM f ORDER BY starts, id LIMIT $7::int OFFSET $8::int)"
		" SELECT (SELECT count(*) FROM f),"
		"  (SELECT coalesce(json_agg(reservation_json(r) ORDER BY lower(r.during), r.id), '[]'::json)"
		"   FROM reservations r JOIN page USING (id))";
	char station[VALIDATE_STATION_MAX + 1], car[VALIDATE_CAR_MAX + 1], trip[40], rstatus[16];
	char limit[16] = "", offset[16] = "";
	char from_text[TIMEUTIL_RFC3339_LEN], to_text[TIMEUTIL_RFC3339_LEN];
	int64_t from, to;
	int has_station, has_car, has_trip, has_status, has_from, has_to, has_limit, has_offset;

	if ((has_station = query_checked(req, "station_id", station, sizeof(station), validate_station_id,
					 "a station id")) > 1)
		return has_station;
	if ((has_car = query_checked(req, "car_id", car, sizeof(car), validate_car_id, "a car id")) > 1)
		return has_car;
	if ((has_trip = query_checked(req, "trip_id", trip, sizeof(trip), validate_uuid, "a UUID")) > 1)
		return has_trip;
	if ((has_status = query_checked(req, "status", rstatus, sizeof(rstatus), is_reservation_status,
					"held, confirmed, cancelled, completed or expired")) > 1)
		return has_status;
	if ((has_limit = query_checked(req, "limit", limit, sizeof(limit), is_count, "a whole number")) > 1)
		return has_limit;
	if ((has_offset = query_checked(req, "offset", offset, sizeof(offset), is_count, "a whole number")) > 1)
		return has_offset;
	if ((has_from = api_query_time(req, "from", false, &from)) > 1)
		return has_from;
	if ((has_to = api_query_time(req, "to", false, &to)) > 1)
		return has_to;

	long lim = has_limit ? atol(limit) : LIST_DEFAULT_LIMIT;
	long off = has_offset ? atol(offset) : 0;
	if (lim < 1 || lim > LIST_MAX_LIMIT)
		return http_reply_error(req, 400, "invalid_parameter", "'limit' must be between 1 and %d", LIST_MAX_LIMIT);
	snprintf(limit, sizeof(limit), "%ld", lim);
	snprintf(offset, sizeof(offset), "%ld", off);
	if (has_from)
		timeutil_format_rfc3339(from, from_text);
	if (has_to)
		timeutil_format_rfc3339(to, to_text);

	const char *params[] = {
		has_station ? station : NULL, has_car ? car : NULL, has_trip ? trip : NULL,
		has_status ? rstatus : NULL, has_from ? from_text : NULL, has_to ? to_text : NULL,
		limit, offset,
	};
	PGconn *conn = db_acquire(req->app->db, APP_DB_WAIT_MS);
	if (conn == NULL)
		return http_reply_db_unavailable(req);
	PGresult *res = db_exec(conn, sql, 8, params);
	int status;
	if (!db_ok(res, "reservations_list")) {
		status = api_reply_db_error(req, conn, res);
	} else {
		long total = atol(PQgetvalue(res, 0, 0));
		json_t *items = json_loads(PQgetvalue(res, 0, 1), 0, NULL);
		char headers[1024];
		int n = snprintf(headers, sizeof(headers), "X-Total-Count: %ld\r\n", total);
		if (off + lim < total) {
			/* Every value was validated above: none needs escaping in a URL. */
			n += snprintf(headers + n, sizeof(headers) - (size_t)n, "Link: <" HTTP_API_PREFIX "/reservations?");
			const char *names[] = { "station_id", "car_id", "trip_id", "status", "from", "to" };
			for (int i = 0; i < 6; i++)
				if (params[i] != NULL)
					n += snprintf(headers + n, sizeof(headers) - (size_t)n, "%s=%s&", names[i], params[i]);
			snprintf(headers + n, sizeof(headers) - (size_t)n, "limit=%ld&offset=%ld>; rel=\"next\"\r\n", lim,
				 off + lim);
		}
		json_t *body = json_pack("{s:o, s:I, s:I, s:I}", "items", items != NULL ? items : json_array(), "total",
					 (json_int_t)total, "limit", (json_int_t)lim, "offset", (json_int_t)off);
		status = http_reply_json(req, 200, body, headers);
	}
	PQclear(res);
	db_release(req->app->db, conn);
	return status;
}

int api_reservations_get(struct http_request *req)
{
	static const char sql[] = "SELECT reservation_json(r) FROM reservations r WHERE r.id = $1::uuid";
	if (!validate_uuid(req->params[0]))
		return http_reply_error(req, 404, "not_found", "no such reservation");
	const char *params[] = { req->params[0] };
	return api_reply_query(req, 200, "no such reservation", sql, 1, params);
}

int api_reservations_cancel(struct http_request *req)
{
	/* Only a live single booking is cancelled here; a trip's legs go with their trip. */
	static const char cancel_sql[] =
		"UPDATE reservations SET status = 'cancelled', updated_at = now()"
		" WHERE id = $1::uuid AND status IN ('held', 'confirmed') AND trip_id IS NULL"
		" RETURNING reservation_json(reservations)";
	static const char current_sql[] =
		"SELECT status, trip_id IS NOT NULL, reservation_json(r) FROM reservations r WHERE id = $1::uuid";

	/* Cars cancel over MQTT, where the broker knows who they are; REST is for operators. */
	int status = http_require_admin(req);
	if (status != 0)
		return status;
	if (!validate_uuid(req->params[0]))
		return http_reply_error(req, 404, "not_found", "no such reservation");
	const char *params[] = { req->params[0] };
	PGconn *conn = db_acquire(req->app->db, APP_DB_WAIT_MS);
	if (conn == NULL)
		return http_reply_db_unavailable(req);

	PGresult *res = db_exec(conn, cancel_sql, 1, params);
	if (!db_ok(res, "reservation_cancel")) {
		status = api_reply_db_error(req, conn, res);
	} else if (PQntuples(res) == 1) {
		log_info("event=reservation_cancelled req=%s reservation=%s", req->request_id, req->params[0]);
		status = http_reply_text(req, 200, PQgetvalue(res, 0, 0), NULL);
		waitlist_wake(); /* a charger is free: the queue first */
	} else {
		PQclear(res);
		res = db_exec(conn, current_sql, 1, params);
		if (!db_ok(res, "reservation_current"))
			status = api_reply_db_error(req, conn, res);
		else if (PQntuples(res) == 0)
			status = http_reply_error(req, 404, "not_found", "no such reservation");
		else if (strcmp(PQgetvalue(res, 0, 0), "cancelled") == 0)
			status = http_reply_text(req, 200, PQgetvalue(res, 0, 2), NULL);
		else if (strcmp(PQgetvalue(res, 0, 1), "t") == 0)
			status = http_reply_error(req, 409, "part_of_trip",
						  "this reservation is a leg of a trip: cancel the trip instead");
		else
			status = http_reply_error(req, 409, "conflict", "a %s reservation cannot be cancelled",
						  PQgetvalue(res, 0, 0));
	}
	PQclear(res);
	db_release(req->app->db, conn);
	return status;
}

/* The car arrived (over MQTT, or an operator): a checked-in reservation is never expired as a no-show. */
int api_reservations_checkin(struct http_request *req)
{
	static const char sql[] =
		"UPDATE reservations SET checked_in_at = coalesce(checked_in_at, now()), updated_at = now()"
		" WHERE id = $1::uuid AND status IN ('held', 'confirmed') AND upper(during) > now()"
		" RETURNING reservation_json(reservations)";
	int status = http_require_admin(req);
	if (status != 0)
		return status;
	if (!validate_uuid(req->params[0]))
		return http_reply_error(req, 404, "not_found", "no such reservation");
	const char *params[] = { req->params[0] };
	return api_reply_query(req, 200, "no live reservation with that id (unknown, over, cancelled or expired)", sql, 1,
			       params);
}
