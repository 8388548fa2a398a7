/*
 * Single bookings of one charging window at this company's stations: the core
 * every adapter calls (REST, MQTT, and the planned OCPP central system). Each
 * function checks the policy against the actor first and writes nothing when
 * it refuses.
 */
#ifndef EVC_RESERVATIONS_H
#define EVC_RESERVATIONS_H

#include <jansson.h>

#include "actor.h"
#include "errors.h"

struct app;

/*
 * Books {"station_id","start","end"[,"car_id"]} (input borrowed). A car books
 * for itself (car_id, if given, must be its own); an operator names the car.
 */
enum evc_err reservations_create(struct app *app, const struct actor *actor, json_t *input, const char *request_id,
				 struct core_result *r);

enum evc_err reservations_get(struct app *app, const struct actor *actor, const char *id, const char *request_id,
			      struct core_result *r);

/* Cancels a live single booking (a trip's leg goes with its trip). Idempotent. */
enum evc_err reservations_cancel(struct app *app, const struct actor *actor, const char *id, const char *request_id,
				 struct core_result *r);

/* The car arrived: a checked-in reservation is never expired as a no-show. */
enum evc_err reservations_checkin(struct app *app, const struct actor *actor, const char *id, const char *request_id,
				  struct core_result *r);

#endif
