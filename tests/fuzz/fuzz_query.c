/* Query strings: civetweb's decoder as the worker calls it, then the id rules. */
#include <civetweb.h>
#include <stdint.h>
#include <string.h>

#include "timeutil.h"
#include "validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = { "station_id", "car_id", "trip_id", "from", "to", "limit", "offset", "local" };
	char value[128];
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		int n = mg_get_var((const char *)data, size, names[i], value, sizeof(value));
		if (n < 0)
			continue;
		int64_t t;
		(void)validate_station_id(value);
		(void)validate_car_id(value);
		(void)validate_uuid(value);
		(void)timeutil_parse_rfc3339(value, &t);
	}
	return 0;
}
