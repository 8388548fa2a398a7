/*
 * /stats: the REST adapter of core/stats.c. It reads the period and the
 * station from the query, calls the core with the actor the credential proved
 * and sends the result; the policy, the bounds and the figures are the core's.
 */
#include "api.h"
#include "app.h"
#include "stats.h"
#include "timeutil.h"

#define STATS_DEFAULT_DAYS 7

int api_stats_get(struct http_request *req)
{
	int64_t from = 0, to = 0;
	char station[VALIDATE_STATION_MAX + 2];
	int rc;

	if ((rc = api_query_time(req, "to", false, &to)) > 1)
		return rc;
	if (rc == 0)
		to = timeutil_now();
	if ((rc = api_query_time(req, "from", false, &from)) > 1)
		return rc;
	if (rc == 0)
		from = to - STATS_DEFAULT_DAYS * 86400;
	if ((rc = http_query(req, "station_id", station, sizeof(station))) > 1)
		return rc;
	struct core_result r = CORE_RESULT_INIT;
	stats_get(req->app, &req->actor, from, to, rc == 1 ? station : NULL, req->request_id, &r);
	return http_reply_result(req, &r);
}
