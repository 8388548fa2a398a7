#include "planner.h"

#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define BUCKETS 100                /* a state keeps the charge per 1% of capacity */
#define EPS_KWH 1e-6
#define EPS_S 1e-6
#define ROAD_PENALTY 1.5f          /* roads of an accepted option, when looking for other roads */
#define MAX_EXPANSIONS 3000000L    /* per run: a guard against pathological input */
#define HOW_START INT_MIN

/* ---- road graph ------------------------------------------------------------------ */

struct city {
	char *id, *name;
	double lat, lon;
};

struct road {
	int a, b;
	double km, drive_s;
	char highway[24];
};

struct arc {
	int to, road;
};

struct planner_graph {
	struct city *cities;
	int ncities, cap_cities;
	struct road *roads;
	int nroads, cap_roads;
	int *first;       /* arcs of city i: arcs[first[i] .. first[i + 1]) */
	struct arc *arcs;
	int *index;       /* open addressing over ids and names, -1 empty */
	size_t index_size;
	bool finished;
};

struct planner_graph *planner_graph_new(void)
{
	return calloc(1, sizeof(struct planner_graph));
}

void planner_graph_free(struct planner_graph *g)
{
	if (g == NULL)
		return;
	for (int i = 0; i < g->ncities; i++) {
		free(g->cities[i].id);
		free(g->cities[i].name);
	}
	free(g->cities);
	free(g->roads);
	free(g->first);
	free(g->arcs);
	free(g->index);
	free(g);
}

int planner_graph_add_city(struct planner_graph *g, const char *id, const char *name, double lat, double lon)
{
	if (g->finished || id == NULL || name == NULL || g->ncities == INT_MAX / 2)
		return -1;
	if (g->ncities == g->cap_cities) {
		int cap = g->cap_cities ? g->cap_cities * 2 : 64;
		struct city *grown = realloc(g->cities, (size_t)cap * sizeof(*grown));
		if (grown == NULL)
			return -1;
		g->cities = grown;
		g->cap_cities = cap;
	}
	struct city *c = &g->cities[g->ncities];
	c->id = strdup(id);
	c->name = strdup(name);
	if (c->id == NULL || c->name == NULL) {
		free(c->id);
		free(c->name);
		return -1;
	}
	c->lat = lat;
	c->lon = lon;
	return g->ncities++;
}

bool planner_graph_add_road(struct planner_graph *g, int a, int b, double km, double speed_kmh, const char *highway)
{
	if (g->finished || a < 0 || b < 0 || a >= g->ncities || b >= g->ncities || a == b || !(km > 0) ||
	    !isfinite(km) || g->nroads == INT_MAX / 4)
		return false;
	if (g->nroads == g->cap_roads) {
		int cap = g->cap_roads ? g->cap_roads * 2 : 128;
		struct road *grown = realloc(g->roads, (size_t)cap * sizeof(*grown));
		if (grown == NULL)
			return false;
		g->roads = grown;
		g->cap_roads = cap;
	}
	if (!(speed_kmh > 0) || !isfinite(speed_kmh))
		speed_kmh = PLANNER_DEFAULT_SPEED_KMH;
	struct road *r = &g->roads[g->nroads++];
	r->a = a;
	r->b = b;
	r->km = km;
	r->drive_s = km / speed_kmh * 3600.0;
	snprintf(r->highway, sizeof(r->highway), "%s", highway != NULL ? highway : "");
	return true;
}

/* FNV-1a over the lowercased ASCII bytes: the key of the name index. */
static size_t name_hash(const char *s)
{
	size_t h = 1469598103934665603ULL;
	for (; *s != '\0'; s++) {
		h ^= (unsigned char)tolower((unsigned char)*s);
		h *= 1099511628211ULL;
	}
	return h;
}

/* Inserts key for city; false when another city already holds the same key. */
static bool index_put(struct planner_graph *g, const char *key, int city)
{
	size_t mask = g->index_size - 1;
	for (size_t i = name_hash(key) & mask;; i = (i + 1) & mask) {
		int other = g->index[i];
		if (other < 0) {
			g->index[i] = city;
			return true;
		}
		if (strcasecmp(g->cities[other].id, key) == 0 || strcasecmp(g->cities[other].name, key) == 0)
			return other == city;
	}
}

bool planner_graph_finish(struct planner_graph *g)
{
	if (g->finished)
		return true;
	size_t n = (size_t)g->ncities;
	g->first = calloc(n + 1, sizeof(int));
	g->arcs = malloc(((size_t)g->nroads * 2 + 1) * sizeof(struct arc));
	g->index_size = 16;
	while (g->index_size < n * 4)
		g->index_size *= 2;
	g->index = malloc(g->index_size * sizeof(int));
	if (g->first == NULL || g->arcs == NULL || g->index == NULL)
		return false;

	/* Counting sort of both directions of every road into CSR. */
	for (int r = 0; r < g->nroads; r++) {
		g->first[g->roads[r].a + 1]++;
		g->first[g->roads[r].b + 1]++;
	}
	for (size_t i = 0; i < n; i++)
		g->first[i + 1] += g->first[i];
	int *fill = malloc((n + 1) * sizeof(int));
	if (fill == NULL)
		return false;
	memcpy(fill, g->first, (n + 1) * sizeof(int));
	for (int r = 0; r < g->nroads; r++) {
		const struct road *rd = &g->roads[r];
		g->arcs[fill[rd->a]++] = (struct arc){ .to = rd->b, .road = r };
		g->arcs[fill[rd->b]++] = (struct arc){ .to = rd->a, .road = r };
	}
	free(fill);

	for (size_t i = 0; i < g->index_size; i++)
		g->index[i] = -1;
	for (int c = 0; c < g->ncities; c++)
		if (!index_put(g, g->cities[c].id, c) || !index_put(g, g->cities[c].name, c))
			return false; /* two cities share an id or a name */
	g->finished = true;
	return true;
}

