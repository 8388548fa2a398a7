#include "reservations.h"
#include "app.h"
#include "booking.h"
#include "bounds.h"
#include "coredb.h"
#include "jsonx.h"
#include "log.h"
#include "policy.h"
#include "timeutil.h"
#include "validate.h"
#include "waitlist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALTERNATIVES 3

/* Reads an RFC 3339 time field; false with r filled when absent or malformed. */
static bool read_time(json_t *input, const char *key, int64_t *epoch, struct core_result *r)
{
	struct jsonx_error err;
	const char *text;
	if (!jsonx_string(input, key, true, 64, &text, &err)) {
		core_fail(r, EVC_ERR_INVALID, err.code, "%s", err.message);
		return false;
	}
	if (!timeutil_parse_rfc3339(text, epoch)) {
		core_fail(r, EVC_ERR_INVALID, "invalid_field",
			  "field '%s' must be an RFC 3339 time like 2026-11-23T08:00:00Z (years 2000 to 2099)", key);
		return false;
	}
	return true;
}

static enum evc_err car_limit_reached(struct app *app, const char *car, struct core_result *r)
{
	return core_fail(r, EVC_ERR_CONFLICT, "car_limit_reached",
			 "car '%s' already holds %d live reservations here, the most a car may (EVC_CAR_MAX_RESERVATIONS)",
			 car, app->cfg.car_max_reservations);
}

/* The car's live future single bookings here, against EVC_CAR_MAX_RESERVATIONS. */
static enum evc_err check_car_limit(struct app *app, PGconn *conn, const char *car, const char *request_id,
				    struct core_result *r)
{
	static const char sql[] = "SELECT count(*) FROM reservations WHERE car_id = $1 AND trip_id IS NULL"
				  " AND status IN ('held', 'confirmed') AND upper(during) > now()";
	int max = app->cfg.car_max_reservations;
	if (max == 0)
		return EVC_OK;
	const char *params[] = { car };
	PGresult *res = db_exec(conn, sql, 1, params);
	if (!db_ok(res, "car_reservation_count"))
		coredb_error(r, conn, res, request_id);
	else if (atol(PQgetvalue(res, 0, 0)) >= max)
		car_limit_reached(app, car, r);
	PQclear(res);
	return r->err;
}

static void no_charger(PGconn *conn, const struct booking_window *w, struct core_result *r)
{
	char *alternatives = booking_alternatives(conn, w, ALTERNATIVES);
	json_t *alts = alternatives != NULL ? json_loads(alternatives, 0, NULL) : NULL;
	free(alternatives);
	core_fail_extra(r, EVC_ERR_CONFLICT, "no_charger_free",
			json_pack("{s:o}", "alternatives", alts != NULL ? alts : json_array()),
			"every charger%s%s of '%s' is booked from %s to %s", w->connector ? " of type " : "",
			w->connector ? w->connector : "", w->station_id, w->start, w->end);
}

/* Fills r from a booking's outcome (booked and failed borrowed). */
static void answer(struct app *app, PGconn *conn, const struct booking_window *w, enum booking_outcome outcome,
		   const PGresult *booked, const PGresult *failed, const char *request_id, struct core_result *r)
{
	switch (outcome) {
	case BOOKING_OK:
		log_info("event=reservation_created req=%s reservation=%s station=%s car=%s start=%s end=%s", request_id,
			 PQgetvalue(booked, 0, 0), w->station_id, w->car_id, w->start, w->end);
		core_ok_text(r, PQgetvalue(booked, 0, 1));
		r->created = true;
		snprintf(r->location, sizeof(r->location), "/reservations/%s", PQgetvalue(booked, 0, 0));
		break;
	case BOOKING_UNKNOWN_STATION:
		core_fail(r, EVC_ERR_NOT_FOUND, "not_found", "no such station");
		break;
	case BOOKING_STATION_UNAVAILABLE:
		core_fail(r, EVC_ERR_CONFLICT, "station_unavailable", "station '%s' is not taking reservations now",
			  w->station_id);
		break;
	case BOOKING_NO_CHARGER:
		no_charger(conn, w, r);
		break;
	case BOOKING_CAR_LIMIT:
		car_limit_reached(app, w->car_id, r);
		break;
	case BOOKING_DB_ERROR:
		coredb_error(r, conn, failed, request_id);
		break;
	}
}

