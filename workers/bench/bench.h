/*
 * What every part of evc-bench shares: the federation under test (read from
 * the stack's stack.json), the run's settings, and the scenario interface.
 *
 * A scenario is one thing to measure. Request/response scenarios (local
 * reservations, trips, the planner) give run_one, and the load engine
 * (load.c) runs it at each concurrency. A scenario of another shape (MQTT
 * telemetry: publish, then count what got persisted) gives measure instead.
 * A scenario whose part of the system does not exist yet says so from
 * prepare, and the report shows "not available yet" with that reason.
 */
#ifndef EVC_BENCH_H
#define EVC_BENCH_H

#include "httpc.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define BENCH_MAX_COMPANIES 8
#define BENCH_MAX_STATIONS 16
#define BENCH_ID_MAX 72

struct bench_company {
	char id[17];
	char http_url[256];
	char database_url[512];
	char admin_token[128];
	pid_t pid; /* the worker's process, for its memory; 0 when unknown */
	char stations[BENCH_MAX_STATIONS][BENCH_ID_MAX];
	int nstations;
};

struct bench {
	struct bench_company companies[BENCH_MAX_COMPANIES];
	int ncompanies;
	int local;              /* index of the company that takes the local reservations */
	char run_id[8];         /* random, in station ids, car ids and idempotency keys */
	int stations_per_company;
	int chargers;
	int64_t first_day;      /* midnight UTC from which windows are drawn */
	int days;               /* windows start within first_day + days */
	long timeout_ms;        /* per request */
	char mqtt_url[256];     /* the stack's broker; empty when it has none */
	char mqtt_username[64]; /* the broker's login for tools (stack.json), empty when anonymous */
	char mqtt_password[128];
	double telemetry_seconds; /* publishing time at each rate of the telemetry ramp */
	int round;              /* load runs so far: keeps keys unique across levels */
	bool stations_ready;
};

/* One load thread's own state: its HTTP client and random numbers. */
struct bench_thread {
	struct bench *bench;
	struct httpc *http;
	int index;
	int round;     /* the load run this thread belongs to */
	uint64_t rng;
	uint64_t seq;  /* operations started by this thread */
};

struct scenario {
	const char *name;  /* on the command line and in the JSON report */
	const char *title; /* in the table */
	const char *unit;  /* what one operation is, per second: "reservations/s" */
	/* Gets the stack ready; false with why (e.g. "not available yet: ...") when it cannot run. */
	bool (*prepare)(struct bench *b, char *why, size_t size);
	/* One operation: the HTTP status of its answer, or HTTPC_TRANSPORT_ERROR. */
	long (*run_one)(struct bench_thread *t);
	/* For a scenario that is not request/response: measures and fills out. NULL otherwise. */
	bool (*measure)(struct bench *b, json_t *out);
	/* Also measure latency when paced at half the peak rate of the concurrency sweep. */
	bool half_peak;
};

/* Every scenario, in report order; the list ends with a NULL name. */
extern const struct scenario bench_scenarios[];

/* A uniform random number below n (n > 0), from the thread's generator. */
uint64_t bench_random(uint64_t *state, uint64_t n);

#endif
