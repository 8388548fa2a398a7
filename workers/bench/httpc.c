#include "httpc.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BODY (1L << 20)

struct httpc {
	CURL *curl;
	struct curl_slist *fixed; /* headers every request carries */
	char *body;
	size_t len, cap;
	long connects;
	char error[CURL_ERROR_SIZE];
};

static size_t collect(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct httpc *c = userdata;
	size_t n = size * nmemb;
	if (c->len + n + 1 > (size_t)MAX_BODY)
		return 0;
	if (c->len + n + 1 > c->cap) {
		size_t cap = c->cap * 2 > c->len + n + 1 ? c->cap * 2 : c->len + n + 1;
		char *grown = realloc(c->body, cap);
		if (grown == NULL)
			return 0;
		c->body = grown;
		c->cap = cap;
	}
	memcpy(c->body + c->len, ptr, n);
	c->len += n;
	c->body[c->len] = '\0';
	return n;
}

struct httpc *httpc_new(long timeout_ms)
{
	struct httpc *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->cap = 4096;
	c->body = malloc(c->cap);
	c->curl = curl_easy_init();
	/* "Expect:" off: curl would wait for a 100 Continue before larger bodies. */
	c->fixed = curl_slist_append(NULL, "Content-Type: application/json");
	c->fixed = c->fixed != NULL ? curl_slist_append(c->fixed, "Accept: application/json") : NULL;
	c->fixed = c->fixed != NULL ? curl_slist_append(c->fixed, "Expect:") : NULL;
	if (c->body == NULL || c->curl == NULL || c->fixed == NULL) {
		httpc_free(c);
		return NULL;
	}
	c->body[0] = '\0';
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, c->error);
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->curl, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http");
	return c;
}

void httpc_free(struct httpc *c)
{
	if (c == NULL)
		return;
	if (c->curl != NULL)
		curl_easy_cleanup(c->curl);
	curl_slist_free_all(c->fixed);
	free(c->body);
	free(c);
}

long httpc_request(struct httpc *c, const char *method, const char *url, const char *const *headers,
		   const char *body)
{
	struct curl_slist *extra = NULL, *list = c->fixed;
	if (headers != NULL && headers[0] != NULL) {
		/* The fixed lines, then this request's: curl reads one list. */
		for (const struct curl_slist *h = c->fixed; h != NULL; h = h->next)
			extra = curl_slist_append(extra, h->data);
		for (const char *const *h = headers; *h != NULL && extra != NULL; h++)
			extra = curl_slist_append(extra, *h);
		if (extra == NULL) {
			strcpy(c->error, "out of memory");
			return HTTPC_TRANSPORT_ERROR;
		}
		list = extra;
	}
	c->len = 0;
	c->body[0] = '\0';
	c->error[0] = '\0';
	curl_easy_setopt(c->curl, CURLOPT_URL, url);
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, list);
	if (strcmp(method, "GET") == 0) {
		curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
	} else {
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body != NULL ? body : "");
		curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, strcmp(method, "POST") == 0 ? NULL : method);
	}
	CURLcode rc = curl_easy_perform(c->curl);
	long status = HTTPC_TRANSPORT_ERROR, opened = 0;
	if (rc == CURLE_OK)
		curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
	else if (c->error[0] == '\0')
		strncpy(c->error, curl_easy_strerror(rc), sizeof(c->error) - 1);
	if (curl_easy_getinfo(c->curl, CURLINFO_NUM_CONNECTS, &opened) == CURLE_OK)
		c->connects += opened;
	/* Unset before the list goes: the handle must not keep a dangling pointer. */
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, c->fixed);
	curl_slist_free_all(extra);
	return status;
}

const char *httpc_body(const struct httpc *c)
{
	return c->body;
}

const char *httpc_error(const struct httpc *c)
{
	return c->error;
}

long httpc_connects(const struct httpc *c)
{
	return c->connects;
}

long httpc_retry_after(struct httpc *c)
{
	struct curl_header *h = NULL;
	if (curl_easy_header(c->curl, "Retry-After", 0, CURLH_HEADER, -1, &h) != CURLHE_OK || h == NULL)
		return -1;
	char *end = NULL;
	long seconds = strtol(h->value, &end, 10);
	return end != h->value && seconds >= 0 ? seconds : -1;
}
