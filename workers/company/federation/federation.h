/*
 * The other companies: who they are, how to reach them, the credentials to
 * call them and to recognise their calls, and whether they are up.
 *
 * Credentials follow OCPI's handshake: a registration secret (token A) shared
 * out of band lets one side POST /federation/peers with a token it issued (B);
 * the other answers with the token it issued (C). Afterwards each side calls
 * the other with the token the other issued. Of each pair, the company with
 * the smaller id initiates, so the two never overwrite each other's tokens.
 *
 * A ticker job heartbeats every peer, keeps the handshake done, and
 * refreshes the cache of peers' stations (peer_stations) by updated_since.
 */
#ifndef EVC_FEDERATION_H
#define EVC_FEDERATION_H

#include <jansson.h>

#include "jsonx.h"
#include <stdbool.h>
#include <stddef.h>

#include "peer_client.h"
#include "actor.h"
#include "errors.h"

struct app;

#define FEDERATION_TOKEN_MAX 65

/* Loads peers from EVC_PEERS and the database, starts the background thread. */
bool federation_start(struct app *app) __attribute__((warn_unused_result));
void federation_stop(struct app *app);

/* Copies a peer's base URL and our outbound token; false when the peer is unknown. */
bool federation_peer(const char *id, char *url, size_t url_size, char *token, size_t token_size);

/*
 * Calls a peer with our outbound token, at the replica that answered last
 * first, then at its other replica URLs (configured, or named by its ping
 * answer) while no connection could be made: a request that may have reached
 * a server is never sent to another. out->status 0 when none answered.
 */
void federation_call(const char *id, const char *method, const char *path, json_t *body, long timeout_ms,
		     const char *request_id, const char *extra_header, struct peer_response *out);

/* True when the peer answered the last heartbeat. */
bool federation_peer_up(const char *id);

/*
 * Identifies the caller from an "Authorization: Token <t>" header value;
 * true and its id in peer_id (VALIDATE_COMPANY_MAX + 1 bytes) when t is a
 * token we issued to that peer.
 */
bool federation_authenticate(const char *authorization, char *peer_id);

/* True when authorization carries the registration secret. */
bool federation_is_registration_secret(const char *authorization);

/* A registration as read from its body {"id","url","token"}: strings borrowed from it. */
struct federation_registration {
	const char *id, *url, *token;
};

/*
 * Pure: reads and checks a registration's body: id another company's than
 * self, url http(s) of visible ASCII without quotes, backslashes or angle brackets, token at least
 * 32 hex digits. False with err (a 400). Fuzzed (tests/fuzz/fuzz_body_peer.c).
 */
bool federation_read_registration(json_t *body, const char *self, struct federation_registration *out,
				  struct jsonx_error *err) __attribute__((warn_unused_result));

/*
 * Records a peer that registered with us and issues its inbound token into
 * issued (FEDERATION_TOKEN_MAX bytes). False on a database error.
 */
bool federation_accept_registration(const char *id, const char *url, const char *their_token, char *issued);

/*
 * A member's handshake repeated as it was (same URL, same token offered: its
 * first answer was lost): true and the token we issued it then in issued
 * (FEDERATION_TOKEN_MAX bytes), so it can finish. Anything else is no repeat.
 */
bool federation_registration_repeated(const char *id, const char *url, const char *their_token, char *issued);

/* True when id is a member with credentials (registered): the secret no longer admits it. */
bool federation_peer_registered(const char *id);

/* True while id is in the peer table (not removed). */
bool federation_peer_known(const char *id);

/*
 * Removes a peer (policy: peer.manage, an operator of this company): its row
 * and credentials, its cached stations, its key for car tokens, its heartbeat.
 * CONFLICT (peer_in_doubt) while it has a transaction prepared here or a trip
 * we coordinate with it is unfinished; CONFLICT (peer_configured) while
 * EVC_PEERS names it; NOT_FOUND for an unknown id. r holds the answer.
 */
enum evc_err federation_peer_remove(struct app *app, const struct actor *actor, const char *id,
				    const char *request_id, struct core_result *r);

/* Marks a peer's credentials as refused (a 401), so the handshake runs again. */
void federation_credentials_refused(const char *id);

/* Live servers, self first then peers that are up, rotated per call (new reference). */
json_t *federation_servers(void);

/*
 * Whether the federation is formed as this company sees it: every peer up,
 * credentials exchanged both ways, its catalogue fetched. {"ready": bool,
 * "missing": ["b:down", "b:credentials", "c:catalogue", ...]} (new reference).
 */
json_t *federation_readiness(void);

/* All peers with health, for dashboards (new reference). */
json_t *federation_peers_json(void);

#endif
