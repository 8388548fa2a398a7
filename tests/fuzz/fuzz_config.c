/* Configuration: lines of NAME=value become the environment config_load reads. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const names[] = {
	"EVC_COMPANY_ID", "EVC_DATABASE_URL", "EVC_HTTP_PORT", "EVC_HTTP_THREADS", "EVC_DB_POOL_SIZE",
	"EVC_LOG_LEVEL", "EVC_MAX_BODY_BYTES", "EVC_PEERS", "EVC_PUBLIC_URL", "EVC_LOCK_TIMEOUT_MS",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	size_t line = 0;
	char *save = NULL;
	for (char *l = strtok_r(text, "\n", &save); l != NULL && line < sizeof(names) / sizeof(names[0]);
	     l = strtok_r(NULL, "\n", &save), line++)
		setenv(names[line], l, 1);
	struct config cfg;
	char err[256];
	(void)config_load(&cfg, err, sizeof(err));
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		unsetenv(names[i]);
	free(text);
	return 0;
}
