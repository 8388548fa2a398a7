/*
 * One function per action a charge point sends: the payload is already valid
 * against its official schema; each calls the core with the station actor and
 * turns the core's answer into the action's confirmation.
 */
#include "ocpp.h"
#include "actor.h"
#include "chargers.h"
#include "errors.h"
#include "sessions.h"

#include <stdio.h>
#include <string.h>

typedef const char *(*handler_fn)(struct app *app, const struct actor *station, json_t *payload,
				  const char *request_id, json_t **answer, struct core_result *r);

/* The OCPP-J error code of a failed core result, its message in why. */
static const char *core_error(struct core_result *r, char *why, size_t why_size)
{
	json_t *message = json_object_get(json_object_get(r->body, "error"), "message");
	snprintf(why, why_size, "%s", json_is_string(message) ? json_string_value(message) : "refused");
	switch (r->err) {
	case EVC_ERR_INVALID:
	case EVC_ERR_NOT_FOUND:
		return "PropertyConstraintViolation";
	case EVC_ERR_TOO_LARGE:
		return "OccurenceConstraintViolation";
	case EVC_ERR_UNAUTHENTICATED:
	case EVC_ERR_FORBIDDEN:
		return "SecurityError";
	case EVC_ERR_CONFLICT:
	case EVC_ERR_UNPROCESSABLE:
	case EVC_ERR_RATE_LIMITED:
		return "GenericError";
	case EVC_OK:
	case EVC_ERR_INTERNAL:
	case EVC_ERR_UNAVAILABLE:
		break;
	}
	return "InternalError";
}

static const char *boot_notification(struct app *app, const struct actor *station, json_t *payload,
				     const char *request_id, json_t **answer, struct core_result *r)
{
	if (chargers_boot(app, station, payload, request_id, r) != EVC_OK)
		return "";
	*answer = json_pack("{s:s, s:O, s:O}", "status",
			    json_is_true(json_object_get(r->body, "accepted")) ? "Accepted" : "Rejected", "currentTime",
			    json_object_get(r->body, "current_time"), "interval", json_object_get(r->body, "interval"));
	return NULL;
}

static const char *heartbeat(struct app *app, const struct actor *station, json_t *payload, const char *request_id,
			     json_t **answer, struct core_result *r)
{
	(void)payload;
	if (chargers_heartbeat(app, station, request_id, r) != EVC_OK)
		return "";
	*answer = json_pack("{s:O}", "currentTime", json_object_get(r->body, "current_time"));
	return NULL;
}

static const char *status_notification(struct app *app, const struct actor *station, json_t *payload,
				       const char *request_id, json_t **answer, struct core_result *r)
{
	if (chargers_status(app, station, payload, request_id, r) != EVC_OK)
		return "";
	*answer = json_object();
	return NULL;
}

static const char *authorize(struct app *app, const struct actor *station, json_t *payload, const char *request_id,
			     json_t **answer, struct core_result *r)
{
	const char *tag = json_string_value(json_object_get(payload, "idTag"));
	if (chargers_authorize(app, station, tag, request_id, r) != EVC_OK)
		return "";
	json_t *info = json_pack("{s:O}", "status", json_object_get(r->body, "status"));
	if (json_object_get(r->body, "expiry") != NULL)
		json_object_set(info, "expiryDate", json_object_get(r->body, "expiry"));
	*answer = json_pack("{s:o}", "idTagInfo", info);
	return NULL;
}

static const char *start_transaction(struct app *app, const struct actor *station, json_t *payload,
				     const char *request_id, json_t **answer, struct core_result *r)
{
	if (sessions_start(app, station, payload, request_id, r) != EVC_OK)
		return "";
	*answer = json_pack("{s:O, s:{s:O}}", "transactionId", json_object_get(r->body, "transaction_id"), "idTagInfo",
			    "status", json_object_get(r->body, "status"));
	return NULL;
}

static const char *meter_values(struct app *app, const struct actor *station, json_t *payload,
				const char *request_id, json_t **answer, struct core_result *r)
{
	if (sessions_meter(app, station, payload, request_id, r) != EVC_OK)
		return "";
	*answer = json_object();
	return NULL;
}

static const char *stop_transaction(struct app *app, const struct actor *station, json_t *payload,
				    const char *request_id, json_t **answer, struct core_result *r)
{
	enum evc_err err = sessions_stop(app, station, payload, request_id, r);
	if (err == EVC_ERR_NOT_FOUND) {
		/* The charger must not retry a stop forever: answered, the tag marked invalid. */
		*answer = json_pack("{s:{s:s}}", "idTagInfo", "status", "Invalid");
		return NULL;
	}
	if (err != EVC_OK)
		return "";
	*answer = json_pack("{s:{s:s}}", "idTagInfo", "status", "Accepted");
	return NULL;
}

static const struct {
	const char *action;
	handler_fn fn;
} handlers[] = {
	{ "BootNotification", boot_notification },
	{ "Heartbeat", heartbeat },
	{ "StatusNotification", status_notification },
	{ "Authorize", authorize },
	{ "StartTransaction", start_transaction },
	{ "MeterValues", meter_values },
	{ "StopTransaction", stop_transaction },
};

const char *ocpp_handle_call(struct app *app, const struct actor *station, const char *action, json_t *payload,
			     const char *request_id, json_t **answer, char *why, size_t why_size)
{
	for (size_t i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++) {
		if (strcmp(handlers[i].action, action) != 0)
			continue;
		struct core_result r = CORE_RESULT_INIT;
		const char *code = handlers[i].fn(app, station, payload, request_id, answer, &r);
		if (code != NULL)
			code = core_error(&r, why, why_size);
		else if (*answer == NULL)
			code = "InternalError";
		core_result_clear(&r);
		return code;
	}
	snprintf(why, why_size, "action %.64s is not handled by this central system", action);
	return "NotSupported";
}
