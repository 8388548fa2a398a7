/*
 * Calls to other companies' servers: JSON over HTTP with libcurl, one reused
 * handle per thread (connections stay alive), and a connect and total timeout
 * on every call, so a dead peer costs a bounded wait and never a hang.
 */
#ifndef EVC_PEER_CLIENT_H
#define EVC_PEER_CLIENT_H

#include <jansson.h>
#include <stdbool.h>

struct peer_response {
	long status;   /* HTTP status; 0 when the peer could not be reached or timed out */
	json_t *body;  /* parsed JSON body, or NULL; new reference, freed by peer_response_clear */
	double ms;     /* round trip */
	bool reached;  /* the request may have reached the server: false only when no connection was made */
};

/* Once, before threads start; connect_timeout_ms bounds every call's connect (EVC_PEER_CONNECT_TIMEOUT_MS). */
bool peer_client_init(long connect_timeout_ms) __attribute__((warn_unused_result));
void peer_client_cleanup(void);

/*
 * method to base_url + path (path starts with /api/v1). token: sent as
 * "Authorization: Token <token>" when not NULL. body: borrowed, may be NULL.
 * request_id: propagated as X-Request-Id so one trip greps across companies.
 */
void peer_call(const char *method, const char *base_url, const char *path, const char *token, json_t *body,
	       long timeout_ms, const char *request_id, struct peer_response *out);

/* The same, with one more header line ("Name: value"), or none when NULL. */
void peer_call_header(const char *method, const char *base_url, const char *path, const char *token, json_t *body,
		      long timeout_ms, const char *request_id, const char *extra_header, struct peer_response *out);

void peer_response_clear(struct peer_response *r);

#endif
