/*
 * The operator's figures: energy sold, revenue, sessions, utilisation by hour,
 * no-shows, cancellations and the waitlist over a period, for every station of
 * this company or one. Computed by PostgreSQL (company_stats() and the v_*
 * views of db/migrations/013_business.sql); this module checks who asks and
 * the period's bounds. Read-only: it never writes anything.
 */
#ifndef EVC_STATS_H
#define EVC_STATS_H

#include <stdint.h>

#include "actor.h"
#include "errors.h"

struct app;

/*
 * The figures of [from, to) (epoch seconds) for station_id (NULL: every
 * station) into r. Operator only (POLICY_STATS_READ); a period longer than
 * EVC_STATS_MAX_DAYS or inverted is INVALID, an unknown or another company's
 * station NOT_FOUND.
 */
enum evc_err stats_get(struct app *app, const struct actor *actor, int64_t from, int64_t to, const char *station_id,
		       const char *request_id, struct core_result *r);

#endif
