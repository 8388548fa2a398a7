#include "booking.h"
#include "db.h"
#include "log.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/*
 * The station's state and its chargers free in this snapshot, lowest first
 * (a charger whose last OCPP status is Faulted or Unavailable is not free).
 * Rows of transactions not yet committed (or prepared) are invisible here: the
 * insert below settles those races, against the exclusion constraint.
 */
static const char candidates_sql[] =
	"SELECT s.status, array_to_string(ARRAY("
	"  SELECT g.n FROM generate_series(1, s.chargers) AS g(n)"
	"  WHERE ($4::text IS NULL OR s.connectors[g.n] = $4) AND NOT ocpp_charger_out(s.id, g.n) AND NOT EXISTS ("
	"    SELECT 1 FROM reservations r WHERE r.station_id = s.id AND r.charger = g.n"
	"    AND r.status IN ('held', 'confirmed')"
	"    AND r.during && tstzrange($2::timestamptz, $3::timestamptz))"
	"  ORDER BY g.n), ',')"
	" FROM stations s WHERE s.id = $1";

static const char insert_sql[] =
	"INSERT INTO reservations (station_id, charger, car_id, trip_id, during)"
	" VALUES ($1, $2::int, $3, $4::uuid, tstzrange($5::timestamptz, $6::timestamptz))"
	" RETURNING id, reservation_json(reservations)";

/*
 * A racing insert on the same charger makes ours wait, then fail on the
 * exclusion constraint: that charger is taken, try the next. Two inserts that
 * race for one free charger may also wait on each other (each checks the
 * constraint against the other's new row): PostgreSQL breaks that deadlock by
 * failing one (40P01), or, when lock_timeout comes first, both time out. So a
 * deadlock retries the same charger, and a lock timeout retries it once after a
 * random pause; a second timeout means a transaction really holds it (a
 * prepared one, say), and the next charger is tried.
 */
#define SAME_CHARGER_TRIES 3

enum attempt { ATTEMPT_BOOKED, ATTEMPT_TAKEN, ATTEMPT_AGAIN, ATTEMPT_FAILED };

static enum attempt classify(const PGresult *res, int timeouts)
{
	if (db_sqlstate_is(res, DB_EXCLUSION_VIOLATION))
		return ATTEMPT_TAKEN;
	if (db_sqlstate_is(res, DB_DEADLOCK_DETECTED))
		return ATTEMPT_AGAIN;
	if (db_sqlstate_is(res, DB_LOCK_NOT_AVAILABLE))
		return timeouts == 0 ? ATTEMPT_AGAIN : ATTEMPT_TAKEN;
	return ATTEMPT_FAILED;
}

static void jitter(void)
{
	struct timespec pause = { 0, (long)(10 + rand() % 50) * 1000000L };
	nanosleep(&pause, NULL);
}

/* Inserts on one charger; in a transaction each try is wrapped in a savepoint. */
static enum booking_outcome try_charger(PGconn *conn, const struct booking_window *w, const char *charger,
					bool in_transaction, PGresult **booked, PGresult **failed)
{
	const char *params[] = { w->station_id, charger, w->car_id, w->trip_id, w->start, w->end };
	int timeouts = 0;
	for (int attempt = 0; attempt < SAME_CHARGER_TRIES; attempt++) {
		if (in_transaction && !db_command(conn, "SAVEPOINT booking"))
			goto broken;
		PGresult *res = db_exec(conn, insert_sql, 6, params);
		if (db_ok(res, "booking_insert")) {
			if (in_transaction && !db_command(conn, "RELEASE SAVEPOINT booking")) {
				PQclear(res);
				goto broken;
			}
			*booked = res;
			return BOOKING_OK;
		}
		enum attempt what = classify(res, timeouts);
		if (what == ATTEMPT_FAILED) {
			*failed = res;
			return BOOKING_DB_ERROR;
		}
		timeouts += db_sqlstate_is(res, DB_LOCK_NOT_AVAILABLE);
		PQclear(res);
		log_debug("event=booking_race station=%s charger=%s outcome=%s", w->station_id, charger,
			  what == ATTEMPT_TAKEN ? "taken" : "again");
		if (in_transaction && !db_command(conn, "ROLLBACK TO SAVEPOINT booking"))
			goto broken;
		if (what == ATTEMPT_TAKEN)
			break;
		jitter();
	}
	return BOOKING_NO_CHARGER;
broken:
	*failed = PQmakeEmptyPGresult(conn, PGRES_FATAL_ERROR);
	return BOOKING_DB_ERROR;
}

/*
 * The common case in one statement: the lowest charger free in this
 * statement's snapshot. Any race (a charger taken meanwhile, or held by a row
 * no snapshot can see) falls back to trying the free chargers one by one.
 */
static const char fast_sql[] =
	"INSERT INTO reservations (station_id, charger, car_id, trip_id, during)"
	" SELECT s.id, g.n, $2, $3::uuid, tstzrange($4::timestamptz, $5::timestamptz)"
	" FROM stations s, generate_series(1, s.chargers) AS g(n)"
	" WHERE s.id = $1 AND s.status = 'active' AND ($6::text IS NULL OR s.connectors[g.n] = $6)"
	" AND NOT ocpp_charger_out(s.id, g.n) AND NOT EXISTS ("
	"   SELECT 1 FROM reservations r WHERE r.station_id = s.id AND r.charger = g.n"
	"   AND r.status IN ('held', 'confirmed')"
	"   AND r.during && tstzrange($4::timestamptz, $5::timestamptz))"
	" ORDER BY g.n LIMIT 1"
	" RETURNING id, reservation_json(reservations)";

