/*
 * evc-worker: one charge-point company's server. Serves the REST API and the
 * dashboard over its own PostgreSQL, and talks to cars through MQTT.
 *
 *   evc-worker            apply pending migrations, then serve until SIGTERM/SIGINT
 *   evc-worker migrate    apply pending migrations and exit
 */
#include "admission.h"
#include "app.h"
#include "carauth.h"
#include "connguard.h"
#include "failpoint.h"
#include "federation.h"
#include "http.h"
#include "live.h"
#include "log.h"
#include "migrate.h"
#include "mqtt_bridge.h"
#include "ocpp.h"
#include "peer_client.h"
#include "ratelimit.h"
#include "secret.h"
#include "twopc.h"
#include "trip_waitlist.h"
#include "waitlist.h"

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MIGRATE_ATTEMPTS 30 /* one a second: the database may still be starting */

static bool migrate_with_retries(const struct config *cfg)
{
	for (int attempt = 1; attempt <= MIGRATE_ATTEMPTS; attempt++) {
		enum migrate_result result = migrate_run(cfg->database_url, cfg->migrations_dir, cfg->migration_lock_timeout_ms);
		if (result != MIGRATE_UNREACHABLE)
			return result == MIGRATE_OK;
		if (attempt < MIGRATE_ATTEMPTS)
			sleep(1);
	}
	return false;
}

static int serve(struct app *app)
{
	sigset_t stop_signals;
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGTERM);
	/* Blocked before any thread starts, so only sigwait below ever sees them. */
	pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
	signal(SIGPIPE, SIG_IGN);

	char options[96];
	snprintf(options, sizeof(options), "-c statement_timeout=10s -c lock_timeout=%d", app->cfg.lock_timeout_ms);
	char app_name[64];
	snprintf(app_name, sizeof(app_name), "evc-worker-%s", app->cfg.company_id);
	app->db = db_pool_create(app->cfg.database_url, app_name, options, app->cfg.db_pool_size);
	char relaxed_options[128];
	snprintf(relaxed_options, sizeof(relaxed_options), "%s -c synchronous_commit=off", options);
	app->db_relaxed = db_pool_create(app->cfg.database_url, app_name, relaxed_options, app->cfg.db_pool_size);
	app->trip_limit = ratelimit_create(app->cfg.trip_rate_per_second, app->cfg.trip_burst);
	app->ocpp_limit = ratelimit_create(app->cfg.ocpp_calls_per_second, app->cfg.ocpp_calls_burst);
	app->connguard = connguard_create(app->cfg.http_threads, app->cfg.http_max_conn_per_client);
	app->plan_admission = admission_create(app->cfg.plan_max_inflight, app->cfg.plan_queue_ms);
	if (app->db == NULL || app->db_relaxed == NULL || app->trip_limit == NULL || app->ocpp_limit == NULL ||
	    app->connguard == NULL ||
	    app->plan_admission == NULL)
		return EXIT_FAILURE;

	mg_init_library(0);
	if (carauth_create(app) == NULL || !peer_client_init(app->cfg.peer_connect_timeout_ms) || !twopc_init(app) ||
	    !twopc_instance_beat(app) || !federation_start(app)) {
		db_pool_destroy(app->db);
		return EXIT_FAILURE;
	}
	struct mg_context *http = http_start(app);
	if (http == NULL || !twopc_instance_claim_slot(app) || !twopc_recovery_start(app) || !waitlist_start(app) ||
	    !ocpp_start(app)) {
		http_stop(http);
		federation_stop(app);
		db_pool_destroy(app->db);
		return EXIT_FAILURE;
	}
	/* Last: the bridge subscribes once every part of the core it calls is running. */
	if (app->cfg.mqtt_url[0] != '\0')
		app->mqtt = mqtt_bridge_start(app);
	if (!trip_waitlist_start(app)) /* after the bridge: it tells cars over MQTT */
		log_warn("event=trip_waitlist_disabled reason=no_thread");
	if (!live_start(app)) /* the dashboard then polls */
		log_warn("event=live_disabled");
	log_info("event=started company=%s version=%s", app->cfg.company_id, APP_VERSION);

	int sig = 0;
	sigwait(&stop_signals, &sig);
	log_info("event=stopping signal=%s", sig == SIGTERM ? "TERM" : "INT");

	/*
	 * The bridge first: the requests it holds are answered by the core, and
	 * its telemetry buffer is stored. Then HTTP: in-flight requests finish
	 * before mg_stop returns.
	 */
	trip_waitlist_stop(app); /* its round books trips and tells cars: before the bridge and the pools go */
	mqtt_bridge_stop(app->mqtt);
	live_stop();
	ocpp_stop(app); /* before HTTP: its calls wait on charge points' connections */
	http_stop(http);
	waitlist_stop(app);
	twopc_recovery_stop(app);
	federation_stop(app);
	twopc_cleanup(app);
	db_pool_destroy(app->db);
	db_pool_destroy(app->db_relaxed);
	peer_client_cleanup();
	ratelimit_destroy(app->trip_limit);
	ratelimit_destroy(app->ocpp_limit);
	connguard_destroy(app->connguard);
	admission_destroy(app->plan_admission);
	carauth_destroy(app->carauth);
	mg_exit_library();
	log_info("event=stopped");
	return EXIT_SUCCESS;
}

int main(int argc, char **argv)
{
	static struct app app;
	char err[256];

	json_object_seed(0);
	if (!config_load(&app.cfg, err, sizeof(err))) {
		fprintf(stderr, "evc-worker: configuration error: %s\n", err);
		return 2;
	}
	char tag[48];
	snprintf(tag, sizeof(tag), "worker-%s", app.cfg.company_id);
	log_init(tag, app.cfg.log_level);

	if (!failpoint_arm_list(app.cfg.failpoints)) {
		fprintf(stderr, "evc-worker: configuration error: EVC_FAILPOINTS names an unknown fail point\n");
		return 2;
	}
	if (!secret_random_hex(app.instance, (sizeof(app.instance) - 1) / 2))
		return EXIT_FAILURE;

	if (argc > 2 || (argc == 2 && strcmp(argv[1], "migrate") != 0)) {
		fprintf(stderr, "usage: evc-worker [migrate]\n");
		return 2;
	}
	if (!migrate_with_retries(&app.cfg)) {
		log_error("event=migrations_failed");
		return EXIT_FAILURE;
	}
	if (argc == 2)
		return EXIT_SUCCESS;
	return serve(&app);
}
