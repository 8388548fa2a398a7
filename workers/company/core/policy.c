#include "policy.h"
#include "log.h"

#include <string.h>

/* Who may act. CAR means "for itself only": its own bookings, its own data. */
#define PUBLIC (1u << 0)
#define CAR (1u << 1)
#define OPERATOR (1u << 2) /* an operator of THIS company: everything this server keeps */
#define PEER (1u << 3)
#define STATION (1u << 4) /* an OCPP charge point: for itself only, its own chargers */

static const struct {
	const char *name;
	unsigned who;
} policy_table[POLICY_ACTION_COUNT] = {
	/*                              action                      public   own car  operator   peer  own station */
	[POLICY_CATALOGUE_READ]      = { "catalogue.read",         PUBLIC | CAR   | OPERATOR | PEER },
	[POLICY_ROUTE_PLAN]          = { "route.plan",                      CAR   | OPERATOR        },
	[POLICY_RESERVATION_CREATE]  = { "reservation.create",              CAR   | OPERATOR        },
	[POLICY_RESERVATION_READ]    = { "reservation.read",                CAR   | OPERATOR        },
	[POLICY_RESERVATION_CANCEL]  = { "reservation.cancel",              CAR   | OPERATOR        },
	[POLICY_RESERVATION_CHECKIN] = { "reservation.checkin",             CAR   | OPERATOR        },
	[POLICY_TRIP_CREATE]         = { "trip.create",                     CAR   | OPERATOR        },
	[POLICY_TRIP_READ]           = { "trip.read",                       CAR   | OPERATOR        },
	[POLICY_TRIP_CANCEL]         = { "trip.cancel",                     CAR   | OPERATOR        },
	[POLICY_TRIP_FINISH]         = { "trip.finish",                     CAR   | OPERATOR        },
	[POLICY_WAITLIST_JOIN]       = { "waitlist.join",                   CAR   | OPERATOR        },
	[POLICY_WAITLIST_READ]       = { "waitlist.read",                   CAR   | OPERATOR        },
	[POLICY_WAITLIST_WITHDRAW]   = { "waitlist.withdraw",               CAR   | OPERATOR        },
	[POLICY_TRIP_WAITLIST_JOIN]  = { "trip_waitlist.join",              CAR   | OPERATOR        },
	[POLICY_TRIP_WAITLIST_READ]  = { "trip_waitlist.read",              CAR   | OPERATOR        },
	[POLICY_TRIP_WAITLIST_LEAVE] = { "trip_waitlist.leave",             CAR   | OPERATOR        },
	[POLICY_CAR_DATA_READ]       = { "car.data.read",                   CAR   | OPERATOR        },
	[POLICY_CAR_TOKEN_MANAGE]    = { "car.token.manage",                        OPERATOR        },
	[POLICY_STATION_MANAGE]      = { "station.manage",                          OPERATOR        },
	[POLICY_STATS_READ]          = { "stats.read",                              OPERATOR        },
	[POLICY_FAILPOINT_SET]       = { "failpoint.set",                           OPERATOR        },
	[POLICY_FEDERATION_CALL]     = { "federation.call",                                    PEER },
	[POLICY_CHARGER_REPORT]      = { "charger.report",                                            STATION },
	[POLICY_CHARGING_SESSION]    = { "charging.session",                                          STATION },
	[POLICY_CHARGER_READ]        = { "charger.read",                            OPERATOR        },
	[POLICY_CHARGER_MANAGE]      = { "charger.manage",                          OPERATOR        },
	[POLICY_PEER_MANAGE]         = { "peer.manage",                             OPERATOR        },
	[POLICY_TRIP_LEGS_READ]      = { "trip.legs.read",                                     PEER },
	[POLICY_ALERTS_READ]         = { "alerts.read",                             OPERATOR        },
};

static unsigned kind_bit(enum actor_kind kind)
{
	switch (kind) {
	case ACTOR_CAR:
		return CAR;
	case ACTOR_OPERATOR:
		return OPERATOR;
	case ACTOR_PEER:
		return PEER;
	case ACTOR_STATION:
		return STATION;
	case ACTOR_PUBLIC:
		break;
	}
	return PUBLIC;
}

