#include "twopc.h"
#include "bounds.h"
#include "app.h"
#include "booking.h"
#include "failpoint.h"
#include "federation.h"
#include "log.h"
#include "ticker.h"
#include "timeutil.h"
#include "validate.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define PREPARE_LOCK_TIMEOUT "200ms" /* a leg held by another trip's prepare is a quick no */
#define IN_DOUBT_AFTER "2 seconds"  /* younger prepared transactions are still in flight */
#define STALE_AFTER "5 seconds"     /* a decided trip of a live sibling not finished by then is re-driven */
#define MAX_FLIGHTS 4096            /* distributed transactions one process drives at once */
#define TWOPC_SENDERS 8             /* threads that send a decision's commits or aborts side by side */
/* The phases of a trip whose current transaction is not finished. */
#define UNFINISHED "('preparing', 'committing', 'aborting', 'cancelling', 'finishing')"
/*
 * True for the trip row t when the process that drives it is gone: its row in
 * worker_instances is deleted (a process took its place) or, when $judge, it
 * has not beaten for $orphan seconds. judge is false until this process's own
 * beats have succeeded that long: after a database outage every row is old.
 */
#define GONE_SQL(orphan, judge) \
	"NOT EXISTS (SELECT 1 FROM worker_instances w WHERE w.instance = t.instance" \
	" AND (NOT " judge "::boolean OR w.last_seen > now() - make_interval(secs => " orphan "::int)))"
#define ALTERNATIVE_KM "80"

/* ---- Global transaction ids ---------------------------------------------------- */

static char op_letter(const char *op)
{
	return strcmp(op, "reserve") == 0 ? 'r' : strcmp(op, "cancel") == 0 ? 'c' : strcmp(op, "finish") == 0 ? 'f' : 0;
}

static const char *op_name(char letter)
{
	return letter == 'r' ? "reserve" : letter == 'c' ? "cancel" : letter == 'f' ? "finish" : NULL;
}

bool twopc_gid_make(const char *coordinator, const char *trip_id, const char *op, char gid[TWOPC_GID_MAX])
{
	char hex[33];
	size_t n = 0;
	if (!validate_company_id(coordinator) || !validate_uuid(trip_id) || op_letter(op) == 0)
		return false;
	for (const char *p = trip_id; *p; p++)
		if (*p != '-')
			hex[n++] = (char)(*p | 0x20);
	hex[n] = '\0';
	unsigned char salt[4];
	if (getrandom(salt, sizeof(salt), 0) != (ssize_t)sizeof(salt))
		return false;
	/* The salt gives each cancel or finish attempt of one trip its own gid. */
	snprintf(gid, TWOPC_GID_MAX, "evc_%s_%s_%c%02x%02x%02x%02x", coordinator, hex, op_letter(op), salt[0], salt[1],
		 salt[2], salt[3]);
	return true;
}

bool twopc_gid_parse(const char *gid, char *coordinator, size_t coordinator_size, char trip_id[37])
{
	if (strncmp(gid, "evc_", 4) != 0)
		return false;
	const char *c = gid + 4;
	const char *sep = strchr(c, '_');
	if (sep == NULL || (size_t)(sep - c) >= coordinator_size || (size_t)(sep - c) > VALIDATE_COMPANY_MAX)
		return false;
	memcpy(coordinator, c, (size_t)(sep - c));
	coordinator[sep - c] = '\0';
	const char *hex = sep + 1;
	if (!validate_company_id(coordinator) || strspn(hex, "0123456789abcdef") != 32 || hex[32] != '_' ||
	    op_name(hex[33]) == NULL || strspn(hex + 34, "0123456789abcdef") != 8 || hex[42] != '\0')
		return false;
	snprintf(trip_id, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
	return true;
}

bool twopc_gid_valid(const char *gid)
{
	char coordinator[VALIDATE_COMPANY_MAX + 1], trip[37];
	return strlen(gid) < TWOPC_GID_MAX && twopc_gid_parse(gid, coordinator, sizeof(coordinator), trip);
}

static const char *gid_op(const char *gid)
{
	return op_name(gid[strlen(gid) - 9]);
}

/* ---- Participant ---------------------------------------------------------------- */

static void answer(struct peer_response *out, long status, json_t *body)
{
	out->status = status;
	out->body = body;
}

static void answer_error(struct peer_response *out, long status, const char *code, const char *message)
{
	answer(out, status, json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message));
}

/*
 * Runs "<command> '<gid>'": gid is validated, and quoted by libpq, since these
 * commands take no parameters.
 */
static PGresult *gid_command(PGconn *conn, const char *command, const char *gid)
{
	char *literal = PQescapeLiteral(conn, gid, strlen(gid));
	if (literal == NULL)
		return PQmakeEmptyPGresult(conn, PGRES_FATAL_ERROR);
	char sql[TWOPC_GID_MAX * 2 + 32];
	snprintf(sql, sizeof(sql), "%s %s", command, literal);
	PQfreemem(literal);
	return db_exec(conn, sql, 0, NULL);
}

/* 1 when the query on gid returns a row, 0 when not, -1 on error. */
static int gid_exists(PGconn *conn, const char *sql, const char *gid)
{
	const char *params[] = { gid };
	PGresult *res = db_exec(conn, sql, 1, params);
	int rc = db_ok(res, "gid_exists") ? PQntuples(res) > 0 : -1;
	PQclear(res);
	return rc;
}

/* A committed transaction's marker; an abort's tombstone is not one. */
static const char marker_sql[] = "SELECT 1 FROM tx_markers WHERE gid = $1 AND op <> 'aborted'";
static const char tombstone_sql[] = "SELECT 1 FROM tx_markers WHERE gid = $1 AND op = 'aborted'";

/* Alternatives for a leg that cannot be had: other windows here, other stations nearby. */
static json_t *leg_alternatives(PGconn *conn, const struct booking_window *w)
{
	static const char stations_sql[] =
		"SELECT coalesce(json_agg(json_build_object('station_id', station_id, 'city', city,"
		" 'km', round(km::numeric, 1), 'start', rfc3339($2::timestamptz), 'end', rfc3339($3::timestamptz))),"
		" '[]'::json) FROM nearby_free_stations($1, $2::timestamptz, $3::timestamptz, " ALTERNATIVE_KM ", 3)";
	char *windows = booking_alternatives(conn, w, 3);
	const char *params[] = { w->station_id, w->start, w->end };
	PGresult *res = db_exec(conn, stations_sql, 3, params);
	json_t *stations = db_ok(res, "nearby_stations") ? json_loads(PQgetvalue(res, 0, 0), 0, NULL) : NULL;
	PQclear(res);
	json_t *alts = json_pack("{s:o, s:o}", "windows", windows ? json_loads(windows, 0, NULL) : json_array(),
				 "stations", stations ? stations : json_array());
	free(windows);
	return alts;
}

/* Books every leg inside the open transaction; false with *out set when one cannot be had. */
static bool book_legs(PGconn *conn, json_t *legs, const char *car_id, const char *trip_id, json_t *booked,
		      struct peer_response *out)
{
	size_t i;
	json_t *leg;
	json_array_foreach(legs, i, leg) {
		struct booking_window w = {
			json_string_value(json_object_get(leg, "station_id")), car_id, trip_id,
			json_string_value(json_object_get(leg, "start")), json_string_value(json_object_get(leg, "end")),
			json_string_value(json_object_get(leg, "connector")),
		};
		PGresult *ok = NULL, *failed = NULL;
		enum booking_outcome outcome = booking_reserve(conn, &w, &ok, &failed);
		if (outcome == BOOKING_OK) {
			json_array_append_new(booked, json_loads(PQgetvalue(ok, 0, 1), 0, NULL));
			PQclear(ok);
			continue;
		}
		bool db_down = outcome == BOOKING_DB_ERROR && db_is_connection_error(conn, failed);
		PQclear(failed);
		if (!db_command(conn, "ROLLBACK") || db_down) {
			answer_error(out, 503, "unavailable", "the database is unavailable");
			return false;
		}
		const char *code = outcome == BOOKING_UNKNOWN_STATION       ? "unknown_station"
				   : outcome == BOOKING_STATION_UNAVAILABLE ? "station_unavailable"
				   : outcome == BOOKING_NO_CHARGER          ? "no_charger_free"
									    : "internal";
		char message[256];
		snprintf(message, sizeof(message), "%s: %s from %s to %s", code, w.station_id, w.start, w.end);
		answer(out, outcome == BOOKING_DB_ERROR ? 500 : 409,
		       json_pack("{s:s, s:I, s:s, s:o, s:{s:s, s:s}}", "vote", "no", "failed_leg",
				 (json_int_t)json_integer_value(json_object_get(leg, "index")), "station_id", w.station_id,
				 "alternatives", leg_alternatives(conn, &w), "error", "code", code, "message", message));
		return false;
	}
	return true;
}

/* Cancels or completes the trip's live legs here, inside the open transaction. */
static bool update_legs(PGconn *conn, const char *op, const char *trip_id, json_t *changed, struct peer_response *out)
{
	static const char sql[] =
		"UPDATE reservations SET status = $2, updated_at = now()"
		" WHERE trip_id = $1::uuid AND status IN ('held', 'confirmed')"
		" RETURNING reservation_json(reservations)";
	const char *params[] = { trip_id, strcmp(op, "cancel") == 0 ? "cancelled" : "completed" };
	PGresult *res = db_exec(conn, sql, 2, params);
	bool ok = db_ok(res, "update_legs");
	for (int i = 0; ok && i < PQntuples(res); i++)
		json_array_append_new(changed, json_loads(PQgetvalue(res, i, 0), 0, NULL));
	if (!ok) {
		bool busy = db_sqlstate_is(res, DB_LOCK_NOT_AVAILABLE);
		answer_error(out, busy ? 409 : 503, busy ? "busy" : "unavailable",
			     busy ? "the trip's reservations are locked by another transaction" : "the database is unavailable");
	}
	PQclear(res);
	return ok;
}

