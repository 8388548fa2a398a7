/*
 * Shared by the body fuzz targets (fuzz_body_*.c): the worker's own body parser
 * (jsonx_load_object, as http_read_json_object calls it), a configuration with
 * the defaults of config_load, and a fixed "now" so a run is reproducible.
 * Each target checks parse -> normalise -> parse: what is accepted once is
 * accepted again, with the same normalised value.
 */
#ifndef EVC_FUZZ_BODY_H
#define EVC_FUZZ_BODY_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "http.h"
#include "jsonx.h"
#include "timeutil.h"

#define FUZZ_NOW ((int64_t)1796083200) /* 2026-12-01T00:00:00Z: the seeds' windows lie after it */
#define FUZZ_COMPANY "a"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct config fuzz_cfg;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	char err[256];
	setenv("EVC_COMPANY_ID", FUZZ_COMPANY, 1);
	setenv("EVC_DATABASE_URL", "postgresql://fuzz.invalid/none", 0); /* never connected to */
	if (!config_load(&fuzz_cfg, err, sizeof(err))) {
		fprintf(stderr, "config_load: %s\n", err);
		abort();
	}
	json_object_seed(1);
	return 0;
}

/* The body as the worker parses it: a new reference, or NULL when refused. */
static inline json_t *fuzz_body_load(const char *text, size_t len)
{
	json_t *body;
	struct jsonx_error err;
	return jsonx_load_object(text, len, HTTP_MAX_JSON_DEPTH, &body, &err) ? body : NULL;
}

/* A normalised value (reference stolen) as text, parsed again: it must be an accepted body. */
static inline json_t *fuzz_body_reload(json_t *normal)
{
	char *text = json_dumps(normal, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(normal);
	if (text == NULL)
		abort();
	json_t *again = fuzz_body_load(text, strlen(text));
	if (again == NULL) {
		fprintf(stderr, "normalised body refused by the parser: %s\n", text);
		abort();
	}
	free(text);
	return again;
}

/* An RFC 3339 string of epoch (as the worker formats it), a new reference. */
static inline json_t *fuzz_time(int64_t epoch)
{
	char text[TIMEUTIL_RFC3339_LEN];
	timeutil_format_rfc3339(epoch, text);
	return json_string(text);
}

static inline void fuzz_same_string(const char *a, const char *b, const char *what)
{
	if ((a == NULL) != (b == NULL) || (a != NULL && strcmp(a, b) != 0)) {
		fprintf(stderr, "%s changed on a second parse: '%s' then '%s'\n", what, a ? a : "(null)", b ? b : "(null)");
		abort();
	}
}

#define FUZZ_CHECK(cond)                                                                  \
	do {                                                                              \
		if (!(cond)) {                                                            \
			fprintf(stderr, "%s:%d: round trip broken: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                          \
		}                                                                         \
	} while (0)

#endif
