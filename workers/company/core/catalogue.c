#include "catalogue.h"
#include "coredb.h"
#include "federation.h"
#include "policy.h"
#include "validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum evc_err catalogue_network_stations(struct app *app, const struct actor *actor, const char *request_id,
					struct core_result *r)
{
	static const char sql[] =
		"SELECT json_build_object('items', coalesce(json_agg(x.station ORDER BY x.id), '[]'::json)) FROM ("
		"  SELECT s.id, (station_json(s)::jsonb || jsonb_build_object('owner_status', 'up', 'cached', false)) AS station"
		"  FROM stations s"
		"  UNION ALL"
		"  SELECT ps.station_id, ps.data || jsonb_build_object('owner_status', p.status, 'cached', true)"
		"  FROM peer_stations ps JOIN peers p ON p.id = ps.company) x";
	if (policy_check(actor, POLICY_CATALOGUE_READ, NULL, request_id, r) != EVC_OK)
		return r->err;
	return coredb_query_json(app, r, "no stations", sql, 0, NULL, request_id);
}

enum evc_err catalogue_servers(struct app *app, const struct actor *actor, const char *request_id,
			       struct core_result *r)
{
	(void)app;
	if (policy_check(actor, POLICY_CATALOGUE_READ, NULL, request_id, r) != EVC_OK)
		return r->err;
	core_ok(r, json_pack("{s:o}", "items", federation_servers()));
	return EVC_OK;
}

static const char *const station_statuses[] = { "active", "maintenance", "offline", NULL };

bool catalogue_is_station_status(const char *s)
{
	for (const char *const *p = station_statuses; *p != NULL; p++)
		if (strcmp(*p, s) == 0)
			return true;
	return false;
}

static bool connector_error(struct jsonx_error *err, size_t i, const char *what)
{
	char why[160];
	size_t n = strnlen(what, sizeof(why) - 1); /* what may be err->message itself */
	memcpy(why, what, n);
	why[n] = '\0';
	err->code = "invalid_field";
	snprintf(err->message, sizeof(err->message), "field 'connectors', charger %zu: %s", i + 1, why);
	return false;
}

/* "connectors": one {type, power_kw?, charger?} per charger, into two array literals. */
static bool read_connectors(json_t *body, struct station_fields *f, struct jsonx_error *err)
{
	static const char *const keys[] = { "type", "power_kw", "charger", NULL };
	json_t *in = json_object_get(body, "connectors"), *c;
	size_t i, n = json_array_size(in), used = 0, pused = 0;
	if (in == NULL)
		return true;
	if (!json_is_array(in) || n < 1 || n > CATALOGUE_MAX_CHARGERS) {
		err->code = "invalid_field";
		snprintf(err->message, sizeof(err->message),
			 "field 'connectors' must be an array of 1 to %d chargers [{type, power_kw?}]", CATALOGUE_MAX_CHARGERS);
		return false;
	}
	json_array_foreach(in, i, c) {
		const char *type;
		double power;
		long long charger;
		bool has_power = false, has_charger = false;
		if (!json_is_object(c))
			return connector_error(err, i, "must be an object {type, power_kw?}");
		if (!jsonx_only_keys(c, keys, err) || !jsonx_string(c, "type", true, 32, &type, err) ||
		    !jsonx_number(c, "power_kw", false, 0.1, 1000, &power, &has_power, err) ||
		    !jsonx_integer(c, "charger", false, 1, CATALOGUE_MAX_CHARGERS, &charger, &has_charger, err))
			return connector_error(err, i, err->message);
		if (!validate_connector(type))
			return connector_error(err, i, "'type' must be " VALIDATE_CONNECTORS);
		if (has_charger && charger != (long long)i + 1)
			return connector_error(err, i, "out of order: entry n is charger n");
		used += (size_t)snprintf(f->connectors + used, sizeof(f->connectors) - used, "%s%s", i ? "," : "{", type);
		if (has_power)
			pused += (size_t)snprintf(f->charger_power + pused, sizeof(f->charger_power) - pused, "%s%.1f",
						  i ? "," : "{", power);
		else
			pused += (size_t)snprintf(f->charger_power + pused, sizeof(f->charger_power) - pused, "%sNULL",
						  i ? "," : "{");
	}
	snprintf(f->connectors + used, sizeof(f->connectors) - used, "}");
	snprintf(f->charger_power + pused, sizeof(f->charger_power) - pused, "}");
	f->has_connectors = true;
	f->nconnectors = (int)n;
	if (!f->has_chargers) { /* a PATCH that lists the chargers changes their number too */
		snprintf(f->chargers, sizeof(f->chargers), "%zu", n);
		f->has_chargers = true;
	} else if (strtol(f->chargers, NULL, 10) != (long)n) {
		err->code = "invalid_field";
		snprintf(err->message, sizeof(err->message),
			 "field 'connectors' lists %zu chargers but field 'chargers' says %s: one entry per charger", n,
			 f->chargers);
		return false;
	}
	return true;
}

