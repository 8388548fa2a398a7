/*
 * Route planning and the availability batch (plan.h). The planning itself is
 * planner.c (pure). Here: the road graph, read once from the cities and roads
 * tables and kept for the life of the process (it never changes); the stations
 * of this company and those cached from the peers that are up (the others are
 * left out, and the answer says so); and the availability of every candidate
 * window, one batched call per company. A window found taken moves to the
 * owner's nearest later free window, the following legs shift with it, and a
 * second batched round checks what moved; options still not free are dropped
 * (the planner plans spares for that).
 *
 * No HTTP here: answers go into a core_result; the peers are asked through
 * peer_client, as any federation call.
 */
#include "plan.h"
#include "admission.h"
#include "app.h"
#include "coredb.h"
#include "federation.h"
#include "jsonx.h"
#include "log.h"
#include "peer_client.h"
#include "planner.h"
#include "policy.h"
#include "timeutil.h"
#include "validate.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_OPTIONS 3
/* The most distinct routes offered for one request, over all its pages (offset + max_options). */
#define MAX_ASKED_OPTIONS (PLANNER_MAX_OPTIONS - PLANNER_SPARE_OPTIONS)
#define MAX_BATCH_WINDOWS 200
#define MAX_COMPANIES 32
#define AVAILABILITY_TIMEOUT_MS 5000L
#define MAX_AHEAD_S (365L * 86400)
#define JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(10))

/* ---- the road graph: loaded once ------------------------------------------------ */

static pthread_mutex_t graph_lock = PTHREAD_MUTEX_INITIALIZER;
static struct planner_graph *road_graph; /* read-only once set; lives as long as the process */

static int by_text(const void *key, const void *elem)
{
	return strcmp(key, *(const char *const *)elem);
}

/* Builds the graph from the cities and roads tables; NULL on a database error or bad data. */
static struct planner_graph *load_graph(PGconn *conn)
{
	/* "C" order, so the ids can be searched with strcmp. */
	static const char cities_sql[] = "SELECT id, name, lat, lon FROM cities ORDER BY id COLLATE \"C\"";
	static const char roads_sql[] = "SELECT from_city, to_city, km::float8, highway, kind FROM roads"
					" ORDER BY from_city COLLATE \"C\", to_city COLLATE \"C\", highway COLLATE \"C\"";
	struct planner_graph *g = planner_graph_new();
	PGresult *cities = db_exec(conn, cities_sql, 0, NULL), *roads = NULL;
	const char **ids = NULL;
	bool ok = g != NULL && db_ok(cities, "plan_cities");
	int n = ok ? PQntuples(cities) : 0;
	ok = ok && n > 1 && (ids = malloc((size_t)n * sizeof(*ids))) != NULL;
	for (int i = 0; ok && i < n; i++) {
		ids[i] = PQgetvalue(cities, i, 0);
		ok = planner_graph_add_city(g, ids[i], PQgetvalue(cities, i, 1), atof(PQgetvalue(cities, i, 2)),
					    atof(PQgetvalue(cities, i, 3))) == i;
	}
	if (ok) {
		roads = db_exec(conn, roads_sql, 0, NULL);
		ok = db_ok(roads, "plan_roads");
	}
	for (int r = 0; ok && r < PQntuples(roads); r++) {
		const char **a = bsearch(PQgetvalue(roads, r, 0), ids, (size_t)n, sizeof(*ids), by_text);
		const char **b = bsearch(PQgetvalue(roads, r, 1), ids, (size_t)n, sizeof(*ids), by_text);
		ok = a != NULL && b != NULL &&
		     planner_graph_add_road(g, (int)(a - ids), (int)(b - ids), atof(PQgetvalue(roads, r, 2)),
					    planner_road_speed(PQgetvalue(roads, r, 4)), PQgetvalue(roads, r, 3));
	}
	ok = ok && planner_graph_finish(g);
	if (ok)
		log_info("event=road_graph_loaded cities=%d roads=%d", planner_graph_city_count(g), planner_graph_road_count(g));
	else
		log_error("event=road_graph_failed cities=%d", n);
	free(ids);
	PQclear(cities);
	PQclear(roads);
	if (!ok) {
		planner_graph_free(g);
		return NULL;
	}
	return g;
}

/* The graph, loaded on first use; NULL when it cannot be loaded now (retried next time). */
static const struct planner_graph *graph_get(PGconn *conn)
{
	pthread_mutex_lock(&graph_lock);
	if (road_graph == NULL)
		road_graph = load_graph(conn);
	const struct planner_graph *g = road_graph;
	pthread_mutex_unlock(&graph_lock);
	return g;
}

/* ---- availability, answered here ------------------------------------------------ */

/*
 * Per window, in order: free (an active station with a charger in service, of the
 * window's connector, free over the whole window: what booking takes), why not,
 * and the nearest free window of the same length starting no earlier (from
 * free_windows, which looks 24 h around).
 */
static const char availability_sql[] =
	"SELECT coalesce(json_agg(json_build_object("
	"  'station_id', w.station_id, 'start', rfc3339(w.start), 'end', rfc3339(w.stop),"
	"  'free', coalesce(s.status = 'active' AND EXISTS ("
	"    SELECT 1 FROM generate_series(1, s.chargers) AS g(n)"
	"    WHERE (w.connector IS NULL OR s.connectors[g.n] = w.connector) AND NOT ocpp_charger_out(s.id, g.n)"
	"    AND NOT EXISTS ("
	"      SELECT 1 FROM reservations r WHERE r.station_id = s.id AND r.charger = g.n"
	"      AND r.status IN ('held', 'confirmed') AND r.during && tstzrange(w.start, w.stop))), false),"
	"  'reason', CASE WHEN s.id IS NULL THEN 'unknown_station' WHEN s.status <> 'active' THEN 'station_' || s.status END,"
	"  'nearest_free', CASE WHEN s.status = 'active' THEN (SELECT json_build_object('start', rfc3339(f.window_start),"
	"    'end', rfc3339(f.window_end)) FROM free_windows(s.id, w.start, w.stop, 64, w.connector) f"
	"    WHERE f.window_start >= w.start ORDER BY f.window_start LIMIT 1) END)"
	"  ORDER BY w.ord), '[]'::json)"
	" FROM ROWS FROM (json_to_recordset($1::json) AS (station_id text, start timestamptz, stop timestamptz,"
	"   connector text)) WITH ORDINALITY AS w(station_id, start, stop, connector, ord)"
	" LEFT JOIN stations s ON s.id = w.station_id";

