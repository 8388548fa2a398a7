#include "ocpp_schema.h"
#include "timeutil.h"

#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCHEMA_MAX_DEPTH 16 /* the official files nest 5 deep */
#define SCHEMA_FILES_MAX 128

struct ocpp_schemas {
	json_t *by_name; /* name -> schema document */
};

struct ocpp_schemas *ocpp_schemas_load(const char *dir, char *err, size_t err_size)
{
	struct ocpp_schemas *s = calloc(1, sizeof(*s));
	DIR *d = opendir(dir);
	if (s == NULL || d == NULL || (s->by_name = json_object()) == NULL) {
		snprintf(err, err_size, "cannot read the OCPP schemas in %s", dir);
		goto failed;
	}
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		if (len < 6 || strcmp(e->d_name + len - 5, ".json") != 0)
			continue;
		char path[4096], name[256];
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		snprintf(name, sizeof(name), "%.*s", (int)(len - 5), e->d_name);
		json_error_t jerr;
		json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
		if (doc == NULL || !json_is_object(doc) || json_object_size(s->by_name) >= SCHEMA_FILES_MAX) {
			snprintf(err, err_size, "OCPP schema %s: %s", path, doc == NULL ? jerr.text : "not an object");
			json_decref(doc);
			goto failed;
		}
		json_object_set_new(s->by_name, name, doc);
	}
	closedir(d);
	if (json_object_size(s->by_name) == 0) {
		snprintf(err, err_size, "no OCPP schema (*.json) in %s", dir);
		ocpp_schemas_free(s);
		return NULL;
	}
	return s;
failed:
	if (d != NULL)
		closedir(d);
	ocpp_schemas_free(s);
	return NULL;
}

void ocpp_schemas_free(struct ocpp_schemas *s)
{
	if (s == NULL)
		return;
	json_decref(s->by_name);
	free(s);
}

bool ocpp_schemas_has(const struct ocpp_schemas *s, const char *name)
{
	return s != NULL && json_object_get(s->by_name, name) != NULL;
}

/* ---- the validator ------------------------------------------------------------- */

struct check {
	char *why;
	size_t why_size;
	char path[256];
};

