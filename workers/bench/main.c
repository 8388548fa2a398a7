/*
 * evc-bench: the federation's load generator. Reads a running stack's
 * stack.json, creates benchmark stations at every company, then measures each
 * scenario (bench.h) at fixed concurrencies, one closed-loop level after the
 * other, and prints one table. --json writes the same figures for bench/run,
 * which adds the pgbench baselines and writes docs/benchmarks.md.
 *
 * It only ever talks to the addresses in stack.json, and every run is bounded
 * in time: levels x (warm-up + duration).
 */
#include "bench.h"
#include "histogram.h"
#include "load.h"
#include "procstat.h"
#include "timeutil.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define MAX_LEVELS 16
#define DEFAULT_LEVELS "1,4,16,32,64"

struct options {
	const char *stack;
	const char *json;
	const char *local;
	int levels[MAX_LEVELS];
	int nlevels;
	double duration_s;
	double warmup_s;
	bool half_peak;
	const char *only[8]; /* scenarios asked for; none: all */
	int nonly;
	const char *pids[BENCH_MAX_COMPANIES]; /* "id=pid" */
	int npids;
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: evc-bench [OPTIONS] [SCENARIO...]\n"
		"\n"
		"Measures a running federation (scripts/stack up) at fixed concurrencies and\n"
		"prints throughput and latency percentiles. Scenarios: reservations, trips,\n"
		"telemetry, planner (default: all; those whose part of the system does not\n"
		"exist yet are reported as not available).\n"
		"\n"
		"  --stack FILE        the stack's stack.json (default: $EVC_STACK_DIR/stack.json,\n"
		"                      else .stack/stack.json)\n"
		"  --concurrency LIST  closed-loop levels, comma separated (default " DEFAULT_LEVELS ")\n"
		"  --duration SEC      measured seconds per level (default 10)\n"
		"  --warmup SEC        unmeasured seconds before each level (default 2)\n"
		"  --local ID          company that takes the local reservations (default: the first)\n"
		"  --stations N        benchmark stations per company, 64 chargers each (default 4)\n"
		"  --pid ID=PID        the worker of company ID, for its memory (default: the pid\n"
		"                      file under the stack's state folder)\n"
		"  --no-half-peak      skip the paced run at half the peak throughput\n"
		"  --json FILE         also write the results as JSON\n");
}

static bool parse_levels(const char *text, struct options *o)
{
	char *copy = strdup(text), *save = NULL;
	bool ok = copy != NULL;
	o->nlevels = 0;
	for (char *tok = ok ? strtok_r(copy, ",", &save) : NULL; tok != NULL && ok; tok = strtok_r(NULL, ",", &save)) {
		char *end;
		long n = strtol(tok, &end, 10);
		ok = *end == '\0' && n >= 1 && n <= 1024 && o->nlevels < MAX_LEVELS;
		if (ok)
			o->levels[o->nlevels++] = (int)n;
	}
	free(copy);
	return ok && o->nlevels > 0;
}

static bool parse_seconds(const char *text, double min, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(text, &end);
	if (errno != 0 || *end != '\0' || v < min || v > 3600)
		return false;
	*out = v;
	return true;
}

