#include "chargers.h"
#include "app.h"
#include "booking.h"
#include "coredb.h"
#include "jsonx.h"
#include "log.h"
#include "mqtt_bridge.h"
#include "policy.h"
#include "secret.h"
#include "validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALTERNATIVES 3

static bool key_well_formed(const char *key)
{
	size_t n = strlen(key);
	if (n == 0 || n > CHARGERS_KEY_MAX)
		return false;
	for (const char *p = key; *p != '\0'; p++)
		if (*p < 0x21 || *p > 0x7e)
			return false;
	return true;
}

enum evc_err chargers_key_verify(struct app *app, const char *station_id, const char *key, bool *valid)
{
	static const char sql[] = "SELECT key_hash = encode(sha256(convert_to(key_salt || $2, 'UTF8')), 'hex')"
				  " FROM ocpp_stations WHERE station_id = $1";
	*valid = false;
	if (!validate_station_id(station_id) || !key_well_formed(key))
		return EVC_OK;
	PGconn *conn = db_acquire(app->db, APP_DB_WAIT_MS);
	if (conn == NULL) {
		log_warn("event=db_unavailable station=%s what=ocpp_key_verify", station_id);
		return EVC_ERR_UNAVAILABLE;
	}
	const char *params[] = { station_id, key };
	PGresult *res = db_exec(conn, sql, 2, params);
	enum evc_err err = EVC_OK;
	if (!db_ok(res, "ocpp_key_verify")) {
		log_warn("event=db_failed station=%s what=ocpp_key_verify", station_id);
		err = EVC_ERR_UNAVAILABLE;
	} else {
		*valid = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	}
	PQclear(res);
	db_release(app->db, conn);
	return err;
}

enum evc_err chargers_key_rotate(struct app *app, const struct actor *actor, const char *station_id,
				 const char *request_id, struct core_result *r)
{
	static const char sql[] =
		"INSERT INTO ocpp_stations (station_id, key_salt, key_hash)"
		" SELECT id, $2, encode(sha256(convert_to($2 || $3, 'UTF8')), 'hex') FROM stations WHERE id = $1"
		" ON CONFLICT (station_id) DO UPDATE SET key_salt = EXCLUDED.key_salt, key_hash = EXCLUDED.key_hash,"
		" key_rotated_at = now()"
		" RETURNING json_build_object('station_id', station_id, 'key', $3::text, 'rotated_at', rfc3339(key_rotated_at))";
	if (policy_check_station(actor, POLICY_CHARGER_MANAGE, station_id, request_id, r) != EVC_OK)
		return r->err;
	if (!validate_station_id(station_id))
		return core_fail(r, EVC_ERR_NOT_FOUND, "not_found", "no such station");
	char key[33], salt[33];
	if (!secret_random_hex(key, 16) || !secret_random_hex(salt, 16))
		return core_fail(r, EVC_ERR_INTERNAL, "internal", "no randomness for a key");
	const char *params[] = { station_id, salt, key };
	if (coredb_query_json(app, r, "no such station", sql, 3, params, request_id) == EVC_OK) {
		char who[ACTOR_DESCRIBE_MAX];
		log_info("event=ocpp_key_rotated req=%s station=%s actor=%s", request_id, station_id,
			 actor_describe(actor, who));
	}
	return r->err;
}

enum evc_err chargers_boot(struct app *app, const struct actor *actor, json_t *input, const char *request_id,
			   struct core_result *r)
{
	static const char sql[] =
		"UPDATE ocpp_stations o SET vendor = $2, model = $3, firmware = $4, last_seen = now(),"
		" booted_at = CASE WHEN s.status <> 'maintenance' THEN now() ELSE o.booted_at END"
		" FROM stations s WHERE o.station_id = $1 AND s.id = o.station_id"
		" RETURNING json_build_object('accepted', s.status <> 'maintenance', 'interval', $5::int,"
		" 'current_time', rfc3339(now()))";
	if (policy_check_station(actor, POLICY_CHARGER_REPORT, actor->id, request_id, r) != EVC_OK)
		return r->err;
	char interval[16];
	snprintf(interval, sizeof(interval), "%d", app->cfg.ocpp_heartbeat_seconds);
	const char *params[] = { actor->id, json_string_value(json_object_get(input, "chargePointVendor")),
				 json_string_value(json_object_get(input, "chargePointModel")),
				 json_string_value(json_object_get(input, "firmwareVersion")), interval };
	if (coredb_query_json(app, r, "no such charge point", sql, 5, params, request_id) == EVC_OK)
		log_info("event=ocpp_boot req=%s station=%s vendor=\"%s\" model=\"%s\" accepted=%s", request_id, actor->id,
			 params[1] != NULL ? params[1] : "", params[2] != NULL ? params[2] : "",
			 json_is_true(json_object_get(r->body, "accepted")) ? "yes" : "no");
	return r->err;
}

