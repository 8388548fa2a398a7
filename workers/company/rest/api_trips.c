/*
 * /trips: the REST adapter of core/trips.c. It decodes the request (body,
 * Idempotency-Key, ?local=1), calls the core with the actor the credential
 * proved, and encodes the result.
 */
#include "api.h"
#include "app.h"
#include "trips.h"
#include "validate.h"

#include <stdio.h>
#include <string.h>

int api_trips_create(struct http_request *req)
{
	json_t *body = NULL;
	int status = http_read_json_object(req, &body);
	if (status != 0)
		return status;
	struct core_result r = CORE_RESULT_INIT;
	trips_create(req->app, &req->actor, body, mg_get_header(req->conn, "Idempotency-Key"), req->request_id, &r);
	const char *trip = json_string_value(json_object_get(r.body, "id"));
	if (trip == NULL)
		trip = json_string_value(json_object_get(json_object_get(r.body, "trip"), "id"));
	if (trip != NULL && validate_uuid(trip))
		snprintf(req->trip_id, sizeof(req->trip_id), "%s", trip);
	json_decref(body);
	return http_reply_result(req, &r);
}

/* Any server answers for a trip by asking its peers; ?local=1 asks only here. */
int api_trips_get(struct http_request *req)
{
	char local[4];
	int rc = http_query(req, "local", local, sizeof(local));
	if (rc > 1)
		return rc;
	if (validate_uuid(req->params[0]))
		snprintf(req->trip_id, sizeof(req->trip_id), "%.36s", req->params[0]);
	struct core_result r = CORE_RESULT_INIT;
	trips_get(req->app, &req->actor, req->params[0], rc == 1, req->request_id, &r);
	return http_reply_result(req, &r);
}

int api_trips_list(struct http_request *req)
{
	static const char sql[] =
		"SELECT json_build_object('items', coalesce(json_agg(trip_json(t) ORDER BY t.created_at DESC), '[]'::json))"
		" FROM (SELECT * FROM trips WHERE ($1::text IS NULL OR car_id = $1) ORDER BY created_at DESC LIMIT 100) t";
	char car[VALIDATE_CAR_MAX + 1];
	int rc = http_query(req, "car_id", car, sizeof(car));
	if (rc > 1)
		return rc;
	if (rc == 1 && !validate_car_id(car))
		return http_reply_error(req, 400, "invalid_parameter", "query parameter 'car_id' must be a car id");
	const char *scope;
	struct core_result refused = CORE_RESULT_INIT;
	if (policy_list_scope(&req->actor, POLICY_TRIP_READ, rc == 1 ? car : NULL, &scope, req->request_id, &refused) !=
	    EVC_OK)
		return http_reply_result(req, &refused);
	const char *params[] = { scope };
	return api_reply_query(req, 200, "no trips", sql, 1, params);
}

static int change_trip(struct http_request *req, const char *op)
{
	if (validate_uuid(req->params[0]))
		snprintf(req->trip_id, sizeof(req->trip_id), "%.36s", req->params[0]);
	struct core_result r = CORE_RESULT_INIT;
	trips_change(req->app, &req->actor, req->params[0], op, req->request_id, &r);
	return http_reply_result(req, &r);
}

int api_trips_cancel(struct http_request *req)
{
	return change_trip(req, "cancel");
}

int api_trips_finish(struct http_request *req)
{
	return change_trip(req, "finish");
}
