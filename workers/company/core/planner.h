/*
 * The trip planner: turns "from here to there, leaving at 8:00 with 60%" into up
 * to K options, each a list of charging stops with the window to book at each.
 * Pure logic over data the caller hands in: it never touches the database, the
 * network or the clock, so it is tested by hand-checked graphs and benchmarked
 * in-process (workers/bench/planner_bench.c). core/plan.c feeds it and checks the
 * windows against the owners' reservations.
 *
 * Road graph: cities and undirected roads (km, speed, highway). Built once and
 * read-only afterwards, so any number of threads may plan on one graph at once.
 *
 * Battery model (times in seconds, energy in kWh, soc as a fraction 0..1):
 *   - driving uses consumption_kwh_per_100km per km, flat (no slope, no speed
 *     effect); the charge never goes below min_soc, neither on the road nor on
 *     arrival at a stop or at the destination;
 *   - a stop charges at the station's power up to PLANNER_TAPER_SOC (80%); above it
 *     the power falls linearly to PLANNER_TAPER_FLOOR (20%) of full at 100%, so
 *     t(80% -> s) = C / (4 P) * ln(1 / (1 - 4 (s - 0.8))) hours;
 *   - a stop charges to target_soc, or only to what the rest of the trip needs
 *     (the shortest road distance to the destination, arriving at min_soc) when
 *     that is less; every stop adds PLANNER_STOP_OVERHEAD_S (plugging, paying);
 *     target_soc is a preference: when no route keeps to it, the plan is made
 *     again with stops charging up to 100% (planner_result.target_raised);
 *   - energy bought = energy stored (losses are not modelled), cost = kWh x price.
 *
 * Search: A* over (city, charge level) states, the charge kept per 1% of
 * capacity. From a state the car drives a road (charge falls) or, in a city with
 * a station, charges at the fastest station there not excluded (to target or to
 * what is needed). The heuristic is the shortest road distance to the destination
 * (least driving time) plus the energy still missing at the top power (admissible and
 * consistent), and a state is dropped when a closed state of the same city has at
 * least as much charge for no more time. Options that really differ come from
 * re-running the search, Yen-style, from each accepted option with its stations
 * excluded (all of them, or only the first), or with its roads made 50% slower,
 * taking the fastest result each time. A result on the same roads as an accepted
 * option with half of its stops or more at the same stations is a near copy: near
 * copies are offered only when fewer than K options really differ.
 */
#ifndef EVC_PLANNER_H
#define EVC_PLANNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PLANNER_DEFAULT_CONSUMPTION 17.0 /* kWh per 100 km */
#define PLANNER_DEFAULT_MIN_SOC 0.15
#define PLANNER_DEFAULT_TARGET_SOC 0.80
#define PLANNER_TAPER_SOC 0.80           /* full power up to this charge */
#define PLANNER_TAPER_FLOOR 0.20         /* power at 100%, as a fraction of full */
#define PLANNER_STOP_OVERHEAD_S 300      /* per stop: manoeuvre, plug, pay */
#define PLANNER_DEFAULT_SPEED_KMH 80.0
#define PLANNER_DETOUR_FACTOR 1.25       /* road km = great circle x this, when unknown */
#define PLANNER_MAX_STOPS 8              /* POST /trips takes at most 8 legs */
#define PLANNER_MAX_OPTIONS 12
#define PLANNER_SPARE_OPTIONS 3 /* the endpoint plans K + this, spares for windows found taken */

enum planner_status {
	PLANNER_OK = 0,
	PLANNER_INVALID,        /* bad request: unknown city, soc out of range, ... */
	PLANNER_NO_ROAD,        /* no road at all between origin and destination */
	PLANNER_OUT_OF_RANGE,   /* a gap between charging points is longer than the range */
	PLANNER_TOO_MANY_STOPS, /* only routes with more than max_stops stops */
	PLANNER_NOMEM,
};

struct planner_graph;

/* A station the planner may use; strings are borrowed from the caller. */
struct planner_station {
	const char *id;
	const char *company;
	int city;             /* index in the graph */
	double power_kw;      /* of each charger */
	double price_per_kwh; /* BRL */
};

struct planner_battery {
	double capacity_kwh;
	double soc;                       /* at departure, 0..1 */
	double consumption_kwh_per_100km; /* > 0 */
	double min_soc;                   /* never below, 0..1 */
	double target_soc;                /* charge limit at a stop, above min_soc */
};