const char *policy_action_name(enum policy_action action)
{
	return (unsigned)action < POLICY_ACTION_COUNT ? policy_table[action].name : "unknown";
}

bool policy_allows_kind(enum actor_kind kind, enum policy_action action)
{
	if ((unsigned)action >= POLICY_ACTION_COUNT)
		return false;
	unsigned who = policy_table[action].who;
	return (who & PUBLIC) != 0 || (who & kind_bit(kind)) != 0;
}

enum evc_err policy_check(const struct actor *actor, enum policy_action action, const char *owner_car,
			  const char *request_id, struct core_result *r)
{
	enum evc_err err = EVC_OK;
	const char *code = "forbidden", *why = "this actor may not do that";
	if (!policy_allows_kind(actor->kind, action)) {
		if (actor->kind == ACTOR_PUBLIC) {
			err = EVC_ERR_UNAUTHENTICATED;
			code = "unauthorized";
			why = "this needs a credential: a car token or the operator token (Authorization: Bearer ...)";
		} else {
			err = EVC_ERR_FORBIDDEN;
		}
	} else if (actor->kind == ACTOR_CAR && owner_car != NULL && strcmp(owner_car, actor->id) != 0 &&
		   (policy_table[action].who & PUBLIC) == 0) {
		/* Another car's item: answered as if it did not exist, so nothing leaks. */
		err = EVC_ERR_NOT_FOUND;
		code = "not_found";
		why = "no such item of this car";
	}
	if (err == EVC_OK)
		return EVC_OK;
	char who[ACTOR_DESCRIBE_MAX];
	log_warn("event=refused req=%s actor=%s action=%s owner=%s", request_id != NULL ? request_id : "-",
		 actor_describe(actor, who), policy_action_name(action), owner_car != NULL ? owner_car : "-");
	if (r != NULL)
		core_fail(r, err, code, "%s (%s)", why, policy_action_name(action));
	return err;
}

enum evc_err policy_list_scope(const struct actor *actor, enum policy_action action, const char *filter_car,
			       const char **scope, const char *request_id, struct core_result *r)
{
	*scope = filter_car;
	if (actor->kind != ACTOR_CAR)
		return policy_check(actor, action, NULL, request_id, r);
	*scope = actor->id;
	return policy_check(actor, action, filter_car, request_id, r);
}

enum evc_err policy_booking_car(const struct actor *actor, const char *car_id, const char **car,
				const char *request_id, struct core_result *r)
{
	*car = NULL;
	if (actor->kind == ACTOR_CAR) {
		if (car_id != NULL && strcmp(car_id, actor->id) != 0) {
			char who[ACTOR_DESCRIBE_MAX];
			log_warn("event=refused req=%s actor=%s action=book_for_other_car car=%s",
				 request_id != NULL ? request_id : "-", actor_describe(actor, who), car_id);
			return core_fail(r, EVC_ERR_FORBIDDEN, "forbidden", "a car books for itself only");
		}
		*car = actor->id;
		return EVC_OK;
	}
	if (car_id == NULL || !validate_car_id(car_id))
		return core_fail(r, EVC_ERR_INVALID, "invalid_field", "field 'car_id' must be 1 to 64 of [A-Za-z0-9_.:-]");
	*car = car_id;
	return EVC_OK;
}

enum evc_err policy_check_station(const struct actor *actor, enum policy_action action, const char *station_id,
				  const char *request_id, struct core_result *r)
{
	enum evc_err err = policy_check(actor, action, NULL, request_id, r);
	if (err != EVC_OK)
		return err;
	if (actor->kind != ACTOR_STATION || (station_id != NULL && strcmp(station_id, actor->id) == 0))
		return EVC_OK;
	char who[ACTOR_DESCRIBE_MAX];
	log_warn("event=refused req=%s actor=%s action=%s station=%s", request_id != NULL ? request_id : "-",
		 actor_describe(actor, who), policy_action_name(action), station_id != NULL ? station_id : "-");
	if (r != NULL)
		core_fail(r, EVC_ERR_FORBIDDEN, "forbidden", "a station acts on its own chargers only (%s)",
			  policy_action_name(action));
	return EVC_ERR_FORBIDDEN;
}
