/*
 * evc-sim: cars and charge points talking MQTT to the federation.
 *
 *   evc-sim [--broker URL] [--companies a,b,c] [--cars N] [--seed S]
 *           [--speedup X] [--duration SECONDS] [--no-stations] [--flap-per-hour P]
 *           [--credentials FILE]   (user:password lines; cars log in as their id)
 *           [--ocpp-keys FILE] [--no-ocpp] [--ocpp-only]
 *
 * Each car is attached to one company's server (round robin) and drives, plans,
 * books, charges and finishes trips (car.c). Each station of the network gets
 * its own connection, announces itself online (retained) with a Last Will that
 * says offline, and with --flap-per-hour goes offline for a while now and then.
 * A station with a key in --ocpp-keys (station-id:key lines, as the stack
 * writes them) is also an OCPP 1.6J charge point of its company's central
 * system (chargepoint.c): it boots, reports its connectors, takes ReserveNow,
 * and charges the cars that arrive by StartTransaction / MeterValues /
 * StopTransaction; its flaps are then a connector Faulted for a while.
 * Every 5 s a line per car is printed, and every minute (--summary-every) one
 * summary line of the whole fleet. Runs until SIGINT/SIGTERM or --duration.
 */
#include "car.h"
#include "chargepoint.h"
#include "link.h"

#include <civetweb.h>
#include <getopt.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_CARS 500
#define MAX_STATIONS 500
#define SUMMARY_EVERY 5.0
#define FLEET_SUMMARY_EVERY 60.0

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static double real_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

struct station_sim {
	struct link *link;
	char topic[160];
	char company[17];
	double back_at; /* when an offline (or faulted) station comes back; 0 when online */
	struct chargepoint *cp; /* its OCPP charge point, or NULL (MQTT only) */
};

/* The simulator's own MQTT link for its look-ups at start (NULL on failure; link_close it). */
static struct link *open_ctl(struct world *world, uint64_t seed)
{
	char client_id[64];
	snprintf(client_id, sizeof(client_id), "evc-sim-ctl-%llx", (unsigned long long)(seed & 0xffffff));
	const char *password = world_password(world, "sim-ctl");
	return link_open(world->broker, client_id, password != NULL ? "sim-ctl" : NULL, password, NULL, NULL,
			 "evc/v1/+/cars/sim-ctl/resp");
}

/* The "items" a "stations" or "servers" request answers over l, asked of the servers in turn. */
static json_t *fetch_items(struct link *l, struct world *world, uint64_t seed, const char *type)
{
	json_t *stations = NULL;
	for (int attempt = 0; l != NULL && stations == NULL && attempt < 30 && !stopping; attempt++) {
		char topic[96], payload[128];
		const char *company = world->companies[attempt % world->company_count];
		snprintf(topic, sizeof(topic), "evc/v1/%s/cars/sim-ctl/req", company);
		snprintf(payload, sizeof(payload), "{\"type\":\"%s\",\"request_id\":\"boot-%s-%s-%d-%llx\"}", type, type,
			 world->run_id, attempt, (unsigned long long)(seed & 0xffffff));
		link_publish(l, topic, payload, 1, false);
		for (int wait = 0; wait < 20 && stations == NULL; wait++) {
			usleep(100000);
			json_t *msg = link_take(l);
			if (msg != NULL && json_integer_value(json_object_get(msg, "status")) == 200 &&
			    strcmp(json_string_value(json_object_get(msg, "type")) ?: "", type) == 0)
				stations = json_incref(json_object_get(json_object_get(msg, "body"), "items"));
			json_decref(msg);
		}
	}
	return stations;
}

static void station_publish(struct station_sim *st, bool online, int busy)
{
	char payload[128];
	snprintf(payload, sizeof(payload), "{\"online\":%s,\"occupancy\":%d}", online ? "true" : "false", busy);
	link_publish(st->link, st->topic, payload, 1, true);
}

/* "user:password" lines into {"user": "password"}; NULL when the file cannot be read. */
static json_t *load_credentials(const char *path)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return NULL;
	json_t *users = json_object();
	char line[256];
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		char *colon = strchr(line, ':');
		if (colon == NULL)
			continue;
		*colon = '\0';
		json_object_set_new(users, line, json_string(colon + 1));
	}
	fclose(f);
	return users;
}

/*
 * One line for the whole fleet: what an operator watching the demo wants to
 * know at a glance. "low" counts cars below 10 %, "min_driving" is the lowest
 * charge any car had while driving, "tows" the cars that ran flat.
 */
