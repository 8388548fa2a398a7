/*
 * Who acts: the party an adapter's transport proved, handed to every core
 * function. The core never looks at headers, topics or tokens: it trusts the
 * actor it is given, and each adapter builds one only from what it verified
 * (REST: a car token, the operator token or a peer token; MQTT: the broker's
 * login, through its ACL; the federation: the peer token, plus the car a peer
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
};

#define ACTOR_DESCRIBE_MAX (VALIDATE_CAR_MAX + VALIDATE_COMPANY_MAX + 24)

struct actor {
	enum actor_kind kind;
	char id[VALIDATE_CAR_MAX + 1];
	char via[VALIDATE_COMPANY_MAX + 1]; /* the peer that forwarded a car's request, or "" */
};

struct actor actor_public(void);
struct actor actor_car(const char *car_id);
struct actor actor_operator(const char *company_id);
struct actor actor_peer(const char *company_id);

/* "public", "car:car-001", "car:car-001 via b", "operator:a", "peer:b": for log lines. */
const char *actor_describe(const struct actor *a, char out[ACTOR_DESCRIBE_MAX]);

#endif
