/*
 * The load engine: runs one scenario's operation from N threads for a fixed
 * time and counts what came back. Two ways to drive:
 *  - closed loop (rate 0): each thread sends its next request as soon as the
 *    previous one is answered; N is the concurrency;
 *  - paced (rate > 0): the threads together start rate operations a second on
 *    a fixed schedule, and latency counts from the scheduled start, so a slow
 *    answer that delays the next request is not hidden (coordinated omission).
 * Only operations started after the warm-up are counted. A 503 with Retry-After
 * (the server shedding load) is counted apart, and that thread waits as told,
 * as a well-behaved client does, before its next request.
 */
#ifndef EVC_BENCH_LOAD_H
#define EVC_BENCH_LOAD_H

#include "bench.h"
#include "histogram.h"

#include <stdbool.h>

struct load_options {
	int threads;
	double warmup_s;
	double duration_s;
	double rate; /* operations per second over all threads; 0: closed loop */
};

struct load_result {
	struct histogram hist;   /* latency of successful (2xx) operations */
	uint64_t ok;             /* 2xx */
	uint64_t conflict;       /* 409: no charger free, leg held by another trip */
	uint64_t client_error;   /* other 4xx: the benchmark's own mistake */
	uint64_t server_error;   /* 5xx but shed */
	uint64_t shed;           /* 503 with Retry-After: admission control refused it at once */
	uint64_t shed_max_us;    /* the slowest of those refusals: quick, or not a shed */
	uint64_t transport_error;
	long connects;           /* TCP connections opened by the load threads */
	int starved;             /* threads that got no answer at all in the measured window */
	double seconds;          /* the measured window */
	double ops_per_s;        /* ok / seconds */
	long rss_max_kb[BENCH_MAX_COMPANIES]; /* workers' largest VmRSS seen during the run */
	char first_error[240];   /* the first non-2xx, non-409 answer, for the report */
};

/* Runs scenario s under options o; false when the threads could not be started. */
bool load_run(struct bench *b, const struct scenario *s, const struct load_options *o, struct load_result *r)
	__attribute__((warn_unused_result));

#endif
