/*
 * The worker's MQTT side (paho MQTTAsync): cars' telemetry and requests in,
 * answers out, stations' birth and Last Will. Topic tree, under
 * evc/v1/<company>/:
 *
 *   cars/<car>/telemetry      car -> server, QoS 0, stored in batches (COPY)
 *   cars/<car>/req            car -> server, QoS 1, {"type","request_id",...}
 *   cars/<car>/resp           server -> car, QoS 1, {"request_id","type","status","body"}
 *   stations/<station>/status station -> server, retained, Last Will = offline
 *   servers/<instance>        this worker process, retained, Last Will = offline
 *
 * Car topics are shared subscriptions ($share/evc-<company>/...), so replicas of
 * one company each handle a message once. The library's callback thread only
 * copies messages into bounded queues; parsing, the database and the answers
 * run on the bridge's own threads. Requests are idempotent by request_id.
 */
#ifndef EVC_MQTT_BRIDGE_H
#define EVC_MQTT_BRIDGE_H

#include "bounds.h"
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct app;
struct mqtt_bridge;

/* Starts connecting in the background; NULL when the client cannot be created. */
struct mqtt_bridge *mqtt_bridge_start(struct app *app);

bool mqtt_bridge_connected(struct mqtt_bridge *bridge);

/* Publishes body (reference stolen) to evc/v1/<company>/cars/<car>/<leaf>, QoS 1. */
void mqtt_bridge_notify(struct mqtt_bridge *bridge, const char *car, const char *leaf, json_t *body);

/* Counters for health and benchmarks (new reference). */
json_t *mqtt_bridge_stats(struct mqtt_bridge *bridge);

/* Stores what is buffered, publishes offline, disconnects and frees. */
void mqtt_bridge_stop(struct mqtt_bridge *bridge);

#define MQTT_MAX_JSON_DEPTH BOUNDS_JSON_DEPTH_MAX /* as HTTP_MAX_JSON_DEPTH */

/* A car's request as read from its payload. */
struct mqtt_bridge_request {
	json_t *req;                   /* new reference: the payload, NULL when not a JSON object */
	json_t *input;                 /* new reference: req without "type" and "request_id", what the core reads */
	const char *request_id, *type; /* borrowed from req (request_id NULL unless valid) */
	const char *code;              /* NULL when well-formed, else the 400's code */
	char message[320];
};

/*
 * Pure: reads the envelope of a request payload (len bytes): one JSON object
 * with a valid request_id and a known type carrying the fields it needs. false
 * with code and message for the 400 answer. Clear with mqtt_bridge_request_clear
 * either way. Fuzzed (tests/fuzz/fuzz_body_mqtt.c).
 */
bool mqtt_bridge_read_request(const char *payload, size_t len, struct mqtt_bridge_request *out)
	__attribute__((warn_unused_result));
void mqtt_bridge_request_clear(struct mqtt_bridge_request *q);

#endif
