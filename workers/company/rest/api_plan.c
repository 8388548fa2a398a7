/*
 * /routes/plan and /availability/batch: the REST adapter of core/plan.c. It
 * reads the body, calls the core with the actor the credential proved, and
 * sends the result; the planning, the peers' checks and the policy are the
 * core's, so nothing here may decide or query anything.
 */
#include "api.h"
#include "app.h"
#include "plan.h"

int api_routes_plan(struct http_request *req)
{
	json_t *body = NULL;
	int status = http_read_json_object(req, &body);
	if (status != 0)
		return status;
	struct core_result r = CORE_RESULT_INIT;
	plan_route(req->app, &req->actor, body, req->request_id, &r);
	json_decref(body);
	return http_reply_result(req, &r);
}

int api_availability_batch(struct http_request *req)
{
	json_t *body = NULL;
	int status = http_read_json_object(req, &body);
	if (status != 0)
		return status;
	struct core_result r = CORE_RESULT_INIT;
	plan_availability_batch(req->app, &req->actor, body, req->request_id, &r);
	json_decref(body);
	return http_reply_result(req, &r);
}
