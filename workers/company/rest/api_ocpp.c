/*
 * /stations/{id}/ocpp: a station as an OCPP charge point, for this company's
 * operator: its chargers' state and connection (GET), a new key (POST .../key),
 * remote commands (POST .../commands). Thin: the core decides (chargers.h).
 */
#include "api.h"
#include "app.h"
#include "chargers.h"
#include "ocpp.h"

int api_ocpp_get(struct http_request *req)
{
	struct core_result r = CORE_RESULT_INIT;
	chargers_list(req->app, &req->actor, req->params[0], ocpp_connected(req->params[0]), req->request_id, &r);
	return http_reply_result(req, &r);
}

int api_ocpp_key_rotate(struct http_request *req)
{
	struct core_result r = CORE_RESULT_INIT;
	if (chargers_key_rotate(req->app, &req->actor, req->params[0], req->request_id, &r) == EVC_OK)
		chargers_key_rotated(req->params[0]);
	return http_reply_result(req, &r);
}

int api_ocpp_command(struct http_request *req)
{
	json_t *input = NULL;
	int status = http_read_json_object(req, &input);
	if (status != 0)
		return status;
	struct core_result r = CORE_RESULT_INIT;
	chargers_command(req->app, &req->actor, req->params[0], input, req->request_id, &r);
	json_decref(input);
	return http_reply_result(req, &r);
}