/* windows: [{station_id, start, stop[, connector]}] validated. A result to PQclear; db_ok tells. */
static PGresult *availability_query(PGconn *conn, json_t *windows)
{
	char *text = json_dumps(windows, JSON_COMPACT);
	const char *params[] = { text };
	PGresult *res = db_exec(conn, availability_sql, 1, params);
	free(text);
	return res;
}

/* The nearest free window may be the asked one with a free charger: normalise it away. */
static void mark_free_results(json_t *results)
{
	size_t i;
	json_t *w;
	json_array_foreach(results, i, w) {
		if (json_is_true(json_object_get(w, "free"))) {
			json_object_set_new(w, "nearest_free", json_null());
		} else if (json_object_get(w, "reason") == NULL || json_is_null(json_object_get(w, "reason"))) {
			json_object_set_new(w, "reason", json_string("taken"));
		}
	}
}


json_t *plan_read_windows(json_t *input, struct core_result *r)
{
	static const char *const allowed[] = { "windows", NULL };
	struct jsonx_error err;
	json_t *in = json_object_get(input, "windows");
	if (!jsonx_only_keys(input, allowed, &err)) {
		core_fail(r, EVC_ERR_INVALID, err.code, "%s", err.message);
		return NULL;
	}
	if (!json_is_array(in) || json_array_size(in) < 1 || json_array_size(in) > MAX_BATCH_WINDOWS) {
		core_fail(r, EVC_ERR_INVALID, "invalid_field", "field 'windows' must be an array of 1 to %d windows",
			  MAX_BATCH_WINDOWS);
		return NULL;
	}
	json_t *windows = json_array();
	size_t i;
	json_t *w;
	json_array_foreach(in, i, w) {
		const char *station, *start_text, *end_text, *connector = NULL;
		int64_t start, end;
		if (!json_is_object(w)) {
			core_fail(r, EVC_ERR_INVALID, "invalid_field", "window %zu must be an object", i + 1);
			goto failed;
		}
		if (!jsonx_string(w, "station_id", true, VALIDATE_STATION_MAX, &station, &err) ||
		    !jsonx_string(w, "start", true, 64, &start_text, &err) || !jsonx_string(w, "end", true, 64, &end_text, &err) ||
		    !jsonx_string(w, "connector", false, 32, &connector, &err)) {
			core_fail(r, EVC_ERR_INVALID, err.code, "window %zu: %s", i + 1, err.message);
			goto failed;
		}
		if (connector != NULL && !validate_connector(connector)) {
			core_fail(r, EVC_ERR_INVALID, "invalid_field", "window %zu: 'connector' must be " VALIDATE_CONNECTORS, i + 1);
			goto failed;
		}
		if (!validate_station_id(station)) {
			core_fail(r, EVC_ERR_INVALID, "invalid_field", "window %zu: malformed station id", i + 1);
			goto failed;
		}
		if (!timeutil_parse_rfc3339(start_text, &start) || !timeutil_parse_rfc3339(end_text, &end)) {
			core_fail(r, EVC_ERR_INVALID, "invalid_field", "window %zu: start and end must be RFC 3339 times", i + 1);
			goto failed;
		}
		if (end <= start || end - start > 86400) {
			core_fail(r, EVC_ERR_INVALID, "invalid_window", "window %zu: the window must be 1 s to 24 h long", i + 1);
			goto failed;
		}
		char s[TIMEUTIL_RFC3339_LEN], e[TIMEUTIL_RFC3339_LEN];
		timeutil_format_rfc3339(start, s);
		timeutil_format_rfc3339(end, e);
		json_array_append_new(windows, json_pack("{s:s, s:s, s:s, s:s*}", "station_id", station, "start", s, "stop", e,
							 "connector", connector));
	}
	return windows;
failed:
	json_decref(windows);
	return NULL;
}

enum evc_err plan_availability_batch(struct app *app, const struct actor *actor, json_t *input,
				     const char *request_id, struct core_result *r)
{
	if (policy_check(actor, POLICY_CATALOGUE_READ, NULL, request_id, r) != EVC_OK)
		return r->err;
	if (!json_is_object(input))
		return core_fail(r, EVC_ERR_INVALID, "invalid_json", "request body must be a JSON object");
	json_t *windows = plan_read_windows(input, r);
	if (windows == NULL)
		return r->err;
	PGconn *conn = db_acquire(app->db, APP_DB_WAIT_MS);
	if (conn == NULL) {
		json_decref(windows);
		return coredb_unavailable(r, request_id);
	}
	PGresult *res = availability_query(conn, windows);
	if (!db_ok(res, "availability_batch")) {
		coredb_error(r, conn, res, request_id);
	} else {
		json_t *results = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
		mark_free_results(results);
		json_t *answer = json_pack("{s:s, s:o}", "company", app->cfg.company_id, "windows",
					   results ? results : json_array());
		if (answer != NULL)
			core_ok(r, answer);
		else
			core_fail(r, EVC_ERR_INTERNAL, "internal", "out of memory");
	}
	PQclear(res);
	db_release(app->db, conn);
	json_decref(windows);
	return r->err;
}

