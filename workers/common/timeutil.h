/*
 * RFC 3339 timestamps, the only time format of the API. Parsing is strict:
 * PostgreSQL would accept "now", "yesterday" or "epoch", which a client must
 * never be able to send by accident. Parsing and formatting are total over one
 * range of times; nothing outside it is ever accepted or written.
 */
#ifndef EVC_TIMEUTIL_H
#define EVC_TIMEUTIL_H

#include <stdbool.h>
#include <stdint.h>

#define TIMEUTIL_RFC3339_LEN 21 /* "2026-11-23T08:00:00Z" plus NUL */

/*
 * The one range of times the API accepts, in UTC seconds since the epoch:
 * [2000-01-01T00:00:00Z, 2100-01-01T00:00:00Z), the maximum exclusive. Within it
 * every time has the fixed 20-character form, and format then parse is the identity.
 */
#define TIMEUTIL_MIN_EPOCH INT64_C(946684800)  /* 2000-01-01T00:00:00Z, first accepted second */
#define TIMEUTIL_MAX_EPOCH INT64_C(4102444800) /* 2100-01-01T00:00:00Z, first refused second */

/* True when epoch lies within [TIMEUTIL_MIN_EPOCH, TIMEUTIL_MAX_EPOCH). */
bool timeutil_in_range(int64_t epoch);

/*
 * Parses "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)" into seconds since the
 * epoch (the fraction, at most 9 digits, is dropped; offsets up to ±23:59). The
 * offset is applied first: the UTC instant must lie in the accepted range, so
 * "2000-01-01T00:30:00+01:00" (1999 in UTC) is refused. False on anything else,
 * and then *epoch is left untouched.
 */
bool timeutil_parse_rfc3339(const char *text, int64_t *epoch) __attribute__((warn_unused_result));

/*
 * Writes the UTC form "YYYY-MM-DDTHH:MM:SSZ" into out (TIMEUTIL_RFC3339_LEN bytes,
 * always NUL-terminated). Total over int64: an epoch before the range is written
 * as TIMEUTIL_MIN_EPOCH, one at or after its end as TIMEUTIL_MAX_EPOCH - 1
 * (2099-12-31T23:59:59Z), so the output always parses back.
 */
void timeutil_format_rfc3339(int64_t epoch, char out[TIMEUTIL_RFC3339_LEN]);

int64_t timeutil_now(void);

#endif