static void fleet_summary(const struct car *cars, int ncars, double elapsed, double min_driving)
{
	unsigned booked = 0, finished = 0, conflicts = 0, joins = 0, grants = 0, sessions = 0, waits = 0, tows = 0, low = 0;
	double kwh = 0;
	for (int c = 0; c < ncars; c++) {
		booked += cars[c].trips_booked;
		finished += cars[c].trips_finished;
		conflicts += cars[c].conflicts;
		joins += cars[c].waitlist_joins;
		grants += cars[c].waitlist_grants;
		sessions += cars[c].sessions;
		waits += cars[c].waits;
		tows += cars[c].tows;
		kwh += cars[c].kwh_charged;
		low += cars[c].soc < 10.0;
	}
	printf("summary t=%.0fs cars=%d trips_booked=%u trips_finished=%u conflicts_409=%u waitlist_joins=%u "
	       "waitlist_grants=%u sessions=%u kwh=%.1f cars_below_10pct=%u min_soc_driving=%.1f no_plan_waits=%u tows=%u\n",
	       elapsed, ncars, booked, finished, conflicts, joins, grants, sessions, kwh, low, min_driving, waits, tows);
}

/* One line for the stations speaking OCPP, after the fleet's. */
static void ocpp_summary(const struct chargepoint_set *set, double elapsed)
{
	char line[200];
	if (set == NULL)
		return;
	chargepoint_set_describe(set, line, sizeof(line));
	printf("ocpp t=%.0fs %s\n", elapsed, line);
}

/* The URL of company's server in a "servers" answer, or NULL. */
static const char *server_url(json_t *servers, const char *company)
{
	size_t i;
	json_t *s;
	json_array_foreach(servers, i, s)
		if (strcmp(json_string_value(json_object_get(s, "company")) ?: "", company ?: "") == 0)
			return json_string_value(json_object_get(s, "url"));
	return NULL;
}

/* The station's OCPP charge point when it has a key and its company a server we can reach; else NULL. */
static struct chargepoint *station_chargepoint(struct world *world, json_t *station, json_t *keys, json_t *servers)
{
	const char *id = json_string_value(json_object_get(station, "id"));
	const char *key = json_string_value(json_object_get(keys, id ?: ""));
	if (key == NULL || world->chargepoints == NULL)
		return NULL;
	const char *url = server_url(servers, json_string_value(json_object_get(station, "company")));
	struct chargepoint *cp =
		chargepoint_new(id, key, url, (int)json_integer_value(json_object_get(station, "chargers")));
	if (cp == NULL || !chargepoint_set_add(world->chargepoints, cp)) {
		printf("station %s: no OCPP charge point (server %s): MQTT only\n", id, url ?: "unknown");
		free(cp);
		return NULL;
	}
	return cp;
}

/*
 * One station simulator per station of the network: its MQTT presence (birth
 * and Last Will) and, with a key, its OCPP charge point. ocpp_only: the
 * stations without a key are left alone. Returns how many were opened.
 */
static int open_stations(struct world *world, struct station_sim *stations, json_t *keys, json_t *servers,
			 bool ocpp_only)
{
	int n = 0;
	size_t i;
	json_t *s;
	json_array_foreach(world->stations, i, s) {
		if (n >= MAX_STATIONS)
			break;
		struct station_sim *st = &stations[n];
		const char *id = json_string_value(json_object_get(s, "id"));
		const char *company = json_string_value(json_object_get(s, "company"));
		if (id == NULL || company == NULL || ((st->cp = station_chargepoint(world, s, keys, servers)) == NULL && ocpp_only))
			continue;
		char client_id[96], offline[64];
		snprintf(st->topic, sizeof(st->topic), "evc/v1/%s/stations/%s/status", company, id);
		snprintf(st->company, sizeof(st->company), "%s", company);
		snprintf(client_id, sizeof(client_id), "evc-sim-station-%s", id);
		snprintf(offline, sizeof(offline), "{\"online\":false}");
		const char *password = world_password(world, "station-sim");
		if ((st->link = link_open(world->broker, client_id, password != NULL ? "station-sim" : NULL, password, st->topic,
					  offline, NULL)) != NULL)
			n++;
	}
	return n;
}

/*
 * Presence and flaps: every station announces itself online at first; with
 * flap_per_hour one now and then fails for a while: a station speaking OCPP
 * reports a connector Faulted (the central system moves its bookings), the
 * others go offline on MQTT.
 */
