#include "app.h"
#include "bounds.h"
#include "coredb.h"
#include "jsonx.h"
#include "log.h"
#include "policy.h"
#include "timeutil.h"
#include "validate.h"
#include "waitlist.h"

#include <stdio.h>
#include <string.h>

#define MAX_FLEXIBILITY_MINUTES (12 * 60)

enum evc_err waitlist_read_join(const struct config *cfg, json_t *input, int64_t now, struct waitlist_request *f,
				struct core_result *r)
{
	struct jsonx_error err;
	const char *start_text, *end_text, *expires_text, *problem;
	char owner[VALIDATE_COMPANY_MAX + 1];
	memset(f, 0, sizeof(*f));
	if (!jsonx_string(input, "car_id", false, VALIDATE_CAR_MAX, &f->car_id, &err) ||
	    !jsonx_string(input, "station_id", false, VALIDATE_STATION_MAX, &f->station, &err) ||
	    !jsonx_string(input, "city", false, 100, &f->city, &err) || !jsonx_string(input, "start", true, 64, &start_text, &err) ||
	    !jsonx_string(input, "end", true, 64, &end_text, &err) ||
	    !jsonx_integer(input, "flexibility_minutes", false, 0, MAX_FLEXIBILITY_MINUTES, &f->flex, NULL, &err) ||
	    !jsonx_string(input, "expires_at", true, 64, &expires_text, &err))
		return core_fail(r, EVC_ERR_INVALID, err.code, "%s", err.message);
	if ((f->station == NULL) == (f->city == NULL))
		return core_fail(r, EVC_ERR_INVALID, "invalid_field", "give either 'station_id' or 'city'");
	if (f->station != NULL &&
	    (!validate_station_company(f->station, owner, sizeof(owner)) || strcmp(owner, cfg->company_id) != 0))
		return core_fail(r, EVC_ERR_NOT_FOUND, "not_found", "no station '%s' here: join the waitlist at its owner",
				 f->station);
	if (!timeutil_parse_rfc3339(start_text, &f->start) || !timeutil_parse_rfc3339(end_text, &f->end) ||
	    !timeutil_parse_rfc3339(expires_text, &f->expires))
		return core_fail(r, EVC_ERR_INVALID, "invalid_field", "start, end and expires_at must be RFC 3339 times");
	if ((problem = bounds_window(cfg, f->start, f->end, now)) != NULL)
		return core_fail(r, EVC_ERR_INVALID, "invalid_window", "%s", problem);
	if (f->expires <= now)
		return core_fail(r, EVC_ERR_INVALID, "invalid_window", "the deadline 'expires_at' is already past");
	return EVC_OK;
}

enum evc_err waitlist_join(struct app *app, const struct actor *actor, json_t *input, const char *request_id,
			   struct core_result *r)
{
	static const char sql[] =
		"WITH place AS ("
		"  SELECT coalesce((SELECT city FROM stations WHERE id = $2), $3) AS city),"
		" grp AS (INSERT INTO waitlist_groups (city) SELECT city FROM place WHERE city IS NOT NULL"
		"  ON CONFLICT DO NOTHING)"
		" INSERT INTO waitlist (car_id, station_id, city, want, flexibility, expires_at)"
		" SELECT $1, $2, place.city, tstzrange($4::timestamptz, $5::timestamptz), make_interval(mins => $6::int),"
		"  $7::timestamptz FROM place WHERE place.city IS NOT NULL"
		"  AND ($3::text IS NULL OR EXISTS (SELECT 1 FROM stations WHERE city = $3))"
		" RETURNING id, waitlist_json(waitlist)";
	struct waitlist_request f;
	const char *car;
	if (policy_check(actor, POLICY_WAITLIST_JOIN, NULL, request_id, r) != EVC_OK ||
	    waitlist_read_join(&app->cfg, input, timeutil_now(), &f, r) != EVC_OK ||
	    policy_booking_car(actor, f.car_id, &car, request_id, r) != EVC_OK)
		return r->err;
	char s[TIMEUTIL_RFC3339_LEN], e[TIMEUTIL_RFC3339_LEN], x[TIMEUTIL_RFC3339_LEN], flex_text[16];
	timeutil_format_rfc3339(f.start, s);
	timeutil_format_rfc3339(f.end, e);
	timeutil_format_rfc3339(f.expires, x);
	snprintf(flex_text, sizeof(flex_text), "%lld", f.flex);
	const char *params[] = { car, f.station, f.city, s, e, flex_text, x };
	PGconn *conn = db_acquire(app->db, APP_DB_WAIT_MS);
	if (conn == NULL)
		return coredb_unavailable(r, request_id);
	PGresult *res = db_exec(conn, sql, 7, params);
	if (!db_ok(res, "waitlist_create")) {
		coredb_error(r, conn, res, request_id);
	} else if (PQntuples(res) == 0) {
		core_fail(r, EVC_ERR_NOT_FOUND, "not_found", f.station != NULL ? "no such station" : "no station of ours in that city");
	} else {
		log_info("event=waitlist_joined req=%s waitlist=%s car=%s station=%s city=%s", request_id, PQgetvalue(res, 0, 0),
			 car, f.station ? f.station : "-", f.city ? f.city : "-");
		core_ok_text(r, PQgetvalue(res, 0, 1));
		r->created = true;
		snprintf(r->location, sizeof(r->location), "/waitlist/%s", PQgetvalue(res, 0, 0));
		waitlist_wake(app);
	}
	PQclear(res);
	db_release(app->db, conn);
	return r->err;
}

/* The policy for action on one waitlist entry, its owner checked for a car. */
static enum evc_err authorize(struct app *app, const struct actor *actor, enum policy_action action, const char *id,
			      const char *request_id, struct core_result *r)
{
	static const char owner_sql[] = "SELECT car_id FROM waitlist WHERE id = $1::uuid";
	return coredb_authorize_item(app, actor, action, owner_sql, id, "no such waitlist request", request_id, r);
}

enum evc_err waitlist_get(struct app *app, const struct actor *actor, const char *id, const char *request_id,
			  struct core_result *r)
{
	static const char sql[] = "SELECT waitlist_json(w) FROM waitlist w WHERE w.id = $1::uuid";
	if (authorize(app, actor, POLICY_WAITLIST_READ, id, request_id, r) != EVC_OK)
		return r->err;
	const char *params[] = { id };
	return coredb_query_json(app, r, "no such waitlist request", sql, 1, params, request_id);
}

enum evc_err waitlist_withdraw(struct app *app, const struct actor *actor, const char *id, const char *request_id,
			       struct core_result *r)
{
	static const char sql[] =
		"WITH gone AS (UPDATE waitlist SET status = 'withdrawn', updated_at = now()"
		"  WHERE id = $1::uuid AND status = 'waiting' RETURNING *)"
		" SELECT waitlist_json(g::waitlist) FROM gone g"
		" UNION ALL SELECT waitlist_json(w) FROM waitlist w WHERE w.id = $1::uuid AND NOT EXISTS (SELECT 1 FROM gone)";
	if (authorize(app, actor, POLICY_WAITLIST_WITHDRAW, id, request_id, r) != EVC_OK)
		return r->err;
	const char *params[] = { id };
	return coredb_query_json(app, r, "no such waitlist request", sql, 1, params, request_id);
}
