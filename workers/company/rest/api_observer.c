/*
 * /federation/overview: the federation as one company sees it, for the
 * dashboard's federation view (the "manager" that observes and never decides).
 * For this company and each peer: up or down with the last heartbeat, its name,
 * its in-doubt count and its in-flight distributed transactions. A peer's part
 * is read from its own public /health and /federation/transactions (a browser
 * could not: other origins), and only while the heartbeat says it is up, so a
 * dead peer costs nothing. Read-only: nothing here changes any state.
 */
#include "api.h"
#include "app.h"
#include "federation.h"
#include "peer_client.h"
#include "twopc.h"

#include <string.h>

#define PEER_TIMEOUT_MS 1500L

/* This company's own part, from its database: in-flight trips it coordinates, prepared transactions here. */
static json_t *own_transactions(struct http_request *req)
{
	static const char sql[] =
		"SELECT json_build_object("
		" 'in_flight', (SELECT coalesce(json_agg(transaction_json(x) ORDER BY x.updated_at), '[]'::json)"
		"   FROM distributed_transactions x WHERE x.in_flight),"
		" 'prepared_here', (SELECT coalesce(json_agg(json_build_object('gid', gid, 'prepared', rfc3339(prepared))"
		"   ORDER BY prepared), '[]'::json) FROM pg_prepared_xacts WHERE database = current_database()))";
	PGconn *conn = db_acquire(req->app->db, APP_DB_WAIT_MS);
	if (conn == NULL)
		return NULL;
	PGresult *res = db_exec(conn, sql, 0, NULL);
	json_t *out = db_ok(res, "observer_own") ? json_loads(PQgetvalue(res, 0, 0), 0, NULL) : NULL;
	PQclear(res);
	db_release(req->app->db, conn);
	return out;
}

/* Copies the fields of a peer's answers that the view shows; sets "reachable". */
static void add_peer_view(struct http_request *req, json_t *item, const char *url)
{
	struct peer_response health = { 0 }, tx = { 0 };
	peer_call("GET", url, HTTP_API_PREFIX "/health", NULL, NULL, PEER_TIMEOUT_MS, req->request_id, &health);
	if (health.status == 0) {
		json_object_set_new(item, "reachable", json_false());
		goto cleanup;
	}
	peer_call("GET", url, HTTP_API_PREFIX "/federation/transactions", NULL, NULL, PEER_TIMEOUT_MS, req->request_id, &tx);
	json_object_set_new(item, "reachable", json_boolean(tx.status == 200));
	if (json_is_object(health.body)) {
		json_t *v;
		if ((v = json_object_get(health.body, "name")) != NULL && json_is_string(v))
			json_object_set(item, "name", v);
		if ((v = json_object_get(health.body, "in_doubt")) != NULL && json_is_integer(v))
			json_object_set(item, "in_doubt", v);
		if ((v = json_object_get(health.body, "database")) != NULL && json_is_string(v))
			json_object_set(item, "database", v);
	}
	if (tx.status == 200 && json_is_object(tx.body)) {
		json_t *v;
		if ((v = json_object_get(tx.body, "in_flight")) != NULL && json_is_array(v))
			json_object_set(item, "in_flight", v);
		if ((v = json_object_get(tx.body, "prepared_here")) != NULL && json_is_array(v))
			json_object_set(item, "prepared_here", v);
	}
cleanup:
	peer_response_clear(&health);
	peer_response_clear(&tx);
}

int api_observer_get(struct http_request *req)
{
	const struct config *cfg = &req->app->cfg;
	json_t *items = json_array();

	long in_doubt = 0;
	double oldest = 0;
	json_t *self = json_pack("{s:s, s:s, s:s, s:s, s:b, s:b}", "company", cfg->company_id, "name", cfg->company_name,
				 "url", cfg->public_url, "status", "up", "self", true, "reachable", true);
	json_t *own = own_transactions(req);
	if (own != NULL) {
		json_object_set(self, "in_flight", json_object_get(own, "in_flight"));
		json_object_set(self, "prepared_here", json_object_get(own, "prepared_here"));
		json_decref(own);
	} else {
		json_object_set_new(self, "database", json_string("down"));
	}
	if (twopc_in_doubt(req->app, &in_doubt, &oldest))
		json_object_set_new(self, "in_doubt", json_integer(in_doubt));
	json_array_append_new(items, self);

	json_t *peers = federation_peers_json();
	size_t i;
	json_t *peer;
	json_array_foreach(peers, i, peer) {
		json_t *item = json_deep_copy(peer);
		json_object_set_new(item, "self", json_false());
		json_object_del(item, "registered");
		const char *url = json_string_value(json_object_get(peer, "url"));
		const char *status = json_string_value(json_object_get(peer, "status"));
		if (url != NULL && status != NULL && strcmp(status, "up") == 0)
			add_peer_view(req, item, url);
		else
			json_object_set_new(item, "reachable", json_false());
		json_array_append_new(items, item);
	}
	json_decref(peers);
	return http_reply_json(req, 200, json_pack("{s:s, s:o}", "observer", cfg->company_id, "items", items), NULL);
}
