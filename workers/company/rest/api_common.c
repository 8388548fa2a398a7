#include "api.h"
#include "app.h"
#include "log.h"
#include "timeutil.h"

#include <string.h>

int api_authorize(struct http_request *req, enum policy_action action)
{
	struct core_result r = CORE_RESULT_INIT;
	if (policy_check(&req->actor, action, NULL, req->request_id, &r) == EVC_OK)
		return 0;
	return http_reply_result(req, &r);
}

int api_reply_db_error(struct http_request *req, PGconn *conn, const PGresult *res)
{
	if (db_is_connection_error(conn, res) || db_sqlstate_is(res, DB_QUERY_CANCELED))
		return http_reply_db_unavailable(req);
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	if (db_sqlstate_is(res, DB_UNIQUE_VIOLATION) || db_sqlstate_is(res, DB_EXCLUSION_VIOLATION))
		return http_reply_error(req, 409, "conflict", "%s", msg);
	if (db_sqlstate_is(res, DB_LOCK_NOT_AVAILABLE))
		return http_reply_error(req, 409, "busy", "the row is locked by another transaction; retry");
	if (state != NULL && (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0))
		return http_reply_error(req, 400, "invalid_field", "%s", msg);
	log_error("event=db_unexpected req=%s sqlstate=%s error=\"%s\"", req->request_id, state ? state : "none",
		  msg ? msg : "none");
	return http_reply_error(req, 500, "internal", "unexpected database error");
}

int api_reply_query(struct http_request *req, int ok_status, const char *not_found, const char *sql,
		    int nparams, const char *const *params)
{
	PGconn *conn = db_acquire(req->app->db, APP_DB_WAIT_MS);
	if (conn == NULL)
		return http_reply_db_unavailable(req);

	int status;
	PGresult *res = db_exec(conn, sql, nparams, params);
	if (!db_ok(res, "api_reply_query"))
		status = api_reply_db_error(req, conn, res);
	else if (PQntuples(res) == 0 || PQgetisnull(res, 0, 0))
		status = http_reply_error(req, 404, "not_found", "%s", not_found);
	else
		status = http_reply_text(req, ok_status, PQgetvalue(res, 0, 0), NULL);
	PQclear(res);
	db_release(req->app->db, conn);
	return status;
}

int api_query_time(struct http_request *req, const char *name, bool required, int64_t *epoch)
{
	char text[64];
	int rc = http_query(req, name, text, sizeof(text));
	if (rc > 1)
		return rc;
	if (rc == 0) {
		if (required)
			return http_reply_error(req, 400, "missing_parameter", "query parameter '%s' is required", name);
		return 0;
	}
	if (!timeutil_parse_rfc3339(text, epoch))
		return http_reply_error(req, 400, "invalid_parameter",
					"query parameter '%s' must be an RFC 3339 time like 2026-11-23T08:00:00Z", name);
	return 1;
}
