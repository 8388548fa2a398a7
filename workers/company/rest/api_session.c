/*
 * /session: the dashboard's operator sign-in. The operator gives the company's
 * operator token once; the answer sets an HttpOnly, SameSite=Strict cookie so
 * the page's script never holds the token. The cookie is stateless: its expiry
 * and an HMAC-SHA256 of it keyed with the operator token, so every replica of
 * the company accepts it and rotating the token ends every session. Sign-out
 * clears the cookie (a copied cookie stays valid until it expires: 12 h).
 * Companies on one host (ports share cookies) each have their own cookie name.
 * A write carried by the cookie must come from this server's own pages (Origin
 * check in http.c): SameSite does not separate two ports of one host.
 */
#include "api.h"
#include "app.h"
#include "log.h"
#include "secret.h"
#include "timeutil.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SESSION_COOKIE "evc_session_" /* + company id: companies on one host keep their own */
#define SESSION_SECONDS (12 * 3600)
#define SESSION_MAX 96 /* "<expiry>.<64 hex>" */

/* "<expires>.<hex hmac>" into out; false when the admin API is closed. */
static bool session_value(const struct config *cfg, long long expires, char out[SESSION_MAX])
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	char data[48];
	if (cfg->admin_token[0] == '\0')
		return false;
	int n = snprintf(data, sizeof(data), "evc-session:%lld", expires);
	if (HMAC(EVP_sha256(), cfg->admin_token, (int)strlen(cfg->admin_token), (const unsigned char *)data, (size_t)n,
		 mac, &len) == NULL)
		return false;
	int w = snprintf(out, SESSION_MAX, "%lld.", expires);
	for (unsigned int i = 0; i < len && w + 2 < SESSION_MAX; i++)
		w += snprintf(out + w, (size_t)(SESSION_MAX - w), "%02x", mac[i]);
	return true;
}

bool api_session_valid(const struct config *cfg, const char *cookie_header, int64_t now)
{
	char given[SESSION_MAX], expected[SESSION_MAX];
	char name[48];
	snprintf(name, sizeof(name), SESSION_COOKIE "%s", cfg->company_id);
	if (cookie_header == NULL || mg_get_cookie(cookie_header, name, given, sizeof(given)) <= 0)
		return false;
	char *end;
	long long expires = strtoll(given, &end, 10);
	if (*end != '.' || expires <= now || expires > now + SESSION_SECONDS || !session_value(cfg, expires, expected))
		return false;
	return strlen(given) == strlen(expected) && CRYPTO_memcmp(given, expected, strlen(expected)) == 0;
}

int api_session_create(struct http_request *req)
{
	json_t *body = NULL;
	const char *token;
	struct jsonx_error err;
	char value[SESSION_MAX], header[256];
	int status = http_read_json_object(req, &body);
	if (status != 0)
		return status;
	const struct config *cfg = &req->app->cfg;
	long long expires = (long long)timeutil_now() + SESSION_SECONDS;
	if (!jsonx_string(body, "token", true, sizeof(cfg->admin_token) - 1, &token, &err)) {
		status = http_reply_field_error(req, &err);
	} else if (cfg->admin_token[0] == '\0' || !secret_equal(token, cfg->admin_token) ||
		   !session_value(cfg, expires, value)) {
		log_warn("event=credential_refused req=%s reason=\"sign-in with a wrong operator token\"", req->request_id);
		status = http_reply_error(req, 401, "unauthorized", "that is not this company's operator token");
	} else {
		snprintf(header, sizeof(header),
			 "Set-Cookie: " SESSION_COOKIE "%s=%s; Path=/; Max-Age=%d; HttpOnly; SameSite=Strict\r\n",
			 cfg->company_id, value, SESSION_SECONDS);
		log_info("event=operator_signed_in req=%s", req->request_id);
		status = http_reply_json(req, 200, json_pack("{s:b, s:s}", "operator", 1, "company", cfg->company_id), header);
	}
	json_decref(body);
	return status;
}

int api_session_get(struct http_request *req)
{
	return http_reply_json(req, 200,
			       json_pack("{s:b, s:s}", "operator", req->actor.kind == ACTOR_OPERATOR, "company",
					 req->app->cfg.company_id),
			       NULL);
}

int api_session_delete(struct http_request *req)
{
	char header[160];
	snprintf(header, sizeof(header), "Set-Cookie: " SESSION_COOKIE "%s=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict\r\n",
		 req->app->cfg.company_id);
	return http_reply_json(req, 200, json_pack("{s:b}", "operator", 0), header);
}
