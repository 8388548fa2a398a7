/*
 * The official OCPP 1.6 JSON schemas (docs/ocpp/schemas, data copied from the
 * OCPP 1.6 JSON package: see the README there), loaded once at start, and a
 * validator for the subset of JSON Schema draft 4 those files use: type,
 * properties, required, additionalProperties (false), enum, maxLength,
 * minItems, items, multipleOf and format date-time (a time must also fall in
 * the project's range, years 2000 to 2099: timeutil.h).
 *
 * Every frame received is checked against its action's schema before any
 * handler sees it, and every payload sent is checked before it leaves (a
 * failure there is our bug: logged at error, nothing sent). Read-only after
 * load, so threads share it without a lock.
 */
#ifndef EVC_OCPP_SCHEMA_H
#define EVC_OCPP_SCHEMA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct ocpp_schemas;

/* Loads every <Name>.json of dir; NULL with a message in err on failure. Caller frees. */
struct ocpp_schemas *ocpp_schemas_load(const char *dir, char *err, size_t err_size);
void ocpp_schemas_free(struct ocpp_schemas *s);

/* True when a schema of that name ("BootNotification", "BootNotificationResponse") was loaded. */
bool ocpp_schemas_has(const struct ocpp_schemas *s, const char *name);

/*
 * Validates instance against schema name. NULL when valid; else the OCPP-J
 * error code of the first violation (TypeConstraintViolation,
 * PropertyConstraintViolation, OccurenceConstraintViolation,
 * FormationViolation, or NotImplemented for an unknown schema) and a
 * description naming the field in why.
 */
const char *ocpp_schema_check(const struct ocpp_schemas *s, const char *name, json_t *instance, char *why,
			      size_t why_size);

/* The same against one schema document (for the unit tests). */
const char *ocpp_schema_check_doc(json_t *schema, json_t *instance, char *why, size_t why_size);

#endif
