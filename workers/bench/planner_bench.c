/*
 * planner_bench: the trip planner's own speed, in-process on one thread, with no
 * database and no network (the endpoint adds those; they are not the planner's).
 *
 *   1. The seeded network: the cities and roads of db/migrations/004_road_network.sql
 *      and the demo stations of db/seed/ (every .sql), read from the SQL files themselves
 *      (estimated road km computed by the same rule as the migration), planned
 *      between random pairs of cities. Target: p95 under 50 ms.
 *   2. A generated network of 5,000 cities (a jittered grid over about 2,700 x
 *      1,400 km, roads to the neighbours, km = great circle x 1.25) and 50,000
 *      stations of 8 companies, planned between cities 600 to 1,500 km apart.
 *      Target: under 500 ms (p95).
 *
 * Each plan asks for K = 3 options, so the planner looks for K + PLANNER_SPARE_OPTIONS
 * distinct ones, as POST /routes/plan does. Exit status 1 when a target is missed.
 *
 * Usage: planner_bench [repository root, default "."] [plans per network]
 */
#include "planner.h"

#include <glob.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_FIELDS 12
#define FIELD_MAX 128
#define SEEDED_TARGET_MS 50.0
#define GENERATED_TARGET_MS 500.0
#define ASKED_OPTIONS 3

/* ---- a tiny reader of the VALUES tuples of INSERT statements ---------------------- */

struct tuple {
	char f[MAX_FIELDS][FIELD_MAX]; /* "NULL" for SQL NULL, strings unquoted */
	int n;
};

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	char *buf = NULL;
	long size;
	if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)size + 1)) != NULL) {
		size_t got = fread(buf, 1, (size_t)size, f);
		buf[got] = '\0';
	}
	fclose(f);
	return buf;
}

static const char *skip_space(const char *p)
{
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
			p++;
		if (p[0] == '-' && p[1] == '-') {
			while (*p != '\0' && *p != '\n')
				p++;
			continue;
		}
		return p;
	}
}

/*
 * Calls fn on each tuple of the first "INSERT INTO <table> ... VALUES" of text.
 * Returns the number of tuples, or -1 when the statement is missing or malformed.
 */
static int each_tuple(const char *text, const char *table, void (*fn)(const struct tuple *, void *), void *arg)
{
	char head[96];
	snprintf(head, sizeof(head), "INSERT INTO %s ", table);
	const char *p = strstr(text, head);
	if (p == NULL || (p = strstr(p, "VALUES")) == NULL)
		return -1;
	p += 6;
	int count = 0;
	for (;;) {
		struct tuple t = { .n = 0 };
		p = skip_space(p);
		if (*p != '(')
			return -1;
		p++;
		for (;;) {
			p = skip_space(p);
			if (t.n == MAX_FIELDS)
				return -1;
			char *out = t.f[t.n++];
			size_t len = 0;
			if (*p == '\'') {
				for (p++; *p != '\0' && !(p[0] == '\'' && p[1] != '\''); p++) {
					if (p[0] == '\'')
						p++; /* '' is one quote */
					if (len + 1 < FIELD_MAX)
						out[len++] = *p;
				}
				if (*p != '\'')
					return -1;
				p++;
			} else {
				while (*p != '\0' && *p != ',' && *p != ')' && *p != ' ')
					if (len + 1 < FIELD_MAX)
						out[len++] = *p++;
					else
						p++;
			}
			out[len] = '\0';
			p = skip_space(p);
			if (*p == ',') {
				p++;
				continue;
			}
			if (*p != ')')
				return -1;
			p++;
			break;
		}
		fn(&t, arg);
		count++;
		p = skip_space(p);
		if (*p == ',') {
			p++;
			continue;
		}
		return count; /* ';' or an ON CONFLICT clause ends the list */
	}
}

/* ---- the seeded network ---------------------------------------------------------- */

struct loader {
	struct planner_graph *g;
	struct planner_station *stations;
	int nstations, cap;
	char (*ids)[FIELD_MAX];
	char (*companies)[20];
	bool failed;
};

static void add_city(const struct tuple *t, void *arg)
{
	struct loader *l = arg;
	if (t->n != 5 || planner_graph_add_city(l->g, t->f[0], t->f[1], atof(t->f[3]), atof(t->f[4])) < 0)
		l->failed = true;
}

static int city_by_id(const struct planner_graph *g, const char *id)
{
	for (int i = 0; i < planner_graph_city_count(g); i++)
		if (strcmp(planner_city_id(g, i), id) == 0)
			return i;
	return -1;
}

/* Coordinates are kept here: the graph does not expose them. */
static double city_lat[256], city_lon[256];

