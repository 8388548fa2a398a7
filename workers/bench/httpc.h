/*
 * The load generator's HTTP client: one libcurl easy handle per load thread,
 * reused for every request, so each thread keeps one keep-alive connection per
 * server. Never shared between threads.
 */
#ifndef EVC_BENCH_HTTPC_H
#define EVC_BENCH_HTTPC_H

#include <stddef.h>

#define HTTPC_TRANSPORT_ERROR (-1L) /* no HTTP answer: refused, reset, timed out */

struct httpc;

/* A new client with its own connection cache; NULL when out of memory. Caller frees. */
struct httpc *httpc_new(long timeout_ms);
void httpc_free(struct httpc *c);

/*
 * Sends method to url with an optional JSON body and extra header lines
 * ("Name: value", NULL-terminated list, may be NULL). Returns the HTTP status,
 * or HTTPC_TRANSPORT_ERROR. The response body stays readable with httpc_body
 * until the next request.
 */
long httpc_request(struct httpc *c, const char *method, const char *url, const char *const *headers,
		   const char *body);

/* The last response's body, NUL-terminated ("" when none). Borrowed. */
const char *httpc_body(const struct httpc *c);

/* The last transport error, for messages ("" when none). Borrowed. */
const char *httpc_error(const struct httpc *c);

/* The last response's Retry-After in seconds, or -1 when it had none (or no answer came). */
long httpc_retry_after(struct httpc *c);

/* Connections this client opened so far: stays at one per server while keep-alive works. */
long httpc_connects(const struct httpc *c);

#endif
