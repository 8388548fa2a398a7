#include "waitlist.h"
#include "app.h"
#include "booking.h"
#include "log.h"
#include "ticker.h"
#include "mqtt_bridge.h"
#include "timeutil.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ROUND_SECONDS 1
#define SHIFT_STEP 300      /* the window moves in 5-minute steps within the flexibility */
#define MAX_CITIES_PER_ROUND 64

/* Tells the car, after the commit, what happened to its request. */
static void notify(struct app *app, const char *car, const char *json_text)
{
	json_t *body = json_loads(json_text, 0, NULL);
	if (app->mqtt != NULL && body != NULL)
		mqtt_bridge_notify(app->mqtt, car, "waitlist", body);
	else
		json_decref(body);
}

/* Moves of the window within the flexibility: 0, -5 min, +5 min, -10 min, ... */
static int64_t shift_at(int k)
{
	int64_t step = (int64_t)((k + 1) / 2) * SHIFT_STEP;
	return k % 2 == 1 ? -step : step;
}

/* Tries to book one waiting request; true and the granted row's JSON in *granted. */
static bool serve_one(PGconn *conn, PGresult *queue, int row, char **granted)
{
	static const char stations_sql[] =
		"SELECT id FROM stations WHERE status = 'active' AND (id = $1 OR ($1 IS NULL AND city = $2)) ORDER BY id";
	static const char grant_sql[] =
		"UPDATE waitlist SET status = 'granted', reservation_id = $2::uuid,"
		" granted_window = tstzrange($3::timestamptz, $4::timestamptz), updated_at = now()"
		" WHERE id = $1::uuid RETURNING waitlist_json(waitlist)";
	const char *id = PQgetvalue(queue, row, 0), *car = PQgetvalue(queue, row, 1);
	const char *station = PQgetisnull(queue, row, 2) ? NULL : PQgetvalue(queue, row, 2);
	int64_t start = atoll(PQgetvalue(queue, row, 3)), end = atoll(PQgetvalue(queue, row, 4));
	int64_t flex = atoll(PQgetvalue(queue, row, 5)), now = timeutil_now();

	const char *params[] = { station, PQgetvalue(queue, row, 6) };
	PGresult *stations = db_exec(conn, stations_sql, 2, params);
	bool done = false;
	int shifts = (int)(2 * (flex / SHIFT_STEP)) + 1;
	for (int k = 0; k < shifts && !done && db_ok(stations, "waitlist_stations"); k++) {
		int64_t s = start + shift_at(k), e = end + shift_at(k);
		if (s < now)
			continue;
		char s_text[TIMEUTIL_RFC3339_LEN], e_text[TIMEUTIL_RFC3339_LEN];
		timeutil_format_rfc3339(s, s_text);
		timeutil_format_rfc3339(e, e_text);
		for (int i = 0; i < PQntuples(stations) && !done; i++) {
			struct booking_window w = { PQgetvalue(stations, i, 0), car, NULL, s_text, e_text, NULL };
			PGresult *booked = NULL, *failed = NULL;
			if (booking_reserve(conn, &w, &booked, &failed) == BOOKING_OK) {
				const char *grant_params[] = { id, PQgetvalue(booked, 0, 0), s_text, e_text };
				PGresult *res = db_exec(conn, grant_sql, 4, grant_params);
				if (db_ok(res, "waitlist_grant") && PQntuples(res) == 1) {
					*granted = strdup(PQgetvalue(res, 0, 0));
					log_info("event=waitlist_granted waitlist=%s car=%s station=%s start=%s", id, car, w.station_id, s_text);
					done = true;
				}
				PQclear(res);
			}
			PQclear(booked);
			PQclear(failed);
		}
	}
	PQclear(stations);
	return done;
}

/*
 * Serves one city inside one transaction holding its group row. Returns false
 * when there was no city left to serve. Notifications go out after the commit.
 */
