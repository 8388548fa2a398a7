#include "db.h"
#include "log.h"

#include <libpq-events.h>
#include <stdint.h>
#include <stdio.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct db_slot {
	PGconn *conn;
	bool busy;
};

struct db_pool {
	pthread_mutex_t lock;
	pthread_cond_t freed;
	char *url;
	char *app_name;
	char *options;
	int size;
	struct db_slot slots[];
};

struct db_pool *db_pool_create(const char *url, const char *app_name, const char *options, int size)
{
	struct db_pool *pool = calloc(1, sizeof(*pool) + (size_t)size * sizeof(struct db_slot));
	if (pool == NULL)
		return NULL;
	pool->url = strdup(url);
	pool->app_name = strdup(app_name);
	pool->options = strdup(options);
	if (pool->url == NULL || pool->app_name == NULL || pool->options == NULL) {
		db_pool_destroy(pool);
		return NULL;
	}
	pool->size = size;
	pthread_mutex_init(&pool->lock, NULL);
	pthread_cond_init(&pool->freed, NULL);
	return pool;
}

void db_pool_destroy(struct db_pool *pool)
{
	if (pool == NULL)
		return;
	for (int i = 0; i < pool->size; i++)
		if (pool->slots[i].conn != NULL)
			PQfinish(pool->slots[i].conn);
	pthread_mutex_destroy(&pool->lock);
	pthread_cond_destroy(&pool->freed);
	free(pool->url);
	free(pool->app_name);
	free(pool->options);
	free(pool);
}

static int cache_event(PGEventId id, void *info, void *pass);

static PGconn *connect_db(const struct db_pool *pool)
{
	/* Later keywords override the URL's. */
	const char *const keys[] = { "dbname", "application_name", "connect_timeout", "options", NULL };
	const char *const values[] = { pool->url, pool->app_name, "3", pool->options, NULL };
	PGconn *conn = PQconnectdbParams(keys, values, 1);
	if (conn != NULL && !PQregisterEventProc(conn, cache_event, "evc_statement_cache", NULL))
		log_warn("event=db_statement_cache_off");
	if (conn != NULL && PQstatus(conn) != CONNECTION_OK) {
		const char *msg = PQerrorMessage(conn);
		log_warn("event=db_connect_failed error=\"%.*s\"", (int)strcspn(msg, "\n"), msg);
	}
	return conn;
}

/* Makes sure the slot's connection is usable; false when the database cannot be reached. */
static bool ensure_connected(const struct db_pool *pool, struct db_slot *slot)
{
	if (slot->conn == NULL)
		slot->conn = connect_db(pool);
	else if (PQstatus(slot->conn) != CONNECTION_OK)
		PQreset(slot->conn);
	return slot->conn != NULL && PQstatus(slot->conn) == CONNECTION_OK;
}

PGconn *db_acquire(struct db_pool *pool, int timeout_ms)
{
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}

	struct db_slot *slot = NULL;
	pthread_mutex_lock(&pool->lock);
	while (slot == NULL) {
		for (int i = 0; i < pool->size && slot == NULL; i++)
			if (!pool->slots[i].busy)
				slot = &pool->slots[i];
		if (slot == NULL && pthread_cond_timedwait(&pool->freed, &pool->lock, &deadline) == ETIMEDOUT)
			break;
	}
	if (slot != NULL)
		slot->busy = true;
	pthread_mutex_unlock(&pool->lock);

	if (slot == NULL) {
		log_warn("event=db_pool_exhausted waited_ms=%d", timeout_ms);
		return NULL;
	}
	/* Connecting happens outside the lock: the slot is ours alone now. */
	if (!ensure_connected(pool, slot)) {
		pthread_mutex_lock(&pool->lock);
		slot->busy = false;
		pthread_cond_signal(&pool->freed);
		pthread_mutex_unlock(&pool->lock);
		return NULL;
	}
	return slot->conn;
}

void db_release(struct db_pool *pool, PGconn *conn)
{
	if (conn == NULL)
		return;
	PGTransactionStatusType ts = PQtransactionStatus(conn);
	if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR) {
		PGresult *res = PQexec(conn, "ROLLBACK");
		PQclear(res);
	}

	pthread_mutex_lock(&pool->lock);
	for (int i = 0; i < pool->size; i++) {
		if (pool->slots[i].conn == conn && pool->slots[i].busy) {
			pool->slots[i].busy = false;
			pthread_cond_signal(&pool->freed);
			break;
		}
	}
	pthread_mutex_unlock(&pool->lock);
}

