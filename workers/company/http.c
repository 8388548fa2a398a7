#include "http.h"
#include "app.h"
#include "api.h"
#include "carauth.h"
#include "federation.h"
#include "live.h"
#include "log.h"
#include "secret.h"
#include "timeutil.h"
#include "validate.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

bool http_match(const char *pattern, const char *path, char params[][HTTP_PARAM_MAX], int max_params)
{
	int n = 0;
	const char *p = pattern, *s = path;

	while (*p != '\0' && *s != '\0') {
		if (*p == '{') {
			/* A placeholder takes one whole, non-empty segment. */
			const char *close = strchr(p, '}');
			size_t len = strcspn(s, "/");
			if (close == NULL || len == 0 || len >= HTTP_PARAM_MAX || n >= max_params)
				return false;
			memcpy(params[n], s, len);
			params[n][len] = '\0';
			n++;
			p = close + 1;
			s += len;
		} else if (*p++ != *s++) {
			return false;
		}
	}
	return *p == '\0' && *s == '\0';
}

static void new_request_id(struct http_request *req)
{
	const char *given = mg_get_header(req->conn, "X-Request-Id");
	if (given != NULL) {
		size_t len = strspn(given, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_");
		if (len > 0 && len < sizeof(req->request_id) && given[len] == '\0') {
			memcpy(req->request_id, given, len + 1);
			return;
		}
	}
	if (!secret_random_hex(req->request_id, 8))
		snprintf(req->request_id, sizeof(req->request_id), "0000000000000000");
}

/* Copies text for a log line: printable ASCII only, quotes and backslashes replaced. */
static void log_safe(const char *text, char *out, size_t size)
{
	size_t i = 0;
	for (; text != NULL && *text != '\0' && i + 1 < size; text++) {
		unsigned char c = (unsigned char)*text;
		out[i++] = (c < 0x20 || c > 0x7e || c == '"' || c == '\\') ? '?' : (char)c;
	}
	out[i] = '\0';
}

static int send_response(struct http_request *req, int status, const char *body, size_t len,
			 const char *extra_headers)
{
	/* Headers and body leave in one write: two small writes meet Nagle and a delayed ACK. */
	char head[1536];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %d %s\r\n"
			 "Content-Type: application/json\r\n"
			 "Content-Length: %zu\r\n"
			 "Cache-Control: no-store\r\n"
			 "X-Request-Id: %s\r\n"
			 "%s\r\n",
			 status, mg_get_response_code_text(req->conn, status), len, req->request_id,
			 extra_headers != NULL ? extra_headers : "");
	if (n < 0 || (size_t)n >= sizeof(head))
		n = snprintf(head, sizeof(head), "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n");
	char *whole = malloc((size_t)n + len);
	if (whole == NULL) {
		mg_write(req->conn, head, (size_t)n);
		mg_write(req->conn, body, len);
		return status;
	}
	memcpy(whole, head, (size_t)n);
	memcpy(whole + n, body, len);
	mg_write(req->conn, whole, (size_t)n + len);
	free(whole);
	return status;
}

int http_reply_text(struct http_request *req, int status, const char *json_text, const char *extra_headers)
{
	return send_response(req, status, json_text, strlen(json_text), extra_headers);
}

int http_reply_json(struct http_request *req, int status, json_t *body, const char *extra_headers)
{
	char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (text == NULL)
		return send_response(req, 500, "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}",
				     56, NULL);
	send_response(req, status, text, strlen(text), extra_headers);
	free(text);
	return status;
}

/* Sends the error envelope (plus extra's fields, reference stolen) and logs it. */
static int send_error(struct http_request *req, int status, const char *code, json_t *extra,
		      const char *headers, const char *message)
{
	json_t *body = extra != NULL ? extra : json_object();
	json_object_set_new(body, "error", json_pack("{s:s, s:s}", "code", code, "message", message));

	char safe[512];
	log_safe(message, safe, sizeof(safe));
	if (status >= 500)
		log_warn("event=http_error req=%s status=%d code=%s message=\"%s\"", req->request_id, status, code, safe);
	else
		log_info("event=http_rejected req=%s status=%d code=%s message=\"%s\"", req->request_id, status, code, safe);
	return http_reply_json(req, status, body, headers);
}

