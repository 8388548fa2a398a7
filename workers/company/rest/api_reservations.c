/*
 * /reservations: the REST adapter of core/reservations.c. It decodes the
 * request, calls the core with the actor the credential proved, and encodes
 * the result; the list's filters are read here, its scope is the policy's.
 */
#include "api.h"
#include "app.h"
#include "policy.h"
#include "reservations.h"
#include "log.h"
#include "timeutil.h"
#include "validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIST_DEFAULT_LIMIT 50
#define LIST_MAX_LIMIT 500

static const char *const reservation_statuses[] = { "held", "confirmed", "cancelled", "completed", "expired", "disrupted", NULL };

int api_reservations_create(struct http_request *req)
{
	json_t *body = NULL;
	int status = http_read_json_object(req, &body);
	if (status != 0)
		return status;
	struct core_result r = CORE_RESULT_INIT;
	reservations_create(req->app, &req->actor, body, req->request_id, &r);
	json_decref(body);
	return http_reply_result(req, &r);
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

/* X-Total-Count, and a Link to the next page when there is one (filters from params[0..5]). */
static void paging_headers(const char *const params[6], long total, long lim, long off, char *headers, size_t size)
{
	int n = snprintf(headers, size, "X-Total-Count: %ld\r\n", total);
	if (off + lim >= total)
		return;
	/* Every value was validated: none needs escaping in a URL. */
	n += snprintf(headers + n, size - (size_t)n, "Link: <" HTTP_API_PREFIX "/reservations?");
	static const char *const names[] = { "station_id", "car_id", "trip_id", "status", "from", "to" };
	for (int i = 0; i < 6; i++)
		if (params[i] != NULL)
			n += snprintf(headers + n, size - (size_t)n, "%s=%s&", names[i], params[i]);
	snprintf(headers + n, size - (size_t)n, "limit=%ld&offset=%ld>; rel=\"next\"\r\n", lim, off + lim);
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

	const char *scope;
	struct core_result refused = CORE_RESULT_INIT;
	if (policy_list_scope(&req->actor, POLICY_RESERVATION_READ, has_car ? car : NULL, &scope, req->request_id,
			      &refused) != EVC_OK)
		return http_reply_result(req, &refused);
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
		has_station ? station : NULL, scope, has_trip ? trip : NULL,
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
		paging_headers(params, total, lim, off, headers, sizeof(headers));
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
	struct core_result r = CORE_RESULT_INIT;
	reservations_get(req->app, &req->actor, req->params[0], req->request_id, &r);
	return http_reply_result(req, &r);
}

int api_reservations_cancel(struct http_request *req)
{
	struct core_result r = CORE_RESULT_INIT;
	reservations_cancel(req->app, &req->actor, req->params[0], req->request_id, &r);
	return http_reply_result(req, &r);
}

int api_reservations_checkin(struct http_request *req)
{
	struct core_result r = CORE_RESULT_INIT;
	reservations_checkin(req->app, &req->actor, req->params[0], req->request_id, &r);
	return http_reply_result(req, &r);
}
