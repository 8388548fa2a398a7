/*
 * One telemetry sample as a car sends it over MQTT, checked field by field:
 * {"ts": RFC 3339, "lat", "lon", "soc": percent 0..100 (the one unit of state of charge in the system), "speed_kmh",
 *  "consumption_kwh_per_100km", "profile"?}. Pure: no I/O, fuzzed.
 */
#ifndef EVC_TELEMETRY_H
#define EVC_TELEMETRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct telemetry_sample {
	int64_t ts; /* epoch seconds */
	double lat, lon, soc, speed_kmh, consumption;
	char profile[24]; /* empty when absent or malformed */
};

/* Parses payload (len bytes, no NUL needed); false when any field is missing or out of range. */
bool telemetry_parse(const char *payload, size_t len, struct telemetry_sample *out) __attribute__((warn_unused_result));

#endif
