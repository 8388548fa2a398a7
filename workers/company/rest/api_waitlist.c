/*
 * /waitlist: the REST adapter of the waitlist's entries (core/waitlist_entries.c);
 * the consumer in core/waitlist.c grants in arrival order and tells the car
 * over MQTT.
 */
#include "api.h"
#include "app.h"
#include "waitlist.h"

int api_waitlist_create(struct http_request *req)
{
	json_t *body = NULL;
	int status = http_read_json_object(req, &body);
	if (status != 0)
		return status;
	struct core_result r = CORE_RESULT_INIT;
	waitlist_join(req->app, &req->actor, body, req->request_id, &r);
	json_decref(body);
	return http_reply_result(req, &r);
}

int api_waitlist_get(struct http_request *req)
{
	struct core_result r = CORE_RESULT_INIT;
	waitlist_get(req->app, &req->actor, req->params[0], req->request_id, &r);
	return http_reply_result(req, &r);
}

int api_waitlist_list(struct http_request *req)
{
	static const char sql[] =
		"SELECT json_build_object('items', coalesce(json_agg(waitlist_json(w) ORDER BY w.seq), '[]'::json))"
		" FROM (SELECT * FROM waitlist WHERE ($1::text IS NULL OR station_id = $1 OR (station_id IS NULL AND city ="
		"   (SELECT city FROM stations WHERE id = $1))) AND ($2::text IS NULL OR status = $2)"
		"   AND ($3::text IS NULL OR car_id = $3)"
		"   ORDER BY seq DESC LIMIT 500) w";
	char station[VALIDATE_STATION_MAX + 1], wstatus[16];
	int has_station = http_query(req, "station_id", station, sizeof(station));
	if (has_station > 1)
		return has_station;
	int has_status = http_query(req, "status", wstatus, sizeof(wstatus));
	if (has_status > 1)
		return has_status;
	const char *scope;
	struct core_result refused = CORE_RESULT_INIT;
	if (policy_list_scope(&req->actor, POLICY_WAITLIST_READ, NULL, &scope, req->request_id, &refused) != EVC_OK)
		return http_reply_result(req, &refused);
	const char *params[] = { has_station ? station : NULL, has_status ? wstatus : NULL, scope };
	return api_reply_query(req, 200, "nothing", sql, 3, params);
}

int api_waitlist_delete(struct http_request *req)
{
	struct core_result r = CORE_RESULT_INIT;
	waitlist_withdraw(req->app, &req->actor, req->params[0], req->request_id, &r);
	return http_reply_result(req, &r);
}