/* ---- the plan request -------------------------------------------------------------- */

/* The battery object into in->battery; false with the 400 in r. */
static bool read_battery(json_t *input, struct plan_input *in, struct core_result *r)
{
	static const char *const battery_keys[] = { "capacity_kwh", "soc", "consumption_kwh_per_100km", "min_soc",
						    "target_soc", NULL };
	struct jsonx_error err;
	bool has_consumption = false;
	double min_soc = PLANNER_DEFAULT_MIN_SOC * 100, target_soc = PLANNER_DEFAULT_TARGET_SOC * 100;
	json_t *battery = json_object_get(input, "battery");
	if (!json_is_object(battery)) {
		core_fail(r, EVC_ERR_INVALID, battery ? "invalid_field" : "missing_field",
			  "field 'battery' must be an object {capacity_kwh, soc, consumption_kwh_per_100km?, min_soc?, target_soc?}");
		return false;
	}
	struct planner_battery *b = &in->battery;
	b->consumption_kwh_per_100km = PLANNER_DEFAULT_CONSUMPTION;
	if (!jsonx_only_keys(battery, battery_keys, &err) ||
	    !jsonx_number(battery, "capacity_kwh", true, 5, 500, &b->capacity_kwh, NULL, &err) ||
	    !jsonx_number(battery, "soc", true, 0, 100, &b->soc, NULL, &err) ||
	    !jsonx_number(battery, "consumption_kwh_per_100km", false, 5, 80, &b->consumption_kwh_per_100km,
			  &has_consumption, &err) ||
	    !jsonx_number(battery, "min_soc", false, 0, 50, &min_soc, NULL, &err) ||
	    !jsonx_number(battery, "target_soc", false, 20, 100, &target_soc, NULL, &err)) {
		core_fail(r, EVC_ERR_INVALID, err.code, "battery: %s", err.message);
		return false;
	}
	if (target_soc <= min_soc + 5) {
		core_fail(r, EVC_ERR_INVALID, "invalid_field", "battery: target_soc must be more than min_soc + 5");
		return false;
	}
	b->soc /= 100;
	b->min_soc = min_soc / 100;
	b->target_soc = target_soc / 100;
	in->consumption_source = has_consumption ? "request" : NULL;
	return true;
}

bool plan_read_input(const struct actor *actor, json_t *input, int64_t now, struct plan_input *in, struct core_result *r)
{
	static const char *const allowed[] = { "car_id", "origin", "destination", "departure", "battery", "max_options",
					       "offset", "connector", NULL };
	struct jsonx_error err;
	const char *departure = NULL;
	long long max_options = DEFAULT_OPTIONS, offset = 0;
	bool present = false, is_car = actor->kind == ACTOR_CAR;

	memset(in, 0, sizeof(*in));
	if (!jsonx_only_keys(input, allowed, &err) ||
	    !jsonx_string(input, "car_id", !is_car, VALIDATE_CAR_MAX, &in->car_id, &err) ||
	    !jsonx_string(input, "origin", true, 100, &in->origin, &err) ||
	    !jsonx_string(input, "destination", true, 100, &in->destination, &err) ||
	    !jsonx_string(input, "departure", false, 64, &departure, &err) ||
	    !jsonx_integer(input, "max_options", false, 1, MAX_ASKED_OPTIONS, &max_options, &present, &err) ||
	    !jsonx_integer(input, "offset", false, 0, MAX_ASKED_OPTIONS - 1, &offset, NULL, &err) ||
	    !jsonx_string(input, "connector", false, 32, &in->connector, &err)) {
		core_fail(r, EVC_ERR_INVALID, err.code, "%s", err.message);
		return false;
	}
	if (in->connector != NULL && !validate_connector(in->connector)) {
		core_fail(r, EVC_ERR_INVALID, "invalid_field", "field 'connector' must be " VALIDATE_CONNECTORS);
		return false;
	}
	if (is_car && in->car_id == NULL) {
		in->car_id = actor->id;
	} else if (is_car && strcmp(in->car_id, actor->id) != 0) {
		core_fail(r, EVC_ERR_FORBIDDEN, "forbidden", "a car plans for itself only");
		return false;
	}
	if (!validate_car_id(in->car_id)) {
		core_fail(r, EVC_ERR_INVALID, "invalid_field", "field 'car_id' must be 1 to 64 of [A-Za-z0-9_.:-]");
		return false;
	}
	if (!read_battery(input, in, r))
		return false;
	in->max_options = (int)max_options;
	in->offset = (int)offset;
	/* The last page is cut at the limit: at most MAX_ASKED_OPTIONS distinct routes over all pages. */
	if (offset + max_options > MAX_ASKED_OPTIONS)
		in->max_options = MAX_ASKED_OPTIONS - (int)offset;

	in->departure = now;
	if (departure != NULL && !timeutil_parse_rfc3339(departure, &in->departure)) {
		core_fail(r, EVC_ERR_INVALID, "invalid_field", "field 'departure' must be an RFC 3339 time");
		return false;
	}
	if (in->departure < now - 300 || in->departure > now + MAX_AHEAD_S) {
		core_fail(r, EVC_ERR_INVALID, "invalid_field", "field 'departure' must be between now and a year ahead");
		return false;
	}
	return true;
}

