#include "stats.h"
#include "app.h"
#include "bounds.h"
#include "coredb.h"
#include "log.h"
#include "policy.h"
#include "timeutil.h"
#include "validate.h"

#include <string.h>

enum evc_err stats_get(struct app *app, const struct actor *actor, int64_t from, int64_t to, const char *station_id,
		       const char *request_id, struct core_result *r)
{
	static const char sql[] = "SELECT company_stats($1::timestamptz, $2::timestamptz, $3)"
				  " WHERE $3::text IS NULL OR EXISTS (SELECT 1 FROM stations WHERE id = $3)";
	char owner[VALIDATE_COMPANY_MAX + 1];

	if (policy_check(actor, POLICY_STATS_READ, NULL, request_id, r) != EVC_OK)
		return r->err;
	const char *problem = bounds_stats_period(&app->cfg, from, to);
	if (problem != NULL)
		return core_fail(r, EVC_ERR_INVALID, "invalid_parameter", "%s", problem);
	if (station_id != NULL &&
	    (!validate_station_company(station_id, owner, sizeof(owner)) || strcmp(owner, app->cfg.company_id) != 0))
		return core_fail(r, EVC_ERR_NOT_FOUND, "not_found",
				 "no station '%.64s' here: the figures cover this company's own stations", station_id);

	char from_text[TIMEUTIL_RFC3339_LEN], to_text[TIMEUTIL_RFC3339_LEN];
	timeutil_format_rfc3339(from, from_text);
	timeutil_format_rfc3339(to, to_text);
	const char *params[] = { from_text, to_text, station_id };
	log_debug("event=stats_read req=%s from=%s to=%s station=%s", request_id, from_text, to_text,
		  station_id != NULL ? station_id : "-");
	return coredb_query_json(app, r, "no such station", sql, 3, params, request_id);
}