int planner_graph_find_city(const struct planner_graph *g, const char *id_or_name)
{
	if (!g->finished || id_or_name == NULL)
		return -1;
	size_t mask = g->index_size - 1;
	for (size_t i = name_hash(id_or_name) & mask;; i = (i + 1) & mask) {
		int c = g->index[i];
		if (c < 0)
			return -1;
		if (strcasecmp(g->cities[c].id, id_or_name) == 0 || strcasecmp(g->cities[c].name, id_or_name) == 0)
			return c;
	}
}

int planner_graph_city_count(const struct planner_graph *g)
{
	return g->ncities;
}

int planner_graph_road_count(const struct planner_graph *g)
{
	return g->nroads;
}

const char *planner_city_id(const struct planner_graph *g, int city)
{
	return g->cities[city].id;
}

const char *planner_city_name(const struct planner_graph *g, int city)
{
	return g->cities[city].name;
}

const char *planner_road_highway(const struct planner_graph *g, int road)
{
	return g->roads[road].highway;
}

double planner_road_speed(const char *kind)
{
	if (kind != NULL && strcmp(kind, "dual") == 0)
		return 90.0;
	if (kind != NULL && strcmp(kind, "single") == 0)
		return 80.0;
	if (kind != NULL && strcmp(kind, "state") == 0)
		return 70.0;
	return PLANNER_DEFAULT_SPEED_KMH;
}

/* ---- battery model --------------------------------------------------------------- */

/* Slope of the taper: power falls from 1 at the taper start to the floor at 100%. */
#define TAPER_SLOPE ((1.0 - PLANNER_TAPER_FLOOR) / (1.0 - PLANNER_TAPER_SOC))

double planner_charge_power(double soc, double power_kw)
{
	if (soc <= PLANNER_TAPER_SOC)
		return power_kw;
	if (soc > 1.0)
		soc = 1.0;
	return power_kw * (1.0 - TAPER_SLOPE * (soc - PLANNER_TAPER_SOC));
}

double planner_charge_seconds(double capacity_kwh, double from_soc, double to_soc, double power_kw)
{
	if (!(to_soc > from_soc) || !(power_kw > 0) || !(capacity_kwh > 0))
		return 0;
	if (to_soc > 1.0)
		to_soc = 1.0;
	double hours = 0, s = from_soc;
	if (s < PLANNER_TAPER_SOC) {
		double upto = to_soc < PLANNER_TAPER_SOC ? to_soc : PLANNER_TAPER_SOC;
		hours += (upto - s) * capacity_kwh / power_kw;
		s = upto;
	}
	if (to_soc > s) {
		/* dt = C ds / (P (1 - k (s - T))), integrated: C / (k P) ln(u(s) / u(to)) */
		double u_from = 1.0 - TAPER_SLOPE * (s - PLANNER_TAPER_SOC);
		double u_to = 1.0 - TAPER_SLOPE * (to_soc - PLANNER_TAPER_SOC);
		hours += capacity_kwh / (TAPER_SLOPE * power_kw) * log(u_from / u_to);
	}
	return hours * 3600.0;
}

double planner_great_circle_km(double lat1, double lon1, double lat2, double lon2)
{
	const double rad = M_PI / 180.0;
	double dlat = (lat2 - lat1) * rad, dlon = (lon2 - lon1) * rad;
	double h = sin(dlat / 2) * sin(dlat / 2) + cos(lat1 * rad) * cos(lat2 * rad) * sin(dlon / 2) * sin(dlon / 2);
	return 6371.0 * 2.0 * asin(sqrt(h > 1.0 ? 1.0 : h));
}

/* ---- a binary min-heap of (key, value) -------------------------------------------- */

struct heap_item {
	double key, tie; /* tie: larger first among equal keys */
	int value;
};

struct heap {
	struct heap_item *items;
	int n, cap;
};

static bool heap_push(struct heap *h, double key, double tie, int value)
{
	if (h->n == h->cap) {
		int cap = h->cap ? h->cap * 2 : 1024;
		struct heap_item *grown = realloc(h->items, (size_t)cap * sizeof(*grown));
		if (grown == NULL)
			return false;
		h->items = grown;
		h->cap = cap;
	}
	int i = h->n++;
	struct heap_item it = { key, tie, value };
	while (i > 0) {
		int parent = (i - 1) / 2;
		const struct heap_item *p = &h->items[parent];
		if (p->key < it.key || (p->key == it.key && p->tie >= it.tie))
			break;
		h->items[i] = *p;
		i = parent;
	}
	h->items[i] = it;
	return true;
}

static struct heap_item heap_pop(struct heap *h)
{
	struct heap_item top = h->items[0], last = h->items[--h->n];
	int i = 0;
	for (;;) {
		int child = 2 * i + 1;
		if (child >= h->n)
			break;
		if (child + 1 < h->n &&
		    (h->items[child + 1].key < h->items[child].key ||
		     (h->items[child + 1].key == h->items[child].key && h->items[child + 1].tie > h->items[child].tie)))
			child++;
		const struct heap_item *c = &h->items[child];
		if (last.key < c->key || (last.key == c->key && last.tie >= c->tie))
			break;
		h->items[i] = *c;
		i = child;
	}
	if (h->n > 0)
		h->items[i] = last;
	return top;
}