/*
 * Only the company that reserved a trip's legs here may change them: the
 * coordinator named in the reserve's marker, which was the authenticated peer
 * (or this company) when it prepared. False with out filled otherwise.
 */
static bool owns_trip(PGconn *conn, const char *trip_id, const char *coordinator, const char *request_id,
		      struct peer_response *out)
{
	static const char sql[] = "SELECT coordinator FROM tx_markers WHERE trip_id = $1::uuid AND op = 'reserve'";
	const char *params[] = { trip_id };
	PGresult *res = db_exec(conn, sql, 1, params);
	bool ok = db_ok(res, "trip_owner");
	if (!ok)
		answer_error(out, 503, "unavailable", "the database is unavailable");
	else if (PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), coordinator) != 0) {
		log_warn("event=refused req=%s actor=peer:%s action=trip.change trip=%s coordinator=%s", request_id,
			 coordinator, trip_id, PQgetvalue(res, 0, 0));
		answer_error(out, 403, "forbidden", "only the company that booked this trip's legs may change them");
		ok = false;
	}
	PQclear(res);
	if (!ok && !db_command(conn, "ROLLBACK"))
		log_warn("event=rollback_failed req=%s trip=%s", request_id, trip_id);
	return ok;
}

/* A 409 vote no: the car's key names another trip, kept by coordinator. */
static void answer_key_named(struct peer_response *out, const char *trip_id, const char *coordinator)
{
	answer(out, 409, json_pack("{s:s, s:s, s:s, s:{s:s, s:s}}", "vote", "no", "key_trip_id", trip_id, "key_coordinator",
				   coordinator, "error", "code", "duplicate_key", "message",
				   "this car's Idempotency-Key names another trip"));
}

/* The trip a key names here, read after an insert met it: into out as a 409 vote no. */
static void answer_key_taken(PGconn *conn, const char *car_id, const char *key, struct peer_response *out)
{
	static const char sql[] = "SELECT trip_id, coordinator FROM trip_keys WHERE car_id = $1 AND idempotency_key = $2";
	const char *params[] = { car_id, key };
	PGresult *res = db_exec(conn, sql, 2, params);
	if (db_ok(res, "trip_key") && PQntuples(res) == 1)
		answer_key_named(out, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
	else
		answer_error(out, 503, "unavailable", "the database is unavailable");
	PQclear(res);
}

static void answer_key_in_progress(struct peer_response *out)
{
	answer(out, 409, json_pack("{s:s, s:{s:s, s:s}}", "vote", "no", "error", "code", "in_progress", "message",
				   "another trip with this car's Idempotency-Key is still being decided"));
}

/* Logs a refused key claim (out filled) and rolls the open transaction back. */
static void key_refused(PGconn *conn, const char *car_id, const char *key, const char *trip_id, const char *request_id,
			const struct peer_response *out)
{
	if (out->status == 503)
		log_warn("event=twopc_key_failed req=%s trip=%s car=%s reason=database", request_id, trip_id, car_id);
	else
		log_info("event=twopc_key_taken req=%s trip=%s car=%s key=%s status=%ld", request_id, trip_id, car_id, key,
			 out->status);
	if (!db_command(conn, "ROLLBACK"))
		log_warn("event=rollback_failed req=%s trip=%s", request_id, trip_id);
}

/*
 * Records the trip's (car, key) inside the open transaction, so a second trip
 * with the same car and key, from any coordinator, meets it. While the first
 * trip's transaction is undecided the insert waits for it (half the peer
 * timeout), so the answer is that trip's outcome. False with out set and the
 * transaction rolled back: 409 `duplicate_key` naming the trip the key belongs
 * to, or 409 `in_progress` when its transaction stayed undecided.
 */
static bool claim_key(struct app *app, PGconn *conn, const char *car_id, const char *key, const char *trip_id,
		      const char *coordinator, const char *request_id, struct peer_response *out)
{
	char wait[32];
	snprintf(wait, sizeof(wait), "%dms", app->cfg.peer_timeout_ms / 2);
	const char *wait_params[] = { wait }, *reset_params[] = { PREPARE_LOCK_TIMEOUT };
	const char *params[] = { car_id, key, trip_id, coordinator };
	PGresult *set = db_exec(conn, "SELECT set_config('lock_timeout', $1, true)", 1, wait_params);
	PGresult *res = db_exec(conn,
				"INSERT INTO trip_keys (car_id, idempotency_key, trip_id, coordinator)"
				" VALUES ($1, $2, $3::uuid, $4) ON CONFLICT DO NOTHING RETURNING 1",
				4, params);
	PGresult *reset = db_exec(conn, "SELECT set_config('lock_timeout', $1, true)", 1, reset_params);
	bool ok = db_ok(set, "key_wait") && db_ok(res, "trip_key") && db_ok(reset, "lock_timeout");
	bool claimed = ok && PQntuples(res) == 1, waited_out = db_sqlstate_is(res, DB_LOCK_NOT_AVAILABLE);
	PQclear(set);
	PQclear(res);
	PQclear(reset);
	if (claimed)
		return true;
	if (ok)
		answer_key_taken(conn, car_id, key, out);
	else if (waited_out)
		answer_key_in_progress(out);
	else
		answer_error(out, 503, "unavailable", "the database is unavailable");
	key_refused(conn, car_id, key, trip_id, request_id, out);
	return false;
}

/* One leg of a prepare, normalised into legs; false when it is not one of ours with a valid window. */
static bool read_prepare_leg(const struct config *cfg, json_t *leg, json_t *legs, int64_t *start, int64_t *end)
{
	char owner[VALIDATE_COMPANY_MAX + 1], s[TIMEUTIL_RFC3339_LEN], e[TIMEUTIL_RFC3339_LEN];
	const char *sid = json_string_value(json_object_get(leg, "station_id"));
	json_t *index = json_object_get(leg, "index"), *connector = json_object_get(leg, "connector");
	if (connector != NULL && !validate_connector(json_string_value(connector) ?: ""))
		return false;
	if (sid == NULL || !validate_station_company(sid, owner, sizeof(owner)) || strcmp(owner, cfg->company_id) != 0 ||
	    !json_is_integer(index) || !timeutil_parse_rfc3339(json_string_value(json_object_get(leg, "start")) ?: "", start) ||
	    !timeutil_parse_rfc3339(json_string_value(json_object_get(leg, "end")) ?: "", end) || *end <= *start)
		return false;
	timeutil_format_rfc3339(*start, s);
	timeutil_format_rfc3339(*end, e);
	json_array_append_new(legs, json_pack("{s:O, s:s, s:s, s:s}", "index", index, "station_id", sid, "start", s, "end", e));
	if (connector != NULL)
		json_object_set(json_array_get(legs, json_array_size(legs) - 1), "connector", connector);
	return true;
}

bool twopc_read_prepare(const struct config *cfg, json_t *request, int64_t now, struct twopc_prepare_request *q,
			struct peer_response *out)
{
	char gid_coordinator[VALIDATE_COMPANY_MAX + 1], gid_trip[37];
	memset(q, 0, sizeof(*q));
	memset(out, 0, sizeof(*out));
	q->gid = json_string_value(json_object_get(request, "gid"));
	q->trip_id = json_string_value(json_object_get(request, "trip_id"));
	q->coordinator = json_string_value(json_object_get(request, "coordinator"));
	q->op = json_string_value(json_object_get(request, "op"));
	q->car_id = json_string_value(json_object_get(request, "car_id"));
	json_t *key = json_object_get(request, "idempotency_key");
	q->key = json_string_value(key);
	json_t *in = json_object_get(request, "legs");
	if (q->gid == NULL || q->trip_id == NULL || q->coordinator == NULL || q->op == NULL || q->car_id == NULL ||
	    !twopc_gid_parse(q->gid, gid_coordinator, sizeof(gid_coordinator), gid_trip) ||
	    strcmp(gid_coordinator, q->coordinator) != 0 || strcasecmp(gid_trip, q->trip_id) != 0 ||
	    strcmp(gid_op(q->gid), q->op) != 0 || !validate_car_id(q->car_id) || !json_is_array(in) ||
	    (key != NULL && (q->key == NULL || !validate_idempotency_key(q->key)))) {
		answer_error(out, 400, "invalid_request",
			     "prepare needs gid, trip_id, coordinator, op, car_id and legs that agree (and a valid idempotency_key, "
			     "when sent)");
		return false;
	}
	q->legs = json_array();
	size_t i;
	json_t *leg;
	json_array_foreach(in, i, leg) {
		int64_t s, e;
		if (!read_prepare_leg(cfg, leg, q->legs, &s, &e)) {
			answer_error(out, 400, "invalid_leg",
				     "every leg needs index, start, end and a station of this company (and a connector "
				     VALIDATE_CONNECTORS ", when sent)");
			break;
		}
		/* A peer's window follows the rules of a local booking. */
		if (strcmp(q->op, "reserve") == 0 && (q->window_problem = bounds_window(cfg, s, e, now)) != NULL) {
			answer_error(out, 400, "invalid_window", q->window_problem);
			break;
		}
	}
	if (out->status == 0)
		return true;
	json_decref(q->legs);
	q->legs = NULL;
	return false;
}

/*
 * The full prepare, statement by statement: the transaction begun, the marker,
 * the key, the legs booked or changed. True with the transaction open and
 * reservations filled; false with out set (a repeat's 200, a no, a 503).
 */
static bool full_prepare(struct app *app, PGconn *conn, const struct twopc_prepare_request *q, const char *request_id,
			 json_t *reservations, struct peer_response *out)
{
	const char *gid = q->gid, *trip_id = q->trip_id, *coordinator = q->coordinator, *op = q->op;
	const char *lock_params[] = { PREPARE_LOCK_TIMEOUT };
	PGresult *res = NULL;
	if (!db_command(conn, "BEGIN") ||
	    !db_ok(res = db_exec(conn, "SELECT set_config('lock_timeout', $1, true)", 1, lock_params), "lock_timeout")) {
		PQclear(res);
		answer_error(out, 503, "unavailable", "the database is unavailable");
		return false;
	}
	PQclear(res);
	if (strcmp(op, "reserve") != 0 && !owns_trip(conn, trip_id, coordinator, request_id, out))
		return false;

	/*
	 * The marker first: a repeated prepare meets the first one's marker, taken
	 * (committed) or locked by the prepared transaction, and the vote stands.
	 */
	const char *marker_params[] = { gid, trip_id, coordinator, op };
	res = db_exec(conn, "INSERT INTO tx_markers (gid, trip_id, coordinator, op) VALUES ($1, $2::uuid, $3, $4)", 4,
		      marker_params);
	bool repeated = db_sqlstate_is(res, DB_UNIQUE_VIOLATION) || db_sqlstate_is(res, DB_LOCK_NOT_AVAILABLE);
	bool ok = db_ok(res, "marker");
	PQclear(res);
	if (repeated) {
		/* The first prepare's marker, or the tombstone of an abort that came first. */
		int tombstone = db_command(conn, "ROLLBACK") ? gid_exists(conn, tombstone_sql, gid) : -1;
		if (tombstone < 0)
			answer_error(out, 503, "unavailable", "the database is unavailable");
		else if (tombstone == 1)
			answer_error(out, 409, "aborted", "the coordinator already aborted this transaction");
		else
			answer(out, 200, json_pack("{s:s, s:b, s:[]}", "vote", "yes", "already", true, "reservations"));
		return false;
	}
	if (!ok) {
		answer_error(out, 503, "unavailable", "the participant could not prepare");
		return false;
	}
	if (q->key != NULL && strcmp(op, "reserve") == 0 &&
	    !claim_key(app, conn, q->car_id, q->key, trip_id, coordinator, request_id, out))
		return false;
	return strcmp(op, "reserve") == 0 ? book_legs(conn, q->legs, q->car_id, trip_id, reservations, out)
					  : update_legs(conn, op, trip_id, reservations, out);
}

/* What the one-statement reserve left: ready to prepare, answered (rolled back), or take the full path. */
enum fast_prepare { FAST_READY, FAST_ANSWERED, FAST_FALLBACK };

/*
 * A reserve in one statement (twopc_prepare_reserve, 021_trip_path.sql) after
 * BEGIN: the marker, the key, every leg on the lowest free charger. Anything
 * but a booking or a key's answer (a repeat, a lost race, no charger free in
 * its snapshot) is rolled back and left to full_prepare, which sorts it out.
 */
static enum fast_prepare fast_prepare(struct app *app, PGconn *conn, const struct twopc_prepare_request *q,
				      const char *request_id, json_t *reservations, struct peer_response *out)
{
	static const char sql[] = "SELECT outcome, reservations, key_trip, key_coordinator"
				  " FROM twopc_prepare_reserve($1, $2::uuid, $3, $4, $5, $6, $7, $8::json)";
	char wait[32];
	snprintf(wait, sizeof(wait), "%dms", app->cfg.peer_timeout_ms / 2);
	char *legs_text = json_dumps(q->legs, JSON_COMPACT);
	const char *params[] = { q->gid, q->trip_id, q->coordinator, q->car_id, q->key, wait, PREPARE_LOCK_TIMEOUT, legs_text };
	if (legs_text == NULL || !db_command(conn, "BEGIN")) {
		free(legs_text);
		return FAST_FALLBACK;
	}
	PGresult *res = db_exec(conn, sql, 8, params);
	free(legs_text);
	bool done = db_ok(res, "prepare_reserve") && PQntuples(res) == 1;
	const char *outcome = done ? PQgetvalue(res, 0, 0) : "";
	enum fast_prepare f = FAST_ANSWERED;
	if (strcmp(outcome, "prepared") == 0) {
		json_t *booked = json_loads(PQgetvalue(res, 0, 1), 0, NULL);
		f = json_array_extend(reservations, booked) == 0 ? FAST_READY : FAST_FALLBACK;
		json_decref(booked);
	} else if (strcmp(outcome, "key_taken") == 0 && !PQgetisnull(res, 0, 2)) {
		answer_key_named(out, PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 3));
	} else if (strcmp(outcome, "key_in_progress") == 0) {
		answer_key_in_progress(out);
	} else if (strcmp(outcome, "key_taken") == 0 || (!done && db_is_connection_error(conn, res))) {
		answer_error(out, 503, "unavailable", "the database is unavailable");
	} else {
		f = FAST_FALLBACK;
	}
	PQclear(res);
	if (f == FAST_FALLBACK)
		json_array_clear(reservations);
	if (f == FAST_ANSWERED) {
		key_refused(conn, q->car_id, q->key ? q->key : "-", q->trip_id, request_id, out);
	} else if (f == FAST_FALLBACK && !db_command(conn, "ROLLBACK")) {
		answer_error(out, 503, "unavailable", "the database is unavailable");
		f = FAST_ANSWERED;
	}
	return f;
}

