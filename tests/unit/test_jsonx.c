/* Reading request fields: types, ranges, unknown keys, and the nesting cap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "jsonx.h"

static void fields_are_typed_and_bounded(void **state)
{
	(void)state;
	json_t *obj = json_pack("{s:s, s:i, s:f, s:s}", "name", "x", "chargers", 70, "lat", -7.1, "empty", "");
	struct jsonx_error err;
	const char *s;
	long long n;
	double d;
	bool present;

	assert_true(jsonx_string(obj, "name", true, 10, &s, &err));
	assert_string_equal(s, "x");
	assert_false(jsonx_string(obj, "missing", true, 10, &s, &err));
	assert_string_equal(err.code, "missing_field");
	assert_true(jsonx_string(obj, "missing", false, 10, &s, &err));
	assert_null(s);
	assert_false(jsonx_string(obj, "empty", true, 10, &s, &err));
	assert_false(jsonx_string(obj, "chargers", true, 10, &s, &err));
	assert_string_equal(err.code, "invalid_field");
	assert_false(jsonx_integer(obj, "chargers", true, 1, 64, &n, &present, &err));
	assert_true(jsonx_number(obj, "lat", true, -90, 90, &d, &present, &err));
	assert_true(present);
	assert_false(jsonx_integer(obj, "lat", true, -90, 90, &n, &present, &err));

	const char *allowed[] = { "name", "chargers", "lat", NULL };
	assert_false(jsonx_only_keys(obj, allowed, &err));
	assert_non_null(strstr(err.message, "empty"));
	json_decref(obj);
}

static void nesting_is_capped_before_parsing(void **state)
{
	(void)state;
	assert_true(jsonx_depth_ok("{\"a\":[1,{\"b\":2}]}", 17, 3));
	assert_false(jsonx_depth_ok("{\"a\":[1,{\"b\":[]}]}", 18, 3));
	/* Brackets inside strings, escaped quotes included, do not count. */
	const char *text = "{\"a\":\"[[[[\\\"[[[[\"}";
	assert_true(jsonx_depth_ok(text, strlen(text), 1));

	size_t n = 100000;
	char *deep = malloc(2 * n);
	memset(deep, '[', n);
	memset(deep + n, ']', n);
	assert_false(jsonx_depth_ok(deep, 2 * n, 32));
	free(deep);
}

static void bodies_are_one_object(void **state)
{
	(void)state;
	struct jsonx_error err;
	json_t *body = NULL;
	static const char *const refused[] = { "", "[]", "42", "\"x\"", "null", "{\"a\":1,\"a\":2}", "{\"a\":1} x",
					       "{\"a\":[[[[1]]]]}", NULL };
	for (int i = 0; refused[i] != NULL; i++) {
		assert_false(jsonx_load_object(refused[i], strlen(refused[i]), 4, &body, &err));
		assert_null(body);
		assert_string_equal(err.code, "invalid_json");
	}
	assert_non_null(strstr(err.message, "deeper than 4"));
	/* No NUL needed: only len bytes are read. */
	assert_true(jsonx_load_object("{\"a\":[1]}garbage", 9, 4, &body, &err));
	assert_int_equal(json_array_size(json_object_get(body, "a")), 1);
	json_decref(body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fields_are_typed_and_bounded),
		cmocka_unit_test(nesting_is_capped_before_parsing),
		cmocka_unit_test(bodies_are_one_object),
	};
	return cmocka_run_group_tests_name("jsonx", tests, NULL, NULL);
}
