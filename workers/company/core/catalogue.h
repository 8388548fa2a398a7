/*
 * The public catalogue a car reads before it books: every station of the
 * federation (ours live, peers' from the cached catalogue) and the live
 * servers to ask. Read-only; the policy lets anyone read it.
 */
#ifndef EVC_CATALOGUE_H
#define EVC_CATALOGUE_H

#include <jansson.h>
#include <stdbool.h>

#include "actor.h"
#include "errors.h"
#include "jsonx.h"
#include "validate.h"

struct app;

#define CATALOGUE_MAX_CHARGERS 64 /* as the CHECK on stations.chargers */

/* The writable fields of a station, normalised to the text parameters SQL takes (NULL/"" when absent). */
struct station_fields {
	const char *id, *name, *city, *status; /* borrowed from the body */
	char lat[32], lon[32], chargers[16], power_kw[32], price[32];
	bool has_lat, has_lon, has_chargers, has_power, has_price;
	/* "connectors": PostgreSQL array literals, one entry per charger ("NULL" power: the station's power_kw). */
	char connectors[CATALOGUE_MAX_CHARGERS * (VALIDATE_CONNECTOR_MAX + 1) + 3];
	char charger_power[CATALOGUE_MAX_CHARGERS * 8 + 3];
	bool has_connectors;
	int nconnectors;
};

/*
 * Pure: reads and checks a station's body. company non-NULL: a creation, every
 * field required and "id" one of company's; NULL: a PATCH, every field
 * optional, no id. "connectors" (optional) lists every charger in order,
 * [{"type", "power_kw"?, "charger"?}]: its length is the number of chargers
 * (and must equal "chargers" when both are given). False with err (a 400)
 * otherwise. Fuzzed
 * (tests/fuzz/fuzz_body_station.c).
 */
bool catalogue_station_read(json_t *body, const char *company, struct station_fields *f, struct jsonx_error *err)
	__attribute__((warn_unused_result));

/* {"items":[station...]}: ours and the peers' cached ones, with their owner's health. */
enum evc_err catalogue_network_stations(struct app *app, const struct actor *actor, const char *request_id,
					struct core_result *r);

/* {"items":[server...]}: this server first, then the peers that are up, rotated per call. */
enum evc_err catalogue_servers(struct app *app, const struct actor *actor, const char *request_id,
			       struct core_result *r);

/* True for a station status a client may set or filter by: active, maintenance, offline. */
bool catalogue_is_station_status(const char *s);

#endif