void twopc_prepare(struct app *app, json_t *request, const char *request_id, struct peer_response *out)
{
	struct twopc_prepare_request q;
	if (!twopc_read_prepare(&app->cfg, request, timeutil_now(), &q, out)) {
		if (q.window_problem != NULL)
			log_warn("event=prepare_refused req=%s gid=%s coordinator=%s reason=\"%s\"", request_id, q.gid, q.coordinator,
				 q.window_problem);
		return;
	}
	PGconn *conn = db_acquire(app->db, APP_DB_WAIT_MS);
	if (conn == NULL) {
		answer_error(out, 503, "unavailable", "the database is unavailable");
		json_decref(q.legs);
		return;
	}
	json_t *reservations = json_array();
	enum fast_prepare f = strcmp(q.op, "reserve") == 0 ? fast_prepare(app, conn, &q, request_id, reservations, out)
							    : FAST_FALLBACK;
	bool ok = f == FAST_READY || (f == FAST_FALLBACK && full_prepare(app, conn, &q, request_id, reservations, out));
	if (ok) {
		PGresult *res = gid_command(conn, "PREPARE TRANSACTION", q.gid);
		ok = db_ok(res, "prepare");
		PQclear(res);
		if (!ok)
			answer_error(out, 503, "unavailable", "the participant could not prepare");
	}
	if (ok) {
		log_debug("event=twopc_prepared req=%s gid=%s trip=%s op=%s legs=%zu", request_id, q.gid, q.trip_id, q.op,
			  json_array_size(q.legs));
		failpoint_hit(FAILPOINT_PARTICIPANT_AFTER_PREPARE);
		answer(out, 200, json_pack("{s:s, s:O}", "vote", "yes", "reservations", reservations));
	} else if (out->status != 200) {
		log_info("event=twopc_vote_no req=%s gid=%s trip=%s status=%ld", request_id, q.gid, q.trip_id, out->status);
	}
	json_decref(reservations);
	db_release(app->db, conn);
	json_decref(q.legs);
	if (out->status == 200)
		failpoint_hit(FAILPOINT_PARTICIPANT_SLOW_PREPARE); /* tests: a participant slow to send its vote */
}

/*
 * Finishes a prepared transaction here (commit or abort), idempotently. On the
 * relaxed pool: should a crash lose the COMMIT/ROLLBACK PREPARED, the
 * transaction is prepared again after restart and recovery repeats it.
 */
static void finish_prepared(struct app *app, const char *gid, bool commit, struct peer_response *out)
{
	memset(out, 0, sizeof(*out));
	if (!twopc_gid_valid(gid)) {
		answer_error(out, 400, "invalid_gid", "malformed transaction id");
		return;
	}
	PGconn *conn = db_acquire(app->db_relaxed, APP_DB_WAIT_MS);
	if (conn == NULL) {
		answer_error(out, 503, "unavailable", "the database is unavailable");
		return;
	}
	for (int attempt = 0; attempt < 20 && out->status == 0; attempt++) {
		/* The common case first: it is prepared. Only a failure needs a closer look. */
		PGresult *res = gid_command(conn, commit ? "COMMIT PREPARED" : "ROLLBACK PREPARED", gid);
		bool done = db_ok(res, "finish_prepared");
		bool missing = db_sqlstate_is(res, DB_UNDEFINED_OBJECT);
		bool lost = !done && !missing && db_is_connection_error(conn, res);
		PQclear(res);
		if (done) {
			char coordinator[VALIDATE_COMPANY_MAX + 1], trip[37];
			if (!twopc_gid_parse(gid, coordinator, sizeof(coordinator), trip))
				trip[0] = '\0';
			/* A leg booked here is a business event; an undone attempt is not. */
			log_write(commit ? LOG_LEVEL_INFO : LOG_LEVEL_DEBUG, "event=twopc_%s gid=%s trip=%s",
				  commit ? "committed" : "rolled_back", gid, trip);
			answer(out, 200, json_pack("{s:s, s:s}", "gid", gid, "state", commit ? "committed" : "aborted"));
			continue;
		}
		if (lost) {
			answer_error(out, 503, "unavailable", "the database is unavailable");
			continue;
		}
		if (!missing) {
			/* Busy in another session: look again in a moment. */
			struct timespec pause = { 0, 50 * 1000000L };
			nanosleep(&pause, NULL);
			continue;
		}
		/*
		 * Not prepared (any more). An abort leaves a tombstone, so a prepare
		 * still on its way votes no when it arrives; a lock timeout means that
		 * prepare holds the marker right now: look again.
		 */
		if (!commit) {
			char coordinator[VALIDATE_COMPANY_MAX + 1], trip[37];
			const char *tomb_params[] = { gid, trip, coordinator };
			if (!twopc_gid_parse(gid, coordinator, sizeof(coordinator), trip))
				break;
			res = db_exec(conn,
				      "INSERT INTO tx_markers (gid, trip_id, coordinator, op) VALUES ($1, $2::uuid, $3, 'aborted')"
				      " ON CONFLICT (gid) DO NOTHING",
				      3, tomb_params);
			bool busy = db_sqlstate_is(res, DB_LOCK_NOT_AVAILABLE);
			PQclear(res);
			if (busy)
				continue;
		}
		int committed = gid_exists(conn, marker_sql, gid);
		if (committed < 0)
			answer_error(out, 503, "unavailable", "the database is unavailable");
		else if (commit == (committed == 1))
			answer(out, 200, json_pack("{s:s, s:s}", "gid", gid, "state", committed ? "committed" : "aborted"));
		else
			answer(out, 409, json_pack("{s:s, s:s, s:{s:s, s:s}}", "gid", gid, "state",
						   committed ? "committed" : "aborted", "error", "code", "conflict", "message",
						   committed ? "already committed" : "not prepared here, or already rolled back"));
	}
	if (out->status == 0)
		answer_error(out, 503, "unavailable", "the prepared transaction stayed busy");
	db_release(app->db_relaxed, conn);
}

