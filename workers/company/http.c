#include "http.h"
#include "app.h"
#include "api.h"
#include "carauth.h"
#include "connguard.h"
#include "federation.h"
#include "live.h"
#include "ocpp.h"
#include "log.h"
#include "secret.h"
#include "timeutil.h"
#include "validate.h"

#include <ctype.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/*
 * civetweb's data for one connection (its conn_data): what the connection
 * guard decided for it, and since when it waits for a request's head.
 */
struct conn_state {
	char addr[CONNGUARD_ADDR_MAX];
	bool counted;                  /* entered in the guard: it leaves when the connection closes */
	bool one_request;              /* beyond the guard's limits: one request, then closed */
	bool refused;                  /* the guard answered it already: civetweb's own error is not sent */
	struct timespec waiting_since; /* the connection's start, or the end of its last request */
};

static double elapsed_ms(const struct timespec *since)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - since->tv_sec) * 1e3 + (double)(now.tv_nsec - since->tv_nsec) / 1e6;
}

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
	while (text != NULL && *text != '\0' && i + 1 < size) {
		unsigned char c = (unsigned char)*text;
		/* A whole UTF-8 character is kept (city names stay readable); a broken one becomes '?'. */
		size_t n = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 1;
		size_t k = 1;
		while (n > 1 && k < n && ((unsigned char)text[k] & 0xc0) == 0x80)
			k++;
		if (n > 1 && k == n && i + n < size) {
			memcpy(out + i, text, n);
			i += n;
			text += n;
			continue;
		}
		out[i++] = (c < 0x20 || c > 0x7e || c == '"' || c == '\\') ? '?' : (char)c;
		text++;
	}
	out[i] = '\0';
}

/*
 * True when the connection ends with this answer: the guard allowed it one
 * request, or the body was not read to its end. civetweb would otherwise read
 * and drop the rest of the body itself, as slowly as the client sends it; the
 * dispatcher does, within the request timeout (drain_body), then closes.
 */
static bool closes_after(const struct http_request *req)
{
	const struct conn_state *cs = mg_get_user_connection_data(req->conn);
	return (cs != NULL && cs->one_request) || !req->body_read;
}

static int send_response(struct http_request *req, int status, const char *body, size_t len,
			 const char *extra_headers)
{
	bool closing = closes_after(req);
	if (closing)
		mg_disable_connection_keep_alive(req->conn);
	/* Headers and body leave in one write: two small writes meet Nagle and a delayed ACK. */
	char head[1536];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %d %s\r\n"
			 "Content-Type: application/json\r\n"
			 "Content-Length: %zu\r\n"
			 "Cache-Control: no-store\r\n"
			 "X-Request-Id: %s\r\n"
			 "%s%s\r\n",
			 status, mg_get_response_code_text(req->conn, status), len, req->request_id,
			 closing ? "Connection: close\r\n" : "", extra_headers != NULL ? extra_headers : "");
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

/* True when the parameter at p ("name=value", up to ';' or the end) is not a charset, or is UTF-8. */
static bool charset_ok(const char *p)
{
	size_t len = strcspn(p, ";");
	while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
		len--;
	if (len < 8 || strncasecmp(p, "charset=", 8) != 0)
		return true;
	const char *v = p + 8;
	len -= 8;
	if (len >= 2 && v[0] == '"' && v[len - 1] == '"') {
		v++;
		len -= 2;
	}
	return (len == 5 && strncasecmp(v, "utf-8", 5) == 0) || (len == 4 && strncasecmp(v, "utf8", 4) == 0);
}

bool http_media_type_is_json(const char *content_type)
{
	static const char json[] = "application/json";
	if (content_type == NULL)
		return false;
	const char *p = content_type + strspn(content_type, " \t");
	if (strncasecmp(p, json, sizeof(json) - 1) != 0)
		return false;
	p += sizeof(json) - 1;
	p += strspn(p, " \t");
	/* Parameters may follow; a charset, if named, must be UTF-8 (RFC 8259 §8.1). */
	while (*p == ';') {
		p += 1 + strspn(p + 1, " \t");
		if (!charset_ok(p))
			return false;
		p += strcspn(p, ";");
	}
	return *p == '\0';
}

