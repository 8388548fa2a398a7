/*
 * Two-phase commit of a trip's legs across companies, over REST, each
 * participant holding its vote as a real PREPARE TRANSACTION.
 *
 * Coordinator (the company the car asked): records the trip and its
 * participants, asks each participant to prepare in leg order, makes the
 * decision durable in tx_decisions (its local commit IS the decision; first
 * writer wins, so a late commit is impossible once abort is recorded), then
 * tells every participant (its own first, the others side by side). No
 * decision row means abort (presumed abort). When the coordinator is the last
 * participant of a reserve, it does not prepare its own legs: it books them in
 * the transaction that records the commit decision (legs still in leg order).
 *
 * Participant: prepares the legs and a tx_markers row, then PREPARE
 * TRANSACTION. It never aborts a prepared transaction on its own: its recovery
 * asks the coordinator. Commit and abort are idempotent thanks to the marker.
 *
 * Recovery runs at start and every EVC_RECOVERY_INTERVAL_MS on both sides. A
 * trip is recovered only when nobody drives it: this process knows which of
 * its own it drives (twopc_flight_begin/end), and another process of the
 * company is gone when its row in worker_instances is deleted or silent for
 * EVC_ORPHAN_AFTER_SECONDS. It must never take a trip a live process drives.
 */
#ifndef EVC_TWOPC_H
#define EVC_TWOPC_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "peer_client.h"

struct app;

#define TWOPC_GID_MAX 80
#define TWOPC_RETRY_AFTER_SECONDS 2 /* told with a 503 whose trip is not decided yet */

/* The module's state in app->twopc (flights, liveness); before any request is served. */
bool twopc_init(struct app *app) __attribute__((warn_unused_result));
void twopc_cleanup(struct app *app);

/*
 * A request of this process drives gid from now on: called before the trip's
 * row is written or claimed with gid, so recovery never takes it while the
 * request runs. false when too many are in flight (answer 503). Every begun
 * gid is ended, after twopc_run returned or when the row was never written.
 */
bool twopc_flight_begin(struct app *app, const char *gid) __attribute__((warn_unused_result));
void twopc_flight_end(struct app *app, const char *gid);

/* "evc_<coordinator>_<trip hex>_<op letter><8 hex>"; false if any part is malformed. */
bool twopc_gid_make(const char *coordinator, const char *trip_id, const char *op, char gid[TWOPC_GID_MAX]);
bool twopc_gid_valid(const char *gid);
/* Copies the coordinator and trip id (canonical UUID) out of a valid gid. */
bool twopc_gid_parse(const char *gid, char *coordinator, size_t coordinator_size, char trip_id[37]);

/*
 * Participant operations, run here whether the coordinator is a peer (through
 * the REST endpoints) or this company itself. Each fills out with the HTTP
 * status and body a participant answers (body: new reference).
 */
void twopc_prepare(struct app *app, json_t *request, const char *request_id, struct peer_response *out);

struct config;

/* A prepare as read from its body: strings borrowed from it. */
struct twopc_prepare_request {
	const char *gid, *trip_id, *coordinator, *op, *car_id; /* agreeing with each other */
	const char *key;            /* the car's Idempotency-Key (a reserve, when sent), or NULL */
	json_t *legs;               /* new reference: [{index, station_id, start, end}], times in UTC, our stations */
	const char *window_problem; /* why a leg's window broke the booking rules (static), or NULL */
};

/*
 * Pure (no database): reads and checks a prepare's body, a reserve's windows
 * against the booking rules at now. true, or false with the 400 in out (and
 * q->legs NULL). Fuzzed (tests/fuzz/fuzz_body_prepare.c).
 */
bool twopc_read_prepare(const struct config *cfg, json_t *request, int64_t now, struct twopc_prepare_request *q,
			struct peer_response *out) __attribute__((warn_unused_result));
void twopc_commit(struct app *app, const char *gid, struct peer_response *out);
void twopc_abort(struct app *app, const char *gid, struct peer_response *out);

/*
 * Coordinator: the decision for gid, "commit", "abort" or "pending" (a live
 * request drives it); NULL when the database did not answer. With no decision
 * and nobody driving the trip, abort is recorded first (presumed abort), so the
 * answer never changes afterwards.
 */
const char *twopc_decision(struct app *app, const char *gid);

/*
 * Coordinator: runs one distributed transaction of the trip (op reserve, cancel
 * or finish) whose row is already in trips with this gid, in flight. Fills
 * *reply with the client's answer (new reference) and returns its status: 201
 * or 200 only once the commit is durable with the trip's row; 503 with
 * trip_id when the outcome cannot be decided now (recovery then finishes it).
 */
int twopc_run(struct app *app, const char *trip_id, const char *gid, const char *request_id, json_t **reply);

/* A new trip as its request just wrote its row (borrowed): twopc_run_new need not read it back. */
struct twopc_trip {
	const char *car_id, *key;
	json_t *legs, *participants;
};

/*
 * twopc_run for a reserve whose row the caller just wrote with t. The answer
 * to a commit is kept in the row for retries with the same key, in the same
 * statement as the trip's final phase: *kept says it was (the caller then
 * need not keep it).
 */
int twopc_run_new(struct app *app, const char *trip_id, const char *gid, const struct twopc_trip *t,
		  const char *request_id, json_t **reply, bool *kept);

/*
 * Records this process as alive (worker_instances), on a connection of its
 * own; repeated every EVC_RECOVERY_INTERVAL_MS on its own ticker.
 */
bool twopc_instance_beat(struct app *app);

/*
 * Once the HTTP port is bound: records host:port as ours and retires the row of
 * any earlier process on it, whose undecided work is then recovered at once.
 */
bool twopc_instance_claim_slot(struct app *app);

/* Starts and stops the recovery thread (both roles). */
bool twopc_recovery_start(struct app *app) __attribute__((warn_unused_result));
void twopc_recovery_stop(struct app *app);

/* The public URLs of this company's live processes (its replicas), for peers to fail over (new reference). */
json_t *twopc_instance_urls(struct app *app);

/* In-doubt prepared transactions here: count and age in seconds of the oldest. */
bool twopc_in_doubt(struct app *app, long *count, double *oldest_seconds);

#endif
