#include "peer_client.h"
#include "log.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RESPONSE (1L << 20)

static pthread_key_t handle_key;
static long connect_timeout_ms = 1000; /* set once by peer_client_init, before threads start */

struct buffer {
	char *data;
	size_t len;
};

static void free_handle(void *handle)
{
	curl_easy_cleanup(handle);
}

bool peer_client_init(long connect_timeout)
{
	connect_timeout_ms = connect_timeout;
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK && pthread_key_create(&handle_key, free_handle) == 0;
}

void peer_client_cleanup(void)
{
	/* The calling thread's handle; other threads free theirs as they exit. */
	CURL *curl = pthread_getspecific(handle_key);
	if (curl != NULL) {
		curl_easy_cleanup(curl);
		pthread_setspecific(handle_key, NULL);
	}
	curl_global_cleanup();
}

static CURL *thread_handle(void)
{
	CURL *curl = pthread_getspecific(handle_key);
	if (curl == NULL) {
		curl = curl_easy_init();
		if (curl != NULL && pthread_setspecific(handle_key, curl) != 0) {
			curl_easy_cleanup(curl);
			curl = NULL;
		}
	} else {
		curl_easy_reset(curl); /* keeps the connection cache */
	}
	return curl;
}

static size_t collect(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct buffer *b = userdata;
	size_t n = size * nmemb;
	if (b->len + n > (size_t)MAX_RESPONSE)
		return 0;
	char *grown = realloc(b->data, b->len + n + 1);
	if (grown == NULL)
		return 0;
	memcpy(grown + b->len, ptr, n);
	b->data = grown;
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

void peer_call(const char *method, const char *base_url, const char *path, const char *token, json_t *body,
	       long timeout_ms, const char *request_id, struct peer_response *out)
{
	peer_call_header(method, base_url, path, token, body, timeout_ms, request_id, NULL, out);
}

void peer_call_header(const char *method, const char *base_url, const char *path, const char *token, json_t *body,
		      long timeout_ms, const char *request_id, const char *extra_header, struct peer_response *out)
{
	memset(out, 0, sizeof(*out));
	CURL *curl = thread_handle();
	if (curl == NULL)
		return;

	char url[1024], auth[300], rid[80];
	snprintf(url, sizeof(url), "%s%s", base_url, path);
	struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
	headers = curl_slist_append(headers, "Accept: application/json");
	if (token != NULL) {
		snprintf(auth, sizeof(auth), "Authorization: Token %s", token);
		headers = curl_slist_append(headers, auth);
	}
	if (request_id != NULL) {
		snprintf(rid, sizeof(rid), "X-Request-Id: %s", request_id);
		headers = curl_slist_append(headers, rid);
	}
	if (extra_header != NULL)
		headers = curl_slist_append(headers, extra_header);
	char *payload = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
	struct buffer received = { NULL, 0 };

	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, connect_timeout_ms < timeout_ms ? connect_timeout_ms : timeout_ms);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &received);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	if (payload != NULL)
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, payload);

	CURLcode rc = curl_easy_perform(curl);
	if (rc == CURLE_OK) {
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out->status);
		if (received.data != NULL)
			out->body = json_loadb(received.data, received.len, 0, NULL);
	} else {
		log_debug("event=peer_call_failed url=%s error=\"%s\"", url, curl_easy_strerror(rc));
	}
	double seconds = 0, pretransfer = 0;
	curl_easy_getinfo(curl, CURLINFO_TOTAL_TIME, &seconds);
	curl_easy_getinfo(curl, CURLINFO_PRETRANSFER_TIME, &pretransfer);
	out->ms = seconds * 1000.0;
	/* Refused, unresolved, or timed out before the request could be sent: safe to send elsewhere. */
	out->reached = !(rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
			 (rc == CURLE_OPERATION_TIMEDOUT && pretransfer <= 0));

	free(received.data);
	free(payload);
	curl_slist_free_all(headers);
}

void peer_response_clear(struct peer_response *r)
{
	json_decref(r->body);
	r->body = NULL;
}
