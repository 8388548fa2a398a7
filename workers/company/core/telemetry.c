#include "telemetry.h"
#include "bounds.h"
#include "jsonx.h"
#include "timeutil.h"
#include "validate.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* A number field within [min, max]; clears *ok otherwise. */
static double number(json_t *obj, const char *key, double min, double max, bool *ok)
{
	json_t *v = json_object_get(obj, key);
	double d = json_is_number(v) ? json_number_value(v) : NAN;
	if (!(d >= min && d <= max))
		*ok = false;
	return d;
}

bool telemetry_parse(const char *payload, size_t len, struct telemetry_sample *out)
{
	memset(out, 0, sizeof(*out));
	json_t *s = NULL;
	struct jsonx_error err;
	/* The one body parser: depth bounded before jansson recurses, duplicate keys refused. */
	bool ok = jsonx_load_object(payload, len, BOUNDS_JSON_DEPTH_MAX, &s, &err);
	out->lat = number(s, "lat", -90, 90, &ok);
	out->lon = number(s, "lon", -180, 180, &ok);
	out->soc = number(s, "soc", 0, 100, &ok); /* percent, as everywhere */
	out->speed_kmh = number(s, "speed_kmh", 0, 400, &ok);
	out->consumption = number(s, "consumption_kwh_per_100km", 0, 200, &ok);
	const char *ts = json_string_value(json_object_get(s, "ts"));
	if (ts == NULL || !timeutil_parse_rfc3339(ts, &out->ts))
		ok = false;
	const char *profile = json_string_value(json_object_get(s, "profile"));
	if (profile != NULL && strlen(profile) < sizeof(out->profile) && validate_car_id(profile))
		snprintf(out->profile, sizeof(out->profile), "%s", profile);
	json_decref(s);
	return ok;
}
