#include "errors.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct {
	enum evc_err err;
	int status;
} http_of[] = {
	{ EVC_OK, 200 },
	{ EVC_ERR_INVALID, 400 },
	{ EVC_ERR_UNAUTHENTICATED, 401 },
	{ EVC_ERR_FORBIDDEN, 403 },
	{ EVC_ERR_NOT_FOUND, 404 },
	{ EVC_ERR_CONFLICT, 409 },
	{ EVC_ERR_TOO_LARGE, 413 },
	{ EVC_ERR_UNPROCESSABLE, 422 },
	{ EVC_ERR_RATE_LIMITED, 429 },
	{ EVC_ERR_INTERNAL, 500 },
	{ EVC_ERR_UNAVAILABLE, 503 },
};

int evc_err_http_status(enum evc_err err)
{
	for (size_t i = 0; i < sizeof(http_of) / sizeof(http_of[0]); i++)
		if (http_of[i].err == err)
			return http_of[i].status;
	return 500;
}

enum evc_err evc_err_from_http(long status)
{
	if (status >= 200 && status < 300)
		return EVC_OK;
	for (size_t i = 0; i < sizeof(http_of) / sizeof(http_of[0]); i++)
		if (http_of[i].status == status)
			return http_of[i].err;
	if (status >= 400 && status < 500)
		return EVC_ERR_INVALID;
	return EVC_ERR_UNAVAILABLE; /* 0 (unreachable), 502, 504: the peer may answer later */
}

bool evc_err_is_transient(enum evc_err err)
{
	return err == EVC_ERR_RATE_LIMITED || err == EVC_ERR_UNAVAILABLE;
}

void core_ok(struct core_result *r, json_t *body)
{
	json_decref(r->body);
	r->err = EVC_OK;
	r->body = body != NULL ? body : json_object();
}

void core_ok_text(struct core_result *r, const char *json_text)
{
	json_t *body = json_loads(json_text, JSON_DECODE_ANY, NULL);
	if (body == NULL) {
		core_fail(r, EVC_ERR_INTERNAL, "internal", "the database returned a document that is not JSON");
		return;
	}
	core_ok(r, body);
}

static enum evc_err fail_va(struct core_result *r, enum evc_err err, const char *code, json_t *extra,
			    const char *fmt, va_list ap)
{
	char message[512];
	vsnprintf(message, sizeof(message), fmt, ap);
	json_decref(r->body);
	r->err = err;
	r->created = false;
	r->location[0] = '\0';
	r->body = json_is_object(extra) ? extra : json_object();
	if (extra != NULL && r->body != extra)
		json_decref(extra);
	json_object_set_new(r->body, "error", json_pack("{s:s, s:s}", "code", code, "message", message));
	if (err == EVC_ERR_RATE_LIMITED && r->retry_after == 0)
		r->retry_after = 1;
	return err;
}

enum evc_err core_fail_extra(struct core_result *r, enum evc_err err, const char *code, json_t *extra,
			     const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fail_va(r, err, code, extra, fmt, ap);
	va_end(ap);
	return err;
}

enum evc_err core_fail(struct core_result *r, enum evc_err err, const char *code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fail_va(r, err, code, NULL, fmt, ap);
	va_end(ap);
	return err;
}

void core_relay(struct core_result *r, long status, json_t *body)
{
	json_decref(r->body);
	r->err = evc_err_from_http(status);
	r->created = status == 201;
	r->body = body;
	if (r->body == NULL) {
		r->body = NULL;
		if (r->err == EVC_OK)
			r->body = json_object();
		else
			core_fail(r, r->err, r->err == EVC_ERR_UNAVAILABLE ? "unavailable" : "bad_gateway",
				  "the server asked could not answer");
	}
}

int core_result_status(const struct core_result *r)
{
	if (r->err == EVC_OK)
		return r->created ? 201 : 200;
	return evc_err_http_status(r->err);
}

const char *core_result_code(const struct core_result *r)
{
	const char *code = json_string_value(json_object_get(json_object_get(r->body, "error"), "code"));
	return code != NULL ? code : "";
}

void core_result_clear(struct core_result *r)
{
	json_decref(r->body);
	r->body = NULL;
}
