/* Telemetry samples: what a car may send, and what is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "telemetry.h"

static bool parse(const char *text, struct telemetry_sample *t)
{
	return telemetry_parse(text, strlen(text), t);
}

static void a_good_sample_parses(void **state)
{
	(void)state;
	struct telemetry_sample t;
	assert_true(parse("{\"ts\":\"2026-11-23T08:00:00Z\",\"lat\":-7.1,\"lon\":-34.8,\"soc\":60,\"speed_kmh\":80,"
			  "\"consumption_kwh_per_100km\":17,\"profile\":\"fast\"}", &t));
	assert_int_equal(t.ts, 1795420800);
	assert_true(t.soc > 59.9 && t.soc < 60.1);
	assert_string_equal(t.profile, "fast");
	/* The profile is optional; a strange one is dropped, not fatal. */
	assert_true(parse("{\"ts\":\"2026-11-23T08:00:00Z\",\"lat\":0,\"lon\":0,\"soc\":100,\"speed_kmh\":0,"
			  "\"consumption_kwh_per_100km\":0,\"profile\":\"<b>\"}", &t));
	assert_string_equal(t.profile, "");
}

static void bad_samples_are_refused(void **state)
{
	(void)state;
	struct telemetry_sample t;
	const char *bad[] = {
		"", "[]", "null", "{}", "{\"ts\":\"now\",\"lat\":0,\"lon\":0,\"soc\":50,\"speed_kmh\":1,\"consumption_kwh_per_100km\":1}",
		"{\"ts\":\"2026-11-23T08:00:00Z\",\"lat\":91,\"lon\":0,\"soc\":50,\"speed_kmh\":1,\"consumption_kwh_per_100km\":1}",
		"{\"ts\":\"2026-11-23T08:00:00Z\",\"lat\":0,\"lon\":0,\"soc\":-1,\"speed_kmh\":1,\"consumption_kwh_per_100km\":1}",
		"{\"ts\":\"2026-11-23T08:00:00Z\",\"lat\":0,\"lon\":0,\"soc\":100.5,\"speed_kmh\":1,\"consumption_kwh_per_100km\":1}",
		"{\"ts\":\"2026-11-23T08:00:00Z\",\"lat\":0,\"lon\":0,\"soc\":\"0.5\",\"speed_kmh\":1,\"consumption_kwh_per_100km\":1}",
		"{\"ts\":\"2026-11-23T08:00:00Z\",\"lat\":0,\"lon\":0,\"soc\":50,\"speed_kmh\":-1,\"consumption_kwh_per_100km\":1}",
		"{\"ts\":\"2026-11-23T08:00:00Z\",\"lat\":0,\"lon\":0,\"soc\":50,\"speed_kmh\":1}",
		"{\"ts\":\"2026-11-23T08:00:00Z\",\"lat\":0,\"lat\":1,\"lon\":0,\"soc\":50,\"speed_kmh\":1,\"consumption_kwh_per_100km\":1}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (parse(bad[i], &t))
			fail_msg("accepted '%s'", bad[i]);
}

/* A sample nested deeper than the bound every JSON text has is refused unparsed. */
static void deep_nesting_is_refused(void **state)
{
	(void)state;
	struct telemetry_sample t;
	const char *head = "{\"ts\":\"2026-11-23T08:00:00Z\",\"lat\":0,\"lon\":0,\"soc\":50,\"speed_kmh\":1,"
			   "\"consumption_kwh_per_100km\":1,\"x\":";
	char text[4096];
	const int depths[] = { 8, 40 }; /* the bound is 32 */
	for (size_t d = 0; d < 2; d++) {
		int depth = depths[d];
		size_t n = (size_t)snprintf(text, sizeof(text), "%s", head);
		for (int i = 1; i < depth; i++)
			text[n++] = '[';
		for (int i = 1; i < depth; i++)
			text[n++] = ']';
		text[n++] = '}';
		text[n] = '\0';
		assert_int_equal(parse(text, &t), depth == 8);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_good_sample_parses),
		cmocka_unit_test(bad_samples_are_refused),
		cmocka_unit_test(deep_nesting_is_refused),
	};
	return cmocka_run_group_tests_name("telemetry", tests, NULL, NULL);
}