/* ---- the search ------------------------------------------------------------------ */

struct label {
	double g; /* cost: time with penalties */
	double t; /* time since departure */
	double e; /* charge, kWh */
	int pred; /* state it came from */
	int how;  /* road taken (>= 0), -(station + 1) for a charge, HOW_START */
};

/*
 * The states of one city in one run. Only sm and state are set when a city is
 * first touched; a label is written before it is read.
 */
struct block {
	double sm[BUCKETS + 1];             /* least g of the closed states at this bucket or above */
	unsigned char state[BUCKETS + 1];   /* 0 unseen, 1 open, 2 closed */
	struct label lab[BUCKETS + 1];
};

#define BLOCKS_PER_CHUNK 128

struct ctx {
	const struct planner_graph *g;
	const struct planner_request *req;
	double cap, c_km, e_min, e_target, e_start, pmax;
	double *dist;              /* road km to the destination */
	double *time_to;           /* least driving seconds to the destination */
	int *st_first, *st_list;   /* stations of each city, fastest first */
	unsigned char *banned;     /* per station */
	float *penalty;            /* per road */
	int *block_of;             /* per city */
	unsigned *block_run;
	struct block **chunks;     /* blocks never move once allocated */
	int nchunks, nblocks;
	struct heap open;
	unsigned run;
	long expanded;
	bool nomem;
};

static int bucket_of(const struct ctx *x, double e)
{
	int b = (int)floor(e / x->cap * BUCKETS + 1e-9);
	return b < 0 ? 0 : b > BUCKETS ? BUCKETS : b;
}

/* The states of a city in this run; NULL when not touched yet and create is false. */
static struct block *block_at(struct ctx *x, int city, bool create)
{
	if (x->block_run[city] == x->run)
		return &x->chunks[x->block_of[city] / BLOCKS_PER_CHUNK][x->block_of[city] % BLOCKS_PER_CHUNK];
	if (!create)
		return NULL;
	if (x->nblocks == x->nchunks * BLOCKS_PER_CHUNK) {
		struct block **grown = realloc(x->chunks, ((size_t)x->nchunks + 1) * sizeof(*grown));
		if (grown == NULL) {
			x->nomem = true;
			return NULL;
		}
		x->chunks = grown;
		if ((x->chunks[x->nchunks] = malloc(BLOCKS_PER_CHUNK * sizeof(struct block))) == NULL) {
			x->nomem = true;
			return NULL;
		}
		x->nchunks++;
	}
	int i = x->nblocks++;
	struct block *blk = &x->chunks[i / BLOCKS_PER_CHUNK][i % BLOCKS_PER_CHUNK];
	for (int k = 0; k <= BUCKETS; k++)
		blk->sm[k] = INFINITY;
	memset(blk->state, 0, sizeof(blk->state));
	x->block_of[city] = i;
	x->block_run[city] = x->run;
	return blk;
}

/* The label of a state touched in this run. */
static struct label *label_of(struct ctx *x, int state)
{
	return &block_at(x, state / (BUCKETS + 1), false)->lab[state % (BUCKETS + 1)];
}

/* The fastest station of a city not excluded in this run, or -1. */
static int best_station(const struct ctx *x, int city)
{
	for (int i = x->st_first[city]; i < x->st_first[city + 1]; i++)
		if (!x->banned[x->st_list[i]])
			return x->st_list[i];
	return -1;
}

/*
 * Admissible, consistent lower bound of the time left from (city, charge e): the
 * least driving time, plus, when the charge cannot cover the shortest road, the
 * energy missing at the top power and one stop's overhead.
 */
static double heuristic(const struct ctx *x, int city, double e)
{
	double d = x->dist[city];
	double h = x->time_to[city];
	double deficit = x->e_min + d * x->c_km - e;
	if (deficit > EPS_KWH) {
		if (x->pmax <= 0)
			return INFINITY;
		h += deficit / x->pmax * 3600.0 + PLANNER_STOP_OVERHEAD_S;
	}
	return h;
}

static void relax(struct ctx *x, int city, double g, double t, double e, int pred, int how)
{
	if (!isfinite(x->dist[city]))
		return;
	int b = bucket_of(x, e);
	struct block *blk = block_at(x, city, true);
	if (blk == NULL || blk->state[b] == 2 || blk->sm[b] <= g + EPS_S || (blk->state[b] == 1 && blk->lab[b].g <= g + EPS_S))
		return;
	double h = heuristic(x, city, e);
	if (!isfinite(h))
		return;
	blk->lab[b] = (struct label){ .g = g, .t = t, .e = e, .pred = pred, .how = how };
	blk->state[b] = 1;
	if (!heap_push(&x->open, g + h, g, city * (BUCKETS + 1) + b))
		x->nomem = true;
}

