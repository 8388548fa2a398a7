#include "bounds.h"
#include "config.h"

const char *bounds_window(const struct config *cfg, int64_t start, int64_t end, int64_t now)
{
	if (end <= start)
		return "'end' must be after 'start'";
	if (end - start > (int64_t)cfg->window_max_hours * 3600)
		return "the window is longer than the longest allowed (EVC_WINDOW_MAX_HOURS)";
	if (start < now - BOUNDS_PAST_GRACE_SECONDS)
		return "the window starts in the past";
	if (start > now + (int64_t)cfg->window_max_ahead_days * 86400)
		return "the window starts further ahead than allowed (EVC_WINDOW_MAX_AHEAD_DAYS)";
	return NULL;
}

const char *bounds_telemetry(const struct config *cfg, int64_t ts, int64_t now)
{
	if (ts < now - (int64_t)cfg->telemetry_retention_hours * 3600)
		return "older than EVC_TELEMETRY_RETENTION_HOURS";
	if (ts > now + BOUNDS_TELEMETRY_AHEAD_SECONDS)
		return "in the future";
	return NULL;
}

const char *bounds_stats_period(const struct config *cfg, int64_t from, int64_t to)
{
	if (to <= from)
		return "'to' must be after 'from'";
	if (to - from > (int64_t)cfg->stats_max_days * 86400)
		return "the period is longer than the longest allowed (EVC_STATS_MAX_DAYS)";
	return NULL;
}
