#include "car.h"
#include "simtime.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MIN_TRIP_KM 250.0
#define ANSWER_TIMEOUT 6.0    /* real seconds without an answer: try another server */
/* State of charge is a percentage (0..100), as everywhere in the system. */
#define MIN_SOC 15.0
#define TARGET_SOC 80.0
#define STOP_MAX_KM 60.0      /* a station this far off the straight line is not on the way */
#define WINDOW_MIN_SECONDS 20 /* shortest real window booked */

static const char *const profile_names[] = { "slow", "normal", "fast", "erratic" };
static const char *const state_names[] = { "idle", "planning", "booking", "driving", "charging", "finishing" };

const char *world_password(const struct world *world, const char *user)
{
	return json_string_value(json_object_get(world->credentials, user));
}

const char *car_profile_name(enum car_profile p)
{
	return profile_names[p];
}

/* xorshift64*: small, fast, and reproducible from the seed. */
static double uniform(struct car *car)
{
	car->rng ^= car->rng >> 12;
	car->rng ^= car->rng << 25;
	car->rng ^= car->rng >> 27;
	return (double)((car->rng * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static double between(struct car *car, double lo, double hi)
{
	return lo + (hi - lo) * uniform(car);
}

static double km_between(double lat1, double lon1, double lat2, double lon2)
{
	double p1 = lat1 * M_PI / 180, p2 = lat2 * M_PI / 180;
	double dp = (lat2 - lat1) * M_PI / 180, dl = (lon2 - lon1) * M_PI / 180;
	double a = sin(dp / 2) * sin(dp / 2) + cos(p1) * cos(p2) * sin(dl / 2) * sin(dl / 2);
	return 6371.0 * 2 * atan2(sqrt(a), sqrt(1 - a));
}

static void note(struct car *car, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The car's latest event, for the summary; shortened to fit. */
static void note(struct car *car, const char *fmt, ...)
{
	char event[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(event, sizeof(event), fmt, ap);
	va_end(ap);
	snprintf(car->last_event, sizeof(car->last_event), "%.95s", event);
}

static const char *home_company(const struct car *car, const struct world *world)
{
	return world->companies[car->home % world->company_count];
}

static void publish_request(struct car *car, const struct world *world)
{
	char topic[128];
	snprintf(topic, sizeof(topic), "evc/v1/%s/cars/%s/req", home_company(car, world), car->id);
	link_publish(car->link, topic, car->request_payload, 1, false);
}

/*
 * A message to the company that owns a station (check-in, waitlist), whose
 * answer the car does not wait for. fields: reference stolen.
 */
static void tell_owner(struct car *car, const char *world_run_id, json_t *station, const char *type, json_t *fields)
{
	char topic[128], rid[48];
	snprintf(topic, sizeof(topic), "evc/v1/%s/cars/%s/req", json_string_value(json_object_get(station, "company")) ?: "",
		 car->id);
	snprintf(rid, sizeof(rid), "%s-%s-%s-%u", car->id, world_run_id, type, ++car->sequence);
	json_object_set_new(fields, "type", json_string(type));
	json_object_set_new(fields, "request_id", json_string(rid));
	char *text = json_dumps(fields, JSON_COMPACT);
	if (text != NULL)
		link_publish(car->link, topic, text, 1, false);
	free(text);
	json_decref(fields);
}

/* Sends a request; fields: reference stolen. */
static void request(struct car *car, const struct world *world, const char *type, json_t *fields, double now)
{
	snprintf(car->request_id, sizeof(car->request_id), "%s-%s-%u", car->id, world->run_id, ++car->sequence);
	snprintf(car->request_type, sizeof(car->request_type), "%s", type);
	json_object_set_new(fields, "type", json_string(type));
	json_object_set_new(fields, "request_id", json_string(car->request_id));
	free(car->request_payload);
	car->request_payload = json_dumps(fields, JSON_COMPACT);
	json_decref(fields);
	car->request_sent = now;
	car->request_tries = 1;
	publish_request(car, world);
}

static json_t *station_by_id(const struct world *world, const char *id);

/*
 * The waitlist granted a window: a waiting car drives there and charges in it
 * (its one leg, checked in by its reservation id), then plans the rest of the
 * way from there. A car already on its way lets the window go (a no-show).
 */
static void on_grant(struct car *car, const struct world *world, json_t *grant)
{
	const char *station = json_string_value(json_object_get(grant, "station_id"));
	car->waitlist_grants++;
	if (car->state != CAR_IDLE || station == NULL || station_by_id(world, station) == NULL) {
		note(car, "the waitlist granted a window at %s: not needed now", station ?: "a station");
		return;
	}
	json_decref(car->legs);
	car->legs = json_pack("[{s:s, s:O, s:O, s:O}]", "station_id", station, "start", json_object_get(grant, "granted_start"),
			      "end", json_object_get(grant, "granted_end"), "reservation_id",
			      json_object_get(grant, "reservation_id"));
	car->depart_soc[0] = TARGET_SOC;
	car->trip_id[0] = '\0';
	car->leg = 0;
	car->state = car->legs != NULL ? CAR_DRIVING : CAR_IDLE;
	note(car, "the waitlist granted a window at %s: driving there", station);
}

/* The answer to the pending request, if it came (new reference); fails over when it is late. */
static json_t *answer(struct car *car, struct world *world, double now, long *status)
{
	json_t *msg;
	while ((msg = link_take(car->link)) != NULL) {
		const char *leaf = json_string_value(json_object_get(msg, "_leaf"));
		if (leaf != NULL && strcmp(leaf, "waitlist") == 0 &&
		    strcmp(json_string_value(json_object_get(msg, "status")) ?: "", "granted") == 0)
			on_grant(car, world, msg);
		if (leaf != NULL && strcmp(leaf, "resp") != 0) {
			json_decref(msg);
			continue;
		}
		const char *rid = json_string_value(json_object_get(msg, "request_id"));
		if (rid != NULL && strcmp(rid, car->request_id) == 0) {
			*status = (long)json_integer_value(json_object_get(msg, "status"));
			json_t *body = json_incref(json_object_get(msg, "body"));
			json_decref(msg);
			car->request_id[0] = '\0';
			return body;
		}
		json_decref(msg);
	}
	if (car->request_id[0] == '\0')
		return NULL;
	if (!link_connected(car->link)) {
		/* Our own link is down: nothing was lost by the server, wait and send again. */
		car->request_sent = now;
		car->request_tries = 0;
	} else if (car->request_tries == 0 || (car->request_tries == 1 && now - car->request_sent > ANSWER_TIMEOUT)) {
		/* Just reconnected, or one silence: the same server gets the request once more. */
		car->request_sent = now;
		car->request_tries++;
		publish_request(car, world);
	} else if (now - car->request_sent > ANSWER_TIMEOUT) {
		/* Still silent: the next company's server carries on (same request id). */
		car->home = (car->home + 1) % world->company_count;
		car->failovers++;
		car->request_sent = now;
		car->request_tries++;
		note(car, "no answer: failing over to server %s", home_company(car, world));
		publish_request(car, world);
	}
	return NULL;
}

/*
 * The consumption a car plans with: the worst its profile drives at, so a plan
 * holds whatever the road brings (an erratic car swings from 11 to 30 kWh/100 km).
 */
static double plan_consumption(const struct car *car)
{
	static const double worst[] = { 14.5, 18.0, 24.0, 30.0 };
	return worst[car->profile];
}

/* km the car can drive from soc down to MIN_SOC, at its planning consumption. */
static double range_km(const struct car *car, double soc)
{
	return fmax(0.0, soc - MIN_SOC) * car->capacity_kwh / plan_consumption(car);
}

static void pick_destination(struct car *car, const struct world *world)
{
	size_t n = json_array_size(world->stations);
	for (int tries = 0; tries < 50 && n > 0; tries++) {
		json_t *s = json_array_get(world->stations, (size_t)(uniform(car) * (double)n) % n);
		if (json_object_get(world->off_network, json_string_value(json_object_get(s, "city")) ?: "") != NULL &&
		    tries < 49)
			continue;
		double lat = json_number_value(json_object_get(s, "lat")), lon = json_number_value(json_object_get(s, "lon"));
		if (km_between(car->lat, car->lon, lat, lon) >= MIN_TRIP_KM || tries == 49) {
			car->dest_lat = lat;
			car->dest_lon = lon;
			snprintf(car->destination, sizeof(car->destination), "%s", json_string_value(json_object_get(s, "city")));
			return;
		}
	}
}

/* The car's connector, sent with its plans and trips: one car in eight CHAdeMO, the others CCS2. */
static const char *car_connector(const struct car *car)
{
	return atoi(car->id + 4) % 8 == 5 ? "CHAdeMO" : "CCS2";
}

/* True when the catalogue's station s has a charger of the car's connector. */
static bool fits_car(const struct car *car, json_t *s)
{
	size_t i;
	json_t *c;
	json_array_foreach(json_object_get(s, "connectors"), i, c)
		if (strcmp(json_string_value(json_object_get(c, "type")) ?: "", car_connector(car)) == 0)
			return true;
	return false;
}

/*
 * The car's own plan when the server has no planner: stations near the straight
 * line (with the car's connector), the farthest reachable one each time, windows
 * at the expected arrival.
 */
static json_t *own_plan(struct car *car, const struct world *world, double now)
{
	json_t *legs = json_array();
	double lat = car->lat, lon = car->lon, soc = car->soc, clock = now;
	car->infeasible = false;
	for (int stop = 0; stop < 6; stop++) {
		double range = range_km(car, soc);
		double remaining = km_between(lat, lon, car->dest_lat, car->dest_lon);
		if (range >= remaining)
			break;
		json_t *best = NULL;
		double best_progress = 0;
		size_t i;
		json_t *s;
		json_array_foreach(world->stations, i, s) {
			double slat = json_number_value(json_object_get(s, "lat")), slon = json_number_value(json_object_get(s, "lon"));
			double hop = km_between(lat, lon, slat, slon);
			double left = km_between(slat, slon, car->dest_lat, car->dest_lon);
			double detour = hop + left - remaining;
			double progress = remaining - left;
			if (hop <= range && progress > best_progress && detour < STOP_MAX_KM && fits_car(car, s) &&
			    strcmp(json_string_value(json_object_get(s, "status")) ?: "", "active") == 0) {
				best = s;
				best_progress = progress;
			}
		}
		if (best == NULL)
			break;
		double slat = json_number_value(json_object_get(best, "lat")), slon = json_number_value(json_object_get(best, "lon"));
		double hop = km_between(lat, lon, slat, slon);
		double power = json_number_value(json_object_get(best, "power_kw"));
		double arrive_soc = soc - hop * plan_consumption(car) / car->capacity_kwh;
		double drive_real = hop / car->speed_kmh * 3600.0 / world->speedup;
		double charge_real = (TARGET_SOC - arrive_soc) / 100.0 * car->capacity_kwh / (power > 0 ? power : 50) * 3600.0 / world->speedup;
		double start = clock + drive_real + 60, end = start + fmax(charge_real * 1.3, WINDOW_MIN_SECONDS);
		char s_text[32], e_text[32];
		rfc3339(start, s_text);
		rfc3339(end, e_text);
		if (json_array_size(legs) < 8)
			car->depart_soc[json_array_size(legs)] = TARGET_SOC;
		json_array_append_new(legs, json_pack("{s:O, s:s, s:s}", "station_id", json_object_get(best, "id"), "start", s_text,
						      "end", e_text));
		lat = slat;
		lon = slon;
		soc = TARGET_SOC;
		clock = end;
	}
	return legs;
}

static json_t *station_by_id(const struct world *world, const char *id);

/*
 * The legs of a planner option (its stations and the charge planned at each)
 * as POST /trips takes them, on the simulated clock: each window opens when
 * this car, driving its own speed from where it is, arrives, and lasts the
 * charge it plans there, both at --speedup, so the car arrives in its window.
 */
static json_t *legs_of_option(struct car *car, const struct world *world, json_t *option)
{
	json_t *legs = json_array();
	size_t i;
	json_t *leg;
	double lat = car->lat, lon = car->lon, soc = car->soc, clock = car->departure;
	car->infeasible = false;
	json_array_foreach(json_object_get(option, "legs"), i, leg) {
		json_t *station = station_by_id(world, json_string_value(json_object_get(leg, "station_id")) ?: "");
		double slat = station != NULL ? json_number_value(json_object_get(station, "lat")) : lat;
		double slon = station != NULL ? json_number_value(json_object_get(station, "lon")) : lon;
		double power = station != NULL ? json_number_value(json_object_get(station, "power_kw")) : 50;
		double hop = km_between(lat, lon, slat, slon), target = json_number_value(json_object_get(leg, "depart_soc"));
		double arrive_soc = soc - hop * plan_consumption(car) / car->capacity_kwh;
		if (arrive_soc < MIN_SOC / 2) {
			/* Not from where this car really is: an option it cannot drive is no option. */
			json_array_clear(legs);
			car->infeasible = true;
			break;
		}
		double drive_real = hop / car->speed_kmh * 3600.0 / world->speedup;
		double charge_real = fmax(0, target - arrive_soc) / 100.0 * car->capacity_kwh / (power > 0 ? power : 50) * 3600.0 /
				     world->speedup;
		double start = floor(clock + drive_real), end = start + fmax(ceil(charge_real * 1.3), WINDOW_MIN_SECONDS);
		char s_text[32], e_text[32];
		rfc3339(start, s_text);
		rfc3339(end, e_text);
		if (i < 8)
			car->depart_soc[i] = target > 0 ? target : TARGET_SOC;
		json_array_append_new(legs, json_pack("{s:O, s:s, s:s}", "station_id", json_object_get(leg, "station_id"),
						      "start", s_text, "end", e_text));
		lat = slat;
		lon = slon;
		soc = fmax(arrive_soc, target);
		clock = end;
	}
	return legs;
}

static json_t *station_by_id(const struct world *world, const char *id)
{
	size_t i;
	json_t *s;
	json_array_foreach(world->stations, i, s)
		if (strcmp(json_string_value(json_object_get(s, "id")), id) == 0)
			return s;
	return NULL;
}

/* The city of the station nearest to the car: where the planner starts. */
static const char *nearest_city(const struct car *car, const struct world *world)
{
	const char *city = NULL;
	double best = 1e9;
	size_t i;
	json_t *s;
	json_array_foreach(world->stations, i, s) {
		double d = km_between(car->lat, car->lon, json_number_value(json_object_get(s, "lat")),
				      json_number_value(json_object_get(s, "lon")));
		if (d < best && json_object_get(world->off_network, json_string_value(json_object_get(s, "city")) ?: "") == NULL) {
			best = d;
			city = json_string_value(json_object_get(s, "city"));
		}
	}
	return city != NULL ? city : "";
}

static void start_trip(struct car *car, struct world *world, double now)
{
	pick_destination(car, world);
	char departure[32];
	car->departure = floor(now) + 5;
	rfc3339(car->departure, departure);
	json_t *fields = json_pack("{s:s, s:s, s:s, s:{s:f, s:f, s:f, s:f}, s:i}", "origin", nearest_city(car, world),
				   "destination", car->destination, "departure", departure, "battery", "capacity_kwh",
				   car->capacity_kwh, "soc", car->soc, "consumption_kwh_per_100km", plan_consumption(car),
				   "min_soc", MIN_SOC, "max_options", 3);
	json_object_set_new(fields, "connector", json_string(car_connector(car)));
	request(car, world, "plan", fields, now);
	car->state = CAR_PLANNING;
	car->booking_attempts = 0;
	note(car, "planning a trip to %s", car->destination);
}

/* Whether the car, leaving its last stop with the charge planned there, cannot reach its destination. */
static bool last_hop_short(const struct car *car, const struct world *world)
{
	size_t n = json_array_size(car->legs);
	json_t *last = json_array_get(car->legs, n - 1);
	json_t *station = station_by_id(world, json_string_value(json_object_get(last, "station_id")) ?: "");
	if (n == 0 || station == NULL)
		return false;
	double soc = n <= 8 && car->depart_soc[n - 1] > 0 ? car->depart_soc[n - 1] : TARGET_SOC;
	return range_km(car, soc) < km_between(json_number_value(json_object_get(station, "lat")),
					       json_number_value(json_object_get(station, "lon")), car->dest_lat, car->dest_lon);
}

static void book(struct car *car, struct world *world, double now)
{
	if (last_hop_short(car, world)) {
		/* Stops that end short of the destination (own_plan found no station across a gap) are no plan. */
		json_array_clear(car->legs);
		car->infeasible = true;
	}
	if (json_array_size(car->legs) == 0) {
		if (car->infeasible || range_km(car, car->soc) < km_between(car->lat, car->lon, car->dest_lat, car->dest_lon)) {
			/* No feasible plan: never drive off to run flat; wait and try again (another destination). */
			car->state = CAR_IDLE;
			car->idle_until = now + between(car, 20, 60);
			car->waits++;
			note(car, "no feasible plan to %s: waiting (%.80s)", car->destination, car->last_event);
			return;
		}
		/* Close enough to drive there without a stop. */
		car->trip_id[0] = '\0';
		car->leg = 0;
		car->state = CAR_DRIVING;
		note(car, "driving to %s without a stop", car->destination);
		return;
	}
	request(car, world, "reserve", json_pack("{s:O, s:s}", "legs", car->legs, "connector", car_connector(car)), now);
	car->state = CAR_BOOKING;
	car->booking_attempts++;
}

static void next_option_or_give_up(struct car *car, struct world *world, double now)
{
	json_decref(car->legs);
	car->legs = NULL;
	if (car->booking_attempts < 3 && json_array_size(car->options) > 0) {
		car->legs = legs_of_option(car, world, json_array_get(car->options, 0));
		json_array_remove(car->options, 0);
		book(car, world, now);
	} else if (car->booking_attempts < 3) {
		car->legs = own_plan(car, world, now + 30 * car->booking_attempts);
		book(car, world, now);
	} else {
		/* Nothing free: queue for the first stop's window, then try again later. */
		json_t *first = json_array_get(car->options, 0);
		json_t *legs = first != NULL ? legs_of_option(car, world, first) : own_plan(car, world, now);
		json_t *leg = json_array_get(legs, 0);
		json_t *station = leg != NULL ? station_by_id(world, json_string_value(json_object_get(leg, "station_id"))) : NULL;
		if (station != NULL) {
			char expires[32];
			rfc3339(now + 1800, expires);
			tell_owner(car, world->run_id, station, "waitlist",
				   json_pack("{s:O, s:O, s:O, s:i, s:s}", "station_id", json_object_get(leg, "station_id"),
					     "start", json_object_get(leg, "start"), "end", json_object_get(leg, "end"),
					     "flexibility_minutes", 60, "expires_at", expires));
			car->waitlist_joins++;
		}
		json_decref(legs);
		car->state = CAR_IDLE;
		car->idle_until = now + between(car, 20, 60);
		note(car, "nothing free on the way to %s: joined the waitlist", car->destination);
	}
}

static void on_plan(struct car *car, struct world *world, double now, long status, json_t *body)
{
	json_t *error = json_object_get(body, "error");
	if (status == 400 && strcmp(json_string_value(json_object_get(error, "code")) ?: "", "unknown_city") == 0) {
		/* A station whose city is not on the road network (e.g. made by a test): never a destination again. */
		const char *message = json_string_value(json_object_get(error, "message")) ?: "";
		const char *cities[] = { car->destination, nearest_city(car, world) };
		for (int k = 0; k < 2; k++) {
			char quoted[80];
			snprintf(quoted, sizeof(quoted), "'%s'", cities[k]);
			if (strstr(message, quoted) != NULL)
				json_object_set_new(world->off_network, cities[k], json_true());
		}
		car->state = CAR_IDLE;
		car->idle_until = now + 1; /* another destination at once */
		note(car, "%s is not on the road network: choosing another destination", car->destination);
		return;
	}
	json_decref(car->options);
	car->options = status == 200 ? json_incref(json_object_get(body, "options")) : json_array();
	if (status != 200)
		note(car, "no plan to %s (%ld %s)", car->destination, status,
		     json_string_value(json_object_get(error, "code")) ?: "?");
	if (car->options == NULL)
		car->options = json_array();
	if (json_array_size(car->options) > 0) {
		car->legs = legs_of_option(car, world, json_array_get(car->options, 0));
		json_array_remove(car->options, 0);
	} else {
		car->legs = own_plan(car, world, now);
	}
	book(car, world, now);
}

static void on_booked(struct car *car, struct world *world, double now, long status, json_t *body)
{
	if (status == 201) {
		snprintf(car->trip_id, sizeof(car->trip_id), "%s", json_string_value(json_object_get(body, "id")) ?: "");
		/* The booked legs carry their reservation ids, for the check-in at each station. */
		if (json_array_size(json_object_get(body, "legs")) == json_array_size(car->legs)) {
			json_decref(car->legs);
			car->legs = json_incref(json_object_get(body, "legs"));
		}
		car->leg = 0;
		car->state = CAR_DRIVING;
		car->trips_booked++;
		note(car, "booked trip to %s", car->destination);
		return;
	}
	if (status == 409)
		car->conflicts++;
	const char *reason = json_string_value(json_object_get(json_object_get(body, "error"), "message"));
	if (status == 409)
		note(car, "a leg was taken (409): %s", reason ?: "no reason");
	else
		note(car, "booking failed: %s", reason ?: "no reason");
	next_option_or_give_up(car, world, now);
}

/* Moves toward (lat, lon); true on arrival. */
static bool drive(struct car *car, double lat, double lon, double sim_hours)
{
	double left = km_between(car->lat, car->lon, lat, lon);
	double step = car->speed_kmh * sim_hours;
	double used = fmin(step, left);
	car->soc = fmax(0.0, car->soc - used * car->consumption / car->capacity_kwh);
	if (step >= left) {
		car->lat = lat;
		car->lon = lon;
		return true;
	}
	car->lat += (lat - car->lat) * step / left;
	car->lon += (lon - car->lon) * step / left;
	return false;
}

/* Drifts consumption and speed the way the car's profile does. */
static void vary(struct car *car)
{
	switch (car->profile) {
	case PROFILE_SLOW:
		car->consumption = 14.0 + between(car, -0.5, 0.5);
		break;
	case PROFILE_NORMAL:
		car->consumption = 17.0 + between(car, -1.0, 1.0);
		break;
	case PROFILE_FAST:
		car->consumption = 22.0 + between(car, -1.5, 2.0);
		break;
	case PROFILE_ERRATIC:
		car->consumption = fmin(30.0, fmax(11.0, car->consumption + between(car, -2.5, 2.5)));
		break;
	}
	car->speed_kmh = fmin(120.0, fmax(60.0, car->speed_kmh + between(car, -4, 4)));
}

static void publish_telemetry(struct car *car, const struct world *world, double now, bool moving)
{
	char topic[128], ts[32], payload[320];
	rfc3339(now, ts);
	snprintf(topic, sizeof(topic), "evc/v1/%s/cars/%s/telemetry", home_company(car, world), car->id);
	snprintf(payload, sizeof(payload),
		 "{\"ts\":\"%s\",\"lat\":%.5f,\"lon\":%.5f,\"soc\":%.2f,\"speed_kmh\":%.1f,"
		 "\"consumption_kwh_per_100km\":%.2f,\"profile\":\"%s\"}",
		 ts, car->lat, car->lon, car->soc, moving ? car->speed_kmh : 0.0, car->consumption,
		 profile_names[car->profile]);
	link_publish(car->link, topic, payload, 0, false);
}

void car_tick(struct car *car, struct world *world, double now, double dt)
{
	double sim_hours = dt * world->speedup / 3600.0;
	long status = 0;
	json_t *body = NULL;
	bool moving = false;
	link_poll(car->link);
	vary(car);
	if (car->request_id[0] == '\0')
		json_decref(answer(car, world, now, &status)); /* nothing awaited: takes waitlist news, drops late answers */

	switch (car->state) {
	case CAR_IDLE:
		if (now >= car->idle_until && json_array_size(world->stations) > 0)
			start_trip(car, world, now);
		break;
	case CAR_PLANNING:
		if ((body = answer(car, world, now, &status)) != NULL)
			on_plan(car, world, now, status, body);
		break;
	case CAR_BOOKING:
		if ((body = answer(car, world, now, &status)) != NULL)
			on_booked(car, world, now, status, body);
		break;
	case CAR_DRIVING: {
		moving = true;
		json_t *leg = json_array_get(car->legs, car->leg);
		json_t *station = leg != NULL ? station_by_id(world, json_string_value(json_object_get(leg, "station_id"))) : NULL;
		double lat = station != NULL ? json_number_value(json_object_get(station, "lat")) : car->dest_lat;
		double lon = station != NULL ? json_number_value(json_object_get(station, "lon")) : car->dest_lon;
		if (drive(car, lat, lon, sim_hours)) {
			if (station != NULL) {
				car->state = CAR_CHARGING;
				note(car, "charging at %s", json_string_value(json_object_get(station, "id")));
				const char *reservation = json_string_value(json_object_get(leg, "reservation_id"));
				if (reservation != NULL) {
					/* A station speaking OCPP checks the booking in by StartTransaction; else MQTT. */
					if (!chargepoint_set_arrive(world->chargepoints, json_string_value(json_object_get(station, "id")),
								    car->id, leg, &car->kwh_charged))
						tell_owner(car, world->run_id, station, "checkin",
							   json_pack("{s:s}", "reservation_id", reservation));
					car->sessions++;
				}
			} else if (car->trip_id[0] != '\0') {
				request(car, world, "finish", json_pack("{s:s}", "trip_id", car->trip_id), now);
				car->state = CAR_FINISHING;
			} else {
				car->state = CAR_IDLE;
				car->idle_until = now + between(car, 10, 40);
				car->trips_finished++;
				note(car, "arrived at %s", car->destination);
			}
		} else if (car->soc < 2.0) {
			/* A plan that was too optimistic for this car's profile: a tow truck, honestly reported. */
			car->soc = 30.0;
			car->tows++;
			note(car, "ran flat near %s: towed and recharged", car->destination);
		}
		break;
	}
	case CAR_CHARGING: {
		json_t *leg = json_array_get(car->legs, car->leg);
		json_t *station = station_by_id(world, json_string_value(json_object_get(leg, "station_id")));
		double power = station != NULL ? json_number_value(json_object_get(station, "power_kw")) : 50;
		double window_start = parse_time(json_string_value(json_object_get(leg, "start")));
		double window_end = parse_time(json_string_value(json_object_get(leg, "end")));
		if (now < window_start) {
			note(car, "at %s, waiting %.0f s for its window", json_string_value(json_object_get(leg, "station_id")) ?: "?",
			     window_start - now);
			break; /* early: the charger is someone else's until the window opens */
		}
		double rate = car->soc < 80.0 ? power : power * 0.4; /* taper above 80% */
		double before = car->soc;
		car->soc = fmin(100.0, car->soc + rate * sim_hours / car->capacity_kwh * 100.0);
		car->kwh_charged += (car->soc - before) / 100.0 * car->capacity_kwh;
		double target = car->leg < 8 && car->depart_soc[car->leg] > 0 ? car->depart_soc[car->leg] : TARGET_SOC;
		/* Leaves at the planned charge; past the window's end only with enough for the rest of the plan. */
		if (car->soc >= fmin(100.0, target) || (window_end > 0 && now >= window_end && car->soc >= target - 5)) {
			chargepoint_set_depart(world->chargepoints, json_string_value(json_object_get(leg, "station_id")), car->id);
			car->leg++;
			car->state = CAR_DRIVING;
			note(car, "charged, driving on to %s", car->destination);
			if (car->trip_id[0] == '\0' && car->leg >= json_array_size(car->legs) &&
			    range_km(car, car->soc) < km_between(car->lat, car->lon, car->dest_lat, car->dest_lon)) {
				car->state = CAR_IDLE; /* a waitlist window on the way: plan the rest from here */
				car->idle_until = now + 1;
				note(car, "charged at a waitlist window: planning the rest to %s", car->destination);
			}
		}
		break;
	}
	case CAR_FINISHING:
		if ((body = answer(car, world, now, &status)) != NULL) {
			car->trips_finished++;
			car->state = CAR_IDLE;
			car->idle_until = now + between(car, 10, 40);
			if (status == 200)
				note(car, "finished the trip to %s", car->destination);
			else
				note(car, "finish refused at %s", car->destination);
		}
		break;
	}
	json_decref(body);
	publish_telemetry(car, world, now, moving);
}

bool car_init(struct car *car, int index, uint64_t seed, const struct world *world)
{
	memset(car, 0, sizeof(*car));
	snprintf(car->id, sizeof(car->id), "car-%03d", index + 1);
	car->rng = (seed ^ (0x9E3779B97F4A7C15ULL * (uint64_t)(index + 1))) | 1;
	car->profile = (enum car_profile)(index % 4);
	car->home = index % world->company_count;
	car->capacity_kwh = between(car, 50, 82);
	car->soc = between(car, 45, 95);
	car->consumption = 17;
	car->speed_kmh = between(car, 75, 105);
	car->idle_until = 0;
	/* Parked at a station's city, where the planner's route starts too (a car off the
	 * road network would drive further to its first stop than planned). */
	size_t n = json_array_size(world->stations);
	json_t *home = n > 0 ? json_array_get(world->stations, (size_t)(uniform(car) * (double)n) % n) : NULL;
	car->lat = home != NULL ? json_number_value(json_object_get(home, "lat")) : between(car, -12.9, -5.8);
	car->lon = home != NULL ? json_number_value(json_object_get(home, "lon")) : between(car, -38.9, -34.9);
	snprintf(car->last_event, sizeof(car->last_event), "parked");

	char client_id[64], filter[96];
	snprintf(client_id, sizeof(client_id), "evc-sim-%s-%llx", car->id, (unsigned long long)(seed & 0xffffff));
	snprintf(filter, sizeof(filter), "evc/v1/+/cars/%s/+", car->id); /* resp and waitlist (the ACL allows no other) */
	const char *password = world_password(world, car->id);
	car->link = link_open(world->broker, client_id, password != NULL ? car->id : NULL, password, NULL, NULL, filter);
	return car->link != NULL;
}

void car_describe(const struct car *car, const struct world *world, char *out, size_t size)
{
	snprintf(out, size, "%-8s %-7s soc %3.0f%%  %-9s via %-2s trips %u/%u 409s %u  %s", car->id,
		 profile_names[car->profile], car->soc, state_names[car->state], home_company(car, world),
		 car->trips_finished, car->trips_booked, car->conflicts, car->last_event);
}

void car_free(struct car *car)
{
	link_close(car->link);
	json_decref(car->options);
	json_decref(car->legs);
	free(car->request_payload);
}
