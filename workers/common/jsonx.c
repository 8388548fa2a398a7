#include "jsonx.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static bool fail(struct jsonx_error *err, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static bool fail(struct jsonx_error *err, const char *code, const char *fmt, ...)
{
	va_list ap;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return false;
}

/* Looks key up; false with an error when required and absent. *value NULL when absent. */
static bool lookup(json_t *obj, const char *key, bool required, json_t **value, struct jsonx_error *err)
{
	*value = json_object_get(obj, key);
	if (*value == NULL && required)
		return fail(err, "missing_field", "field '%s' is required", key);
	return true;
}

bool jsonx_string(json_t *obj, const char *key, bool required, size_t max_len, const char **out,
		  struct jsonx_error *err)
{
	json_t *v;
	*out = NULL;
	if (!lookup(obj, key, required, &v, err))
		return false;
	if (v == NULL)
		return true;
	if (!json_is_string(v))
		return fail(err, "invalid_field", "field '%s' must be a string", key);
	size_t len = json_string_length(v);
	if (len == 0 || len > max_len)
		return fail(err, "invalid_field", "field '%s' must be 1 to %zu characters", key, max_len);
	if (strlen(json_string_value(v)) != len)
		return fail(err, "invalid_field", "field '%s' must not contain NUL characters", key);
	*out = json_string_value(v);
	return true;
}

bool jsonx_number(json_t *obj, const char *key, bool required, double min, double max, double *out,
		  bool *present, struct jsonx_error *err)
{
	json_t *v;
	if (present != NULL)
		*present = false;
	if (!lookup(obj, key, required, &v, err))
		return false;
	if (v == NULL)
		return true;
	if (!json_is_number(v))
		return fail(err, "invalid_field", "field '%s' must be a number", key);
	double d = json_number_value(v);
	if (!isfinite(d) || d < min || d > max)
		return fail(err, "invalid_field", "field '%s' must be between %g and %g", key, min, max);
	*out = d;
	if (present != NULL)
		*present = true;
	return true;
}

bool jsonx_integer(json_t *obj, const char *key, bool required, long long min, long long max,
		   long long *out, bool *present, struct jsonx_error *err)
{
	json_t *v;
	if (present != NULL)
		*present = false;
	if (!lookup(obj, key, required, &v, err))
		return false;
	if (v == NULL)
		return true;
	if (!json_is_integer(v))
		return fail(err, "invalid_field", "field '%s' must be an integer", key);
	json_int_t i = json_integer_value(v);
	if (i < min || i > max)
		return fail(err, "invalid_field", "field '%s' must be between %lld and %lld", key, min, max);
	*out = i;
	if (present != NULL)
		*present = true;
	return true;
}

bool jsonx_only_keys(json_t *obj, const char *const *allowed, struct jsonx_error *err)
{
	const char *key;
	json_t *value;
	json_object_foreach(obj, key, value) {
		bool known = false;
		for (const char *const *a = allowed; *a != NULL && !known; a++)
			known = strcmp(*a, key) == 0;
		if (!known)
			return fail(err, "invalid_field", "unknown field '%.64s'", key);
	}
	return true;
}

bool jsonx_depth_ok(const char *text, size_t len, int max_depth)
{
	int depth = 0;
	bool in_string = false, escaped = false;
	for (size_t i = 0; i < len; i++) {
		char c = text[i];
		if (in_string) {
			if (escaped)
				escaped = false;
			else if (c == '\\')
				escaped = true;
			else if (c == '"')
				in_string = false;
		} else if (c == '"') {
			in_string = true;
		} else if (c == '[' || c == '{') {
			if (++depth > max_depth)
				return false;
		} else if (c == ']' || c == '}') {
			depth--;
		}
	}
	return true;
}

bool jsonx_load_object(const char *text, size_t len, int max_depth, json_t **out, struct jsonx_error *err)
{
	*out = NULL;
	err->code = "invalid_json";
	if (!jsonx_depth_ok(text, len, max_depth)) {
		snprintf(err->message, sizeof(err->message), "JSON nests deeper than %d levels", max_depth);
		return false;
	}
	json_error_t jerr;
	json_t *body = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (body == NULL) {
		snprintf(err->message, sizeof(err->message), "invalid JSON at position %d: %s", jerr.position, jerr.text);
		return false;
	}
	if (!json_is_object(body)) {
		json_decref(body);
		snprintf(err->message, sizeof(err->message), "request body must be a JSON object");
		return false;
	}
	*out = body;
	return true;
}
