/*
 * The federation's server-to-server API: the credentials handshake, heartbeat,
 * the participant side of two-phase commit and the coordinator's decisions,
 * plus read-only views of the network for cars and dashboards.
 */
#include "api.h"
#include "app.h"
#include "carauth.h"
#include "catalogue.h"
#include "failpoint.h"
#include "federation.h"
#include "log.h"
#include "twopc.h"
#include "validate.h"

#include <string.h>

/* 0 and the caller's company in peer when a peer calls (policy: federation.call), else the refusal sent. */
static int require_peer(struct http_request *req, char peer[VALIDATE_COMPANY_MAX + 1])
{
	int status = api_authorize(req, POLICY_FEDERATION_CALL);
	if (status == 0)
		snprintf(peer, VALIDATE_COMPANY_MAX + 1, "%.*s", VALIDATE_COMPANY_MAX, req->actor.id);
	return status;
}

static int reply_participant(struct http_request *req, struct peer_response *r)
{
	return http_reply_json(req, (int)r->status, r->body, NULL);
}

int api_federation_ping(struct http_request *req)
{
	char peer[VALIDATE_COMPANY_MAX + 1];
	int status = require_peer(req, peer);
	if (status != 0)
		return status;
	/* The answer carries our car-token key and revocations: every heartbeat keeps peers current. */
	json_t *body = carauth_announcement(req->app);
	json_object_set_new(body, "company", json_string(req->app->cfg.company_id));
	json_object_set_new(body, "caller", json_string(peer));
	json_object_set_new(body, "urls", twopc_instance_urls(req->app)); /* every live replica: peers fail over */
	return http_reply_json(req, 200, body, NULL);
}

int api_federation_register(struct http_request *req)
{
	json_t *body = NULL;
	struct jsonx_error err;
	struct federation_registration reg;
	char issued[FEDERATION_TOKEN_MAX];
	int status;

	/* The secret admits newcomers; a member's URL or token changes only with its own credential or our operator's. */
	bool member_or_operator = req->actor.kind == ACTOR_PEER || req->actor.kind == ACTOR_OPERATOR;
	if (!member_or_operator && !federation_is_registration_secret(mg_get_header(req->conn, "Authorization")))
		return http_reply_error(req, 401, "unauthorized", "registration needs 'Authorization: Token <registration secret>'");
	if ((status = http_read_json_object(req, &body)) != 0)
		return status;
	if (!federation_read_registration(body, req->app->cfg.company_id, &reg, &err)) {
		status = http_reply_field_error(req, &err);
	} else if (req->actor.kind == ACTOR_PEER && strcmp(req->actor.id, reg.id) != 0) {
		log_warn("event=refused req=%s actor=peer:%s action=federation.register id=%s", req->request_id, req->actor.id,
			 reg.id);
		status = http_reply_error(req, 403, "forbidden", "a member changes its own registration only");
	} else if (!member_or_operator && federation_registration_repeated(reg.id, reg.url, reg.token, issued)) {
		status = http_reply_json(req, 201, json_pack("{s:s, s:s, s:s}", "id", req->app->cfg.company_id, "url",
							     req->app->cfg.public_url, "token", issued), NULL);
	} else if (!member_or_operator && federation_peer_registered(reg.id)) {
		log_warn("event=refused req=%s actor=registration_secret action=federation.register id=%s reason=already_member",
			 req->request_id, reg.id);
		status = http_reply_error(req, 409, "already_registered",
					  "company '%s' is already a member: changing its URL or token needs its current credential "
					  "or an operator of this company", reg.id);
	} else if (!federation_accept_registration(reg.id, reg.url, reg.token, issued)) {
		status = http_reply_db_unavailable(req);
	} else {
		status = http_reply_json(req, 201, json_pack("{s:s, s:s, s:s}", "id", req->app->cfg.company_id, "url",
							     req->app->cfg.public_url, "token", issued), NULL);
	}
	json_decref(body);
	return status;
}

int api_federation_peers(struct http_request *req)
{
	return http_reply_json(req, 200, json_pack("{s:o}", "items", federation_peers_json()), NULL);
}

int api_federation_peer_delete(struct http_request *req)
{
	struct core_result r = CORE_RESULT_INIT;
	federation_peer_remove(req->app, &req->actor, req->params[0], req->request_id, &r);
	return http_reply_result(req, &r);
}

int api_federation_servers(struct http_request *req)
{
	struct core_result r = CORE_RESULT_INIT;
	catalogue_servers(req->app, &req->actor, req->request_id, &r);
	return http_reply_result(req, &r);
}

int api_network_stations(struct http_request *req)
{
	struct core_result r = CORE_RESULT_INIT;
	catalogue_network_stations(req->app, &req->actor, req->request_id, &r);
	return http_reply_result(req, &r);
}