static const char *fail(struct check *c, const char *code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static const char *fail(struct check *c, const char *code, const char *fmt, ...)
{
	char text[200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	snprintf(c->why, c->why_size, "%s: %s", c->path[0] != '\0' ? c->path : "payload", text);
	return code;
}

static bool type_matches(const char *type, json_t *v)
{
	if (strcmp(type, "object") == 0)
		return json_is_object(v);
	if (strcmp(type, "array") == 0)
		return json_is_array(v);
	if (strcmp(type, "string") == 0)
		return json_is_string(v);
	if (strcmp(type, "integer") == 0)
		return json_is_integer(v) || (json_is_real(v) && floor(json_real_value(v)) == json_real_value(v) &&
					      fabs(json_real_value(v)) < 9.0e15);
	if (strcmp(type, "number") == 0)
		return json_is_number(v);
	if (strcmp(type, "boolean") == 0)
		return json_is_boolean(v);
	if (strcmp(type, "null") == 0)
		return json_is_null(v);
	return false;
}

/* Length in characters (code points) of UTF-8 text, as JSON Schema counts maxLength. */
static size_t utf8_length(const char *s)
{
	size_t n = 0;
	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			n++;
	return n;
}

static const char *check_value(json_t *schema, json_t *v, struct check *c, int depth);

static const char *check_string(json_t *schema, json_t *v, struct check *c)
{
	json_t *max = json_object_get(schema, "maxLength"), *format = json_object_get(schema, "format");
	const char *text = json_string_value(v);
	if (json_is_integer(max) && (json_int_t)utf8_length(text) > json_integer_value(max)) {
		char limit[32];
		snprintf(limit, sizeof(limit), "%lld", (long long)json_integer_value(max));
		return fail(c, "PropertyConstraintViolation", "longer than %s characters", limit);
	}
	int64_t epoch;
	if (json_is_string(format) && strcmp(json_string_value(format), "date-time") == 0 &&
	    !timeutil_parse_rfc3339(text, &epoch))
		return fail(c, "PropertyConstraintViolation", "%s", "not an RFC 3339 date-time between 2000 and 2099");
	return NULL;
}

static const char *check_enum(json_t *schema, json_t *v, struct check *c)
{
	json_t *options = json_object_get(schema, "enum"), *o;
	size_t i;
	if (!json_is_array(options))
		return NULL;
	json_array_foreach(options, i, o) {
		if (json_equal(o, v))
			return NULL;
	}
	return fail(c, "PropertyConstraintViolation", "%s", "not one of the allowed values");
}

/* Appends a segment to c->path; returns the old length, to restore it. */
static size_t path_push(struct check *c, const char *key, long index)
{
	size_t old = strlen(c->path);
	if (key != NULL)
		snprintf(c->path + old, sizeof(c->path) - old, "%s%s", old > 0 ? "." : "", key);
	else
		snprintf(c->path + old, sizeof(c->path) - old, "[%ld]", index);
	return old;
}

static const char *check_object(json_t *schema, json_t *v, struct check *c, int depth)
{
	json_t *props = json_object_get(schema, "properties"), *required = json_object_get(schema, "required");
	json_t *additional = json_object_get(schema, "additionalProperties"), *item;
	const char *key, *code;
	size_t i;
	json_array_foreach(required, i, item) {
		if (json_is_string(item) && json_object_get(v, json_string_value(item)) == NULL)
			return fail(c, "OccurenceConstraintViolation", "required field '%s' is missing",
				    json_string_value(item));
	}
	json_object_foreach(v, key, item) {
		json_t *sub = json_object_get(props, key);
		if (sub == NULL) {
			if (json_is_false(additional))
				return fail(c, "FormationViolation", "field '%.60s' is not part of this message", key);
			continue;
		}
		size_t old = path_push(c, key, 0);
		if ((code = check_value(sub, item, c, depth + 1)) != NULL)
			return code;
		c->path[old] = '\0';
	}
	return NULL;
}

static const char *check_array(json_t *schema, json_t *v, struct check *c, int depth)
{
	json_t *min = json_object_get(schema, "minItems"), *items = json_object_get(schema, "items"), *item;
	const char *code;
	size_t i;
	if (json_is_integer(min) && (json_int_t)json_array_size(v) < json_integer_value(min))
		return fail(c, "OccurenceConstraintViolation", "%s", "has fewer items than required");
	if (!json_is_object(items))
		return NULL;
	json_array_foreach(v, i, item) {
		size_t old = path_push(c, NULL, (long)i);
		if ((code = check_value(items, item, c, depth + 1)) != NULL)
			return code;
		c->path[old] = '\0';
	}
	return NULL;
}

static const char *check_number(json_t *schema, json_t *v, struct check *c)
{
	json_t *step = json_object_get(schema, "multipleOf");
	if (!json_is_number(step) || json_number_value(step) <= 0)
		return NULL;
	double q = json_number_value(v) / json_number_value(step);
	if (fabs(q - round(q)) > 1e-6)
		return fail(c, "PropertyConstraintViolation", "%s", "not a multiple of the allowed step");
	return NULL;
}

static const char *check_value(json_t *schema, json_t *v, struct check *c, int depth)
{
	if (depth > SCHEMA_MAX_DEPTH)
		return fail(c, "FormationViolation", "%s", "nested too deep");
	json_t *type = json_object_get(schema, "type");
	if (json_is_string(type) && !type_matches(json_string_value(type), v))
		return fail(c, "TypeConstraintViolation", "must be of type %s", json_string_value(type));
	const char *code = check_enum(schema, v, c);
	if (code != NULL)
		return code;
	if (json_is_string(v))
		return check_string(schema, v, c);
	if (json_is_number(v))
		return check_number(schema, v, c);
	if (json_is_object(v))
		return check_object(schema, v, c, depth);
	if (json_is_array(v))
		return check_array(schema, v, c, depth);
	return NULL;
}

const char *ocpp_schema_check_doc(json_t *schema, json_t *instance, char *why, size_t why_size)
{
	struct check c = { why, why_size, "" };
	if (why_size > 0)
		why[0] = '\0';
	return check_value(schema, instance, &c, 0);
}

const char *ocpp_schema_check(const struct ocpp_schemas *s, const char *name, json_t *instance, char *why,
			      size_t why_size)
{
	json_t *schema = s != NULL ? json_object_get(s->by_name, name) : NULL;
	if (schema == NULL) {
		snprintf(why, why_size, "no schema for %.100s", name);
		return "NotImplemented";
	}
	return ocpp_schema_check_doc(schema, instance, why, why_size);
}
