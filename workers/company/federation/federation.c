#include "federation.h"
#include "carauth.h"
#include "coredb.h"
#include "policy.h"
#include "ticker.h"
#include "app.h"
#include "log.h"
#include "secret.h"
#include "peer_client.h"
#include "validate.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_PEERS 32
#define HEARTBEAT_SECONDS 2
#define CATALOGUE_EVERY 5 /* heartbeats between catalogue refreshes */
#define CALL_TIMEOUT_MS 2000L
#define MAX_URLS 4 /* of one company's replicas: the first URL and three more */

struct peer {
	char id[VALIDATE_COMPANY_MAX + 1];
	char url[256];                         /* configured or registered: the handshake goes there */
	char configured[MAX_URLS - 1][256];    /* its other replicas, from EVC_PEERS (after '|') */
	int configured_count;
	char learned[MAX_URLS - 1][256];       /* its live replicas, as its last ping answer named them */
	int learned_count;
	char preferred[256];                   /* the URL that answered last; "" for url */
	char inbound[FEDERATION_TOKEN_MAX];  /* we issued it; the peer presents it */
	char outbound[FEDERATION_TOKEN_MAX]; /* the peer issued it; we present it */
	char refused[FEDERATION_TOKEN_MAX];  /* an outbound token the peer refused: never use it again */
	bool up;
	bool catalogue; /* its stations were fetched once at least */
	double latency_ms;
	time_t last_seen;
};

static struct {
	pthread_mutex_t lock;
	struct peer peers[MAX_PEERS];
	int count;
	struct app *app;
	unsigned round; /* only the federation ticker's thread touches it */
	atomic_uint rotation;
} fed = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void new_token(char out[FEDERATION_TOKEN_MAX])
{
	if (!secret_random_hex(out, (FEDERATION_TOKEN_MAX - 1) / 2))
		abort(); /* no entropy: never issue a guessable credential */
}

/* Caller holds fed.lock. */
static struct peer *find_locked(const char *id)
{
	for (int i = 0; i < fed.count; i++)
		if (strcmp(fed.peers[i].id, id) == 0)
			return &fed.peers[i];
	return NULL;
}

/* Caller holds fed.lock. */
static struct peer *add_locked(const char *id, const char *url)
{
	struct peer *p = find_locked(id);
	if (p == NULL && fed.count < MAX_PEERS) {
		p = &fed.peers[fed.count++];
		memset(p, 0, sizeof(*p));
		snprintf(p->id, sizeof(p->id), "%s", id);
	}
	if (p != NULL && url != NULL)
		snprintf(p->url, sizeof(p->url), "%s", url);
	return p;
}

/* Caller holds fed.lock. */
static void remove_locked(const char *id)
{
	struct peer *p = find_locked(id);
	if (p == NULL)
		return;
	ptrdiff_t at = p - fed.peers;
	memmove(p, p + 1, sizeof(*p) * (size_t)(fed.count - at - 1));
	fed.count--;
}

static bool valid_url(const char *url)
{
	return (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0) && strlen(url) < 256 &&
	       strpbrk(url, " \"'<>\\") == NULL;
}

/* Caller holds fed.lock. Every URL of p's replicas, the preferred first, without repeats: the count. */
static int urls_locked(const struct peer *p, char urls[MAX_URLS][256])
{
	const char *all[1 + 2 * (MAX_URLS - 1)];
	int n = 0, kept = 0;
	all[n++] = p->url;
	for (int i = 0; i < p->configured_count; i++)
		all[n++] = p->configured[i];
	for (int i = 0; i < p->learned_count; i++)
		all[n++] = p->learned[i];
	if (p->preferred[0] != '\0')
		snprintf(urls[kept++], 256, "%s", p->preferred);
	for (int i = 0; i < n && kept < MAX_URLS; i++) {
		bool seen = all[i][0] == '\0';
		for (int k = 0; k < kept && !seen; k++)
			seen = strcmp(urls[k], all[i]) == 0;
		if (!seen)
			snprintf(urls[kept++], 256, "%s", all[i]);
	}
	return kept;
}

/* Parses one EVC_PEERS item's URLs ("http://h1:8082|http://h2:8082") into p. */
static bool config_urls_locked(struct peer *p, char *urls)
{
	char *save = NULL;
	int n = 0;
	for (char *url = strtok_r(urls, "|", &save); url != NULL; url = strtok_r(NULL, "|", &save), n++) {
		if (!valid_url(url) || n >= MAX_URLS || (n > 0 && p->configured_count >= MAX_URLS - 1))
			return false;
		if (n == 0)
			snprintf(p->url, sizeof(p->url), "%s", url);
		else
			snprintf(p->configured[p->configured_count++], sizeof(p->configured[0]), "%s", url);
	}
	return n > 0;
}