/* BOOKING_OK with *booked, BOOKING_NO_CHARGER to fall back, or BOOKING_DB_ERROR with *failed. */
static enum booking_outcome try_fast(PGconn *conn, const struct booking_window *w, bool in_transaction,
				     PGresult **booked, PGresult **failed)
{
	const char *params[] = { w->station_id, w->car_id, w->trip_id, w->start, w->end, w->connector };
	if (in_transaction && !db_command(conn, "SAVEPOINT booking"))
		goto broken;
	PGresult *res = db_exec(conn, fast_sql, 6, params);
	if (db_ok(res, "booking_fast") && PQntuples(res) == 1) {
		if (in_transaction && !db_command(conn, "RELEASE SAVEPOINT booking")) {
			PQclear(res);
			goto broken;
		}
		*booked = res;
		return BOOKING_OK;
	}
	bool raced = PQresultStatus(res) == PGRES_TUPLES_OK || classify(res, 0) != ATTEMPT_FAILED;
	if (!raced) {
		*failed = res;
		return BOOKING_DB_ERROR;
	}
	PQclear(res);
	if (in_transaction && !db_command(conn, "ROLLBACK TO SAVEPOINT booking"))
		goto broken;
	return BOOKING_NO_CHARGER;
broken:
	*failed = PQmakeEmptyPGresult(conn, PGRES_FATAL_ERROR);
	return BOOKING_DB_ERROR;
}

enum booking_outcome booking_reserve(PGconn *conn, const struct booking_window *w, PGresult **booked,
				     PGresult **failed)
{
	bool in_transaction = PQtransactionStatus(conn) == PQTRANS_INTRANS;
	*booked = NULL;
	*failed = NULL;

	enum booking_outcome outcome = try_fast(conn, w, in_transaction, booked, failed);
	if (outcome != BOOKING_NO_CHARGER)
		return outcome;

	/* Nothing inserted: why, and which chargers are free now. */
	const char *params[] = { w->station_id, w->start, w->end, w->connector };
	PGresult *res = db_exec(conn, candidates_sql, 4, params);
	if (!db_ok(res, "booking_candidates")) {
		*failed = res;
		return BOOKING_DB_ERROR;
	}
	outcome = PQntuples(res) == 0                          ? BOOKING_UNKNOWN_STATION
		  : strcmp(PQgetvalue(res, 0, 0), "active") != 0 ? BOOKING_STATION_UNAVAILABLE
								 : BOOKING_NO_CHARGER;
	char free_list[512] = "";
	if (outcome == BOOKING_NO_CHARGER)
		snprintf(free_list, sizeof(free_list), "%s", PQgetvalue(res, 0, 1));
	PQclear(res);

	char *save = NULL;
	for (char *charger = strtok_r(free_list, ",", &save); charger != NULL && outcome == BOOKING_NO_CHARGER;
	     charger = strtok_r(NULL, ",", &save))
		outcome = try_charger(conn, w, charger, in_transaction, booked, failed);
	return outcome;
}

enum booking_outcome booking_reserve_single(PGconn *conn, const struct booking_window *w, int car_max,
					    PGresult **booked, PGresult **failed)
{
	static const char sql[] = "SELECT reservation_id, body, outcome"
				  " FROM book_single($1, $2, $3::timestamptz, $4::timestamptz, $5::int, $6::text)";
	char max_text[16];
	snprintf(max_text, sizeof(max_text), "%d", car_max);
	const char *params[] = { w->station_id, w->car_id, w->start, w->end, max_text, w->connector };
	*booked = NULL;
	*failed = NULL;
	PGresult *res = db_exec(conn, sql, 6, params);
	if (!db_ok(res, "booking_single")) {
		if (classify(res, 0) == ATTEMPT_FAILED || db_is_connection_error(conn, res)) {
			*failed = res;
			return BOOKING_DB_ERROR;
		}
		log_debug("event=booking_race station=%s outcome=full_path", w->station_id);
		PQclear(res);
		return BOOKING_NO_CHARGER;
	}
	const char *outcome = PQgetvalue(res, 0, 2);
	if (strcmp(outcome, "booked") == 0) {
		*booked = res;
		return BOOKING_OK;
	}
	bool limit = strcmp(outcome, "car_limit") == 0;
	PQclear(res);
	return limit ? BOOKING_CAR_LIMIT : BOOKING_NO_CHARGER;
}

char *booking_alternatives(PGconn *conn, const struct booking_window *w, int max)
{
	static const char sql[] =
		"SELECT coalesce(json_agg(json_build_object('start', rfc3339(window_start),"
		" 'end', rfc3339(window_end))), '[]'::json)"
		" FROM free_windows($1, $2::timestamptz, $3::timestamptz, $4::int, $5::text)";
	char max_text[16];
	snprintf(max_text, sizeof(max_text), "%d", max);
	const char *params[] = { w->station_id, w->start, w->end, max_text, w->connector };
	PGresult *res = db_exec(conn, sql, 5, params);
	char *text = db_ok(res, "booking_alternatives") ? strdup(PQgetvalue(res, 0, 0)) : NULL;
	PQclear(res);
	return text;
}
