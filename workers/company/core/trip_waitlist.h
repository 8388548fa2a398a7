/*
 * The trip waitlist: a car whose trip across companies failed (a leg's
 * charger taken: 409) waits for the whole route, the same legs and windows.
 * This company, the trip's coordinator, keeps the entry; a ticker retries the
 * waiting entries in arrival order, each through trips_create (the whole 2PC:
 * every leg or none) as the car, with the Idempotency-Key twl-<entry>-<attempt>,
 * so no retry ever books twice. A retry that fails again leaves the entry where
 * it was (its rank kept). The car is told over MQTT (cars/<car>/waitlist) when
 * its trip is booked, when the entry expires (the first window starts, or the
 * wait bound passes) or when the trip can no longer be booked as asked.
 *
 * Why a periodic retry rather than a participant's notice: a charger frees at
 * another company for many reasons (a cancel, an abort, a no-show, a repair),
 * and a notice would have to be sent, kept and retried by every participant
 * for every one of them; the retry needs nothing from the peers and its cost
 * is bounded (EVC_TRIP_WAITLIST_BATCH entries per EVC_TRIP_WAITLIST_RETRY_MS).
 * It must never run two rounds at once anywhere (replicas included): a round
 * holds a database advisory lock.
 */
#ifndef EVC_TRIP_WAITLIST_H
#define EVC_TRIP_WAITLIST_H

#include <jansson.h>
#include <stdbool.h>

#include "actor.h"
#include "errors.h"

struct app;

bool trip_waitlist_start(struct app *app) __attribute__((warn_unused_result));
void trip_waitlist_stop(struct app *app);

/*
 * Join: {"legs":[{"station_id","start","end"}...][,"car_id"][,"expires_at"]}
 * (input borrowed; legs as POST /trips takes them). A car joins for itself, an
 * operator names the car. 201 with the entry.
 */
enum evc_err trip_waitlist_join(struct app *app, const struct actor *actor, json_t *input, const char *request_id,
				struct core_result *r);

/* The entry (a car: its own only; another car's is a 404). */
enum evc_err trip_waitlist_get(struct app *app, const struct actor *actor, const char *id, const char *request_id,
			       struct core_result *r);

/* The entries, newest first (a car: its own only); status NULL or one status. {"items":[...]} */
enum evc_err trip_waitlist_list(struct app *app, const struct actor *actor, const char *status, const char *request_id,
				struct core_result *r);

/* Leaves the waitlist: a waiting entry becomes "left"; any other is answered as it is. */
enum evc_err trip_waitlist_leave(struct app *app, const struct actor *actor, const char *id, const char *request_id,
				 struct core_result *r);

#endif
