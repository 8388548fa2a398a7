/*
 * /stations: this company's charge points. Creating and changing them needs
 * the admin token; reading is public.
 */
#include "api.h"
#include "app.h"
#include "catalogue.h"
#include "log.h"
#include "timeutil.h"
#include "validate.h"

#include <stdio.h>
#include <string.h>

#define MAX_AVAILABILITY_SPAN (7 * 86400)
#define STATION_CITY_MAX 100 /* as stations.city */

int api_stations_list(struct http_request *req)
{
	/* updated_since lets peers refresh their cached catalogue with only what changed. */
	static const char sql[] =
		"SELECT json_build_object('items', coalesce(json_agg(station_json(s) ORDER BY s.id), '[]'::json))"
		" FROM stations s WHERE ($1::timestamptz IS NULL OR s.updated_at >= $1::timestamptz)"
		" AND ($2::text IS NULL OR s.status = $2) AND ($3::text IS NULL OR lower(s.city) = lower($3))"
		" AND ($4::text IS NULL OR $4 = ANY (s.connectors))";
	int64_t since;
	char since_text[TIMEUTIL_RFC3339_LEN], status[16], city[STATION_CITY_MAX + 2], connector[16];
	int rc = api_query_time(req, "updated_since", false, &since), has_status, has_city, has_connector;
	if (rc > 1)
		return rc;
	if (rc == 1)
		timeutil_format_rfc3339(since, since_text);
	if ((has_status = http_query(req, "status", status, sizeof(status))) > 1)
		return has_status;
	if (has_status == 1 && !catalogue_is_station_status(status))
		return http_reply_error(req, 400, "invalid_parameter",
					"query parameter 'status' must be active, maintenance or offline");
	if ((has_city = http_query(req, "city", city, sizeof(city))) > 1)
		return has_city;
	if (has_city == 1 && strlen(city) > STATION_CITY_MAX)
		return http_reply_error(req, 400, "invalid_parameter", "query parameter 'city' is at most %d characters",
					STATION_CITY_MAX);
	if ((has_connector = http_query(req, "connector", connector, sizeof(connector))) > 1)
		return has_connector;
	if (has_connector == 1 && !validate_connector(connector))
		return http_reply_error(req, 400, "invalid_parameter",
					"query parameter 'connector' must be " VALIDATE_CONNECTORS);
	const char *params[] = { rc == 1 ? since_text : NULL, has_status == 1 ? status : NULL, has_city == 1 ? city : NULL,
				 has_connector == 1 ? connector : NULL };
	return api_reply_query(req, 200, "no stations", sql, 4, params);
}

/*
 * Removes a station and its history (finished reservations, waitlist requests),
 * refused while a live reservation (held or confirmed) still has a window ahead:
 * those cars count on it. The station row is locked first, so no booking can
 * slip in between the check and the delete. To retire a station and keep its
 * figures, PATCH its status to offline instead.
 */
