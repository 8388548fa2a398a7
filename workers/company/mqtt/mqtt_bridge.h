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

#include <jansson.h>
#include <stdbool.h>

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

#endif