int api_federation_prepare(struct http_request *req)
{
	char peer[VALIDATE_COMPANY_MAX + 1];
	json_t *body = NULL;
	int status;
	if ((status = require_peer(req, peer)) != 0 || (status = http_read_json_object(req, &body)) != 0)
		return status;
	const char *coordinator = json_string_value(json_object_get(body, "coordinator"));
	const char *trip = json_string_value(json_object_get(body, "trip_id"));
	if (trip != NULL && validate_uuid(trip))
		snprintf(req->trip_id, sizeof(req->trip_id), "%s", trip);
	if (coordinator == NULL || strcmp(coordinator, peer) != 0) {
		json_decref(body);
		return http_reply_error(req, 403, "forbidden", "a company prepares only the transactions it coordinates");
	}
	struct peer_response r;
	twopc_prepare(req->app, body, req->request_id, &r);
	json_decref(body);
	return reply_participant(req, &r);
}

/* Commit and abort: only the gid's coordinator may tell. */
static int finish(struct http_request *req, bool commit)
{
	char peer[VALIDATE_COMPANY_MAX + 1], coordinator[VALIDATE_COMPANY_MAX + 1], trip[37];
	json_t *body = NULL;
	int status;
	if ((status = require_peer(req, peer)) != 0 || (status = http_read_json_object(req, &body)) != 0)
		return status;
	const char *gid = json_string_value(json_object_get(body, "gid"));
	bool valid = gid != NULL && twopc_gid_parse(gid, coordinator, sizeof(coordinator), trip);
	if (valid)
		snprintf(req->trip_id, sizeof(req->trip_id), "%s", trip);
	if (!valid) {
		status = http_reply_error(req, 400, "invalid_gid", "field 'gid' must be a transaction id");
	} else if (strcmp(coordinator, peer) != 0) {
		status = http_reply_error(req, 403, "forbidden", "only the coordinator decides a transaction");
	} else {
		struct peer_response r;
		if (commit)
			twopc_commit(req->app, gid, &r);
		else
			twopc_abort(req->app, gid, &r);
		status = reply_participant(req, &r);
	}
	json_decref(body);
	return status;
}

int api_federation_commit(struct http_request *req)
{
	return finish(req, true);
}

int api_federation_abort(struct http_request *req)
{
	return finish(req, false);
}

int api_federation_decision(struct http_request *req)
{
	char peer[VALIDATE_COMPANY_MAX + 1], coordinator[VALIDATE_COMPANY_MAX + 1], trip[37];
	int status = require_peer(req, peer);
	if (status != 0)
		return status;
	const char *gid = req->params[0];
	if (!twopc_gid_parse(gid, coordinator, sizeof(coordinator), trip) || strcmp(coordinator, req->app->cfg.company_id) != 0)
		return http_reply_error(req, 404, "not_found", "no transaction coordinated here with that id");
	snprintf(req->trip_id, sizeof(req->trip_id), "%s", trip);
	const char *decision = twopc_decision(req->app, gid);
	if (decision == NULL)
		return http_reply_db_unavailable(req);
	return http_reply_json(req, 200, json_pack("{s:s, s:s}", "gid", gid, "decision", decision), NULL);
}

int api_federation_transactions(struct http_request *req)
{
	static const char sql[] =
		"SELECT json_build_object("
		" 'in_flight', (SELECT coalesce(json_agg(transaction_json(x) ORDER BY x.updated_at), '[]'::json)"
		"   FROM distributed_transactions x WHERE x.in_flight),"
		" 'recent', (SELECT coalesce(json_agg(transaction_json(x) ORDER BY x.updated_at DESC), '[]'::json)"
		"   FROM (SELECT * FROM distributed_transactions ORDER BY updated_at DESC LIMIT 50) x),"
		" 'prepared_here', (SELECT coalesce(json_agg(json_build_object('gid', gid, 'prepared', rfc3339(prepared))"
		"   ORDER BY prepared), '[]'::json) FROM pg_prepared_xacts WHERE database = current_database()))";
	return api_reply_query(req, 200, "nothing", sql, 0, NULL);
}

int api_admin_failpoints(struct http_request *req)
{
	json_t *body = NULL;
	struct jsonx_error err;
	const char *name;
	int status;
	if ((status = api_authorize(req, POLICY_FAILPOINT_SET)) != 0 || (status = http_read_json_object(req, &body)) != 0)
		return status;
	json_t *enabled = json_object_get(body, "enabled");
	if (!jsonx_string(body, "name", true, 64, &name, &err))
		status = http_reply_field_error(req, &err);
	else if (!json_is_boolean(enabled))
		status = http_reply_error(req, 400, "invalid_field", "field 'enabled' must be true or false");
	else if (!failpoint_set(name, json_is_true(enabled)))
		status = http_reply_error(req, 400, "invalid_field", "no fail point named '%s'", name);
	else
		status = http_reply_json(req, 200, json_pack("{s:s, s:O}", "name", name, "enabled", enabled), NULL);
	json_decref(body);
	return status;
}
