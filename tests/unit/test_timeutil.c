/* RFC 3339 parsing: what a client may send as a time, and what it may not. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "timeutil.h"

static void parses_utc_and_offsets(void **state)
{
	(void)state;
	int64_t t;
	assert_true(timeutil_parse_rfc3339("2000-01-01T00:00:00Z", &t));
	assert_int_equal(t, TIMEUTIL_MIN_EPOCH);
	assert_true(timeutil_parse_rfc3339("2026-11-23T08:00:00Z", &t));
	assert_int_equal(t, 1795420800);
	assert_true(timeutil_parse_rfc3339("2026-11-23T05:00:00-03:00", &t));
	assert_int_equal(t, 1795420800);
	assert_true(timeutil_parse_rfc3339("2026-11-23t08:00:00.123456z", &t));
	assert_int_equal(t, 1795420800);
	assert_true(timeutil_parse_rfc3339("2028-02-29T12:00:00+00:00", &t));
}

static void accepts_the_range_in_utc(void **state)
{
	(void)state;
	int64_t t;
	assert_true(timeutil_parse_rfc3339("2099-12-31T23:59:59Z", &t));
	assert_int_equal(t, TIMEUTIL_MAX_EPOCH - 1);
	assert_true(timeutil_parse_rfc3339("2099-12-31T23:59:59.999999999Z", &t));
	assert_int_equal(t, TIMEUTIL_MAX_EPOCH - 1);
	/* The local year may lie outside the range when the UTC instant does not. */
	assert_true(timeutil_parse_rfc3339("1999-12-31T19:00:00-05:00", &t));
	assert_int_equal(t, TIMEUTIL_MIN_EPOCH);
	assert_true(timeutil_parse_rfc3339("2100-01-01T00:30:00+01:00", &t));
	assert_int_equal(t, TIMEUTIL_MAX_EPOCH - 1800);
	assert_true(timeutil_parse_rfc3339("2000-01-01T23:59:00+23:59", &t));
	assert_int_equal(t, TIMEUTIL_MIN_EPOCH);
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

static void refuses_times_outside_the_range(void **state)
{
	(void)state;
	const char *bad[] = {
		"9999-12-31T23:59:59-05:00", /* year 10000 in UTC: overflowed the formatter */
		"9999-12-31T23:59:59Z", "9999-12-31T23:59:59+23:59", "2100-01-01T00:00:00Z",
		"2099-12-31T23:59:59-00:01", "1999-12-31T23:59:59Z", "2000-01-01T00:30:00+01:00",
		"2000-01-01T00:00:00+00:01", "1970-01-01T00:00:00Z", "0000-01-01T00:00:00Z",
		"0000-01-01T00:00:00+23:59",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t t = 42;
		if (timeutil_parse_rfc3339(bad[i], &t))
			fail_msg("accepted '%s'", bad[i]);
		assert_int_equal(t, 42); /* untouched on refusal */
	}
}