static void tick_stations(struct station_sim *stations, int n, double now, double dt, double flap_per_hour,
			  uint64_t *rng, bool announced)
{
	for (int k = 0; k < n; k++) {
		struct station_sim *st = &stations[k];
		link_poll(st->link);
		*rng ^= *rng << 13, *rng ^= *rng >> 7, *rng ^= *rng << 17;
		double roll = (double)(*rng % 1000000) / 1e6;
		if (!announced || (st->back_at > 0 && now >= st->back_at)) {
			if (st->back_at > 0 && st->cp != NULL)
				chargepoint_fault(st->cp, false, 0);
			else
				station_publish(st, true, 0);
			st->back_at = 0;
		} else if (st->back_at == 0 && roll < flap_per_hour * dt / 3600.0) {
			st->back_at = now + 60 + (double)(*rng % 120);
			if (st->cp != NULL) {
				chargepoint_fault(st->cp, true, *rng >> 8);
			} else {
				station_publish(st, false, 0);
				printf("station %s goes offline for a while\n", st->topic);
			}
		}
	}
}

static void usage(void)
{
	fprintf(stderr, "usage: evc-sim [--broker URL] [--companies a,b,c] [--cars N] [--seed S] [--speedup X]\n"
			"               [--duration SECONDS] [--no-stations] [--flap-per-hour P] [--credentials FILE]\n"
			"               [--summary-every SECONDS] [--ocpp-keys FILE] [--no-ocpp] [--ocpp-only]\n");
}

/* What the command line asked for. */
struct options {
	char companies[160];
	int ncars;
	unsigned long long seed;
	double duration, flap_per_hour, fleet_every;
	bool with_stations, with_ocpp, ocpp_only;
	json_t *ocpp_keys;
};

