/*
 * The one place the worker's bounds on time values live. Every charging window
 * that enters (a REST body, an MQTT request, a peer's prepare, a waitlist
 * entry) passes bounds_window; the README's "Bounds" table lists these limits.
 * Timestamps themselves are bounded by the parser (timeutil: years 2000-2100).
 */
#ifndef EVC_BOUNDS_H
#define EVC_BOUNDS_H

#include <stdbool.h>
#include <stdint.h>

struct config;

#define BOUNDS_PAST_GRACE_SECONDS 300 /* clocks of cars and servers differ a little */

/*
 * Checks a window against the booking rules of cfg: end after start, at most
 * EVC_WINDOW_MAX_HOURS long, starting no earlier than now minus the grace and
 * at most EVC_WINDOW_MAX_AHEAD_DAYS ahead. NULL when it passes, else the
 * reason (a static string) for a 400 invalid_window.
 */
const char *bounds_window(const struct config *cfg, int64_t start, int64_t end, int64_t now);

#endif