/* Parses EVC_PEERS ("b=http://host:8082,c=http://host:8083|http://host2:8083"). */
static bool load_config_peers(const struct config *cfg)
{
	char list[sizeof(cfg->peers)];
	snprintf(list, sizeof(list), "%s", cfg->peers);
	char *save = NULL;
	for (char *item = strtok_r(list, ",", &save); item != NULL; item = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(item, '=');
		if (eq == NULL) {
			log_error("event=config_invalid name=EVC_PEERS item=\"%s\" hint=\"id=url\"", item);
			return false;
		}
		*eq = '\0';
		struct peer *p = validate_company_id(item) && strcmp(item, cfg->company_id) != 0 ? add_locked(item, NULL) : NULL;
		if (p == NULL || !config_urls_locked(p, eq + 1)) {
			log_error("event=config_invalid name=EVC_PEERS peer=%s hint=\"id=url[|url...], at most %d URLs\"", item,
				  MAX_URLS);
			return false;
		}
	}
	return true;
}

static void exec_logged(PGconn *conn, const char *what, const char *sql, int n, const char *const *params)
{
	PGresult *res = db_exec(conn, sql, n, params);
	if (!db_ok(res, what))
		log_warn("event=federation_db_failed what=%s", what);
	PQclear(res);
}

/* Stores configured peers, then reads every known peer and its credentials. */
static bool load_db_peers(PGconn *conn)
{
	for (int i = 0; i < fed.count; i++) {
		const char *params[] = { fed.peers[i].id, fed.peers[i].url };
		exec_logged(conn, "peer_upsert",
			    "INSERT INTO peers (id, url) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET url = EXCLUDED.url",
			    2, params);
	}
	PGresult *res = db_exec(conn, "SELECT id, url, coalesce(inbound_token, ''), coalesce(outbound_token, '') FROM peers", 0, NULL);
	bool ok = db_ok(res, "peers_load");
	for (int i = 0; ok && i < PQntuples(res); i++) {
		struct peer *p = add_locked(PQgetvalue(res, i, 0), PQgetvalue(res, i, 1));
		if (p == NULL)
			continue;
		snprintf(p->inbound, sizeof(p->inbound), "%s", PQgetvalue(res, i, 2));
		snprintf(p->outbound, sizeof(p->outbound), "%s", PQgetvalue(res, i, 3));
	}
	PQclear(res);
	return ok;
}

static void save_tokens(PGconn *conn, const char *id, const char *url, const char *inbound, const char *outbound)
{
	const char *params[] = { id, url, inbound, outbound };
	exec_logged(conn, "peer_tokens",
		    "INSERT INTO peers (id, url, inbound_token, outbound_token, registered_at) VALUES ($1, $2, $3, $4, now())"
		    " ON CONFLICT (id) DO UPDATE SET url = EXCLUDED.url, inbound_token = EXCLUDED.inbound_token,"
		    " outbound_token = EXCLUDED.outbound_token, registered_at = now(), updated_at = now()",
		    4, params);
}

/*
 * Our current outbound token for the peer as the database has it, when it is
 * not the refused one: another replica of ours may have run the handshake.
 */
static bool token_from_db(PGconn *conn, const struct peer *snapshot, char *token)
{
	const char *params[] = { snapshot->id };
	PGresult *res = db_exec(conn, "SELECT outbound_token FROM peers WHERE id = $1 AND outbound_token IS NOT NULL", 1, params);
	bool found = db_ok(res, "peer_token") && PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), snapshot->refused) != 0;
	if (found)
		snprintf(token, FEDERATION_TOKEN_MAX, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return found;
}

static void use_tokens(const char *id, const char *inbound, const char *outbound)
{
	pthread_mutex_lock(&fed.lock);
	struct peer *p = find_locked(id);
	if (p != NULL) {
		if (inbound != NULL)
			snprintf(p->inbound, sizeof(p->inbound), "%s", inbound);
		snprintf(p->outbound, sizeof(p->outbound), "%s", outbound);
	}
	pthread_mutex_unlock(&fed.lock);
}

/*
 * The token we offer the peer in a handshake: the one an earlier attempt
 * offered, while the handshake is not done, else a new one, kept (memory and
 * database) before it is sent. An attempt whose answer was lost (a timeout)
 * is then repeated with the same token, which the peer recognises, instead of
 * a new one it would refuse (409: the secret no longer admits a member).
 */
