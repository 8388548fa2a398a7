/*
 * Who may do what: one table (policy.c), read by every core function before it
 * touches anything. The README shows the same table as a matrix; keep both
 * in step (tests/system/test_policy_matrix.py walks it against a real stack).
 *
 * This module decides; it never reads the database. A core function finds the
 * item first (its owning car), then asks policy_check with that owner.
 */
#ifndef EVC_POLICY_H
#define EVC_POLICY_H

#include "actor.h"
#include "errors.h"

enum policy_action {
	POLICY_CATALOGUE_READ,    /* stations, availability, network, servers, health, roads */
	POLICY_ROUTE_PLAN,
	POLICY_RESERVATION_CREATE,
	POLICY_RESERVATION_READ,  /* one, or a list (a car sees its own only) */
	POLICY_RESERVATION_CANCEL,
	POLICY_RESERVATION_CHECKIN,
	POLICY_TRIP_CREATE,
	POLICY_TRIP_READ,
	POLICY_TRIP_CANCEL,
	POLICY_TRIP_FINISH,
	POLICY_WAITLIST_JOIN,
	POLICY_WAITLIST_READ,
	POLICY_WAITLIST_WITHDRAW,
	POLICY_TRIP_WAITLIST_JOIN,
	POLICY_TRIP_WAITLIST_READ,
	POLICY_TRIP_WAITLIST_LEAVE,
	POLICY_CAR_DATA_READ,     /* positions and telemetry */
	POLICY_CAR_TOKEN_MANAGE,  /* issue and revoke car tokens */
	POLICY_STATION_MANAGE,    /* create and change this company's stations */
	POLICY_STATS_READ,        /* the company's business figures (energy, revenue, utilisation) */
	POLICY_FAILPOINT_SET,
	POLICY_FEDERATION_CALL,   /* ping, prepare, commit, abort, decisions */
	POLICY_CHARGER_REPORT,    /* OCPP: boot, heartbeat, status, meter values of the station itself */
	POLICY_CHARGING_SESSION,  /* OCPP: authorize, start and stop a transaction at the station itself */
	POLICY_CHARGER_READ,      /* the chargers' OCPP state and connection */
	POLICY_CHARGER_MANAGE,    /* rotate a station's OCPP key, remote commands to its chargers */
	POLICY_PEER_MANAGE,       /* remove a peer and its credentials */
	POLICY_TRIP_LEGS_READ,    /* a trip's coordinator reads the live state of its legs held here */
	POLICY_ALERTS_READ,       /* what needs the operator now: stations offline, chargers faulted, peers down, ... */
	POLICY_ACTION_COUNT
};

/* The action's name in logs and in the README's matrix ("trip.cancel"). */
const char *policy_action_name(enum policy_action action);

/*
 * EVC_OK when actor may take action on an item owned by owner_car (NULL when
 * the action has no owning car, or the car is the one the request names). Else
 * the refusal: UNAUTHENTICATED for the public where a credential would help,
 * NOT_FOUND for a car reaching another car's item (its existence is not
 * revealed), FORBIDDEN otherwise. A refusal is written into r (may be NULL)
 * and logged at warn with the actor and the action.
 */
enum evc_err policy_check(const struct actor *actor, enum policy_action action, const char *owner_car,
			  const char *request_id, struct core_result *r) __attribute__((warn_unused_result));

/*
 * For a list: checks action, then sets *scope to the car whose items the list
 * may show: filter_car (may be NULL: all) for an operator or a peer, the car
 * itself for a car. A car's filter naming another car is refused (NOT_FOUND).
 */
enum evc_err policy_list_scope(const struct actor *actor, enum policy_action action, const char *filter_car,
			       const char **scope, const char *request_id, struct core_result *r)
	__attribute__((warn_unused_result));

/*
 * The car a booking is for: a car books for itself (a car_id naming another car
 * is FORBIDDEN); an operator must name a valid car. car_id: from the input, may
 * be NULL. *car points into actor or at car_id.
 */
enum evc_err policy_booking_car(const struct actor *actor, const char *car_id, const char **car,
				const char *request_id, struct core_result *r) __attribute__((warn_unused_result));

/*
 * policy_check for an action on one station's chargers: a station acts on its
 * own chargers only (another station's id is FORBIDDEN); the other kinds as
 * policy_check says.
 */
enum evc_err policy_check_station(const struct actor *actor, enum policy_action action, const char *station_id,
				  const char *request_id, struct core_result *r) __attribute__((warn_unused_result));

/* Whether the policy lets this kind of actor take action at all (for the README and the tests). */
bool policy_allows_kind(enum actor_kind kind, enum policy_action action);

#endif
