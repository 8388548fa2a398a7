#include "actor.h"

#include <stdio.h>
#include <string.h>

static struct actor make(enum actor_kind kind, const char *id)
{
	struct actor a;
	memset(&a, 0, sizeof(a));
	a.kind = kind;
	snprintf(a.id, sizeof(a.id), "%s", id != NULL ? id : "");
	return a;
}

struct actor actor_public(void)
{
	return make(ACTOR_PUBLIC, NULL);
}

struct actor actor_car(const char *car_id)
{
	return make(ACTOR_CAR, car_id);
}

struct actor actor_operator(const char *company_id)
{
	return make(ACTOR_OPERATOR, company_id);
}

struct actor actor_peer(const char *company_id)
{
	return make(ACTOR_PEER, company_id);
}

struct actor actor_station(const char *station_id)
{
	return make(ACTOR_STATION, station_id);
}

const char *actor_describe(const struct actor *a, char out[ACTOR_DESCRIBE_MAX])
{
	static const char *const kinds[] = { "public", "car", "operator", "peer", "station" };
	if (a->kind == ACTOR_PUBLIC)
		snprintf(out, ACTOR_DESCRIBE_MAX, "public");
	else if (a->via[0] != '\0')
		snprintf(out, ACTOR_DESCRIBE_MAX, "%s:%s/via:%s", kinds[a->kind], a->id, a->via);
	else
		snprintf(out, ACTOR_DESCRIBE_MAX, "%s:%s", kinds[a->kind], a->id);
	return out;
}
