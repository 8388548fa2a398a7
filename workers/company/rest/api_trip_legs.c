/*
 * GET /federation/trips/{id}/legs: a trip's coordinator (a peer) reads the
 * live state of the legs this company holds (trip_legs.h). Thin.
 */
#include "api.h"
#include "app.h"
#include "trip_legs.h"

int api_trip_legs_get(struct http_request *req)
{
	struct core_result r = CORE_RESULT_INIT;
	trip_legs_here(req->app, &req->actor, req->params[0], req->request_id, &r);
	return http_reply_result(req, &r);
}