/* One A* run with the current bans and penalties: the goal state, or -1. */
static int search(struct ctx *x)
{
	const struct planner_graph *g = x->g;
	int dest = x->req->destination;
	x->run++;
	x->nblocks = 0;
	x->open.n = 0;
	relax(x, x->req->origin, 0, 0, x->e_start, -1, HOW_START);

	long expanded = 0;
	while (x->open.n > 0 && !x->nomem && expanded < MAX_EXPANSIONS) {
		struct heap_item it = heap_pop(&x->open);
		int state = it.value, city = state / (BUCKETS + 1), b = state % (BUCKETS + 1);
		struct block *blk = block_at(x, city, false);
		if (blk == NULL || blk->state[b] != 1 || it.tie > blk->lab[b].g + EPS_S)
			continue; /* stale entry */
		const struct label *l = &blk->lab[b];
		blk->state[b] = 2;
		if (blk->sm[b] <= l->g + EPS_S)
			continue; /* a closed state here has as much charge for no more time */
		for (int k = b; k >= 0 && blk->sm[k] > l->g; k--)
			blk->sm[k] = l->g;
		if (city == dest) {
			x->expanded += expanded;
			return state;
		}
		expanded++;
		double g0 = l->g, t0 = l->t, e0 = l->e;
		int how0 = l->how;

		int s = how0 < 0 && how0 != HOW_START ? -1 : best_station(x, city);
		if (s >= 0) {
			double need = x->e_min + x->dist[city] * x->c_km;
			double targets[2] = { x->e_target, need };
			int ntargets = need < x->e_target - EPS_KWH ? 2 : 1;
			double power = x->req->stations[s].power_kw;
			for (int i = 0; i < ntargets; i++) {
				double et = targets[i];
				if (et <= e0 + EPS_KWH)
					continue;
				double dt = PLANNER_STOP_OVERHEAD_S + planner_charge_seconds(x->cap, e0 / x->cap, et / x->cap, power);
				relax(x, city, g0 + dt, t0 + dt, et, state, -(s + 1));
			}
		}
		for (int a = g->first[city]; a < g->first[city + 1]; a++) {
			const struct arc *arc = &g->arcs[a];
			const struct road *r = &g->roads[arc->road];
			double e1 = e0 - r->km * x->c_km;
			if (e1 < x->e_min - EPS_KWH)
				continue;
			relax(x, arc->to, g0 + r->drive_s * x->penalty[arc->road], t0 + r->drive_s, e1, state, arc->road);
		}
	}
	x->expanded += expanded;
	return -1;
}

/* ---- options --------------------------------------------------------------------- */

static int64_t ceil_minute(int64_t t)
{
	int64_t r = t % 60;
	return r == 0 ? t : t + (60 - r);
}

/* Recomputes every time of the option from its departure, drives and waits. */
static void retime(struct planner_option *o)
{
	int64_t t = o->departure;
	o->wait_s = 0;
	for (int i = 0; i < o->nstops; i++) {
		struct planner_stop *s = &o->stops[i];
		t += (int64_t)ceil(s->drive_s - EPS_S);
		s->arrive = t;
		s->start = ceil_minute(t) + s->wait_s;
		s->end = s->start + ceil_minute((int64_t)ceil(PLANNER_STOP_OVERHEAD_S + s->charge_s - EPS_S));
		o->wait_s += s->wait_s;
		t = s->end;
	}
	o->eta = t + (int64_t)ceil(o->final_drive_s - EPS_S);
}

void planner_option_delay(struct planner_option *opt, int stop, int64_t new_start)
{
	if (stop < 0 || stop >= opt->nstops || new_start <= opt->stops[stop].start)
		return;
	opt->stops[stop].wait_s += new_start - opt->stops[stop].start;
	retime(opt);
}

bool planner_option_same(const struct planner_option *a, const struct planner_option *b)
{
	if (a->nstops != b->nstops || a->nroads != b->nroads)
		return false;
	for (int i = 0; i < a->nstops; i++)
		if (a->stops[i].station != b->stops[i].station)
			return false;
	for (int i = 0; i < a->nroads; i++)
		if (a->roads[i] != b->roads[i])
			return false;
	return true;
}

/*
 * A near copy: the same roads and at least half of the stops at the same stations.
 * Options on other roads, or mostly at other stations, really differ.
 */
static bool too_similar(const struct planner_option *a, const struct planner_option *b)
{
	if (a->nroads != b->nroads || memcmp(a->roads, b->roads, (size_t)a->nroads * sizeof(int)) != 0)
		return false;
	int common = 0, most = a->nstops > b->nstops ? a->nstops : b->nstops;
	for (int i = 0; i < a->nstops; i++)
		for (int j = 0; j < b->nstops; j++)
			if (a->stops[i].station == b->stops[j].station) {
				common++;
				break;
			}
	return most > 0 && 2 * common >= most;
}

static void option_free(struct planner_option *o)
{
	free(o->stops);
	free(o->path);
	free(o->roads);
	memset(o, 0, sizeof(*o));
}

/* Turns the goal state's chain of labels into an option. False when out of memory. */
static bool build_option(struct ctx *x, int goal, struct planner_option *o)
{
	const struct planner_request *req = x->req;
	memset(o, 0, sizeof(*o));
	int n = 0;
	for (int s = goal; s >= 0; n++)
		s = label_of(x, s)->pred;
	int *chain = malloc((size_t)n * sizeof(int));
	o->stops = malloc((size_t)n * sizeof(*o->stops));
	o->path = malloc((size_t)n * sizeof(int));
	o->roads = malloc((size_t)n * sizeof(int));
	if (chain == NULL || o->stops == NULL || o->path == NULL || o->roads == NULL) {
		free(chain);
		option_free(o);
		return false;
	}
	for (int s = goal, i = n - 1; s >= 0; i--) {
		chain[i] = s;
		s = label_of(x, s)->pred;
	}

	o->path[o->npath++] = req->origin;
	double km = 0, drive = 0;
	for (int i = 1; i < n; i++) {
		const struct label *l = label_of(x, chain[i]);
		const struct label *p = label_of(x, chain[i - 1]);
		int city = chain[i] / (BUCKETS + 1);
		if (l->how >= 0) {
			const struct road *r = &x->g->roads[l->how];
			o->path[o->npath++] = city;
			o->roads[o->nroads++] = l->how;
			km += r->km;
			drive += r->drive_s;
			o->km += r->km;
			o->drive_s += r->drive_s;
		} else {
			int st = -l->how - 1;
			struct planner_stop *s = &o->stops[o->nstops++];
			memset(s, 0, sizeof(*s));
			s->station = st;
			s->city = city;
			s->km = km;
			s->drive_s = drive;
			s->arrive_soc = p->e / x->cap;
			s->depart_soc = l->e / x->cap;
			s->kwh = l->e - p->e;
			s->cost = s->kwh * req->stations[st].price_per_kwh;
			s->charge_s = planner_charge_seconds(x->cap, s->arrive_soc, s->depart_soc, req->stations[st].power_kw);
			o->charge_s += s->charge_s;
			o->total_cost += s->cost;
			km = 0;
			drive = 0;
		}
	}
	o->final_km = km;
	o->final_drive_s = drive;
	o->arrive_soc = label_of(x, goal)->e / x->cap;
	o->departure = req->departure;
	free(chain);
	retime(o);
	return true;
}