/* The car's consumption trend from its telemetry (car_state), when known and recent. */
static bool telemetry_consumption(PGconn *conn, const char *car_id, double *out)
{
	static const char has_sql[] = "SELECT to_regclass('car_state') IS NOT NULL";
	static const char sql[] = "SELECT consumption FROM car_state WHERE car_id = $1"
				  " AND ts > now() - interval '24 hours' AND consumption BETWEEN 5 AND 80";
	PGresult *res = db_exec(conn, has_sql, 0, NULL);
	bool found = false;
	if (db_ok(res, "plan_has_telemetry") && strcmp(PQgetvalue(res, 0, 0), "t") == 0) {
		PQclear(res);
		const char *params[] = { car_id };
		res = db_exec(conn, sql, 1, params);
		if (db_ok(res, "plan_telemetry") && PQntuples(res) == 1) {
			*out = atof(PQgetvalue(res, 0, 0));
			found = true;
		}
	}
	PQclear(res);
	return found;
}

/* ---- the stations: ours and those of the peers that are up ------------------------ */

struct station_set {
	PGresult *res;                     /* owns the strings */
	struct planner_station *stations;
	int n;
	int off_network;                   /* stations whose city is not on the road network */
	json_t *left_out;                  /* [{company, reason}] */
	char up[MAX_COMPANIES][VALIDATE_COMPANY_MAX + 1];
	int nup;
};

static bool company_in(char list[][VALIDATE_COMPANY_MAX + 1], int n, const char *id)
{
	for (int i = 0; i < n; i++)
		if (strcmp(list[i], id) == 0)
			return true;
	return false;
}

static void left_out_add(json_t *left_out, const char *company, const char *reason)
{
	size_t i;
	json_t *item;
	json_array_foreach(left_out, i, item)
		if (strcmp(json_string_value(json_object_get(item, "company")), company) == 0)
			return;
	json_array_append_new(left_out, json_pack("{s:s, s:s}", "company", company, "reason", reason));
}

/* Loads the stations; false on a database error (*failed holds the result, caller PQclears). */
static bool load_stations(struct app *app, PGconn *conn, const struct planner_graph *g, const char *connector,
			  struct station_set *set, PGresult **failed)
{
	static const char peers_sql[] = "SELECT id FROM peers ORDER BY id";
	/* With a connector: only stations having such a charger, at the power of their best one (017). */
	static const char sql[] =
		"SELECT s.id, s.company, s.city, station_connector_power(s, $1), s.price_per_kwh::float8"
		" FROM stations s WHERE s.status = 'active' AND station_connector_power(s, $1) IS NOT NULL"
		" UNION ALL"
		" SELECT ps.station_id, ps.company, ps.data->>'city', station_connector_power(ps.data, $1),"
		"  CASE WHEN jsonb_typeof(ps.data->'price_per_kwh') = 'number' THEN (ps.data->>'price_per_kwh')::float8 END"
		" FROM peer_stations ps WHERE ps.data->>'status' = 'active'"
		" ORDER BY 1";
	set->left_out = json_array();
	snprintf(set->up[set->nup++], sizeof(set->up[0]), "%s", app->cfg.company_id);

	PGresult *peers = db_exec(conn, peers_sql, 0, NULL);
	if (!db_ok(peers, "plan_peers")) {
		*failed = peers;
		return false;
	}
	for (int i = 0; i < PQntuples(peers); i++) {
		const char *id = PQgetvalue(peers, i, 0);
		if (federation_peer_up(id) && set->nup < MAX_COMPANIES)
			snprintf(set->up[set->nup++], sizeof(set->up[0]), "%s", id);
		else
			left_out_add(set->left_out, id, "down");
	}
	PQclear(peers);

	const char *params[] = { connector };
	set->res = db_exec(conn, sql, 1, params);
	if (!db_ok(set->res, "plan_stations")) {
		*failed = set->res;
		set->res = NULL;
		return false;
	}
	int rows = PQntuples(set->res);
	set->stations = calloc((size_t)rows + 1, sizeof(*set->stations));
	if (set->stations == NULL)
		return true; /* planned with no station: the reason will say the range is too short */
	for (int i = 0; i < rows; i++) {
		const char *company = PQgetvalue(set->res, i, 1);
		if (!company_in(set->up, set->nup, company))
			continue;
		if (PQgetisnull(set->res, i, 3) || PQgetisnull(set->res, i, 4) || PQgetisnull(set->res, i, 2))
			continue;
		int city = planner_graph_find_city(g, PQgetvalue(set->res, i, 2));
		double power = atof(PQgetvalue(set->res, i, 3));
		if (city < 0 || !(power > 0)) {
			set->off_network++;
			continue;
		}
		set->stations[set->n++] = (struct planner_station){
			.id = PQgetvalue(set->res, i, 0), .company = company, .city = city, .power_kw = power,
			.price_per_kwh = atof(PQgetvalue(set->res, i, 4)),
		};
	}
	return true;
}

static void station_set_free(struct station_set *set)
{
	PQclear(set->res);
	free(set->stations);
	json_decref(set->left_out);
}

/* ---- availability of the candidate windows, one batched call per company -------- */

struct window {
	const char *station_id, *company; /* borrowed from the station set */
	int64_t start, end;
	int free;           /* -1 not known, 0 taken, 1 free */
	int64_t next_start; /* nearest free start at or after start; 0 when none */
};

struct window_list {
	struct window *w;
	int n, cap;
	const char *connector; /* the car's, asked with every window; NULL: any */
};

/* The index of the window (added when new), or -1 when out of memory. */
static int window_add(struct window_list *l, const struct planner_station *st, int64_t start, int64_t end)
{
	for (int i = 0; i < l->n; i++)
		if (l->w[i].station_id == st->id && l->w[i].start == start && l->w[i].end == end)
			return i;
	if (l->n == l->cap) {
		int cap = l->cap ? l->cap * 2 : 32;
		struct window *grown = realloc(l->w, (size_t)cap * sizeof(*grown));
		if (grown == NULL)
			return -1;
		l->w = grown;
		l->cap = cap;
	}
	l->w[l->n] = (struct window){ .station_id = st->id, .company = st->company, .start = start, .end = end, .free = -1 };
	return l->n++;
}