int http_read_json_object(struct http_request *req, json_t **out)
{
	long max = req->app->cfg.max_body_bytes;
	*out = NULL;
	/* A body must say it is JSON: curl -d (form), a browser's text/plain or none at all is refused unread. */
	const char *ctype = mg_get_header(req->conn, "Content-Type");
	if (!req->body_read && !http_media_type_is_json(ctype)) {
		char shown[80];
		log_safe(ctype != NULL ? ctype : "(none)", shown, sizeof(shown));
		return http_reply_error(req, 415, "unsupported_media_type",
					"the body must be sent as Content-Type: application/json, not %s", shown);
	}
	if (req->info->content_length > max)
		return http_reply_error(req, 413, "payload_too_large", "request body is larger than %ld bytes", max);

	/* content_length may be -1 (chunked) or wrong: read until the end, capped, within the deadline. */
	char *buf = malloc((size_t)max + 1);
	if (buf == NULL)
		return http_reply_error(req, 503, "unavailable", "out of memory");
	int limit_ms = req->app->cfg.http_request_timeout_ms;
	struct timespec started;
	clock_gettime(CLOCK_MONOTONIC, &started);
	/* mg_read waits as long as bytes keep coming: past the deadline the guard shuts the read side. */
	int watch = connguard_deadline_begin(req->app->connguard, req->info->remote_addr, req->info->remote_port,
					     req->info->server_port, limit_ms);
	size_t len = 0;
	int n = 0;
	while (len <= (size_t)max && (n = mg_read(req->conn, buf + len, (size_t)max + 1 - len)) > 0)
		len += (size_t)n;
	bool cut = connguard_deadline_end(req->app->connguard, watch);
	if (len > (size_t)max) {
		free(buf);
		return http_reply_error(req, 413, "payload_too_large", "request body is larger than %ld bytes", max);
	}
	/*
	 * mg_read answers 0 at the end of the body, and also at the end of the
	 * input (the client's, or the guard's cut) or after the whole timeout.
	 */
	long long expected = req->info->content_length;
	bool late = cut || elapsed_ms(&started) >= limit_ms * 0.9;
	bool whole = n == 0 && (expected >= 0 ? (long long)len == expected : !late);
	if (!whole) {
		free(buf);
		if (late)
			return http_reply_error(req, 408, "request_timeout", "the request body did not arrive within %d ms",
						limit_ms);
		return http_reply_error(req, 400, "invalid_body", "the body ended after %zu bytes, before its end", len);
	}
	struct conn_state *cs = mg_get_user_connection_data(req->conn);
	if (cut && cs != NULL)
		cs->one_request = true; /* whole just as it was cut: answered, then closed */
	req->body_read = true;
	if (len == 0) {
		free(buf);
		return http_reply_error(req, 400, "invalid_json", "request body must be a JSON object");
	}

	struct jsonx_error err;
	json_t *body;
	bool parsed = jsonx_load_object(buf, len, HTTP_MAX_JSON_DEPTH, &body, &err);
	free(buf);
	if (!parsed)
		return http_reply_field_error(req, &err);
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
	if (strncmp(token, "evc1.", 5) != 0)
		why = "neither this company's operator token nor a car token";
	else if (carauth_verify(req->app->carauth, token, timeutil_now(), &req->actor, &why))
		return 0;
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

/*
 * Reads and drops what is left of a body the answer did not need (a 401, a
 * 404, a 413 ...), within the request timeout, so that a client still
 * sending can read its answer: closing on unread bytes would reset the
 * connection under it. The connection then closes (send_response said so).
 */
static void drain_body(struct http_request *req)
{
	char sink[8192];
	int watch = connguard_deadline_begin(req->app->connguard, req->info->remote_addr, req->info->remote_port,
					     req->info->server_port, req->app->cfg.http_request_timeout_ms);
	while (mg_read(req->conn, sink, sizeof(sink)) > 0)
		;
	(void)connguard_deadline_end(req->app->connguard, watch);
}

/* True when the request carries a body (a length above zero, or chunks). */
static bool has_body(struct mg_connection *conn, const struct mg_request_info *info)
{
	return info->content_length > 0 || mg_get_header(conn, "Transfer-Encoding") != NULL;
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
	req.body_read = !has_body(conn, req.info);
	new_request_id(&req);

	/* civetweb leaves the path encoded (decode_url no): begin_request refused bad escapes and %00. */
	char path_buf[HTTP_PATH_MAX];
	const char *raw = req.info->local_uri + strlen(HTTP_API_PREFIX);
	int status;
	if (mg_url_decode(raw, (int)strlen(raw), path_buf, sizeof(path_buf), 0) < 0) {
		/* No route has a path this long (a placeholder takes at most HTTP_PARAM_MAX - 1 bytes). */
		req.path = "/";
		status = http_reply_error(&req, 404, "not_found", "no such endpoint");
		goto done;
	}
	req.path = path_buf[0] != '\0' ? path_buf : "/";

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

	if (found != NULL) {
		if ((status = authenticate(&req)) == 0)
			status = found->handler(&req);
	} else if (allow[0] != '\0') {
		status = reply_method_not_allowed(&req, allow);
	} else {
		status = http_reply_error(&req, 404, "not_found", "no such endpoint");
	}

done:;
	char path[200], who[ACTOR_DESCRIBE_MAX];
	log_safe(req.info->local_uri, path, sizeof(path));
	/* A read that succeeded (pings, health, catalogue and dashboard polls) is routine: debug.
	 * Writes and refusals stay at info, so the log tells what changed and what was refused. */
	log_write(strcmp(req.info->request_method, "GET") == 0 && status < 400 ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO,
		  "event=http req=%s method=%s path=\"%s\" actor=%s status=%d ms=%.2f%s%s", req.request_id,
		  req.info->request_method, path, actor_describe(&req.actor, who), status, elapsed_ms(&started),
		  req.trip_id[0] ? " trip=" : "", req.trip_id);
	/* With Expect: 100-continue and no 100 sent, the client sends no body after this answer. */
	if (!req.body_read && mg_get_header(conn, "Expect") == NULL)
		drain_body(&req);
	return status;
}

/* ---- what civetweb refuses or accepts before the dispatcher --------------------- */

/*
 * A whole HTTP error answer with the envelope, for the paths where no
 * http_request exists (civetweb's own errors, the guard's refusals): its
 * length, or 0 when it does not fit.
 */
static size_t format_error(char *out, size_t size, int status, const char *code, const char *message,
			   const char *request_id, const char *extra_headers, bool with_body)
{
	json_t *doc = json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message);
	char *body = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	if (body == NULL)
		return 0;
	int n = snprintf(out, size,
			 "HTTP/1.1 %d %s\r\n"
			 "Content-Type: application/json\r\n"
			 "Content-Length: %zu\r\n"
			 "Cache-Control: no-store\r\n"
			 "Connection: close\r\n"
			 "X-Request-Id: %s\r\n"
			 "%s\r\n%s",
			 status, mg_get_response_code_text(NULL, status), strlen(body), request_id,
			 extra_headers != NULL ? extra_headers : "", with_body ? body : "");
	free(body);
	return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

/* Sends the envelope on a connection no dispatcher holds, closes it after, and logs it. */
static void send_connection_error(struct mg_connection *conn, int status, const char *code, const char *message,
				  const char *extra_headers)
{
	char request_id[40], response[2048], safe[300], client[CONNGUARD_ADDR_MAX] = "-";
	if (!secret_random_hex(request_id, 8))
		snprintf(request_id, sizeof(request_id), "0000000000000000");
	const struct mg_request_info *info = mg_get_request_info(conn);
	const struct conn_state *cs = mg_get_user_connection_data(conn);
	if (cs != NULL)
		snprintf(client, sizeof(client), "%s", cs->addr);
	bool head = info != NULL && info->request_method != NULL && strcmp(info->request_method, "HEAD") == 0;
	size_t len = format_error(response, sizeof(response), status, code, message, request_id, extra_headers, !head);
	mg_disable_connection_keep_alive(conn);
	if (len > 0)
		mg_write(conn, response, len);
	log_safe(message, safe, sizeof(safe));
	log_info("event=http_rejected req=%s client=%s status=%d code=%s message=\"%s\"", request_id, client, status,
		 code, safe);
}

/*
 * civetweb 1.15 fills a connection's addresses before init_connection but its
 * mg_get_request_info answers NULL until a request has begun. Where the
 * request info lies inside a connection is learned from the first request
 * (http_start sends one to itself), so init_connection can read them.
 */
static atomic_llong request_info_offset = -1;

static const struct mg_request_info *early_request_info(const struct mg_connection *conn)
{
	long long offset = atomic_load(&request_info_offset);
	if (offset < 0)
		return NULL;
	const struct mg_request_info *info = (const struct mg_request_info *)((const char *)conn + offset);
	if (info->remote_port <= 0 || memchr(info->remote_addr, '\0', sizeof(info->remote_addr)) == NULL)
		return NULL;
	return info;
}

static int on_init_connection(const struct mg_connection *conn, void **conn_data)
{
	struct app *app = mg_get_user_context_data(conn);
	const struct mg_request_info *info = early_request_info(conn);
	struct conn_state *cs = calloc(1, sizeof(*cs));
	*conn_data = cs;
	if (cs == NULL)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &cs->waiting_since);
	if (info == NULL || app->connguard == NULL)
		return 0; /* not known yet: served as civetweb serves any connection */
	snprintf(cs->addr, sizeof(cs->addr), "%s", info->remote_addr);
	enum connguard_verdict verdict = connguard_enter(app->connguard, cs->addr);
	cs->counted = true;
	if (verdict == CONNGUARD_SERVE)
		return 0;

	cs->one_request = true;
	int fd = connguard_find_socket(info->remote_addr, info->remote_port, info->server_port);
	if (fd < 0 || connguard_head_arrives(fd, CONNGUARD_GRACE_MS))
		return 0;

	/* Slow beyond the limits: refused now, so the thread is back at once. */
	cs->refused = true;
	int of_addr, total = connguard_held(app->connguard, cs->addr, &of_addr);
	char request_id[40], message[256], response[2048];
	if (!secret_random_hex(request_id, 8))
		snprintf(request_id, sizeof(request_id), "0000000000000000");
	bool per_client = verdict == CONNGUARD_PROMPT_CLIENT;
	if (per_client)
		snprintf(message, sizeof(message),
			 "this address holds %d connections (more than EVC_HTTP_MAX_CONN_PER_CLIENT=%d) and this one did "
			 "not send its request within %d ms; send requests at once, or on fewer connections",
			 of_addr, app->cfg.http_max_conn_per_client, CONNGUARD_GRACE_MS);
	else
		snprintf(message, sizeof(message),
			 "the server is short of connections (%d of %d threads held) and this one did not send its "
			 "request within %d ms; retry",
			 total, app->cfg.http_threads, CONNGUARD_GRACE_MS);
	size_t len = format_error(response, sizeof(response), per_client ? 429 : 503,
				  per_client ? "too_many_connections" : "unavailable", message, request_id,
				  "Retry-After: 1\r\n", true);
	connguard_refuse(fd, response, len);
	log_info("event=http_refused req=%s client=%s status=%d reason=%s held_by_client=%d held=%d", request_id,
		 cs->addr, per_client ? 429 : 503, per_client ? "too_many_connections" : "server_busy", of_addr, total);
	return 0;
}

