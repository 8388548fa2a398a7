#include "carauth.h"
#include "app.h"
#include "coredb.h"
#include "log.h"
#include "policy.h"
#include "timeutil.h"
#include "validate.h"

#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ISSUERS 64          /* this company and its peers */
#define MAX_REVOCATIONS 10000   /* per issuer; an announcement beyond it is cut (logged) */

struct issuer {
	char company[VALIDATE_COMPANY_MAX + 1];
	unsigned char pub[CARTOKEN_PUBLIC_LEN];
	struct revocation {
		char car[VALIDATE_CAR_MAX + 1];
		int64_t before;
	} *revoked;
	size_t count;
};

struct carauth {
	pthread_mutex_t lock; /* guards issuers */
	unsigned char seed[CARTOKEN_SEED_LEN];
	struct issuer issuers[MAX_ISSUERS]; /* [0] is this company */
	int issuer_count;
};

static bool load_seed(struct app *app, unsigned char seed[CARTOKEN_SEED_LEN])
{
	static const char sql[] = "WITH made AS (INSERT INTO signing_keys (id, seed) VALUES (1, decode($1, 'hex'))"
				  "  ON CONFLICT (id) DO NOTHING RETURNING seed)"
				  " SELECT encode(seed, 'hex') FROM made UNION ALL"
				  " SELECT encode(seed, 'hex') FROM signing_keys WHERE id = 1 AND NOT EXISTS (SELECT 1 FROM made)";
	unsigned char fresh[CARTOKEN_SEED_LEN];
	char hex[2 * CARTOKEN_SEED_LEN + 1];
	if (!cartoken_keygen(fresh))
		return false;
	for (size_t i = 0; i < sizeof(fresh); i++)
		snprintf(hex + 2 * i, 3, "%02x", fresh[i]);
	PGconn *conn = db_acquire(app->db, APP_DB_WAIT_MS);
	if (conn == NULL)
		return false;
	const char *params[] = { hex };
	PGresult *res = db_exec(conn, sql, 1, params);
	bool ok = db_ok(res, "signing_key") && PQntuples(res) == 1 && strlen(PQgetvalue(res, 0, 0)) == sizeof(hex) - 1;
	for (size_t i = 0; ok && i < CARTOKEN_SEED_LEN; i++) {
		unsigned int byte;
		ok = sscanf(PQgetvalue(res, 0, 0) + 2 * i, "%2x", &byte) == 1;
		seed[i] = (unsigned char)byte;
	}
	PQclear(res);
	db_release(app->db, conn);
	memset(hex, 0, sizeof(hex));
	return ok;
}

struct carauth *carauth_create(struct app *app)
{
	struct carauth *ca = calloc(1, sizeof(*ca));
	if (ca == NULL)
		return NULL;
	pthread_mutex_init(&ca->lock, NULL);
	if (!load_seed(app, ca->seed) || !cartoken_public_key(ca->seed, ca->issuers[0].pub)) {
		log_error("event=signing_key_unavailable company=%s", app->cfg.company_id);
		carauth_destroy(ca);
		return NULL;
	}
	snprintf(ca->issuers[0].company, sizeof(ca->issuers[0].company), "%s", app->cfg.company_id);
	ca->issuer_count = 1;
	app->carauth = ca;
	carauth_refresh(app);
	return ca;
}

void carauth_destroy(struct carauth *ca)
{
	if (ca == NULL)
		return;
	for (int i = 0; i < ca->issuer_count; i++)
		free(ca->issuers[i].revoked);
	pthread_mutex_destroy(&ca->lock);
	memset(ca->seed, 0, sizeof(ca->seed));
	free(ca);
}

void carauth_public_text(const struct carauth *ca, char out[CARTOKEN_PUBLIC_B64_LEN])
{
	cartoken_public_to_text(ca->issuers[0].pub, out);
}

static struct issuer *find_locked(struct carauth *ca, const char *company, bool create)
{
	for (int i = 0; i < ca->issuer_count; i++)
		if (strcmp(ca->issuers[i].company, company) == 0)
			return &ca->issuers[i];
	if (!create || ca->issuer_count == MAX_ISSUERS)
		return NULL;
	struct issuer *is = &ca->issuers[ca->issuer_count++];
	memset(is, 0, sizeof(*is));
	snprintf(is->company, sizeof(is->company), "%s", company);
	return is;
}

