/*
 * The worker's configuration: environment variables read once at start into
 * one struct, validated, then read-only. The README's configuration table and
 * docker-compose use exactly these names.
 */
#ifndef EVC_CONFIG_H
#define EVC_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "log.h"
#include "validate.h"

struct config {
	char company_id[VALIDATE_COMPANY_MAX + 1]; /* EVC_COMPANY_ID (required) */
	char company_name[128];                    /* EVC_COMPANY_NAME */
	char http_host[64];                        /* EVC_HTTP_HOST */
	int http_port;                             /* EVC_HTTP_PORT */
	int http_threads;                          /* EVC_HTTP_THREADS */
	int http_request_timeout_ms;               /* EVC_HTTP_REQUEST_TIMEOUT_MS: to receive a request's head, and its body */
	int http_max_conn_per_client;              /* EVC_HTTP_MAX_CONN_PER_CLIENT: connections one address may hold idle or slow */
	char database_url[512];                    /* EVC_DATABASE_URL (required) */
	int db_pool_size;                          /* EVC_DB_POOL_SIZE */
	char mqtt_url[256];                        /* EVC_MQTT_URL, empty: MQTT off */
	char mqtt_username[64];                    /* EVC_MQTT_USERNAME */
	char mqtt_password[129];                   /* EVC_MQTT_PASSWORD */
	int telemetry_retention_hours;             /* EVC_TELEMETRY_RETENTION_HOURS */
	char admin_token[129];                     /* EVC_ADMIN_TOKEN, empty: admin API closed */
	char peers[2048];                          /* EVC_PEERS "id=url,id=url" */
	char public_url[256];                      /* EVC_PUBLIC_URL, how peers reach us */
	char federation_secret[129];               /* EVC_FEDERATION_SECRET, registration token */
	char failpoints[256];                      /* EVC_FAILPOINTS "name,name" (tests only) */
	char static_dir[PATH_MAX];                 /* EVC_STATIC_DIR */
	char migrations_dir[PATH_MAX];             /* EVC_MIGRATIONS_DIR */
	int migration_lock_timeout_ms;             /* EVC_MIGRATION_LOCK_TIMEOUT_MS: longest wait of a migration for a table lock */
	char docs_dir[PATH_MAX];                   /* EVC_DOCS_DIR, holds openapi.yaml */
	long max_body_bytes;                       /* EVC_MAX_BODY_BYTES */
	int lock_timeout_ms;                       /* EVC_LOCK_TIMEOUT_MS */
	int no_show_grace_minutes;                 /* EVC_NO_SHOW_GRACE_MINUTES */
	int trip_rate_per_second;                  /* EVC_TRIP_RATE_PER_SECOND, per car, 0: off */
	int trip_burst;                            /* EVC_TRIP_BURST */
	int plan_max_inflight;                     /* EVC_PLAN_MAX_INFLIGHT: route plans running at once, 0: no limit */
	int plan_queue_ms;                         /* EVC_PLAN_QUEUE_MS: how long one more waits for a place before 503 */
	int car_max_trips;                         /* EVC_CAR_MAX_TRIPS: live future trips per car, 0: no limit */
	int car_max_reservations;                  /* EVC_CAR_MAX_RESERVATIONS: live future single bookings, 0: none */
	int car_token_ttl_hours;                   /* EVC_CAR_TOKEN_TTL_HOURS: lifetime of an issued car token */
	int window_max_hours;                      /* EVC_WINDOW_MAX_HOURS: longest charging window */
	int window_max_ahead_days;                 /* EVC_WINDOW_MAX_AHEAD_DAYS: latest start of a window */
	int stats_max_days;                        /* EVC_STATS_MAX_DAYS: longest period of GET /stats */
	/* GET /alerts (core/alerts.c): when an in-doubt transaction, a busy station, a silent charge point alert */
	int alert_in_doubt_seconds;                /* EVC_ALERT_IN_DOUBT_SECONDS: a prepared transaction older alerts */
	int alert_busy_percent;                    /* EVC_ALERT_BUSY_PERCENT: utilisation over the last hour above it alerts */
	int alerts_max;                            /* EVC_ALERTS_MAX: most alerts in one answer (the rest counted) */
	int peer_connect_timeout_ms;               /* EVC_PEER_CONNECT_TIMEOUT_MS: connect timeout of every call to a peer */
	int peer_timeout_ms;                       /* EVC_PEER_TIMEOUT_MS: total timeout of a 2PC call to a peer */
	int recovery_interval_ms;                  /* EVC_RECOVERY_INTERVAL_MS: 2PC recovery and instance heartbeat */
	int orphan_after_seconds;                  /* EVC_ORPHAN_AFTER_SECONDS: a process silent this long is gone */
	int ocpp_heartbeat_seconds;                /* EVC_OCPP_HEARTBEAT_SECONDS: interval given to a booted charge point */
	int ocpp_reserve_lead_seconds;             /* EVC_OCPP_RESERVE_LEAD_SECONDS: ReserveNow this long before a window */
	int ocpp_call_timeout_ms;                  /* EVC_OCPP_CALL_TIMEOUT_MS: wait for a charge point's answer */
	int ocpp_call_retries;                     /* EVC_OCPP_CALL_RETRIES: ReserveNow/CancelReservation tries after the first */
	long ocpp_max_frame_bytes;                 /* EVC_OCPP_MAX_FRAME_BYTES: largest OCPP-J message accepted */
	int ocpp_max_connections;                  /* EVC_OCPP_MAX_CONNECTIONS: charge points connected at once (default: a quarter of the HTTP threads) */
	int ocpp_tick_ms;                          /* EVC_OCPP_TICK_MS: period of the ReserveNow/CancelReservation job */
	int ocpp_offline_after_s;                  /* EVC_OCPP_OFFLINE_AFTER_S: a station's connection lost this long: its bookings are disrupted */
	int ocpp_calls_per_second;                 /* EVC_OCPP_CALLS_PER_SECOND: CALLs a charge point may send per second, sustained */
	int ocpp_calls_burst;                      /* EVC_OCPP_CALLS_BURST: ... and at once */
	int trip_waitlist_retry_ms;                /* EVC_TRIP_WAITLIST_RETRY_MS: period of the trip waitlist's retry round */
	int trip_waitlist_batch;                   /* EVC_TRIP_WAITLIST_BATCH: entries retried per round, oldest first */
	int trip_waitlist_backoff_max_ms;          /* EVC_TRIP_WAITLIST_BACKOFF_MAX_MS: longest pause between tries of one entry */
	int trip_waitlist_max_wait_minutes;        /* EVC_TRIP_WAITLIST_MAX_WAIT_MINUTES: longest wait of an entry */
	int trip_waitlist_car_max;                 /* EVC_TRIP_WAITLIST_CAR_MAX: waiting entries per car */
	int trip_waitlist_max;                     /* EVC_TRIP_WAITLIST_MAX: waiting entries in all */
	enum log_level log_level;                  /* EVC_LOG_LEVEL */
};

/* Fills cfg from the environment; false with a message in err when invalid. */
bool config_load(struct config *cfg, char *err, size_t err_size) __attribute__((warn_unused_result));

#endif
