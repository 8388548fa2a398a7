/*
 * The scenarios evc-bench measures. Bookings are spread over many windows and
 * stations of 64 chargers, so that what is measured is throughput, not
 * contention: two requests meet on a charger only by chance, and a 409 is
 * counted, never retried.
 */
#include "bench.h"
#include "telemetry_load.h"
#include "timeutil.h"

#include <stdio.h>
#include <string.h>

#define QUARTER 900                 /* windows start on a quarter hour */
#define RESERVATION_SECONDS 600     /* same-quarter windows overlap, neighbours do not */
#define LEG_SECONDS 1800
#define LEG_GAP_SECONDS (3 * 3600)  /* legs of a trip three hours apart, in company order */

/* ---- Shared: benchmark stations ------------------------------------------------- */

/* Coordinates near each demo company's region, so alternatives are computed as usual. */
static const double station_origin[][2] = { { -7.12, -34.86 }, { -9.66, -35.73 }, { -12.27, -38.97 } };

/* Creates the run's stations (<company>-bench-<run>-<k>, 64 chargers each) at every company. */
static bool ensure_stations(struct bench *b, char *why, size_t size)
{
	if (b->stations_ready)
		return true;
	struct httpc *http = httpc_new(b->timeout_ms);
	if (http == NULL) {
		snprintf(why, size, "out of memory");
		return false;
	}
	bool ok = true;
	for (int c = 0; c < b->ncompanies && ok; c++) {
		struct bench_company *co = &b->companies[c];
		char url[320], auth[160];
		snprintf(url, sizeof(url), "%s/api/v1/stations", co->http_url);
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", co->admin_token);
		const char *headers[] = { auth, NULL };
		const double *origin = station_origin[c % 3];
		co->nstations = 0;
		for (int k = 0; k < b->stations_per_company && ok; k++) {
			char id[BENCH_ID_MAX], body[512];
			snprintf(id, sizeof(id), "%s-bench-%s-%02d", co->id, b->run_id, k + 1);
			snprintf(body, sizeof(body),
				 "{\"id\":\"%s\",\"name\":\"Benchmark %s %d\",\"city\":\"Benchmark\",\"lat\":%.4f,"
				 "\"lon\":%.4f,\"chargers\":%d,\"power_kw\":150,\"price_per_kwh\":1.5}",
				 id, b->run_id, k + 1, origin[0] + 0.01 * k, origin[1], b->chargers);
			long status = httpc_request(http, "POST", url, headers, body);
			if (status != 201) {
				snprintf(why, size, "creating station %s at %s: %s %.200s", id, co->http_url,
					 status == HTTPC_TRANSPORT_ERROR ? "no answer:" : "status",
					 status == HTTPC_TRANSPORT_ERROR ? httpc_error(http) : httpc_body(http));
				ok = false;
				break;
			}
			snprintf(co->stations[co->nstations++], BENCH_ID_MAX, "%s", id);
		}
	}
	httpc_free(http);
	b->stations_ready = ok;
	return ok;
}

/* A random window start: any quarter hour of the run's days. */
static int64_t random_start(struct bench_thread *t)
{
	const struct bench *b = t->bench;
	return b->first_day + (int64_t)bench_random(&t->rng, (uint64_t)b->days * 86400 / QUARTER) * QUARTER;
}

/* "Authorization: Bearer <operator token>": the benchmark books as each company's operator, for a named car. */
static void operator_header(const struct bench_company *co, char *out, size_t size)
{
	snprintf(out, size, "Authorization: Bearer %s", co->admin_token);
}

/* ---- Local single-leg reservations ----------------------------------------------- */

static bool reservations_prepare(struct bench *b, char *why, size_t size)
{
	return ensure_stations(b, why, size);
}

static long reservations_one(struct bench_thread *t)
{
	const struct bench_company *co = &t->bench->companies[t->bench->local];
	char url[320], body[384], auth[160], start[TIMEUTIL_RFC3339_LEN], end[TIMEUTIL_RFC3339_LEN];
	int64_t s = random_start(t);
	timeutil_format_rfc3339(s, start);
	timeutil_format_rfc3339(s + RESERVATION_SECONDS, end);
	snprintf(url, sizeof(url), "%s/api/v1/reservations", co->http_url);
	/* One car per booking, as on the road: a car may hold only a few live reservations. */
	snprintf(body, sizeof(body),
		 "{\"station_id\":\"%s\",\"car_id\":\"bench-%s-%d-%llu\",\"start\":\"%s\",\"end\":\"%s\"}",
		 co->stations[bench_random(&t->rng, (uint64_t)co->nstations)], t->bench->run_id, t->index,
		 (unsigned long long)t->seq, start, end);
	operator_header(co, auth, sizeof(auth));
	const char *headers[] = { auth, NULL };
	return httpc_request(t->http, "POST", url, headers, body);
}

/* ---- Cross-company trips, one leg at each company --------------------------------- */

static bool trips_prepare(struct bench *b, char *why, size_t size)
{
	if (b->ncompanies < 2) {
		snprintf(why, size, "a trip across companies needs at least two companies in the stack");
		return false;
	}
	return ensure_stations(b, why, size);
}