void twopc_commit(struct app *app, const char *gid, struct peer_response *out)
{
	finish_prepared(app, gid, true, out);
}

void twopc_abort(struct app *app, const char *gid, struct peer_response *out)
{
	finish_prepared(app, gid, false, out);
}

/* ---- What this process drives right now ---------------------------------------- */

struct twopc {
	pthread_mutex_t lock;
	char (*flights)[TWOPC_GID_MAX]; /* gids a request of this process drives now, unordered */
	size_t count, capacity;
	time_t beats_ok_since;   /* since when every beat succeeded; 0 after a failed one */
	struct db_pool *beat_db; /* the heartbeat's own connection: no load delays a beat */
	/* Senders of commits and aborts side by side (drive); each keeps its curl handle alive. */
	pthread_mutex_t send_lock;
	pthread_cond_t send_work;
	struct send_job *send_head;
	bool send_stop;
	int send_free; /* sender threads idle and not yet given a job */
	int senders;
	pthread_t sender[TWOPC_SENDERS];
};

/* One commit or abort a sender thread sends, for a drive that waits on its batch. */
struct send_job {
	struct app *app;
	const char *company, *path, *request_id;
	json_t *body; /* owned by the job */
	struct peer_response out;
	struct send_batch *batch;
	struct send_job *next;
};

struct send_batch {
	pthread_mutex_t lock;
	pthread_cond_t done;
	size_t left;
};

static void call_participant(struct app *app, const char *company, const char *path, json_t *body,
			     const char *request_id, struct peer_response *out);

static void *sender_main(void *arg)
{
	struct twopc *t = arg;
	for (;;) {
		pthread_mutex_lock(&t->send_lock);
		t->send_free++;
		while (t->send_head == NULL && !t->send_stop)
			pthread_cond_wait(&t->send_work, &t->send_lock);
		struct send_job *job = t->send_head;
		if (job != NULL)
			t->send_head = job->next;
		pthread_mutex_unlock(&t->send_lock);
		if (job == NULL)
			return NULL; /* stopping, nothing left */
		call_participant(job->app, job->company, job->path, job->body, job->request_id, &job->out);
		pthread_mutex_lock(&job->batch->lock);
		if (--job->batch->left == 0)
			pthread_cond_signal(&job->batch->done);
		pthread_mutex_unlock(&job->batch->lock);
	}
}

/*
 * Sends jobs[0..n) side by side: all but the last through the sender threads
 * that are idle, the rest on the calling thread; returns when every one has its
 * answer. A job never waits for a busy sender (a peer that hangs holds only the
 * senders already talking to it), so with none idle it is one after the other.
 */
static void send_all(struct twopc *t, struct send_job *jobs, size_t n)
{
	if (n == 0)
		return;
	struct send_batch batch = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, n - 1 };
	pthread_mutex_lock(&t->send_lock);
	size_t queued = (size_t)t->send_free < n - 1 ? (size_t)t->send_free : n - 1;
	t->send_free -= (int)queued;
	batch.left = queued;
	for (size_t i = 0; i < queued; i++) {
		jobs[i].batch = &batch;
		jobs[i].next = t->send_head;
		t->send_head = &jobs[i];
	}
	if (queued > 0)
		pthread_cond_broadcast(&t->send_work);
	pthread_mutex_unlock(&t->send_lock);
	for (size_t i = queued; i < n; i++)
		call_participant(jobs[i].app, jobs[i].company, jobs[i].path, jobs[i].body, jobs[i].request_id, &jobs[i].out);
	pthread_mutex_lock(&batch.lock);
	while (queued > 0 && batch.left > 0)
		pthread_cond_wait(&batch.done, &batch.lock);
	pthread_mutex_unlock(&batch.lock);
	pthread_mutex_destroy(&batch.lock);
	pthread_cond_destroy(&batch.done);
}

bool twopc_init(struct app *app)
{
	struct twopc *t = calloc(1, sizeof(*t));
	if (t == NULL)
		return false;
	char app_name[64];
	snprintf(app_name, sizeof(app_name), "evc-worker-%s-beat", app->cfg.company_id);
	t->beat_db = db_pool_create(app->cfg.database_url, app_name, "-c statement_timeout=5s -c lock_timeout=1000", 1);
	if (t->beat_db == NULL) {
		free(t);
		return false;
	}
	pthread_mutex_init(&t->lock, NULL);
	pthread_mutex_init(&t->send_lock, NULL);
	pthread_cond_init(&t->send_work, NULL);
	while (t->senders < TWOPC_SENDERS && pthread_create(&t->sender[t->senders], NULL, sender_main, t) == 0)
		t->senders++;
	if (t->senders < TWOPC_SENDERS)
		log_warn("event=twopc_senders_short started=%d wanted=%d", t->senders, TWOPC_SENDERS);
	app->twopc = t;
	return true;
}

void twopc_cleanup(struct app *app)
{
	struct twopc *t = app->twopc;
	if (t == NULL)
		return;
	pthread_mutex_lock(&t->send_lock);
	t->send_stop = true;
	pthread_cond_broadcast(&t->send_work);
	pthread_mutex_unlock(&t->send_lock);
	for (int i = 0; i < t->senders; i++)
		pthread_join(t->sender[i], NULL);
	pthread_cond_destroy(&t->send_work);
	pthread_mutex_destroy(&t->send_lock);
	db_pool_destroy(t->beat_db);
	pthread_mutex_destroy(&t->lock);
	free(t->flights);
	free(t);
	app->twopc = NULL;
}

bool twopc_flight_begin(struct app *app, const char *gid)
{
	struct twopc *t = app->twopc;
	bool ok = true;
	pthread_mutex_lock(&t->lock);
	if (t->count == t->capacity) {
		size_t grown = t->capacity == 0 ? 64 : t->capacity * 2;
		void *bigger = grown <= MAX_FLIGHTS ? realloc(t->flights, grown * sizeof(*t->flights)) : NULL;
		if (bigger == NULL) {
			ok = false;
		} else {
			t->flights = bigger;
			t->capacity = grown;
		}
	}
	if (ok)
		snprintf(t->flights[t->count++], TWOPC_GID_MAX, "%s", gid);
	pthread_mutex_unlock(&t->lock);
	if (!ok)
		log_warn("event=twopc_too_many_in_flight gid=%s max=%d", gid, MAX_FLIGHTS);
	return ok;
}

void twopc_flight_end(struct app *app, const char *gid)
{
	struct twopc *t = app->twopc;
	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < t->count; i++) {
		if (strcmp(t->flights[i], gid) == 0) {
			if (i != t->count - 1)
				memcpy(t->flights[i], t->flights[t->count - 1], TWOPC_GID_MAX);
			t->count--;
			break;
		}
	}
	pthread_mutex_unlock(&t->lock);
}

static bool in_flight(struct app *app, const char *gid)
{
	struct twopc *t = app->twopc;
	bool found = false;
	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < t->count && !found; i++)
		found = strcmp(t->flights[i], gid) == 0;
	pthread_mutex_unlock(&t->lock);
	return found;
}

/* The gids in flight as a PostgreSQL array literal (gids are [a-z0-9_]); new string, caller frees. */
static char *flights_literal(struct app *app)
{
	struct twopc *t = app->twopc;
	pthread_mutex_lock(&t->lock);
	size_t size = 3 + t->count * TWOPC_GID_MAX, n = 0;
	char *out = malloc(size);
	if (out != NULL) {
		out[n++] = '{';
		for (size_t i = 0; i < t->count; i++)
			n += (size_t)snprintf(out + n, size - n, "%s%s", i > 0 ? "," : "", t->flights[i]);
		snprintf(out + n, size - n, "}");
	}
	pthread_mutex_unlock(&t->lock);
	return out;
}

/*
 * "true" when this process's own beats have succeeded for the orphan delay, so
 * that another process's silence means it is gone rather than that the
 * database was away; "false" otherwise (then only a deleted row means gone).
 */
static const char *judge_silence(struct app *app)
{
	struct twopc *t = app->twopc;
	pthread_mutex_lock(&t->lock);
	bool judge = t->beats_ok_since != 0 && time(NULL) - t->beats_ok_since >= app->cfg.orphan_after_seconds;
	pthread_mutex_unlock(&t->lock);
	return judge ? "true" : "false";
}

/* ---- Coordinator ---------------------------------------------------------------- */

/* Phase names of trips.status for an op: while undecided, after commit, after abort. */
static const char *phase(const char *op, const char *decision, bool finished)
{
	bool commit = decision != NULL && strcmp(decision, "commit") == 0;
	if (strcmp(op, "reserve") == 0) {
		if (decision == NULL)
			return "preparing";
		return commit ? (finished ? "confirmed" : "committing") : (finished ? "aborted" : "aborting");
	}
	if (decision != NULL && !commit)
		return "confirmed"; /* the cancel or finish will not happen: the trip stands, at once */
	if (!finished)
		return strcmp(op, "cancel") == 0 ? "cancelling" : "finishing";
	return strcmp(op, "cancel") == 0 ? "cancelled" : "finished";
}

