#include "catalogue.h"
#include "coredb.h"
#include "federation.h"
#include "policy.h"

enum evc_err catalogue_network_stations(struct app *app, const struct actor *actor, const char *request_id,
					struct core_result *r)
{
	static const char sql[] =
		"SELECT json_build_object('items', coalesce(json_agg(x.station ORDER BY x.id), '[]'::json)) FROM ("
		"  SELECT s.id, (station_json(s)::jsonb || jsonb_build_object('owner_status', 'up', 'cached', false)) AS station"
		"  FROM stations s"
		"  UNION ALL"
		"  SELECT ps.station_id, ps.data || jsonb_build_object('owner_status', p.status, 'cached', true)"
		"  FROM peer_stations ps JOIN peers p ON p.id = ps.company) x";
	if (policy_check(actor, POLICY_CATALOGUE_READ, NULL, request_id, r) != EVC_OK)
		return r->err;
	return coredb_query_json(app, r, "no stations", sql, 0, NULL, request_id);
}

enum evc_err catalogue_servers(struct app *app, const struct actor *actor, const char *request_id,
			       struct core_result *r)
{
	(void)app;
	if (policy_check(actor, POLICY_CATALOGUE_READ, NULL, request_id, r) != EVC_OK)
		return r->err;
	core_ok(r, json_pack("{s:o}", "items", federation_servers()));
	return EVC_OK;
}