static void on_connection_close(const struct mg_connection *conn)
{
	struct app *app = mg_get_user_context_data(conn);
	struct conn_state *cs = mg_get_user_connection_data(conn);
	if (cs == NULL)
		return;
	if (cs->counted)
		connguard_leave(app->connguard, cs->addr);
	free(cs);
	mg_set_user_connection_data(conn, NULL);
}

static void on_end_request(const struct mg_connection *conn, int status)
{
	(void)status;
	struct conn_state *cs = mg_get_user_connection_data(conn);
	if (cs != NULL)
		clock_gettime(CLOCK_MONOTONIC, &cs->waiting_since); /* keep-alive: the next head's wait starts */
}

/* Every %XX well formed, none %00: the same rule for the path and the query. */
static const char *bad_escape(const char *text)
{
	for (const char *p = text; p != NULL && (p = strchr(p, '%')) != NULL; p++) {
		if (!isxdigit((unsigned char)p[1]) || !isxdigit((unsigned char)p[2]))
			return "an invalid percent-escape";
		if (p[1] == '0' && p[2] == '0')
			return "%00";
	}
	return NULL;
}

/*
 * What civetweb accepts but a request must not carry: framing that two
 * servers could read two ways (request smuggling), more headers than civetweb
 * keeps (it drops the rest unseen), and a path whose escapes decode to a NUL
 * or to nothing. NULL when fine, else the message of the 400 (*status 431 for
 * too many headers).
 */
