/*
 * Identifier rules shared by every program of the federation. They mirror the
 * CHECK constraints of db/migrations, so bad ids are refused with a clear 400
 * before they reach the database.
 */
#ifndef EVC_VALIDATE_H
#define EVC_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>

#define VALIDATE_COMPANY_MAX 16
#define VALIDATE_STATION_MAX 65
#define VALIDATE_CAR_MAX 64
#define VALIDATE_KEY_MAX 100

/* Company id: 1..16 of [a-z0-9]. */
bool validate_company_id(const char *id);

/* Station id: "<company>-<code>", code 1..48 of [a-z0-9-]. */
bool validate_station_id(const char *id);

/*
 * Copies the owning company of a valid station id into out (at least
 * VALIDATE_COMPANY_MAX + 1 bytes). False when the id is not valid.
 */
bool validate_station_company(const char *station_id, char *out, size_t out_size);

/* Car id: 1..64 of [A-Za-z0-9_.:-]. */
bool validate_car_id(const char *id);

/* Idempotency-Key: 1..100 of [A-Za-z0-9-_.:], the car's own name for one request. */
bool validate_idempotency_key(const char *key);

/*
 * Connector type of a charger or a car: "CCS2", "CHAdeMO" or "Type2", spelt
 * exactly so (VALIDATE_CONNECTORS for messages).
 */
#define VALIDATE_CONNECTORS "CCS2, CHAdeMO or Type2"
#define VALIDATE_CONNECTOR_MAX 7
bool validate_connector(const char *type);

/* Canonical textual UUID, 8-4-4-4-12 hex digits. */
bool validate_uuid(const char *text);

#endif
