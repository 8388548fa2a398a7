/* RFC 3339 parsing: what a client may send as a time, and what it may not. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "timeutil.h"

static void parses_utc_and_offsets(void **state)
{
	(void)state;
	int64_t t;
	assert_true(timeutil_parse_rfc3339("1970-01-01T00:00:00Z", &t));
	assert_int_equal(t, 0);
	assert_true(timeutil_parse_rfc3339("2026-11-23T08:00:00Z", &t));
	assert_int_equal(t, 1795420800);
	assert_true(timeutil_parse_rfc3339("2026-11-23T05:00:00-03:00", &t));
	assert_int_equal(t, 1795420800);
	assert_true(timeutil_parse_rfc3339("2026-11-23t08:00:00.123456z", &t));
	assert_int_equal(t, 1795420800);
	assert_true(timeutil_parse_rfc3339("2028-02-29T12:00:00+00:00", &t));
}

static void refuses_what_postgres_would_guess(void **state)
{
	(void)state;
	int64_t t;
	const char *bad[] = {
		"", "now", "yesterday", "epoch", "2026-11-23", "2026-11-23 08:00:00Z",
		"2026-11-23T08:00:00", "2026-13-01T00:00:00Z", "2026-02-29T00:00:00Z",
		"2026-11-31T00:00:00Z", "2026-11-23T24:00:00Z", "2026-11-23T08:60:00Z",
		"2026-11-23T08:00:60Z", "2026-11-23T08:00:00.Z", "2026-11-23T08:00:00Z ",
		"2026-11-23T08:00:00+0300", "2026-11-23T08:00:00+24:00", "1969-12-31T23:59:59Z",
		"+2026-11-23T08:00:00Z", "2026-11-23T08:00:00.1234567890Z",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (timeutil_parse_rfc3339(bad[i], &t))
			fail_msg("accepted '%s'", bad[i]);
	}
}

static void formats_round_trip(void **state)
{
	(void)state;
	char out[TIMEUTIL_RFC3339_LEN];
	int64_t t;
	timeutil_format_rfc3339(1795420800, out);
	assert_string_equal(out, "2026-11-23T08:00:00Z");
	assert_true(timeutil_parse_rfc3339(out, &t));
	assert_int_equal(t, 1795420800);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parses_utc_and_offsets),
		cmocka_unit_test(refuses_what_postgres_would_guess),
		cmocka_unit_test(formats_round_trip),
	};
	return cmocka_run_group_tests_name("timeutil", tests, NULL, NULL);
}
