/* The one route table of the REST API, below /api/v1. */
#include "api.h"

const struct http_route http_routes[] = {
	{ "GET", "/health", api_health_get },
	{ "GET", "/openapi.yaml", api_docs_openapi },

	{ "POST", "/session", api_session_create },
	{ "GET", "/session", api_session_get },
	{ "DELETE", "/session", api_session_delete },

	{ "GET", "/stations", api_stations_list },
	{ "POST", "/stations", api_stations_create },
	{ "GET", "/stations/{id}", api_stations_get },
	{ "PATCH", "/stations/{id}", api_stations_update },
	{ "DELETE", "/stations/{id}", api_stations_delete },
	{ "GET", "/stations/{id}/availability", api_stations_availability },
	{ "GET", "/stations/{id}/ocpp", api_ocpp_get },
	{ "POST", "/stations/{id}/ocpp/key", api_ocpp_key_rotate },
	{ "POST", "/stations/{id}/ocpp/commands", api_ocpp_command },

	{ "POST", "/reservations", api_reservations_create },
	{ "GET", "/reservations", api_reservations_list },
	{ "GET", "/reservations/{id}", api_reservations_get },
	{ "POST", "/reservations/{id}/cancel", api_reservations_cancel },
	{ "POST", "/reservations/{id}/checkin", api_reservations_checkin },

	{ "POST", "/waitlist", api_waitlist_create },
	{ "GET", "/waitlist", api_waitlist_list },
	{ "GET", "/waitlist/{id}", api_waitlist_get },
	{ "DELETE", "/waitlist/{id}", api_waitlist_delete },
	{ "POST", "/trip-waitlist", api_trip_waitlist_create },
	{ "GET", "/trip-waitlist", api_trip_waitlist_list },
	{ "GET", "/trip-waitlist/{id}", api_trip_waitlist_get },
	{ "DELETE", "/trip-waitlist/{id}", api_trip_waitlist_delete },

	{ "POST", "/trips", api_trips_create },
	{ "GET", "/trips", api_trips_list },
	{ "GET", "/trips/{id}", api_trips_get },
	{ "POST", "/trips/{id}/cancel", api_trips_cancel },
	{ "POST", "/trips/{id}/finish", api_trips_finish },

	{ "POST", "/routes/plan", api_routes_plan },
	{ "POST", "/availability/batch", api_availability_batch },

	{ "GET", "/network/stations", api_network_stations },
	{ "GET", "/network/map", api_network_map },
	{ "GET", "/cars", api_cars_list },
	{ "GET", "/cars/{id}/telemetry", api_cars_telemetry },
	{ "POST", "/cars/{id}/tokens", api_cars_token_issue },
	{ "POST", "/cars/{id}/revoke", api_cars_token_revoke },
	{ "GET", "/federation/overview", api_observer_get },
	{ "GET", "/stats", api_stats_get },
	{ "GET", "/alerts", api_alerts_get },
	{ "GET", "/federation/servers", api_federation_servers },
	{ "GET", "/federation/peers", api_federation_peers },
	{ "POST", "/federation/peers", api_federation_register },
	{ "DELETE", "/federation/peers/{id}", api_federation_peer_delete },
	{ "GET", "/federation/ping", api_federation_ping },
	{ "GET", "/federation/transactions", api_federation_transactions },
	{ "POST", "/federation/prepare", api_federation_prepare },
	{ "POST", "/federation/commit", api_federation_commit },
	{ "POST", "/federation/abort", api_federation_abort },
	{ "GET", "/federation/decisions/{gid}", api_federation_decision },
	{ "GET", "/federation/trips/{id}/legs", api_trip_legs_get },

	{ "POST", "/admin/failpoints", api_admin_failpoints },

	{ NULL, NULL, NULL },
};