static void knows_the_range(void **state)
{
	(void)state;
	assert_false(timeutil_in_range(INT64_MIN));
	assert_false(timeutil_in_range(-1));
	assert_false(timeutil_in_range(0));
	assert_false(timeutil_in_range(TIMEUTIL_MIN_EPOCH - 1));
	assert_true(timeutil_in_range(TIMEUTIL_MIN_EPOCH));
	assert_true(timeutil_in_range(TIMEUTIL_MAX_EPOCH - 1));
	assert_false(timeutil_in_range(TIMEUTIL_MAX_EPOCH));
	assert_false(timeutil_in_range(INT64_MAX));
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

/* Any int64 fits the buffer; outside the range it is written as the nearest accepted second. */
static void formats_any_int64_within_the_buffer(void **state)
{
	(void)state;
	static const struct {
		int64_t epoch;
		const char *text;
	} cases[] = {
		{ INT64_MIN, "2000-01-01T00:00:00Z" },
		{ INT64_MIN + 1, "2000-01-01T00:00:00Z" },
		{ -1, "2000-01-01T00:00:00Z" },
		{ 0, "2000-01-01T00:00:00Z" },
		{ TIMEUTIL_MIN_EPOCH - 1, "2000-01-01T00:00:00Z" },
		{ TIMEUTIL_MIN_EPOCH, "2000-01-01T00:00:00Z" },
		{ TIMEUTIL_MIN_EPOCH + 86399, "2000-01-01T23:59:59Z" },
		{ 951782400, "2000-02-29T00:00:00Z" },
		{ TIMEUTIL_MAX_EPOCH - 1, "2099-12-31T23:59:59Z" },
		{ TIMEUTIL_MAX_EPOCH, "2099-12-31T23:59:59Z" },
		{ 253402300799 + 1, "2099-12-31T23:59:59Z" }, /* year 10000 */
		{ INT64_MAX - 1, "2099-12-31T23:59:59Z" },
		{ INT64_MAX, "2099-12-31T23:59:59Z" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		/* A guard after the buffer catches an overrun that no sanitizer would see. */
		char buf[TIMEUTIL_RFC3339_LEN + 8];
		memset(buf, '#', sizeof(buf));
		timeutil_format_rfc3339(cases[i].epoch, buf);
		for (size_t g = TIMEUTIL_RFC3339_LEN; g < sizeof(buf); g++)
			assert_int_equal(buf[g], '#');
		assert_int_equal(strlen(buf), TIMEUTIL_RFC3339_LEN - 1);
		assert_string_equal(buf, cases[i].text);

		int64_t t;
		assert_true(timeutil_parse_rfc3339(buf, &t));
		if (timeutil_in_range(cases[i].epoch))
			assert_int_equal(t, cases[i].epoch);
		else
			assert_int_equal(t, cases[i].epoch < TIMEUTIL_MIN_EPOCH ? TIMEUTIL_MIN_EPOCH : TIMEUTIL_MAX_EPOCH - 1);
	}
}

/* splitmix64: a fixed sequence, so a failure reproduces. */
static uint64_t next_random(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* Format then parse is the identity over the range, in UTC and written with any offset. */
static void round_trips_random_epochs(void **state)
{
	(void)state;
	const uint64_t span = (uint64_t)(TIMEUTIL_MAX_EPOCH - TIMEUTIL_MIN_EPOCH);
	uint64_t seed = 20261123;
	for (int i = 0; i < 5000; i++) {
		int64_t epoch = TIMEUTIL_MIN_EPOCH + (int64_t)(next_random(&seed) % span);
		char out[TIMEUTIL_RFC3339_LEN];
		int64_t t = 0;
		timeutil_format_rfc3339(epoch, out);
		if (!timeutil_parse_rfc3339(out, &t) || t != epoch)
			fail_msg("%lld formatted as '%s' parsed back as %lld", (long long)epoch, out, (long long)t);

		/* The same instant in local time: local = UTC + offset, written with that offset. */
		int offset = (int)(next_random(&seed) % (2 * 86340 + 1)) - 86340;
		offset -= offset % 60;
		if (!timeutil_in_range(epoch + offset))
			continue;
		char local[TIMEUTIL_RFC3339_LEN + 8];
		int a = offset < 0 ? -offset : offset;
		timeutil_format_rfc3339(epoch + offset, local);
		snprintf(local + 19, sizeof(local) - 19, "%c%02d:%02d", offset < 0 ? '-' : '+', a / 3600, a / 60 % 60);
		if (!timeutil_parse_rfc3339(local, &t) || t != epoch)
			fail_msg("%lld written as '%s' parsed back as %lld", (long long)epoch, local, (long long)t);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parses_utc_and_offsets),
		cmocka_unit_test(accepts_the_range_in_utc),
		cmocka_unit_test(refuses_what_postgres_would_guess),
		cmocka_unit_test(refuses_times_outside_the_range),
		cmocka_unit_test(knows_the_range),
		cmocka_unit_test(formats_round_trip),
		cmocka_unit_test(formats_any_int64_within_the_buffer),
		cmocka_unit_test(round_trips_random_epochs),
	};
	return cmocka_run_group_tests_name("timeutil", tests, NULL, NULL);
}
