/*
 * /trip-waitlist: the REST adapter of the trip waitlist (core/trip_waitlist.c):
 * a car waits for a whole trip across companies, booked atomically when every
 * leg fits again, and is told over MQTT.
 */
#include "api.h"
#include "app.h"
#include "trip_waitlist.h"

#include <string.h>

int api_trip_waitlist_create(struct http_request *req)
{
	json_t *body = NULL;
	int status = http_read_json_object(req, &body);
	if (status != 0)
		return status;
	struct core_result r = CORE_RESULT_INIT;
	trip_waitlist_join(req->app, &req->actor, body, req->request_id, &r);
	json_decref(body);
	return http_reply_result(req, &r);
}

int api_trip_waitlist_list(struct http_request *req)
{
	static const char *const known[] = { "waiting", "booked", "expired", "left", "failed", NULL };
	char wstatus[16];
	struct core_result r = CORE_RESULT_INIT;
	int has_status = http_query(req, "status", wstatus, sizeof(wstatus));
	if (has_status > 1)
		return has_status;
	bool valid = !has_status;
	for (const char *const *k = known; !valid && *k != NULL; k++)
		valid = strcmp(wstatus, *k) == 0;
	if (!valid)
		core_fail(&r, EVC_ERR_INVALID, "invalid_field", "status must be waiting, booked, expired, left or failed");
	else
		trip_waitlist_list(req->app, &req->actor, has_status ? wstatus : NULL, req->request_id, &r);
	return http_reply_result(req, &r);
}

int api_trip_waitlist_get(struct http_request *req)
{
	struct core_result r = CORE_RESULT_INIT;
	trip_waitlist_get(req->app, &req->actor, req->params[0], req->request_id, &r);
	return http_reply_result(req, &r);
}

int api_trip_waitlist_delete(struct http_request *req)
{
	struct core_result r = CORE_RESULT_INIT;
	trip_waitlist_leave(req->app, &req->actor, req->params[0], req->request_id, &r);
	return http_reply_result(req, &r);
}
