/*
 * The one place the worker's bounds on time values live. Every charging window
 * that enters (a REST body, an MQTT request, a peer's prepare, a waitlist
 * entry) passes bounds_window, every telemetry sample bounds_telemetry; the
 * README's "Limits" table lists these limits.
 * Timestamps themselves are bounded by the parser (timeutil: years 2000-2100).
 */
#ifndef EVC_BOUNDS_H
#define EVC_BOUNDS_H

#include <stdbool.h>
#include <stdint.h>

struct config;

#define BOUNDS_PAST_GRACE_SECONDS 300 /* clocks of cars and servers differ a little */
#define BOUNDS_TELEMETRY_AHEAD_SECONDS 300 /* a car's clock may run this far ahead of ours */
#define BOUNDS_OCPP_SAMPLES_MAX 64 /* sampled values stored from one MeterValues or StopTransaction */
#define BOUNDS_JSON_DEPTH_MAX 32 /* nesting of any JSON text read (HTTP_MAX_JSON_DEPTH, MQTT_MAX_JSON_DEPTH) */
#define BOUNDS_OCPP_METER_MAX INT64_C(1000000000000) /* a meter reading, Wh (1 TWh) */

/*
 * Checks a window against the booking rules of cfg: end after start, at most
 * EVC_WINDOW_MAX_HOURS long, starting no earlier than now minus the grace and
 * at most EVC_WINDOW_MAX_AHEAD_DAYS ahead. NULL when it passes, else the
 * reason (a static string) for a 400 invalid_window.
 */
const char *bounds_window(const struct config *cfg, int64_t start, int64_t end, int64_t now);

/*
 * Checks a telemetry sample's time: no older than EVC_TELEMETRY_RETENTION_HOURS
 * (it would be pruned at once) and no more than BOUNDS_TELEMETRY_AHEAD_SECONDS
 * ahead (it would stay the car's latest position for good). NULL when it passes,
 * else the reason (a static string).
 */
const char *bounds_telemetry(const struct config *cfg, int64_t ts, int64_t now);

/*
 * Checks the period of GET /stats: to after from, at most EVC_STATS_MAX_DAYS
 * long. NULL when it passes, else the reason (a static string) for a 400.
 */
const char *bounds_stats_period(const struct config *cfg, int64_t from, int64_t to);

#endif
