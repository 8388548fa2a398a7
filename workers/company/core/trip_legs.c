#include "trip_legs.h"
#include "app.h"
#include "coredb.h"
#include "federation.h"
#include "http.h"
#include "log.h"
#include "peer_client.h"
#include "policy.h"
#include "validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum evc_err trip_legs_here(struct app *app, const struct actor *actor, const char *trip_id, const char *request_id,
			    struct core_result *r)
{
	static const char sql[] = "SELECT trip_legs_here($1::uuid, $2) WHERE trip_legs_here($1::uuid, $2) IS NOT NULL";
	if (policy_check(actor, POLICY_TRIP_LEGS_READ, NULL, request_id, r) != EVC_OK)
		return r->err;
	if (!validate_uuid(trip_id))
		return core_fail(r, EVC_ERR_NOT_FOUND, "not_found", "no legs of such a trip coordinated by you here");
	const char *params[] = { trip_id, actor->id };
	return coredb_query_json(app, r, "no legs of such a trip coordinated by you here", sql, 2, params, request_id);
}

/* The other companies holding confirmed legs of a confirmed trip (new array of strings). */
static json_t *remote_companies(struct app *app, json_t *trip)
{
	json_t *out = json_array(), *leg;
	size_t i;
	if (!json_is_string(json_object_get(trip, "phase")) ||
	    strcmp(json_string_value(json_object_get(trip, "phase")), "confirmed") != 0)
		return out;
	json_array_foreach(json_object_get(trip, "legs"), i, leg) {
		const char *company = json_string_value(json_object_get(leg, "company"));
		const char *state = json_string_value(json_object_get(leg, "state"));
		if (company == NULL || state == NULL || strcmp(state, "confirmed") != 0 ||
		    strcmp(company, app->cfg.company_id) == 0)
			continue;
		bool seen = false;
		for (size_t j = 0; j < json_array_size(out); j++)
			seen = seen || strcmp(json_string_value(json_array_get(out, j)), company) == 0;
		if (!seen)
			json_array_append_new(out, json_string(company));
	}
	return out;
}

/* Asks one company for its legs and merges them; true when the trip's row changed. */
static bool refresh_from(struct app *app, const char *trip_id, const char *company, const char *request_id)
{
	static const char sql[] = "SELECT trip_legs_merge($1::uuid, $2, $3::jsonb)";
	char path[128];
	snprintf(path, sizeof(path), HTTP_API_PREFIX "/federation/trips/%s/legs", trip_id);
	struct peer_response pr;
	federation_call(company, "GET", path, NULL, app->cfg.peer_timeout_ms, request_id, NULL, &pr);
	json_t *legs = pr.status == 200 ? json_object_get(pr.body, "legs") : NULL;
	bool changed = false;
	if (!json_is_array(legs)) {
		log_warn("event=trip_legs_unread req=%s trip=%s peer=%s status=%ld", request_id, trip_id, company, pr.status);
		peer_response_clear(&pr);
		return false;
	}
	char *text = json_dumps(legs, JSON_COMPACT);
	PGconn *conn = text != NULL ? db_acquire(app->db, APP_DB_WAIT_MS) : NULL;
	if (conn != NULL) {
		const char *params[] = { trip_id, company, text };
		PGresult *res = db_exec(conn, sql, 3, params);
		if (!db_ok(res, "trip_legs_merge"))
			log_warn("event=db_failed req=%s trip=%s peer=%s what=trip_legs_merge", request_id, trip_id, company);
		else
			changed = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
		PQclear(res);
		db_release(app->db, conn);
	} else {
		log_warn("event=db_unavailable req=%s trip=%s what=trip_legs_merge", request_id, trip_id);
	}
	if (changed)
		log_info("event=trip_legs_changed req=%s trip=%s peer=%s", request_id, trip_id, company);
	free(text);
	peer_response_clear(&pr);
	return changed;
}

void trip_legs_refresh(struct app *app, const char *trip_id, struct core_result *r, const char *request_id)
{
	static const char sql[] = "SELECT trip_json(t) FROM trips t WHERE t.id = $1::uuid";
	if (r->err != EVC_OK || r->body == NULL)
		return;
	json_t *companies = remote_companies(app, r->body), *company;
	size_t i;
	bool changed = false;
	json_array_foreach(companies, i, company) {
		const char *id = json_string_value(company);
		if (!federation_peer_up(id)) { /* down at the last heartbeat: the leg stays as last known */
			log_debug("event=trip_legs_skipped req=%s trip=%s peer=%s reason=down", request_id, trip_id, id);
			continue;
		}
		changed = refresh_from(app, trip_id, id, request_id) || changed;
	}
	json_decref(companies);
	if (!changed)
		return;
	struct core_result fresh = CORE_RESULT_INIT;
	const char *params[] = { trip_id };
	if (coredb_query_json(app, &fresh, "no such trip", sql, 1, params, request_id) == EVC_OK) {
		json_decref(r->body);
		r->body = fresh.body;
		fresh.body = NULL;
	}
	core_result_clear(&fresh);
}
