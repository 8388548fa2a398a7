/*
 * Car credentials: bearer tokens this company signs (Ed25519, cartoken.h) and
 * that every server of the federation verifies offline with the issuer's
 * public key, learned from the issuer's heartbeat answers. Revocation is per
 * car and issuer: tokens issued at or before the revocation are refused; the
 * issuer's heartbeat answers carry its revocations, so every server refuses a
 * revoked token within a few heartbeats (seconds, at most a minute).
 *
 * Tokens are secrets: they never reach a log line.
 */
#ifndef EVC_CARAUTH_H
#define EVC_CARAUTH_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "actor.h"
#include "cartoken.h"
#include "errors.h"

struct app;
struct carauth;

/* Loads this company's signing key from the database, creating it once (replicas share it). */
struct carauth *carauth_create(struct app *app);
void carauth_destroy(struct carauth *ca);

/* Our public key as text (CARTOKEN_PUBLIC_B64_LEN bytes). */
void carauth_public_text(const struct carauth *ca, char out[CARTOKEN_PUBLIC_B64_LEN]);

/*
 * Verifies a bearer token: true and *actor set to the car when it is a valid,
 * unrevoked token of this company or of a peer whose key we know. On false,
 * *why is a static reason for the 401 (malformed, unknown issuer, ...).
 */
bool carauth_verify(struct carauth *ca, const char *token, int64_t now, struct actor *actor, const char **why);

/*
 * Issues a token for car_id (operator only; the policy is checked here).
 * On success the body is {"car_id","token","issuer","issued_at","expires_at"}.
 */
enum evc_err carauth_issue(struct app *app, const struct actor *actor, const char *car_id, const char *request_id,
			   struct core_result *r);

/* Revokes every token of car_id this company issued until now (operator only). */
enum evc_err carauth_revoke(struct app *app, const struct actor *actor, const char *car_id, const char *request_id,
			    struct core_result *r);

/* What our heartbeat answers tell peers: {"signing_key", "revocations":[{"car_id","before"}]} (new reference). */
json_t *carauth_announcement(struct app *app);

/* A peer's announcement (borrowed), from its heartbeat answer: its key and revocations. */
void carauth_learn(struct carauth *ca, const char *peer, json_t *announcement);

/* Forgets a removed peer's key and revocations: car tokens it issued are refused from now on. */
void carauth_forget(struct carauth *ca, const char *peer);

/* Reloads our own revocations from the database (sibling replicas may have added some). */
void carauth_refresh(struct app *app);

#endif