static const char *refuse_head(const struct mg_request_info *info, int *status, char *message, size_t size)
{
	int lengths = 0, encodings = 0;
	*status = 400;
	if (info->num_headers >= MG_MAX_HEADERS) {
		*status = 431;
		snprintf(message, size, "more than %d header lines", MG_MAX_HEADERS - 1);
		return message;
	}
	const char *length = NULL, *why;
	for (int i = 0; i < info->num_headers; i++) {
		if (strcasecmp(info->http_headers[i].name, "Content-Length") == 0) {
			lengths++;
			length = info->http_headers[i].value;
		} else if (strcasecmp(info->http_headers[i].name, "Transfer-Encoding") == 0) {
			encodings++;
		}
	}
	if (lengths > 1)
		return "more than one Content-Length header";
	if (length != NULL && (length[0] == '\0' || strspn(length, "0123456789") != strlen(length) || strlen(length) > 18))
		return "Content-Length must be a number of bytes";
	if (lengths > 0 && encodings > 0)
		return "both Content-Length and Transfer-Encoding";
	if (encodings > 1)
		return "more than one Transfer-Encoding header";
	if ((why = bad_escape(info->request_uri)) != NULL) {
		snprintf(message, size, "the path holds %s", why);
		return message;
	}
	if ((why = bad_escape(info->query_string)) != NULL) {
		snprintf(message, size, "the query holds %s", why);
		return message;
	}
	return NULL;
}