static bool serve_city(struct app *app, PGconn *conn, json_t *done)
{
	static const char claim_sql[] =
		"SELECT g.city FROM waitlist_groups g"
		" WHERE g.city NOT IN (SELECT json_array_elements_text($1::json))"
		"   AND EXISTS (SELECT 1 FROM waitlist w WHERE w.city = g.city AND w.status = 'waiting')"
		" ORDER BY g.served_at NULLS FIRST FOR UPDATE SKIP LOCKED LIMIT 1";
	static const char expire_sql[] =
		"UPDATE waitlist SET status = 'expired', updated_at = now()"
		" WHERE city = $1 AND status = 'waiting' AND (expires_at <= now() OR upper(want) + flexibility <= now())"
		" RETURNING car_id, waitlist_json(waitlist)";
	static const char queue_sql[] =
		"SELECT id, car_id, station_id, extract(epoch FROM lower(want))::bigint, extract(epoch FROM upper(want))::bigint,"
		" extract(epoch FROM flexibility)::bigint, city"
		" FROM waitlist WHERE city = $1 AND status = 'waiting' ORDER BY seq";
	char city[128];
	json_t *notes = json_array();
	bool claimed = false;

	/*
	 * One snapshot for the whole pass: a charger freed while the queue is being
	 * walked is not handed to whichever request happens to be next; the free
	 * wakes the next round, which starts again from the head of the queue.
	 */
	if (!db_command(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ"))
		goto out;
	char *done_text = json_dumps(done, JSON_COMPACT);
	const char *claim_params[] = { done_text };
	PGresult *res = db_exec(conn, claim_sql, 1, claim_params);
	free(done_text);
	claimed = db_ok(res, "waitlist_claim") && PQntuples(res) == 1;
	if (claimed)
		snprintf(city, sizeof(city), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	if (!claimed)
		goto out;

	const char *params[] = { city };
	res = db_exec(conn, expire_sql, 1, params);
	for (int i = 0; db_ok(res, "waitlist_expire") && i < PQntuples(res); i++) {
		json_array_append_new(notes, json_pack("{s:s, s:s}", "car", PQgetvalue(res, i, 0), "json", PQgetvalue(res, i, 1)));
		log_info("event=waitlist_expired car=%s city=%s", PQgetvalue(res, i, 0), city);
	}
	PQclear(res);

	res = db_exec(conn, "UPDATE waitlist_groups SET served_at = now() WHERE city = $1", 1, params);
	PQclear(res);

	PGresult *queue = db_exec(conn, queue_sql, 1, params);
	if (PQresultStatus(queue) != PGRES_TUPLES_OK)
		log_warn("event=waitlist_db_failed step=queue city=%s", city);
	for (int i = 0; db_ok(queue, "waitlist_queue") && i < PQntuples(queue); i++) {
		char *granted = NULL;
		if (serve_one(conn, queue, i, &granted)) {
			json_array_append_new(notes, json_pack("{s:s, s:s}", "car", PQgetvalue(queue, i, 1), "json", granted));
			free(granted);
		}
	}
	PQclear(queue);

	if (!db_command(conn, "COMMIT")) {
		log_warn("event=waitlist_db_failed step=commit city=%s", city);
		json_array_clear(notes);
		goto out;
	}
	size_t k;
	json_t *n;
	json_array_foreach(notes, k, n)
		notify(app, json_string_value(json_object_get(n, "car")), json_string_value(json_object_get(n, "json")));
out:
	if (PQtransactionStatus(conn) != PQTRANS_IDLE) {
		PGresult *rb = PQexec(conn, "ROLLBACK");
		PQclear(rb);
	}
	json_decref(notes);
	if (claimed)
		json_array_append_new(done, json_string(city)); /* this round moves on to the next city */
	return claimed;
}

/* Confirmed windows whose car never checked in: expired, so the charger is free again. */
static void expire_no_shows(struct app *app, PGconn *conn)
{
	char grace[16];
	snprintf(grace, sizeof(grace), "%d", app->cfg.no_show_grace_minutes);
	const char *params[] = { grace };
	PGresult *res = db_exec(conn,
				"UPDATE reservations SET status = 'expired', updated_at = now()"
				" WHERE status = 'confirmed' AND checked_in_at IS NULL AND upper(during) > now()"
				"   AND lower(during) + make_interval(mins => $1::int) < now()"
				" RETURNING id, station_id, car_id",
				1, params);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		log_warn("event=waitlist_db_failed step=no_shows");
	for (int i = 0; db_ok(res, "no_shows") && i < PQntuples(res); i++)
		log_info("event=reservation_no_show reservation=%s station=%s car=%s", PQgetvalue(res, i, 0),
			 PQgetvalue(res, i, 1), PQgetvalue(res, i, 2));
	PQclear(res);
}

static void serve_round(struct app *app)
{
	PGconn *conn = db_acquire(app->db, APP_DB_WAIT_MS);
	if (conn == NULL) {
		log_warn("event=waitlist_db_failed step=connect");
		return;
	}
	expire_no_shows(app, conn);
	json_t *done = json_array();
	for (int i = 0; i < MAX_CITIES_PER_ROUND; i++)
		if (!serve_city(app, conn, done))
			break;
	json_decref(done);
	db_release(app->db, conn);
}

/* One round of the consumer (a ticker job). */
static void serve_job(void *arg)
{
	serve_round(arg);
}

bool waitlist_start(struct app *app)
{
	app->waitlist_ticker = ticker_start("waitlist", ROUND_SECONDS * 1000, serve_job, app);
	return app->waitlist_ticker != NULL;
}

void waitlist_stop(struct app *app)
{
	ticker_stop(app->waitlist_ticker);
	app->waitlist_ticker = NULL;
}

void waitlist_wake(struct app *app)
{
	ticker_wake(app->waitlist_ticker);
}
