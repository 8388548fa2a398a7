#include "coredb.h"
#include "app.h"
#include "log.h"
#include "validate.h"

#include <string.h>

enum evc_err coredb_unavailable(struct core_result *r, const char *request_id)
{
	log_warn("event=db_unavailable req=%s", request_id != NULL ? request_id : "-");
	r->retry_after = 1;
	return core_fail(r, EVC_ERR_UNAVAILABLE, "unavailable", "the database is unavailable, retry later");
}

enum evc_err coredb_error(struct core_result *r, PGconn *conn, const PGresult *res, const char *request_id)
{
	if (db_is_connection_error(conn, res) || db_sqlstate_is(res, DB_QUERY_CANCELED))
		return coredb_unavailable(r, request_id);
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	if (db_sqlstate_is(res, DB_UNIQUE_VIOLATION) || db_sqlstate_is(res, DB_EXCLUSION_VIOLATION))
		return core_fail(r, EVC_ERR_CONFLICT, "conflict", "%s", msg != NULL ? msg : "conflict");
	if (db_sqlstate_is(res, DB_LOCK_NOT_AVAILABLE))
		return core_fail(r, EVC_ERR_CONFLICT, "busy", "the row is locked by another transaction; retry");
	if (state != NULL && (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0))
		return core_fail(r, EVC_ERR_INVALID, "invalid_field", "%s", msg != NULL ? msg : "invalid value");
	log_error("event=db_unexpected req=%s sqlstate=%s error=\"%s\"", request_id != NULL ? request_id : "-",
		  state ? state : "none", msg ? msg : "none");
	return core_fail(r, EVC_ERR_INTERNAL, "internal", "unexpected database error");
}

enum evc_err coredb_query_json(struct app *app, struct core_result *r, const char *not_found, const char *sql,
			       int nparams, const char *const *params, const char *request_id)
{
	PGconn *conn = db_acquire(app->db, APP_DB_WAIT_MS);
	if (conn == NULL)
		return coredb_unavailable(r, request_id);
	PGresult *res = db_exec(conn, sql, nparams, params);
	if (!db_ok(res, "core_query"))
		coredb_error(r, conn, res, request_id);
	else if (PQntuples(res) == 0 || PQgetisnull(res, 0, 0))
		core_fail(r, EVC_ERR_NOT_FOUND, "not_found", "%s", not_found);
	else
		core_ok_text(r, PQgetvalue(res, 0, 0));
	PQclear(res);
	db_release(app->db, conn);
	return r->err;
}

enum evc_err coredb_begin_car(PGconn *conn, const char *car, const char *request_id, struct core_result *r)
{
	const char *params[] = { car };
	if (!db_command(conn, "BEGIN"))
		return coredb_unavailable(r, request_id);
	PGresult *res = db_exec(conn, "SELECT pg_advisory_xact_lock(hashtext('evc-car-' || $1))", 1, params);
	if (!db_ok(res, "car_lock")) {
		coredb_error(r, conn, res, request_id);
		PQclear(res);
		if (!db_command(conn, "ROLLBACK"))
			log_warn("event=rollback_failed req=%s car=%s", request_id, car);
		return r->err;
	}
	PQclear(res);
	return EVC_OK;
}

void coredb_end(PGconn *conn, const char *request_id, struct core_result *r)
{
	if (r->err != EVC_OK) {
		if (!db_command(conn, "ROLLBACK"))
			log_warn("event=rollback_failed req=%s", request_id);
		return;
	}
	if (!db_command(conn, "COMMIT")) {
		r->created = false;
		r->location[0] = '\0';
		coredb_unavailable(r, request_id); /* never a 201 for a row that may not be there */
	}
}

enum evc_err coredb_authorize_item(struct app *app, const struct actor *actor, enum policy_action action,
				   const char *owner_sql, const char *id, const char *not_found, const char *request_id,
				   struct core_result *r)
{
	if (policy_check(actor, action, NULL, request_id, r) != EVC_OK)
		return r->err;
	if (!validate_uuid(id))
		return core_fail(r, EVC_ERR_NOT_FOUND, "not_found", "%s", not_found);
	if (actor->kind != ACTOR_CAR)
		return EVC_OK;
	PGconn *conn = db_acquire(app->db, APP_DB_WAIT_MS);
	if (conn == NULL)
		return coredb_unavailable(r, request_id);
	const char *params[] = { id };
	PGresult *res = db_exec(conn, owner_sql, 1, params);
	if (!db_ok(res, "item_owner"))
		coredb_error(r, conn, res, request_id);
	else if (PQntuples(res) == 0)
		core_fail(r, EVC_ERR_NOT_FOUND, "not_found", "%s", not_found);
	else if (policy_check(actor, action, PQgetvalue(res, 0, 0), request_id, r) != EVC_OK)
		log_debug("event=refused_owner req=%s item=%s", request_id, id);
	PQclear(res);
	db_release(app->db, conn);
	return r->err;
}
