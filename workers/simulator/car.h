/*
 * One simulated electric car: it drives between the cities of the federation's
 * stations, drains its battery by its discharge profile, publishes telemetry,
 * and for a long trip asks its company's server for a plan, books it in one
 * request, charges at the booked stations and finishes the trip. Everything
 * random comes from the car's own seeded generator, so a run can be replayed.
 *
 * One simulated clock: with --speedup X a simulated hour lasts 3600/X real
 * seconds for driving and charging, and the windows a car books are the
 * planned ones mapped onto that clock (their offsets from the departure and
 * their lengths divided by X), so a car arrives in its window. A car with no
 * feasible plan does not drive: it waits, joins the waitlist and tries again.
 */
#ifndef EVC_SIM_CAR_H
#define EVC_SIM_CAR_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "chargepoint.h"
#include "link.h"

enum car_profile { PROFILE_SLOW, PROFILE_NORMAL, PROFILE_FAST, PROFILE_ERRATIC };

enum car_state { CAR_IDLE, CAR_PLANNING, CAR_BOOKING, CAR_DRIVING, CAR_CHARGING, CAR_FINISHING };

/* What every car shares: the network, the companies, the clock. */
struct world {
	json_t *stations;      /* array of stations {id, company, city, lat, lon, power_kw, status}; owned */
	char companies[8][17]; /* servers to talk to, in failover order */
	int company_count;
	double speedup;        /* simulated seconds per real second */
	const char *broker;
	char run_id[12];       /* new each run: request ids are never reused across runs */
	json_t *credentials;   /* {"user": "password"} from --credentials, or NULL: anonymous */
	json_t *off_network;   /* {"city": true}: cities the planner does not know (not destinations); owned */
	struct chargepoint_set *chargepoints; /* the stations speaking OCPP (chargepoint.h), or NULL; owned by main */
};

/* The password of user in world->credentials, or NULL. */
const char *world_password(const struct world *world, const char *user);

struct car {
	char id[32];
	enum car_profile profile;
	enum car_state state;
	uint64_t rng;
	int home;                /* index in world.companies of the server the car talks to */
	struct link *link;

	double lat, lon, soc, capacity_kwh, consumption, speed_kmh; /* soc: percent 0..100 */
	double idle_until;       /* real seconds */
	double departure;        /* real time the trip being planned leaves (whole seconds) */

	/* The trip being planned, booked or driven. */
	char destination[64];
	double dest_lat, dest_lon;
	json_t *options;         /* plan options not tried yet; owned */
	json_t *legs;            /* legs being booked or driven; owned */
	double depart_soc[8];    /* the charge each leg's stop is planned to reach, percent */
	bool infeasible;         /* the legs chosen last cannot be driven from where the car is */
	size_t leg;              /* next leg to drive to */
	char trip_id[40];
	int booking_attempts;

	/* The request awaiting its answer. */
	char request_id[48];
	char request_type[16];
	char *request_payload;   /* kept to send again on failover */
	double request_sent;
	int request_tries;
	unsigned sequence;

	char last_event[96];
	unsigned trips_booked, trips_finished, conflicts, failovers;
	unsigned waitlist_joins, waitlist_grants, sessions, waits, tows;
	double kwh_charged;
};

/* Sets up a car with its profile and a random start; connects its link. False on failure. */
bool car_init(struct car *car, int index, uint64_t seed, const struct world *world);

/* Advances the car by dt real seconds at real time now (seconds since the epoch). */
void car_tick(struct car *car, struct world *world, double now, double dt);

/* One line for the live summary. */
void car_describe(const struct car *car, const struct world *world, char *out, size_t size);

void car_free(struct car *car);

const char *car_profile_name(enum car_profile p);

#endif