/* Books w on conn, in its open transaction or in autocommit; fills r. */
static void book(struct app *app, PGconn *conn, const struct booking_window *w, const char *request_id,
		 struct core_result *r)
{
	PGresult *booked = NULL, *failed = NULL;
	enum booking_outcome outcome = booking_reserve(conn, w, &booked, &failed);
	answer(app, conn, w, outcome, booked, failed, request_id, r);
	PQclear(booked);
	PQclear(failed);
}

enum evc_err reservations_read(const struct config *cfg, json_t *input, int64_t now, struct reservation_request *out,
			       struct core_result *r)
{
	struct jsonx_error err;
	char owner[VALIDATE_COMPANY_MAX + 1];
	memset(out, 0, sizeof(*out));
	if (!jsonx_string(input, "station_id", true, VALIDATE_STATION_MAX, &out->station_id, &err) ||
	    !jsonx_string(input, "car_id", false, VALIDATE_CAR_MAX, &out->car_id, &err) ||
	    !jsonx_string(input, "connector", false, 32, &out->connector, &err))
		return core_fail(r, EVC_ERR_INVALID, err.code, "%s", err.message);
	if (out->connector != NULL && !validate_connector(out->connector))
		return core_fail(r, EVC_ERR_INVALID, "invalid_field", "field 'connector' must be " VALIDATE_CONNECTORS);
	if (!read_time(input, "start", &out->start, r) || !read_time(input, "end", &out->end, r))
		return r->err;
	const char *problem = bounds_window(cfg, out->start, out->end, now);
	if (problem != NULL)
		return core_fail(r, EVC_ERR_INVALID, "invalid_window", "%s", problem);
	if (!validate_station_company(out->station_id, owner, sizeof(owner)))
		return core_fail(r, EVC_ERR_NOT_FOUND, "not_found", "no such station");
	if (strcmp(owner, cfg->company_id) != 0)
		return core_fail(r, EVC_ERR_NOT_FOUND, "not_found",
				 "station '%s' belongs to company '%s': book it on that company's server, or as a leg of POST /api/v1/trips",
				 out->station_id, owner);
	return EVC_OK;
}

/*
 * The hot path is one statement (booking_reserve_single): limit, charger,
 * insert, one commit. Only when it booked nothing for a reason it cannot tell
 * (a race lost, no charger free, a station unknown or closed) does the full
 * path run: a transaction under the car's lock that tries each free charger
 * and explains a refusal.
 */
static void book_with_limit(struct app *app, PGconn *conn, const struct booking_window *w, const char *request_id,
			    struct core_result *r)
{
	PGresult *booked = NULL, *failed = NULL;
	enum booking_outcome outcome =
		booking_reserve_single(conn, w, app->cfg.car_max_reservations, &booked, &failed);
	if (outcome != BOOKING_NO_CHARGER)
		answer(app, conn, w, outcome, booked, failed, request_id, r);
	PQclear(booked);
	PQclear(failed);
	if (outcome != BOOKING_NO_CHARGER)
		return;
	if (app->cfg.car_max_reservations == 0) {
		book(app, conn, w, request_id, r);
	} else if (coredb_begin_car(conn, w->car_id, request_id, r) == EVC_OK) {
		if (check_car_limit(app, conn, w->car_id, request_id, r) == EVC_OK)
			book(app, conn, w, request_id, r);
		coredb_end(conn, request_id, r);
	}
}

enum evc_err reservations_create(struct app *app, const struct actor *actor, json_t *input, const char *request_id,
				 struct core_result *r)
{
	struct reservation_request in;
	const char *car;

	if (policy_check(actor, POLICY_RESERVATION_CREATE, NULL, request_id, r) != EVC_OK ||
	    reservations_read(&app->cfg, input, timeutil_now(), &in, r) != EVC_OK ||
	    policy_booking_car(actor, in.car_id, &car, request_id, r) != EVC_OK)
		return r->err;
	const char *station_id = in.station_id;
	int64_t start = in.start, end = in.end;

	char start_text[TIMEUTIL_RFC3339_LEN], end_text[TIMEUTIL_RFC3339_LEN];
	timeutil_format_rfc3339(start, start_text);
	timeutil_format_rfc3339(end, end_text);
	struct booking_window w = { station_id, car, NULL, start_text, end_text, in.connector };
	PGconn *conn = db_acquire(app->db, APP_DB_WAIT_MS);
	if (conn == NULL)
		return coredb_unavailable(r, request_id);
	book_with_limit(app, conn, &w, request_id, r);
	db_release(app->db, conn);
	return r->err;
}

