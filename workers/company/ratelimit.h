/*
 * Per-client token buckets (a client is a car id): each bucket refills at
 * `rate` tokens per second up to `burst`. A fixed table, so memory stays
 * bounded whatever the number of clients; two clients hashing to one slot
 * share it (the newer one resets it), which can only let a client through
 * more often, never refuse one unfairly for long.
 */
#ifndef EVC_RATELIMIT_H
#define EVC_RATELIMIT_H

#include <stdbool.h>

struct ratelimit;

/* rate <= 0 turns limiting off. NULL on allocation failure. */
struct ratelimit *ratelimit_create(double rate, double burst);
void ratelimit_destroy(struct ratelimit *rl);

/* Takes a token for client at time now (seconds); false when its bucket is empty. */
bool ratelimit_take(struct ratelimit *rl, const char *client, double now);

#endif
