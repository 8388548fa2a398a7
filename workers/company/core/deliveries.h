/*
 * What the chargers must be told of the bookings on them, kept in the
 * database (ocpp_reservations) so nothing is lost across restarts: a
 * confirmed window gets a ReserveNow EVC_OCPP_RESERVE_LEAD_SECONDS before it
 * starts; a booking told and then cancelled, expired, disrupted or moved to
 * another charger gets a CancelReservation (and, when moved, a new ReserveNow
 * on its new charger). The OCPP adapter's job (one ticker) asks what is due
 * for the stations connected to it, makes the calls, and records each outcome
 * here. A system job: no actor, nothing a client can reach.
 */
#ifndef EVC_DELIVERIES_H
#define EVC_DELIVERIES_H

#include <jansson.h>
#include <stdbool.h>

struct app;

#define DELIVERIES_BATCH 32 /* calls per round */

/*
 * What is due now for the stations in connected (a PostgreSQL text[] literal):
 * a new reference to an array of {"kind": "reserve"|"cancel", "ocpp_id",
 * "reservation_id", "station_id", "charger", "id_tag", "expiry", "moved",
 * "attempts"}, or NULL when the database did not answer (logged at warn).
 */
json_t *deliveries_due(struct app *app, const char *connected);

/*
 * Records one call's outcome. answer: the charger's status ("Accepted",
 * "Faulted", ...), or NULL when it did not answer (retried later, given up
 * after EVC_OCPP_CALL_RETRIES more tries).
 */
void deliveries_record(struct app *app, json_t *item, const char *answer);

#endif