struct company_check {
	char company[VALIDATE_COMPANY_MAX + 1];
	int *index;       /* windows asked, in the order of body */
	int n;
	json_t *body;     /* {"windows":[...]} */
	char url[256], token[FEDERATION_TOKEN_MAX];
	const char *request_id;
	struct peer_response resp;
	pthread_t thread;
	bool threaded;
};

static void *company_check_run(void *arg)
{
	struct company_check *c = arg;
	peer_call("POST", c->url, "/api/v1/availability/batch", c->token[0] ? c->token : NULL, c->body,
		  AVAILABILITY_TIMEOUT_MS, c->request_id, &c->resp);
	return NULL;
}

/* Copies a company's answers (an array in the asked order) into the windows; false when malformed. */
static bool apply_answers(struct window_list *l, const struct company_check *c, json_t *answers)
{
	if (!json_is_array(answers) || (int)json_array_size(answers) != c->n)
		return false;
	for (int i = 0; i < c->n; i++) {
		json_t *a = json_array_get(answers, (size_t)i);
		struct window *w = &l->w[c->index[i]];
		int64_t next = 0;
		const char *next_text = json_string_value(json_object_get(json_object_get(a, "nearest_free"), "start"));
		if (next_text != NULL && (!timeutil_parse_rfc3339(next_text, &next) || next < w->start))
			next = 0;
		w->free = json_is_true(json_object_get(a, "free")) ? 1 : 0;
		w->next_start = w->free ? 0 : next;
	}
	return true;
}


/* Groups the windows not known yet by owner into checks[]; the number of checks. */
static int collect_checks(struct window_list *l, struct company_check checks[MAX_COMPANIES], const char *request_id)
{
	int nchecks = 0;
	memset(checks, 0, MAX_COMPANIES * sizeof(*checks));
	for (int i = 0; i < l->n; i++) {
		if (l->w[i].free >= 0)
			continue;
		int k = 0;
		while (k < nchecks && strcmp(checks[k].company, l->w[i].company) != 0)
			k++;
		if (k == nchecks) {
			if (nchecks == MAX_COMPANIES)
				continue;
			snprintf(checks[k].company, sizeof(checks[k].company), "%s", l->w[i].company);
			checks[k].index = calloc((size_t)l->n, sizeof(int));
			checks[k].body = json_pack("{s:[]}", "windows");
			checks[k].request_id = request_id;
			nchecks++;
			if (checks[k].index == NULL || checks[k].body == NULL)
				continue;
		}
		if (checks[k].index == NULL || checks[k].body == NULL || checks[k].n >= MAX_BATCH_WINDOWS)
			continue;
		char s[TIMEUTIL_RFC3339_LEN], e[TIMEUTIL_RFC3339_LEN];
		timeutil_format_rfc3339(l->w[i].start, s);
		timeutil_format_rfc3339(l->w[i].end, e);
		json_array_append_new(json_object_get(checks[k].body, "windows"),
				      json_pack("{s:s, s:s, s:s, s:s*}", "station_id", l->w[i].station_id, "start", s, "end", e,
						"connector", l->connector));
		checks[k].index[checks[k].n++] = i;
	}
	return nchecks;
}

/* This company's windows of c, answered in SQL on conn. */
static void check_ours(PGconn *conn, struct window_list *l, struct company_check *c, json_t *left_out)
{
	json_t *windows = json_array();
	size_t i;
	json_t *w;
	json_array_foreach(json_object_get(c->body, "windows"), i, w)
		json_array_append_new(windows, json_pack("{s:O, s:O, s:O, s:O*}", "station_id", json_object_get(w, "station_id"),
							 "start", json_object_get(w, "start"), "stop", json_object_get(w, "end"),
							 "connector", json_object_get(w, "connector")));
	PGresult *res = availability_query(conn, windows);
	json_t *answers = db_ok(res, "plan_availability") ? json_loads(PQgetvalue(res, 0, 0), 0, NULL) : NULL;
	if (!apply_answers(l, c, answers))
		left_out_add(left_out, c->company, "availability_unknown");
	json_decref(answers);
	json_decref(windows);
	PQclear(res);
}

/*
 * Asks every owner about the windows not known yet: this company in SQL, peers
 * in parallel threads, one POST /availability/batch each. A company that does not
 * answer leaves its windows unknown and is added to left_out.
 */
static void check_windows(struct app *app, const char *request_id, struct window_list *l, json_t *left_out)
{
	struct company_check checks[MAX_COMPANIES];
	int nchecks = collect_checks(l, checks, request_id);

	const char *self = app->cfg.company_id;
	for (int k = 0; k < nchecks; k++) {
		struct company_check *c = &checks[k];
		if (c->n == 0 || strcmp(c->company, self) == 0)
			continue;
		if (!federation_peer(c->company, c->url, sizeof(c->url), c->token, sizeof(c->token)))
			continue;
		c->threaded = pthread_create(&c->thread, NULL, company_check_run, c) == 0;
		if (!c->threaded)
			company_check_run(c);
	}

	/* Ours, meanwhile, on a connection given back before the peers are waited on. */
	for (int k = 0; k < nchecks; k++) {
		if (checks[k].n == 0 || strcmp(checks[k].company, self) != 0)
			continue;
		PGconn *conn = db_acquire(app->db, APP_DB_WAIT_MS);
		if (conn == NULL) {
			log_warn("event=plan_availability_failed req=%s company=%s reason=db_unavailable", request_id, self);
			left_out_add(left_out, self, "availability_unknown");
			continue;
		}
		check_ours(conn, l, &checks[k], left_out);
		db_release(app->db, conn);
	}

	for (int k = 0; k < nchecks; k++) {
		struct company_check *c = &checks[k];
		if (c->threaded)
			pthread_join(c->thread, NULL);
		if (c->n > 0 && strcmp(c->company, self) != 0) {
			bool ok = c->resp.status == 200 && apply_answers(l, c, json_object_get(c->resp.body, "windows"));
			if (!ok) {
				log_warn("event=plan_availability_failed req=%s company=%s status=%ld", request_id, c->company,
					 c->resp.status);
				left_out_add(left_out, c->company, "unreachable");
			}
		}
		peer_response_clear(&c->resp);
		json_decref(c->body);
		free(c->index);
	}
}