/* Reads the command line into o and world; -1 when the run goes on, else the exit status. */
static int parse_options(int argc, char **argv, struct options *o, struct world *world)
{
	static const struct option options[] = {
		{ "broker", required_argument, NULL, 'b' },    { "companies", required_argument, NULL, 'c' },
		{ "cars", required_argument, NULL, 'n' },      { "seed", required_argument, NULL, 's' },
		{ "speedup", required_argument, NULL, 'x' },   { "duration", required_argument, NULL, 'd' },
		{ "no-stations", no_argument, NULL, 'S' },     { "flap-per-hour", required_argument, NULL, 'f' },
		{ "credentials", required_argument, NULL, 'C' }, { "help", no_argument, NULL, 'h' },
		{ "summary-every", required_argument, NULL, 'm' }, { "ocpp-keys", required_argument, NULL, 'K' },
		{ "no-ocpp", no_argument, NULL, 'O' },         { "ocpp-only", no_argument, NULL, 'P' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;
	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (opt) {
		case 'b': world->broker = optarg; break;
		case 'c': snprintf(o->companies, sizeof(o->companies), "%s", optarg); break;
		case 'n': o->ncars = atoi(optarg); break;
		case 's': o->seed = strtoull(optarg, NULL, 10); break;
		case 'x': world->speedup = atof(optarg); break;
		case 'd': o->duration = atof(optarg); break;
		case 'S': o->with_stations = false; break;
		case 'f': o->flap_per_hour = atof(optarg); break;
		case 'm': o->fleet_every = atof(optarg); break;
		case 'O': o->with_ocpp = false; break;
		case 'P': o->ocpp_only = true; break;
		case 'K':
			if ((o->ocpp_keys = load_credentials(optarg)) == NULL) {
				fprintf(stderr, "evc-sim: cannot read OCPP keys from %s\n", optarg);
				return 2;
			}
			break;
		case 'C':
			if ((world->credentials = load_credentials(optarg)) == NULL) {
				fprintf(stderr, "evc-sim: cannot read credentials from %s\n", optarg);
				return 2;
			}
			break;
		default: usage(); return opt == 'h' ? 0 : 2;
		}
	}
	if (o->ncars < 0 || o->ncars > MAX_CARS || world->speedup <= 0 || world->speedup > 3600 || !(o->fleet_every >= 1)) {
		usage();
		return 2;
	}
	char *save = NULL;
	for (char *c = strtok_r(o->companies, ",", &save); c != NULL && world->company_count < 8; c = strtok_r(NULL, ",", &save))
		snprintf(world->companies[world->company_count++], sizeof(world->companies[0]), "%s", c);
	if (world->company_count == 0) {
		usage();
		return 2;
	}
	return -1;
}

/* The simulation's one clock: every second, the cars, the stations and the charge points move on. */
static void run(struct world *world, struct car *cars, int ncars, struct station_sim *stations, int nstations,
		const struct options *o)
{
	uint64_t flap_rng = o->seed | 1;
	double started = real_now(), last = started, last_summary = 0, last_fleet = started, min_driving = 100.0;
	bool announced = false;
	while (!stopping && (o->duration <= 0 || real_now() - started < o->duration)) {
		usleep(1000000);
		double now = real_now(), dt = now - last;
		last = now;
		for (int c = 0; c < ncars; c++) {
			car_tick(&cars[c], world, now, dt);
			if (cars[c].state == CAR_DRIVING && cars[c].soc < min_driving)
				min_driving = cars[c].soc;
		}
		tick_stations(stations, nstations, now, dt, o->flap_per_hour, &flap_rng, announced);
		chargepoint_set_tick(world->chargepoints, now);
		announced = true;
		if (now - last_fleet >= o->fleet_every) {
			last_fleet = now;
			fleet_summary(cars, ncars, now - started, min_driving);
			ocpp_summary(world->chargepoints, now - started);
		}
		if (now - last_summary >= SUMMARY_EVERY) {
			last_summary = now;
			printf("--- %.0f s\n", now - started);
			for (int c = 0; c < ncars; c++) {
				char line[256];
				car_describe(&cars[c], world, line, sizeof(line));
				printf("%s\n", line);
			}
		}
	}
	fleet_summary(cars, ncars, real_now() - started, min_driving);
	ocpp_summary(world->chargepoints, real_now() - started);
}

int main(int argc, char **argv)
{
	static struct world world = { .speedup = 30, .broker = "tcp://127.0.0.1:1883" };
	static struct car cars[MAX_CARS];
	static struct station_sim stations[MAX_STATIONS];
	struct options o = { .companies = "a,b,c", .ncars = 20, .seed = 42, .fleet_every = FLEET_SUMMARY_EVERY,
			     .with_stations = true, .with_ocpp = true };
	int nstations = 0, status = parse_options(argc, argv, &o, &world);
	json_t *servers = NULL;
	if (status >= 0)
		return status;
	struct timespec boot;
	clock_gettime(CLOCK_REALTIME, &boot);
	snprintf(world.run_id, sizeof(world.run_id), "%08lx", (unsigned long)((uint64_t)boot.tv_nsec ^ (uint64_t)boot.tv_sec ^ o.seed));
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	setvbuf(stdout, NULL, _IOLBF, 0);
	json_object_seed(0); /* before civetweb's and paho's threads touch any object */
	mg_init_library(0);

	world.off_network = json_object();
	struct link *ctl = open_ctl(&world, o.seed);
	world.stations = fetch_items(ctl, &world, o.seed, "stations");
	if (world.stations != NULL && o.with_stations && o.with_ocpp && o.ocpp_keys != NULL &&
	    (servers = fetch_items(ctl, &world, o.seed, "servers")) == NULL)
		printf("evc-sim: no server told the servers' URLs: stations stay on MQTT only\n");
	link_close(ctl);
	if (world.stations == NULL) {
		fprintf(stderr, "evc-sim: no server answered the stations request on %s\n", world.broker);
		return 1;
	}
	printf("evc-sim: %zu stations, %d cars, seed %llu, speedup x%.0f, broker %s\n", json_array_size(world.stations),
	       o.ncars, o.seed, world.speedup, world.broker);

	if (servers != NULL)
		world.chargepoints = chargepoint_set_new(world.speedup);
	if (o.with_stations)
		nstations = open_stations(&world, stations, o.ocpp_keys, servers, o.ocpp_only);
	chargepoint_set_tick(world.chargepoints, real_now()); /* chargers boot and report before the first car plans */
	for (int c = 0; c < o.ncars; c++)
		if (!car_init(&cars[c], c, o.seed, &world)) {
			fprintf(stderr, "evc-sim: cannot create the MQTT client of car %d\n", c + 1);
			return 1;
		}

	run(&world, cars, o.ncars, stations, nstations, &o);

	chargepoint_set_free(world.chargepoints); /* stops the sessions still open */
	for (int c = 0; c < o.ncars; c++)
		car_free(&cars[c]);
	for (int k = 0; k < nstations; k++) {
		if (stations[k].back_at > 0)
			station_publish(&stations[k], true, 0); /* a station offline for a while is back when the run ends */
		link_close(stations[k].link);
	}
	json_decref(world.stations);
	json_decref(world.credentials);
	json_decref(world.off_network);
	json_decref(o.ocpp_keys);
	json_decref(servers);
	mg_exit_library();
	printf("evc-sim: stopped\n");
	return 0;
}