static void pending_token(PGconn *conn, const struct peer *snapshot, char issued[FEDERATION_TOKEN_MAX])
{
	if (snapshot->inbound[0] != '\0') {
		snprintf(issued, FEDERATION_TOKEN_MAX, "%s", snapshot->inbound);
		return;
	}
	new_token(issued);
	const char *params[] = { snapshot->id, issued };
	exec_logged(conn, "peer_pending_token",
		    "UPDATE peers SET inbound_token = $2, updated_at = now() WHERE id = $1 AND inbound_token IS NULL", 2,
		    params);
	use_tokens(snapshot->id, issued, "");
}

/*
 * We initiate the handshake with peers whose id sorts after ours. Replicas of
 * this company share the database: one of them runs the handshake (advisory
 * lock), the others pick its tokens up from the peers table.
 */
static void register_with(PGconn *conn, const struct peer *snapshot)
{
	const struct config *cfg = &fed.app->cfg;
	char issued[FEDERATION_TOKEN_MAX], current[FEDERATION_TOKEN_MAX];
	const char *lock_params[] = { snapshot->id };
	if (!db_command(conn, "BEGIN"))
		return;
	PGresult *res = db_exec(conn, "SELECT pg_try_advisory_xact_lock(hashtext('evc-handshake-' || $1))", 1, lock_params);
	bool locked = db_ok(res, "handshake_lock") && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	if (!locked)
		goto done; /* a sibling replica is on it */
	if (token_from_db(conn, snapshot, current)) {
		use_tokens(snapshot->id, NULL, current);
		goto done;
	}

	pending_token(conn, snapshot, issued);
	json_t *body = json_pack("{s:s, s:s, s:s}", "id", cfg->company_id, "url", cfg->public_url, "token", issued);
	struct peer_response r;
	peer_call("POST", snapshot->url, "/api/v1/federation/peers", cfg->federation_secret, body, CALL_TIMEOUT_MS,
		  NULL, &r);
	json_decref(body);
	const char *their = json_string_value(json_object_get(r.body, "token"));
	if (r.status == 201 && their != NULL && strlen(their) < FEDERATION_TOKEN_MAX) {
		save_tokens(conn, snapshot->id, snapshot->url, issued, their);
		use_tokens(snapshot->id, issued, their);
		log_info("event=peer_registered peer=%s", snapshot->id);
	} else if (r.status != 0) {
		log_warn("event=peer_registration_refused peer=%s status=%ld", snapshot->id, r.status);
	}
	peer_response_clear(&r);
done:
	if (!db_command(conn, "COMMIT"))
		log_warn("event=handshake_commit_failed peer=%s", snapshot->id);
}

/* Caller holds fed.lock. Keeps the replica URLs a ping answer names ("urls"), at most MAX_URLS - 1. */
static void learn_urls_locked(struct peer *p, json_t *urls)
{
	size_t i;
	json_t *url;
	p->learned_count = 0;
	json_array_foreach(urls, i, url) {
		const char *text = json_string_value(url);
		if (text != NULL && valid_url(text) && p->learned_count < MAX_URLS - 1)
			snprintf(p->learned[p->learned_count++], sizeof(p->learned[0]), "%s", text);
	}
}

static void heartbeat(PGconn *conn, const struct peer *snapshot)
{
	struct peer_response r;
	federation_call(snapshot->id, "GET", "/api/v1/federation/ping", NULL, CALL_TIMEOUT_MS, NULL, NULL, &r);
	bool up = r.status == 200 || r.status == 401;
	if (r.status == 401)
		federation_credentials_refused(snapshot->id);
	if (r.status == 200)
		carauth_learn(fed.app->carauth, snapshot->id, r.body); /* its car-token key and revocations */

	pthread_mutex_lock(&fed.lock);
	struct peer *p = find_locked(snapshot->id);
	bool changed = p != NULL && p->up != up;
	if (p != NULL) {
		p->up = up;
		if (up) {
			p->latency_ms = r.ms;
			p->last_seen = time(NULL);
		}
		if (r.status == 200)
			learn_urls_locked(p, json_object_get(r.body, "urls"));
	}
	pthread_mutex_unlock(&fed.lock);
	if (changed) /* a peer gone is a failure an operator must see: warn */
		log_write(up ? LOG_LEVEL_INFO : LOG_LEVEL_WARN, "event=peer_%s peer=%s status=%ld", up ? "up" : "down",
			  snapshot->id, r.status);

	char latency[32];
	snprintf(latency, sizeof(latency), "%.3f", r.ms);
	const char *params[] = { snapshot->id, up ? "up" : "down", latency };
	exec_logged(conn, "peer_health",
		    "UPDATE peers SET status = $2,"
		    " last_seen = CASE WHEN $2 = 'up' THEN now() ELSE last_seen END,"
		    " latency_ms = CASE WHEN $2 = 'up' THEN $3::float8 ELSE latency_ms END, updated_at = now()"
		    " WHERE id = $1",
		    3, params);
	peer_response_clear(&r);
}