enum evc_err chargers_heartbeat(struct app *app, const struct actor *actor, const char *request_id,
				struct core_result *r)
{
	static const char sql[] = "UPDATE ocpp_stations SET last_seen = now() WHERE station_id = $1"
				  " RETURNING json_build_object('current_time', rfc3339(now()))";
	if (policy_check_station(actor, POLICY_CHARGER_REPORT, actor->id, request_id, r) != EVC_OK)
		return r->err;
	const char *params[] = { actor->id };
	return coredb_query_json(app, r, "no such charge point", sql, 1, params, request_id);
}

/* Up to ALTERNATIVES stations of this company near the window's with a charger free for it (JSON array, new reference). */
static json_t *nearby(PGconn *conn, const char *station_id, const char *start, const char *end)
{
	static const char sql[] =
		"SELECT coalesce(json_agg(json_build_object('station_id', station_id, 'name', name,"
		" 'distance_km', round(distance_km::numeric, 1))), '[]'::json)"
		" FROM nearby_free_stations($1, $2::timestamptz, $3::timestamptz, $4::int)";
	char max[16];
	snprintf(max, sizeof(max), "%d", ALTERNATIVES);
	const char *params[] = { station_id, start, end, max };
	PGresult *res = db_exec(conn, sql, 4, params);
	json_t *list = db_ok(res, "ocpp_nearby") ? json_loads(PQgetvalue(res, 0, 0), 0, NULL) : NULL;
	PQclear(res);
	return list != NULL ? list : json_array();
}

/* Tells the car of one moved or disrupted booking (row of ocpp_move_bookings), alternatives for the latter. */
static void tell_car(struct app *app, PGconn *conn, PGresult *moved, int i, const char *station_id, const char *request_id)
{
	const char *reservation = PQgetvalue(moved, i, 0), *car = PQgetvalue(moved, i, 1);
	const char *trip = PQgetisnull(moved, i, 2) ? NULL : PQgetvalue(moved, i, 2);
	const char *start = PQgetvalue(moved, i, 5), *end = PQgetvalue(moved, i, 6);
	bool disrupted = PQgetisnull(moved, i, 4);
	json_t *body = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s*, s:i}", "type",
				 disrupted ? "reservation_disrupted" : "reservation_moved", "reservation_id", reservation,
				 "station_id", station_id, "start", start, "end", end, "trip_id", trip, "from_charger",
				 atoi(PQgetvalue(moved, i, 3)));
	if (body == NULL)
		return;
	if (disrupted) {
		struct booking_window w = { station_id, car, trip, start, end, NULL };
		char *alts = booking_alternatives(conn, &w, ALTERNATIVES);
		json_t *list = alts != NULL ? json_loads(alts, 0, NULL) : NULL;
		free(alts);
		json_object_set_new(body, "alternatives", list != NULL ? list : json_array());
		json_object_set_new(body, "nearby", nearby(conn, station_id, start, end));
		/* rows of ocpp_offline_round carry their station in column 7 (tell_cars) */
		json_object_set_new(body, "reason", json_string(PQnfields(moved) > 7 ? "the station is offline (its connection is lost)"
										     : "the charger is out of service and no other is free"));
	} else {
		json_object_set_new(body, "charger", json_integer(atoi(PQgetvalue(moved, i, 4))));
	}
	log_info("event=%s req=%s reservation=%s station=%s car=%s trip=%s from_charger=%s to_charger=%s",
		 disrupted ? "booking_disrupted" : "booking_moved", request_id, reservation, station_id, car,
		 trip != NULL ? trip : "-", PQgetvalue(moved, i, 3), disrupted ? "-" : PQgetvalue(moved, i, 4));
	if (app->mqtt != NULL)
		mqtt_bridge_notify(app->mqtt, car, "booking", body);
	else
		json_decref(body);
}