/* The policy for action on one reservation, its owner checked for a car. */
static enum evc_err authorize(struct app *app, const struct actor *actor, enum policy_action action, const char *id,
			      const char *request_id, struct core_result *r)
{
	static const char owner_sql[] = "SELECT car_id FROM reservations WHERE id = $1::uuid";
	return coredb_authorize_item(app, actor, action, owner_sql, id, "no such reservation", request_id, r);
}

enum evc_err reservations_get(struct app *app, const struct actor *actor, const char *id, const char *request_id,
			      struct core_result *r)
{
	static const char sql[] = "SELECT reservation_json(r) FROM reservations r WHERE r.id = $1::uuid";
	if (authorize(app, actor, POLICY_RESERVATION_READ, id, request_id, r) != EVC_OK)
		return r->err;
	const char *params[] = { id };
	return coredb_query_json(app, r, "no such reservation", sql, 1, params, request_id);
}

/* Why a cancel changed nothing: already cancelled (idempotent), unknown, a trip's leg, or over. */
static void explain_not_cancelled(PGconn *conn, const char *id, const char *request_id, struct core_result *r)
{
	static const char sql[] =
		"SELECT status, trip_id IS NOT NULL, reservation_json(r) FROM reservations r WHERE id = $1::uuid";
	const char *params[] = { id };
	PGresult *res = db_exec(conn, sql, 1, params);
	if (!db_ok(res, "reservation_current"))
		coredb_error(r, conn, res, request_id);
	else if (PQntuples(res) == 0)
		core_fail(r, EVC_ERR_NOT_FOUND, "not_found", "no such reservation");
	else if (strcmp(PQgetvalue(res, 0, 0), "cancelled") == 0)
		core_ok_text(r, PQgetvalue(res, 0, 2));
	else if (strcmp(PQgetvalue(res, 0, 1), "t") == 0)
		core_fail(r, EVC_ERR_CONFLICT, "part_of_trip", "this reservation is a leg of a trip: cancel the trip instead");
	else
		core_fail(r, EVC_ERR_CONFLICT, "conflict", "a %s reservation cannot be cancelled", PQgetvalue(res, 0, 0));
	PQclear(res);
}

enum evc_err reservations_cancel(struct app *app, const struct actor *actor, const char *id, const char *request_id,
				 struct core_result *r)
{
	static const char sql[] = "UPDATE reservations SET status = 'cancelled', updated_at = now()"
				  " WHERE id = $1::uuid AND status IN ('held', 'confirmed') AND trip_id IS NULL"
				  " RETURNING reservation_json(reservations)";
	if (authorize(app, actor, POLICY_RESERVATION_CANCEL, id, request_id, r) != EVC_OK)
		return r->err;
	PGconn *conn = db_acquire(app->db, APP_DB_WAIT_MS);
	if (conn == NULL)
		return coredb_unavailable(r, request_id);
	const char *params[] = { id };
	PGresult *res = db_exec(conn, sql, 1, params);
	if (!db_ok(res, "reservation_cancel")) {
		coredb_error(r, conn, res, request_id);
	} else if (PQntuples(res) == 1) {
		char who[ACTOR_DESCRIBE_MAX];
		log_info("event=reservation_cancelled req=%s reservation=%s actor=%s", request_id, id,
			 actor_describe(actor, who));
		core_ok_text(r, PQgetvalue(res, 0, 0));
		waitlist_wake(app); /* a charger is free: the queue first */
	} else {
		explain_not_cancelled(conn, id, request_id, r);
	}
	PQclear(res);
	db_release(app->db, conn);
	return r->err;
}

enum evc_err reservations_checkin(struct app *app, const struct actor *actor, const char *id, const char *request_id,
				  struct core_result *r)
{
	static const char sql[] =
		"UPDATE reservations SET checked_in_at = coalesce(checked_in_at, now()), updated_at = now()"
		" WHERE id = $1::uuid AND status IN ('held', 'confirmed') AND upper(during) > now()"
		" RETURNING reservation_json(reservations)";
	if (authorize(app, actor, POLICY_RESERVATION_CHECKIN, id, request_id, r) != EVC_OK)
		return r->err;
	const char *params[] = { id };
	return coredb_query_json(app, r, "no live reservation with that id (unknown, over, cancelled or expired)", sql,
				 1, params, request_id);
}
