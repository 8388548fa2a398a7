#include "sessions.h"
#include "app.h"
#include "bounds.h"
#include "coredb.h"
#include "log.h"
#include "policy.h"
#include "waitlist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void int_text(json_t *input, const char *key, char *out, size_t size)
{
	snprintf(out, size, "%lld", (long long)json_integer_value(json_object_get(input, key)));
}

static bool meter_in_range(json_t *input, const char *key)
{
	json_int_t v = json_integer_value(json_object_get(input, key));
	return v >= 0 && v <= BOUNDS_OCPP_METER_MAX;
}

/* In the open transaction: the booking this start checks in (locked), or no row. */
static PGresult *find_booking(struct app *app, PGconn *conn, const char *station_id, json_t *input)
{
	static const char sql[] =
		"SELECT r.id FROM reservations r LEFT JOIN ocpp_reservations o ON o.reservation_id = r.id"
		" WHERE r.station_id = $1 AND r.status = 'confirmed' AND ocpp_id_tag(r.car_id) = $2"
		" AND upper(r.during) > now() AND lower(r.during) <= now() + make_interval(secs => $4::int)"
		" AND ($3::int IS NULL OR o.ocpp_id = $3::int)"
		" ORDER BY lower(r.during) LIMIT 1 FOR UPDATE OF r";
	char lead[16], ocpp_id[24];
	snprintf(lead, sizeof(lead), "%d", app->cfg.ocpp_reserve_lead_seconds);
	json_t *rid = json_object_get(input, "reservationId");
	if (rid != NULL)
		int_text(input, "reservationId", ocpp_id, sizeof(ocpp_id));
	const char *params[] = { station_id, json_string_value(json_object_get(input, "idTag")),
				 rid != NULL ? ocpp_id : NULL, lead };
	return db_exec(conn, sql, 4, params);
}

/* In the open transaction: checks the booking in, opens the session; the transaction's row or an error. */
static PGresult *open_session(PGconn *conn, const char *station_id, const char *reservation, json_t *input)
{
	static const char sql[] =
		"WITH checkin AS (UPDATE reservations SET checked_in_at = coalesce(checked_in_at, now()), updated_at = now()"
		"   WHERE id = $3::uuid RETURNING id),"
		" used AS (UPDATE ocpp_reservations SET state = 'used', updated_at = now() WHERE reservation_id = $3::uuid"
		"   RETURNING 1)"
		" INSERT INTO ocpp_transactions (station_id, charger, reservation_id, id_tag, meter_start, started_at)"
		" SELECT id, $2::int, (SELECT id FROM checkin), $4, $5::bigint, $6::timestamptz FROM stations"
		" WHERE id = $1 AND $2::int BETWEEN 1 AND chargers AND (SELECT count(*) FROM used) >= 0"
		" RETURNING id";
	char connector[24], meter[24];
	int_text(input, "connectorId", connector, sizeof(connector));
	int_text(input, "meterStart", meter, sizeof(meter));
	const char *params[] = { station_id, connector, reservation, json_string_value(json_object_get(input, "idTag")),
				 meter, json_string_value(json_object_get(input, "timestamp")) };
	return db_exec(conn, sql, 6, params);
}

/* The session already open on the connector (ConcurrentTx). */
static void concurrent(PGconn *conn, const char *station_id, json_t *input, const char *request_id,
		       struct core_result *r)
{
	static const char sql[] = "SELECT id FROM ocpp_transactions WHERE station_id = $1 AND charger = $2::int"
				  " AND stopped_at IS NULL";
	char connector[24];
	int_text(input, "connectorId", connector, sizeof(connector));
	const char *params[] = { station_id, connector };
	PGresult *res = db_exec(conn, sql, 2, params);
	if (!db_ok(res, "ocpp_open_session"))
		coredb_error(r, conn, res, request_id);
	else if (PQntuples(res) == 1)
		core_ok(r, json_pack("{s:i, s:s, s:n}", "transaction_id", atoi(PQgetvalue(res, 0, 0)), "status",
				     "ConcurrentTx", "reservation_id"));
	else
		core_fail(r, EVC_ERR_CONFLICT, "busy", "the connector's session changed meanwhile; retry");
	PQclear(res);
}

