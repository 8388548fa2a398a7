/*
 * The worker's link to the MQTT broker (paho MQTTAsync). It keeps itself
 * connected (automatic reconnect, and retries of a first connect that failed),
 * announces the server on evc/v1/<company>/server/status (retained, with a Last
 * Will saying offline), and never blocks an HTTP thread.
 */
#ifndef EVC_MQTT_BRIDGE_H
#define EVC_MQTT_BRIDGE_H

#include <stdbool.h>

struct mqtt_bridge;

/* Starts connecting in the background; NULL when the client cannot be created. */
struct mqtt_bridge *mqtt_bridge_start(const char *url, const char *company_id);

bool mqtt_bridge_connected(struct mqtt_bridge *bridge);

/* Publishes offline, disconnects and frees. */
void mqtt_bridge_stop(struct mqtt_bridge *bridge);

#endif