/* ---- preparation and diagnostics -------------------------------------------------- */

/*
 * Least road km (by_time false) or least driving seconds (by_time true) from every
 * city to the destination, by Dijkstra; false when out of memory.
 */
static bool distances_to(const struct planner_graph *g, int dest, bool by_time, double *dist)
{
	struct heap h = { 0 };
	for (int i = 0; i < g->ncities; i++)
		dist[i] = INFINITY;
	dist[dest] = 0;
	bool ok = heap_push(&h, 0, 0, dest);
	while (ok && h.n > 0) {
		struct heap_item it = heap_pop(&h);
		if (it.key > dist[it.value])
			continue;
		for (int a = g->first[it.value]; a < g->first[it.value + 1]; a++) {
			const struct road *r = &g->roads[g->arcs[a].road];
			double d = it.key + (by_time ? r->drive_s : r->km);
			if (d < dist[g->arcs[a].to]) {
				dist[g->arcs[a].to] = d;
				ok = ok && heap_push(&h, d, 0, g->arcs[a].to);
			}
		}
	}
	free(h.items);
	return ok;
}

/* Fastest first, then cheapest, then by id: the order stations are tried in a city. */
static int by_speed(const struct planner_station *a, const struct planner_station *b)
{
	if (a->power_kw != b->power_kw)
		return a->power_kw > b->power_kw ? -1 : 1;
	if (a->price_per_kwh != b->price_per_kwh)
		return a->price_per_kwh < b->price_per_kwh ? -1 : 1;
	return strcmp(a->id, b->id);
}

/* Insertion sort of one city's few stations (qsort has no argument for the base). */
static void sort_city(int *list, int n, const struct planner_station *base)
{
	for (int i = 1; i < n; i++) {
		int v = list[i], j = i - 1;
		while (j >= 0 && by_speed(&base[list[j]], &base[v]) > 0) {
			list[j + 1] = list[j];
			j--;
		}
		list[j + 1] = v;
	}
}

/*
 * Why no option: the charging points the car can reach (a max-remaining-range
 * search with a full "tank" at every station), then, among the charging points and
 * the destination out of reach, the one on the shortest way on (road from the
 * nearest reachable charging point, plus road from it to the destination). The
 * road to it from the reachable area is longer than the car's range: the gap.
 */
