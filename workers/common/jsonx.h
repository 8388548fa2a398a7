/*
 * Typed reads of fields from a request's JSON object, with the error a client
 * should see when a field is missing or of the wrong shape. Nothing here
 * allocates: strings returned are borrowed from the json_t.
 */
#ifndef EVC_JSONX_H
#define EVC_JSONX_H

#include <jansson.h>
#include <stdbool.h>

struct jsonx_error {
	const char *code;  /* "missing_field" or "invalid_field" */
	char message[256];
};

/*
 * Each reader returns true when the field is valid, or absent and not required
 * (then *present is false, when present is given). On false, err says why.
 */
bool jsonx_string(json_t *obj, const char *key, bool required, size_t max_len, const char **out,
		  struct jsonx_error *err) __attribute__((warn_unused_result));
bool jsonx_number(json_t *obj, const char *key, bool required, double min, double max, double *out,
		  bool *present, struct jsonx_error *err) __attribute__((warn_unused_result));
bool jsonx_integer(json_t *obj, const char *key, bool required, long long min, long long max,
		   long long *out, bool *present, struct jsonx_error *err) __attribute__((warn_unused_result));

/* False (with err) when obj has a key not in the NULL-terminated allowed list. */
bool jsonx_only_keys(json_t *obj, const char *const *allowed, struct jsonx_error *err)
	__attribute__((warn_unused_result));

/*
 * True when the JSON text nests arrays and objects at most max_depth deep.
 * Runs before the parser: jansson recurses once per level, and a civetweb
 * thread's stack is small, so "[[[[..." must be refused unparsed.
 */
bool jsonx_depth_ok(const char *text, size_t len, int max_depth);

/*
 * Parses a request body (len bytes, no NUL needed) as one JSON object at most
 * max_depth deep, duplicate keys refused: the one parser of every body. On
 * success *out is a new reference (caller decrefs); on false err says why
 * (code "invalid_json").
 */
bool jsonx_load_object(const char *text, size_t len, int max_depth, json_t **out, struct jsonx_error *err)
	__attribute__((warn_unused_result));

#endif
