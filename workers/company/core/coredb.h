/*
 * The core's answers for database outcomes, so every core function maps a
 * failed statement the same way whatever adapter called it.
 */
#ifndef EVC_COREDB_H
#define EVC_COREDB_H

#include <libpq-fe.h>

#include "errors.h"

struct app;

/*
 * A failed statement: 503 when the database is unreachable or too slow
 * (logged at warn with request_id), 409 for a conflict, 400 for data the
 * database refused, else 500.
 */
enum evc_err coredb_error(struct core_result *r, PGconn *conn, const PGresult *res, const char *request_id);

/* No pooled connection within the wait: 503, logged at warn. */
enum evc_err coredb_unavailable(struct core_result *r, const char *request_id);

/*
 * Runs sql (on a pooled connection of its own) whose first row's first column
 * is a JSON text, into r; NOT_FOUND with not_found when there is no row.
 */
enum evc_err coredb_query_json(struct app *app, struct core_result *r, const char *not_found, const char *sql,
			       int nparams, const char *const *params, const char *request_id);

/*
 * Opens a transaction on conn holding car's advisory lock, so the bookings of
 * one car are counted against its limits one at a time (replicas included).
 */
enum evc_err coredb_begin_car(PGconn *conn, const char *car, const char *request_id, struct core_result *r)
	__attribute__((warn_unused_result));

/* Ends that transaction: COMMIT when r succeeded (a failed commit turns r into a 503), else ROLLBACK. */
void coredb_end(PGconn *conn, const char *request_id, struct core_result *r);

#endif
