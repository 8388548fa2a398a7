/*
 * The HTTP front: civetweb serves static/ and hands every /api/v1 request to one
 * dispatcher, which matches the route table (routes.c), gives the handler a
 * parsed request, and logs one line per request. Handlers return the status
 * they sent. Every error leaves as {"error":{"code","message"}}, civetweb's own
 * too (a malformed head, an unknown method, a head too large or too slow);
 * framing civetweb accepts but a request must not carry (two Content-Length
 * headers, %00 in the path) is refused before any route. Slow clients are
 * bounded by EVC_HTTP_REQUEST_TIMEOUT_MS and the connection guard (connguard.h).
 */
#ifndef EVC_HTTP_H
#define EVC_HTTP_H

#include <civetweb.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "bounds.h"
#include "actor.h"
#include "errors.h"
#include "jsonx.h"

struct app;

#define HTTP_API_PREFIX "/api/v1"
#define HTTP_MAX_PARAMS 4
#define HTTP_PARAM_MAX 128
#define HTTP_MAX_JSON_DEPTH BOUNDS_JSON_DEPTH_MAX
#define HTTP_PATH_MAX 2048 /* a longer path below HTTP_API_PREFIX, once decoded, matches no route */

struct http_request {
	struct mg_connection *conn;
	const struct mg_request_info *info;
	struct app *app;
	const char *path;                             /* below HTTP_API_PREFIX, percent-decoded */
	bool body_read;                               /* the body was read to its end (or there is none) */
	char params[HTTP_MAX_PARAMS][HTTP_PARAM_MAX]; /* {placeholders} of the route, in order */
	char request_id[40];
	char trip_id[37];                             /* set by trip handlers: logged on the request's line */
	struct actor actor;                           /* who the request's credential proved (public if none) */
};

typedef int (*http_handler_fn)(struct http_request *req);

struct http_route {
	const char *method;
	const char *pattern; /* "/stations/{id}/availability" */
	http_handler_fn handler;
};

/* The one route table, defined in routes.c. */
extern const struct http_route http_routes[];

/* Starts civetweb on the configured address; NULL on failure. Stop with http_stop. */
struct mg_context *http_start(struct app *app);
void http_stop(struct mg_context *ctx);

/*
 * Pure route matching, exposed for the unit tests: true when path fits pattern,
 * placeholders copied into params.
 */
bool http_match(const char *pattern, const char *path, char params[][HTTP_PARAM_MAX], int max_params);

/* Sends body (reference stolen) as JSON. extra_headers: "Name: value\r\n"... or NULL. */
int http_reply_json(struct http_request *req, int status, json_t *body, const char *extra_headers);

/* Sends a JSON text already serialized (e.g. by PostgreSQL). */
int http_reply_text(struct http_request *req, int status, const char *json_text, const char *extra_headers);

/* Sends the error envelope. */
int http_reply_error(struct http_request *req, int status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* The error envelope with extra header lines ("Name: value\r\n"...). */
int http_reply_error_headers(struct http_request *req, int status, const char *code, const char *headers,
			     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Error envelope plus the top-level fields of extra (reference stolen), e.g. alternatives. */
int http_reply_error_extra(struct http_request *req, int status, const char *code, json_t *extra,
			   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* 400 from a field reader's error. */
int http_reply_field_error(struct http_request *req, const struct jsonx_error *err);

/* 503: the database could not be reached or gave up. */
int http_reply_db_unavailable(struct http_request *req);

/*
 * True when a Content-Type header value names JSON: application/json, any
 * case, with parameters, a charset only if UTF-8. NULL (no header) is false.
 */
bool http_media_type_is_json(const char *content_type);

/*
 * Reads the body as one JSON object into *out (new reference, caller decrefs).
 * A body not sent as application/json is refused unread with 415.
 * Returns 0 on success, or the error status it already sent (400, 413, 415, or
 * 408 when the body takes longer than EVC_HTTP_REQUEST_TIMEOUT_MS to arrive).
 */
int http_read_json_object(struct http_request *req, json_t **out) __attribute__((warn_unused_result));

/*
 * Copies query parameter name into buf: 1 when present, 0 when absent, or the
 * status it sent (400) when too long or empty.
 */
int http_query(struct http_request *req, const char *name, char *buf, size_t size)
	__attribute__((warn_unused_result));

/*
 * Sends a core result: its status (evc_err_http_status), its body, Location
 * for a created resource, Retry-After for 429/503, Idempotent-Replayed. Clears r.
 */
int http_reply_result(struct http_request *req, struct core_result *r);

/* The header that forwards a car's request through the federation: "car:<id>". */
#define HTTP_ON_BEHALF_HEADER "X-Evc-On-Behalf-Of"

#endif
