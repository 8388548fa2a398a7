/* MQTT telemetry payloads and transaction ids, as they arrive from the network. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "telemetry.h"
#include "twopc.h"
#include "validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct telemetry_sample t;
	if (telemetry_parse((const char *)data, size, &t) && (t.soc < 0 || t.soc > 100 || t.lat < -90 || t.lat > 90))
		abort(); /* a sample out of range must never be accepted */

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