/*
 * Each connection prepares a parameterized statement the first time it runs
 * it, and reuses it after: parsing and planning were a quarter of the
 * database's CPU. The cache lives in the connection's libpq instance data, so
 * a reset or a close forgets it with the server's side.
 */
#define STMT_CACHE_SLOTS 256
#define DB_INVALID_STATEMENT "26000"

struct stmt_cache {
	int count;
	struct {
		uint32_t hash;
		char *sql;
	} entries[STMT_CACHE_SLOTS];
};

static void cache_clear(struct stmt_cache *c)
{
	for (int i = 0; c != NULL && i < c->count; i++)
		free(c->entries[i].sql);
	if (c != NULL)
		c->count = 0;
}

static int cache_event(PGEventId id, void *info, void *pass)
{
	(void)pass;
	if (id == PGEVT_REGISTER) {
		PGconn *conn = ((PGEventRegister *)info)->conn;
		return PQsetInstanceData(conn, cache_event, calloc(1, sizeof(struct stmt_cache)));
	}
	if (id == PGEVT_CONNRESET) {
		cache_clear(PQinstanceData(((PGEventConnReset *)info)->conn, cache_event));
	} else if (id == PGEVT_CONNDESTROY) {
		struct stmt_cache *c = PQinstanceData(((PGEventConnDestroy *)info)->conn, cache_event);
		cache_clear(c);
		free(c);
	}
	return 1;
}

static uint32_t fnv1a(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

static PGresult *exec_once(PGconn *conn, const char *sql, int nparams, const char *const *params)
{
	struct stmt_cache *c = nparams > 0 ? PQinstanceData(conn, cache_event) : NULL;
	if (c == NULL)
		return PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);

	uint32_t hash = fnv1a(sql);
	int i = 0;
	while (i < c->count && (c->entries[i].hash != hash || strcmp(c->entries[i].sql, sql) != 0))
		i++;
	char name[16];
	snprintf(name, sizeof(name), "evc_%d", i);
	if (i == c->count) {
		if (c->count == STMT_CACHE_SLOTS)
			return PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
		PGresult *prepared = PQprepare(conn, name, sql, nparams, NULL);
		bool ok = PQresultStatus(prepared) == PGRES_COMMAND_OK;
		PQclear(prepared);
		if (!ok || (c->entries[i].sql = strdup(sql)) == NULL)
			return PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
		c->entries[i].hash = hash;
		c->count++;
	}
	PGresult *res = PQexecPrepared(conn, name, nparams, params, NULL, NULL, 0);
	if (db_sqlstate_is(res, DB_INVALID_STATEMENT)) {
		/* The server forgot it (a pooler, a DISCARD): start over, plainly this time. */
		PQclear(res);
		cache_clear(c);
		res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
	}
	return res;
}

PGresult *db_exec(PGconn *conn, const char *sql, int nparams, const char *const *params)
{
	bool was_idle = PQtransactionStatus(conn) == PQTRANS_IDLE;
	PGresult *res = exec_once(conn, sql, nparams, params);
	if (was_idle && PQstatus(conn) == CONNECTION_BAD) {
		/* Nothing of ours was in flight on this connection: a retry is safe. */
		PQclear(res);
		log_warn("event=db_reconnect reason=connection_lost");
		PQreset(conn);
		res = exec_once(conn, sql, nparams, params);
	}
	if (res == NULL)
		res = PQmakeEmptyPGresult(conn, PGRES_FATAL_ERROR);
	return res;
}

bool db_ok(const PGresult *res, const char *what)
{
	ExecStatusType st = PQresultStatus(res);
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return true;
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	log_debug("event=db_error what=%s sqlstate=%s error=\"%s\"", what, state ? state : "none",
		  msg ? msg : PQresStatus(st));
	return false;
}

bool db_sqlstate_is(const PGresult *res, const char *sqlstate)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	return state != NULL && strcmp(state, sqlstate) == 0;
}

bool db_command(PGconn *conn, const char *sql)
{
	PGresult *res = db_exec(conn, sql, 0, NULL);
	bool ok = db_ok(res, sql);
	if (!ok) {
		const char *msg = PQerrorMessage(conn);
		log_warn("event=db_command_failed sql=\"%s\" error=\"%.*s\"", sql, (int)strcspn(msg, "\n"), msg);
	}
	PQclear(res);
	return ok;
}

bool db_is_connection_error(PGconn *conn, const PGresult *res)
{
	if (PQstatus(conn) == CONNECTION_BAD)
		return true;
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	/* Class 08: connection exception; 57P0x: the server is shutting down. */
	return state == NULL || strncmp(state, "08", 2) == 0 || strncmp(state, "57P0", 4) == 0;
}
