/* Bounds on time values (core/bounds.c): charging windows and telemetry times. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "bounds.h"
#include "config.h"

#define NOW INT64_C(1795420800) /* 2026-11-23T08:00:00Z */

static struct config defaults(void)
{
	struct config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.window_max_hours = 24;
	cfg.window_max_ahead_days = 366;
	cfg.telemetry_retention_hours = 24;
	return cfg;
}

static void windows_within_the_rules_pass(void **state)
{
	(void)state;
	struct config cfg = defaults();
	assert_null(bounds_window(&cfg, NOW + 3600, NOW + 7200, NOW));
	assert_null(bounds_window(&cfg, NOW - BOUNDS_PAST_GRACE_SECONDS, NOW + 60, NOW));
	assert_null(bounds_window(&cfg, NOW, NOW + 24 * 3600, NOW));
	assert_null(bounds_window(&cfg, NOW + 366 * 86400, NOW + 366 * 86400 + 60, NOW));
}

static void windows_outside_the_rules_are_refused(void **state)
{
	(void)state;
	struct config cfg = defaults();
	assert_non_null(bounds_window(&cfg, NOW + 7200, NOW + 3600, NOW));          /* reversed */
	assert_non_null(bounds_window(&cfg, NOW + 3600, NOW + 3600, NOW));          /* empty */
	assert_non_null(bounds_window(&cfg, NOW, NOW + 24 * 3600 + 1, NOW));        /* too long */
	assert_non_null(bounds_window(&cfg, NOW - BOUNDS_PAST_GRACE_SECONDS - 1, NOW + 60, NOW)); /* past */
	assert_non_null(bounds_window(&cfg, NOW + 366 * 86400 + 1, NOW + 367 * 86400, NOW));     /* too far */
}

static void telemetry_times_are_bounded_by_retention_and_clock_skew(void **state)
{
	(void)state;
	struct config cfg = defaults();
	assert_null(bounds_telemetry(&cfg, NOW, NOW));
	assert_null(bounds_telemetry(&cfg, NOW - 24 * 3600, NOW));
	assert_null(bounds_telemetry(&cfg, NOW + BOUNDS_TELEMETRY_AHEAD_SECONDS, NOW));
	assert_non_null(bounds_telemetry(&cfg, NOW - 24 * 3600 - 1, NOW));
	assert_non_null(bounds_telemetry(&cfg, NOW + BOUNDS_TELEMETRY_AHEAD_SECONDS + 1, NOW));
	assert_non_null(bounds_telemetry(&cfg, INT64_MIN, NOW));
	assert_non_null(bounds_telemetry(&cfg, INT64_MAX, NOW));
	cfg.telemetry_retention_hours = 24 * 365;
	assert_null(bounds_telemetry(&cfg, NOW - 300 * 86400, NOW));
}

static void stats_periods_are_bounded(void **state)
{
	(void)state;
	struct config cfg = defaults();
	cfg.stats_max_days = 93;
	assert_null(bounds_stats_period(&cfg, NOW - 86400, NOW));
	assert_null(bounds_stats_period(&cfg, NOW - 93 * 86400, NOW));
	assert_non_null(bounds_stats_period(&cfg, NOW - 93 * 86400 - 1, NOW)); /* too long */
	assert_non_null(bounds_stats_period(&cfg, NOW, NOW));                  /* empty */
	assert_non_null(bounds_stats_period(&cfg, NOW, NOW - 1));              /* reversed */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(windows_within_the_rules_pass),
		cmocka_unit_test(windows_outside_the_rules_are_refused),
		cmocka_unit_test(telemetry_times_are_bounded_by_retention_and_clock_skew),
		cmocka_unit_test(stats_periods_are_bounded),
	};
	return cmocka_run_group_tests_name("bounds", tests, NULL, NULL);
}
