/*
 * RFC 3339 timestamps, the only time format of the API. Parsing is strict:
 * PostgreSQL would accept "now", "yesterday" or "epoch", which a client must
 * never be able to send by accident.
 */
#ifndef EVC_TIMEUTIL_H
#define EVC_TIMEUTIL_H

#include <stdbool.h>
#include <stdint.h>

#define TIMEUTIL_RFC3339_LEN 21 /* "2026-11-23T08:00:00Z" plus NUL */

/*
 * Parses "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)" into seconds since the
 * epoch (the fraction is dropped). Years 1970..9999. False on anything else.
 */
bool timeutil_parse_rfc3339(const char *text, int64_t *epoch) __attribute__((warn_unused_result));

/* Writes the UTC form "YYYY-MM-DDTHH:MM:SSZ" into out (TIMEUTIL_RFC3339_LEN bytes). */
void timeutil_format_rfc3339(int64_t epoch, char out[TIMEUTIL_RFC3339_LEN]);

int64_t timeutil_now(void);

#endif
