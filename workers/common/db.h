/*
 * A fixed pool of PostgreSQL connections. A connection is used by one thread at
 * a time (libpq is not safe otherwise), opened lazily, and reopened after the
 * database went away, so a worker survives a database restart. Every statement
 * with input goes through db_exec with parameters; no SQL is built from input.
 */
#ifndef EVC_DB_H
#define EVC_DB_H

#include <libpq-fe.h>
#include <stdbool.h>

struct db_pool;

/* SQLSTATEs the workers act on. */
#define DB_UNIQUE_VIOLATION "23505"
#define DB_EXCLUSION_VIOLATION "23P01"
#define DB_CHECK_VIOLATION "23514"
#define DB_FOREIGN_KEY_VIOLATION "23503"
#define DB_LOCK_NOT_AVAILABLE "55P03"
#define DB_DEADLOCK_DETECTED "40P01"
#define DB_QUERY_CANCELED "57014"
#define DB_UNDEFINED_OBJECT "42704"

/*
 * Creates a pool of size connections to url (a libpq URL or conninfo); nothing
 * is connected yet. options are server settings for every session, e.g.
 * "-c lock_timeout=1000". Returns NULL on allocation failure. Caller destroys.
 */
struct db_pool *db_pool_create(const char *url, const char *app_name, const char *options, int size);
void db_pool_destroy(struct db_pool *pool);

/*
 * Borrows a connected PGconn, waiting at most timeout_ms for a free one.
 * NULL when none is free in time or the database cannot be reached.
 * Give it back with db_release, in the same thread.
 */
PGconn *db_acquire(struct db_pool *pool, int timeout_ms) __attribute__((warn_unused_result));

/* Returns conn to the pool; an open transaction is rolled back first. */
void db_release(struct db_pool *pool, PGconn *conn);

/*
 * Runs sql with text parameters (NULL entries are SQL NULLs), as a statement
 * the connection prepared once when it has parameters. When the connection was
 * idle and turns out broken (database restarted), it is reset and the
 * statement retried once. Returns a result to PQclear, never NULL.
 */
PGresult *db_exec(PGconn *conn, const char *sql, int nparams, const char *const *params);

/* True for PGRES_COMMAND_OK and PGRES_TUPLES_OK. Logs the error otherwise. */
bool db_ok(const PGresult *res, const char *what);

/* True when res failed with the given SQLSTATE. */
bool db_sqlstate_is(const PGresult *res, const char *sqlstate);

/* Runs a parameterless command (BEGIN, COMMIT, ...); false and a log line on failure. */
bool db_command(PGconn *conn, const char *sql) __attribute__((warn_unused_result));

/* True when the failure means the database is unreachable rather than the query wrong. */
bool db_is_connection_error(PGconn *conn, const PGresult *res);

#endif
