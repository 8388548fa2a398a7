#include "booking.h"
#include "db.h"
#include "log.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Attempts beyond the first: each lost race means one more charger taken meanwhile. */
#define BOOKING_MAX_RETRIES 8

/*
 * One statement: the station must be active, and the charger the lowest one
 * with no live overlapping reservation in this statement's snapshot. A racing
 * insert on the same charger makes this one wait, then fail on the exclusion
 * constraint (or on lock_timeout when the other is a prepared transaction).
 */
static const char insert_sql[] =
	"INSERT INTO reservations (station_id, charger, car_id, trip_id, during)"
	" SELECT s.id, g.n, $2, $3::uuid, tstzrange($4::timestamptz, $5::timestamptz)"
	" FROM stations s, generate_series(1, s.chargers) AS g(n)"
	" WHERE s.id = $1 AND s.status = 'active' AND NOT EXISTS ("
	"   SELECT 1 FROM reservations r WHERE r.station_id = s.id AND r.charger = g.n"
	"   AND r.status IN ('held', 'confirmed')"
	"   AND r.during && tstzrange($4::timestamptz, $5::timestamptz))"
	" ORDER BY g.n LIMIT 1"
	" RETURNING id, reservation_json(reservations)";

static bool lost_race(const PGresult *res)
{
	return db_sqlstate_is(res, DB_EXCLUSION_VIOLATION) || db_sqlstate_is(res, DB_LOCK_NOT_AVAILABLE);
}

/* Why nothing was inserted: no station, a station not bookable, or no free charger. */
static enum booking_outcome diagnose(PGconn *conn, const struct booking_window *w, PGresult **failed)
{
	const char *params[] = { w->station_id };
	PGresult *res = db_exec(conn, "SELECT status FROM stations WHERE id = $1", 1, params);
	if (!db_ok(res, "booking_diagnose")) {
		*failed = res;
		return BOOKING_DB_ERROR;
	}
	enum booking_outcome outcome = PQntuples(res) == 0                          ? BOOKING_UNKNOWN_STATION
				       : strcmp(PQgetvalue(res, 0, 0), "active") != 0 ? BOOKING_STATION_UNAVAILABLE
										      : BOOKING_NO_CHARGER;
	PQclear(res);
	return outcome;
}

enum booking_outcome booking_reserve(PGconn *conn, const struct booking_window *w, PGresult **booked,
				     PGresult **failed)
{
	const char *params[] = { w->station_id, w->car_id, w->trip_id, w->start, w->end };
	bool in_transaction = PQtransactionStatus(conn) == PQTRANS_INTRANS;
	*booked = NULL;
	*failed = NULL;

	for (int attempt = 0; attempt <= BOOKING_MAX_RETRIES; attempt++) {
		if (in_transaction && !db_command(conn, "SAVEPOINT booking"))
			break;
		PGresult *res = db_exec(conn, insert_sql, 5, params);
		if (db_ok(res, "booking_insert")) {
			if (in_transaction && !db_command(conn, "RELEASE SAVEPOINT booking")) {
				PQclear(res);
				break;
			}
			if (PQntuples(res) == 1) {
				*booked = res;
				return BOOKING_OK;
			}
			PQclear(res);
			return diagnose(conn, w, failed);
		}
		if (!lost_race(res)) {
			*failed = res;
			return BOOKING_DB_ERROR;
		}
		PQclear(res);
		log_debug("event=booking_race station=%s attempt=%d", w->station_id, attempt);
		if (in_transaction && !db_command(conn, "ROLLBACK TO SAVEPOINT booking"))
			break;
	}
	/* Still losing after every retry: the window is as good as taken. */
	if (PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) != PQTRANS_INERROR)
		return BOOKING_NO_CHARGER;
	*failed = PQmakeEmptyPGresult(conn, PGRES_FATAL_ERROR);
	return BOOKING_DB_ERROR;
}

char *booking_alternatives(PGconn *conn, const struct booking_window *w, int max)
{
	static const char sql[] =
		"SELECT coalesce(json_agg(json_build_object('start', rfc3339(window_start),"
		" 'end', rfc3339(window_end))), '[]'::json)"
		" FROM free_windows($1, $2::timestamptz, $3::timestamptz, $4::int)";
	char max_text[16];
	snprintf(max_text, sizeof(max_text), "%d", max);
	const char *params[] = { w->station_id, w->start, w->end, max_text };
	PGresult *res = db_exec(conn, sql, 4, params);
	char *text = db_ok(res, "booking_alternatives") ? strdup(PQgetvalue(res, 0, 0)) : NULL;
	PQclear(res);
	return text;
}