/* The issuer's revocation time for car, or INT64_MIN when none. */
static int64_t revoked_before_locked(const struct issuer *is, const char *car)
{
	for (size_t i = 0; i < is->count; i++)
		if (strcmp(is->revoked[i].car, car) == 0)
			return is->revoked[i].before;
	return INT64_MIN;
}

bool carauth_verify(struct carauth *ca, const char *token, int64_t now, struct actor *actor, const char **why)
{
	struct cartoken_claims claims;
	*why = "malformed car token";
	if (cartoken_peek(token, &claims) != CARTOKEN_VALID || !validate_company_id(claims.issuer) ||
	    !validate_car_id(claims.car_id))
		return false;
	pthread_mutex_lock(&ca->lock);
	struct issuer *is = find_locked(ca, claims.issuer, false);
	enum cartoken_status status = CARTOKEN_BAD_SIGNATURE;
	bool revoked = false;
	if (is != NULL) {
		status = cartoken_verify(token, is->pub, now, &claims);
		revoked = status == CARTOKEN_VALID && claims.issued_at <= revoked_before_locked(is, claims.car_id);
	}
	pthread_mutex_unlock(&ca->lock);
	if (is == NULL)
		*why = "car token of an issuer this server does not know";
	else if (status != CARTOKEN_VALID)
		*why = status == CARTOKEN_EXPIRED ? "expired car token" : "invalid car token";
	else if (revoked)
		*why = "revoked car token";
	else {
		*actor = actor_car(claims.car_id);
		return true;
	}
	return false;
}

/* Replaces the issuer's revocations by items ([{"car_id","before"}], borrowed). */
static void set_revocations_locked(struct issuer *is, json_t *items)
{
	size_t n = json_array_size(items), kept = 0, i;
	if (n > MAX_REVOCATIONS) {
		log_warn("event=revocations_cut issuer=%s count=%zu max=%d", is->company, n, MAX_REVOCATIONS);
		n = MAX_REVOCATIONS;
	}
	struct revocation *list = n > 0 ? calloc(n, sizeof(*list)) : NULL;
	json_t *item;
	json_array_foreach(items, i, item) {
		const char *car = json_string_value(json_object_get(item, "car_id"));
		json_t *before = json_object_get(item, "before");
		if (list == NULL || kept == n || car == NULL || !validate_car_id(car) || !json_is_integer(before))
			continue;
		snprintf(list[kept].car, sizeof(list[kept].car), "%s", car);
		list[kept++].before = (int64_t)json_integer_value(before);
	}
	free(is->revoked);
	is->revoked = list;
	is->count = kept;
}

void carauth_learn(struct carauth *ca, const char *peer, json_t *announcement)
{
	unsigned char pub[CARTOKEN_PUBLIC_LEN];
	const char *key = json_string_value(json_object_get(announcement, "signing_key"));
	if (ca == NULL || key == NULL || !cartoken_public_from_text(key, pub) || !validate_company_id(peer))
		return;
	pthread_mutex_lock(&ca->lock);
	struct issuer *is = find_locked(ca, peer, true);
	if (is != NULL && is != &ca->issuers[0]) {
		if (is->count > 0 || memcmp(is->pub, pub, sizeof(pub)) != 0)
			log_debug("event=peer_key_learned peer=%s", peer);
		memcpy(is->pub, pub, sizeof(pub));
		set_revocations_locked(is, json_object_get(announcement, "revocations"));
	}
	pthread_mutex_unlock(&ca->lock);
}

void carauth_forget(struct carauth *ca, const char *peer)
{
	if (ca == NULL)
		return;
	pthread_mutex_lock(&ca->lock);
	struct issuer *is = find_locked(ca, peer, false);
	if (is != NULL && is != &ca->issuers[0]) {
		free(is->revoked);
		ptrdiff_t at = is - ca->issuers;
		memmove(is, is + 1, sizeof(*is) * (size_t)(ca->issuer_count - at - 1));
		ca->issuer_count--;
	}
	pthread_mutex_unlock(&ca->lock);
}

/* Our revocations as [{"car_id","before"}] from the database (new reference), or NULL. */
static json_t *own_revocations(struct app *app)
{
	static const char sql[] =
		"SELECT coalesce(json_agg(json_build_object('car_id', car_id,"
		"  'before', extract(epoch FROM revoked_before)::bigint)), '[]'::json)"
		" FROM (SELECT * FROM car_revocations WHERE issuer = $1 ORDER BY updated_at DESC LIMIT 10000) x";
	PGconn *conn = db_acquire(app->db, APP_DB_WAIT_MS);
	if (conn == NULL)
		return NULL;
	const char *params[] = { app->cfg.company_id };
	PGresult *res = db_exec(conn, sql, 1, params);
	json_t *items = db_ok(res, "own_revocations") ? json_loads(PQgetvalue(res, 0, 0), 0, NULL) : NULL;
	PQclear(res);
	db_release(app->db, conn);
	return items;
}

