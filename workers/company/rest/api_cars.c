/*
 * /cars: what the cars attached to this company report over MQTT, for the
 * dashboard. /cars lists each car's latest state (car_state); /cars/{id}/telemetry
 * gives its recent samples (car_telemetry), averaged into at most
 * TELEMETRY_POINTS buckets so a chart of an hour stays a few kilobytes.
 * /network/map gives the road network (cities, roads) the map page draws.
 * Positions and telemetry are personal data: an operator of this company sees
 * every car's, a car its own (policy.c, car.data.read). The road network is
 * public. JSON is built in SQL.
 */
#include "api.h"
#include "app.h"
#include "carauth.h"
#include "validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TELEMETRY_DEFAULT_MINUTES 60
#define TELEMETRY_MAX_MINUTES (24 * 60)
#define TELEMETRY_POINTS 120 /* buckets in one answer, at most */

int api_cars_list(struct http_request *req)
{
	static const char sql[] =
		"SELECT json_build_object('items', coalesce(json_agg(json_build_object("
		"  'car_id', c.car_id, 'ts', rfc3339(c.ts), 'lat', c.lat, 'lon', c.lon, 'soc', c.soc,"
		"  'speed_kmh', c.speed_kmh, 'consumption_kwh_per_100km', c.consumption, 'profile', c.profile,"
		"  'age_seconds', round(extract(epoch FROM now() - c.ts)::numeric, 1))"
		"  ORDER BY c.car_id), '[]'::json))"
		" FROM car_state c WHERE ($1::text IS NULL OR c.car_id = $1)";
	const char *scope;
	struct core_result refused = CORE_RESULT_INIT;
	if (policy_list_scope(&req->actor, POLICY_CAR_DATA_READ, NULL, &scope, req->request_id, &refused) != EVC_OK)
		return http_reply_result(req, &refused);
	const char *params[] = { scope };
	return api_reply_query(req, 200, "no cars", sql, 1, params);
}

int api_cars_telemetry(struct http_request *req)
{
	/* One row per bucket of $3 seconds: the chart needs the shape, not every sample. */
	static const char sql[] =
		"SELECT json_build_object('car_id', $1::text, 'minutes', $2::int, 'bucket_seconds', $3::int,"
		" 'items', coalesce(json_agg(json_build_object('ts', rfc3339(b.t), 'soc', round(b.soc::numeric, 2),"
		"   'speed_kmh', round(b.speed::numeric, 1), 'consumption_kwh_per_100km', round(b.cons::numeric, 2),"
		"   'lat', b.lat, 'lon', b.lon) ORDER BY b.t), '[]'::json))"
		" FROM (SELECT to_timestamp(floor(extract(epoch FROM ts) / $3::int) * $3::int) AS t,"
		"   avg(soc) AS soc, avg(speed_kmh) AS speed, avg(consumption) AS cons,"
		"   (array_agg(lat ORDER BY ts DESC))[1] AS lat, (array_agg(lon ORDER BY ts DESC))[1] AS lon"
		"   FROM car_telemetry WHERE car_id = $1 AND ts > now() - make_interval(mins => $2::int)"
		"   GROUP BY 1) b";
	static const char exists_sql[] =
		"SELECT EXISTS (SELECT 1 FROM car_state WHERE car_id = $1)"
		" OR EXISTS (SELECT 1 FROM car_telemetry WHERE car_id = $1)";
	char text[16];
	long minutes = TELEMETRY_DEFAULT_MINUTES;

	struct core_result refused = CORE_RESULT_INIT;
	if (policy_check(&req->actor, POLICY_CAR_DATA_READ, req->params[0], req->request_id, &refused) != EVC_OK)
		return http_reply_result(req, &refused);
	if (!validate_car_id(req->params[0]))
		return http_reply_error(req, 404, "not_found", "no such car");
	int rc = http_query(req, "minutes", text, sizeof(text));
	if (rc > 1)
		return rc;
	if (rc == 1) {
		char *end;
		minutes = strtol(text, &end, 10);
		if (*end != '\0' || minutes < 1 || minutes > TELEMETRY_MAX_MINUTES)
			return http_reply_error(req, 400, "invalid_parameter", "'minutes' must be a whole number from 1 to %d",
						TELEMETRY_MAX_MINUTES);
	}
	long bucket = minutes * 60 / TELEMETRY_POINTS;
	if (bucket < 5)
		bucket = 5;
	char minutes_text[16], bucket_text[16];
	snprintf(minutes_text, sizeof(minutes_text), "%ld", minutes);
	snprintf(bucket_text, sizeof(bucket_text), "%ld", bucket);

	PGconn *conn = db_acquire(req->app->db, APP_DB_WAIT_MS);
	if (conn == NULL)
		return http_reply_db_unavailable(req);
	int status;
	const char *params[] = { req->params[0], minutes_text, bucket_text };
	PGresult *res = db_exec(conn, exists_sql, 1, params);
	if (!db_ok(res, "car_exists"))
		status = api_reply_db_error(req, conn, res);
	else if (strcmp(PQgetvalue(res, 0, 0), "t") != 0)
		status = http_reply_error(req, 404, "not_found", "no such car: it has sent no telemetry here");
	else {
		PQclear(res);
		res = db_exec(conn, sql, 3, params);
		if (!db_ok(res, "car_telemetry"))
			status = api_reply_db_error(req, conn, res);
		else
			status = http_reply_text(req, 200, PQgetvalue(res, 0, 0), NULL);
	}
	PQclear(res);
	db_release(req->app->db, conn);
	return status;
}

int api_network_map(struct http_request *req)
{
	static const char sql[] =
		"SELECT json_build_object("
		" 'cities', (SELECT coalesce(json_agg(json_build_object('id', id, 'name', name, 'state', state,"
		"   'lat', lat, 'lon', lon) ORDER BY id), '[]'::json) FROM cities),"
		" 'roads', (SELECT coalesce(json_agg(json_build_object('from', from_city, 'to', to_city, 'km', km,"
		"   'highway', highway, 'kind', kind) ORDER BY highway, from_city, to_city), '[]'::json) FROM roads))";
	return api_reply_query(req, 200, "no road network", sql, 0, NULL);
}

/* POST /cars/{id}/tokens: an operator issues a car token (carauth.c). */
int api_cars_token_issue(struct http_request *req)
{
	struct core_result r = CORE_RESULT_INIT;
	carauth_issue(req->app, &req->actor, req->params[0], req->request_id, &r);
	return http_reply_result(req, &r);
}

/* POST /cars/{id}/revoke: every token this company issued the car until now is refused everywhere. */
int api_cars_token_revoke(struct http_request *req)
{
	struct core_result r = CORE_RESULT_INIT;
	carauth_revoke(req->app, &req->actor, req->params[0], req->request_id, &r);
	return http_reply_result(req, &r);
}
