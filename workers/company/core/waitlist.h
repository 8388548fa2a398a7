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

#include <stdbool.h>

struct app;

bool waitlist_start(struct app *app) __attribute__((warn_unused_result));
void waitlist_stop(void);

/* Capacity may have freed: serve the queues now rather than in a second. */
void waitlist_wake(void);

#endif
