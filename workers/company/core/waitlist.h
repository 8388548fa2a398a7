/*
 * The waitlist consumer: serves waiting cars first come, first served, per
 * city. It runs every second, and at once when capacity frees (waitlist_wake).
 *
 * The rule: in each city, requests are served strictly in arrival order. A
 * request is served when one of its stations has a free charger for its window
 * moved by at most its flexibility (nearest move first, earlier first on a
 * tie); a request that does not fit is passed over, so a younger request that
 * fits may be served after it, but never before an older request that fits.
 * A city is served by one consumer at a time (its waitlist_groups row, FOR
 * UPDATE SKIP LOCKED), so replicas never grant one slot twice.
 *
 * It also expires requests past their deadline, and reservations whose car did
 * not check in within the no-show grace period, which frees their chargers.
 */
#ifndef EVC_WAITLIST_H
#define EVC_WAITLIST_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "actor.h"
#include "errors.h"

struct app;

bool waitlist_start(struct app *app) __attribute__((warn_unused_result));
void waitlist_stop(struct app *app);

/* Capacity may have freed: serve the queues now rather than in a second. */
void waitlist_wake(struct app *app);

/*
 * The entries themselves (waitlist_entries.c), called by every adapter with the
 * actor its transport proved. Join: {"station_id"|"city","start","end",
 * "expires_at"[,"flexibility_minutes"][,"car_id"]} (input borrowed); a car joins
 * for itself, an operator names the car. The window follows the booking rules.
 */
enum evc_err waitlist_join(struct app *app, const struct actor *actor, json_t *input, const char *request_id,
			   struct core_result *r);

struct config;

/* A join as read from its body: strings borrowed from the input. */
struct waitlist_request {
	const char *car_id;          /* NULL when absent */
	const char *station;         /* one of cfg's company's stations, or NULL and then ... */
	const char *city;            /* ... a city (exactly one of the two) */
	long long flex;              /* minutes the window may move, 0 when absent */
	int64_t start, end, expires; /* the window within the booking rules, a deadline after now */
};

/*
 * Pure (no database, no actor): reads and checks the body of a join. EVC_OK,
 * or the 400/404 in r. Fuzzed (tests/fuzz/fuzz_body_waitlist.c).
 */
enum evc_err waitlist_read_join(const struct config *cfg, json_t *input, int64_t now, struct waitlist_request *out,
				struct core_result *r) __attribute__((warn_unused_result));
enum evc_err waitlist_get(struct app *app, const struct actor *actor, const char *id, const char *request_id,
			  struct core_result *r);
enum evc_err waitlist_withdraw(struct app *app, const struct actor *actor, const char *id, const char *request_id,
			       struct core_result *r);

#endif