static int on_begin_request(struct mg_connection *conn)
{
	const struct mg_request_info *info = mg_get_request_info(conn);
	if (atomic_load(&request_info_offset) < 0)
		atomic_store(&request_info_offset, (long long)((const char *)info - (const char *)conn));
	struct conn_state *cs = mg_get_user_connection_data(conn);
	if (cs != NULL && cs->refused) {
		mg_disable_connection_keep_alive(conn);
		return 400; /* answered by the guard; whatever civetweb read since is dropped */
	}
	if (cs != NULL && cs->one_request)
		mg_disable_connection_keep_alive(conn);
	char message[128];
	int status;
	const char *why = refuse_head(info, &status, message, sizeof(message));
	if (why == NULL)
		return 0;
	send_connection_error(conn, status, status == 431 ? "headers_too_large" : "bad_request", why, NULL);
	return status;
}

/* civetweb's checks of a method (parse_http_request): a request line with any other fails there. */
static bool civetweb_method(const char *method)
{
	static const char *const known[] = { "GET",  "POST",  "PUT",    "DELETE",    "HEAD",   "OPTIONS", "CONNECT", "PATCH",
					     "PROPFIND", "MKCOL", "LOCK", "UNLOCK", "PROPPATCH", "REPORT", NULL };
	for (const char *const *m = known; *m != NULL; m++)
		if (strcmp(method, *m) == 0)
			return true;
	return false;
}