/* The state each leg shows once its company applied the outcome. */
static const char *leg_state(const char *op, const char *decision)
{
	if (strcmp(decision, "commit") != 0)
		return strcmp(op, "reserve") == 0 ? "aborted" : "confirmed";
	return strcmp(op, "reserve") == 0 ? "confirmed" : strcmp(op, "cancel") == 0 ? "cancelled" : "completed";
}

enum outcome {
	OUTCOME_UNKNOWN, /* the database did not answer: a decision may or may not be recorded */
	OUTCOME_NO_TRIP, /* a commit was asked for, but the trip's row with this gid is not there */
	OUTCOME_COMMIT,
	OUTCOME_ABORT,
};

static const char *outcome_name(enum outcome o)
{
	return o == OUTCOME_COMMIT ? "commit" : o == OUTCOME_ABORT ? "abort" : NULL;
}

/*
 * Records want as gid's decision unless one is recorded, and in the same
 * transaction (on the synchronous pool) moves the trip's row to the winner's
 * phase, with legs when given: the decision and the row are durable together,
 * before any participant is told. One statement decides: ON CONFLICT DO UPDATE
 * returns the recorded decision even when another session wrote it after this
 * statement's snapshot, so a race never reads nothing. A commit needs the
 * trip's row with this gid (OUTCOME_NO_TRIP without it); an abort is recorded
 * whatever the row (presumed abort).
 */
static enum outcome decide(PGconn *conn, const char *gid, const char *trip_id, const char *want, const char *by,
			   json_t *legs)
{
	static const char sql[] =
		"WITH d AS (INSERT INTO tx_decisions (gid, trip_id, decision, decided_by)"
		"   SELECT $1, $2::uuid, $3, $4"
		"   WHERE $3 = 'abort' OR EXISTS (SELECT 1 FROM trips WHERE id = $2::uuid AND gid = $1)"
		"   ON CONFLICT (gid) DO UPDATE SET decision = tx_decisions.decision"
		"   RETURNING decision),"
		" t AS (UPDATE trips SET status = CASE WHEN d.decision = 'commit' THEN $5 ELSE $6 END,"
		"   legs = CASE WHEN d.decision = $3 AND $7::jsonb IS NOT NULL THEN $7::jsonb ELSE trips.legs END,"
		"   updated_at = now()"
		"   FROM d WHERE trips.id = $2::uuid AND trips.gid = $1 AND trips.status IN " UNFINISHED
		"   RETURNING trips.id)"
		" SELECT decision FROM d";
	const char *op = gid_op(gid);
	char *legs_text = legs != NULL ? json_dumps(legs, JSON_COMPACT) : NULL;
	const char *params[] = { gid, trip_id, want, by, phase(op, "commit", false), phase(op, "abort", false), legs_text };
	PGresult *res = db_exec(conn, sql, 7, params);
	enum outcome o = OUTCOME_UNKNOWN;
	if (db_ok(res, "decide"))
		o = PQntuples(res) == 0                             ? OUTCOME_NO_TRIP
		    : strcmp(PQgetvalue(res, 0, 0), "commit") == 0 ? OUTCOME_COMMIT
								   : OUTCOME_ABORT;
	PQclear(res);
	free(legs_text);
	if (o == OUTCOME_COMMIT || o == OUTCOME_ABORT)
		log_debug("event=twopc_decided gid=%s trip=%s decision=%s wanted=%s by=%s", gid, trip_id, outcome_name(o), want,
			 by);
	return o;
}

const char *twopc_decision(struct app *app, const char *gid)
{
	/* The trip's row only while its transaction gid is undecided and still its current one. */
	static const char sql[] =
		"SELECT d.decision, t.id IS NOT NULL, t.instance = $3, " GONE_SQL("$4", "$5")
		" FROM (SELECT 1) one LEFT JOIN tx_decisions d ON d.gid = $1"
		" LEFT JOIN trips t ON t.id = $2::uuid AND t.gid = $1 AND t.status IN ('preparing', 'cancelling', 'finishing')";
	char coordinator[VALIDATE_COMPANY_MAX + 1], trip_id[37], orphan[16];
	if (!twopc_gid_parse(gid, coordinator, sizeof(coordinator), trip_id))
		return NULL;
	snprintf(orphan, sizeof(orphan), "%d", app->cfg.orphan_after_seconds);
	PGconn *conn = db_acquire(app->db, APP_DB_WAIT_MS);
	if (conn == NULL)
		return NULL;
	const char *params[] = { gid, trip_id, app->instance, orphan, judge_silence(app) };
	PGresult *res = db_exec(conn, sql, 5, params);
	const char *decision = NULL;
	if (db_ok(res, "decision")) {
		bool undecided_trip = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
		bool mine = strcmp(PQgetvalue(res, 0, 2), "t") == 0, gone = strcmp(PQgetvalue(res, 0, 3), "t") == 0;
		if (!PQgetisnull(res, 0, 0))
			decision = strcmp(PQgetvalue(res, 0, 0), "commit") == 0 ? "commit" : "abort";
		else if (undecided_trip && (mine ? in_flight(app, gid) : !gone))
			decision = "pending"; /* a live request drives it: it decides */
		else /* nobody drives it: presumed abort, recorded (or the commit that just won, read back) */
			decision = outcome_name(decide(conn, gid, trip_id, "abort", "recovery", NULL));
	}
	PQclear(res);
	db_release(app->db, conn);
	return decision;
}

/* Sends one participant operation, to ourselves in-process or to a peer over REST. */
static void call_participant(struct app *app, const char *company, const char *path, json_t *body,
			     const char *request_id, struct peer_response *out)
{
	if (strcmp(company, app->cfg.company_id) == 0) {
		const char *gid = json_string_value(json_object_get(body, "gid"));
		if (strcmp(path, "/api/v1/federation/prepare") == 0)
			twopc_prepare(app, body, request_id, out);
		else if (strcmp(path, "/api/v1/federation/commit") == 0)
			twopc_commit(app, gid, out);
		else
			twopc_abort(app, gid, out);
		return;
	}
	federation_call(company, "POST", path, body, app->cfg.peer_timeout_ms, request_id, NULL, out);
	if (out->status == 401)
		federation_credentials_refused(company);
}

/* The trip's row, as the coordinator needs it to drive a transaction. */
struct trip_row {
	char car_id[VALIDATE_CAR_MAX + 1];
	char key[VALIDATE_KEY_MAX + 1];
	json_t *legs;         /* owned */
	json_t *participants; /* owned, array of company ids */
};

static bool load_trip(PGconn *conn, const char *trip_id, struct trip_row *t)
{
	const char *params[] = { trip_id };
	PGresult *res = db_exec(
		conn, "SELECT car_id, legs, array_to_json(participants), idempotency_key FROM trips WHERE id = $1::uuid", 1,
		params);
	bool ok = db_ok(res, "load_trip") && PQntuples(res) == 1;
	if (ok) {
		snprintf(t->car_id, sizeof(t->car_id), "%s", PQgetvalue(res, 0, 0));
		snprintf(t->key, sizeof(t->key), "%s", PQgetvalue(res, 0, 3));
		t->legs = json_loads(PQgetvalue(res, 0, 1), 0, NULL);
		t->participants = json_loads(PQgetvalue(res, 0, 2), 0, NULL);
		ok = t->legs != NULL && t->participants != NULL;
	}
	PQclear(res);
	return ok;
}

static void free_trip(struct trip_row *t)
{
	json_decref(t->legs);
	json_decref(t->participants);
	t->legs = t->participants = NULL;
}

/*
 * The trip's final phase, once every participant applied the decision:
 * relaxed, as recovery derives it again from the durable decision should a
 * crash lose it (the trip then shows its committing or aborting phase a little
 * longer).
 */
static void save_trip(struct app *app, const char *trip_id, const char *gid, const char *status, json_t *legs)
{
	PGconn *conn = db_acquire(app->db_relaxed, APP_DB_WAIT_MS);
	if (conn == NULL) {
		log_warn("event=trip_save_failed trip=%s status=%s reason=database", trip_id, status);
		return;
	}
	char *legs_text = json_dumps(legs, JSON_COMPACT);
	const char *params[] = { trip_id, gid, status, legs_text };
	PGresult *res = db_exec(conn,
				"UPDATE trips SET status = $3, legs = $4::jsonb, updated_at = now() WHERE id = $1::uuid AND gid = $2",
				4, params);
	if (!db_ok(res, "save_trip"))
		log_warn("event=trip_save_failed trip=%s status=%s", trip_id, status);
	PQclear(res);
	free(legs_text);
	db_release(app->db_relaxed, conn);
}

/* Marks the legs of company with the state the outcome gives them. */
static void mark_legs(json_t *legs, const char *company, const char *state)
{
	size_t k;
	json_t *leg;
	json_array_foreach(legs, k, leg) {
		if (strcmp(json_string_value(json_object_get(leg, "company")), company) == 0)
			json_object_set_new(leg, "state", json_string(state));
	}
}

/*
 * Tells the first n participants the decision; marks the legs of those that
 * acknowledged. True when all did. The first told is this company when it is
 * one of them (in-process, no HTTP), else the first participant; then the
 * others side by side (send_all): the decision is durable, so the order no
 * longer matters, and the car waits for one peer's round trip, not the sum.
 * first_done: this company's own legs committed with the decision, and it is
 * not among the n; all are told side by side.
 */
