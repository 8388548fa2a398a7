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

static void only_json_media_types_pass(void **state)
{
	(void)state;
	static const char *const json[] = { "application/json", "Application/JSON", " application/json ",
					    "application/json; charset=utf-8", "application/json;charset=UTF8",
					    "application/json; charset=\"utf-8\"", "application/json; foo=bar; charset=utf-8 ",
					    NULL };
	static const char *const other[] = { "", "text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded",
					     "multipart/form-data; boundary=x", "application/jsonx", "application/json-patch+json",
					     "application/json; charset=latin1", "application/json; charset=\"utf-8",
					     "application/json x", "application/xml", NULL };
	assert_false(http_media_type_is_json(NULL));
	for (int i = 0; json[i] != NULL; i++)
		if (!http_media_type_is_json(json[i]))
			fail_msg("refused %s", json[i]);
	for (int i = 0; other[i] != NULL; i++)
		if (http_media_type_is_json(other[i]))
			fail_msg("accepted %s", other[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(placeholders_capture_one_segment),
		cmocka_unit_test(overlong_segments_do_not_match),
		cmocka_unit_test(every_route_is_well_formed),
		cmocka_unit_test(only_json_media_types_pass),
	};
	return cmocka_run_group_tests_name("routes", tests, NULL, NULL);
}