static void diagnose(struct ctx *x, struct planner_result *out)
{
	const struct planner_graph *g = x->g;
	const struct planner_request *req = x->req;
	const struct planner_battery *bat = &req->battery;
	int n = g->ncities, origin = req->origin, dest = req->destination;
	double range_t = (x->e_target - x->e_min) / x->c_km, range_0 = (x->e_start - x->e_min) / x->c_km;
	double *rem = malloc((size_t)n * sizeof(double)), *gap = malloc((size_t)n * sizeof(double));
	int *src = malloc((size_t)n * sizeof(int));
	struct heap h = { 0 };
	out->status = PLANNER_OUT_OF_RANGE;
	out->range_km = range_t;
	out->gap_from = out->gap_to = -1;
	if (rem == NULL || gap == NULL || src == NULL)
		goto cleanup;

	for (int i = 0; i < n; i++)
		rem[i] = -1;
	bool origin_station = x->st_first[origin] < x->st_first[origin + 1];
	rem[origin] = range_0 >= 0 ? range_0 : -1;
	if (origin_station && range_t > rem[origin])
		rem[origin] = range_t;
	if (rem[origin] < 0) {
		snprintf(out->reason, sizeof(out->reason),
			 "the battery starts at %.0f%%, below the %.0f%% minimum, and %s has no station to charge first",
			 bat->soc * 100, bat->min_soc * 100, g->cities[origin].name);
		goto cleanup;
	}
	if (!heap_push(&h, -rem[origin], 0, origin))
		goto cleanup;
	while (h.n > 0) {
		struct heap_item it = heap_pop(&h);
		int c = it.value;
		if (-it.key < rem[c])
			continue;
		for (int a = g->first[c]; a < g->first[c + 1]; a++) {
			int to = g->arcs[a].to;
			double r = rem[c] - g->roads[g->arcs[a].road].km;
			if (r < -EPS_KWH)
				continue;
			if (x->st_first[to] < x->st_first[to + 1] && range_t > r)
				r = range_t;
			if (r > rem[to] + 1e-9) {
				rem[to] = r;
				if (!heap_push(&h, -r, 0, to))
					goto cleanup;
			}
		}
	}
	if (rem[dest] >= 0) {
		snprintf(out->reason, sizeof(out->reason), "no route found within the search limits");
		goto cleanup;
	}

	/* Multi-source Dijkstra from the reachable charging points (and the origin). */
	h.n = 0;
	for (int i = 0; i < n; i++) {
		gap[i] = INFINITY;
		src[i] = -1;
		bool charge_point = i == origin || x->st_first[i] < x->st_first[i + 1];
		if (rem[i] >= 0 && charge_point) {
			gap[i] = 0;
			src[i] = i;
			if (!heap_push(&h, 0, 0, i))
				goto cleanup;
		}
	}
	while (h.n > 0) {
		struct heap_item it = heap_pop(&h);
		int c = it.value;
		if (it.key > gap[c])
			continue;
		for (int a = g->first[c]; a < g->first[c + 1]; a++) {
			int to = g->arcs[a].to;
			double d = gap[c] + g->roads[g->arcs[a].road].km;
			if (d < gap[to]) {
				gap[to] = d;
				src[to] = src[c];
				if (!heap_push(&h, d, 0, to))
					goto cleanup;
			}
		}
	}
	/* Of the charging points out of reach, the one on the shortest way on to the destination. */
	double best = INFINITY;
	for (int c = 0; c < n; c++) {
		bool target = rem[c] < 0 && (c == dest || x->st_first[c] < x->st_first[c + 1]);
		if (target && isfinite(gap[c]) && gap[c] + x->dist[c] < best) {
			best = gap[c] + x->dist[c];
			out->gap_km = gap[c];
			out->gap_from = src[c];
			out->gap_to = c;
		}
	}
	if (out->gap_to < 0) {
		snprintf(out->reason, sizeof(out->reason), "no route found");
	} else if (out->gap_from == origin && !origin_station) {
		out->range_km = range_0;
		snprintf(out->reason, sizeof(out->reason),
			 "the longest gap is longer than the car's range: from %s the next charging point on the way is %s, %.1f km by road, "
			 "but %.0f%% of %.0f kWh down to %.0f%% at %.1f kWh/100 km lasts %.1f km",
			 g->cities[origin].name, g->cities[out->gap_to].name, out->gap_km, bat->soc * 100, bat->capacity_kwh,
			 bat->min_soc * 100, bat->consumption_kwh_per_100km, range_0);
	} else {
		snprintf(out->reason, sizeof(out->reason),
			 "the longest gap is longer than the car's range: the next charging point on the way after %s is %s, %.1f km by road, "
			 "but a charge from %.0f%% to %.0f%% of %.0f kWh at %.1f kWh/100 km lasts %.1f km",
			 g->cities[out->gap_from].name, g->cities[out->gap_to].name, out->gap_km, bat->target_soc * 100,
			 bat->min_soc * 100, bat->capacity_kwh, bat->consumption_kwh_per_100km, range_t);
	}
cleanup:
	if (out->reason[0] == '\0') {
		out->status = PLANNER_NOMEM;
		snprintf(out->reason, sizeof(out->reason), "out of memory");
	}
	free(h.items);
	free(rem);
	free(gap);
	free(src);
}

/* ---- planning: Yen-style deviations for distinct options --------------------------- */

struct candidate {
	struct planner_option opt;
	int *bans, nbans;   /* stations excluded in the run that found it */
	int *slow, nslow;   /* roads made slower */
};

static void candidate_free(struct candidate *c)
{
	option_free(&c->opt);
	free(c->bans);
	free(c->slow);
	memset(c, 0, sizeof(*c));
}

/* A copy of base (n ints) with room for m more; NULL when out of memory. */
static int *copy_ints(const int *base, int n, int m)
{
	int *out = malloc(((size_t)n + (size_t)m + 1) * sizeof(int));
	if (out != NULL && n > 0)
		memcpy(out, base, (size_t)n * sizeof(int));
	return out;
}

/*
 * The deviation `variant` of an accepted option: 0 none of its stations, 1 not its
 * first station, 2 its roads slower; each keeps the parent's own exclusions.
 * False when the variant does not apply or memory ran out (then *nomem).
 */
static bool deviation(const struct candidate *parent, int variant, struct candidate *next, bool *nomem)
{
	const struct planner_option *po = &parent->opt;
	int extra_bans = variant == 0 ? po->nstops : variant == 1 ? 1 : 0;
	int extra_slow = variant == 2 ? po->nroads : 0;
	memset(next, 0, sizeof(*next));
	if ((variant == 0 && po->nstops == 0) || (variant == 1 && po->nstops < 2) || (variant == 2 && po->nroads == 0))
		return false;
	next->bans = copy_ints(parent->bans, parent->nbans, extra_bans);
	next->slow = copy_ints(parent->slow, parent->nslow, extra_slow);
	if (next->bans == NULL || next->slow == NULL) {
		candidate_free(next);
		*nomem = true;
		return false;
	}
	next->nbans = parent->nbans;
	for (int i = 0; i < extra_bans; i++)
		next->bans[next->nbans++] = po->stops[i].station;
	next->nslow = parent->nslow;
	for (int i = 0; i < extra_slow; i++)
		next->slow[next->nslow++] = po->roads[i];
	return true;
}

/* Runs the search with the given bans and slow roads; true and *found when a route exists. */
static bool run_with(struct ctx *x, const int *bans, int nbans, const int *slow, int nslow,
		     struct planner_option *found)
{
	for (int i = 0; i < nbans; i++)
		x->banned[bans[i]] = 1;
	for (int i = 0; i < nslow; i++)
		x->penalty[slow[i]] = ROAD_PENALTY;
	int goal = search(x);
	bool ok = goal >= 0 && build_option(x, goal, found);
	for (int i = 0; i < nbans; i++)
		x->banned[bans[i]] = 0;
	for (int i = 0; i < nslow; i++)
		x->penalty[slow[i]] = 1.0f;
	return ok;
}

