/* Route matching: placeholders take one whole segment, nothing more, nothing less. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "http.h"

static void placeholders_capture_one_segment(void **state)
{
	(void)state;
	char params[HTTP_MAX_PARAMS][HTTP_PARAM_MAX];
	assert_true(http_match("/stations/{id}/availability", "/stations/a-jpa-01/availability", params, HTTP_MAX_PARAMS));
	assert_string_equal(params[0], "a-jpa-01");
	assert_true(http_match("/stations", "/stations", params, HTTP_MAX_PARAMS));
	assert_false(http_match("/stations/{id}", "/stations/", params, HTTP_MAX_PARAMS));
	assert_false(http_match("/stations/{id}", "/stations/a/b", params, HTTP_MAX_PARAMS));
	assert_false(http_match("/stations/{id}", "/stations", params, HTTP_MAX_PARAMS));
	assert_false(http_match("/stations", "/stations/", params, HTTP_MAX_PARAMS));
	assert_false(http_match("/stations", "/stationsx", params, HTTP_MAX_PARAMS));
}

static void overlong_segments_do_not_match(void **state)
{
	(void)state;
	char params[HTTP_MAX_PARAMS][HTTP_PARAM_MAX];
	char path[HTTP_PARAM_MAX + 32] = "/trips/";
	memset(path + 7, 'x', HTTP_PARAM_MAX);
	path[7 + HTTP_PARAM_MAX] = '\0';
	assert_false(http_match("/trips/{id}", path, params, HTTP_MAX_PARAMS));
}

static void every_route_is_well_formed(void **state)
{
	(void)state;
	for (const struct http_route *r = http_routes; r->method != NULL; r++) {
		assert_non_null(r->handler);
		assert_true(r->pattern[0] == '/');
		/* No two routes share method and pattern. */
		for (const struct http_route *o = r + 1; o->method != NULL; o++)
			if (strcmp(r->method, o->method) == 0 && strcmp(r->pattern, o->pattern) == 0)
				fail_msg("duplicate route %s %s", r->method, r->pattern);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(placeholders_capture_one_segment),
		cmocka_unit_test(overlong_segments_do_not_match),
		cmocka_unit_test(every_route_is_well_formed),
	};
	return cmocka_run_group_tests_name("routes", tests, NULL, NULL);
}