static void note_coordinates(const struct tuple *t, void *arg)
{
	int *n = arg;
	if (*n < 256) {
		city_lat[*n] = atof(t->f[3]);
		city_lon[*n] = atof(t->f[4]);
	}
	(*n)++;
}

static void add_road(const struct tuple *t, void *arg)
{
	struct loader *l = arg;
	int a = t->n == 6 ? city_by_id(l->g, t->f[0]) : -1, b = t->n == 6 ? city_by_id(l->g, t->f[1]) : -1;
	if (a < 0 || b < 0 || a >= 256 || b >= 256) {
		l->failed = true;
		return;
	}
	double km = strcmp(t->f[2], "NULL") == 0
			    ? round(planner_great_circle_km(city_lat[a], city_lon[a], city_lat[b], city_lon[b]) *
				    PLANNER_DETOUR_FACTOR)
			    : atof(t->f[2]);
	if (!planner_graph_add_road(l->g, a, b, km, planner_road_speed(t->f[4]), t->f[3]))
		l->failed = true;
}

/* Stations come before the graph is finished; their city is resolved afterwards. */
static char pending_city[256][FIELD_MAX];

static void add_station(const struct tuple *t, void *arg)
{
	struct loader *l = arg;
	if (t->n != 8 || l->nstations >= 256) {
		l->failed = true;
		return;
	}
	int i = l->nstations++;
	snprintf(l->ids[i], sizeof(l->ids[i]), "%s", t->f[0]);
	snprintf(l->companies[i], sizeof(l->companies[i]), "%.*s", (int)strcspn(t->f[0], "-") % 20, t->f[0]);
	snprintf(pending_city[i], sizeof(pending_city[i]), "%s", t->f[2]);
	l->stations[i] = (struct planner_station){ .id = l->ids[i], .company = l->companies[i], .city = -1,
						   .power_kw = atof(t->f[6]), .price_per_kwh = atof(t->f[7]) };
}

static bool load_seeded(const char *root, struct loader *l)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/db/migrations/004_road_network.sql", root);
	char *sql = read_file(path);
	if (sql == NULL) {
		fprintf(stderr, "planner_bench: cannot read %s\n", path);
		return false;
	}
	int ncoords = 0;
	bool ok = each_tuple(sql, "cities", add_city, l) > 0 && each_tuple(sql, "cities", note_coordinates, &ncoords) > 0 &&
		  each_tuple(sql, "roads", add_road, l) > 0 && !l->failed && planner_graph_finish(l->g);
	free(sql);
	if (!ok) {
		fprintf(stderr, "planner_bench: %s: could not read the cities and roads\n", path);
		return false;
	}

	glob_t seeds;
	snprintf(path, sizeof(path), "%s/db/seed/*.sql", root);
	if (glob(path, 0, NULL, &seeds) != 0) {
		fprintf(stderr, "planner_bench: no seed in %s\n", path);
		return false;
	}
	for (size_t i = 0; i < seeds.gl_pathc && ok; i++) {
		char *seed = read_file(seeds.gl_pathv[i]);
		ok = seed != NULL && each_tuple(seed, "stations", add_station, l) > 0 && !l->failed;
		free(seed);
	}
	globfree(&seeds);
	for (int i = 0; i < l->nstations && ok; i++) {
		l->stations[i].city = planner_graph_find_city(l->g, pending_city[i]);
		if (l->stations[i].city < 0) {
			fprintf(stderr, "planner_bench: station %s: city '%s' is not in the road network\n", l->ids[i],
				pending_city[i]);
			ok = false;
		}
	}
	return ok;
}

