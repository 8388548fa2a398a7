#include "telemetry_load.h"
#include "timeutil.h"

#include <MQTTAsync.h>
#include <libpq-fe.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CARS 1000               /* distinct car ids the samples come from */
#define TICK_NS 2000000LL       /* publish in 2 ms slices */
#define DRAIN_LIMIT_MS 5000     /* how long to wait for the last rows */
#define POLL_MS 50
#define SUSTAINED_SHARE 0.999   /* stored / sent for a rate to count as sustained */
#define SUSTAINED_LAG_MS 1000

static const int ramp[] = { 5000, 10000, 20000, 40000 };

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_ns(int64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000), (long)(ns % 1000000000) };
	nanosleep(&ts, NULL);
}

static atomic_int connect_state; /* 0 waiting, 1 connected, -1 failed */

static void on_connect(void *context, MQTTAsync_successData *response)
{
	(void)context;
	(void)response;
	atomic_store(&connect_state, 1);
}

static void on_connect_failure(void *context, MQTTAsync_failureData *response)
{
	(void)context;
	(void)response;
	atomic_store(&connect_state, -1);
}

static long long count_rows(PGconn *conn, const char *like)
{
	const char *params[] = { like };
	PGresult *res = PQexecParams(conn, "SELECT count(*) FROM car_telemetry WHERE car_id LIKE $1", 1, NULL, params,
				     NULL, NULL, 0);
	long long n = PQresultStatus(res) == PGRES_TUPLES_OK ? atoll(PQgetvalue(res, 0, 0)) : -1;
	PQclear(res);
	return n;
}

bool telemetry_load_available(struct bench *b, char *why, size_t size)
{
	if (b->mqtt_url[0] == '\0') {
		snprintf(why, size, "not available yet: the stack has no MQTT broker");
		return false;
	}
	PGconn *conn = PQconnectdb(b->companies[b->local].database_url);
	bool table = false;
	if (PQstatus(conn) == CONNECTION_OK) {
		PGresult *res = PQexec(conn, "SELECT to_regclass('car_telemetry') IS NOT NULL");
		table = PQresultStatus(res) == PGRES_TUPLES_OK && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
		PQclear(res);
	}
	PQfinish(conn);
	if (!table)
		snprintf(why, size, "not available yet: the worker does not store MQTT telemetry (no car_telemetry table)");
	return table;
}

/* Publishes rate samples a second for seconds; returns how many went out. */
static long long publish(MQTTAsync client, const struct bench *b, int rate, double seconds, long long *failed)
{
	const char *company = b->companies[b->local].id;
	long long sent = 0;
	int64_t start = now_ns(), end = start + (int64_t)(seconds * 1e9);
	for (int64_t tick = start; tick < end; tick += TICK_NS) {
		int64_t now = now_ns();
		if (tick > now)
			sleep_ns(tick - now);
		/* Every message due by the end of this slice. */
		long long due = (long long)((double)(tick + TICK_NS - start) / 1e9 * rate);
		char stamp[TIMEUTIL_RFC3339_LEN];
		timeutil_format_rfc3339(timeutil_now(), stamp);
		for (; sent < due; sent++) {
			char topic[160], payload[256];
			int car = (int)(sent % CARS);
			snprintf(topic, sizeof(topic), "evc/v1/%s/cars/bench-%s-%d/telemetry", company, b->run_id, car);
			int n = snprintf(payload, sizeof(payload),
					 "{\"ts\":\"%s\",\"lat\":%.5f,\"lon\":%.5f,\"soc\":%.3f,\"speed_kmh\":%.1f,"
					 "\"consumption_kwh_per_100km\":%.1f}",
					 stamp, -7.1 - car * 0.001, -34.8 - car * 0.001, 0.2 + (sent % 700) / 1000.0,
					 60.0 + car % 60, 12.0 + car % 10);
			MQTTAsync_message msg = MQTTAsync_message_initializer;
			msg.payload = payload;
			msg.payloadlen = n;
			msg.qos = 0;
			if (MQTTAsync_sendMessage(client, topic, &msg, NULL) != MQTTASYNC_SUCCESS)
				(*failed)++;
		}
	}
	return sent;
}

