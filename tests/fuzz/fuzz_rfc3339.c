/* Time and range parsing: any bytes in, a valid time or a clean refusal out. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "timeutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Formats epoch into a buffer of exactly the documented size (ASan sees any overrun); aborts unless it parses back. */
static int64_t format_and_parse(int64_t epoch)
{
	char out[TIMEUTIL_RFC3339_LEN];
	int64_t again;
	timeutil_format_rfc3339(epoch, out);
	if (strlen(out) != TIMEUTIL_RFC3339_LEN - 1 || !timeutil_parse_rfc3339(out, &again))
		abort();
	return again;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	int64_t epoch;
	/* Whatever parses lies in the range and must format and parse back to the same instant. */
	if (timeutil_parse_rfc3339(text, &epoch) && (!timeutil_in_range(epoch) || format_and_parse(epoch) != epoch))
		abort();
	free(text);

	/* The same bytes as int64 values: any of them formats within the buffer, clamped to the range. */
	for (size_t i = 0; i + sizeof(int64_t) <= size && i < 8 * sizeof(int64_t); i += sizeof(int64_t)) {
		memcpy(&epoch, data + i, sizeof(epoch));
		int64_t expect = epoch < TIMEUTIL_MIN_EPOCH ? TIMEUTIL_MIN_EPOCH
			       : epoch >= TIMEUTIL_MAX_EPOCH ? TIMEUTIL_MAX_EPOCH - 1
							     : epoch;
		if (format_and_parse(epoch) != expect)
			abort();
	}
	return 0;
}