static void start_in_transaction(struct app *app, PGconn *conn, const char *station_id, json_t *input,
				 const char *request_id, struct core_result *r)
{
	PGresult *found = find_booking(app, conn, station_id, input), *opened = NULL;
	if (!db_ok(found, "ocpp_find_booking")) {
		coredb_error(r, conn, found, request_id);
		goto done;
	}
	const char *reservation = PQntuples(found) == 1 ? PQgetvalue(found, 0, 0) : NULL;
	if (!db_command(conn, "SAVEPOINT session")) {
		coredb_unavailable(r, request_id);
		goto done;
	}
	opened = open_session(conn, station_id, reservation, input);
	if (db_sqlstate_is(opened, DB_UNIQUE_VIOLATION)) {
		if (db_command(conn, "ROLLBACK TO SAVEPOINT session"))
			concurrent(conn, station_id, input, request_id, r);
		else
			coredb_unavailable(r, request_id);
	} else if (!db_ok(opened, "ocpp_open_session")) {
		coredb_error(r, conn, opened, request_id);
	} else if (PQntuples(opened) == 0) {
		core_fail(r, EVC_ERR_INVALID, "invalid_field", "connectorId is not a charger of this station");
	} else {
		core_ok(r, json_pack("{s:i, s:s, s:s?}", "transaction_id", atoi(PQgetvalue(opened, 0, 0)), "status",
				     reservation != NULL ? "Accepted" : "Invalid", "reservation_id", reservation));
	}
done:
	PQclear(found);
	PQclear(opened);
}

enum evc_err sessions_start(struct app *app, const struct actor *actor, json_t *input, const char *request_id,
			    struct core_result *r)
{
	if (policy_check_station(actor, POLICY_CHARGING_SESSION, actor->id, request_id, r) != EVC_OK)
		return r->err;
	if (!meter_in_range(input, "meterStart"))
		return core_fail(r, EVC_ERR_INVALID, "invalid_field", "meterStart must be 0 to 10^12 Wh");
	PGconn *conn = db_acquire(app->db, APP_DB_WAIT_MS);
	if (conn == NULL)
		return coredb_unavailable(r, request_id);
	if (!db_command(conn, "BEGIN"))
		coredb_unavailable(r, request_id);
	else
		start_in_transaction(app, conn, actor->id, input, request_id, r);
	coredb_end(conn, request_id, r);
	db_release(app->db, conn);
	if (r->err == EVC_OK)
		log_info("event=ocpp_session_started req=%s station=%s transaction=%lld reservation=%s status=%s",
			 request_id, actor->id, (long long)json_integer_value(json_object_get(r->body, "transaction_id")),
			 json_is_string(json_object_get(r->body, "reservation_id"))
				 ? json_string_value(json_object_get(r->body, "reservation_id")) : "-",
			 json_string_value(json_object_get(r->body, "status")));
	return r->err;
}

static size_t count_samples(json_t *meter_values)
{
	size_t n = 0, i;
	json_t *mv;
	json_array_foreach(meter_values, i, mv) {
		n += json_array_size(json_object_get(mv, "sampledValue"));
	}
	return n;
}

enum evc_err sessions_meter(struct app *app, const struct actor *actor, json_t *input, const char *request_id,
			    struct core_result *r)
{
	static const char sql[] =
		"INSERT INTO ocpp_meter_values (transaction_id, station_id, charger, sampled_at, measurand, value, unit)"
		" SELECT (SELECT id FROM ocpp_transactions WHERE id = $4::int AND station_id = $1), $1, $2::int,"
		" (mv->>'timestamp')::timestamptz, coalesce(sv->>'measurand', 'Energy.Active.Import.Register'),"
		" sv->>'value', sv->>'unit'"
		" FROM jsonb_array_elements($3::jsonb) mv, jsonb_array_elements(mv->'sampledValue') sv"
		" WHERE EXISTS (SELECT 1 FROM stations WHERE id = $1 AND $2::int BETWEEN 0 AND chargers)";
	if (policy_check_station(actor, POLICY_CHARGER_REPORT, actor->id, request_id, r) != EVC_OK)
		return r->err;
	json_t *values = json_object_get(input, "meterValue");
	size_t samples = count_samples(values);
	if (samples > BOUNDS_OCPP_SAMPLES_MAX)
		return core_fail(r, EVC_ERR_TOO_LARGE, "too_many_samples", "at most %d sampled values per message",
				 BOUNDS_OCPP_SAMPLES_MAX);
	char connector[24], tx[24];
	int_text(input, "connectorId", connector, sizeof(connector));
	int_text(input, "transactionId", tx, sizeof(tx));
	char *text = json_dumps(values, JSON_COMPACT);
	const char *params[] = { actor->id, connector, text, json_object_get(input, "transactionId") != NULL ? tx : NULL };
	PGconn *conn = db_acquire(app->db, APP_DB_WAIT_MS);
	if (conn == NULL) {
		free(text);
		return coredb_unavailable(r, request_id);
	}
	PGresult *res = db_exec(conn, sql, 4, params);
	if (!db_ok(res, "ocpp_meter_values"))
		coredb_error(r, conn, res, request_id);
	else if (atol(PQcmdTuples(res)) == 0 && samples > 0)
		core_fail(r, EVC_ERR_INVALID, "invalid_field", "connectorId is not a charger of this station");
	else
		core_ok(r, json_pack("{s:i}", "stored", atoi(PQcmdTuples(res))));
	PQclear(res);
	db_release(app->db, conn);
	free(text);
	if (r->err == EVC_OK)
		log_debug("event=ocpp_meter_values req=%s station=%s transaction=%s samples=%zu", request_id, actor->id,
			  params[3] != NULL ? tx : "-", samples);
	return r->err;
}

