#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool read_string(const char *name, const char *fallback, bool required, char *out,
			size_t out_size, char *err, size_t err_size)
{
	const char *v = getenv(name);
	if (v == NULL || *v == '\0') {
		if (required) {
			snprintf(err, err_size, "%s is required", name);
			return false;
		}
		v = fallback;
	}
	if (strlen(v) >= out_size) {
		snprintf(err, err_size, "%s is longer than %zu characters", name, out_size - 1);
		return false;
	}
	snprintf(out, out_size, "%s", v);
	return true;
}

static bool read_long(const char *name, long fallback, long min, long max, long *out, char *err,
		      size_t err_size)
{
	const char *v = getenv(name);
	if (v == NULL || *v == '\0') {
		*out = fallback;
		return true;
	}
	char *end;
	errno = 0;
	long n = strtol(v, &end, 10);
	if (errno != 0 || *end != '\0' || n < min || n > max) {
		snprintf(err, err_size, "%s must be an integer between %ld and %ld", name, min, max);
		return false;
	}
	*out = n;
	return true;
}

static bool read_int(const char *name, int fallback, int min, int max, int *out, char *err,
		     size_t err_size)
{
	long n;
	if (!read_long(name, fallback, min, max, &n, err, err_size))
		return false;
	*out = (int)n;
	return true;
}

