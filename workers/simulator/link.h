/*
 * One MQTT connection of the simulator (a car or a station), over paho
 * MQTTAsync: reconnects by itself, re-subscribes after every reconnect, and
 * hands received messages to the simulation thread through a small inbox.
 */
#ifndef EVC_SIM_LINK_H
#define EVC_SIM_LINK_H

#include <jansson.h>
#include <stdbool.h>

struct link;

/*
 * Connects in the background. username/password: broker credentials (NULL:
 * anonymous). will_topic/will_payload: the Last Will (may be NULL). subscribe:
 * a topic filter to follow (may be NULL). NULL on failure.
 */
struct link *link_open(const char *url, const char *client_id, const char *username, const char *password,
		       const char *will_topic, const char *will_payload, const char *subscribe);

void link_publish(struct link *l, const char *topic, const char *payload, int qos, bool retained);

/* The oldest received message as parsed JSON (new reference), or NULL; an
 * object carries its topic's last level in "_leaf" ("resp", "waitlist"). */
json_t *link_take(struct link *l);

bool link_connected(struct link *l);

/* Retries a first connection that failed; call now and then. */
void link_poll(struct link *l);

/* Disconnects (clean: no Last Will) and frees. */
void link_close(struct link *l);

#endif
