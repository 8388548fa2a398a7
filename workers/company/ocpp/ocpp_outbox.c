/*
 * The one periodic job of the central system (a ticker, ticker.h): for the
 * stations connected to this process, deliver what deliveries.h says is due,
 * ReserveNow before a window and CancelReservation after a booking ended or
 * moved, and record each answer. A charger that answers Faulted or
 * Unavailable to a ReserveNow is treated as if it had reported that status:
 * its bookings move (chargers_status); one that answers Occupied or Rejected
 * loses that reservation only, which moves to another free charger
 * (chargers_reservation_refused). The same job stamps the stations connected
 * here and disrupts the bookings of those whose connection stays lost
 * (chargers_offline_round): one ticker, no other thread.
 */
#include "ocpp.h"
#include "actor.h"
#include "app.h"
#include "chargers.h"
#include "deliveries.h"
#include "log.h"
#include "ticker.h"

#include <stdlib.h>
#include <string.h>

static json_t *payload_of(json_t *item)
{
	json_t *id = json_object_get(item, "ocpp_id");
	if (strcmp(json_string_value(json_object_get(item, "kind")), "cancel") == 0)
		return json_pack("{s:O}", "reservationId", id);
	return json_pack("{s:O, s:O, s:O, s:O}", "connectorId", json_object_get(item, "charger"), "expiryDate",
			 json_object_get(item, "expiry"), "idTag", json_object_get(item, "id_tag"), "reservationId", id);
}

/* The charger refused this reservation only (Occupied, Rejected): it moves, or the car is told. */
static void reservation_refused(struct app *app, json_t *item, const char *answer)
{
	const char *station = json_string_value(json_object_get(item, "station_id"));
	const char *reservation = json_string_value(json_object_get(item, "reservation_id"));
	struct actor actor = actor_station(station);
	struct core_result r = CORE_RESULT_INIT;
	if (chargers_reservation_refused(app, &actor, reservation, (int)json_integer_value(json_object_get(item, "charger")),
					 answer, "ocpp-outbox", &r) != EVC_OK)
		log_warn("event=ocpp_reserve_refused_failed station=%s reservation=%s", station, reservation);
	core_result_clear(&r);
}

/* The charger refused a reservation because it is out: as if it had said so in a StatusNotification. */
static void charger_out(struct app *app, json_t *item, const char *status)
{
	const char *station = json_string_value(json_object_get(item, "station_id"));
	struct actor actor = actor_station(station);
	json_t *input = json_pack("{s:O, s:s, s:s}", "connectorId", json_object_get(item, "charger"), "status", status,
				  "errorCode", "NoError");
	struct core_result r = CORE_RESULT_INIT;
	if (chargers_status(app, &actor, input, "ocpp-outbox", &r) != EVC_OK)
		log_warn("event=ocpp_charger_out_failed station=%s charger=%lld", station,
			 (long long)json_integer_value(json_object_get(item, "charger")));
	core_result_clear(&r);
	json_decref(input);
}

static void deliver(struct app *app, json_t *item)
{
	const char *kind = json_string_value(json_object_get(item, "kind"));
	const char *station = json_string_value(json_object_get(item, "station_id"));
	bool cancel = strcmp(kind, "cancel") == 0;
	const char *action = cancel ? "CancelReservation" : "ReserveNow";
	json_t *payload = payload_of(item), *answer = NULL;
	char why[320];
	enum ocpp_call_outcome outcome = ocpp_call(app, station, action, payload, app->cfg.ocpp_call_timeout_ms,
						   &answer, why, sizeof(why));
	const char *status = outcome == OCPP_CALL_ANSWERED ? json_string_value(json_object_get(answer, "status")) : NULL;
	if (outcome == OCPP_CALL_INVALID) {
		status = "invalid"; /* our bug, logged by ocpp_call: retrying cannot help */
	} else if (status == NULL) {
		log_warn("event=ocpp_delivery_unanswered station=%s action=%s reservation=%s outcome=%s why=\"%s\"", station,
			 action, json_string_value(json_object_get(item, "reservation_id")),
			 ocpp_call_outcome_name(outcome), why);
	}
	deliveries_record(app, item, status);
	if (status != NULL)
		log_info("event=ocpp_delivered station=%s action=%s reservation=%s ocpp_id=%lld answer=%s", station, action,
			 json_string_value(json_object_get(item, "reservation_id")),
			 (long long)json_integer_value(json_object_get(item, "ocpp_id")), status);
	if (!cancel && status != NULL && (strcmp(status, "Faulted") == 0 || strcmp(status, "Unavailable") == 0))
		charger_out(app, item, status);
	else if (!cancel && status != NULL && (strcmp(status, "Occupied") == 0 || strcmp(status, "Rejected") == 0))
		reservation_refused(app, item, status);
	json_decref(answer);
	json_decref(payload);
}

static void outbox_round(void *arg)
{
	struct app *app = arg;
	char *stations = ocpp_connected_list();
	if (stations != NULL)
		chargers_offline_round(app, stations);
	if (stations == NULL || strcmp(stations, "{}") == 0) {
		free(stations);
		return;
	}
	json_t *due = deliveries_due(app, stations), *item;
	size_t i;
	json_array_foreach(due, i, item) {
		deliver(app, item);
	}
	json_decref(due);
	free(stations);
}

bool ocpp_start(struct app *app)
{
	app->ocpp_ticker = ticker_start("ocpp", app->cfg.ocpp_tick_ms, outbox_round, app);
	return app->ocpp_ticker != NULL;
}

void ocpp_stop(struct app *app)
{
	ticker_stop(app->ocpp_ticker);
	app->ocpp_ticker = NULL;
}