/* ---- measuring ------------------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static double uniform(double lo, double hi)
{
	return lo + (hi - lo) * (double)(rng() >> 11) / 9007199254740992.0;
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

struct stats {
	double *ms;
	int n, planned, failed;
	long options, stops, searches, states;
	int by_status[8];
};

static void measure(const struct planner_graph *g, struct planner_request *req, struct stats *st)
{
	struct planner_result res;
	double t0 = now_ms();
	enum planner_status status = planner_plan(g, req, &res);
	st->ms[st->n++] = now_ms() - t0;
	if (status == PLANNER_OK) {
		st->planned++;
		st->options += res.noptions;
		st->stops += res.options[0].nstops;
	} else {
		st->failed++;
		st->by_status[status < 8 ? status : 7]++;
	}
	st->searches += res.searches;
	st->states += res.states;
	planner_result_free(&res);
}

static bool report(const char *what, struct stats *st, double target_ms)
{
	qsort(st->ms, (size_t)st->n, sizeof(double), by_value);
	double p50 = st->ms[st->n / 2], p95 = st->ms[(int)ceil(st->n * 0.95) - 1], max = st->ms[st->n - 1];
	bool ok = p95 < target_ms;
	printf("  %s: p50 %.2f ms  p95 %.2f ms  max %.2f ms  (target p95 < %.0f ms: %s)\n", what, p50, p95, max, target_ms,
	       ok ? "ok" : "MISSED");
	printf("    %d plans: %d with options (%.1f options, %.1f stops on the first, on average), %d without; %.1f A* runs per plan, %.0f states expanded per run\n",
	       st->n, st->planned, st->planned ? (double)st->options / st->planned : 0,
	       st->planned ? (double)st->stops / st->planned : 0, st->failed, (double)st->searches / st->n,
	       st->searches ? (double)st->states / st->searches : 0);
	if (st->failed > 0)
		printf("    without: %d out of range, %d more than %d stops, %d other\n", st->by_status[PLANNER_OUT_OF_RANGE],
		       st->by_status[PLANNER_TOO_MANY_STOPS], PLANNER_MAX_STOPS,
		       st->failed - st->by_status[PLANNER_OUT_OF_RANGE] - st->by_status[PLANNER_TOO_MANY_STOPS]);
	return ok;
}

static struct planner_request base_request(void)
{
	return (struct planner_request){ .max_options = ASKED_OPTIONS + PLANNER_SPARE_OPTIONS,
					 .battery = { .min_soc = PLANNER_DEFAULT_MIN_SOC,
						      .target_soc = PLANNER_DEFAULT_TARGET_SOC },
					 .departure = 1800000000 };
}

static bool bench_seeded(const char *root, int plans)
{
	struct loader l = { .g = planner_graph_new() };
	l.stations = calloc(256, sizeof(*l.stations));
	l.ids = calloc(256, sizeof(*l.ids));
	l.companies = calloc(256, sizeof(*l.companies));
	struct stats st = { .ms = calloc((size_t)plans + 1, sizeof(double)) };
	bool ok = l.g != NULL && l.stations != NULL && l.ids != NULL && l.companies != NULL && st.ms != NULL &&
		  load_seeded(root, &l);
	if (ok) {
		int n = planner_graph_city_count(l.g);
		printf("seeded network: %d cities, %d roads, %d stations\n", n, planner_graph_road_count(l.g), l.nstations);
		/* The demo trip first, then random pairs and batteries. */
		struct planner_request req = base_request();
		req.stations = l.stations;
		req.nstations = (size_t)l.nstations;
		req.origin = planner_graph_find_city(l.g, "João Pessoa");
		req.destination = planner_graph_find_city(l.g, "Feira de Santana");
		req.battery = (struct planner_battery){ 50, 0.60, 18.5, 0.15, 0.90 };
		struct planner_result res;
		double t0 = now_ms();
		enum planner_status status = planner_plan(l.g, &req, &res);
		double t1 = now_ms();
		printf("  João Pessoa -> Feira de Santana (50 kWh at 60%%, 18.5 kWh/100 km, to 90%%): %.2f ms, %d options",
		       t1 - t0, res.noptions);
		if (status == PLANNER_OK) {
			const struct planner_option *o = &res.options[0];
			printf(", the first with %d stops, %.0f km, %.1f h:", o->nstops, o->km, (double)(o->eta - o->departure) / 3600);
			for (int i = 0; i < o->nstops; i++)
				printf(" %s", l.stations[o->stops[i].station].id);
			printf("\n");
		} else
			printf(": %s\n", res.reason);
		planner_result_free(&res);

		/* Between cities with a station: the trips the demo data can serve. */
		int served[256], nserved = 0;
		for (int c = 0; c < n && c < 256; c++)
			for (int i = 0; i < l.nstations; i++)
				if (l.stations[i].city == c) {
					served[nserved++] = c;
					break;
				}
		for (int i = 0; i < plans; i++) {
			req = base_request();
			req.stations = l.stations;
			req.nstations = (size_t)l.nstations;
			req.origin = served[rng() % (uint64_t)nserved];
			do
				req.destination = served[rng() % (uint64_t)nserved];
			while (req.destination == req.origin);
			req.battery.capacity_kwh = uniform(40, 100);
			req.battery.soc = uniform(0.3, 0.95);
			req.battery.consumption_kwh_per_100km = uniform(14, 22);
			measure(l.g, &req, &st);
		}
		ok = report("random pairs of station cities", &st, SEEDED_TARGET_MS);
	}
	planner_graph_free(l.g);
	free(l.stations);
	free(l.ids);
	free(l.companies);
	free(st.ms);
	return ok;
}

#define GRID_W 100
#define GRID_H 50
#define GEN_STATIONS 50000
#define GEN_COMPANIES 8