/* Fetches the peer's stations changed since the newest we hold. */
static void refresh_catalogue(PGconn *conn, const struct peer *snapshot)
{
	const char *id_param[] = { snapshot->id };
	PGresult *res = db_exec(conn,
				"SELECT coalesce(rfc3339(max(updated_at) - interval '1 second'), '') FROM peer_stations WHERE company = $1",
				1, id_param);
	char path[128] = "/api/v1/stations";
	if (db_ok(res, "catalogue_since") && PQgetvalue(res, 0, 0)[0] != '\0')
		snprintf(path, sizeof(path), "/api/v1/stations?updated_since=%s", PQgetvalue(res, 0, 0));
	PQclear(res);

	struct peer_response r;
	federation_call(snapshot->id, "GET", path, NULL, CALL_TIMEOUT_MS, NULL, NULL, &r);
	json_t *items = json_object_get(r.body, "items");
	size_t i;
	json_t *station;
	json_array_foreach(items, i, station) {
		const char *sid = json_string_value(json_object_get(station, "id"));
		const char *updated = json_string_value(json_object_get(station, "updated_at"));
		char owner[VALIDATE_COMPANY_MAX + 1];
		if (sid == NULL || updated == NULL || !validate_station_company(sid, owner, sizeof(owner)) ||
		    strcmp(owner, snapshot->id) != 0)
			continue; /* a peer speaks only for its own stations */
		char *data = json_dumps(station, JSON_COMPACT);
		const char *params[] = { sid, snapshot->id, data, updated };
		exec_logged(conn, "catalogue_upsert",
			    "INSERT INTO peer_stations (station_id, company, data, updated_at) VALUES ($1, $2, $3::jsonb, $4::timestamptz)"
			    " ON CONFLICT (station_id) DO UPDATE SET data = EXCLUDED.data, updated_at = EXCLUDED.updated_at,"
			    " fetched_at = now()",
			    4, params);
		free(data);
	}
	if (r.status == 200 && json_is_array(items)) {
		pthread_mutex_lock(&fed.lock);
		struct peer *p = find_locked(snapshot->id);
		if (p != NULL && !p->catalogue)
			log_info("event=peer_catalogue_loaded peer=%s stations=%zu", snapshot->id, json_array_size(items));
		if (p != NULL)
			p->catalogue = true;
		pthread_mutex_unlock(&fed.lock);
	}
	peer_response_clear(&r);
}

/*
 * A sibling replica may have removed a peer: forget in memory the peers of the
 * round's snapshot that the database no longer has (a peer added after the
 * snapshot is not in it, so it is never dropped by mistake).
 */
static void forget_removed(PGconn *conn, const struct peer *snapshot, int count)
{
	PGresult *res = db_exec(conn, "SELECT id FROM peers", 0, NULL);
	if (!db_ok(res, "peers_ids")) {
		PQclear(res);
		return;
	}
	for (int i = 0; i < count; i++) {
		bool kept = false;
		for (int row = 0; row < PQntuples(res) && !kept; row++)
			kept = strcmp(PQgetvalue(res, row, 0), snapshot[i].id) == 0;
		if (kept)
			continue;
		pthread_mutex_lock(&fed.lock);
		remove_locked(snapshot[i].id);
		pthread_mutex_unlock(&fed.lock);
		carauth_forget(fed.app->carauth, snapshot[i].id);
		log_info("event=peer_forgotten peer=%s reason=removed_from_database", snapshot[i].id);
	}
	PQclear(res);
}

