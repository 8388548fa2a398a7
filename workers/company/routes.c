/* The one route table of the REST API, below /api/v1. */
#include "api.h"

const struct http_route http_routes[] = {
	{ "GET", "/health", api_health_get },

	{ "GET", "/stations", api_stations_list },
	{ "POST", "/stations", api_stations_create },
	{ "GET", "/stations/{id}", api_stations_get },
	{ "PATCH", "/stations/{id}", api_stations_update },
	{ "GET", "/stations/{id}/availability", api_stations_availability },

	{ "POST", "/reservations", api_reservations_create },
	{ "GET", "/reservations", api_reservations_list },
	{ "GET", "/reservations/{id}", api_reservations_get },
	{ "POST", "/reservations/{id}/cancel", api_reservations_cancel },

	{ NULL, NULL, NULL },
};
