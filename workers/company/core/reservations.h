/*
 * Single bookings of one charging window at this company's stations: the core
 * every adapter calls (REST, MQTT, and the planned OCPP central system). Each
 * function checks the policy against the actor first and writes nothing when
 * it refuses.
 */
#ifndef EVC_RESERVATIONS_H
#define EVC_RESERVATIONS_H

#include <jansson.h>
#include <stdint.h>

#include "actor.h"
#include "errors.h"

struct app;
struct config;

/* A reservation request as read from its body: strings borrowed from the input. */
struct reservation_request {
	const char *station_id; /* one of cfg's company's stations (by its id's prefix) */
	const char *car_id;     /* NULL when absent */
	const char *connector;  /* the car's connector (validate_connector): only such chargers; NULL: any */
	int64_t start, end;     /* within the booking rules (bounds_window) at now */
};

/*
 * Pure (no database, no actor): reads and checks the body of a reservation.
 * EVC_OK, or the 400/404 in r. Fuzzed (tests/fuzz/fuzz_body_reservation.c).
 */
enum evc_err reservations_read(const struct config *cfg, json_t *input, int64_t now, struct reservation_request *out,
			       struct core_result *r) __attribute__((warn_unused_result));

/*
 * Books {"station_id","start","end"[,"car_id"][,"connector"]} (input borrowed). A car books
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