/* One round over the peers (a ticker job, every HEARTBEAT_SECONDS). */
static void federation_round(void *arg)
{
	(void)arg;
	struct peer snapshot[MAX_PEERS];
	pthread_mutex_lock(&fed.lock);
	int count = fed.count;
	memcpy(snapshot, fed.peers, sizeof(snapshot[0]) * (size_t)count);
	pthread_mutex_unlock(&fed.lock);

	carauth_refresh(fed.app); /* revocations a sibling replica wrote */
	PGconn *conn = db_acquire(fed.app->db, APP_DB_WAIT_MS);
	if (conn == NULL) {
		log_warn("event=federation_round_skipped reason=db_unavailable");
		return;
	}
	forget_removed(conn, snapshot, count);
	for (int i = 0; i < count; i++) {
		const struct peer *p = &snapshot[i];
		if (p->url[0] == '\0' || !federation_peer_known(p->id))
			continue;
		bool was_up = p->up;
		if (p->outbound[0] == '\0' && strcmp(fed.app->cfg.company_id, p->id) < 0 &&
		    fed.app->cfg.federation_secret[0] != '\0')
			register_with(conn, p);
		heartbeat(conn, p);
		if (federation_peer_up(p->id) && (!was_up || !p->catalogue || fed.round % CATALOGUE_EVERY == 0))
			refresh_catalogue(conn, p);
	}
	db_release(fed.app->db, conn);
	fed.round++;
}

bool federation_start(struct app *app)
{
	fed.app = app;
	pthread_mutex_lock(&fed.lock);
	bool ok = load_config_peers(&app->cfg);
	pthread_mutex_unlock(&fed.lock);
	if (!ok)
		return false;

	PGconn *conn = db_acquire(app->db, APP_DB_WAIT_MS);
	if (conn == NULL) {
		log_error("event=federation_start_failed reason=database");
		return false;
	}
	pthread_mutex_lock(&fed.lock);
	ok = load_db_peers(conn);
	pthread_mutex_unlock(&fed.lock);
	db_release(app->db, conn);
	if (!ok)
		return false;

	if ((app->federation_ticker = ticker_start("federation", HEARTBEAT_SECONDS * 1000, federation_round, NULL)) == NULL)
		return false;
	log_info("event=federation_started peers=%d", fed.count);
	return true;
}

void federation_stop(struct app *app)
{
	ticker_stop(app->federation_ticker);
	app->federation_ticker = NULL;
}

bool federation_peer(const char *id, char *url, size_t url_size, char *token, size_t token_size)
{
	pthread_mutex_lock(&fed.lock);
	struct peer *p = find_locked(id);
	if (p != NULL) {
		snprintf(url, url_size, "%s", p->url);
		snprintf(token, token_size, "%s", p->outbound);
	}
	pthread_mutex_unlock(&fed.lock);
	return p != NULL && url[0] != '\0';
}

void federation_call(const char *id, const char *method, const char *path, json_t *body, long timeout_ms,
		     const char *request_id, const char *extra_header, struct peer_response *out)
{
	char urls[MAX_URLS][256], token[FEDERATION_TOKEN_MAX] = "";
	int n = 0;
	pthread_mutex_lock(&fed.lock);
	struct peer *p = find_locked(id);
	if (p != NULL) {
		n = urls_locked(p, urls);
		snprintf(token, sizeof(token), "%s", p->outbound);
	}
	pthread_mutex_unlock(&fed.lock);
	memset(out, 0, sizeof(*out));
	for (int i = 0; i < n; i++) {
		peer_call_header(method, urls[i], path, token[0] ? token : NULL, body, timeout_ms, request_id, extra_header,
				 out);
		if (out->reached) {
			if (i > 0) {
				log_info("event=peer_failover peer=%s url=%s req=%s", id, urls[i], request_id ? request_id : "-");
				pthread_mutex_lock(&fed.lock);
				if ((p = find_locked(id)) != NULL)
					snprintf(p->preferred, sizeof(p->preferred), "%s", urls[i]);
				pthread_mutex_unlock(&fed.lock);
			}
			return;
		}
		log_debug("event=peer_replica_unreachable peer=%s url=%s req=%s", id, urls[i], request_id ? request_id : "-");
		peer_response_clear(out);
	}
}

bool federation_peer_up(const char *id)
{
	pthread_mutex_lock(&fed.lock);
	struct peer *p = find_locked(id);
	bool up = p != NULL && p->up;
	pthread_mutex_unlock(&fed.lock);
	return up;
}

static const char *token_of(const char *authorization)
{
	if (authorization == NULL || strncmp(authorization, "Token ", 6) != 0 || authorization[6] == '\0')
		return NULL;
	return authorization + 6;
}

