/*
 * One simulated station as an OCPP 1.6J charge point (civetweb's WebSocket
 * client), talking to its company's central system at
 * ws://<server>/ocpp/<station id> with the subprotocol ocpp1.6 and HTTP Basic
 * auth (the station id and its OCPP key).
 *
 * It boots, heartbeats at the interval the central system gives, reports each
 * connector's state (Available, Reserved, Charging, Faulted, Unavailable),
 * accepts ReserveNow and CancelReservation, and charges the simulated cars:
 * when a car that arrived at its booked window starts charging it sends
 * StartTransaction (its idTag and the reservationId ReserveNow gave),
 * MeterValues while it charges, and StopTransaction with the meter when it
 * leaves, so energy and cost land on the booking through OCPP.
 *
 * Threads: the simulation thread calls everything here; civetweb's reader
 * thread of each connection answers the central system's calls (ReserveNow,
 * CancelReservation, ...) at once, under the charge point's own lock. Our own
 * calls are one at a time (OCPP-J), each waiting a few seconds for its answer.
 * It must never block the simulation for long: a silent central system is
 * dropped and reconnected later.
 */
#ifndef EVC_SIM_CHARGEPOINT_H
#define EVC_SIM_CHARGEPOINT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct chargepoint;
struct chargepoint_set;

/*
 * A charge point for station_id with connectors chargers (1..64), reaching
 * its central system at server_url ("http://host:port"; https is not
 * supported) with key. Connects on the first tick. NULL on bad arguments.
 */
struct chargepoint *chargepoint_new(const char *station_id, const char *key, const char *server_url, int connectors);

/*
 * The set the simulation keeps (up to 500 charge points); owns them. speedup:
 * the simulation's one clock (--speedup): MeterValues every 5 simulated
 * minutes; protocol timing (heartbeat, call timeouts) stays in real seconds.
 */
struct chargepoint_set *chargepoint_set_new(double speedup);
bool chargepoint_set_add(struct chargepoint_set *set, struct chargepoint *cp);

/* Connects, boots, sends what is due (status, sessions, meter values, heartbeat); now: real epoch seconds. */
void chargepoint_set_tick(struct chargepoint_set *set, double now);

/*
 * A car arrived at station_id for its booked window (leg: station_id, start,
 * end, charger, reservation_id). Its session starts when the window opens;
 * energy_kwh: the car's counter of energy charged (borrowed, read while it
 * charges). False when the station has no charge point, or it is not
 * connected and accepted by its central system now: the car checks in by
 * MQTT as before.
 */
bool chargepoint_set_arrive(struct chargepoint_set *set, const char *station_id, const char *car_id, json_t *leg,
			    const double *energy_kwh);

/* The car leaves: its transaction is stopped with the meter (StopTransaction). */
void chargepoint_set_depart(struct chargepoint_set *set, const char *station_id, const char *car_id);

/* The station's charge point, or NULL. */
struct chargepoint *chargepoint_set_find(struct chargepoint_set *set, const char *station_id);

/* A fault on one idle connector (chosen by roll), or, with faulted false, every fault cleared. */
void chargepoint_fault(struct chargepoint *cp, bool faulted, uint64_t roll);

/* One line for the fleet summary: stations connected, sessions started and stopped. */
void chargepoint_set_describe(const struct chargepoint_set *set, char *out, size_t size);

/* Stops the open transactions (the cars leave), disconnects, frees. */
void chargepoint_set_free(struct chargepoint_set *set);

#endif
