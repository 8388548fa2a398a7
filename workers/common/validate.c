#include "validate.h"

#include <string.h>

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool validate_company_id(const char *id)
{
	size_t n = strlen(id);
	if (n < 1 || n > VALIDATE_COMPANY_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_lower_alnum(id[i]))
			return false;
	return true;
}

bool validate_station_id(const char *id)
{
	const char *dash = strchr(id, '-');
	if (dash == NULL)
		return false;
	size_t company_len = (size_t)(dash - id);
	size_t code_len = strlen(dash + 1);
	if (company_len < 1 || company_len > VALIDATE_COMPANY_MAX || code_len < 1 || code_len > 48)
		return false;
	for (const char *p = id; p < dash; p++)
		if (!is_lower_alnum(*p))
			return false;
	for (const char *p = dash + 1; *p; p++)
		if (!is_lower_alnum(*p) && *p != '-')
			return false;
	return true;
}

bool validate_station_company(const char *station_id, char *out, size_t out_size)
{
	if (!validate_station_id(station_id))
		return false;
	size_t n = (size_t)(strchr(station_id, '-') - station_id);
	if (n + 1 > out_size)
		return false;
	memcpy(out, station_id, n);
	out[n] = '\0';
	return true;
}

bool validate_car_id(const char *id)
{
	size_t n = strlen(id);
	if (n < 1 || n > VALIDATE_CAR_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = id[i];
		bool ok = is_lower_alnum(c) || (c >= 'A' && c <= 'Z') || c == '_' || c == '.' ||
			  c == ':' || c == '-';
		if (!ok)
			return false;
	}
	return true;
}

bool validate_uuid(const char *text)
{
	static const char shape[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
	if (strlen(text) != sizeof(shape) - 1)
		return false;
	for (size_t i = 0; i < sizeof(shape) - 1; i++) {
		if (shape[i] == '-' ? text[i] != '-' : !is_hex(text[i]))
			return false;
	}
	return true;
}

bool validate_idempotency_key(const char *key)
{
	size_t n = strlen(key);
	return n >= 1 && n <= VALIDATE_KEY_MAX &&
	       strspn(key, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.:") == n;
}

/* As the CHECK stations_connectors_valid (db/migrations/017_connectors.sql). */
static const char *const connector_types[] = { "CCS2", "CHAdeMO", "Type2", NULL };

bool validate_connector(const char *type)
{
	for (const char *const *t = connector_types; *t != NULL; t++)
		if (strcmp(*t, type) == 0)
			return true;
	return false;
}
