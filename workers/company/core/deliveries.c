#include "deliveries.h"
#include "app.h"
#include "db.h"
#include "log.h"

#include <stdio.h>
#include <string.h>

/* Rows for windows now within the lead time; rows never sent follow their booking's charger. */
static const char prepare_sql[] =
	"WITH fresh AS (INSERT INTO ocpp_reservations (reservation_id, station_id, charger)"
	"   SELECT r.id, r.station_id, r.charger FROM reservations r"
	"   WHERE r.status = 'confirmed' AND r.station_id = ANY($1::text[])"
	"   AND lower(r.during) <= now() + make_interval(secs => $2::int) AND upper(r.during) > now()"
	"   AND r.checked_in_at IS NULL"
	"   ON CONFLICT (reservation_id) DO NOTHING RETURNING 1)"
	" UPDATE ocpp_reservations o SET charger = r.charger, updated_at = now() FROM reservations r"
	" WHERE r.id = o.reservation_id AND o.state = 'sending' AND o.attempts = 0 AND o.charger <> r.charger"
	" AND (SELECT count(*) FROM fresh) >= 0";

static const char due_sql[] =
	"SELECT coalesce(json_agg(x), '[]') FROM (SELECT"
	"  CASE WHEN r.status = 'confirmed' AND r.charger = o.charger THEN 'reserve' ELSE 'cancel' END AS kind,"
	"  o.ocpp_id, o.reservation_id, o.station_id, o.charger, ocpp_id_tag(r.car_id) AS id_tag,"
	"  rfc3339(upper(r.during)) AS expiry, (r.status = 'confirmed' AND r.charger <> o.charger) AS moved, o.attempts"
	" FROM ocpp_reservations o JOIN reservations r ON r.id = o.reservation_id"
	" WHERE o.station_id = ANY($1::text[]) AND o.next_try <= now() AND upper(r.during) > now() AND ("
	"  (o.state = 'sending' AND r.status = 'confirmed' AND r.charger = o.charger)"
	"  OR ((o.state = 'accepted' OR (o.state = 'sending' AND o.attempts > 0))"
	"      AND NOT (r.status = 'confirmed' AND r.charger = o.charger)))"
	" ORDER BY o.next_try, o.ocpp_id LIMIT 32) x";

/* A charger refused the reservation, and the fault moved the booking: the new charger is told afresh. */
static const char refused_moved_sql[] =
	"DELETE FROM ocpp_reservations o USING reservations r"
	" WHERE r.id = o.reservation_id AND o.state = 'refused' AND r.status = 'confirmed' AND r.charger <> o.charger"
	" AND o.station_id = ANY($1::text[])";

/* A booking that ended before any ReserveNow left needs no call. */
static const char unsent_sql[] =
	"UPDATE ocpp_reservations o SET state = 'cancelled', answer = 'never_sent', updated_at = now()"
	" FROM reservations r WHERE r.id = o.reservation_id AND o.state = 'sending' AND o.attempts = 0"
	" AND r.status <> 'confirmed'";

json_t *deliveries_due(struct app *app, const char *connected)
{
	PGconn *conn = db_acquire(app->db, APP_DB_WAIT_MS);
	if (conn == NULL) {
		log_warn("event=db_unavailable what=ocpp_deliveries");
		return NULL;
	}
	char lead[16];
	snprintf(lead, sizeof(lead), "%d", app->cfg.ocpp_reserve_lead_seconds);
	const char *params[] = { connected, lead };
	json_t *out = NULL;
	PGresult *refused = db_exec(conn, refused_moved_sql, 1, params), *prep = NULL, *unsent = NULL, *due = NULL;
	if (!db_ok(refused, "ocpp_deliveries_refused"))
		goto done;
	prep = db_exec(conn, prepare_sql, 2, params);
	if (!db_ok(prep, "ocpp_deliveries_prepare"))
		goto done;
	unsent = db_exec(conn, unsent_sql, 0, NULL);
	if (!db_ok(unsent, "ocpp_deliveries_unsent"))
		goto done;
	due = db_exec(conn, due_sql, 1, params);
	if (db_ok(due, "ocpp_deliveries_due"))
		out = json_loads(PQgetvalue(due, 0, 0), 0, NULL);
done:
	if (out == NULL)
		log_warn("event=ocpp_deliveries_failed stations=%s", connected);
	PQclear(refused);
	PQclear(prep);
	PQclear(unsent);
	PQclear(due);
	db_release(app->db, conn);
	return out;
}

void deliveries_record(struct app *app, json_t *item, const char *answer)
{
	static const char answered_sql[] =
		"UPDATE ocpp_reservations SET attempts = attempts + 1, answer = $3, updated_at = now(),"
		" state = CASE WHEN $2 = 'cancel' THEN 'cancelled' WHEN $3 = 'Accepted' THEN 'accepted' ELSE 'refused' END"
		" WHERE ocpp_id = $1::int";
	static const char moved_sql[] = "DELETE FROM ocpp_reservations WHERE ocpp_id = $1::int";
	static const char silent_sql[] =
		"UPDATE ocpp_reservations SET attempts = attempts + 1, updated_at = now(),"
		" next_try = now() + make_interval(secs => least(60, 2 ^ attempts)),"
		" state = CASE WHEN attempts + 1 < $3::int THEN state WHEN $2 = 'cancel' THEN 'cancelled' ELSE 'refused' END,"
		" answer = CASE WHEN attempts + 1 < $3::int THEN answer ELSE 'no_answer' END"
		" WHERE ocpp_id = $1::int";
	const char *kind = json_string_value(json_object_get(item, "kind"));
	bool moved = json_is_true(json_object_get(item, "moved"));
	char id[24], tries[16];
	snprintf(id, sizeof(id), "%lld", (long long)json_integer_value(json_object_get(item, "ocpp_id")));
	snprintf(tries, sizeof(tries), "%d", 1 + app->cfg.ocpp_call_retries);
	const char *params[] = { id, kind, answer != NULL ? answer : tries };
	const char *sql = answer == NULL ? silent_sql : strcmp(kind, "cancel") == 0 && moved ? moved_sql : answered_sql;
	PGconn *conn = db_acquire(app->db, APP_DB_WAIT_MS);
	if (conn == NULL) {
		log_warn("event=db_unavailable what=ocpp_delivery_record ocpp_id=%s", id);
		return;
	}
	PGresult *res = db_exec(conn, sql, sql == moved_sql ? 1 : 3, params);
	if (!db_ok(res, "ocpp_delivery_record"))
		log_warn("event=ocpp_delivery_record_failed ocpp_id=%s kind=%s", id, kind);
	PQclear(res);
	db_release(app->db, conn);
}