static bool valid_request(const struct planner_graph *g, const struct planner_request *req, struct planner_result *out)
{
	const struct planner_battery *b = &req->battery;
	const char *why = NULL;
	if (!g->finished)
		why = "the road graph is not finished";
	else if (req->origin < 0 || req->origin >= g->ncities || req->destination < 0 || req->destination >= g->ncities)
		why = "unknown origin or destination";
	else if (req->origin == req->destination)
		why = "origin and destination are the same city";
	else if (!(b->capacity_kwh > 0) || !(b->consumption_kwh_per_100km > 0) || !(b->soc >= 0 && b->soc <= 1) ||
		 !(b->min_soc >= 0 && b->min_soc < b->target_soc && b->target_soc <= 1))
		why = "battery: capacity and consumption must be positive, 0 <= soc <= 1, 0 <= min_soc < target_soc <= 1";
	else if (req->max_options < 1 || req->max_options > PLANNER_MAX_OPTIONS)
		why = "max_options out of range";
	for (size_t i = 0; why == NULL && i < req->nstations; i++)
		if (req->stations[i].city < 0 || req->stations[i].city >= g->ncities || !(req->stations[i].power_kw > 0))
			why = "a station has no city or no power";
	if (why == NULL)
		return true;
	out->status = PLANNER_INVALID;
	snprintf(out->reason, sizeof(out->reason), "%s", why);
	return false;
}

static void ctx_free(struct ctx *x)
{
	free(x->dist);
	free(x->time_to);
	free(x->st_first);
	free(x->st_list);
	free(x->banned);
	free(x->penalty);
	free(x->block_of);
	free(x->block_run);
	for (int i = 0; i < x->nchunks; i++)
		free(x->chunks[i]);
	free(x->chunks);
	free(x->open.items);
}

static bool ctx_init(struct ctx *x, const struct planner_graph *g, const struct planner_request *req)
{
	const struct planner_battery *b = &req->battery;
	size_t n = (size_t)g->ncities, ns = req->nstations;
	memset(x, 0, sizeof(*x));
	x->g = g;
	x->req = req;
	x->cap = b->capacity_kwh;
	x->c_km = b->consumption_kwh_per_100km / 100.0;
	x->e_min = b->min_soc * x->cap;
	x->e_target = b->target_soc * x->cap;
	x->e_start = b->soc * x->cap;
	x->dist = malloc(n * sizeof(double));
	x->time_to = malloc(n * sizeof(double));
	x->st_first = calloc(n + 1, sizeof(int));
	x->st_list = malloc((ns + 1) * sizeof(int));
	x->banned = calloc(ns + 1, 1);
	x->penalty = malloc(((size_t)g->nroads + 1) * sizeof(float));
	x->block_of = malloc(n * sizeof(int));
	x->block_run = calloc(n, sizeof(unsigned));
	if (x->dist == NULL || x->time_to == NULL || x->st_first == NULL || x->st_list == NULL || x->banned == NULL || x->penalty == NULL ||
	    x->block_of == NULL || x->block_run == NULL)
		return false;
	for (int r = 0; r < g->nroads; r++)
		x->penalty[r] = 1.0f;
	for (size_t i = 0; i < ns; i++) {
		x->st_first[req->stations[i].city + 1]++;
		if (req->stations[i].power_kw > x->pmax)
			x->pmax = req->stations[i].power_kw;
	}
	for (size_t i = 0; i < n; i++)
		x->st_first[i + 1] += x->st_first[i];
	int *fill = malloc((n + 1) * sizeof(int));
	if (fill == NULL)
		return false;
	memcpy(fill, x->st_first, (n + 1) * sizeof(int));
	for (size_t i = 0; i < ns; i++)
		x->st_list[fill[req->stations[i].city]++] = (int)i;
	free(fill);
	for (size_t c = 0; c < n; c++)
		sort_city(&x->st_list[x->st_first[c]], x->st_first[c + 1] - x->st_first[c], req->stations);
	return distances_to(g, req->destination, false, x->dist) && distances_to(g, req->destination, true, x->time_to);
}

static int by_arrival(const void *pa, const void *pb)
{
	const struct planner_option *a = pa, *b = pb;
	if (a->near_copy != b->near_copy)
		return a->near_copy ? 1 : -1;
	if (a->eta != b->eta)
		return a->eta < b->eta ? -1 : 1;
	if (a->total_cost != b->total_cost)
		return a->total_cost < b->total_cost ? -1 : 1;
	return a->nstops - b->nstops;
}

static enum planner_status plan_once(const struct planner_graph *g, const struct planner_request *req,
				     struct planner_result *out)
{
	struct ctx x;
	struct candidate *pool = NULL, *near = NULL, *accepted = NULL;
	int npool = 0, nclose = 0, naccepted = 0, max_stops = req->max_stops > 0 ? req->max_stops : PLANNER_MAX_STOPS;
	int k = req->max_options, max_runs = 1 + 3 * k;
	memset(out, 0, sizeof(*out));
	out->gap_from = out->gap_to = -1;
	if (!valid_request(g, req, out))
		return out->status;
	if (!ctx_init(&x, g, req))
		goto nomem;
	if (!isfinite(x.dist[req->origin])) {
		out->status = PLANNER_NO_ROAD;
		snprintf(out->reason, sizeof(out->reason), "no road connects %s and %s", g->cities[req->origin].name,
			 g->cities[req->destination].name);
		goto done;
	}