/* Fills b->companies from stack.json; false with a message on stderr. */
static bool read_stack(const char *path, struct bench *b)
{
	json_error_t err;
	json_t *root = json_load_file(path, 0, &err);
	if (root == NULL) {
		fprintf(stderr, "evc-bench: cannot read %s: %s (is the stack up? scripts/stack up)\n", path, err.text);
		return false;
	}
	const char *state_dir = json_string_value(json_object_get(root, "state_dir"));
	const char *mqtt_url = json_string_value(json_object_get(root, "mqtt_url"));
	const char *mqtt_user = json_string_value(json_object_get(root, "mqtt_username"));
	const char *mqtt_pass = json_string_value(json_object_get(root, "mqtt_password"));
	if (mqtt_url != NULL && strlen(mqtt_url) < sizeof(b->mqtt_url))
		snprintf(b->mqtt_url, sizeof(b->mqtt_url), "%s", mqtt_url);
	if (mqtt_user != NULL && mqtt_pass != NULL && strlen(mqtt_user) < sizeof(b->mqtt_username) &&
	    strlen(mqtt_pass) < sizeof(b->mqtt_password)) {
		snprintf(b->mqtt_username, sizeof(b->mqtt_username), "%s", mqtt_user);
		snprintf(b->mqtt_password, sizeof(b->mqtt_password), "%s", mqtt_pass);
	}
	json_t *companies = json_object_get(root, "companies"), *c;
	size_t i;
	bool ok = json_is_array(companies) && json_array_size(companies) > 0 &&
		  json_array_size(companies) <= BENCH_MAX_COMPANIES;
	json_array_foreach(companies, i, c) {
		if (!ok)
			break;
		struct bench_company *co = &b->companies[b->ncompanies++];
		const char *id = json_string_value(json_object_get(c, "id"));
		const char *url = json_string_value(json_object_get(c, "http_url"));
		const char *db = json_string_value(json_object_get(c, "database_url"));
		const char *token = json_string_value(json_object_get(c, "admin_token"));
		ok = id != NULL && url != NULL && db != NULL && token != NULL && strlen(id) < sizeof(co->id) &&
		     strlen(url) < sizeof(co->http_url) && strlen(db) < sizeof(co->database_url) &&
		     strlen(token) < sizeof(co->admin_token);
		if (!ok)
			break;
		snprintf(co->id, sizeof(co->id), "%s", id);
		snprintf(co->http_url, sizeof(co->http_url), "%s", url);
		snprintf(co->database_url, sizeof(co->database_url), "%s", db);
		snprintf(co->admin_token, sizeof(co->admin_token), "%s", token);
		if (state_dir != NULL) {
			char pidfile[600];
			snprintf(pidfile, sizeof(pidfile), "%s/run/worker-%s.pid", state_dir, id);
			FILE *f = fopen(pidfile, "r");
			long pid = 0;
			if (f != NULL && fscanf(f, "%ld", &pid) == 1)
				co->pid = (pid_t)pid;
			if (f != NULL)
				fclose(f);
		}
	}
	if (!ok)
		fprintf(stderr, "evc-bench: %s: expected companies with id, http_url, database_url, admin_token\n", path);
	json_decref(root);
	return ok;
}

static int company_index(const struct bench *b, const char *id)
{
	for (int i = 0; i < b->ncompanies; i++)
		if (strcmp(b->companies[i].id, id) == 0)
			return i;
	return -1;
}

static bool apply_pids(struct bench *b, const struct options *o)
{
	for (int i = 0; i < o->npids; i++) {
		const char *eq = strchr(o->pids[i], '=');
		char id[17];
		if (eq == NULL || (size_t)(eq - o->pids[i]) >= sizeof(id)) {
			fprintf(stderr, "evc-bench: --pid wants ID=PID, not '%s'\n", o->pids[i]);
			return false;
		}
		snprintf(id, sizeof(id), "%.*s", (int)(eq - o->pids[i]), o->pids[i]);
		int c = company_index(b, id);
		long pid = atol(eq + 1);
		if (c < 0 || pid <= 0) {
			fprintf(stderr, "evc-bench: --pid %s: unknown company or bad pid\n", o->pids[i]);
			return false;
		}
		b->companies[c].pid = (pid_t)pid;
	}
	return true;
}

static bool wanted(const struct options *o, const char *name)
{
	if (o->nonly == 0)
		return true;
	for (int i = 0; i < o->nonly; i++)
		if (strcmp(o->only[i], name) == 0)
			return true;
	return false;
}

static double ms(uint64_t us)
{
	return (double)us / 1000.0;
}

static void print_header(void)
{
	printf("%-26s %5s %9s %8s %8s %8s %8s %7s %6s %6s %6s %5s\n", "scenario", "conc", "ops/s", "p50 ms", "p95 ms",
	       "p99 ms", "max ms", "ok", "409", "errors", "shed", "conns");
}