static bool drive(struct app *app, const char *gid, const char *decision, json_t *participants, size_t n,
		  json_t *legs, bool first_done, const char *request_id)
{
	const char *op = gid_op(gid);
	bool commit = strcmp(decision, "commit") == 0;
	const char *path = commit ? "/api/v1/federation/commit" : "/api/v1/federation/abort";
	struct send_job *jobs = n > 0 ? calloc(n, sizeof(*jobs)) : NULL;
	if (n > 0 && jobs == NULL)
		return false; /* recovery tells them */
	size_t first = 0;
	for (size_t i = 0; i < n; i++) {
		const char *company = json_string_value(json_array_get(participants, i));
		if (strcmp(company, app->cfg.company_id) == 0)
			first = i;
		jobs[i] = (struct send_job){ app, company, path, request_id, json_pack("{s:s}", "gid", gid), { 0, NULL, 0, false },
					     NULL, NULL };
	}
	if (first_done) {
		/* This company's legs committed with the decision (commit_here): the others side by side. */
		if (commit)
			failpoint_hit(FAILPOINT_COORDINATOR_MID_COMMIT);
		send_all(app->twopc, jobs, n);
	} else if (n > 0) {
		struct send_job head = jobs[first];
		jobs[first] = jobs[0];
		jobs[0] = head;
		call_participant(app, jobs[0].company, path, jobs[0].body, request_id, &jobs[0].out);
		if (commit)
			failpoint_hit(FAILPOINT_COORDINATOR_MID_COMMIT);
		send_all(app->twopc, jobs + 1, n - 1);
	}
	bool all = true;
	for (size_t i = 0; i < n; i++) {
		if (jobs[i].out.status == 200) {
			mark_legs(legs, jobs[i].company, leg_state(op, decision));
		} else {
			log_warn("event=twopc_%s_pending req=%s gid=%s company=%s status=%ld", decision, request_id, gid,
				 jobs[i].company, jobs[i].out.status);
			all = false;
		}
		peer_response_clear(&jobs[i].out);
		json_decref(jobs[i].body);
	}
	free(jobs);
	return all;
}

/* Copies what a yes vote says about the legs (reservation id, charger) into the trip's legs. */
static void note_reservations(json_t *legs, json_t *vote)
{
	size_t i;
	json_t *reservation;
	json_array_foreach(json_object_get(vote, "reservations"), i, reservation) {
		const char *sid = json_string_value(json_object_get(reservation, "station_id"));
		const char *start = json_string_value(json_object_get(reservation, "start"));
		size_t k;
		json_t *leg;
		json_array_foreach(legs, k, leg) {
			if (sid != NULL && start != NULL && strcmp(sid, json_string_value(json_object_get(leg, "station_id"))) == 0 &&
			    strcmp(start, json_string_value(json_object_get(leg, "start"))) == 0) {
				json_object_set(leg, "reservation_id", json_object_get(reservation, "id"));
				json_object_set(leg, "charger", json_object_get(reservation, "charger"));
				json_object_set_new(leg, "state", json_string("prepared"));
			}
		}
	}
}

/* The legs of one company, with their index in the trip, as a participant is sent them. */
static json_t *legs_of(json_t *legs, const char *company)
{
	json_t *mine = json_array();
	size_t i;
	json_t *leg;
	json_array_foreach(legs, i, leg) {
		if (strcmp(json_string_value(json_object_get(leg, "company")), company) == 0)
			json_array_append_new(mine, json_pack("{s:I, s:O, s:O, s:O, s:O*}", "index", (json_int_t)i, "station_id",
							      json_object_get(leg, "station_id"), "start",
							      json_object_get(leg, "start"), "end", json_object_get(leg, "end"),
							      "connector", json_object_get(leg, "connector")));
	}
	return mine;
}

/* A 503 that names the trip, so the client can ask about it (and is told when to retry). */
static json_t *unavailable_reply(const char *trip_id, const char *message)
{
	return json_pack("{s:s, s:{s:s, s:s}}", "trip_id", trip_id, "error", "code", "unavailable", "message", message);
}

/* Where the prepares left a transaction: the first company that voted no (or none), its answer. */
struct votes {
	size_t asked;                /* participants asked, in order */
	const char *failed_company;  /* borrowed from the trip's participants; NULL when all voted yes */
	struct peer_response failure; /* that company's answer */
};

/* Asks each participant before upto to prepare, in the trip's order from v->asked on, until one votes no. */
static void prepare_all(struct app *app, const char *trip_id, const char *gid, struct trip_row *trip, size_t upto,
			const char *request_id, struct votes *v)
{
	const char *op = gid_op(gid);
	for (; v->asked < upto && v->failed_company == NULL; v->asked++) {
		const char *company = json_string_value(json_array_get(trip->participants, v->asked));
		json_t *body = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}", "gid", gid, "trip_id", trip_id, "coordinator",
					 app->cfg.company_id, "op", op, "car_id", trip->car_id, "legs",
					 legs_of(trip->legs, company));
		if (strcmp(op, "reserve") == 0) /* one trip per car and key in the whole federation */
			json_object_set_new(body, "idempotency_key", json_string(trip->key));
		struct peer_response vote;
		call_participant(app, company, "/api/v1/federation/prepare", body, request_id, &vote);
		json_decref(body);
		if (vote.status == 200) {
			note_reservations(trip->legs, vote.body);
			peer_response_clear(&vote);
		} else {
			v->failed_company = company;
			v->failure = vote;
		}
	}
}

/*
 * The coordinator's last write, in one statement (trip_settle, 021_trip_path.sql):
 * the final phase and legs when status is given, the answer kept for retries
 * when keep_status is (then on the synchronous pool, as an answer is durable
 * before it is given; otherwise relaxed, as save_trip). The trip as it now
 * stands, or NULL when the database did not answer.
 */