	pool = calloc((size_t)max_runs, sizeof(*pool));
	near = calloc((size_t)max_runs, sizeof(*near));
	accepted = calloc((size_t)k, sizeof(*accepted));
	if (pool == NULL || near == NULL || accepted == NULL)
		goto nomem;

	out->searches = 1;
	if (!run_with(&x, NULL, 0, NULL, 0, &pool[0].opt)) {
		if (x.nomem)
			goto nomem;
		diagnose(&x, out);
		goto done;
	}
	npool = 1;
	if (pool[0].opt.nstops > max_stops) {
		out->status = PLANNER_TOO_MANY_STOPS;
		snprintf(out->reason, sizeof(out->reason),
			 "the fastest route needs %d charging stops, and a trip books at most %d", pool[0].opt.nstops, max_stops);
		goto done;
	}

	while (naccepted < k && npool > 0) {
		int best = 0;
		for (int i = 1; i < npool; i++)
			if (by_arrival(&pool[i].opt, &pool[best].opt) < 0)
				best = i;
		struct candidate c = pool[best];
		pool[best] = pool[--npool];
		bool repeated = false, close = false;
		for (int i = 0; i < naccepted && !repeated; i++)
			repeated = planner_option_same(&accepted[i].opt, &c.opt);
		for (int i = 0; i < nclose && !repeated; i++)
			repeated = planner_option_same(&near[i].opt, &c.opt);
		for (int i = 0; i < naccepted && !close; i++)
			close = too_similar(&accepted[i].opt, &c.opt);
		if (repeated) {
			candidate_free(&c);
			continue;
		}
		/* A near copy of an accepted option waits: it is offered only when nothing else is. */
		struct candidate *parent;
		if (close) {
			near[nclose] = c;
			parent = &near[nclose++];
		} else {
			accepted[naccepted] = c;
			parent = &accepted[naccepted++];
			if (naccepted == k)
				break;
		}

		/* Deviations: none of its stations, not its first station, not its roads. */
		for (int variant = 0; variant < 3 && out->searches < max_runs; variant++) {
			struct candidate next;
			bool nomem = false;
			if (!deviation(parent, variant, &next, &nomem)) {
				if (nomem)
					goto nomem;
				continue;
			}
			out->searches++;
			bool found = run_with(&x, next.bans, next.nbans, next.slow, next.nslow, &next.opt);
			if (x.nomem) {
				candidate_free(&next);
				goto nomem;
			}
			bool keep = found && next.opt.nstops <= max_stops;
			for (int i = 0; keep && i < naccepted; i++)
				keep = !planner_option_same(&accepted[i].opt, &next.opt);
			for (int i = 0; keep && i < nclose; i++)
				keep = !planner_option_same(&near[i].opt, &next.opt);
			for (int i = 0; keep && i < npool; i++)
				keep = !planner_option_same(&pool[i].opt, &next.opt);
			if (keep)
				pool[npool++] = next;
			else
				candidate_free(&next);
		}
	}
	/* Fewer distinct options than asked: the near copies fill in, fastest first. */
	while (naccepted < k && nclose > 0) {
		int best = 0;
		for (int i = 1; i < nclose; i++)
			if (by_arrival(&near[i].opt, &near[best].opt) < 0)
				best = i;
		near[best].opt.near_copy = true;
		accepted[naccepted++] = near[best];
		near[best] = near[--nclose];
	}

	out->options = calloc((size_t)naccepted, sizeof(*out->options));
	if (out->options == NULL)
		goto nomem;
	for (int i = 0; i < naccepted; i++) {
		out->options[i] = accepted[i].opt;
		memset(&accepted[i].opt, 0, sizeof(accepted[i].opt));
	}
	out->noptions = naccepted;
	qsort(out->options, (size_t)out->noptions, sizeof(*out->options), by_arrival);
	out->status = PLANNER_OK;
	goto done;

nomem:
	out->status = PLANNER_NOMEM;
	snprintf(out->reason, sizeof(out->reason), "out of memory");
done:
	out->states = x.expanded;
	for (int i = 0; i < npool; i++)
		candidate_free(&pool[i]);
	for (int i = 0; i < nclose; i++)
		candidate_free(&near[i]);
	for (int i = 0; i < naccepted; i++)
		candidate_free(&accepted[i]);
	free(pool);
	free(near);
	free(accepted);
	ctx_free(&x);
	return out->status;
}

/*
 * The charge limit at a stop is the driver's preference, not a rule of the
 * road: when no route keeps to it (a gap longer than the range it leaves, or
 * more stops than a trip books), the search runs again with stops allowed to
 * charge up to 100%, and the result says so. A feasible trip is never refused
 * because of target_soc.
 */
enum planner_status planner_plan(const struct planner_graph *g, const struct planner_request *req,
				 struct planner_result *out)
{
	enum planner_status first = plan_once(g, req, out);
	if ((first != PLANNER_OUT_OF_RANGE && first != PLANNER_TOO_MANY_STOPS) || req->battery.target_soc >= 1.0)
		return first;
	struct planner_request full = *req;
	full.battery.target_soc = 1.0;
	struct planner_result second;
	enum planner_status again = plan_once(g, &full, &second);
	if (again == PLANNER_NOMEM) {
		planner_result_free(&second);
		return first;
	}
	/* Success, or the honest reason: even charging to 100% is not enough. */
	second.searches += out->searches;
	second.states += out->states;
	planner_result_free(out);
	*out = second;
	out->target_raised = again == PLANNER_OK;
	return out->status;
}

void planner_result_free(struct planner_result *r)
{
	for (int i = 0; i < r->noptions; i++)
		option_free(&r->options[i]);
	free(r->options);
	r->options = NULL;
	r->noptions = 0;
}
