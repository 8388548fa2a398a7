/*
 * The OCPP 1.6J central system: charge points connect to
 * ws://<worker>/ocpp/<station id> with subprotocol ocpp1.6 and HTTP Basic auth
 * at the upgrade (security profile 1: user = station id, password = the
 * station's key; anything else is refused with 401 before any WebSocket frame).
 * One connection per station: a new one replaces the old.
 *
 * An adapter like rest/ and mqtt/: it decodes and validates frames against
 * the official schemas (ocpp_schema.h), calls the core (chargers.h,
 * sessions.h) with the station actor its transport proved, and answers. It
 * never touches the database itself. Calls to the charge points (ReserveNow,
 * CancelReservation, the operator's remote commands) go through ocpp_call:
 * one in flight per station, with a timeout.
 *
 * Each connection holds one civetweb thread for its life, so connections are
 * capped (EVC_OCPP_MAX_CONNECTIONS); a frame larger than
 * EVC_OCPP_MAX_FRAME_BYTES is refused with a CALLERROR.
 */
#ifndef EVC_OCPP_H
#define EVC_OCPP_H

#include <civetweb.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct app;

#define OCPP_PATH "/ocpp/"
#define OCPP_SUBPROTOCOL "ocpp1.6"

/* Loads the schemas and registers the WebSocket handler on ctx (called by http_start). False: the schemas are missing. */
bool ocpp_register(struct mg_context *ctx, struct app *app) __attribute__((warn_unused_result));

/* Starts and stops the job that delivers ReserveNow and CancelReservation (the ticker, ocpp_outbox.c). */
bool ocpp_start(struct app *app) __attribute__((warn_unused_result));
void ocpp_stop(struct app *app);

/* Whether the station is connected to this process now. */
bool ocpp_connected(const char *station_id);

/* The stations connected to this process, as a PostgreSQL text[] literal ("{a-x,a-y}"); new string, caller frees. */
char *ocpp_connected_list(void);

/* Closes the station's connection (its key was rotated); no-op when not connected. */
void ocpp_disconnect(const char *station_id);

enum ocpp_call_outcome {
	OCPP_CALL_ANSWERED, /* *answer: the CALLRESULT's payload, valid against <Action>Response */
	OCPP_CALL_ERROR,    /* the charge point answered a CALLERROR, or an invalid payload (why says) */
	OCPP_CALL_TIMEOUT,  /* no answer within timeout_ms */
	OCPP_CALL_OFFLINE,  /* the station is not connected here */
	OCPP_CALL_INVALID,  /* our payload failed its own schema (a bug): nothing sent */
};

/*
 * Sends [2, id, action, payload] to the station and waits for the answer (one
 * call in flight per station: a second caller waits its turn within the same
 * timeout). payload: borrowed. *answer: new reference on OCPP_CALL_ANSWERED.
 */
enum ocpp_call_outcome ocpp_call(struct app *app, const char *station_id, const char *action, json_t *payload,
				 int timeout_ms, json_t **answer, char *why, size_t why_size);

const char *ocpp_call_outcome_name(enum ocpp_call_outcome outcome);

/* ---- inside the adapter -------------------------------------------------------- */

struct ocpp_schemas;
struct actor;

/* The loaded schemas (NULL before ocpp_register). */
const struct ocpp_schemas *ocpp_schemas_get(void);

/*
 * Handles one CALL the station sent (validated against its schema already):
 * fills *answer (new reference, to be validated against <action>Response) and
 * returns NULL, or returns an OCPP-J error code with a description in why.
 */
const char *ocpp_handle_call(struct app *app, const struct actor *station, const char *action, json_t *payload,
			     const char *request_id, json_t **answer, char *why, size_t why_size);

#endif
