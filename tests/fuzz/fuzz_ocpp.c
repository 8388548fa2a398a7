/* OCPP-J frames from a charge point: the framing, then the official schema of the action (run from the repository root). */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "ocpp_frame.h"
#include "ocpp_schema.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ocpp_schemas *schemas;
	char why[320], err[256];
	if (schemas == NULL && (schemas = ocpp_schemas_load("docs/ocpp/schemas", err, sizeof(err))) == NULL) {
		fprintf(stderr, "fuzz_ocpp: %s\n", err);
		abort();
	}
	struct ocpp_frame f;
	if (ocpp_frame_parse((const char *)data, size, &f, why, sizeof(why)) == NULL && f.payload != NULL) {
		(void)ocpp_schema_check(schemas, f.action[0] != '\0' ? f.action : "StartTransaction", f.payload, why,
					sizeof(why));
		(void)ocpp_schema_check(schemas, "MeterValues", f.payload, why, sizeof(why));
	}
	ocpp_frame_clear(&f);
	return 0;
}