/* True when bytes still wait on the connection's socket: civetweb stopped reading a head too large. */
static bool more_waiting(const struct mg_request_info *info)
{
	int fd = connguard_find_socket(info->remote_addr, info->remote_port, info->server_port);
	char byte;
	return fd >= 0 && recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 1;
}

/*
 * civetweb's own errors (a malformed head, an unknown method, a head too large
 * or too slow, a static file not found, ...) leave in the envelope too, and
 * get a 4xx that names what the client did wrong.
 */
static int on_http_error(struct mg_connection *conn, int status, const char *errmsg)
{
	struct app *app = mg_get_user_context_data(conn);
	const struct conn_state *cs = mg_get_user_connection_data(conn);
	const struct mg_request_info *info = mg_get_request_info(conn);
	if (cs != NULL && cs->refused)
		return 0; /* the guard answered already */
	if (status < 400)
		return 1;

	char message[256];
	const char *code = NULL, *headers = NULL;
	snprintf(message, sizeof(message), "%s",
		 errmsg != NULL && errmsg[0] != '\0' ? errmsg : mg_get_response_code_text(NULL, status));
	bool malformed = errmsg != NULL && strcmp(errmsg, "Malformed message") == 0;
	if (status == 400 && malformed && cs != NULL &&
	    elapsed_ms(&cs->waiting_since) >= app->cfg.http_request_timeout_ms * 0.9) {
		status = 408;
		code = "request_timeout";
		snprintf(message, sizeof(message), "the request's head did not arrive within %d ms",
			 app->cfg.http_request_timeout_ms);
	} else if ((status == 400 && malformed && info != NULL && more_waiting(info)) || status == 413) {
		status = 431;
		code = "headers_too_large";
		snprintf(message, sizeof(message), "the request line and headers are larger than %d bytes",
			 CONNGUARD_MAX_HEAD);
	} else if (status == 400 && malformed) {
		code = "bad_request";
		snprintf(message, sizeof(message), "malformed request head (a control character, or no end of headers)");
	} else if (status == 400 && info != NULL && info->request_method != NULL && info->http_version != NULL &&
		   info->num_headers == 0 && !civetweb_method(info->request_method)) {
		char method[32];
		log_safe(info->request_method, method, sizeof(method));
		status = 405;
		code = "method_not_allowed";
		headers = "Allow: GET, POST, PATCH, DELETE\r\n";
		snprintf(message, sizeof(message), "method %s is not supported", method);
	} else if (status == 400 && errmsg != NULL && strcmp(errmsg, "Bad request") == 0) {
		code = "bad_request";
		snprintf(message, sizeof(message), "%s",
			 info != NULL && info->num_headers > 0 && mg_get_header(conn, "Transfer-Encoding") != NULL
				 ? "Transfer-Encoding must be chunked"
				 : "malformed request line or header");
	} else if (status == 411) {
		status = 400;
		code = "bad_request";
		snprintf(message, sizeof(message), "Content-Length must be a number of bytes");
	} else if (status == 505) {
		status = 400;
		code = "unsupported_http_version";
		snprintf(message, sizeof(message), "only HTTP/1.0 and HTTP/1.1 are spoken here");
	}
	if (code == NULL) {
		static const struct {
			int status;
			const char *code;
		} codes[] = {
			{ 400, "bad_request" },
			{ 403, "forbidden" },
			{ 404, "not_found" },
			{ 405, "method_not_allowed" },
			{ 409, "conflict" },
			{ 414, "uri_too_long" },
			{ 415, "unsupported_media_type" },
			{ 416, "range_not_satisfiable" },
			{ 417, "expectation_failed" },
			{ 426, "upgrade_required" },
			{ 503, "unavailable" },
		};
		code = status >= 500 ? "internal" : "bad_request";
		for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
			if (codes[i].status == status)
				code = codes[i].code;
	}
	send_connection_error(conn, status, code, message, headers);
	return 0;
}