struct planner_request {
	int origin, destination; /* city indices */
	int64_t departure;       /* epoch seconds */
	struct planner_battery battery;
	const struct planner_station *stations; /* borrowed */
	size_t nstations;
	int max_options; /* 1..PLANNER_MAX_OPTIONS */
	int max_stops;   /* 0: PLANNER_MAX_STOPS */
};

struct planner_stop {
	int station;        /* index in request.stations */
	int city;
	double km;          /* road km from the previous stop (or the origin) */
	double drive_s;     /* driving time from the previous stop */
	double arrive_soc, depart_soc;
	double kwh, cost;
	double charge_s;    /* charging proper, without the overhead */
	int64_t wait_s;     /* waiting for a free charger before the window */
	int64_t arrive;     /* epoch seconds */
	int64_t start, end; /* the window to book: whole minutes, overhead included */
};

struct planner_option {
	struct planner_stop *stops;
	int nstops;
	int *path;          /* cities, origin to destination */
	int npath;
	int *roads;         /* road indices, in driving order (npath - 1 of them) */
	int nroads;
	double km, drive_s, charge_s;
	double final_km, final_drive_s; /* last stop (or origin) to destination */
	double arrive_soc;  /* at the destination */
	double total_cost;
	int64_t wait_s;
	int64_t departure, eta;
	bool near_copy;     /* close to a faster option: offered only when too few differ */
};

struct planner_result {
	enum planner_status status;
	struct planner_option *options; /* those that really differ first, each part by eta, then cost */
	int noptions;
	char reason[320];               /* why there is no option */
	double gap_km, range_km;        /* PLANNER_OUT_OF_RANGE: the gap out of reach on the way on */
	int gap_from, gap_to;           /* its cities, -1 when unknown */
	bool target_raised;             /* no route kept to target_soc: these charge up to 100% */
	int searches;                   /* A* runs made */
	long states;                    /* states expanded, over all runs */
};

/* ---- road graph ---- */

/* A new empty graph; NULL on allocation failure. Free with planner_graph_free. */
struct planner_graph *planner_graph_new(void);
void planner_graph_free(struct planner_graph *g);

/* Adds a city (strings copied); its index, or -1 when out of memory. */
int planner_graph_add_city(struct planner_graph *g, const char *id, const char *name, double lat, double lon);

/* Adds a road both ways; speed_kmh <= 0 means PLANNER_DEFAULT_SPEED_KMH. False on bad input or no memory. */
bool planner_graph_add_road(struct planner_graph *g, int a, int b, double km, double speed_kmh, const char *highway)
	__attribute__((warn_unused_result));

/* Builds the adjacency and the name index; nothing may be added afterwards. False when
 * out of memory or when two cities share an id or a name. */
bool planner_graph_finish(struct planner_graph *g) __attribute__((warn_unused_result));

/* City by id or by name, ASCII case-insensitive; -1 when unknown. */
int planner_graph_find_city(const struct planner_graph *g, const char *id_or_name);

int planner_graph_city_count(const struct planner_graph *g);
int planner_graph_road_count(const struct planner_graph *g);
const char *planner_city_id(const struct planner_graph *g, int city);   /* borrowed */
const char *planner_city_name(const struct planner_graph *g, int city); /* borrowed */
const char *planner_road_highway(const struct planner_graph *g, int road);

/* Speed of a road kind from the roads table: dual 90, single 80, state 70, else the default. */
double planner_road_speed(const char *kind);

/* ---- battery model ---- */

/* Charging power at a given charge (0..1) on a station of power_kw: the taper curve. */
double planner_charge_power(double soc, double power_kw);

/* Seconds to charge from from_soc to to_soc (0 when to_soc <= from_soc). */
double planner_charge_seconds(double capacity_kwh, double from_soc, double to_soc, double power_kw);

/* Great-circle distance in km (haversine, Earth radius 6371 km). */
double planner_great_circle_km(double lat1, double lon1, double lat2, double lon2);

/* ---- planning ---- */

/*
 * Plans up to req->max_options distinct options. Always fills *out (free it with
 * planner_result_free, whatever the status); PLANNER_OK means at least one
 * option. An option with no stop means the destination is within range.
 */
enum planner_status planner_plan(const struct planner_graph *g, const struct planner_request *req,
				 struct planner_result *out) __attribute__((warn_unused_result));

void planner_result_free(struct planner_result *r);

/*
 * Moves stop i's window to start at new_start (not before it starts now) and
 * shifts every later time by the wait: the charge levels stay the same.
 */
void planner_option_delay(struct planner_option *opt, int stop, int64_t new_start);

/* True when both options use the same stations in the same order on the same roads. */
bool planner_option_same(const struct planner_option *a, const struct planner_option *b);

#endif
