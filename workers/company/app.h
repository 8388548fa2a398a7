/*
 * The worker's process-wide context, created in main and shared read-only by
 * every handler thread. Mutable state lives behind its own module's lock.
 */
#ifndef EVC_APP_H
#define EVC_APP_H

#include "config.h"
#include "db.h"

struct admission;
struct carauth;
struct connguard;
struct mqtt_bridge;
struct ratelimit;
struct ticker;
struct twopc;

#define APP_VERSION "0.1.0"
#define APP_DB_WAIT_MS 5000 /* how long a request waits for a pooled connection */

struct app {
	struct config cfg;
	char instance[33]; /* random per process: tells our in-flight trips from a dead process's */
	struct db_pool *db;
	/*
	 * Connections with synchronous_commit off, for what recovery derives again
	 * after a crash (a trip's row and phases, COMMIT/ROLLBACK PREPARED): their
	 * commits do not wait for the WAL flush; and the MQTT bridge's request
	 * claims, made durable by the request's own synchronous commit that follows
	 * (mqtt_bridge.c). Nothing else may use them.
	 */
	struct db_pool *db_relaxed;
	struct mqtt_bridge *mqtt;
	struct ratelimit *trip_limit; /* POST /trips per car */
	struct ratelimit *ocpp_limit; /* CALLs per OCPP charge point (station id) */
	struct connguard *connguard;  /* HTTP connections per client address (connguard.h) */
	struct carauth *carauth;      /* car tokens: our signing key, peers' keys, revocations */
	struct twopc *twopc;          /* two-phase commit: what this process drives, its liveness */
	struct admission *plan_admission; /* route plans running at once (EVC_PLAN_MAX_INFLIGHT) */
	/* The periodic jobs (ticker.h), each on its own thread. */
	struct ticker *waitlist_ticker;  /* serves the waitlist, expires no-shows */
	struct ticker *trip_waitlist_ticker; /* retries the trips cars wait for (core/trip_waitlist.c) */
	struct ticker *beat_ticker;      /* this instance's liveness (worker_instances) */
	struct ticker *recovery_ticker;  /* 2PC recovery, both roles; prunes markers */
	struct ticker *federation_ticker; /* peers: handshake, heartbeat, catalogue, revocations */
	struct ticker *ocpp_ticker;      /* OCPP: ReserveNow before windows, CancelReservation after (ocpp/ocpp_outbox.c) */
};

#endif