static long trips_one(struct bench_thread *t)
{
	const struct bench *b = t->bench;
	/* Coordinators spread over the companies: thread i asks company i mod n. */
	const struct bench_company *coordinator = &b->companies[t->index % b->ncompanies];
	char url[320], key[160], body[2048];
	int64_t s = random_start(t);
	/* One car per trip, as on the road: the worker limits how fast one car may ask. */
	int n = snprintf(body, sizeof(body), "{\"car_id\":\"bench-%s-%d-%d-%llu\",\"legs\":[", b->run_id, t->round,
			 t->index, (unsigned long long)t->seq);
	for (int c = 0; c < b->ncompanies && n < (int)sizeof(body); c++) {
		const struct bench_company *co = &b->companies[c];
		char start[TIMEUTIL_RFC3339_LEN], end[TIMEUTIL_RFC3339_LEN];
		timeutil_format_rfc3339(s + (int64_t)c * LEG_GAP_SECONDS, start);
		timeutil_format_rfc3339(s + (int64_t)c * LEG_GAP_SECONDS + LEG_SECONDS, end);
		n += snprintf(body + n, sizeof(body) - (size_t)n, "%s{\"station_id\":\"%s\",\"start\":\"%s\",\"end\":\"%s\"}",
			      c > 0 ? "," : "", co->stations[bench_random(&t->rng, (uint64_t)co->nstations)], start, end);
	}
	if (n < (int)sizeof(body))
		snprintf(body + n, sizeof(body) - (size_t)n, "]}");
	snprintf(url, sizeof(url), "%s/api/v1/trips", coordinator->http_url);
	snprintf(key, sizeof(key), "Idempotency-Key: bench-%s-%d-%d-%llu", b->run_id, t->round, t->index,
		 (unsigned long long)t->seq);
	char auth[160];
	operator_header(coordinator, auth, sizeof(auth));
	const char *headers[] = { key, auth, NULL };
	return httpc_request(t->http, "POST", url, headers, body);
}

/* ---- MQTT telemetry ingest: telemetry_load.c ---------------------------------------- */

/* ---- Route planner (issue 4) --------------------------------------------------------
 * POST /api/v1/routes/plan, João Pessoa to Feira de Santana tomorrow morning:
 * three companies' stations on the way. End to end over HTTP, so the
 * availability calls to the other companies are inside the latency. Until the
 * route exists the probe meets the worker's 404 "no such endpoint".
 */
static void planner_body(char *body, size_t size)
{
	char departure[TIMEUTIL_RFC3339_LEN];
	timeutil_format_rfc3339((timeutil_now() / 86400 + 1) * 86400 + 8 * 3600, departure);
	snprintf(body, size,
		 "{\"car_id\":\"bench-planner\",\"origin\":\"joao-pessoa\",\"destination\":\"feira-de-santana\","
		 "\"departure\":\"%s\",\"battery\":{\"capacity_kwh\":60,\"soc\":60},\"max_options\":3}",
		 departure);
}

static bool planner_prepare(struct bench *b, char *why, size_t size)
{
	struct httpc *http = httpc_new(b->timeout_ms);
	if (http == NULL) {
		snprintf(why, size, "out of memory");
		return false;
	}
	char url[320], body[512], auth[160];
	snprintf(url, sizeof(url), "%s/api/v1/routes/plan", b->companies[0].http_url);
	planner_body(body, sizeof(body));
	operator_header(&b->companies[0], auth, sizeof(auth));
	const char *headers[] = { auth, NULL };
	long status = httpc_request(http, "POST", url, headers, body);
	bool ok = status == 200;
	if (status == 404 && strstr(httpc_body(http), "no such endpoint") != NULL)
		snprintf(why, size, "not available yet: no POST /api/v1/routes/plan on the worker");
	else if (!ok)
		snprintf(why, size, "the planner refused the benchmark's request (status %ld: %.160s): adjust planner_body()",
			 status, status == HTTPC_TRANSPORT_ERROR ? httpc_error(http) : httpc_body(http));
	httpc_free(http);
	return ok;
}

static long planner_one(struct bench_thread *t)
{
	const struct bench *b = t->bench;
	const struct bench_company *co = &b->companies[t->index % b->ncompanies];
	char url[320], body[512], auth[160];
	snprintf(url, sizeof(url), "%s/api/v1/routes/plan", co->http_url);
	planner_body(body, sizeof(body));
	operator_header(co, auth, sizeof(auth));
	const char *headers[] = { auth, NULL };
	return httpc_request(t->http, "POST", url, headers, body);
}

const struct scenario bench_scenarios[] = {
	{ "reservations", "local reservation, 1 leg", "reservations/s", reservations_prepare, reservations_one, NULL, false },
	{ "trips", "trip, 3 legs, 2PC", "trips/s", trips_prepare, trips_one, NULL, true },
	{ "telemetry", "MQTT telemetry ingest", "messages/s", telemetry_load_available, NULL, telemetry_load_measure, false },
	{ "planner", "route planner", "plans/s", planner_prepare, planner_one, NULL, false },
	{ NULL, NULL, NULL, NULL, NULL, NULL, false },
};

uint64_t bench_random(uint64_t *state, uint64_t n)
{
	/* splitmix64: tiny, fast, and good enough to spread windows. */
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	z ^= z >> 31;
	return z % n;
}
