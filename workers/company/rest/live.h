/*
 * Live updates for the dashboard: a websocket at /api/v1/live. A broadcaster
 * thread builds a compact snapshot every second (occupancy per station, peers
 * up or down, in-doubt and in-flight counts, the MQTT link, change markers of
 * reservations and trips, car positions) and pushes it to every connected
 * client when it changed, and at least every few seconds. A page re-reads the
 * REST API for the details when a marker moves; the socket carries no commands.
 *
 * Each websocket holds one civetweb worker thread for its whole life, so the
 * number of clients is capped (LIVE_MAX_CLIENTS); beyond it the upgrade is
 * refused and the page falls back to polling. It must never be the only way to
 * see the data: every field is also in the REST API.
 */
#ifndef EVC_LIVE_H
#define EVC_LIVE_H

#include <civetweb.h>
#include <stdbool.h>

struct app;

#define LIVE_PATH "/api/v1/live"
#define LIVE_MAX_CLIENTS 32

/* Registers the websocket handler on ctx; called by http_start. */
void live_register(struct mg_context *ctx, struct app *app);

/* Starts and stops the broadcaster thread (stop before http_stop). */
bool live_start(struct app *app) __attribute__((warn_unused_result));
void live_stop(void);

#endif