/*
 * Keeps the options whose every window is free. Round 1 asks about every window;
 * an option's first taken window moves to the nearest free one after it (later
 * legs shift), and round 2 asks about what moved. kept[i] ends true for the
 * options to offer.
 */
static void settle_options(struct app *app, const char *request_id, const struct station_set *set,
			   struct planner_result *plan, int wanted, const char *connector, bool *kept, json_t *left_out)
{
	struct window_list l = { .connector = connector };
	int *moved = calloc((size_t)plan->noptions + 1, sizeof(int)); /* stop moved + 1, 0 when none */
	if (moved == NULL)
		return;
	for (int round = 0; round < 2; round++) {
		for (int o = 0; o < plan->noptions; o++) {
			const struct planner_option *opt = &plan->options[o];
			if (round == 1 && !moved[o])
				continue;
			for (int s = round == 1 ? moved[o] : 0; s < opt->nstops; s++)
				if (window_add(&l, &set->stations[opt->stops[s].station], opt->stops[s].start, opt->stops[s].end) < 0)
					goto done;
		}
		check_windows(app, request_id, &l, left_out);

		int nkept = 0;
		for (int o = 0; o < plan->noptions; o++) {
			struct planner_option *opt = &plan->options[o];
			if (round == 1 && !moved[o])
				continue;
			bool all_free = true;
			for (int s = 0; s < opt->nstops && all_free; s++) {
				if (round == 1 && s < moved[o])
					continue; /* up to the moved stop, known free */
				int i = window_add(&l, &set->stations[opt->stops[s].station], opt->stops[s].start, opt->stops[s].end);
				if (i < 0)
					goto done;
				if (l.w[i].free == 1)
					continue;
				all_free = false;
				if (round == 0 && l.w[i].free == 0 && l.w[i].next_start > 0) {
					planner_option_delay(opt, s, l.w[i].next_start);
					moved[o] = s + 1;
				}
			}
			kept[o] = all_free;
			nkept += kept[o];
		}
		if (round == 0) {
			int nmoved = 0;
			for (int o = 0; o < plan->noptions; o++)
				nmoved += moved[o] != 0;
			if (nkept >= wanted || nmoved == 0)
				break;
		}
	}
done:
	free(l.w);
	free(moved);
}

/* ---- the answer -------------------------------------------------------------------- */

static double round_to(double v, double unit)
{
	return round(v / unit) * unit;
}

static json_t *time_json(int64_t t)
{
	char text[TIMEUTIL_RFC3339_LEN];
	timeutil_format_rfc3339(t, text);
	return json_string(text);
}

static json_t *option_json(const struct planner_graph *g, const struct station_set *set, const struct planner_option *o)
{
	json_t *legs = json_array(), *companies = json_array(), *via = json_array(), *cities = json_array();
	for (int i = 0; i < o->nstops; i++) {
		const struct planner_stop *s = &o->stops[i];
		const struct planner_station *st = &set->stations[s->station];
		json_array_append_new(legs, json_pack(
			"{s:s, s:s, s:s, s:{s:o, s:o}, s:o, s:o, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:I}",
			"station_id", st->id, "company", st->company, "city", planner_city_name(g, s->city),
			"window", "start", time_json(s->start), "end", time_json(s->end),
			"start", time_json(s->start), "end", time_json(s->end),
			"arrive_soc", round_to(s->arrive_soc * 100, 0.1), "depart_soc", round_to(s->depart_soc * 100, 0.1),
			"kwh", round_to(s->kwh, 0.01), "cost", round_to(s->cost, 0.01), "power_kw", st->power_kw,
			"price_per_kwh", st->price_per_kwh, "km", round_to(s->km, 0.1), "charge_minutes",
			round_to(s->charge_s / 60, 0.1), "wait_minutes", (json_int_t)(s->wait_s / 60)));
		bool known = false;
		size_t k;
		json_t *c;
		json_array_foreach(companies, k, c)
			known = known || strcmp(json_string_value(c), st->company) == 0;
		if (!known)
			json_array_append_new(companies, json_string(st->company));
	}
	const char *last = NULL;
	for (int i = 0; i < o->nroads; i++) {
		const char *h = planner_road_highway(g, o->roads[i]);
		if (last == NULL || strcmp(last, h) != 0)
			json_array_append_new(via, json_string(h));
		last = h;
	}
	for (int i = 0; i < o->npath; i++)
		json_array_append_new(cities, json_string(planner_city_name(g, o->path[i])));
	double cost = 0;
	for (int i = 0; i < o->nstops; i++)
		cost += round_to(o->stops[i].cost, 0.01);
	return json_pack("{s:o, s:o, s:f, s:o, s:f, s:f, s:f, s:I, s:f, s:o, s:o}", "legs", legs, "eta", time_json(o->eta),
			 "total_cost", round_to(cost, 0.01), "companies", companies, "distance_km", round_to(o->km, 0.1),
			 "drive_minutes", round_to(o->drive_s / 60, 0.1), "charge_minutes", round_to(o->charge_s / 60, 0.1),
			 "wait_minutes", (json_int_t)(o->wait_s / 60), "arrive_soc", round_to(o->arrive_soc * 100, 0.1), "via",
			 via, "cities", cities);
}

