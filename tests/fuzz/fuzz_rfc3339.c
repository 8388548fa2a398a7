/* Time and range parsing: any bytes in, a valid time or a clean refusal out. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "timeutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	int64_t epoch;
	if (timeutil_parse_rfc3339(text, &epoch)) {
		/* Whatever parses must format and parse back to the same instant. */
		char out[TIMEUTIL_RFC3339_LEN];
		int64_t again;
		timeutil_format_rfc3339(epoch, out);
		if (!timeutil_parse_rfc3339(out, &again) || again != epoch)
			abort();
	}
	free(text);
	return 0;
}