/* Reads and validates the writable fields; required for creation, optional for PATCH. */
static bool read_fields(json_t *body, bool required, struct station_fields *f, struct jsonx_error *err)
{
	double lat, lon, power, price;
	long long chargers;

	memset(f, 0, sizeof(*f));
	if (!jsonx_string(body, "name", required, 200, &f->name, err) ||
	    !jsonx_string(body, "city", required, 100, &f->city, err) ||
	    !jsonx_number(body, "lat", required, -90, 90, &lat, &f->has_lat, err) ||
	    !jsonx_number(body, "lon", required, -180, 180, &lon, &f->has_lon, err) ||
	    !jsonx_integer(body, "chargers", required, 1, 64, &chargers, &f->has_chargers, err) ||
	    !jsonx_number(body, "power_kw", required, 0.1, 1000, &power, &f->has_power, err) ||
	    !jsonx_number(body, "price_per_kwh", required, 0, 1000, &price, &f->has_price, err) ||
	    !jsonx_string(body, "status", false, 16, &f->status, err))
		return false;
	if (f->status != NULL && !catalogue_is_station_status(f->status)) {
		err->code = "invalid_field";
		snprintf(err->message, sizeof(err->message), "field 'status' must be active, maintenance or offline");
		return false;
	}
	if (f->has_lat)
		snprintf(f->lat, sizeof(f->lat), "%.7f", lat);
	if (f->has_lon)
		snprintf(f->lon, sizeof(f->lon), "%.7f", lon);
	if (f->has_chargers)
		snprintf(f->chargers, sizeof(f->chargers), "%lld", chargers);
	if (f->has_power)
		snprintf(f->power_kw, sizeof(f->power_kw), "%.1f", power);
	if (f->has_price)
		snprintf(f->price, sizeof(f->price), "%.2f", price);
	return read_connectors(body, f, err);
}

bool catalogue_station_read(json_t *body, const char *company, struct station_fields *f, struct jsonx_error *err)
{
	static const char *const create_keys[] = { "id", "name", "city", "lat", "lon", "chargers",
						   "power_kw", "price_per_kwh", "status", "connectors", NULL };
	char owner[VALIDATE_COMPANY_MAX + 1];
	const char *id = NULL;
	bool create = company != NULL;
	if (!jsonx_only_keys(body, create ? create_keys : create_keys + 1, err) ||
	    (create && !jsonx_string(body, "id", true, VALIDATE_STATION_MAX, &id, err)) || !read_fields(body, create, f, err))
		return false;
	f->id = id;
	if (create && (!validate_station_company(id, owner, sizeof(owner)) || strcmp(owner, company) != 0)) {
		err->code = "invalid_field";
		snprintf(err->message, sizeof(err->message),
			 "field 'id' must look like '%s-<code>', code of [a-z0-9-], at most 48 characters", company);
		return false;
	}
	return true;
}