static int send_error_va(struct http_request *req, int status, const char *code, json_t *extra, const char *headers,
			 const char *fmt, va_list ap) __attribute__((format(printf, 6, 0)));

static int send_error_va(struct http_request *req, int status, const char *code, json_t *extra, const char *headers,
			 const char *fmt, va_list ap)
{
	char message[512];
	vsnprintf(message, sizeof(message), fmt, ap);
	return send_error(req, status, code, extra, headers, message);
}

int http_reply_error(struct http_request *req, int status, const char *code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = send_error_va(req, status, code, NULL, NULL, fmt, ap);
	va_end(ap);
	return rc;
}

int http_reply_error_headers(struct http_request *req, int status, const char *code, const char *headers,
			     const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = send_error_va(req, status, code, NULL, headers, fmt, ap);
	va_end(ap);
	return rc;
}

int http_reply_error_extra(struct http_request *req, int status, const char *code, json_t *extra,
			   const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = send_error_va(req, status, code, extra, NULL, fmt, ap);
	va_end(ap);
	return rc;
}

int http_reply_field_error(struct http_request *req, const struct jsonx_error *err)
{
	return http_reply_error(req, 400, err->code, "%s", err->message);
}

int http_reply_db_unavailable(struct http_request *req)
{
	return http_reply_error(req, 503, "unavailable", "the database is unavailable, retry later");
}

int http_read_json_object(struct http_request *req, json_t **out)
{
	long max = req->app->cfg.max_body_bytes;
	*out = NULL;
	if (req->info->content_length > max)
		return http_reply_error(req, 413, "payload_too_large", "request body is larger than %ld bytes", max);

	/* content_length may be -1 (chunked) or wrong: read until the end, capped. */
	char *buf = malloc((size_t)max + 1);
	if (buf == NULL)
		return http_reply_error(req, 503, "unavailable", "out of memory");
	size_t len = 0;
	int n;
	while (len <= (size_t)max && (n = mg_read(req->conn, buf + len, (size_t)max + 1 - len)) > 0)
		len += (size_t)n;
	if (len > (size_t)max) {
		free(buf);
		return http_reply_error(req, 413, "payload_too_large", "request body is larger than %ld bytes", max);
	}
	if (len == 0) {
		free(buf);
		return http_reply_error(req, 400, "invalid_json", "request body must be a JSON object");
	}

	if (!jsonx_depth_ok(buf, len, HTTP_MAX_JSON_DEPTH)) {
		free(buf);
		return http_reply_error(req, 400, "invalid_json", "JSON nests deeper than %d levels", HTTP_MAX_JSON_DEPTH);
	}
	json_error_t jerr;
	json_t *body = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	free(buf);
	if (body == NULL)
		return http_reply_error(req, 400, "invalid_json", "invalid JSON at position %d: %s", jerr.position, jerr.text);
	if (!json_is_object(body)) {
		json_decref(body);
		return http_reply_error(req, 400, "invalid_json", "request body must be a JSON object");
	}
	*out = body;
	return 0;
}

int http_query(struct http_request *req, const char *name, char *buf, size_t size)
{
	const char *qs = req->info->query_string;
	if (qs == NULL)
		return 0;
	int n = mg_get_var(qs, strlen(qs), name, buf, size);
	if (n == -1)
		return 0;
	if (n < 0)
		return http_reply_error(req, 400, "invalid_parameter", "query parameter '%s' is too long", name);
	if (n == 0 || strlen(buf) != (size_t)n)
		return http_reply_error(req, 400, "invalid_parameter", "query parameter '%s' is empty or invalid", name);
	return 1;
}