static void print_row(const char *title, const char *level, const struct load_result *r)
{
	const struct histogram *h = &r->hist;
	printf("%-26s %5s %9.1f %8.2f %8.2f %8.2f %8.1f %7llu %6llu %6llu %6llu %5ld\n", title, level, r->ops_per_s,
	       ms(histogram_quantile(h, 0.50)), ms(histogram_quantile(h, 0.95)), ms(histogram_quantile(h, 0.99)),
	       ms(h->max_us), (unsigned long long)r->ok, (unsigned long long)r->conflict,
	       (unsigned long long)(r->client_error + r->server_error + r->transport_error), (unsigned long long)r->shed,
	       r->connects);
	if (r->first_error[0] != '\0')
		printf("%-26s       first error: %s\n", "", r->first_error);
	if (r->starved > 0)
		printf("%-26s       %d of the clients got no answer in the whole measured window\n", "", r->starved);
	fflush(stdout);
}

static json_t *level_json(int concurrency, const struct load_result *r, const struct bench *b)
{
	const struct histogram *h = &r->hist;
	json_t *rss = json_object();
	for (int c = 0; c < b->ncompanies; c++)
		if (r->rss_max_kb[c] > 0)
			json_object_set_new(rss, b->companies[c].id, json_integer(r->rss_max_kb[c]));
	return json_pack("{s:i, s:f, s:f, s:f, s:f, s:f, s:f, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:o, s:s, s:i, s:I, s:f}",
			 "concurrency", concurrency, "ops_per_s", r->ops_per_s, "p50_ms", ms(histogram_quantile(h, 0.50)),
			 "p95_ms", ms(histogram_quantile(h, 0.95)), "p99_ms", ms(histogram_quantile(h, 0.99)), "max_ms",
			 ms(h->max_us), "mean_ms", h->count ? h->sum_us / (double)h->count / 1000.0 : 0.0, "ok",
			 (json_int_t)r->ok, "conflicts", (json_int_t)r->conflict, "client_errors",
			 (json_int_t)r->client_error, "server_errors", (json_int_t)r->server_error, "transport_errors",
			 (json_int_t)r->transport_error, "connects", (json_int_t)r->connects, "seconds", r->seconds,
			 "rss_max_kb", rss, "first_error", r->first_error, "starved_clients", r->starved, "shed",
			 (json_int_t)r->shed, "shed_max_ms", ms(r->shed_max_us));
}

/* Runs one request/response scenario at every level, then paced at half its peak. */
static json_t *run_sweep(struct bench *b, const struct scenario *s, const struct options *o)
{
	json_t *levels = json_array(), *out = json_object();
	double peak = 0;
	int peak_level = o->levels[0];
	for (int i = 0; i < o->nlevels; i++) {
		struct load_options lo = { o->levels[i], o->warmup_s, o->duration_s, 0 };
		struct load_result r;
		if (!load_run(b, s, &lo, &r)) {
			fprintf(stderr, "evc-bench: could not start %d threads\n", o->levels[i]);
			break;
		}
		char level[16];
		snprintf(level, sizeof(level), "%d", o->levels[i]);
		print_row(s->title, level, &r);
		json_array_append_new(levels, level_json(o->levels[i], &r, b));
		if (r.ops_per_s > peak) {
			peak = r.ops_per_s;
			peak_level = o->levels[i];
		}
	}
	json_object_set_new(out, "available", json_true());
	json_object_set_new(out, "unit", json_string(s->unit));
	json_object_set_new(out, "levels", levels);
	json_object_set_new(out, "peak_ops_per_s", json_real(peak));
	json_object_set_new(out, "peak_concurrency", json_integer(peak_level));

	if (s->half_peak && o->half_peak && peak > 0) {
		/*
		 * Enough threads that a slow answer does not hold up the schedule (16 at
		 * least), yet few enough not to take every HTTP thread of a worker (32 at most).
		 */
		int threads = peak_level < 16 ? 16 : peak_level > 32 ? 32 : peak_level;
		struct load_options lo = { threads, o->warmup_s, o->duration_s, peak / 2 };
		struct load_result r;
		if (load_run(b, s, &lo, &r)) {
			print_row(s->title, "half", &r);
			printf("%-26s       (paced at %.1f/s, half the peak, from %d threads; latency from the scheduled start)\n",
			       "", peak / 2, threads);
			json_t *half = level_json(threads, &r, b);
			json_object_set_new(half, "target_ops_per_s", json_real(peak / 2));
			json_object_set_new(out, "half_peak", half);
		}
	}
	return out;
}