/*
 * After the commit: tells each car of the rows of ocpp_move_bookings (columns
 * reservation, car, trip, from, to, start, end, and the station in column 7
 * when station_id is NULL). Returns how many were disrupted.
 */
static int tell_cars(struct app *app, PGconn *conn, PGresult *moved, const char *station_id, const char *request_id)
{
	int n = moved != NULL ? PQntuples(moved) : 0, disrupted = 0;
	for (int i = 0; i < n; i++) {
		if (PQgetisnull(moved, i, 0))
			continue; /* an offline station without bookings */
		disrupted += PQgetisnull(moved, i, 4);
		tell_car(app, conn, moved, i, station_id != NULL ? station_id : PQgetvalue(moved, i, 7), request_id);
	}
	return disrupted;
}

/* In the open transaction: the charger's new state; 0 rows when the connector does not exist. */
static PGresult *store_status(PGconn *conn, const char *station_id, json_t *input)
{
	static const char sql[] =
		"INSERT INTO ocpp_chargers (station_id, charger, state, error_code, info)"
		" SELECT id, $2::int, $3, $4, $5 FROM stations WHERE id = $1 AND $2::int BETWEEN 0 AND chargers"
		" ON CONFLICT (station_id, charger) DO UPDATE SET state = EXCLUDED.state,"
		" error_code = EXCLUDED.error_code, info = EXCLUDED.info, updated_at = now()"
		" RETURNING state IN ('Faulted', 'Unavailable')";
	char connector[24];
	snprintf(connector, sizeof(connector), "%lld", (long long)json_integer_value(json_object_get(input, "connectorId")));
	const char *params[] = { station_id, connector, json_string_value(json_object_get(input, "status")),
				 json_string_value(json_object_get(input, "errorCode")),
				 json_string_value(json_object_get(input, "info")) };
	return db_exec(conn, sql, 5, params);
}

enum evc_err chargers_status(struct app *app, const struct actor *actor, json_t *input, const char *request_id,
			     struct core_result *r)
{
	static const char move_sql[] = "SELECT reservation_id, car_id, trip_id, from_charger, to_charger,"
				       " rfc3339(window_start), rfc3339(window_end) FROM ocpp_move_bookings($1, $2::int)";
	if (policy_check_station(actor, POLICY_CHARGER_REPORT, actor->id, request_id, r) != EVC_OK)
		return r->err;
	json_int_t connector = json_integer_value(json_object_get(input, "connectorId"));
	if (connector < 0 || connector > 64)
		return core_fail(r, EVC_ERR_INVALID, "invalid_field", "connectorId must be 0 to the station's chargers");
	PGconn *conn = db_acquire(app->db, APP_DB_WAIT_MS);
	if (conn == NULL)
		return coredb_unavailable(r, request_id);
	PGresult *res = NULL, *moved = NULL;
	if (!db_command(conn, "BEGIN")) {
		coredb_unavailable(r, request_id);
		goto done;
	}
	res = store_status(conn, actor->id, input);
	if (!db_ok(res, "ocpp_status")) {
		coredb_error(r, conn, res, request_id);
	} else if (PQntuples(res) == 0) {
		core_fail(r, EVC_ERR_INVALID, "invalid_field", "connectorId %lld is not a charger of this station",
			  (long long)connector);
	} else if (strcmp(PQgetvalue(res, 0, 0), "t") == 0) {
		char c[24];
		snprintf(c, sizeof(c), "%lld", (long long)connector);
		const char *params[] = { actor->id, c };
		moved = db_exec(conn, move_sql, 2, params);
		if (!db_ok(moved, "ocpp_move_bookings"))
			coredb_error(r, conn, moved, request_id);
	}
	coredb_end(conn, request_id, r);
	if (r->err == EVC_OK) {
		int n = moved != NULL ? PQntuples(moved) : 0, disrupted = tell_cars(app, conn, moved, actor->id, request_id);
		log_info("event=ocpp_status req=%s station=%s charger=%lld state=%s moved=%d disrupted=%d", request_id,
			 actor->id, (long long)connector, json_string_value(json_object_get(input, "status")), n - disrupted,
			 disrupted);
		core_ok(r, json_pack("{s:i, s:i}", "moved", n - disrupted, "disrupted", disrupted));
	}
done:
	PQclear(res);
	PQclear(moved);
	db_release(app->db, conn);
	return r->err;
}

