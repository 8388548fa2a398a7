/*
 * Trips: a car's whole journey, one charging window per leg at stations of
 * any companies, booked atomically by two-phase commit (federation/twopc.c,
 * this company coordinating). Every adapter calls these with the actor its
 * transport proved; each checks the policy before it writes anything.
 */
#ifndef EVC_TRIPS_H
#define EVC_TRIPS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "actor.h"
#include "errors.h"

struct app;
struct config;

/*
 * Books {"legs":[{"station_id","start","end"[,"connector"]}...][,"car_id"][,"connector"]} (input borrowed)
 * once per (car, key): a retry with the same key gets the first answer. A car
 * books for itself; an operator names the car.
 */
enum evc_err trips_create(struct app *app, const struct actor *actor, json_t *input, const char *key,
			  const char *request_id, struct core_result *r);

/*
 * Pure (no database, no peers): reads and checks the "legs" of a trip's body
 * into legs (appended, normalised: station_id, company, start and end in UTC,
 * state "pending", reservation_id and charger null, "connector" when the leg or
 * the body names one), in time order, each within
 * the booking rules at now, and their companies in prepare order into
 * participants. EVC_OK or the 400 in r. Fuzzed (tests/fuzz/fuzz_body_trip.c).
 */
enum evc_err trips_read_legs(const struct config *cfg, json_t *input, int64_t now, json_t *legs, json_t *participants,
			     struct core_result *r) __attribute__((warn_unused_result));

/* The trip, here or (unless local_only) at the live peer that coordinates it. */
enum evc_err trips_get(struct app *app, const struct actor *actor, const char *trip_id, bool local_only,
		       const char *request_id, struct core_result *r);

/*
 * op "cancel" or "finish": a new distributed transaction on a confirmed trip.
 * A trip coordinated elsewhere is forwarded to its coordinator, as the car.
 * bearer: the car's own token when the adapter has one (forwarded as is), or NULL.
 */
enum evc_err trips_change(struct app *app, const struct actor *actor, const char *trip_id, const char *op,
			  const char *request_id, struct core_result *r);

#endif
