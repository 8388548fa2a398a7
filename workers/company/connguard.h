/*
 * The connection guard: what keeps slow clients from taking every HTTP thread.
 *
 * civetweb gives each connection a thread of its own from accept to close,
 * before it has read a byte, and waits up to request_timeout_ms for the
 * request's head. A client that opens many connections and trickles its
 * headers a byte at a time would so hold every thread, and /health and the
 * peers' 2PC calls would queue behind it. The guard counts the connections
 * each client address holds. A new connection beyond EVC_HTTP_MAX_CONN_PER_CLIENT
 * of its address, or arriving when the pool is nearly all taken, must be
 * prompt: its whole request head must be there within CONNGUARD_GRACE_MS.
 * A prompt one is served one request, then closed; a slow one is refused
 * (429, or 503 when the pool is short) and its thread is back at once.
 *
 * It also keeps the deadline of request bodies: civetweb's mg_read waits as
 * long as bytes keep coming, however slowly, so a reaper (a ticker, every
 * CONNGUARD_REAP_MS) shuts the read side of a connection whose body is late;
 * the reader then sees the end of its input and answers 408.
 *
 * It only peeks at a socket (never reads a byte civetweb needs), never blocks
 * longer than the grace, and keeps no state beyond one slot per open connection.
 */
#ifndef EVC_CONNGUARD_H
#define EVC_CONNGUARD_H

#include <stdbool.h>
#include <stddef.h>

#define CONNGUARD_GRACE_MS 250       /* time a connection beyond the limits gets to send its whole head */
#define CONNGUARD_MAX_HEAD 16384     /* civetweb's max_request_size: a longer head is refused by civetweb */
#define CONNGUARD_ADDR_MAX 48        /* an IPv6 address in text, with room for a zone */
#define CONNGUARD_REAP_MS 100        /* how often late bodies are looked for */

struct connguard;

enum connguard_verdict {
	CONNGUARD_SERVE,      /* within the limits: served as civetweb serves any connection */
	CONNGUARD_PROMPT_CLIENT, /* its address holds more than its share: must be prompt */
	CONNGUARD_PROMPT_BUSY,   /* fewer than the reserve of threads is free: must be prompt */
};

/*
 * threads: civetweb's num_threads; max_per_client: connections one address may
 * hold before the next must be prompt. The reserve is an eighth of the threads
 * (at least 4). Starts the reaper. NULL on failure.
 */
struct connguard *connguard_create(int threads, int max_per_client);
void connguard_destroy(struct connguard *g);

/* Counts a new connection of addr; what it must do. Every enter is matched by one leave. */
enum connguard_verdict connguard_enter(struct connguard *g, const char *addr);
void connguard_leave(struct connguard *g, const char *addr);

/*
 * A body is about to be read on the connection remote_addr:remote_port ->
 * local_port; past ms from now the reaper shuts its read side. A slot for
 * connguard_deadline_end, or -1 when none is free (then nothing is watched).
 */
int connguard_deadline_begin(struct connguard *g, const char *remote_addr, int remote_port, int local_port, int ms);

/* The body was read, or not: true when the reaper shut the connection's read side. */
bool connguard_deadline_end(struct connguard *g, int slot);

/* Connections open now (all addresses), and those of addr. */
int connguard_held(struct connguard *g, const char *addr, int *of_addr);

/*
 * The descriptor of this process's TCP socket connected from remote_addr:remote_port
 * to local_port (civetweb does not hand its sockets out; their addresses name
 * them). -1 when none, or more than one, matches: then nothing is done to it.
 */
int connguard_find_socket(const char *remote_addr, int remote_port, int local_port);

/*
 * True when a whole request head (or more than CONNGUARD_MAX_HEAD bytes, or the
 * end of the stream) is waiting on fd within grace_ms; only peeks.
 */
bool connguard_head_arrives(int fd, int grace_ms);

/* True when text holds the end of an HTTP head (CRLF CRLF, or LF LF as civetweb accepts). Pure. */
bool connguard_head_complete(const char *text, size_t len);

/*
 * Sends response (a whole HTTP answer) without blocking and shuts the socket
 * in both directions, so civetweb's read ends at once and it closes the connection.
 */
void connguard_refuse(int fd, const char *response, size_t len);

#endif