static double elapsed_ms(const struct timespec *since)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - since->tv_sec) * 1e3 + (double)(now.tv_nsec - since->tv_nsec) / 1e6;
}


/*
 * The answer as success, its reals cut to 10 significant digits first: the
 * values the answer always carried (round_to's 0.1 steps, not their binary
 * neighbours), whatever precision an adapter prints them with.
 */
static void answer_ok(struct core_result *r, json_t *body)
{
	char *text = json_dumps(body, JSON_FLAGS);
	json_decref(body);
	if (text == NULL) {
		core_fail(r, EVC_ERR_INTERNAL, "internal", "out of memory");
		return;
	}
	core_ok_text(r, text);
	free(text);
}

static void no_option(const struct planner_graph *g, const struct planner_result *plan, json_t *left_out,
		      struct core_result *r)
{
	const char *code = plan->status == PLANNER_TOO_MANY_STOPS ? "too_many_stops" : "no_route";
	json_t *reason = json_pack("{s:s, s:s}", "code", code, "message", plan->reason);
	if (plan->status == PLANNER_OUT_OF_RANGE && plan->gap_to >= 0) {
		json_object_set_new(reason, "gap_km", json_integer((json_int_t)llround(plan->gap_km)));
		json_object_set_new(reason, "range_km", json_integer((json_int_t)llround(plan->range_km)));
		json_object_set_new(reason, "from", json_string(planner_city_name(g, plan->gap_from)));
		json_object_set_new(reason, "to", json_string(planner_city_name(g, plan->gap_to)));
	}
	const char *extra = json_array_size(left_out) > 0 ? " (some companies were left out: see companies_left_out)" : "";
	core_fail_extra(r, EVC_ERR_UNPROCESSABLE, code,
			json_pack("{s:o, s:O}", "reason", reason, "companies_left_out", left_out), "%s%s", plan->reason,
			extra);
}

/*
 * One planning: the graph, what to plan with, and how long each part took. conn
 * is a pooled connection for loading; it is given back (NULL) before the peers
 * are asked, so a plan never holds one while it waits on another server.
 */
struct plan_run {
	struct app *app;
	const char *request_id;
	PGconn *conn;
	const struct planner_graph *g;
	int origin, destination;
	struct station_set set;
	struct planner_result plan;
	double search_ms, availability_ms;
};

/*
 * The free options offset + 1 .. offset + K in the planner's order (those that
 * really differ before near copies, so pages do not overlap), then sorted by
 * arrival: a moved window delays an option. A new array of option documents;
 * *more: whether free options are left for a next page.
 */
static json_t *chosen_options(const struct plan_run *run, const bool *kept, int offset, int wanted, bool *more)
{
	const struct planner_result *plan = &run->plan;
	int chosen[PLANNER_MAX_OPTIONS], nchosen = 0, skipped = 0;
	*more = false;
	for (int o = 0; o < plan->noptions; o++) {
		if (!kept[o])
			continue;
		if (nchosen == wanted) {
			*more = offset + wanted < MAX_ASKED_OPTIONS;
			break;
		}
		if (skipped++ >= offset)
			chosen[nchosen++] = o;
	}
	for (int i = 1; i < nchosen; i++)
		for (int j = i; j > 0; j--) {
			const struct planner_option *a = &plan->options[chosen[j - 1]], *b = &plan->options[chosen[j]];
			if (a->eta < b->eta || (a->eta == b->eta && a->total_cost <= b->total_cost))
				break;
			int t = chosen[j];
			chosen[j] = chosen[j - 1];
			chosen[j - 1] = t;
		}
	json_t *options = json_array();
	for (int i = 0; i < nchosen; i++)
		json_array_append_new(options, option_json(run->g, &run->set, &plan->options[chosen[i]]));
	return options;
}

/* The plan's answer around options (reference stolen). */
static json_t *answer_json(const struct plan_run *run, const struct plan_input *in, json_t *options)
{
	const struct planner_graph *g = run->g;
	return json_pack(
		"{s:s, s:{s:s, s:s}, s:{s:s, s:s}, s:o, s:{s:f, s:f, s:f, s:s, s:f, s:f}, s:b, s:o, s:O, s:i, s:i, s:{s:i, s:I, s:f, s:f}}",
		"car_id", in->car_id, "origin", "id", planner_city_id(g, run->origin), "name", planner_city_name(g, run->origin),
		"destination", "id", planner_city_id(g, run->destination), "name", planner_city_name(g, run->destination),
		"departure", time_json(in->departure), "battery", "capacity_kwh", in->battery.capacity_kwh, "soc",
		round_to(in->battery.soc * 100, 0.1), "consumption_kwh_per_100km", in->battery.consumption_kwh_per_100km,
		"consumption_source", in->consumption_source, "min_soc", round_to(in->battery.min_soc * 100, 0.1), "target_soc",
		round_to(in->battery.target_soc * 100, 0.1), "target_soc_raised", run->plan.target_raised, "options", options, "companies_left_out", run->set.left_out,
		"stations_considered", run->set.n, "stations_off_network", run->set.off_network, "search", "runs",
		run->plan.searches, "states", (json_int_t)run->plan.states, "ms", round_to(run->search_ms, 0.01),
		"availability_ms", round_to(run->availability_ms, 0.01));
}

