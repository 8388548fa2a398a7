/*
 * OCPP-J framing (OCPP 1.6 JSON over WebSocket, section 4): every message is a
 * JSON array, [2, id, action, payload] a CALL, [3, id, payload] its
 * CALLRESULT, [4, id, errorCode, errorDescription, errorDetails] a CALLERROR.
 * Pure functions: no I/O, no state, shared by the server and the unit tests.
 */
#ifndef EVC_OCPP_FRAME_H
#define EVC_OCPP_FRAME_H

#include <jansson.h>
#include <stddef.h>

#define OCPP_CALL 2
#define OCPP_CALLRESULT 3
#define OCPP_CALLERROR 4
#define OCPP_ID_MAX 36     /* a message id is a string of at most 36 characters */
#define OCPP_ACTION_MAX 64 /* longer than any OCPP 1.6 action name */
#define OCPP_MAX_JSON_DEPTH 32 /* the official messages nest 5 deep */

struct ocpp_frame {
	int type;                     /* OCPP_CALL, OCPP_CALLRESULT or OCPP_CALLERROR */
	char id[OCPP_ID_MAX + 1];     /* the message id, "-1" when it could not be read */
	char action[OCPP_ACTION_MAX + 1]; /* CALL only */
	json_t *payload;              /* CALL, CALLRESULT: borrowed from root */
	char error_code[64];          /* CALLERROR only */
	char error_description[256];  /* CALLERROR only, cut to fit */
	json_t *root;                 /* owned: the parsed frame */
};

/*
 * Parses one text message into f. NULL when it is a well-formed frame; else
 * the OCPP-J error code to answer with (FormationViolation: not JSON, not an
 * array, or an element of the wrong type; ProtocolError: an unknown message
 * type or the wrong number of elements) and a description in why. f->id holds
 * the id whenever it could be read ("-1" otherwise). Clear f in both cases.
 */
const char *ocpp_frame_parse(const char *data, size_t len, struct ocpp_frame *f, char *why, size_t why_size);
void ocpp_frame_clear(struct ocpp_frame *f);

/* The texts of the three frames: new strings (caller frees), NULL on allocation failure. payload: borrowed. */
char *ocpp_frame_call(const char *id, const char *action, json_t *payload);
char *ocpp_frame_result(const char *id, json_t *payload);
char *ocpp_frame_error(const char *id, const char *code, const char *description);

#endif
