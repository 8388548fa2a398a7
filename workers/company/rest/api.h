/*
 * REST handlers, one file per resource (api_health.c, api_stations.c,
 * api_reservations.c), all listed in routes.c. Each returns the status it sent.
 */
#ifndef EVC_API_H
#define EVC_API_H

#include <libpq-fe.h>

#include "config.h"
#include "http.h"
#include "policy.h"

int api_health_get(struct http_request *req);

int api_session_create(struct http_request *req);
int api_session_get(struct http_request *req);
int api_session_delete(struct http_request *req);
/* True when cookie_header carries a valid, unexpired dashboard session of this company's operator. */
bool api_session_valid(const struct config *cfg, const char *cookie_header, int64_t now);
int api_docs_openapi(struct http_request *req);

int api_stations_list(struct http_request *req);
int api_stations_create(struct http_request *req);
int api_stations_get(struct http_request *req);
int api_stations_update(struct http_request *req);
int api_stations_delete(struct http_request *req);
int api_stations_availability(struct http_request *req);

int api_reservations_create(struct http_request *req);
int api_reservations_list(struct http_request *req);
int api_reservations_get(struct http_request *req);
int api_reservations_cancel(struct http_request *req);
int api_reservations_checkin(struct http_request *req);

int api_waitlist_create(struct http_request *req);
int api_waitlist_list(struct http_request *req);
int api_waitlist_get(struct http_request *req);
int api_waitlist_delete(struct http_request *req);
int api_trip_waitlist_create(struct http_request *req);
int api_trip_waitlist_list(struct http_request *req);
int api_trip_waitlist_get(struct http_request *req);
int api_trip_waitlist_delete(struct http_request *req);

int api_trips_create(struct http_request *req);
int api_trips_list(struct http_request *req);
int api_trips_get(struct http_request *req);
int api_trips_cancel(struct http_request *req);
int api_trips_finish(struct http_request *req);

int api_routes_plan(struct http_request *req);
int api_availability_batch(struct http_request *req);

int api_federation_ping(struct http_request *req);
int api_federation_register(struct http_request *req);
int api_federation_peer_delete(struct http_request *req);
int api_federation_peers(struct http_request *req);
int api_federation_servers(struct http_request *req);
int api_federation_prepare(struct http_request *req);
int api_federation_commit(struct http_request *req);
int api_federation_abort(struct http_request *req);
int api_federation_decision(struct http_request *req);
int api_trip_legs_get(struct http_request *req);
int api_federation_transactions(struct http_request *req);
int api_network_stations(struct http_request *req);
int api_network_map(struct http_request *req);
int api_ocpp_get(struct http_request *req);
int api_ocpp_key_rotate(struct http_request *req);
int api_ocpp_command(struct http_request *req);

int api_cars_list(struct http_request *req);
int api_cars_telemetry(struct http_request *req);
int api_cars_token_issue(struct http_request *req);
int api_cars_token_revoke(struct http_request *req);
int api_observer_get(struct http_request *req);
int api_stats_get(struct http_request *req);
int api_alerts_get(struct http_request *req);
int api_admin_failpoints(struct http_request *req);

/* 0 when the request's actor may take action (policy.c), else the refusal sent. */
int api_authorize(struct http_request *req, enum policy_action action) __attribute__((warn_unused_result));

/*
 * Replies for a failed statement: 503 when the database is unreachable or too
 * slow, 409 for a conflict, 400 for data the database refused, else 500.
 */
int api_reply_db_error(struct http_request *req, PGconn *conn, const PGresult *res);

/*
 * Runs a query whose first row's first column is a JSON text and sends it with
 * ok_status; 404 with not_found when there is no row. Acquires its own connection.
 */
int api_reply_query(struct http_request *req, int ok_status, const char *not_found, const char *sql,
		    int nparams, const char *const *params);

/*
 * Reads an RFC 3339 query parameter: 1 and *epoch set when present, 0 when
 * absent (an error when required), or the 400 status it sent.
 */
int api_query_time(struct http_request *req, const char *name, bool required, int64_t *epoch)
	__attribute__((warn_unused_result));

#endif