/* The workers' memory now: VmRSS and the peak VmHWM since each started. */
static json_t *memory_json(const struct bench *b, json_t *scenarios)
{
	json_t *out = json_object();
	printf("\n%-10s %12s %12s %14s\n", "worker", "VmRSS now", "VmHWM", "max under load");
	for (int c = 0; c < b->ncompanies; c++) {
		const struct bench_company *co = &b->companies[c];
		long rss = 0, hwm = 0, under_load = 0;
		if (co->pid <= 0 || !procstat_memory(co->pid, &rss, &hwm)) {
			printf("%-10s %12s\n", co->id, "unknown (no pid)");
			continue;
		}
		/* The largest VmRSS any level saw. */
		const char *name;
		json_t *sc;
		json_object_foreach(scenarios, name, sc) {
			json_t *lv;
			size_t i;
			json_array_foreach(json_object_get(sc, "levels"), i, lv) {
				long kb = (long)json_integer_value(json_object_get(json_object_get(lv, "rss_max_kb"), co->id));
				if (kb > under_load)
					under_load = kb;
			}
		}
		printf("%-10s %9.1f MB %9.1f MB %11.1f MB\n", co->id, rss / 1024.0, hwm / 1024.0, under_load / 1024.0);
		json_object_set_new(out, co->id,
				    json_pack("{s:i, s:I, s:I, s:I}", "pid", (int)co->pid, "rss_kb", (json_int_t)rss, "hwm_kb",
					      (json_int_t)hwm, "rss_max_under_load_kb", (json_int_t)under_load));
	}
	return out;
}

