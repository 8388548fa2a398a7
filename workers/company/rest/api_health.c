#include "api.h"
#include "app.h"
#include "federation.h"
#include "mqtt_bridge.h"
#include "twopc.h"

int api_health_get(struct http_request *req)
{
	struct app *app = req->app;
	bool db_up = false;
	PGconn *conn = db_acquire(app->db, 1000);
	if (conn != NULL) {
		PGresult *res = db_exec(conn, "SELECT 1", 0, NULL);
		db_up = db_ok(res, "health");
		PQclear(res);
		db_release(app->db, conn);
	}
	const char *mqtt = app->mqtt == NULL ? "disabled" : mqtt_bridge_connected(app->mqtt) ? "ok" : "down";

	long in_doubt = 0;
	double oldest = 0;
	if (db_up)
		db_up = twopc_in_doubt(app, &in_doubt, &oldest);

	json_t *body = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:f}", "company", app->cfg.company_id, "name",
				 app->cfg.company_name, "status", db_up ? "ok" : "degraded", "database",
				 db_up ? "ok" : "down", "mqtt", mqtt, "version", APP_VERSION, "in_doubt",
				 (json_int_t)in_doubt, "oldest_prepared_seconds", oldest);
	if (app->mqtt != NULL)
		json_object_set_new(body, "mqtt_stats", mqtt_bridge_stats(app->mqtt));
	json_object_set_new(body, "federation", federation_readiness());
	if (!db_up) {
		return http_reply_error_extra(req, 503, "unavailable", body, "the database is unavailable");
	}
	return http_reply_json(req, 200, body, NULL);
}