enum evc_err chargers_reservation_refused(struct app *app, const struct actor *actor, const char *reservation_id,
					  int charger, const char *answer, const char *request_id, struct core_result *r)
{
	static const char sql[] = "SELECT reservation_id, car_id, trip_id, from_charger, to_charger,"
				  " rfc3339(window_start), rfc3339(window_end)"
				  " FROM ocpp_reservation_refused($1, $2::uuid, $3::int, $4)";
	if (policy_check_station(actor, POLICY_CHARGER_REPORT, actor->id, request_id, r) != EVC_OK)
		return r->err;
	if (!validate_uuid(reservation_id) || charger < 1 || charger > 64 || answer == NULL || strlen(answer) > 20)
		return core_fail(r, EVC_ERR_INVALID, "invalid_field", "a reservation id, a charger 1-64 and an answer");
	PGconn *conn = db_acquire(app->db, APP_DB_WAIT_MS);
	if (conn == NULL)
		return coredb_unavailable(r, request_id);
	char c[16];
	snprintf(c, sizeof(c), "%d", charger);
	const char *params[] = { actor->id, reservation_id, c, answer };
	PGresult *moved = db_exec(conn, sql, 4, params);
	if (!db_ok(moved, "ocpp_reservation_refused")) {
		log_warn("event=db_failed req=%s station=%s reservation=%s what=ocpp_reservation_refused", request_id,
			 actor->id, reservation_id);
		coredb_error(r, conn, moved, request_id);
	} else {
		int n = PQntuples(moved), disrupted = tell_cars(app, conn, moved, actor->id, request_id);
		log_info("event=ocpp_reserve_refused req=%s station=%s reservation=%s charger=%d answer=%s moved=%d "
			 "disrupted=%d", request_id, actor->id, reservation_id, charger, answer, n - disrupted, disrupted);
		core_ok(r, json_pack("{s:i, s:i}", "moved", n - disrupted, "disrupted", disrupted));
	}
	PQclear(moved);
	db_release(app->db, conn);
	return r->err;
}

void chargers_offline_round(struct app *app, const char *connected)
{
	static const char sql[] = "SELECT reservation_id, car_id, trip_id, from_charger, to_charger,"
				  " rfc3339(window_start), rfc3339(window_end), station_id"
				  " FROM ocpp_offline_round($1::text[], $2::int)";
	PGconn *conn = db_acquire(app->db, APP_DB_WAIT_MS);
	if (conn == NULL) {
		log_warn("event=db_unavailable what=ocpp_offline_round");
		return;
	}
	char after[16];
	snprintf(after, sizeof(after), "%d", app->cfg.ocpp_offline_after_s);
	const char *params[] = { connected, after };
	PGresult *res = db_exec(conn, sql, 2, params);
	if (!db_ok(res, "ocpp_offline_round")) {
		log_warn("event=ocpp_offline_round_failed stations=%s", connected);
	} else {
		const char *last = "";
		for (int i = 0; i < PQntuples(res); i++) {
			const char *station = PQgetvalue(res, i, 7);
			if (strcmp(station, last) == 0)
				continue;
			int bookings = 0;
			for (int j = i; j < PQntuples(res) && strcmp(PQgetvalue(res, j, 7), station) == 0; j++)
				bookings += !PQgetisnull(res, j, 0);
			log_info("event=ocpp_station_offline station=%s after_s=%d disrupted=%d", station,
				 app->cfg.ocpp_offline_after_s, bookings);
			last = station;
		}
		tell_cars(app, conn, res, NULL, "ocpp-offline");
	}
	PQclear(res);
	db_release(app->db, conn);
}

