/*
 * Route planning across every company, and the availability batch the
 * planners of all companies ask this one: the core every adapter calls (REST
 * /routes/plan and /availability/batch, MQTT). planner.c does the search; this
 * module feeds it (the road graph, the stations of this company and of the
 * peers that are up) and checks the windows it proposes with their owners.
 *
 * It never touches HTTP: it answers with an evc_err and a JSON body in a
 * core_result, and each adapter encodes that for its transport. Both functions
 * check the policy against the actor before anything else; neither writes.
 */
#ifndef EVC_PLAN_H
#define EVC_PLAN_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "actor.h"
#include "errors.h"
#include "planner.h"

struct app;

/* A plan request as read from its body: strings borrowed from it (or the actor's id). */
struct plan_input {
	const char *car_id, *origin, *destination;
	int64_t departure;                  /* from now minus 5 min to a year ahead; now when absent */
	struct planner_battery battery;     /* soc, min_soc, target_soc as fractions of 1 */
	const char *consumption_source;     /* "request" when the body gave it, else NULL */
	const char *connector;              /* the car's connector: only stations with such a charger; NULL: any */
	int max_options;
	int offset;                         /* routes of earlier pages, skipped */
};

/*
 * Pure (no database): reads and checks a plan's body as actor sends it at now.
 * A car plans for itself: its car_id is optional and may name no other car
 * (FORBIDDEN). false with the refusal in r. Fuzzed (tests/fuzz/fuzz_body_plan.c).
 */
bool plan_read_input(const struct actor *actor, json_t *input, int64_t now, struct plan_input *in, struct core_result *r)
	__attribute__((warn_unused_result));

/*
 * Pure: the windows of an availability batch {"windows":[{station_id,start,end[,connector]}...]},
 * checked, as [{station_id, start, stop[, connector]}] in UTC (a window with a
 * connector counts only chargers of that type): a new reference, or NULL with
 * the 400 in r. Fuzzed (tests/fuzz/fuzz_body_plan.c).
 */
json_t *plan_read_windows(json_t *input, struct core_result *r) __attribute__((warn_unused_result));

/*
 * Plans a route for input {"origin","destination","departure","battery",...,"car_id"?,"connector"?} (borrowed).
 * A car plans for itself (car_id optional, another car's is FORBIDDEN); any
 * other actor names the car.
 */
enum evc_err plan_route(struct app *app, const struct actor *actor, json_t *input, const char *request_id,
			struct core_result *r);

/* Availability of many windows at once, input {"windows":[...]} (borrowed). */
enum evc_err plan_availability_batch(struct app *app, const struct actor *actor, json_t *input,
				     const char *request_id, struct core_result *r);

#endif
