/* REST request bodies: the depth cap, the parser and the typed field readers. */
#include <jansson.h>
#include <stdint.h>

#include "http.h"
#include "jsonx.h"
#include "validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	if (!jsonx_depth_ok(text, size, HTTP_MAX_JSON_DEPTH))
		return 0;
	json_t *body = json_loadb(text, size, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(body)) {
		json_decref(body);
		return 0;
	}
	static const char *const allowed[] = { "id", "name", "city", "lat", "lon", "chargers", "station_id", "car_id", NULL };
	struct jsonx_error err;
	const char *s;
	double d;
	long long n;
	bool present;
	if (jsonx_string(body, "station_id", false, VALIDATE_STATION_MAX, &s, &err) && s != NULL)
		(void)validate_station_id(s);
	if (jsonx_string(body, "car_id", false, VALIDATE_CAR_MAX, &s, &err) && s != NULL)
		(void)validate_car_id(s);
	(void)jsonx_number(body, "lat", false, -90, 90, &d, &present, &err);
	(void)jsonx_integer(body, "chargers", false, 1, 64, &n, &present, &err);
	(void)jsonx_only_keys(body, allowed, &err);
	json_decref(body);
	return 0;
}