bool federation_authenticate(const char *authorization, char *peer_id)
{
	const char *token = token_of(authorization);
	bool found = false;
	if (token == NULL || strlen(token) >= FEDERATION_TOKEN_MAX)
		return false;
	pthread_mutex_lock(&fed.lock);
	for (int i = 0; i < fed.count && !found; i++) {
		if (fed.peers[i].inbound[0] != '\0' && secret_equal(token, fed.peers[i].inbound)) {
			snprintf(peer_id, VALIDATE_COMPANY_MAX + 1, "%s", fed.peers[i].id);
			found = true;
		}
	}
	pthread_mutex_unlock(&fed.lock);
	if (found)
		return true;

	/* Not in memory: a sibling replica may have accepted a handshake since. */
	PGconn *conn = db_acquire(fed.app->db, APP_DB_WAIT_MS);
	if (conn == NULL)
		return false;
	const char *params[] = { token };
	PGresult *res = db_exec(conn, "SELECT id, url FROM peers WHERE inbound_token = $1", 1, params);
	if (db_ok(res, "peer_by_token") && PQntuples(res) == 1) {
		snprintf(peer_id, VALIDATE_COMPANY_MAX + 1, "%s", PQgetvalue(res, 0, 0));
		pthread_mutex_lock(&fed.lock);
		struct peer *p = add_locked(PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
		if (p != NULL)
			snprintf(p->inbound, sizeof(p->inbound), "%s", token);
		pthread_mutex_unlock(&fed.lock);
		found = true;
	}
	PQclear(res);
	db_release(fed.app->db, conn);
	return found;
}

bool federation_is_registration_secret(const char *authorization)
{
	const char *token = token_of(authorization);
	const char *secret = fed.app->cfg.federation_secret;
	return token != NULL && secret[0] != '\0' && secret_equal(token, secret);
}

bool federation_accept_registration(const char *id, const char *url, const char *their_token, char *issued)
{
	PGconn *conn = db_acquire(fed.app->db, APP_DB_WAIT_MS);
	if (conn == NULL)
		return false;
	new_token(issued);
	save_tokens(conn, id, url, issued, their_token);
	db_release(fed.app->db, conn);

	pthread_mutex_lock(&fed.lock);
	struct peer *p = add_locked(id, url);
	if (p != NULL) {
		snprintf(p->inbound, sizeof(p->inbound), "%s", issued);
		snprintf(p->outbound, sizeof(p->outbound), "%s", their_token);
	}
	pthread_mutex_unlock(&fed.lock);
	log_info("event=peer_accepted peer=%s url=%s", id, url);
	return p != NULL;
}

bool federation_peer_registered(const char *id)
{
	pthread_mutex_lock(&fed.lock);
	struct peer *p = find_locked(id);
	bool registered = p != NULL && p->inbound[0] != '\0';
	pthread_mutex_unlock(&fed.lock);
	return registered;
}

void federation_credentials_refused(const char *id)
{
	pthread_mutex_lock(&fed.lock);
	struct peer *p = find_locked(id);
	/* Only the initiator can mend it; the other side waits for the new handshake. */
	if (p != NULL && strcmp(fed.app->cfg.company_id, p->id) < 0 && p->outbound[0] != '\0') {
		snprintf(p->refused, sizeof(p->refused), "%s", p->outbound);
		p->outbound[0] = '\0';
		log_warn("event=peer_credentials_refused peer=%s action=register_again", id);
	}
	pthread_mutex_unlock(&fed.lock);
}

json_t *federation_servers(void)
{
	const struct config *cfg = &fed.app->cfg;
	json_t *up = json_array();
	pthread_mutex_lock(&fed.lock);
	for (int i = 0; i < fed.count; i++)
		if (fed.peers[i].up)
			json_array_append_new(up, json_pack("{s:s, s:s}", "company", fed.peers[i].id, "url", fed.peers[i].url));
	pthread_mutex_unlock(&fed.lock);

	/* Self first, then the live peers in an order that rotates, so clients spread out. */
	json_t *servers = json_array();
	json_array_append_new(servers, json_pack("{s:s, s:s}", "company", cfg->company_id, "url", cfg->public_url));
	size_t n = json_array_size(up);
	unsigned start = n > 0 ? atomic_fetch_add(&fed.rotation, 1) % (unsigned)n : 0;
	for (size_t i = 0; i < n; i++)
		json_array_append(servers, json_array_get(up, (start + i) % n));
	json_decref(up);
	return servers;
}

json_t *federation_peers_json(void)
{
	json_t *list = json_array();
	pthread_mutex_lock(&fed.lock);
	for (int i = 0; i < fed.count; i++) {
		const struct peer *p = &fed.peers[i];
		char seen[32] = "";
		if (p->last_seen != 0) {
			struct tm tm;
			gmtime_r(&p->last_seen, &tm);
			strftime(seen, sizeof(seen), "%Y-%m-%dT%H:%M:%SZ", &tm);
		}
		char urls[MAX_URLS][256];
		json_t *all = json_array();
		for (int k = 0, n = urls_locked(p, urls); k < n; k++)
			json_array_append_new(all, json_string(urls[k]));
		json_array_append_new(list, json_pack("{s:s, s:s, s:o, s:s, s:o, s:f, s:b}", "company", p->id, "url", p->url,
						      "urls", all, "status", p->up ? "up" : "down", "last_seen",
						      seen[0] ? json_string(seen) : json_null(), "latency_ms", p->latency_ms,
						      "registered", p->outbound[0] != '\0'));
	}
	pthread_mutex_unlock(&fed.lock);
	return list;
}

json_t *federation_readiness(void)
{
	json_t *missing = json_array();
	pthread_mutex_lock(&fed.lock);
	for (int i = 0; i < fed.count; i++) {
		const struct peer *p = &fed.peers[i];
		char item[VALIDATE_COMPANY_MAX + 16];
		if (!p->up) {
			snprintf(item, sizeof(item), "%s:down", p->id);
			json_array_append_new(missing, json_string(item));
		}
		if (p->inbound[0] == '\0' || p->outbound[0] == '\0') {
			snprintf(item, sizeof(item), "%s:credentials", p->id);
			json_array_append_new(missing, json_string(item));
		}
		if (!p->catalogue) {
			snprintf(item, sizeof(item), "%s:catalogue", p->id);
			json_array_append_new(missing, json_string(item));
		}
	}
	pthread_mutex_unlock(&fed.lock);
	return json_pack("{s:b, s:o}", "ready", json_array_size(missing) == 0, "missing", missing);
}

/* True when text is visible ASCII only: no control character (CR, LF) may reach a URL or a log line. */
static bool printable(const char *text)
{
	for (; *text != '\0'; text++)
		if ((unsigned char)*text <= 0x20 || (unsigned char)*text >= 0x7f)
			return false;
	return true;
}

/* The field error of a registration. */
static bool registration_refused(struct jsonx_error *err, const char *message)
{
	err->code = "invalid_field";
	snprintf(err->message, sizeof(err->message), "%s", message);
	return false;
}

bool federation_read_registration(json_t *body, const char *self, struct federation_registration *out,
				  struct jsonx_error *err)
{
	memset(out, 0, sizeof(*out));
	if (!jsonx_string(body, "id", true, VALIDATE_COMPANY_MAX, &out->id, err) ||
	    !jsonx_string(body, "url", true, 255, &out->url, err) ||
	    !jsonx_string(body, "token", true, FEDERATION_TOKEN_MAX - 1, &out->token, err))
		return false;
	if (!validate_company_id(out->id) || strcmp(out->id, self) == 0)
		return registration_refused(err, "field 'id' must be another company's id");
	if ((strncmp(out->url, "http://", 7) != 0 && strncmp(out->url, "https://", 8) != 0) || strpbrk(out->url, " \"'<>\\") ||
	    !printable(out->url))
		return registration_refused(err, "field 'url' must be an http(s) URL");
	if (strspn(out->token, "0123456789abcdefABCDEF") != strlen(out->token) || strlen(out->token) < 32)
		return registration_refused(err, "field 'token' must be at least 32 hex digits");
	return true;
}

bool federation_peer_known(const char *id)
{
	pthread_mutex_lock(&fed.lock);
	bool known = find_locked(id) != NULL;
	pthread_mutex_unlock(&fed.lock);
	return known;
}

/* True when EVC_PEERS names id: such a peer comes back at every start. */
static bool configured_peer(const char *id)
{
	size_t n = strlen(id);
	for (const char *item = fed.app->cfg.peers; item != NULL && *item != '\0';) {
		if (strncmp(item, id, n) == 0 && item[n] == '=')
			return true;
		item = strchr(item, ',');
		if (item != NULL)
			item++;
	}
	return false;
}

/*
 * In one transaction, the peer's row locked: refuses while anything with it is
 * in doubt (a transaction it prepared here and has not decided, a trip we
 * coordinate with it as a participant that is not finished), else deletes its
 * cached stations and its row (credentials included). r holds the answer.
 */
static enum evc_err remove_from_db(PGconn *conn, const char *id, const char *request_id, struct core_result *r)
{
	static const char check[] =
		"SELECT url,"
		" (SELECT count(*) FROM pg_prepared_xacts WHERE database = current_database()"
		"   AND gid LIKE 'evc\\_' || $1 || '\\_%'),"
		" (SELECT count(*) FROM trips WHERE $1 = ANY (participants)"
		"   AND status IN ('preparing', 'committing', 'aborting', 'cancelling', 'finishing'))"
		" FROM peers WHERE id = $1 FOR UPDATE";
	const char *params[] = { id };
	if (!db_command(conn, "BEGIN"))
		return coredb_unavailable(r, request_id);
	PGresult *res = db_exec(conn, check, 1, params);
	if (!db_ok(res, "peer_remove_check")) {
		coredb_error(r, conn, res, request_id);
	} else if (PQntuples(res) == 0) {
		core_fail(r, EVC_ERR_NOT_FOUND, "not_found", "no peer '%s' here", id);
	} else if (atoi(PQgetvalue(res, 0, 1)) > 0 || atoi(PQgetvalue(res, 0, 2)) > 0) {
		log_warn("event=peer_remove_refused req=%s peer=%s prepared_here=%s trips_in_flight=%s", request_id, id,
			 PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2));
		core_fail_extra(r, EVC_ERR_CONFLICT, "peer_in_doubt",
				json_pack("{s:i, s:i}", "prepared_here", atoi(PQgetvalue(res, 0, 1)), "trips_in_flight",
					  atoi(PQgetvalue(res, 0, 2))),
				"peer '%s' still has transactions in doubt with us: wait until they are decided, then retry", id);
	} else {
		json_t *body = json_pack("{s:s, s:s}", "company", id, "url", PQgetvalue(res, 0, 0));
		PQclear(res);
		res = db_exec(conn, "WITH gone AS (DELETE FROM peer_stations WHERE company = $1 RETURNING 1),"
				    " peer AS (DELETE FROM peers WHERE id = $1 RETURNING 1)"
				    " SELECT (SELECT count(*) FROM gone)", 1, params);
		if (db_ok(res, "peer_remove")) {
			json_object_set_new(body, "stations_forgotten", json_integer(atoi(PQgetvalue(res, 0, 0))));
			core_ok(r, body);
		} else {
			json_decref(body);
			coredb_error(r, conn, res, request_id);
		}
	}
	PQclear(res);
	coredb_end(conn, request_id, r);
	return r->err;
}

