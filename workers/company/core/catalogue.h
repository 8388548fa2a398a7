/*
 * The public catalogue a car reads before it books: every station of the
 * federation (ours live, peers' from the cached catalogue) and the live
 * servers to ask. Read-only; the policy lets anyone read it.
 */
#ifndef EVC_CATALOGUE_H
#define EVC_CATALOGUE_H

#include "actor.h"
#include "errors.h"

struct app;

/* {"items":[station...]}: ours and the peers' cached ones, with their owner's health. */
enum evc_err catalogue_network_stations(struct app *app, const struct actor *actor, const char *request_id,
					struct core_result *r);

/* {"items":[server...]}: this server first, then the peers that are up, rotated per call. */
enum evc_err catalogue_servers(struct app *app, const struct actor *actor, const char *request_id,
			       struct core_result *r);

#endif
