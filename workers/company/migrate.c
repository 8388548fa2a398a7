#include "migrate.h"
#include "db.h"
#include "fileutil.h"
#include "log.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MIGRATIONS 256
#define MIGRATION_MAX_BYTES (16 * 1024 * 1024)
#define MIGRATION_LOCK_KEY "7430001" /* advisory lock: one migrator at a time */

static const char create_table_sql[] =
	"CREATE TABLE IF NOT EXISTS schema_migrations ("
	" version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
	" applied_at timestamptz NOT NULL DEFAULT now());"
	"COMMENT ON TABLE schema_migrations IS 'Migration files applied to this database, with their SHA-256.'";

static int by_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A migration file is "<digits>_<name>.sql". */
static bool is_migration(const char *name)
{
	size_t digits = strspn(name, "0123456789");
	size_t len = strlen(name);
	return digits > 0 && name[digits] == '_' && len > 4 && strcmp(name + len - 4, ".sql") == 0;
}

/* Says which prepared transactions (in doubt, from before the upgrade) hold what a migration needs. */
static void log_prepared_blockers(PGconn *conn)
{
	PGresult *rb = PQexec(conn, "ROLLBACK");
	PQclear(rb);
	PGresult *res = PQexec(conn, "SELECT count(*), coalesce(string_agg(gid, ' ' ORDER BY prepared), '')"
				     " FROM pg_prepared_xacts WHERE database = current_database()");
	if (db_ok(res, "prepared_blockers") && atol(PQgetvalue(res, 0, 0)) > 0)
		log_error("event=migration_blocked prepared=%s gids=\"%s\" hint=\"transactions in doubt hold the tables: run "
			  "the previous version until GET /health says in_doubt 0, then upgrade\"",
			  PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
	PQclear(res);
}

/* Applies one file unless already applied; false on failure or a changed file. */
static bool apply_one(PGconn *conn, const char *dir, const char *name, const char *lock_timeout)
{
	char path[4096], version[16];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(version, sizeof(version), "%ld", strtol(name, NULL, 10));
	bool ok = false;
	PGresult *res = NULL;
	char *sql = fileutil_read(path, MIGRATION_MAX_BYTES, NULL);
	if (sql == NULL) {
		log_error("event=migration_unreadable file=%s", path);
		return false;
	}

	const char *check_params[] = { version, sql };
	res = db_exec(conn,
		      "SELECT encode(sha256(convert_to($2, 'UTF8')), 'hex'),"
		      " (SELECT checksum FROM schema_migrations WHERE version = $1::int)",
		      2, check_params);
	if (!db_ok(res, "migration_checksum"))
		goto cleanup;
	char checksum[65];
	snprintf(checksum, sizeof(checksum), "%s", PQgetvalue(res, 0, 0));
	if (!PQgetisnull(res, 0, 1)) {
		ok = strcmp(checksum, PQgetvalue(res, 0, 1)) == 0;
		if (!ok)
			log_error("event=migration_changed file=%s applied_checksum=%s file_checksum=%s"
				  " hint=\"never edit an applied migration; add a new numbered file\"",
				  name, PQgetvalue(res, 0, 1), checksum);
		goto cleanup;
	}
	PQclear(res);
	res = NULL;

	/* A table a prepared transaction holds would block the migration, and the worker that resolves it, for ever. */
	const char *wait_params[] = { lock_timeout };
	if (!db_command(conn, "BEGIN"))
		goto cleanup;
	res = db_exec(conn, "SELECT set_config('lock_timeout', $1, true)", 1, wait_params);
	if (!db_ok(res, "migration_lock_timeout"))
		goto cleanup;
	PQclear(res);
	res = PQexec(conn, sql);
	if (!db_ok(res, name)) {
		log_error("event=migration_failed file=%s error=\"%s\"", name,
			  PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : "?");
		if (db_sqlstate_is(res, DB_LOCK_NOT_AVAILABLE))
			log_prepared_blockers(conn);
		goto cleanup;
	}
	PQclear(res);
	const char *record_params[] = { version, name, checksum };
	res = db_exec(conn, "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1::int, $2, $3)", 3,
		      record_params);
	ok = db_ok(res, "migration_record") && db_command(conn, "COMMIT");
	if (ok)
		log_info("event=migration_applied file=%s checksum=%s", name, checksum);

cleanup:
	if (PQtransactionStatus(conn) != PQTRANS_IDLE) {
		PGresult *rb = PQexec(conn, "ROLLBACK");
		PQclear(rb);
	}
	PQclear(res);
	free(sql);
	return ok;
}

enum migrate_result migrate_run(const char *database_url, const char *dir, int lock_timeout_ms)
{
	char lock_timeout[32];
	snprintf(lock_timeout, sizeof(lock_timeout), "%dms", lock_timeout_ms);
	char *names[MAX_MIGRATIONS];
	size_t count = 0;
	enum migrate_result result = MIGRATE_FAILED;
	PGconn *conn = NULL;

	DIR *d = opendir(dir);
	if (d == NULL) {
		log_error("event=migrations_missing dir=%s", dir);
		return MIGRATE_FAILED;
	}
	struct dirent *e;
	while ((e = readdir(d)) != NULL && count < MAX_MIGRATIONS)
		if (is_migration(e->d_name))
			names[count++] = strdup(e->d_name);
	closedir(d);
	qsort(names, count, sizeof(names[0]), by_name);

	conn = PQconnectdb(database_url);
	if (PQstatus(conn) != CONNECTION_OK) {
		const char *msg = PQerrorMessage(conn);
		log_warn("event=migrate_connect_failed error=\"%.*s\"", (int)strcspn(msg, "\n"), msg);
		result = MIGRATE_UNREACHABLE;
		goto cleanup;
	}
	PGresult *res = PQexec(conn, "SET client_min_messages = warning; SELECT pg_advisory_lock(" MIGRATION_LOCK_KEY ")");
	bool locked = db_ok(res, "migrate_lock");
	PQclear(res);
	if (!locked)
		goto cleanup;
	res = PQexec(conn, create_table_sql);
	bool created = db_ok(res, "migrate_table");
	PQclear(res);
	if (!created)
		goto cleanup;

	bool ok = true;
	for (size_t i = 0; i < count && ok; i++)
		ok = names[i] != NULL && apply_one(conn, dir, names[i], lock_timeout);
	if (ok)
		result = MIGRATE_OK;
	else if (PQstatus(conn) != CONNECTION_OK)
		result = MIGRATE_UNREACHABLE;

cleanup:
	PQfinish(conn); /* ends the session, and with it the advisory lock */
	for (size_t i = 0; i < count; i++)
		free(names[i]);
	return result;
}