int http_reply_result(struct http_request *req, struct core_result *r)
{
	char headers[320] = "";
	int n = 0;
	if (r->err == EVC_OK && r->created && r->location[0] != '\0')
		n += snprintf(headers + n, sizeof(headers) - (size_t)n, "Location: " HTTP_API_PREFIX "%s\r\n", r->location);
	if (r->err != EVC_OK && r->retry_after > 0)
		n += snprintf(headers + n, sizeof(headers) - (size_t)n, "Retry-After: %d\r\n", r->retry_after);
	if (r->replayed)
		snprintf(headers + n, sizeof(headers) - (size_t)n, "Idempotent-Replayed: true\r\n");
	int status = core_result_status(r);
	if (r->err != EVC_OK) {
		char safe[256];
		const char *message = json_string_value(json_object_get(json_object_get(r->body, "error"), "message"));
		log_safe(message, safe, sizeof(safe));
		if (status >= 500)
			log_warn("event=http_error req=%s status=%d code=%s message=\"%s\"", req->request_id, status,
				 core_result_code(r), safe);
		else
			log_info("event=http_rejected req=%s status=%d code=%s message=\"%s\"", req->request_id, status,
				 core_result_code(r), safe);
	}
	/* Ten significant digits: what the planner rounds to, and more than a position needs. */
	char *text = json_dumps(r->body != NULL ? r->body : json_null(), JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(10));
	json_decref(r->body);
	r->body = NULL;
	if (text == NULL)
		return http_reply_error(req, 500, "internal", "out of memory");
	http_reply_text(req, status, text, headers);
	free(text);
	return status;
}

/*
 * A cookie rides along with any request the browser sends to this host, even
 * from another company's page on another port: a write by cookie must carry the
 * Origin of this very server (browsers always send Origin on such requests).
 */
static bool same_origin(struct http_request *req)
{
	const char *method = req->info->request_method;
	if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)
		return true;
	const char *origin = mg_get_header(req->conn, "Origin"), *host = mg_get_header(req->conn, "Host");
	if (origin == NULL || host == NULL)
		return false;
	const char *rest = strncmp(origin, "http://", 7) == 0 ? origin + 7 : strncmp(origin, "https://", 8) == 0 ? origin + 8 : NULL;
	bool same = rest != NULL && strcmp(rest, host) == 0;
	if (!same)
		log_warn("event=credential_refused req=%s reason=\"session cookie on a request from another origin\"", req->request_id);
	return same;
}

/*
 * Who the request's credential proves, into req->actor. None: the public.
 * "Bearer <operator token>": this company's operator. "Bearer <car token>": the
 * car (carauth). "Token <peer token>": the peer, or the car it forwards for
 * (X-Evc-On-Behalf-Of: car:<id>); a Token that is no peer's stays public, as
 * the registration secret must reach its endpoint. Without Authorization, the
 * dashboard's session cookie proves the operator. 0, or the 401 sent.
 */
static int authenticate(struct http_request *req)
{
	const struct config *cfg = &req->app->cfg;
	const char *auth = mg_get_header(req->conn, "Authorization");
	char peer[VALIDATE_COMPANY_MAX + 1];
	req->actor = actor_public();
	if (auth == NULL) {
		/* The dashboard's signed-in operator (rest/api_session.c), on its own pages only. */
		if (api_session_valid(cfg, mg_get_header(req->conn, "Cookie"), timeutil_now()) && same_origin(req))
			req->actor = actor_operator(cfg->company_id);
		return 0;
	}
	if (strncmp(auth, "Token ", 6) == 0) {
		if (!federation_authenticate(auth, peer))
			return 0;
		req->actor = actor_peer(peer);
		const char *behalf = mg_get_header(req->conn, HTTP_ON_BEHALF_HEADER);
		if (behalf != NULL) {
			if (strncmp(behalf, "car:", 4) != 0 || !validate_car_id(behalf + 4))
				return http_reply_error(req, 400, "invalid_header", HTTP_ON_BEHALF_HEADER " must be car:<car id>");
			req->actor = actor_car(behalf + 4);
			snprintf(req->actor.via, sizeof(req->actor.via), "%s", peer);
		}
		return 0;
	}
	if (strncmp(auth, "Bearer ", 7) != 0)
		return http_reply_error(req, 401, "unauthorized", "Authorization must be 'Bearer <token>' or 'Token <peer token>'");
	const char *token = auth + 7, *why = "unknown token";
	if (cfg->admin_token[0] != '\0' && secret_equal(token, cfg->admin_token)) {
		req->actor = actor_operator(cfg->company_id);
		return 0;
	}
	if (strlen(token) < sizeof(req->bearer) && carauth_verify(req->app->carauth, token, timeutil_now(), &req->actor, &why)) {
		snprintf(req->bearer, sizeof(req->bearer), "%s", token);
		return 0;
	}
	log_warn("event=credential_refused req=%s reason=\"%s\"", req->request_id, why);
	return http_reply_error(req, 401, "unauthorized", "%s", why);
}

