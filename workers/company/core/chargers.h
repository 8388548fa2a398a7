/*
 * The chargers of this company's stations as OCPP charge points see them: a
 * station's key (proof of who connects), its boot and heartbeat, each
 * charger's state, and what a charger going out of service does to the
 * bookings on it (moved to another free charger of the station for the same
 * window, else marked disrupted and the car told). Also the operator's side:
 * key rotation, the chargers' state, remote commands.
 *
 * Transport-free like the rest of the core: the OCPP adapter (ocpp/) decodes
 * a validated payload, calls one function here with the station actor its
 * transport proved, and encodes the answer. Never speaks OCPP-J itself.
 */
#ifndef EVC_CHARGERS_H
#define EVC_CHARGERS_H

#include <jansson.h>
#include <stdbool.h>

#include "actor.h"
#include "errors.h"

struct app;

#define CHARGERS_KEY_MAX 64 /* an OCPP key (Basic auth password): 1 to 64 printable ASCII characters */

/*
 * Whether key is station_id's OCPP key (compared as a salted SHA-256). EVC_OK
 * with *valid set; EVC_ERR_UNAVAILABLE when the database did not answer.
 * This is the authentication itself, so it takes no actor.
 */
enum evc_err chargers_key_verify(struct app *app, const char *station_id, const char *key, bool *valid)
	__attribute__((warn_unused_result));

/* A new random key for the station (operator): body {"station_id","key","rotated_at"}; the key is shown only here. */
enum evc_err chargers_key_rotate(struct app *app, const struct actor *actor, const char *station_id,
				 const char *request_id, struct core_result *r);

/*
 * BootNotification: records vendor/model/firmware (input: the OCPP payload).
 * Body {"accepted": bool, "interval": seconds, "current_time"}; not accepted
 * when the operator put the station in maintenance.
 */
enum evc_err chargers_boot(struct app *app, const struct actor *actor, json_t *input, const char *request_id,
			   struct core_result *r);

/* Heartbeat (and any sign of life): last_seen; body {"current_time"}. */
enum evc_err chargers_heartbeat(struct app *app, const struct actor *actor, const char *request_id,
				struct core_result *r);

/*
 * StatusNotification: the charger's (0: the station's) state. Faulted or
 * Unavailable moves its live bookings in the same transaction
 * (ocpp_move_bookings); each car left without a charger is told on MQTT
 * (cars/<car>/booking) with the nearest free windows. Body {"moved": n, "disrupted": n}.
 */
enum evc_err chargers_status(struct app *app, const struct actor *actor, json_t *input, const char *request_id,
			     struct core_result *r);

/*
 * A charger answered a ReserveNow for reservation_id with answer (Occupied,
 * Rejected, ...): that reservation alone moves to another free charger of
 * the station for the same window (ocpp_free_charger in SQL; the charger that
 * refused is never tried again for it), else it is marked disrupted and the
 * car told as for a fault. The charger's own state is not changed. Body
 * {"moved": n, "disrupted": n} (0 and 0 when it had already moved or ended).
 */
enum evc_err chargers_reservation_refused(struct app *app, const struct actor *actor, const char *reservation_id,
					  int charger, const char *answer, const char *request_id, struct core_result *r);

/*
 * The offline check, a system job (no actor) run by the OCPP ticker of each
 * process: stamps the stations connected here (connected: a PostgreSQL text[]
 * literal) as held, and for every station once connected whose connection has
 * been lost longer than EVC_OCPP_OFFLINE_AFTER_S, marks it offline (every
 * charger out until it connects again) and disrupts its live bookings, each
 * car told with alternatives. Failures are logged at warn.
 */
void chargers_offline_round(struct app *app, const char *connected);

/*
 * The station's connection was made (connected) or lost here: its lease
 * (connected_until) is stamped now, and a connection clears offline_since.
 * Called by the OCPP adapter for a station its key proved at the upgrade.
 */
void chargers_connection_seen(struct app *app, const char *station_id, bool connected);

/* Authorize: body {"status": "Accepted"|"Invalid", "expiry"} for an idTag holding a confirmed booking here now. */
enum evc_err chargers_authorize(struct app *app, const struct actor *actor, const char *id_tag,
				const char *request_id, struct core_result *r);

/* The operator's view: per charger its OCPP state, and the station's connection. */
enum evc_err chargers_list(struct app *app, const struct actor *actor, const char *station_id, bool connected,
			   const char *request_id, struct core_result *r);

#endif

/*
 * An operator's remote command to a station's charge point: input
 * {"action": RemoteStartTransaction|RemoteStopTransaction|ChangeAvailability|Reset,
 *  "payload": the OCPP request}, the payload valid against its official schema.
 * Sent over the station's connection, waiting up to EVC_OCPP_CALL_TIMEOUT_MS.
 * Body {"station_id","action","answer"}; CONFLICT station_offline when not
 * connected here, CONFLICT charger_error for a CALLERROR, UNAVAILABLE (retry)
 * when it did not answer in time.
 */
enum evc_err chargers_command(struct app *app, const struct actor *actor, const char *station_id, json_t *input,
			      const char *request_id, struct core_result *r);

/* After a rotation: the station's connection made with the old key is closed. */
void chargers_key_rotated(const char *station_id);
