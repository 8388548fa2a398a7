#include "ocpp_frame.h"
#include "jsonx.h"

#include <stdio.h>
#include <string.h>

static const char *bad(char *why, size_t why_size, const char *code, const char *text)
{
	snprintf(why, why_size, "%s", text);
	return code;
}

/* The id (element 1): a string of 1 to OCPP_ID_MAX characters. */
static const char *read_id(json_t *root, struct ocpp_frame *f, char *why, size_t why_size)
{
	json_t *id = json_array_get(root, 1);
	if (!json_is_string(id) || json_string_length(id) == 0 || json_string_length(id) > OCPP_ID_MAX ||
	    strlen(json_string_value(id)) != json_string_length(id))
		return bad(why, why_size, "FormationViolation", "the message id must be a string of 1 to 36 characters");
	snprintf(f->id, sizeof(f->id), "%s", json_string_value(id));
	return NULL;
}

static const char *read_call(json_t *root, struct ocpp_frame *f, char *why, size_t why_size)
{
	json_t *action = json_array_get(root, 2), *payload = json_array_get(root, 3);
	if (json_array_size(root) != 4)
		return bad(why, why_size, "ProtocolError", "a CALL is [2, id, action, payload]");
	if (!json_is_string(action) || json_string_length(action) == 0 || json_string_length(action) > OCPP_ACTION_MAX ||
	    strlen(json_string_value(action)) != json_string_length(action))
		return bad(why, why_size, "FormationViolation", "the action must be a string of 1 to 64 characters");
	if (!json_is_object(payload))
		return bad(why, why_size, "FormationViolation", "the payload must be a JSON object");
	snprintf(f->action, sizeof(f->action), "%s", json_string_value(action));
	f->payload = payload;
	return NULL;
}

static const char *read_error(json_t *root, struct ocpp_frame *f, char *why, size_t why_size)
{
	json_t *code = json_array_get(root, 2), *text = json_array_get(root, 3);
	if (json_array_size(root) != 5)
		return bad(why, why_size, "ProtocolError", "a CALLERROR is [4, id, errorCode, errorDescription, errorDetails]");
	if (!json_is_string(code) || !json_is_string(text) || !json_is_object(json_array_get(root, 4)))
		return bad(why, why_size, "FormationViolation", "a CALLERROR holds two strings and an object");
	snprintf(f->error_code, sizeof(f->error_code), "%s", json_string_value(code));
	snprintf(f->error_description, sizeof(f->error_description), "%s", json_string_value(text));
	return NULL;
}

const char *ocpp_frame_parse(const char *data, size_t len, struct ocpp_frame *f, char *why, size_t why_size)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->id, sizeof(f->id), "-1");
	json_error_t err;
	if (!jsonx_depth_ok(data, len, OCPP_MAX_JSON_DEPTH)) {
		snprintf(why, why_size, "nested deeper than %d levels", OCPP_MAX_JSON_DEPTH);
		return "FormationViolation";
	}
	f->root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &err);
	if (f->root == NULL) {
		snprintf(why, why_size, "not JSON: %s at byte %d", err.text, err.position);
		return "FormationViolation";
	}
	if (!json_is_array(f->root) || json_array_size(f->root) < 3)
		return bad(why, why_size, "FormationViolation", "a frame is a JSON array of 3 to 5 elements");
	json_t *type = json_array_get(f->root, 0);
	if (!json_is_integer(type))
		return bad(why, why_size, "FormationViolation", "the message type must be 2, 3 or 4");
	const char *code = read_id(f->root, f, why, why_size);
	if (code != NULL)
		return code;
	f->type = (int)json_integer_value(type);
	switch (f->type) {
	case OCPP_CALL:
		return read_call(f->root, f, why, why_size);
	case OCPP_CALLRESULT:
		if (json_array_size(f->root) != 3 || !json_is_object(json_array_get(f->root, 2)))
			return bad(why, why_size, "FormationViolation", "a CALLRESULT is [3, id, payload object]");
		f->payload = json_array_get(f->root, 2);
		return NULL;
	case OCPP_CALLERROR:
		return read_error(f->root, f, why, why_size);
	default:
		return bad(why, why_size, "ProtocolError", "the message type must be 2, 3 or 4");
	}
}

void ocpp_frame_clear(struct ocpp_frame *f)
{
	json_decref(f->root);
	f->root = NULL;
	f->payload = NULL;
}

char *ocpp_frame_call(const char *id, const char *action, json_t *payload)
{
	json_t *frame = json_pack("[i, s, s, O]", OCPP_CALL, id, action, payload);
	char *text = frame != NULL ? json_dumps(frame, JSON_COMPACT) : NULL;
	json_decref(frame);
	return text;
}

char *ocpp_frame_result(const char *id, json_t *payload)
{
	json_t *frame = json_pack("[i, s, O]", OCPP_CALLRESULT, id, payload);
	char *text = frame != NULL ? json_dumps(frame, JSON_COMPACT) : NULL;
	json_decref(frame);
	return text;
}

char *ocpp_frame_error(const char *id, const char *code, const char *description)
{
	json_t *frame = json_pack("[i, s, s, s, {}]", OCPP_CALLERROR, id, code, description);
	char *text = frame != NULL ? json_dumps(frame, JSON_COMPACT) : NULL;
	json_decref(frame);
	return text;
}
