/*
 * The core's answers for database outcomes, so every core function maps a
 * failed statement the same way whatever adapter called it.
 */
#ifndef EVC_COREDB_H
#define EVC_COREDB_H

#include <libpq-fe.h>

#include "actor.h"
#include "errors.h"
#include "policy.h"

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
 * For an action on one item kept here (a reservation, a waitlist entry): the
 * policy for the actor, then for a car that the item is its own (owner_sql:
 * "SELECT car_id FROM ... WHERE id = $1::uuid"). NOT_FOUND with not_found when
 * the id is malformed or unknown, or the item is another car's.
 */
enum evc_err coredb_authorize_item(struct app *app, const struct actor *actor, enum policy_action action,
				   const char *owner_sql, const char *id, const char *not_found, const char *request_id,
				   struct core_result *r) __attribute__((warn_unused_result));

/*
 * Opens a transaction on conn holding car's advisory lock, so the bookings of
 * one car are counted against its limits one at a time (replicas included).
 */
enum evc_err coredb_begin_car(PGconn *conn, const char *car, const char *request_id, struct core_result *r)
	__attribute__((warn_unused_result));

/* Ends that transaction: COMMIT when r succeeded (a failed commit turns r into a 503), else ROLLBACK. */
void coredb_end(PGconn *conn, const char *request_id, struct core_result *r);

#endif
