/*
 * Two-phase commit of a trip's legs across companies, over REST, each
 * participant holding its vote as a real PREPARE TRANSACTION.
 *
 * Coordinator (the company the car asked): records the trip and its
 * participants, asks each participant to prepare in leg order, makes the
 * decision durable in tx_decisions (its local commit IS the decision; first
 * writer wins, so a late commit is impossible once abort is recorded), then
 * tells every participant. No decision row means abort (presumed abort).
 *
 * Participant: prepares the legs and a tx_markers row, then PREPARE
 * TRANSACTION. It never aborts a prepared transaction on its own: its recovery
 * asks the coordinator. Commit and abort are idempotent thanks to the marker.
 *
 * Recovery runs at start and every few seconds on both sides.
 */
#ifndef EVC_TWOPC_H
#define EVC_TWOPC_H

#include <jansson.h>
#include <stdbool.h>

#include "peer_client.h"

struct app;

#define TWOPC_GID_MAX 80

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
void twopc_commit(struct app *app, const char *gid, struct peer_response *out);
void twopc_abort(struct app *app, const char *gid, struct peer_response *out);

/* Coordinator: the decision for gid, "commit", "abort" or "pending"; NULL when unreachable. */
const char *twopc_decision(struct app *app, const char *gid);

/*
 * Coordinator: runs one distributed transaction of the trip (op reserve, cancel
 * or finish) whose row is already in trips with this gid. Fills *reply with the
 * client's answer (new reference) and returns its status.
 */
int twopc_run(struct app *app, const char *trip_id, const char *gid, const char *request_id, json_t **reply);

/*
 * Records this process as alive (worker_instances); the recovery loop repeats
 * it every 2 s on its own ticker. Undecided trips of an instance silent for 6 s are aborted.
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

/* In-doubt prepared transactions here: count and age in seconds of the oldest. */
bool twopc_in_doubt(struct app *app, long *count, double *oldest_seconds);

#endif