void chargers_connection_seen(struct app *app, const char *station_id, bool connected)
{
	static const char sql[] = "UPDATE ocpp_stations SET connected_until = now(),"
				  " offline_since = CASE WHEN $2::bool THEN NULL ELSE offline_since END WHERE station_id = $1";
	PGconn *conn = db_acquire(app->db, APP_DB_WAIT_MS);
	if (conn == NULL) {
		log_warn("event=db_unavailable station=%s what=ocpp_connection_seen", station_id);
		return;
	}
	const char *params[] = { station_id, connected ? "true" : "false" };
	PGresult *res = db_exec(conn, sql, 2, params);
	if (!db_ok(res, "ocpp_connection_seen"))
		log_warn("event=db_failed station=%s what=ocpp_connection_seen", station_id);
	PQclear(res);
	db_release(app->db, conn);
}

enum evc_err chargers_authorize(struct app *app, const struct actor *actor, const char *id_tag,
				const char *request_id, struct core_result *r)
{
	static const char sql[] =
		"SELECT json_build_object('status', 'Accepted', 'expiry', rfc3339(upper(during)))"
		" FROM reservations WHERE station_id = $1 AND status = 'confirmed' AND ocpp_id_tag(car_id) = $2"
		" AND upper(during) > now() AND lower(during) <= now() + make_interval(secs => $3::int)"
		" ORDER BY lower(during) LIMIT 1";
	if (policy_check_station(actor, POLICY_CHARGING_SESSION, actor->id, request_id, r) != EVC_OK)
		return r->err;
	char lead[16];
	snprintf(lead, sizeof(lead), "%d", app->cfg.ocpp_reserve_lead_seconds);
	const char *params[] = { actor->id, id_tag, lead };
	if (coredb_query_json(app, r, "no booking", sql, 3, params, request_id) == EVC_ERR_NOT_FOUND)
		core_ok(r, json_pack("{s:s}", "status", "Invalid"));
	log_info("event=ocpp_authorize req=%s station=%s id_tag=%s status=%s", request_id, actor->id, id_tag,
		 r->err == EVC_OK ? json_string_value(json_object_get(r->body, "status")) : "error");
	return r->err;
}

enum evc_err chargers_list(struct app *app, const struct actor *actor, const char *station_id, bool connected,
			   const char *request_id, struct core_result *r)
{
	static const char sql[] =
		"SELECT json_build_object('station_id', s.id, 'chargers', s.chargers, 'connected', $2::bool,"
		" 'registered', o.station_id IS NOT NULL, 'vendor', o.vendor, 'model', o.model,"
		" 'booted_at', rfc3339(o.booted_at), 'last_seen', rfc3339(o.last_seen),"
		" 'offline_since', rfc3339(o.offline_since),"
		" 'connectors', coalesce((SELECT json_agg(json_build_object('charger', c.charger, 'state', c.state,"
		"   'error_code', c.error_code, 'updated_at', rfc3339(c.updated_at), 'transaction',"
		"   (SELECT json_build_object('id', t.id, 'started_at', rfc3339(t.started_at), 'meter_start', t.meter_start,"
		"     'reservation_id', t.reservation_id) FROM ocpp_transactions t"
		"    WHERE t.station_id = s.id AND t.charger = c.charger AND t.stopped_at IS NULL)) ORDER BY c.charger)"
		"  FROM ocpp_chargers c WHERE c.station_id = s.id), '[]'))"
		" FROM stations s LEFT JOIN ocpp_stations o ON o.station_id = s.id WHERE s.id = $1";
	if (policy_check_station(actor, POLICY_CHARGER_READ, station_id, request_id, r) != EVC_OK)
		return r->err;
	if (!validate_station_id(station_id))
		return core_fail(r, EVC_ERR_NOT_FOUND, "not_found", "no such station");
	const char *params[] = { station_id, connected ? "true" : "false" };
	return coredb_query_json(app, r, "no such station", sql, 2, params, request_id);
}
