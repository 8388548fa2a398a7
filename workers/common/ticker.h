/*
 * The one helper for periodic work: a job runs on its own thread, once at
 * start and then every period, or at once when woken, until stopped. A slow
 * job delays only itself: liveness (the instance heartbeat) never waits on
 * recovery or on peers.
 */
#ifndef EVC_TICKER_H
#define EVC_TICKER_H

#include <stdbool.h>

struct ticker;

typedef void (*ticker_fn)(void *arg);

/* Starts job fn(arg) every period_ms (name: for logs). NULL when no thread could start. */
struct ticker *ticker_start(const char *name, int period_ms, ticker_fn fn, void *arg);

/* Runs the job again as soon as it is idle, without waiting for the period. */
void ticker_wake(struct ticker *t);

/* Stops the job (waits for a run in progress) and frees t. NULL is fine. */
void ticker_stop(struct ticker *t);

#endif
