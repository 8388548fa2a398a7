/*
 * MQTT telemetry payloads and transaction ids, as they arrive from the network.
 * An accepted sample, written back as JSON, parses again to the same sample.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "telemetry.h"
#include "timeutil.h"
#include "twopc.h"
#include "validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The sample as a payload again, parsed: every field must come back the same. */
static void round_trip(const struct telemetry_sample *t)
{
	char ts[TIMEUTIL_RFC3339_LEN];
	timeutil_format_rfc3339(t->ts, ts);
	json_t *j = json_pack("{s:s, s:f, s:f, s:f, s:f, s:f}", "ts", ts, "lat", t->lat, "lon", t->lon, "soc", t->soc,
			      "speed_kmh", t->speed_kmh, "consumption_kwh_per_100km", t->consumption);
	if (t->profile[0] != '\0')
		json_object_set_new(j, "profile", json_string(t->profile));
	char *text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	struct telemetry_sample again;
	if (text == NULL || !telemetry_parse(text, strlen(text), &again) || again.ts != t->ts || again.lat != t->lat ||
	    again.lon != t->lon || again.soc != t->soc || again.speed_kmh != t->speed_kmh ||
	    again.consumption != t->consumption || strcmp(again.profile, t->profile) != 0)
		abort();
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct telemetry_sample t;
	if (telemetry_parse((const char *)data, size, &t)) {
		if (t.soc < 0 || t.soc > 100 || t.lat < -90 || t.lat > 90 || !timeutil_in_range(t.ts))
			abort(); /* a sample out of range must never be accepted */
		round_trip(&t);
	}

	char *text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	char coordinator[VALIDATE_COMPANY_MAX + 1], trip[37];
	if (twopc_gid_parse(text, coordinator, sizeof(coordinator), trip) && !validate_uuid(trip))
		abort();
	free(text);
	return 0;
}