/* In the open transaction: closes the session and finishes its booking. */
static void stop_in_transaction(PGconn *conn, const char *station_id, json_t *input, const char *request_id,
				struct core_result *r)
{
	static const char sql[] =
		"WITH t AS (UPDATE ocpp_transactions t SET meter_stop = $3::bigint, stopped_at = $4::timestamptz,"
		"   stop_reason = $5, energy_wh = $3::bigint - t.meter_start,"
		"   cost = round(($3::bigint - t.meter_start) / 1000.0 * s.price_per_kwh, 2)"
		"   FROM stations s WHERE t.id = $2::int AND t.station_id = $1 AND s.id = t.station_id"
		"   AND t.stopped_at IS NULL AND $3::bigint >= t.meter_start"
		"   RETURNING t.id, t.reservation_id, t.energy_wh, t.cost, t.started_at),"
		" r AS (UPDATE reservations x SET status = 'completed', energy_wh = t.energy_wh, cost = t.cost,"
		"   charged_from = t.started_at, charged_to = $4::timestamptz, updated_at = now()"
		"   FROM t WHERE x.id = t.reservation_id AND x.status = 'confirmed' RETURNING x.id)"
		" SELECT json_build_object('transaction_id', t.id, 'energy_wh', t.energy_wh, 'cost', t.cost,"
		"   'reservation_id', (SELECT id FROM r)) FROM t";
	char tx[24], meter[24];
	int_text(input, "transactionId", tx, sizeof(tx));
	int_text(input, "meterStop", meter, sizeof(meter));
	const char *params[] = { station_id, tx, meter, json_string_value(json_object_get(input, "timestamp")),
				 json_string_value(json_object_get(input, "reason")) };
	PGresult *res = db_exec(conn, sql, 5, params);
	if (!db_ok(res, "ocpp_stop"))
		coredb_error(r, conn, res, request_id);
	else if (PQntuples(res) == 0)
		core_fail(r, EVC_ERR_NOT_FOUND, "not_found",
			  "no open transaction %s at this station with a meterStart at or below meterStop", tx);
	else
		core_ok_text(r, PQgetvalue(res, 0, 0));
	PQclear(res);
}

enum evc_err sessions_stop(struct app *app, const struct actor *actor, json_t *input, const char *request_id,
			   struct core_result *r)
{
	if (policy_check_station(actor, POLICY_CHARGING_SESSION, actor->id, request_id, r) != EVC_OK)
		return r->err;
	if (!meter_in_range(input, "meterStop"))
		return core_fail(r, EVC_ERR_INVALID, "invalid_field", "meterStop must be 0 to 10^12 Wh");
	PGconn *conn = db_acquire(app->db, APP_DB_WAIT_MS);
	if (conn == NULL)
		return coredb_unavailable(r, request_id);
	if (!db_command(conn, "BEGIN"))
		coredb_unavailable(r, request_id);
	else
		stop_in_transaction(conn, actor->id, input, request_id, r);
	coredb_end(conn, request_id, r);
	db_release(app->db, conn);
	if (r->err != EVC_OK)
		return r->err;
	json_t *b = r->body;
	log_info("event=ocpp_session_stopped req=%s station=%s transaction=%lld reservation=%s energy_wh=%lld cost=%s",
		 request_id, actor->id, (long long)json_integer_value(json_object_get(b, "transaction_id")),
		 json_is_string(json_object_get(b, "reservation_id")) ? json_string_value(json_object_get(b, "reservation_id")) : "-",
		 (long long)json_integer_value(json_object_get(b, "energy_wh")),
		 json_is_number(json_object_get(b, "cost")) ? "set" : "-");
	waitlist_wake(app); /* the charger is free: the queue first */
	return r->err;
}
