#include "alerts.h"
#include "app.h"
#include "coredb.h"
#include "federation.h"
#include "log.h"
#include "policy.h"

#include <stdio.h>
#include <stdlib.h>

/*
 * Every rule of alerts.h as one branch of a UNION, so they are ranked and
 * bounded together. $1 the peers as federation_peers_json() tells them, $2 the
 * seconds after which a charge point is silent, $3 EVC_ALERT_IN_DOUBT_SECONDS,
 * $4 EVC_ALERT_BUSY_PERCENT, $5 EVC_ALERTS_MAX.
 */
static const char alerts_sql[] =
	"WITH a AS ("
	" SELECT 'station_offline' AS kind, 'critical' AS severity, s.id AS station_id, NULL::integer AS charger,"
	"        NULL::text AS peer, NULL::text AS gid, rfc3339(s.updated_at) AS since, NULL::numeric AS value,"
	"        format('Station %s (%s) is offline: it takes no bookings.', s.id, s.city) AS message"
	" FROM stations s WHERE s.status = 'offline'"
	" UNION ALL"
	" SELECT 'station_offline', 'critical', s.id, NULL, NULL, NULL, rfc3339(o.last_seen), NULL,"
	"        format('Station %s (%s): its charge point has been silent since %s.', s.id, s.city, rfc3339(o.last_seen))"
	" FROM stations s JOIN ocpp_stations o ON o.station_id = s.id"
	" WHERE s.status <> 'offline' AND o.last_seen < now() - make_interval(secs => $2::int)"
	" UNION ALL"
	" SELECT 'station_maintenance', 'warning', s.id, NULL, NULL, NULL, rfc3339(s.updated_at), NULL,"
	"        format('Station %s (%s) is in maintenance: it takes no bookings.', s.id, s.city)"
	" FROM stations s WHERE s.status = 'maintenance'"
	" UNION ALL"
	" SELECT CASE c.state WHEN 'Faulted' THEN 'charger_faulted' ELSE 'charger_unavailable' END,"
	"        CASE c.state WHEN 'Faulted' THEN 'critical' ELSE 'warning' END,"
	"        c.station_id, c.charger, NULL, NULL, rfc3339(c.updated_at), NULL,"
	"        format('%s of station %s is %s (%s%s).', CASE c.charger WHEN 0 THEN 'The charge point'"
	"               ELSE 'Charger ' || c.charger END, c.station_id, lower(c.state), c.error_code,"
	"               coalesce(': ' || c.info, ''))"
	" FROM ocpp_chargers c WHERE c.state IN ('Faulted', 'Unavailable')"
	" UNION ALL"
	" SELECT 'peer_down', 'critical', NULL, NULL, p->>'company', NULL, p->>'last_seen', NULL,"
	"        format('Peer %s is down (last heard %s): its stations are left out of plans.', p->>'company',"
	"               coalesce(p->>'last_seen', 'never'))"
	" FROM json_array_elements($1::json) p WHERE p->>'status' = 'down'"
	" UNION ALL"
	" SELECT 'in_doubt', 'critical', NULL, NULL, NULL, x.gid, rfc3339(x.prepared),"
	"        round(extract(epoch FROM now() - x.prepared)),"
	"        format('Transaction %s has been in doubt for %s s: its locks hold until it is decided.', x.gid,"
	"               round(extract(epoch FROM now() - x.prepared)))"
	" FROM pg_prepared_xacts x"
	" WHERE x.database = current_database() AND x.prepared < now() - make_interval(secs => $3::int)"
	" UNION ALL"
	" SELECT 'station_busy', 'warning', b.id, NULL, NULL, NULL, rfc3339(now() - interval '1 hour'), round(b.u, 4),"
	"        format('Station %s (%s) was %s %% busy over the last hour.', b.id, b.city, round(b.u * 100))"
	" FROM (SELECT s.id, s.city, station_busy_hours(s.id, now() - interval '1 hour', now()) / s.chargers AS u"
	"       FROM stations s) b"
	" WHERE b.u * 100 > $4::int),"
	" ranked AS (SELECT json_strip_nulls(row_to_json(a)) AS j,"
	"        row_number() OVER (ORDER BY a.severity = 'critical' DESC, a.since DESC NULLS FIRST, a.kind,"
	"                                    a.station_id, a.charger, a.peer, a.gid) AS n"
	" FROM a)"
	" SELECT json_build_object('generated_at', rfc3339(now()),"
	"   'rules', json_build_object('in_doubt_seconds', $3::int, 'busy_percent', $4::int,"
	"                              'busy_window_minutes', 60, 'silent_seconds', $2::int),"
	"   'count', (SELECT count(*) FROM ranked), 'truncated', (SELECT count(*) FROM ranked) > $5::int,"
	"   'items', coalesce((SELECT json_agg(j ORDER BY n) FROM ranked WHERE n <= $5::int), '[]'::json))";

enum evc_err alerts_list(struct app *app, const struct actor *actor, const char *request_id, struct core_result *r)
{
	if (policy_check(actor, POLICY_ALERTS_READ, NULL, request_id, r) != EVC_OK)
		return r->err;
	json_t *peers = federation_peers_json();
	char *peers_text = json_dumps(peers, JSON_COMPACT);
	json_decref(peers);
	if (peers_text == NULL)
		return core_fail(r, EVC_ERR_INTERNAL, "internal", "out of memory");
	char silent[16], in_doubt[16], busy[16], max[16];
	snprintf(silent, sizeof(silent), "%d", 2 * app->cfg.ocpp_heartbeat_seconds + 60);
	snprintf(in_doubt, sizeof(in_doubt), "%d", app->cfg.alert_in_doubt_seconds);
	snprintf(busy, sizeof(busy), "%d", app->cfg.alert_busy_percent);
	snprintf(max, sizeof(max), "%d", app->cfg.alerts_max);
	const char *params[] = { peers_text, silent, in_doubt, busy, max };
	log_debug("event=alerts_read req=%s", request_id);
	enum evc_err err = coredb_query_json(app, r, "no alerts", alerts_sql, 5, params, request_id);
	free(peers_text);
	return err;
}
