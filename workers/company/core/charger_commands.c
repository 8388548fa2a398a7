/*
 * The operator's remote commands to a charge point (chargers.h). The core
 * decides who may and checks the input; the OCPP adapter carries the call.
 */
#include "app.h"
#include "chargers.h"
#include "jsonx.h"
#include "log.h"
#include "ocpp.h"
#include "ocpp_schema.h"
#include "policy.h"
#include "validate.h"

#include <stdio.h>
#include <string.h>

static const char *const commands[] = { "RemoteStartTransaction", "RemoteStopTransaction", "ChangeAvailability",
					"Reset", NULL };

static bool known_command(const char *action)
{
	for (const char *const *c = commands; *c != NULL; c++)
		if (strcmp(*c, action) == 0)
			return true;
	return false;
}

static enum evc_err send_command(struct app *app, const char *station_id, const char *action, json_t *payload,
				 const char *request_id, struct core_result *r)
{
	json_t *answer = NULL;
	char why[330];
	enum ocpp_call_outcome outcome =
		ocpp_call(app, station_id, action, payload, app->cfg.ocpp_call_timeout_ms, &answer, why, sizeof(why));
	log_info("event=ocpp_command req=%s station=%s action=%s outcome=%s", request_id, station_id, action,
		 ocpp_call_outcome_name(outcome));
	switch (outcome) {
	case OCPP_CALL_ANSWERED:
		core_ok(r, json_pack("{s:s, s:s, s:o}", "station_id", station_id, "action", action, "answer", answer));
		return EVC_OK;
	case OCPP_CALL_OFFLINE:
		return core_fail(r, EVC_ERR_CONFLICT, "station_offline", "station '%s' is not connected to this server",
				 station_id);
	case OCPP_CALL_ERROR:
		return core_fail(r, EVC_ERR_CONFLICT, "charger_error", "the charge point answered: %s", why);
	case OCPP_CALL_TIMEOUT:
		r->retry_after = 1;
		return core_fail(r, EVC_ERR_UNAVAILABLE, "charger_timeout", "the charge point did not answer in %d ms",
				 app->cfg.ocpp_call_timeout_ms);
	case OCPP_CALL_INVALID:
		break;
	}
	return core_fail(r, EVC_ERR_INTERNAL, "internal", "the command could not be built");
}

enum evc_err chargers_command(struct app *app, const struct actor *actor, const char *station_id, json_t *input,
			      const char *request_id, struct core_result *r)
{
	struct jsonx_error err;
	const char *action;
	if (policy_check_station(actor, POLICY_CHARGER_MANAGE, station_id, request_id, r) != EVC_OK)
		return r->err;
	if (!validate_station_id(station_id))
		return core_fail(r, EVC_ERR_NOT_FOUND, "not_found", "no such station");
	if (!jsonx_string(input, "action", true, 64, &action, &err))
		return core_fail(r, EVC_ERR_INVALID, err.code, "%s", err.message);
	if (!known_command(action))
		return core_fail(r, EVC_ERR_INVALID, "invalid_field",
				 "field 'action' must be RemoteStartTransaction, RemoteStopTransaction, ChangeAvailability or Reset");
	json_t *payload = json_object_get(input, "payload");
	char why[256];
	if (!json_is_object(payload))
		return core_fail(r, EVC_ERR_INVALID, "invalid_field", "field 'payload' must be the OCPP request, an object");
	if (ocpp_schema_check(ocpp_schemas_get(), action, payload, why, sizeof(why)) != NULL)
		return core_fail(r, EVC_ERR_INVALID, "invalid_field", "field 'payload' is not a valid %s: %s", action, why);
	return send_command(app, station_id, action, payload, request_id, r);
}

void chargers_key_rotated(const char *station_id)
{
	ocpp_disconnect(station_id);
}