enum evc_err federation_peer_remove(struct app *app, const struct actor *actor, const char *id,
				    const char *request_id, struct core_result *r)
{
	if (policy_check(actor, POLICY_PEER_MANAGE, NULL, request_id, r) != EVC_OK)
		return r->err;
	if (!validate_company_id(id) || strcmp(id, app->cfg.company_id) == 0)
		return core_fail(r, EVC_ERR_NOT_FOUND, "not_found", "no peer with that id here");
	if (configured_peer(id))
		return core_fail(r, EVC_ERR_CONFLICT, "peer_configured",
				 "peer '%s' is in EVC_PEERS and would come back at the next start: remove it there, "
				 "restart, then remove it here", id);
	PGconn *conn = db_acquire(app->db, APP_DB_WAIT_MS);
	if (conn == NULL)
		return coredb_unavailable(r, request_id);
	enum evc_err err = remove_from_db(conn, id, request_id, r);
	db_release(app->db, conn);
	if (err != EVC_OK)
		return err;
	/* Its credentials stop working now: no heartbeat to it, its calls and its cars' tokens refused. */
	pthread_mutex_lock(&fed.lock);
	remove_locked(id);
	pthread_mutex_unlock(&fed.lock);
	carauth_forget(app->carauth, id);
	char who[ACTOR_DESCRIBE_MAX];
	log_info("event=peer_removed req=%s peer=%s actor=%s", request_id, id, actor_describe(actor, who));
	return EVC_OK;
}

bool federation_registration_repeated(const char *id, const char *url, const char *their_token, char *issued)
{
	pthread_mutex_lock(&fed.lock);
	struct peer *p = find_locked(id);
	bool same = p != NULL && p->inbound[0] != '\0' && p->outbound[0] != '\0' && strcmp(p->url, url) == 0 &&
		    secret_equal(their_token, p->outbound);
	if (same)
		snprintf(issued, FEDERATION_TOKEN_MAX, "%s", p->inbound);
	pthread_mutex_unlock(&fed.lock);
	if (same)
		log_info("event=peer_registration_repeated peer=%s", id);
	return same;
}