static int reply_method_not_allowed(struct http_request *req, const char *allow)
{
	char header[160], message[256];
	snprintf(header, sizeof(header), "Allow: %s\r\n", allow);
	snprintf(message, sizeof(message), "method %s is not allowed here; allowed: %s",
		 req->info->request_method, allow);
	return send_error(req, 405, "method_not_allowed", NULL, header, message);
}

static double elapsed_ms(const struct timespec *since)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - since->tv_sec) * 1e3 + (double)(now.tv_nsec - since->tv_nsec) / 1e6;
}

static int dispatch(struct mg_connection *conn, void *cbdata)
{
	struct timespec started;
	clock_gettime(CLOCK_MONOTONIC, &started);

	struct http_request req;
	memset(&req, 0, sizeof(req));
	req.conn = conn;
	req.info = mg_get_request_info(conn);
	req.app = cbdata;
	new_request_id(&req);
	req.path = req.info->local_uri + strlen(HTTP_API_PREFIX);
	if (*req.path == '\0')
		req.path = "/";

	const struct http_route *found = NULL;
	char allow[128] = "";
	for (const struct http_route *r = http_routes; r->method != NULL && found == NULL; r++) {
		if (!http_match(r->pattern, req.path, req.params, HTTP_MAX_PARAMS))
			continue;
		if (strcmp(r->method, req.info->request_method) == 0)
			found = r;
		else if (strlen(allow) + strlen(r->method) + 2 < sizeof(allow))
			snprintf(allow + strlen(allow), sizeof(allow) - strlen(allow), "%s%s", allow[0] ? ", " : "", r->method);
	}

	int status;
	if (found != NULL) {
		if ((status = authenticate(&req)) == 0)
			status = found->handler(&req);
	} else if (allow[0] != '\0') {
		status = reply_method_not_allowed(&req, allow);
	} else {
		status = http_reply_error(&req, 404, "not_found", "no such endpoint");
	}

	char path[200], who[ACTOR_DESCRIBE_MAX];
	log_safe(req.info->local_uri, path, sizeof(path));
	log_info("event=http req=%s method=%s path=\"%s\" actor=%s status=%d ms=%.2f%s%s", req.request_id,
		 req.info->request_method, path, actor_describe(&req.actor, who), status, elapsed_ms(&started),
		 req.trip_id[0] ? " trip=" : "", req.trip_id);
	return status;
}

static int log_civetweb(const struct mg_connection *conn, const char *message)
{
	(void)conn;
	char safe[300];
	log_safe(message, safe, sizeof(safe));
	log_warn("event=civetweb message=\"%s\"", safe);
	return 1;
}

struct mg_context *http_start(struct app *app)
{
	char ports[96], threads[16];
	snprintf(ports, sizeof(ports), "%s:%d", app->cfg.http_host, app->cfg.http_port);
	snprintf(threads, sizeof(threads), "%d", app->cfg.http_threads);
	const char *options[] = {
		"listening_ports", ports,
		"num_threads", threads,
		"document_root", app->cfg.static_dir,
		"enable_keep_alive", "yes",
		"keep_alive_timeout_ms", "15000",
		"request_timeout_ms", "30000",
		"enable_directory_listing", "no",
		"tcp_nodelay", "1",
		NULL,
	};
	struct mg_callbacks callbacks;
	memset(&callbacks, 0, sizeof(callbacks));
	callbacks.log_message = log_civetweb;

	struct mg_context *ctx = mg_start(&callbacks, app, options);
	if (ctx == NULL) {
		log_error("event=http_start_failed listen=%s", ports);
		return NULL;
	}
	mg_set_request_handler(ctx, HTTP_API_PREFIX, dispatch, app);
	live_register(ctx, app);
	log_info("event=http_listening listen=%s threads=%s static=%s", ports, threads, app->cfg.static_dir);
	return ctx;
}

void http_stop(struct mg_context *ctx)
{
	if (ctx != NULL)
		mg_stop(ctx);
}