bool telemetry_load_measure(struct bench *b, json_t *out)
{
	char client_id[64], like[64];
	snprintf(client_id, sizeof(client_id), "evc-bench-%s", b->run_id);
	snprintf(like, sizeof(like), "bench-%s-%%", b->run_id);
	MQTTAsync client = NULL;
	PGconn *conn = PQconnectdb(b->companies[b->local].database_url);
	bool ok = PQstatus(conn) == CONNECTION_OK &&
		  MQTTAsync_create(&client, b->mqtt_url, client_id, MQTTCLIENT_PERSISTENCE_NONE, NULL) == MQTTASYNC_SUCCESS;
	if (ok) {
		MQTTAsync_connectOptions opts = MQTTAsync_connectOptions_initializer;
		opts.cleansession = 1;
		if (b->mqtt_username[0] != '\0') {
			opts.username = b->mqtt_username;
			opts.password = b->mqtt_password;
		}
		opts.onSuccess = on_connect;
		opts.onFailure = on_connect_failure;
		atomic_store(&connect_state, 0);
		ok = MQTTAsync_connect(client, &opts) == MQTTASYNC_SUCCESS;
		for (int waited = 0; ok && atomic_load(&connect_state) == 0 && waited < 5000; waited += 10)
			sleep_ns(10000000LL);
		ok = ok && atomic_load(&connect_state) == 1;
	}
	if (!ok) {
		printf("%-26s  could not reach the broker %s (as '%s') or the database\n", "MQTT telemetry ingest", b->mqtt_url,
		       b->mqtt_username[0] ? b->mqtt_username : "anonymous");
		json_object_set_new(out, "reason", json_string("could not reach the broker or the database"));
		goto cleanup;
	}

	json_t *rates = json_array();
	int sustained = 0;
	printf("%-26s %9s %9s %9s %9s %9s %9s\n", "MQTT telemetry ingest", "offered/s", "sent", "stored", "stored/s",
	       "lost", "drain ms");
	for (size_t i = 0; i < sizeof(ramp) / sizeof(ramp[0]); i++) {
		long long before = count_rows(conn, like), failed = 0;
		int64_t start = now_ns();
		long long sent = publish(client, b, ramp[i], b->telemetry_seconds, &failed);
		int64_t published = now_ns();
		/* Wait until every row is in, or nothing has come for a while. */
		long long stored = before, last = -1;
		int64_t last_change = published;
		while (now_ns() - published < (int64_t)DRAIN_LIMIT_MS * 1000000) {
			stored = count_rows(conn, like) - before;
			if (stored != last) {
				last = stored;
				last_change = now_ns();
			}
			if (stored >= sent - failed || now_ns() - last_change > 1500LL * 1000000)
				break;
			sleep_ns(POLL_MS * 1000000LL);
		}
		double drain_ms = (double)(last_change - published) / 1e6;
		if (drain_ms < 0)
			drain_ms = 0;
		double stored_per_s = (double)stored / ((double)(last_change - start) / 1e9);
		bool kept_up = (double)stored >= SUSTAINED_SHARE * (double)sent && drain_ms < SUSTAINED_LAG_MS;
		if (kept_up && ramp[i] > sustained)
			sustained = ramp[i];
		printf("%-26s %9d %9lld %9lld %9.0f %9lld %9.0f%s\n", "", ramp[i], sent, stored, stored_per_s,
		       sent - stored, drain_ms, kept_up ? "" : "  (did not keep up)");
		json_array_append_new(rates, json_pack("{s:i, s:I, s:I, s:I, s:f, s:f, s:b}", "offered_per_s", ramp[i], "sent",
						       (json_int_t)sent, "stored", (json_int_t)stored, "send_failures",
						       (json_int_t)failed, "stored_per_s", stored_per_s, "drain_ms", drain_ms,
						       "kept_up", kept_up));
		if (!kept_up)
			break; /* a higher rate would only pile up more */
	}
	fflush(stdout);
	json_object_set_new(out, "company", json_string(b->companies[b->local].id));
	json_object_set_new(out, "seconds_per_rate", json_real(b->telemetry_seconds));
	json_object_set_new(out, "rates", rates);
	json_object_set_new(out, "sustained_per_s", json_integer(sustained));
	/* The benchmark's rows go: they would only weigh on the next run. */
	const char *params[] = { like };
	PQclear(PQexecParams(conn, "DELETE FROM car_telemetry WHERE car_id LIKE $1", 1, NULL, params, NULL, NULL, 0));
	PQclear(PQexecParams(conn, "DELETE FROM car_state WHERE car_id LIKE $1", 1, NULL, params, NULL, NULL, 0));

cleanup:
	if (client != NULL) {
		MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
		d.timeout = 1000;
		MQTTAsync_disconnect(client, &d);
		sleep_ns(100000000LL);
		MQTTAsync_destroy(&client);
	}
	PQfinish(conn);
	return ok;
}
