/*
 * The worker's one error type and the result every core function fills.
 *
 * The core never speaks HTTP: it answers with an evc_err and a JSON body. Each
 * adapter maps the error to its transport in one place (evc_err_http_status for
 * REST and for the MQTT answer's "status"). An error's body is the envelope
 * {"error":{"code","message"}} plus any fields the caller should see
 * (alternatives, the trip), so every adapter sends the same document.
 */
#ifndef EVC_ERRORS_H
#define EVC_ERRORS_H

#include <jansson.h>
#include <stdbool.h>

enum evc_err {
	EVC_OK = 0,
	EVC_ERR_INVALID,         /* 400: malformed or out-of-bounds input */
	EVC_ERR_UNAUTHENTICATED, /* 401: no credential, or one that does not prove anyone */
	EVC_ERR_FORBIDDEN,       /* 403: a known actor the policy refuses */
	EVC_ERR_NOT_FOUND,       /* 404: unknown, or not this actor's to see */
	EVC_ERR_CONFLICT,        /* 409: the state forbids it now (taken, already cancelled, ...) */
	EVC_ERR_TOO_LARGE,       /* 413 */
	EVC_ERR_UNPROCESSABLE,   /* 422: well formed but contradicts an earlier request (idempotency key) */
	EVC_ERR_RATE_LIMITED,    /* 429: retry later; never stored as a final answer */
	EVC_ERR_INTERNAL,        /* 500 */
	EVC_ERR_UNAVAILABLE,     /* 503: a database or peer could not answer; retry */
};

/* The HTTP status of an error (EVC_OK: 200). */
int evc_err_http_status(enum evc_err err);

/* The error of an HTTP status (2xx: EVC_OK), for answers relayed from a peer. */
enum evc_err evc_err_from_http(long status);

/* True for errors a client must retry rather than remember (429, 503). */
bool evc_err_is_transient(enum evc_err err);

struct core_result {
	enum evc_err err;
	bool created;       /* success: a new resource (201) */
	bool replayed;      /* the stored answer of an earlier request with the same key */
	int retry_after;    /* seconds, for 429 and 503; 0: none */
	char location[160]; /* path of the created resource below /api/v1, or "" */
	json_t *body;       /* owned: the document to send (success body or error envelope) */
};

#define CORE_RESULT_INIT { EVC_OK, false, false, 0, "", NULL }

/* Success with body (reference stolen; NULL sends {}). */
void core_ok(struct core_result *r, json_t *body);

/* Success with a JSON text already serialized (e.g. by PostgreSQL). */
void core_ok_text(struct core_result *r, const char *json_text);

/*
 * Failure: the envelope with code and the formatted message, plus the fields of
 * extra (reference stolen, may be NULL). Returns err so callers can return it.
 */
enum evc_err core_fail_extra(struct core_result *r, enum evc_err err, const char *code, json_t *extra,
			     const char *fmt, ...) __attribute__((format(printf, 5, 6)));
enum evc_err core_fail(struct core_result *r, enum evc_err err, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* A relayed answer (a participant's, a peer's): status and body (reference stolen) as they came. */
void core_relay(struct core_result *r, long status, json_t *body);

/* The HTTP status the result stands for (200, 201 or the error's). */
int core_result_status(const struct core_result *r);

/* The envelope's code of a failed result ("" on success). */
const char *core_result_code(const struct core_result *r);

void core_result_clear(struct core_result *r);

#endif