static int log_civetweb(const struct mg_connection *conn, const char *message)
{
	(void)conn;
	char safe[300];
	log_safe(message, safe, sizeof(safe));
	log_warn("event=civetweb message=\"%s\"", safe);
	return 1;
}

/* One request to ourselves, so that on_begin_request learns where civetweb keeps a request's info. */
static void probe_self(const struct app *app)
{
	char port[16];
	snprintf(port, sizeof(port), "%d", app->cfg.http_port);
	const char *host = strcmp(app->cfg.http_host, "0.0.0.0") == 0 ? "127.0.0.1"
			   : strcmp(app->cfg.http_host, "::") == 0 ? "::1" : app->cfg.http_host;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
	int fd = -1;
	if (getaddrinfo(host, port, &hints, &ai) == 0 && ai != NULL &&
	    (fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol)) >= 0) {
		struct timeval tv = { 2, 0 };
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		static const char probe[] = "HEAD /api.html HTTP/1.0\r\n\r\n";
		char sink[512];
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 && send(fd, probe, sizeof(probe) - 1, MSG_NOSIGNAL) > 0)
			while (recv(fd, sink, sizeof(sink), 0) > 0)
				;
	}
	if (fd >= 0)
		close(fd);
	if (ai != NULL)
		freeaddrinfo(ai);
	if (atomic_load(&request_info_offset) < 0)
		log_warn("event=connguard_off reason=\"no request to learn from\" listen=%s:%s", host, port);
}

struct mg_context *http_start(struct app *app)
{
	char ports[96], threads[16], timeout[16];
	snprintf(ports, sizeof(ports), "%s:%d", app->cfg.http_host, app->cfg.http_port);
	snprintf(threads, sizeof(threads), "%d", app->cfg.http_threads);
	snprintf(timeout, sizeof(timeout), "%d", app->cfg.http_request_timeout_ms);
	const char *options[] = {
		"listening_ports", ports,
		"num_threads", threads,
		"document_root", app->cfg.static_dir,
		"enable_keep_alive", "yes",
		/* A head must arrive within the timeout; an idle keep-alive connection is closed after it too. */
		"request_timeout_ms", timeout,
		"keep_alive_timeout_ms", timeout,
		"listen_backlog", "1024",
		"max_request_size", "16384", /* CONNGUARD_MAX_HEAD */
		"decode_url", "no",          /* the dispatcher decodes, after begin_request refused %00 */
		"enable_directory_listing", "no",
		"tcp_nodelay", "1",
		NULL,
	};
	struct mg_callbacks callbacks;
	memset(&callbacks, 0, sizeof(callbacks));
	callbacks.log_message = log_civetweb;
	callbacks.init_connection = on_init_connection;
	callbacks.connection_close = on_connection_close;
	callbacks.begin_request = on_begin_request;
	callbacks.end_request = on_end_request;
	callbacks.http_error = on_http_error;

	struct mg_context *ctx = mg_start(&callbacks, app, options);
	if (ctx == NULL) {
		log_error("event=http_start_failed listen=%s", ports);
		return NULL;
	}
	mg_set_request_handler(ctx, HTTP_API_PREFIX, dispatch, app);
	live_register(ctx, app);
	if (!ocpp_register(ctx, app)) {
		mg_stop(ctx);
		return NULL;
	}
	probe_self(app);
	log_info("event=http_listening listen=%s threads=%s request_timeout_ms=%s max_conn_per_client=%d static=%s", ports,
		 threads, timeout, app->cfg.http_max_conn_per_client, app->cfg.static_dir);
	return ctx;
}

void http_stop(struct mg_context *ctx)
{
	if (ctx != NULL)
		mg_stop(ctx);
}
