/*
 * Charging sessions (OCPP transactions) on this company's chargers: a start
 * checks the booking in, meter values are stored, a stop finishes the booking
 * with the energy delivered and its cost (kWh x the station's price) and
 * frees the charger. Transport-free: the OCPP adapter calls these with the
 * station actor its transport proved.
 */
#ifndef EVC_SESSIONS_H
#define EVC_SESSIONS_H

#include <jansson.h>

#include "actor.h"
#include "errors.h"

struct app;

/*
 * StartTransaction (input: the OCPP payload). Finds the booking (by the
 * reservationId ReserveNow gave, else a confirmed booking of the idTag's car
 * at this station now), checks it in, opens the session. Body
 * {"transaction_id", "status": "Accepted"|"Invalid"|"ConcurrentTx", "reservation_id"|null}:
 * OCPP wants a transaction id even for an idTag it refuses.
 */
enum evc_err sessions_start(struct app *app, const struct actor *actor, json_t *input, const char *request_id,
			    struct core_result *r);

/* MeterValues: stores up to BOUNDS_OCPP_SAMPLES_MAX sampled values. Body {"stored": n}. */
enum evc_err sessions_meter(struct app *app, const struct actor *actor, json_t *input, const char *request_id,
			    struct core_result *r);

/*
 * StopTransaction: closes the session, finishes its booking ('completed' with
 * energy_wh, cost, charged_from/to). Body {"energy_wh","cost","reservation_id"}
 * or NOT_FOUND for a transaction this station does not have open.
 */
enum evc_err sessions_stop(struct app *app, const struct actor *actor, json_t *input, const char *request_id,
			   struct core_result *r);

#endif