static json_t *settle(struct app *app, const char *trip_id, const char *gid, const char *status, json_t *legs,
		      int keep_status)
{
	struct db_pool *pool = keep_status != 0 ? app->db : app->db_relaxed;
	PGconn *conn = db_acquire(pool, APP_DB_WAIT_MS);
	if (conn == NULL) {
		log_warn("event=trip_save_failed trip=%s status=%s reason=database", trip_id, status ? status : "-");
		return NULL;
	}
	char keep[16], *legs_text = legs != NULL ? json_dumps(legs, JSON_COMPACT) : NULL;
	snprintf(keep, sizeof(keep), "%d", keep_status);
	const char *params[] = { trip_id, gid, status, legs_text, keep_status != 0 ? keep : NULL };
	PGresult *res = db_exec(conn, "SELECT trip_settle($1::uuid, $2, $3, $4::jsonb, $5::int, NULL)", 5, params);
	json_t *trip = NULL;
	if (db_ok(res, "trip_settle") && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
		trip = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	else
		log_warn("event=trip_save_failed trip=%s status=%s", trip_id, status ? status : "-");
	PQclear(res);
	free(legs_text);
	db_release(pool, conn);
	return trip;
}

/* The client's answer to a transaction that was not committed: its status, and *reply. */
static int failure_reply(const char *trip_id, json_t *legs, const struct votes *v, bool lost, json_t **reply)
{
	const struct peer_response *failure = &v->failure;
	if (lost) {
		*reply = unavailable_reply(trip_id, "the coordinator's record of the trip is gone; nothing is held");
		return 503;
	}
	if (failure->status == 409 && json_object_get(failure->body, "failed_leg") == NULL) {
		/* The key is another trip's (duplicate_key, naming it) or that trip is still undecided (in_progress). */
		*reply = json_deep_copy(failure->body);
		json_object_del(*reply, "vote");
		json_object_set_new(*reply, "trip_id", json_string(trip_id));
		json_object_set_new(*reply, "company", json_string(v->failed_company));
		return 409;
	}
	if (failure->status == 409) {
		json_t *leg = json_array_get(legs, (size_t)json_integer_value(json_object_get(failure->body, "failed_leg")));
		*reply = json_pack("{s:s, s:O?, s:O?, s:s, s:O?, s:O?}", "trip_id", trip_id, "failed_leg",
				   json_object_get(failure->body, "failed_leg"), "station_id", json_object_get(leg, "station_id"),
				   "company", v->failed_company, "alternatives", json_object_get(failure->body, "alternatives"),
				   "error", json_object_get(failure->body, "error"));
		return 409;
	}
	if (v->failed_company != NULL) {
		char message[160];
		snprintf(message, sizeof(message), "company '%s' could not be reached or failed (status %ld); nothing is held",
			 v->failed_company, failure->status);
		*reply = json_pack("{s:s, s:s, s:{s:s, s:s}}", "trip_id", trip_id, "company", v->failed_company, "error", "code",
				   "peer_unavailable", "message", message);
		return 503;
	}
	/* Recovery decided abort before this request could commit. */
	*reply = json_pack("{s:s, s:{s:s, s:s}}", "trip_id", trip_id, "error", "code", "aborted", "message",
			   "the transaction was aborted by recovery");
	return 409;
}

/* Makes the outcome durable (commit when every participant voted yes); *lost when the trip's row is gone. */
static enum outcome decide_after_votes(struct app *app, const char *trip_id, const char *gid, json_t *legs,
				       const struct votes *v, bool *lost, const char *request_id)
{
	const char *want = v->failed_company == NULL ? "commit" : "abort";
	PGconn *conn = db_acquire(app->db, APP_DB_WAIT_MS);
	/* An aborted cancel or finish changes no leg: the row keeps its confirmed legs. */
	json_t *decided_legs = strcmp(gid_op(gid), "reserve") != 0 && v->failed_company != NULL ? NULL : legs;
	enum outcome decided = conn != NULL ? decide(conn, gid, trip_id, want, "request", decided_legs) : OUTCOME_UNKNOWN;
	*lost = decided == OUTCOME_NO_TRIP;
	if (*lost) {
		/* No commit without the trip's row (a database that lost it): abort. */
		log_error("event=twopc_trip_row_missing req=%s trip=%s gid=%s", request_id, trip_id, gid);
		decided = decide(conn, gid, trip_id, "abort", "request", NULL);
	}
	if (conn != NULL)
		db_release(app->db, conn);
	return decided;
}

/*
 * The coordinator as its own last participant: its legs booked and the commit
 * decision recorded in ONE local transaction, with no PREPARE TRANSACTION (the
 * decision's commit is the legs' commit; the marker written with them answers
 * a repeated commit or abort, as a participant's does). Only for a reserve whose
 * last participant is this company, once every other one voted yes: the legs
 * are still booked in leg order (the first leg wins; two attempts with one key
 * meet at the first company they share). True when it decided: *decided is
 * OUTCOME_COMMIT, or OUTCOME_UNKNOWN when the commit's fate is not known (then
 * recovery reads the record). False when nothing was written: a no (the key)
 * in v, or the legs could not be had in one statement, and then the caller
 * prepares them the usual way, which explains a failure.
 */
static bool commit_here(struct app *app, const char *trip_id, const char *gid, struct trip_row *trip, struct votes *v,
			const char *request_id, enum outcome *decided)
{
	const char *here = app->cfg.company_id;
	struct twopc_prepare_request q = { gid, trip_id, here, "reserve", trip->car_id, trip->key[0] ? trip->key : NULL,
					   legs_of(trip->legs, here), NULL };
	struct peer_response out = { 0, NULL, 0, false };
	PGconn *conn = db_acquire(app->db, APP_DB_WAIT_MS);
	json_t *booked = json_array(), *legs = json_deep_copy(trip->legs);
	enum fast_prepare f = conn != NULL ? fast_prepare(app, conn, &q, request_id, booked, &out) : FAST_FALLBACK;
	bool done = false;
	if (f == FAST_ANSWERED && out.status != 0) {
		v->failed_company = json_string_value(json_array_get(trip->participants, v->asked));
		v->failure = out;
		v->asked++;
	} else if (f == FAST_READY) {
		json_t *vote = json_pack("{s:O}", "reservations", booked);
		note_reservations(legs, vote);
		json_decref(vote);
		mark_legs(legs, here, leg_state("reserve", "commit"));
		*decided = decide(conn, gid, trip_id, "commit", "request", legs);
		done = *decided == OUTCOME_COMMIT;
		if (done && !db_command(conn, "COMMIT"))
			*decided = OUTCOME_UNKNOWN; /* perhaps committed: recovery reads the record */
		else if (!done && !db_command(conn, "ROLLBACK"))
			log_warn("event=rollback_failed req=%s trip=%s", request_id, trip_id);
		if (done) {
			log_debug("event=twopc_prepared req=%s gid=%s trip=%s op=reserve legs=%zu committed_with_decision=yes",
				 request_id, gid, trip_id, json_array_size(q.legs));
			json_decref(trip->legs);
			trip->legs = json_incref(legs);
		}
	}
	json_decref(legs);
	json_decref(booked);
	json_decref(q.legs);
	db_release(app->db, conn);
	return done;
}

/* twopc_run with the trip in memory; keep: the answer to a commit is kept for retries (*kept when it was). */
static int run_trip(struct app *app, const char *trip_id, const char *gid, struct trip_row *trip, bool keep,
		    bool *kept, const char *request_id, json_t **reply)
{
	const char *op = gid_op(gid);
	struct votes v = { 0, NULL, { 0, NULL, 0, false } };
	bool lost = false;
	*kept = false;
	size_t n = json_array_size(trip->participants);
	bool here_last = strcmp(op, "reserve") == 0 && n > 0 &&
			 strcmp(json_string_value(json_array_get(trip->participants, n - 1)), app->cfg.company_id) == 0;
	prepare_all(app, trip_id, gid, trip, here_last ? n - 1 : n, request_id, &v);
	if (v.failed_company == NULL)
		failpoint_hit(FAILPOINT_COORDINATOR_AFTER_PREPARES);
	enum outcome decided = OUTCOME_UNKNOWN;
	bool decided_here = here_last && v.failed_company == NULL &&
			    commit_here(app, trip_id, gid, trip, &v, request_id, &decided);
	if (!decided_here) {
		prepare_all(app, trip_id, gid, trip, n, request_id, &v);
		/* The decision, durable with the trip's phase and legs before anyone is told. */
		decided = decide_after_votes(app, trip_id, gid, trip->legs, &v, &lost, request_id);
	}
	const char *decision = outcome_name(decided);
	if (decision == NULL) {
		/*
		 * Not known here: the database went away, perhaps after recording the
		 * commit. This request stops driving; recovery reads the record once the
		 * database answers and finishes the commit, or records abort and
		 * releases every participant.
		 */
		log_warn("event=twopc_undecided req=%s trip=%s gid=%s reason=database", request_id, trip_id, gid);
		*reply = unavailable_reply(trip_id, "the coordinator's database is unavailable, so the outcome is not known "
						    "yet: aborted, and nothing held, unless its commit was recorded; ask GET "
						    "/trips/{id} after Retry-After");
		peer_response_clear(&v.failure);
		return 503;
	}
	bool commit = strcmp(decision, "commit") == 0;
	if (commit)
		failpoint_hit(FAILPOINT_COORDINATOR_AFTER_DECISION);

	bool all = drive(app, gid, decision, trip->participants, decided_here ? n - 1 : commit ? n : v.asked, trip->legs,
			 decided_here, request_id);
	int status;
	if (commit) {
		status = strcmp(op, "reserve") == 0 ? 201 : 200;
		*reply = settle(app, trip_id, gid, all ? phase(op, decision, true) : NULL, all ? trip->legs : NULL,
				keep ? status : 0);
		*kept = keep && *reply != NULL;
		if (*reply == NULL) /* the row cannot be read back: the trip as this request knows it */
			*reply = json_pack("{s:s, s:s, s:O}", "id", trip_id, "status", phase(op, "commit", true), "legs",
					   trip->legs);
	} else {
		if (all)
			save_trip(app, trip_id, gid, phase(op, decision, true), trip->legs);
		status = failure_reply(trip_id, trip->legs, &v, lost, reply);
	}
	log_info("event=twopc_done req=%s trip=%s gid=%s op=%s decision=%s status=%d all_acknowledged=%s", request_id,
		 trip_id, gid, op, decision, status, all ? "yes" : "no");
	peer_response_clear(&v.failure);
	return status;
}

int twopc_run(struct app *app, const char *trip_id, const char *gid, const char *request_id, json_t **reply)
{
	struct trip_row trip = { "", "", NULL, NULL };
	PGconn *conn = db_acquire(app->db, APP_DB_WAIT_MS);
	bool loaded = conn != NULL && load_trip(conn, trip_id, &trip);
	if (conn != NULL)
		db_release(app->db, conn); /* no connection is held across the calls to the participants */
	int status = 503;
	bool kept;
	if (loaded)
		status = run_trip(app, trip_id, gid, &trip, false, &kept, request_id, reply);
	else /* Nothing is prepared: recovery rolls this attempt back once the database answers. */
		*reply = unavailable_reply(trip_id, "the coordinator's database is unavailable; nothing is held, retry later");
	free_trip(&trip);
	return status;
}

int twopc_run_new(struct app *app, const char *trip_id, const char *gid, const struct twopc_trip *t,
		  const char *request_id, json_t **reply, bool *kept)
{
	struct trip_row trip = { "", "", json_deep_copy(t->legs), json_deep_copy(t->participants) };
	snprintf(trip.car_id, sizeof(trip.car_id), "%s", t->car_id);
	snprintf(trip.key, sizeof(trip.key), "%s", t->key);
	int status = run_trip(app, trip_id, gid, &trip, true, kept, request_id, reply);
	free_trip(&trip);
	return status;
}

/* ---- Recovery ------------------------------------------------------------------- */

/* A trip recovery looks at: its current transaction, and who drives it. */
struct candidate {
	char trip_id[37];
	char gid[TWOPC_GID_MAX];
	char decision[8]; /* "" when undecided */
	bool mine, gone, stale;
};

/*
 * Coordinator: finishes the trips nobody drives any more. Those of this process
 * as soon as no request of it holds them (a request that gave up, a drive a
 * participant did not acknowledge, a row a restart left); those of a gone
 * process at once; a decided trip of a live sibling process once it is stale.
 * An undecided trip of a live process is never taken: that process decides.
 */
static void recover_trips(struct app *app)
{
	static const char sql[] =
		"SELECT t.id, t.gid, coalesce(d.decision, ''), t.instance = $1, " GONE_SQL("$2", "$3") ","
		" t.updated_at < now() - interval '" STALE_AFTER "'"
		" FROM trips t LEFT JOIN tx_decisions d ON d.gid = t.gid"
		" WHERE t.status IN " UNFINISHED " AND NOT t.gid = ANY ($4::text[])"
		" ORDER BY t.updated_at LIMIT 100";
	char orphan[16];
	snprintf(orphan, sizeof(orphan), "%d", app->cfg.orphan_after_seconds);
	/* In flight before the query: skipped in SQL. Begun since: checked again below. */
	char *flying = flights_literal(app);
	PGconn *conn = flying != NULL ? db_acquire(app->db, APP_DB_WAIT_MS) : NULL;
	if (conn == NULL) {
		free(flying);
		return;
	}
	const char *params[] = { app->instance, orphan, judge_silence(app), flying };
	PGresult *res = db_exec(conn, sql, 4, params);
	int rows = db_ok(res, "recover_trips") ? PQntuples(res) : 0;
	struct candidate *c = rows > 0 ? calloc((size_t)rows, sizeof(*c)) : NULL;
	for (int i = 0; c != NULL && i < rows; i++) {
		snprintf(c[i].trip_id, sizeof(c[i].trip_id), "%s", PQgetvalue(res, i, 0));
		snprintf(c[i].gid, sizeof(c[i].gid), "%s", PQgetvalue(res, i, 1));
		snprintf(c[i].decision, sizeof(c[i].decision), "%s", PQgetvalue(res, i, 2));
		c[i].mine = strcmp(PQgetvalue(res, i, 3), "t") == 0;
		c[i].gone = strcmp(PQgetvalue(res, i, 4), "t") == 0;
		c[i].stale = strcmp(PQgetvalue(res, i, 5), "t") == 0;
	}
	PQclear(res);
	db_release(app->db, conn);
	free(flying);

	for (int i = 0; c != NULL && i < rows; i++) {
		if (c[i].mine && in_flight(app, c[i].gid))
			continue; /* a request of this process began it after the query */
		bool orphan_trip = c[i].mine || c[i].gone;
		enum outcome o = strcmp(c[i].decision, "commit") == 0 ? OUTCOME_COMMIT
				 : c[i].decision[0] != '\0'          ? OUTCOME_ABORT
								     : OUTCOME_UNKNOWN;
		if (o == OUTCOME_UNKNOWN ? !orphan_trip : !orphan_trip && !c[i].stale)
			continue; /* a live sibling process drives it */
		struct trip_row trip = { "", "", NULL, NULL };
		conn = db_acquire(app->db, APP_DB_WAIT_MS);
		if (conn == NULL)
			break;
		if (o == OUTCOME_UNKNOWN)
			o = decide(conn, c[i].gid, c[i].trip_id, "abort", "recovery", NULL);
		bool loaded = (o == OUTCOME_COMMIT || o == OUTCOME_ABORT) && load_trip(conn, c[i].trip_id, &trip);
		db_release(app->db, conn);
		if (!loaded) {
			free_trip(&trip);
			continue;
		}
		const char *decision = outcome_name(o);
		log_info("event=twopc_recovering trip=%s gid=%s decision=%s owner=%s", c[i].trip_id, c[i].gid, decision,
			 c[i].mine ? "this_process" : c[i].gone ? "gone" : "live_sibling");
		/* Every participant is told: abort is a no-op where nothing was prepared. */
		if (drive(app, c[i].gid, decision, trip.participants, json_array_size(trip.participants), trip.legs, false,
			  c[i].gid))
			save_trip(app, c[i].trip_id, c[i].gid, phase(gid_op(c[i].gid), decision, true), trip.legs);
		free_trip(&trip);
	}
	free(c);
}

/* Participant: asks each in-doubt transaction's coordinator for its outcome. */
static void recover_prepared(struct app *app)
{
	static const char sql[] =
		"SELECT gid FROM pg_prepared_xacts WHERE database = current_database() AND gid LIKE 'evc\\_%'"
		" AND prepared < now() - interval '" IN_DOUBT_AFTER "' ORDER BY prepared LIMIT 100";
	PGconn *conn = db_acquire(app->db, APP_DB_WAIT_MS);
	if (conn == NULL)
		return;
	PGresult *res = db_exec(conn, sql, 0, NULL);
	int rows = db_ok(res, "recover_prepared") ? PQntuples(res) : 0;
	char (*gids)[TWOPC_GID_MAX] = rows > 0 ? calloc((size_t)rows, TWOPC_GID_MAX) : NULL;
	for (int i = 0; gids != NULL && i < rows; i++)
		snprintf(gids[i], TWOPC_GID_MAX, "%s", PQgetvalue(res, i, 0));
	PQclear(res);
	db_release(app->db, conn);

	for (int i = 0; gids != NULL && i < rows; i++) {
		char coordinator[VALIDATE_COMPANY_MAX + 1], trip_id[37];
		if (!twopc_gid_parse(gids[i], coordinator, sizeof(coordinator), trip_id))
			continue; /* not one of ours: an operator's business */
		const char *decision = NULL;
		struct peer_response r = { 0, NULL, 0, false };
		if (strcmp(coordinator, app->cfg.company_id) == 0) {
			decision = twopc_decision(app, gids[i]);
		} else {
			/* Only the coordinator's answer resolves it: unreachable or 503 means wait. */
			char path[160];
			snprintf(path, sizeof(path), "/api/v1/federation/decisions/%s", gids[i]);
			federation_call(coordinator, "GET", path, NULL, app->cfg.peer_timeout_ms, gids[i], NULL, &r);
			if (r.status == 200)
				decision = json_string_value(json_object_get(r.body, "decision"));
		}
		if (decision != NULL && (strcmp(decision, "commit") == 0 || strcmp(decision, "abort") == 0)) {
			struct peer_response done;
			log_info("event=twopc_in_doubt_resolved gid=%s coordinator=%s decision=%s", gids[i], coordinator, decision);
			finish_prepared(app, gids[i], strcmp(decision, "commit") == 0, &done);
			peer_response_clear(&done);
		} else {
			log_info("event=twopc_in_doubt gid=%s coordinator=%s answer=%s", gids[i], coordinator,
				 decision != NULL ? decision : "unreachable");
		}
		peer_response_clear(&r);
	}
	free(gids);
}

bool twopc_instance_beat(struct app *app)
{
	struct twopc *t = app->twopc;
	bool ok = false;
	PGconn *conn = db_acquire(t->beat_db, APP_DB_WAIT_MS);
	if (conn != NULL) {
		const char *params[] = { app->instance, app->cfg.public_url };
		PGresult *res = db_exec(conn,
					"INSERT INTO worker_instances (instance, url) VALUES ($1, $2)"
					" ON CONFLICT (instance) DO UPDATE SET last_seen = now(), url = EXCLUDED.url",
					2, params);
		ok = db_ok(res, "instance_beat");
		PQclear(res);
		db_release(t->beat_db, conn);
	}
	pthread_mutex_lock(&t->lock);
	if (!ok)
		t->beats_ok_since = 0;
	else if (t->beats_ok_since == 0)
		t->beats_ok_since = time(NULL);
	pthread_mutex_unlock(&t->lock);
	return ok;
}

bool twopc_instance_claim_slot(struct app *app)
{
	char host[128] = "localhost", slot[200];
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	snprintf(slot, sizeof(slot), "%s:%d", host, app->cfg.http_port);
	PGconn *conn = db_acquire(app->db, APP_DB_WAIT_MS);
	if (conn == NULL)
		return false;
	/* We bound this port: whoever was registered on it before is gone. */
	const char *params[] = { app->instance, slot };
	PGresult *res = db_exec(conn,
				"WITH gone AS (DELETE FROM worker_instances WHERE slot = $2 AND instance <> $1 RETURNING 1)"
				" INSERT INTO worker_instances (instance, slot) VALUES ($1, $2)"
				" ON CONFLICT (instance) DO UPDATE SET slot = EXCLUDED.slot, last_seen = now()",
				2, params);
	bool ok = db_ok(res, "instance_slot");
	PQclear(res);
	db_release(app->db, conn);
	return ok;
}

static void instance_gone(struct app *app)
{
	PGconn *conn = db_acquire(app->db, 1000);
	if (conn == NULL)
		return;
	/* Our own row goes; rows of processes gone for a day go too. */
	const char *params[] = { app->instance };
	PGresult *res = db_exec(conn,
				"DELETE FROM worker_instances WHERE instance = $1 OR last_seen < now() - interval '1 day'",
				1, params);
	PQclear(res);
	db_release(app->db, conn);
}

/*
 * Markers and tombstones answer repeated commits and aborts of a transaction;
 * after a week no coordinator asks about it any more.
 */
static void prune_markers(struct app *app)
{
	PGconn *conn = db_acquire(app->db_relaxed, APP_DB_WAIT_MS);
	if (conn == NULL)
		return;
	PGresult *res = db_exec(conn, "DELETE FROM tx_markers WHERE created_at < now() - interval '7 days'", 0, NULL);
	if (db_ok(res, "prune_markers") && atoi(PQcmdTuples(res)) > 0)
		log_info("event=tx_markers_pruned rows=%s", PQcmdTuples(res));
	PQclear(res);
	db_release(app->db_relaxed, conn);
}

/* Liveness on its own thread and connection: slow recovery, peers or load never make this instance look dead. */
static void beat_job(void *arg)
{
	twopc_instance_beat(arg);
}

static void recovery_job(void *arg)
{
	static time_t last_prune; /* only the recovery ticker's thread touches it */
	struct app *app = arg;
	if (time(NULL) - last_prune >= 3600) {
		prune_markers(app);
		last_prune = time(NULL);
	}
	recover_trips(app);
	recover_prepared(app);
}

bool twopc_recovery_start(struct app *app)
{
	app->beat_ticker = ticker_start("instance_beat", app->cfg.recovery_interval_ms, beat_job, app);
	app->recovery_ticker = ticker_start("recovery", app->cfg.recovery_interval_ms, recovery_job, app);
	return app->beat_ticker != NULL && app->recovery_ticker != NULL;
}

void twopc_recovery_stop(struct app *app)
{
	ticker_stop(app->recovery_ticker);
	ticker_stop(app->beat_ticker);
	app->recovery_ticker = app->beat_ticker = NULL;
	instance_gone(app);
}

json_t *twopc_instance_urls(struct app *app)
{
	char alive[16];
	snprintf(alive, sizeof(alive), "%d", app->cfg.orphan_after_seconds);
	json_t *urls = json_array();
	PGconn *conn = db_acquire(app->db, APP_DB_WAIT_MS);
	if (conn == NULL)
		return urls;
	const char *params[] = { alive };
	PGresult *res = db_exec(conn,
				"SELECT DISTINCT url FROM worker_instances WHERE url IS NOT NULL"
				" AND last_seen > now() - make_interval(secs => $1::int) ORDER BY url LIMIT 8",
				1, params);
	for (int i = 0; db_ok(res, "instance_urls") && i < PQntuples(res); i++)
		json_array_append_new(urls, json_string(PQgetvalue(res, i, 0)));
	PQclear(res);
	db_release(app->db, conn);
	return urls;
}

bool twopc_in_doubt(struct app *app, long *count, double *oldest_seconds)
{
	PGconn *conn = db_acquire(app->db, 1000);
	if (conn == NULL)
		return false;
	PGresult *res = db_exec(conn,
				"SELECT count(*), coalesce(extract(epoch FROM now() - min(prepared)), 0)"
				" FROM pg_prepared_xacts WHERE database = current_database()",
				0, NULL);
	bool ok = db_ok(res, "in_doubt");
	if (ok) {
		*count = atol(PQgetvalue(res, 0, 0));
		*oldest_seconds = atof(PQgetvalue(res, 0, 1));
	}
	PQclear(res);
	db_release(app->db, conn);
	return ok;
}