static bool parse_args(int argc, char **argv, struct options *o, struct bench *b)
{
	static const struct option long_options[] = {
		{ "stack", required_argument, NULL, 's' },     { "concurrency", required_argument, NULL, 'c' },
		{ "duration", required_argument, NULL, 'd' },  { "warmup", required_argument, NULL, 'w' },
		{ "local", required_argument, NULL, 'l' },     { "stations", required_argument, NULL, 'n' },
		{ "pid", required_argument, NULL, 'p' },       { "json", required_argument, NULL, 'j' },
		{ "no-half-peak", no_argument, NULL, 'H' },    { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;
	while ((opt = getopt_long(argc, argv, "h", long_options, NULL)) != -1) {
		switch (opt) {
		case 's': o->stack = optarg; break;
		case 'j': o->json = optarg; break;
		case 'l': o->local = optarg; break;
		case 'H': o->half_peak = false; break;
		case 'c':
			if (!parse_levels(optarg, o)) {
				fprintf(stderr, "evc-bench: --concurrency wants up to %d numbers 1..1024, like " DEFAULT_LEVELS "\n",
					MAX_LEVELS);
				return false;
			}
			break;
		case 'd':
		case 'w':
			if (!parse_seconds(optarg, opt == 'd' ? 0.5 : 0, opt == 'd' ? &o->duration_s : &o->warmup_s)) {
				fprintf(stderr, "evc-bench: --%s wants seconds\n", opt == 'd' ? "duration" : "warmup");
				return false;
			}
			break;
		case 'n':
			b->stations_per_company = atoi(optarg);
			if (b->stations_per_company < 1 || b->stations_per_company > BENCH_MAX_STATIONS) {
				fprintf(stderr, "evc-bench: --stations wants 1..%d\n", BENCH_MAX_STATIONS);
				return false;
			}
			break;
		case 'p':
			if (o->npids == BENCH_MAX_COMPANIES)
				return false;
			o->pids[o->npids++] = optarg;
			break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return false;
		}
	}
	for (int i = optind; i < argc; i++) {
		bool known = false;
		for (const struct scenario *s = bench_scenarios; s->name != NULL; s++)
			known = known || strcmp(s->name, argv[i]) == 0;
		if (!known || o->nonly == (int)(sizeof(o->only) / sizeof(o->only[0]))) {
			fprintf(stderr, "evc-bench: unknown scenario '%s'\n", argv[i]);
			return false;
		}
		o->only[o->nonly++] = argv[i];
	}
	return true;
}

static void new_run_id(char out[8])
{
	static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	unsigned char bytes[6] = { 0 };
	if (getrandom(bytes, sizeof(bytes), 0) != (ssize_t)sizeof(bytes))
		memcpy(bytes, &(time_t){ time(NULL) }, sizeof(bytes));
	for (int i = 0; i < 6; i++)
		out[i] = alphabet[bytes[i] % (sizeof(alphabet) - 1)];
	out[6] = '\0';
}

int main(int argc, char **argv)
{
	static struct bench b;
	struct options o = { .duration_s = 10, .warmup_s = 2, .half_peak = true };
	char default_stack[600];
	int rc = EXIT_FAILURE;
	json_t *report = NULL;

	b.stations_per_company = 4;
	b.chargers = 64;
	b.days = 300;
	b.timeout_ms = 30000;
	b.telemetry_seconds = 5;
	b.first_day = (timeutil_now() / 86400 + 2) * 86400;
	new_run_id(b.run_id);
	parse_levels(DEFAULT_LEVELS, &o);
	if (!parse_args(argc, argv, &o, &b))
		return 2;
	if (o.stack == NULL) {
		const char *dir = getenv("EVC_STACK_DIR");
		snprintf(default_stack, sizeof(default_stack), "%s/stack.json", dir != NULL && *dir ? dir : ".stack");
		o.stack = default_stack;
	}
	json_object_seed(0);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return EXIT_FAILURE;
	if (!read_stack(o.stack, &b) || !apply_pids(&b, &o))
		goto cleanup;
	b.local = o.local != NULL ? company_index(&b, o.local) : 0;
	if (b.local < 0) {
		fprintf(stderr, "evc-bench: --local %s: no such company in %s\n", o.local, o.stack);
		goto cleanup;
	}

	char started[TIMEUTIL_RFC3339_LEN];
	timeutil_format_rfc3339(timeutil_now(), started);
	printf("evc-bench run %s at %s: %d companies, %d stations of %d chargers each, %g s per level (+%g s warm-up)\n\n",
	       b.run_id, started, b.ncompanies, b.stations_per_company, b.chargers, o.duration_s, o.warmup_s);
	print_header();

	json_t *scenarios = json_object();
	bool failed = false;
	for (const struct scenario *s = bench_scenarios; s->name != NULL; s++) {
		if (!wanted(&o, s->name))
			continue;
		char why[512] = "";
		json_t *result;
		if (!s->prepare(&b, why, sizeof(why))) {
			printf("%-26s  %s\n", s->title, why);
			result = json_pack("{s:b, s:s, s:s}", "available", 0, "unit", s->unit, "reason", why);
			/* Reservations and trips exist: failing to prepare them is a failure of the run. */
			failed = failed || strncmp(why, "not available yet", 17) != 0;
		} else if (s->measure != NULL) {
			result = json_object();
			json_object_set_new(result, "available", json_boolean(s->measure(&b, result)));
		} else {
			result = run_sweep(&b, s, &o);
		}
		json_object_set_new(result, "title", json_string(s->title));
		json_object_set_new(scenarios, s->name, result);
	}

	json_t *levels = json_array();
	for (int i = 0; i < o.nlevels; i++)
		json_array_append_new(levels, json_integer(o.levels[i]));
	report = json_pack("{s:s, s:s, s:s, s:{s:o, s:f, s:f, s:i, s:i, s:s}, s:o}", "run_id", b.run_id, "started",
			   started, "stack", o.stack, "settings", "concurrency", levels, "duration_s", o.duration_s,
			   "warmup_s", o.warmup_s, "stations_per_company", b.stations_per_company, "chargers", b.chargers,
			   "local_company", b.companies[b.local].id, "scenarios", scenarios);
	json_object_set_new(report, "memory", memory_json(&b, scenarios));
	if (o.json != NULL && json_dump_file(report, o.json, JSON_INDENT(2)) != 0) {
		fprintf(stderr, "evc-bench: cannot write %s\n", o.json);
		goto cleanup;
	}
	rc = failed ? EXIT_FAILURE : EXIT_SUCCESS;

cleanup:
	json_decref(report);
	curl_global_cleanup();
	return rc;
}
