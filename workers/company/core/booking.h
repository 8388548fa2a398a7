/*
 * Booking one charging window on one of this company's stations. The database
 * settles every race: the exclusion constraint refuses an overlapping live
 * reservation, and a lost race is retried on the next free charger.
 */
#ifndef EVC_BOOKING_H
#define EVC_BOOKING_H

#include <libpq-fe.h>

enum booking_outcome {
	BOOKING_OK,
	BOOKING_UNKNOWN_STATION,
	BOOKING_STATION_UNAVAILABLE, /* maintenance or offline */
	BOOKING_NO_CHARGER,          /* every charger is taken in that window */
	BOOKING_DB_ERROR,            /* *failed holds the result */
	BOOKING_CAR_LIMIT,           /* booking_reserve_single only: the car holds its most live reservations */
};

struct booking_window {
	const char *station_id;
	const char *car_id;
	const char *trip_id; /* NULL for a single booking */
	const char *start;   /* RFC 3339 UTC */
	const char *end;
	const char *connector; /* the car's connector type (validate_connector): only such chargers; NULL: any */
};

/*
 * Inserts a confirmed reservation on the lowest free charger (of w->connector's
 * type, when given), in one statement
 * when no race is lost, else trying the free chargers in turn. Works in autocommit, or inside the
 * caller's transaction (then each try is wrapped in a savepoint). On BOOKING_OK, *booked is the row (columns id, json; caller
 * PQclears). On BOOKING_DB_ERROR, *failed is the failed result (caller PQclears).
 */
enum booking_outcome booking_reserve(PGconn *conn, const struct booking_window *w, PGresult **booked,
				     PGresult **failed);

/*
 * A single booking (w->trip_id NULL) in one statement and one commit, in
 * autocommit: the car's limit of car_max live reservations (0: none) counted
 * under its advisory lock, the lowest charger free in the snapshot, the insert
 * (db/migrations/014_speed.sql). BOOKING_OK with *booked (columns id, json;
 * caller PQclears), BOOKING_CAR_LIMIT, BOOKING_DB_ERROR with *failed (caller
 * PQclears), or BOOKING_NO_CHARGER when nothing was written and the full path
 * must decide: no charger free in the snapshot, a race lost to another
 * booking, or a station unknown or not active.
 */
enum booking_outcome booking_reserve_single(PGconn *conn, const struct booking_window *w, int car_max,
					    PGresult **booked, PGresult **failed);

/*
 * The nearest free windows of the same length, as a JSON array text of
 * {"start","end"} (malloc'd, caller frees), or NULL on a database error.
 */
char *booking_alternatives(PGconn *conn, const struct booking_window *w, int max);

#endif
