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

#include "actor.h"
#include "errors.h"

struct app;

/*
 * Plans a route for input {"origin","destination","departure","battery",...,"car_id"?} (borrowed).
 * A car plans for itself (car_id optional, another car's is FORBIDDEN); any
 * other actor names the car.
 */
enum evc_err plan_route(struct app *app, const struct actor *actor, json_t *input, const char *request_id,
			struct core_result *r);

/* Availability of many windows at once, input {"windows":[...]} (borrowed). */
enum evc_err plan_availability_batch(struct app *app, const struct actor *actor, json_t *input,
				     const char *request_id, struct core_result *r);

#endif
