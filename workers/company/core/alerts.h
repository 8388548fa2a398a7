/*
 * The alerts: what needs this company's operator now. One function computes
 * them all, from the database (stations, OCPP chargers, prepared
 * transactions, sessions of the last hour) and the federation's view of the
 * peers; GET /api/v1/alerts and the dashboard show its answer. Read-only: it
 * never writes anything and never calls a peer.
 *
 * The rules (the answer repeats them under "rules"):
 *   station_offline      critical  the operator set the station offline, or its
 *                                  OCPP charge point was seen once and has been
 *                                  silent for 2 heartbeat intervals + 60 s
 *   station_maintenance  warning   the station is in maintenance
 *   charger_faulted      critical  a charger's (or, 0, the station's) last OCPP
 *                                  status is Faulted
 *   charger_unavailable  warning   ... is Unavailable
 *   peer_down            critical  a peer missed its heartbeats (federation.c)
 *   in_doubt             critical  a prepared transaction older than
 *                                  EVC_ALERT_IN_DOUBT_SECONDS (60)
 *   station_busy         warning   busy charger-hours of the last 60 minutes
 *                                  (checked-in sessions) / chargers above
 *                                  EVC_ALERT_BUSY_PERCENT (90) %
 */
#ifndef EVC_ALERTS_H
#define EVC_ALERTS_H

#include "actor.h"
#include "errors.h"

struct app;

/*
 * The current alerts into r: {"generated_at", "rules", "count", "truncated",
 * "items": [{"kind", "severity", "message", "since", "station_id", "charger",
 * "peer", "gid", "value"}]}, critical first, then the newest (what just
 * broke is never cut off by old news); at most
 * EVC_ALERTS_MAX items ("count" tells them all). Operator only
 * (POLICY_ALERTS_READ).
 */
enum evc_err alerts_list(struct app *app, const struct actor *actor, const char *request_id, struct core_result *r);

#endif
