/*
 * MQTT telemetry ingest, measured end to end: samples published at fixed
 * rates to one company's telemetry topics, then counted where they land, in
 * its car_telemetry table. Not request/response, so not the load engine.
 */
#ifndef EVC_BENCH_TELEMETRY_LOAD_H
#define EVC_BENCH_TELEMETRY_LOAD_H

#include "bench.h"

#include <jansson.h>
#include <stdbool.h>

/* True when the stack has a broker and the company's database a car_telemetry table; else why. */
bool telemetry_load_available(struct bench *b, char *why, size_t size);

/*
 * Publishes at each rate of a ramp for b's duration, waits for the rows, and
 * fills out with one entry per rate (sent, stored, messages/s stored, drain
 * lag) and the highest rate sustained. False when the broker or the database
 * could not be reached.
 */
bool telemetry_load_measure(struct bench *b, json_t *out);

#endif
