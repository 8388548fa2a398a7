/*
 * /alerts: the REST adapter of core/alerts.c. No input: it calls the core with
 * the actor the credential proved and sends the result.
 */
#include "alerts.h"
#include "api.h"

int api_alerts_get(struct http_request *req)
{
	struct core_result r = CORE_RESULT_INIT;
	alerts_list(req->app, &req->actor, req->request_id, &r);
	return http_reply_result(req, &r);
}