/* Checks the planned options' windows with their owners and answers with those free. */
static void offer(struct plan_run *run, const struct plan_input *in, struct core_result *r)
{
	const struct planner_graph *g = run->g;
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	bool *kept = calloc((size_t)run->plan.noptions, sizeof(bool));
	if (kept == NULL) {
		core_fail(r, EVC_ERR_INTERNAL, "internal", "out of memory");
		return;
	}
	/* No pooled connection is held while peers are waited on: theirs may wait on ours. */
	db_release(run->app->db, run->conn);
	run->conn = NULL;
	settle_options(run->app, run->request_id, &run->set, &run->plan, in->offset + in->max_options + 1, in->connector,
		       kept, run->set.left_out);
	run->availability_ms = elapsed_ms(&t1);

	bool more;
	json_t *options = chosen_options(run, kept, in->offset, in->max_options, &more);
	free(kept);
	log_info("event=route_planned req=%s car=%s origin=%s destination=%s options=%zu candidates=%d runs=%d search_ms=%.1f availability_ms=%.1f",
		 run->request_id, in->car_id, planner_city_id(g, run->origin), planner_city_id(g, run->destination),
		 json_array_size(options), run->plan.noptions, run->plan.searches, run->search_ms, run->availability_ms);
	if (json_array_size(options) == 0 && in->offset == 0) {
		json_decref(options);
		core_fail_extra(r, EVC_ERR_UNPROCESSABLE, "no_free_window",
				json_pack("{s:O}", "companies_left_out", run->set.left_out),
				"every charging window of the %d planned options is taken or its company did not answer",
				run->plan.noptions);
		return;
	}
	json_t *doc = answer_json(run, in, options);
	json_object_set_new(doc, "connector", in->connector != NULL ? json_string(in->connector) : json_null());
	json_object_set_new(doc, "offset", json_integer(in->offset));
	json_object_set_new(doc, "next_offset", more ? json_integer(in->offset + in->max_options) : json_null());
	answer_ok(r, doc);
}

/* Origin and destination on the graph; false with the 400 in r. */
static bool find_cities(struct plan_run *run, const struct plan_input *in, struct core_result *r)
{
	run->origin = planner_graph_find_city(run->g, in->origin);
	run->destination = planner_graph_find_city(run->g, in->destination);
	if (run->origin < 0 || run->destination < 0) {
		core_fail(r, EVC_ERR_INVALID, "unknown_city", "no city '%s' on the road network (table cities: id or name)",
			  run->origin < 0 ? in->origin : in->destination);
		return false;
	}
	if (run->origin == run->destination) {
		core_fail(r, EVC_ERR_INVALID, "invalid_field", "origin and destination are the same city");
		return false;
	}
	return true;
}

/* Plans on run->conn (the input already valid); fills r. */
static void plan_on(struct plan_run *run, struct plan_input *in, struct core_result *r)
{
	PGresult *failed = NULL;
	run->g = graph_get(run->conn);
	if (run->g == NULL) {
		core_fail(r, EVC_ERR_UNAVAILABLE, "unavailable", "the road network could not be loaded; retry");
		return;
	}
	if (!find_cities(run, in, r))
		return;
	if (in->consumption_source == NULL) {
		in->consumption_source = telemetry_consumption(run->conn, in->car_id, &in->battery.consumption_kwh_per_100km)
						 ? "telemetry"
						 : "default";
	}
	if (!load_stations(run->app, run->conn, run->g, in->connector, &run->set, &failed)) {
		coredb_error(r, run->conn, failed, run->request_id);
		PQclear(failed);
		return;
	}

	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct planner_request preq = {
		.origin = run->origin, .destination = run->destination, .departure = in->departure, .battery = in->battery,
		.stations = run->set.stations, .nstations = (size_t)run->set.n,
		.max_options = in->offset + in->max_options + PLANNER_SPARE_OPTIONS,
	};
	enum planner_status ps = planner_plan(run->g, &preq, &run->plan);
	run->search_ms = elapsed_ms(&t0);
	if (ps == PLANNER_NOMEM) {
		core_fail(r, EVC_ERR_INTERNAL, "internal", "out of memory");
	} else if (ps == PLANNER_INVALID) {
		core_fail(r, EVC_ERR_INVALID, "invalid_field", "%s", run->plan.reason);
	} else if (ps != PLANNER_OK) {
		log_info("event=route_unplanned req=%s origin=%s destination=%s reason=%s", run->request_id,
			 planner_city_id(run->g, run->origin), planner_city_id(run->g, run->destination),
			 ps == PLANNER_TOO_MANY_STOPS ? "too_many_stops" : "out_of_range");
		no_option(run->g, &run->plan, run->set.left_out, r);
	} else {
		offer(run, in, r);
	}
}

enum evc_err plan_route(struct app *app, const struct actor *actor, json_t *input, const char *request_id,
			struct core_result *r)
{
	struct plan_input in;
	if (policy_check(actor, POLICY_ROUTE_PLAN, NULL, request_id, r) != EVC_OK)
		return r->err;
	if (!json_is_object(input))
		return core_fail(r, EVC_ERR_INVALID, "invalid_json", "request body must be a JSON object");
	if (!plan_read_input(actor, input, timeutil_now(), &in, r))
		return r->err;
	if (!admission_enter(app->plan_admission)) {
		/* Saturated: a quick refusal, not a queue of slow answers (issue 18). Debug: it comes in floods. */
		log_debug("event=plan_shed req=%s running=%d", request_id, admission_running(app->plan_admission));
		r->retry_after = 1;
		return core_fail(r, EVC_ERR_UNAVAILABLE, "overloaded",
				 "%d route plans are running here, the most this server admits (EVC_PLAN_MAX_INFLIGHT); retry after a second",
				 app->cfg.plan_max_inflight);
	}
	struct plan_run run = { .app = app, .request_id = request_id };
	run.conn = db_acquire(app->db, APP_DB_WAIT_MS);
	if (run.conn == NULL) {
		admission_leave(app->plan_admission);
		return coredb_unavailable(r, request_id);
	}
	plan_on(&run, &in, r);
	db_release(app->db, run.conn);
	admission_leave(app->plan_admission);
	planner_result_free(&run.plan);
	station_set_free(&run.set);
	return r->err;
}
