/*
 * Trips stay truthful at their coordinator. A leg held by another company can
 * change there after the booking (its charger faulted: moved to another
 * charger, or disrupted; its station went offline). The coordinator does not
 * wait to be told: when it reads a trip, it asks each live company holding
 * legs for their state (GET /federation/trips/{id}/legs, a peer call) and
 * merges the answers into its own row. A company that does not answer leaves
 * the leg as last known (logged at warn).
 *
 * Never answers a peer about a trip that peer does not coordinate.
 */
#ifndef EVC_TRIP_LEGS_H
#define EVC_TRIP_LEGS_H

#include "actor.h"
#include "errors.h"

struct app;

/*
 * The participant's side (peer): the reservations of trip_id held here, body
 * {"trip_id", "legs": [{"reservation_id","station_id","charger","status","start","end"}]},
 * for the peer that coordinates the trip; NOT_FOUND for any other peer or an
 * unknown trip (one answer, so nothing leaks).
 */
enum evc_err trip_legs_here(struct app *app, const struct actor *actor, const char *trip_id, const char *request_id,
			    struct core_result *r);

/*
 * The coordinator's side: r holds a trip read here (trip_json); for each other
 * live company holding one of its confirmed legs, fetch and merge their state.
 * When anything changed, r's body is replaced by the trip read anew.
 */
void trip_legs_refresh(struct app *app, const char *trip_id, struct core_result *r, const char *request_id);

#endif
