/*
 * Who acts: the party an adapter's transport proved, handed to every core
 * function. The core never looks at headers, topics or tokens: it trusts the
 * actor it is given, and each adapter builds one only from what it verified
 * (REST: a car token, the operator token or a peer token; MQTT: the broker's
 * login, through its ACL; OCPP: the station's key, by HTTP Basic at the
 * WebSocket upgrade; the federation: the peer token, plus the car a peer
 * vouches for when it forwards a car's request).
 */
#ifndef EVC_ACTOR_H
#define EVC_ACTOR_H

#include <stdbool.h>
#include <stddef.h>

#include "validate.h"

enum actor_kind {
	ACTOR_PUBLIC,   /* nobody proved anything */
	ACTOR_CAR,      /* id: the car */
	ACTOR_OPERATOR, /* id: the company whose operator token was shown (always this one) */
	ACTOR_PEER,     /* id: the peer company whose federation token was shown */
	ACTOR_STATION,  /* id: the station (OCPP charge point) whose own key was shown at the WebSocket upgrade */
};

#define ACTOR_DESCRIBE_MAX (VALIDATE_STATION_MAX + VALIDATE_COMPANY_MAX + 24)

struct actor {
	enum actor_kind kind;
	char id[VALIDATE_STATION_MAX + 1]; /* a car, a company or a station */
	char via[VALIDATE_COMPANY_MAX + 1]; /* the peer that forwarded a car's request, or "" */
};

struct actor actor_public(void);
struct actor actor_car(const char *car_id);
struct actor actor_operator(const char *company_id);
struct actor actor_peer(const char *company_id);
struct actor actor_station(const char *station_id);

/* "public", "car:car-001", "car:car-001 via b", "operator:a", "peer:b", "station:a-x": for log lines. */
const char *actor_describe(const struct actor *a, char out[ACTOR_DESCRIBE_MAX]);

#endif