void carauth_refresh(struct app *app)
{
	json_t *items = own_revocations(app);
	if (items == NULL)
		return;
	pthread_mutex_lock(&app->carauth->lock);
	set_revocations_locked(&app->carauth->issuers[0], items);
	pthread_mutex_unlock(&app->carauth->lock);
	json_decref(items);
}

json_t *carauth_announcement(struct app *app)
{
	char key[CARTOKEN_PUBLIC_B64_LEN];
	carauth_public_text(app->carauth, key);
	json_t *items = own_revocations(app);
	return json_pack("{s:s, s:o}", "signing_key", key, "revocations", items != NULL ? items : json_array());
}

enum evc_err carauth_issue(struct app *app, const struct actor *actor, const char *car_id, const char *request_id,
			   struct core_result *r)
{
	if (policy_check(actor, POLICY_CAR_TOKEN_MANAGE, NULL, request_id, r) != EVC_OK)
		return r->err;
	if (!validate_car_id(car_id))
		return core_fail(r, EVC_ERR_INVALID, "invalid_field", "a car id is 1 to 64 of [A-Za-z0-9_.:-]");
	struct carauth *ca = app->carauth;
	struct cartoken_claims claims;
	memset(&claims, 0, sizeof(claims));
	snprintf(claims.issuer, sizeof(claims.issuer), "%s", app->cfg.company_id);
	snprintf(claims.car_id, sizeof(claims.car_id), "%s", car_id);
	claims.issued_at = timeutil_now();
	pthread_mutex_lock(&ca->lock);
	int64_t before = revoked_before_locked(&ca->issuers[0], car_id);
	pthread_mutex_unlock(&ca->lock);
	if (claims.issued_at <= before)
		claims.issued_at = before + 1; /* a token issued right after a revocation must live */
	claims.expires_at = claims.issued_at + (int64_t)app->cfg.car_token_ttl_hours * 3600;
	char token[CARTOKEN_MAX];
	if (!cartoken_sign(ca->seed, &claims, token, sizeof(token)))
		return core_fail(r, EVC_ERR_INTERNAL, "internal", "the token could not be signed");
	char issued[TIMEUTIL_RFC3339_LEN], expires[TIMEUTIL_RFC3339_LEN];
	timeutil_format_rfc3339(claims.issued_at, issued);
	timeutil_format_rfc3339(claims.expires_at, expires);
	log_info("event=car_token_issued req=%s car=%s jti=%s expires=%s", request_id, car_id, claims.jti, expires);
	core_ok(r, json_pack("{s:s, s:s, s:s, s:s, s:s}", "car_id", car_id, "token", token, "issuer",
			     app->cfg.company_id, "issued_at", issued, "expires_at", expires));
	r->created = true;
	memset(token, 0, sizeof(token));
	return EVC_OK;
}

enum evc_err carauth_revoke(struct app *app, const struct actor *actor, const char *car_id, const char *request_id,
			    struct core_result *r)
{
	static const char sql[] =
		"INSERT INTO car_revocations (issuer, car_id, revoked_before) VALUES ($1, $2, now())"
		" ON CONFLICT (issuer, car_id) DO UPDATE SET revoked_before = now(), updated_at = now()"
		" RETURNING json_build_object('car_id', car_id, 'issuer', issuer, 'revoked_before', rfc3339(revoked_before))";
	if (policy_check(actor, POLICY_CAR_TOKEN_MANAGE, NULL, request_id, r) != EVC_OK)
		return r->err;
	if (!validate_car_id(car_id))
		return core_fail(r, EVC_ERR_INVALID, "invalid_field", "a car id is 1 to 64 of [A-Za-z0-9_.:-]");
	const char *params[] = { app->cfg.company_id, car_id };
	if (coredb_query_json(app, r, "not revoked", sql, 2, params, request_id) == EVC_OK) {
		log_info("event=car_tokens_revoked req=%s car=%s", request_id, car_id);
		carauth_refresh(app);
	}
	return r->err;
}