static bool bench_generated(int plans)
{
	static const double powers[] = { 50, 60, 75, 100, 120, 150, 200, 350 };
	static const char *const kinds[] = { "dual", "single", "single", "state" };
	struct planner_graph *g = planner_graph_new();
	double *lat = malloc(GRID_W * GRID_H * sizeof(double)), *lon = malloc(GRID_W * GRID_H * sizeof(double));
	struct planner_station *stations = calloc(GEN_STATIONS, sizeof(*stations));
	char(*ids)[24] = calloc(GEN_STATIONS, sizeof(*ids));
	static const char *const companies[GEN_COMPANIES] = { "a", "b", "c", "d", "e", "f", "g", "h" };
	struct stats st = { .ms = calloc((size_t)plans + 1, sizeof(double)) };
	bool ok = g != NULL && lat != NULL && lon != NULL && stations != NULL && ids != NULL && st.ms != NULL;

	/* Cities on a jittered grid, about 27 km apart, over the Northeast's latitudes. */
	for (int y = 0; ok && y < GRID_H; y++)
		for (int x = 0; ok && x < GRID_W; x++) {
			int i = y * GRID_W + x;
			char id[32], name[32];
			snprintf(id, sizeof(id), "g%d", i);
			snprintf(name, sizeof(name), "Generated %d", i);
			lat[i] = -2.0 - y * 0.25 + uniform(-0.08, 0.08);
			lon[i] = -47.0 + x * 0.25 + uniform(-0.08, 0.08);
			ok = planner_graph_add_city(g, id, name, lat[i], lon[i]) == i;
		}
	/* Roads to the east and south neighbours, and some diagonals. */
	for (int y = 0; ok && y < GRID_H; y++)
		for (int x = 0; ok && x < GRID_W; x++) {
			int i = y * GRID_W + x;
			int next[3] = { x + 1 < GRID_W ? i + 1 : -1, y + 1 < GRID_H ? i + GRID_W : -1,
					x + 1 < GRID_W && y + 1 < GRID_H && rng() % 3 == 0 ? i + GRID_W + 1 : -1 };
			for (int k = 0; ok && k < 3; k++) {
				if (next[k] < 0)
					continue;
				double km = round(planner_great_circle_km(lat[i], lon[i], lat[next[k]], lon[next[k]]) *
						  PLANNER_DETOUR_FACTOR);
				ok = planner_graph_add_road(g, i, next[k], km, planner_road_speed(kinds[rng() % 4]), "BR-000");
			}
		}
	ok = ok && planner_graph_finish(g);
	for (int i = 0; ok && i < GEN_STATIONS; i++) {
		int c = (int)(rng() % GEN_COMPANIES);
		snprintf(ids[i], sizeof(ids[i]), "%s-s%d", companies[c], i);
		stations[i] = (struct planner_station){ .id = ids[i], .company = companies[c],
							.city = (int)(rng() % (GRID_W * GRID_H)),
							.power_kw = powers[rng() % 8], .price_per_kwh = uniform(1.5, 3.0) };
	}
	if (ok) {
		printf("generated network: %d cities, %d roads, %d stations of %d companies\n", planner_graph_city_count(g),
		       planner_graph_road_count(g), GEN_STATIONS, GEN_COMPANIES);
		for (int i = 0; i < plans; i++) {
			struct planner_request req = base_request();
			req.stations = stations;
			req.nstations = GEN_STATIONS;
			double d;
			do {
				req.origin = (int)(rng() % (GRID_W * GRID_H));
				req.destination = (int)(rng() % (GRID_W * GRID_H));
				d = planner_great_circle_km(lat[req.origin], lon[req.origin], lat[req.destination],
							    lon[req.destination]);
			} while (d < 600 || d > 1500);
			req.battery.capacity_kwh = uniform(50, 90);
			req.battery.soc = uniform(0.3, 0.95);
			req.battery.consumption_kwh_per_100km = uniform(14, 22);
			measure(g, &req, &st);
		}
		ok = report("random pairs 600-1,500 km apart", &st, GENERATED_TARGET_MS);
	} else {
		fprintf(stderr, "planner_bench: could not build the generated network\n");
	}
	planner_graph_free(g);
	free(lat);
	free(lon);
	free(stations);
	free(ids);
	free(st.ms);
	return ok;
}

int main(int argc, char **argv)
{
	const char *root = argc > 1 ? argv[1] : ".";
	int plans = argc > 2 ? atoi(argv[2]) : 200;
	if (plans < 1)
		plans = 200;
	printf("planner bench: in-process, one thread, no database or network; K = %d options asked (%d planned)\n",
	       ASKED_OPTIONS, ASKED_OPTIONS + PLANNER_SPARE_OPTIONS);
	bool seeded = bench_seeded(root, plans);
	bool generated = bench_generated(plans);
	return seeded && generated ? 0 : 1;
}
