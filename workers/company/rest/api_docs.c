/*
 * /openapi.yaml: the API contract (docs/openapi.yaml, from EVC_DOCS_DIR), served
 * as the worker that answers the API sees it, so Insomnia, Postman or a browser
 * can fetch the description from any company. Read from disk on each request: a
 * few kilobytes, asked for by people, never on a hot path.
 */
#include "api.h"
#include "app.h"
#include "fileutil.h"
#include "log.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SPEC_FILE "openapi.yaml"
#define SPEC_MAX_BYTES (4L * 1024 * 1024)

int api_docs_openapi(struct http_request *req)
{
	char path[PATH_MAX + sizeof(SPEC_FILE) + 1];
	size_t len = 0;
	snprintf(path, sizeof(path), "%s/%s", req->app->cfg.docs_dir, SPEC_FILE);
	errno = 0;
	char *spec = fileutil_read(path, SPEC_MAX_BYTES, &len);
	if (spec == NULL) {
		/* errno stays 0 when the file opened but was too large or short to read. */
		log_warn("event=docs_unreadable req=%s path=\"%s\" error=\"%s\"", req->request_id, path,
			 errno != 0 ? strerror(errno) : "larger than the limit, or unreadable");
		return http_reply_error(req, 404, "not_found", "the API description is not installed here (EVC_DOCS_DIR)");
	}

	/* Headers and body in one write, as every other answer (Nagle and delayed ACK). */
	char head[512];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 200 OK\r\n"
			 "Content-Type: application/yaml; charset=utf-8\r\n"
			 "Content-Length: %zu\r\n"
			 "Cache-Control: no-cache\r\n"
			 "Access-Control-Allow-Origin: *\r\n"
			 "X-Request-Id: %s\r\n\r\n",
			 len, req->request_id);
	char *whole = malloc((size_t)n + len);
	if (whole == NULL) {
		free(spec);
		return http_reply_error(req, 503, "unavailable", "out of memory");
	}
	memcpy(whole, head, (size_t)n);
	memcpy(whole + n, spec, len);
	mg_write(req->conn, whole, (size_t)n + len);
	free(whole);
	free(spec);
	return 200;
}