int api_stations_delete(struct http_request *req)
{
	static const char sql[] =
		"WITH target AS (SELECT id FROM stations WHERE id = $1 FOR UPDATE),"
		" busy AS (SELECT count(*) AS n FROM reservations r WHERE r.station_id IN (SELECT id FROM target)"
		"   AND r.status IN ('held', 'confirmed') AND upper(r.during) > now()),"
		" gone_res AS (SELECT id FROM reservations WHERE station_id IN (SELECT id FROM target)"
		"   AND (SELECT n FROM busy) = 0),"
		" w AS (DELETE FROM waitlist WHERE (station_id IN (SELECT id FROM target) OR reservation_id IN"
		"   (SELECT id FROM gone_res)) AND (SELECT n FROM busy) = 0 RETURNING 1),"
		" r AS (DELETE FROM reservations WHERE id IN (SELECT id FROM gone_res) RETURNING 1),"
		" s AS (DELETE FROM stations WHERE id IN (SELECT id FROM target) AND (SELECT n FROM busy) = 0 RETURNING id)"
		" SELECT (SELECT count(*) FROM target), (SELECT n FROM busy), (SELECT count(*) FROM s),"
		"   (SELECT count(*) FROM r), (SELECT count(*) FROM w)";
	int status;
	if ((status = api_authorize(req, POLICY_STATION_MANAGE)) != 0)
		return status;
	PGconn *conn = db_acquire(req->app->db, APP_DB_WAIT_MS);
	if (conn == NULL)
		return http_reply_db_unavailable(req);
	const char *params[] = { req->params[0] };
	PGresult *res = db_exec(conn, sql, 1, params);
	if (db_sqlstate_is(res, DB_FOREIGN_KEY_VIOLATION)) {
		status = http_reply_error(req, 409, "station_in_use", "station '%s' is still referenced: %s", req->params[0],
					  PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
	} else if (!db_ok(res, "station_delete")) {
		status = api_reply_db_error(req, conn, res);
	} else if (strcmp(PQgetvalue(res, 0, 0), "0") == 0) {
		status = http_reply_error(req, 404, "not_found", "no such station");
	} else if (strcmp(PQgetvalue(res, 0, 2), "0") == 0) {
		status = http_reply_error(req, 409, "station_in_use",
					  "station '%s' has %s live reservations still ahead: cancel them (or set status "
					  "maintenance and wait for them to pass) first",
					  req->params[0], PQgetvalue(res, 0, 1));
	} else {
		log_info("event=station_deleted req=%s station=%s reservations_removed=%s waitlist_removed=%s",
			 req->request_id, req->params[0], PQgetvalue(res, 0, 3), PQgetvalue(res, 0, 4));
		char body[256];
		snprintf(body, sizeof(body), "{\"id\":\"%s\",\"deleted\":true,\"reservations_removed\":%s,\"waitlist_removed\":%s}",
			 req->params[0], PQgetvalue(res, 0, 3), PQgetvalue(res, 0, 4));
		status = http_reply_text(req, 200, body, NULL);
	}
	PQclear(res);
	db_release(req->app->db, conn);
	return status;
}

int api_stations_get(struct http_request *req)
{
	static const char sql[] = "SELECT station_json(s) FROM stations s WHERE s.id = $1";
	const char *params[] = { req->params[0] };
	return api_reply_query(req, 200, "no such station", sql, 1, params);
}

int api_stations_create(struct http_request *req)
{
	static const char sql[] =
		"INSERT INTO stations (id, name, city, lat, lon, chargers, power_kw, price_per_kwh, status, connectors,"
		" charger_power_kw)"
		" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, coalesce($9, 'active'), $10::text[], $11::numeric[])"
		" RETURNING station_json(stations)";
	const char *company = req->app->cfg.company_id;
	json_t *body = NULL;
	struct jsonx_error err;
	struct station_fields f;
	int status;

	if ((status = api_authorize(req, POLICY_STATION_MANAGE)) != 0 || (status = http_read_json_object(req, &body)) != 0)
		return status;

	if (!catalogue_station_read(body, company, &f, &err)) {
		status = http_reply_field_error(req, &err);
		goto cleanup;
	}
	const char *id = f.id;

	PGconn *conn = db_acquire(req->app->db, APP_DB_WAIT_MS);
	if (conn == NULL) {
		status = http_reply_db_unavailable(req);
		goto cleanup;
	}
	const char *params[] = { id, f.name, f.city, f.lat, f.lon, f.chargers, f.power_kw, f.price, f.status,
				 f.has_connectors ? f.connectors : NULL, f.has_connectors ? f.charger_power : NULL };
	PGresult *res = db_exec(conn, sql, 11, params);
	if (db_sqlstate_is(res, DB_UNIQUE_VIOLATION))
		status = http_reply_error(req, 409, "conflict", "station '%s' already exists", id);
	else if (!db_ok(res, "station_create"))
		status = api_reply_db_error(req, conn, res);
	else {
		char location[128];
		snprintf(location, sizeof(location), "Location: " HTTP_API_PREFIX "/stations/%s\r\n", id);
		status = http_reply_text(req, 201, PQgetvalue(res, 0, 0), location);
		log_info("event=station_created req=%s station=%s", req->request_id, id);
	}
	PQclear(res);
	db_release(req->app->db, conn);
cleanup:
	json_decref(body);
	return status;
}

int api_stations_update(struct http_request *req)
{
	/*
	 * Fewer chargers is refused while a live reservation still needs a removed one.
	 * "connectors" replaces every charger's connector and power, and gives the count.
	 */
	static const char sql[] =
		"UPDATE stations SET name = coalesce($2, name), city = coalesce($3, city),"
		" lat = coalesce($4::float8, lat), lon = coalesce($5::float8, lon),"
		" chargers = coalesce($6::int, chargers), power_kw = coalesce($7::numeric, power_kw),"
		" price_per_kwh = coalesce($8::numeric, price_per_kwh), status = coalesce($9, status),"
		" connectors = coalesce($10::text[], connectors),"
		" charger_power_kw = CASE WHEN $10::text[] IS NULL THEN charger_power_kw ELSE $11::numeric[] END,"
		" updated_at = now()"
		" WHERE id = $1 AND NOT EXISTS ("
		"   SELECT 1 FROM reservations r WHERE r.station_id = $1 AND r.charger > $6::int"
		"   AND r.status IN ('held', 'confirmed') AND upper(r.during) > now())"
		" RETURNING station_json(stations)";
	static const char exists_sql[] = "SELECT 1 FROM stations WHERE id = $1";
	json_t *body = NULL;
	struct jsonx_error err;
	struct station_fields f;
	int status;

	if ((status = api_authorize(req, POLICY_STATION_MANAGE)) != 0 || (status = http_read_json_object(req, &body)) != 0)
		return status;
	if (!catalogue_station_read(body, NULL, &f, &err)) {
		status = http_reply_field_error(req, &err);
		goto cleanup;
	}

	PGconn *conn = db_acquire(req->app->db, APP_DB_WAIT_MS);
	if (conn == NULL) {
		status = http_reply_db_unavailable(req);
		goto cleanup;
	}
	const char *params[] = {
		req->params[0], f.name, f.city, f.has_lat ? f.lat : NULL, f.has_lon ? f.lon : NULL,
		f.has_chargers ? f.chargers : NULL, f.has_power ? f.power_kw : NULL,
		f.has_price ? f.price : NULL, f.status, f.has_connectors ? f.connectors : NULL,
		f.has_connectors ? f.charger_power : NULL,
	};
	PGresult *res = db_exec(conn, sql, 11, params);
	if (!db_ok(res, "station_update")) {
		status = api_reply_db_error(req, conn, res);
	} else if (PQntuples(res) == 1) {
		status = http_reply_text(req, 200, PQgetvalue(res, 0, 0), NULL);
		log_info("event=station_updated req=%s station=%s", req->request_id, req->params[0]);
	} else {
		PQclear(res);
		res = db_exec(conn, exists_sql, 1, params);
		if (!db_ok(res, "station_exists"))
			status = api_reply_db_error(req, conn, res);
		else if (PQntuples(res) == 0)
			status = http_reply_error(req, 404, "not_found", "no such station");
		else
			status = http_reply_error(req, 409, "conflict",
						  "live reservations still use chargers above %s; cancel them first", f.chargers);
	}
	PQclear(res);
	db_release(req->app->db, conn);
cleanup:
	json_decref(body);
	return status;
}

int api_stations_availability(struct http_request *req)
{
	static const char sql[] =
		"SELECT json_build_object('station_id', s.id, 'from', rfc3339($2), 'to', rfc3339($3),"
		" 'chargers', s.chargers, 'segments', coalesce((SELECT json_agg(json_build_object("
		"   'start', rfc3339(a.seg_start), 'end', rfc3339(a.seg_end), 'free', a.free) ORDER BY a.seg_start)"
		"   FROM station_availability(s.id, $2, $3) a), '[]'::json))"
		" FROM stations s WHERE s.id = $1";
	int64_t from, to;
	int rc;

	if ((rc = api_query_time(req, "from", true, &from)) != 1 || (rc = api_query_time(req, "to", true, &to)) != 1)
		return rc;
	if (to <= from)
		return http_reply_error(req, 400, "invalid_parameter", "'to' must be after 'from'");
	if (to - from > MAX_AVAILABILITY_SPAN)
		return http_reply_error(req, 400, "invalid_parameter", "the span from 'from' to 'to' is at most 7 days");

	char from_text[TIMEUTIL_RFC3339_LEN], to_text[TIMEUTIL_RFC3339_LEN];
	timeutil_format_rfc3339(from, from_text);
	timeutil_format_rfc3339(to, to_text);
	const char *params[] = { req->params[0], from_text, to_text };
	return api_reply_query(req, 200, "no such station", sql, 3, params);
}
