/*
 * The simulator's RFC 3339 times (UTC, whole seconds, "Z"), shared by the cars
 * and the charge points. The simulator links none of the worker's files, so
 * these are its own small copies of what timeutil does there.
 */
#ifndef EVC_SIMTIME_H
#define EVC_SIMTIME_H

#include <string.h>
#include <time.h>

static inline void rfc3339(double epoch, char out[32])
{
	time_t t = (time_t)epoch;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Seconds since the epoch of "YYYY-MM-DDTHH:MM:SSZ" (a fraction is ignored); 0 when it is not one. */
static inline double parse_time(const char *text)
{
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	if (text == NULL || strptime(text, "%Y-%m-%dT%H:%M:%S", &tm) == NULL)
		return 0;
	return (double)timegm(&tm);
}

#endif
