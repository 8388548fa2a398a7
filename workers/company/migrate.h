/*
 * Schema migrations: the numbered files of db/migrations applied in order, each
 * once, in its own transaction, recorded in schema_migrations with a SHA-256.
 * A file edited after it was applied is refused: the schema must never drift
 * silently from what the repository says.
 */
#ifndef EVC_MIGRATE_H
#define EVC_MIGRATE_H

enum migrate_result {
	MIGRATE_OK,
	MIGRATE_UNREACHABLE, /* the database could not be reached: worth retrying */
	MIGRATE_FAILED,      /* a file is unreadable, changed or wrong: retrying won't help */
};

/* Applies what is pending (logged). Safe with several replicas starting at once. */
enum migrate_result migrate_run(const char *database_url, const char *dir, int lock_timeout_ms)
	__attribute__((warn_unused_result));

#endif