bool config_load(struct config *cfg, char *err, size_t err_size)
{
	char level[16];
	memset(cfg, 0, sizeof(*cfg));

	if (!read_string("EVC_COMPANY_ID", NULL, true, cfg->company_id, sizeof(cfg->company_id), err, err_size) ||
	    !read_string("EVC_COMPANY_NAME", cfg->company_id, false, cfg->company_name, sizeof(cfg->company_name), err, err_size) ||
	    !read_string("EVC_HTTP_HOST", "127.0.0.1", false, cfg->http_host, sizeof(cfg->http_host), err, err_size) ||
	    !read_int("EVC_HTTP_PORT", 8081, 1, 65535, &cfg->http_port, err, err_size) ||
	    !read_int("EVC_HTTP_THREADS", 256, 4, 1024, &cfg->http_threads, err, err_size) ||
	    !read_int("EVC_HTTP_REQUEST_TIMEOUT_MS", 10000, 500, 600000, &cfg->http_request_timeout_ms, err, err_size) ||
	    !read_int("EVC_HTTP_MAX_CONN_PER_CLIENT", 32, 1, 100000, &cfg->http_max_conn_per_client, err, err_size) ||
	    !read_string("EVC_DATABASE_URL", NULL, true, cfg->database_url, sizeof(cfg->database_url), err, err_size) ||
	    !read_int("EVC_DB_POOL_SIZE", 16, 1, 256, &cfg->db_pool_size, err, err_size) ||
	    !read_string("EVC_MQTT_URL", "", false, cfg->mqtt_url, sizeof(cfg->mqtt_url), err, err_size) ||
	    !read_string("EVC_MQTT_USERNAME", "", false, cfg->mqtt_username, sizeof(cfg->mqtt_username), err, err_size) ||
	    !read_string("EVC_MQTT_PASSWORD", "", false, cfg->mqtt_password, sizeof(cfg->mqtt_password), err, err_size) ||
	    !read_int("EVC_TELEMETRY_RETENTION_HOURS", 24, 1, 24 * 365, &cfg->telemetry_retention_hours, err, err_size) ||
	    !read_string("EVC_ADMIN_TOKEN", "", false, cfg->admin_token, sizeof(cfg->admin_token), err, err_size) ||
	    !read_string("EVC_PEERS", "", false, cfg->peers, sizeof(cfg->peers), err, err_size) ||
	    !read_string("EVC_PUBLIC_URL", "", false, cfg->public_url, sizeof(cfg->public_url), err, err_size) ||
	    !read_string("EVC_FEDERATION_SECRET", "", false, cfg->federation_secret, sizeof(cfg->federation_secret), err, err_size) ||
	    !read_string("EVC_FAILPOINTS", "", false, cfg->failpoints, sizeof(cfg->failpoints), err, err_size) ||
	    !read_string("EVC_STATIC_DIR", "static", false, cfg->static_dir, sizeof(cfg->static_dir), err, err_size) ||
	    !read_string("EVC_MIGRATIONS_DIR", "db/migrations", false, cfg->migrations_dir, sizeof(cfg->migrations_dir), err, err_size) ||
	    !read_string("EVC_DOCS_DIR", "docs", false, cfg->docs_dir, sizeof(cfg->docs_dir), err, err_size) ||
	    !read_long("EVC_MAX_BODY_BYTES", 65536, 1024, 16 * 1024 * 1024, &cfg->max_body_bytes, err, err_size) ||
	    !read_int("EVC_LOCK_TIMEOUT_MS", 1000, 10, 60000, &cfg->lock_timeout_ms, err, err_size) ||
	    !read_int("EVC_NO_SHOW_GRACE_MINUTES", 15, 1, 24 * 60, &cfg->no_show_grace_minutes, err, err_size) ||
	    !read_int("EVC_TRIP_RATE_PER_SECOND", 5, 0, 100000, &cfg->trip_rate_per_second, err, err_size) ||
	    !read_int("EVC_TRIP_BURST", 20, 1, 100000, &cfg->trip_burst, err, err_size) ||
	    !read_int("EVC_CAR_MAX_TRIPS", 3, 0, 100000, &cfg->car_max_trips, err, err_size) ||
	    !read_int("EVC_PLAN_MAX_INFLIGHT", 4, 0, 1024, &cfg->plan_max_inflight, err, err_size) ||
	    !read_int("EVC_PLAN_QUEUE_MS", 250, 0, 10000, &cfg->plan_queue_ms, err, err_size) ||
	    !read_int("EVC_CAR_MAX_RESERVATIONS", 6, 0, 100000, &cfg->car_max_reservations, err, err_size) ||
	    !read_int("EVC_CAR_TOKEN_TTL_HOURS", 24 * 30, 1, 24 * 366, &cfg->car_token_ttl_hours, err, err_size) ||
	    !read_int("EVC_WINDOW_MAX_HOURS", 24, 1, 24 * 7, &cfg->window_max_hours, err, err_size) ||
	    !read_int("EVC_WINDOW_MAX_AHEAD_DAYS", 366, 1, 3660, &cfg->window_max_ahead_days, err, err_size) ||
	    !read_int("EVC_STATS_MAX_DAYS", 93, 1, 731, &cfg->stats_max_days, err, err_size) ||
	    !read_int("EVC_ALERT_IN_DOUBT_SECONDS", 60, 1, 86400, &cfg->alert_in_doubt_seconds, err, err_size) ||
	    !read_int("EVC_ALERT_BUSY_PERCENT", 90, 1, 100, &cfg->alert_busy_percent, err, err_size) ||
	    !read_int("EVC_ALERTS_MAX", 100, 1, 1000, &cfg->alerts_max, err, err_size) ||
	    !read_int("EVC_PEER_CONNECT_TIMEOUT_MS", 1000, 50, 60000, &cfg->peer_connect_timeout_ms, err, err_size) ||
	    !read_int("EVC_PEER_TIMEOUT_MS", 5000, 100, 120000, &cfg->peer_timeout_ms, err, err_size) ||
	    !read_int("EVC_RECOVERY_INTERVAL_MS", 2000, 100, 60000, &cfg->recovery_interval_ms, err, err_size) ||
	    !read_int("EVC_MIGRATION_LOCK_TIMEOUT_MS", 30000, 100, 3600000, &cfg->migration_lock_timeout_ms, err, err_size) ||
	    !read_int("EVC_ORPHAN_AFTER_SECONDS", 6, 1, 3600, &cfg->orphan_after_seconds, err, err_size) ||
	    !read_int("EVC_OCPP_HEARTBEAT_SECONDS", 300, 10, 86400, &cfg->ocpp_heartbeat_seconds, err, err_size) ||
	    !read_int("EVC_OCPP_RESERVE_LEAD_SECONDS", 600, 0, 86400, &cfg->ocpp_reserve_lead_seconds, err, err_size) ||
	    !read_int("EVC_OCPP_CALL_TIMEOUT_MS", 10000, 100, 120000, &cfg->ocpp_call_timeout_ms, err, err_size) ||
	    !read_int("EVC_OCPP_CALL_RETRIES", 3, 0, 20, &cfg->ocpp_call_retries, err, err_size) ||
	    !read_long("EVC_OCPP_MAX_FRAME_BYTES", 65536, 1024, 1024 * 1024, &cfg->ocpp_max_frame_bytes, err, err_size) ||
	    !read_int("EVC_OCPP_MAX_CONNECTIONS", cfg->http_threads / 4, 1, 1000, &cfg->ocpp_max_connections, err, err_size) ||
	    !read_int("EVC_OCPP_TICK_MS", 1000, 100, 60000, &cfg->ocpp_tick_ms, err, err_size) ||
	    /* OCPP offline stations and flooding charge points (README "Real chargers"). */
	    !read_int("EVC_OCPP_OFFLINE_AFTER_S", 3 * cfg->ocpp_heartbeat_seconds, 1, 3 * 86400,
		      &cfg->ocpp_offline_after_s, err, err_size) ||
	    !read_int("EVC_OCPP_CALLS_PER_SECOND", 10, 1, 1000, &cfg->ocpp_calls_per_second, err, err_size) ||
	    !read_int("EVC_OCPP_CALLS_BURST", 30, 1, 10000, &cfg->ocpp_calls_burst, err, err_size) ||
	    !read_int("EVC_TRIP_WAITLIST_RETRY_MS", 2000, 200, 600000, &cfg->trip_waitlist_retry_ms, err, err_size) ||
	    !read_int("EVC_TRIP_WAITLIST_BATCH", 8, 1, 100, &cfg->trip_waitlist_batch, err, err_size) ||
	    !read_int("EVC_TRIP_WAITLIST_BACKOFF_MAX_MS", 30000, 200, 3600000, &cfg->trip_waitlist_backoff_max_ms, err, err_size) ||
	    !read_int("EVC_TRIP_WAITLIST_MAX_WAIT_MINUTES", 240, 1, 7 * 24 * 60, &cfg->trip_waitlist_max_wait_minutes, err, err_size) ||
	    !read_int("EVC_TRIP_WAITLIST_CAR_MAX", 3, 1, 100, &cfg->trip_waitlist_car_max, err, err_size) ||
	    !read_int("EVC_TRIP_WAITLIST_MAX", 1000, 1, 1000000, &cfg->trip_waitlist_max, err, err_size) ||
	    !read_string("EVC_LOG_LEVEL", "info", false, level, sizeof(level), err, err_size))
		return false;

	if (!validate_company_id(cfg->company_id)) {
		snprintf(err, err_size, "EVC_COMPANY_ID must be 1 to %d of [a-z0-9]", VALIDATE_COMPANY_MAX);
		return false;
	}
	if (cfg->trip_waitlist_backoff_max_ms < cfg->trip_waitlist_retry_ms) {
		snprintf(err, err_size, "EVC_TRIP_WAITLIST_BACKOFF_MAX_MS must be at least EVC_TRIP_WAITLIST_RETRY_MS");
		return false;
	}
	if (cfg->peer_connect_timeout_ms > cfg->peer_timeout_ms) {
		snprintf(err, err_size, "EVC_PEER_CONNECT_TIMEOUT_MS must not exceed EVC_PEER_TIMEOUT_MS");
		return false;
	}
	/* Three missed beats before a live process could be taken for a gone one. */
	if ((long)cfg->orphan_after_seconds * 1000 < 3L * cfg->recovery_interval_ms) {
		snprintf(err, err_size, "EVC_ORPHAN_AFTER_SECONDS must be at least three EVC_RECOVERY_INTERVAL_MS");
		return false;
	}
	/* Each charge point holds a civetweb thread for its whole connection: leave room for the API. */
	if (cfg->ocpp_max_connections > cfg->http_threads / 2) {
		snprintf(err, err_size, "EVC_OCPP_MAX_CONNECTIONS must not exceed half of EVC_HTTP_THREADS");
		return false;
	}
	if (cfg->public_url[0] == '\0')
		snprintf(cfg->public_url, sizeof(cfg->public_url), "http://%s:%d",
			 strcmp(cfg->http_host, "0.0.0.0") == 0 ? "127.0.0.1" : cfg->http_host, cfg->http_port);
	if (!log_level_parse(level, &cfg->log_level)) {
		snprintf(err, err_size, "EVC_LOG_LEVEL must be debug, info, warn or error");
		return false;
	}
	return true;
}
