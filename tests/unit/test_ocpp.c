/*
 * The OCPP adapter's pure parts: OCPP-J framing (ocpp/ocpp_frame.c), the
 * validator against the official schemas in docs/ocpp/schemas
 * (ocpp/ocpp_schema.c, run from the repository root), and who may act as a
 * station in the policy table (core/policy.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "actor.h"
#include "ocpp_frame.h"
#include "ocpp_schema.h"
#include "policy.h"

#define SCHEMA_DIR "docs/ocpp/schemas"

static const char *parse(const char *text, struct ocpp_frame *f)
{
	char why[256];
	return ocpp_frame_parse(text, strlen(text), f, why, sizeof(why));
}

static void well_formed_frames_parse(void **state)
{
	(void)state;
	struct ocpp_frame f;
	assert_null(parse("[2, \"19223201\", \"BootNotification\", {\"chargePointVendor\": \"V\"}]", &f));
	assert_int_equal(f.type, OCPP_CALL);
	assert_string_equal(f.id, "19223201");
	assert_string_equal(f.action, "BootNotification");
	assert_true(json_is_object(f.payload));
	ocpp_frame_clear(&f);
	assert_null(parse("[3, \"a\", {\"status\": \"Accepted\"}]", &f));
	assert_int_equal(f.type, OCPP_CALLRESULT);
	ocpp_frame_clear(&f);
	assert_null(parse("[4, \"a\", \"NotSupported\", \"no\", {}]", &f));
	assert_string_equal(f.error_code, "NotSupported");
	ocpp_frame_clear(&f);
}

static void malformed_frames_get_the_right_error_code(void **state)
{
	(void)state;
	static const struct {
		const char *text, *code, *id;
	} cases[] = {
		{ "", "FormationViolation", "-1" },
		{ "{}", "FormationViolation", "-1" },
		{ "[2, \"x\"]", "FormationViolation", "-1" },
		{ "[\"2\", \"x\", \"Heartbeat\", {}]", "FormationViolation", "-1" },
		{ "[2, 7, \"Heartbeat\", {}]", "FormationViolation", "-1" },
		{ "[2, \"\", \"Heartbeat\", {}]", "FormationViolation", "-1" },
		{ "[2, \"0123456789012345678901234567890123456\", \"Heartbeat\", {}]", "FormationViolation", "-1" },
		{ "[5, \"x\", {}]", "ProtocolError", "x" },
		{ "[2, \"x\", \"Heartbeat\"]", "ProtocolError", "x" },
		{ "[2, \"x\", \"Heartbeat\", {}, 1]", "ProtocolError", "x" },
		{ "[2, \"x\", 3, {}]", "FormationViolation", "x" },
		{ "[2, \"x\", \"Heartbeat\", [1]]", "FormationViolation", "x" },
		{ "[3, \"x\", 1]", "FormationViolation", "x" },
		{ "[4, \"x\", \"c\", \"d\"]", "ProtocolError", "x" },
		{ "[2, \"x\", \"Heartbeat\", {}, ", "FormationViolation", "-1" },
		{ "[2, \"x\", \"Heartbeat\", {\"a\": 1, \"a\": 2}]", "FormationViolation", "-1" },
		{ "[2, \"x\", \"Heartbeat\", {\"a\": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}]",
		  "FormationViolation", "-1" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ocpp_frame f;
		const char *code = parse(cases[i].text, &f);
		assert_non_null(code);
		assert_string_equal(code, cases[i].code);
		assert_string_equal(f.id, cases[i].id);
		ocpp_frame_clear(&f);
	}
}

static void built_frames_are_what_ocpp_j_says(void **state)
{
	(void)state;
	json_t *payload = json_pack("{s:s}", "status", "Accepted");
	char *call = ocpp_frame_call("7", "ReserveNow", payload), *result = ocpp_frame_result("7", payload);
	char *error = ocpp_frame_error("7", "NotImplemented", "no");
	assert_string_equal(call, "[2,\"7\",\"ReserveNow\",{\"status\":\"Accepted\"}]");
	assert_string_equal(result, "[3,\"7\",{\"status\":\"Accepted\"}]");
	assert_string_equal(error, "[4,\"7\",\"NotImplemented\",\"no\",{}]");
	free(call);
	free(result);
	free(error);
	json_decref(payload);
}

static void schema_case(const struct ocpp_schemas *s, const char *name, const char *json, const char *code)
{
	json_t *v = json_loads(json, 0, NULL);
	char why[256];
	assert_non_null(v);
	const char *got = ocpp_schema_check(s, name, v, why, sizeof(why));
	if (code == NULL) {
		if (got != NULL)
			fail_msg("%s %s: unexpected %s (%s)", name, json, got, why);
	} else {
		if (got == NULL || strcmp(got, code) != 0)
			fail_msg("%s %s: expected %s, got %s (%s)", name, json, code, got ? got : "valid", why);
	}
	json_decref(v);
}

static void the_official_schemas_accept_and_refuse(void **state)
{
	(void)state;
	char err[512];
	struct ocpp_schemas *s = ocpp_schemas_load(SCHEMA_DIR, err, sizeof(err));
	assert_non_null(s);
	assert_true(ocpp_schemas_has(s, "ReserveNow"));
	assert_true(ocpp_schemas_has(s, "StopTransactionResponse"));
	schema_case(s, "BootNotification", "{\"chargePointVendor\": \"V\", \"chargePointModel\": \"M\"}", NULL);
	schema_case(s, "BootNotification", "{\"chargePointVendor\": \"V\"}", "OccurenceConstraintViolation");
	schema_case(s, "BootNotification", "{\"chargePointVendor\": 1, \"chargePointModel\": \"M\"}",
		    "TypeConstraintViolation");
	schema_case(s, "BootNotification", "{\"chargePointVendor\": \"123456789012345678901\", \"chargePointModel\": \"M\"}",
		    "PropertyConstraintViolation");
	schema_case(s, "BootNotification", "{\"chargePointVendor\": \"V\", \"chargePointModel\": \"M\", \"x\": 1}",
		    "FormationViolation");
	schema_case(s, "StatusNotification", "{\"connectorId\": 1, \"errorCode\": \"NoError\", \"status\": \"Faulted\"}", NULL);
	schema_case(s, "StatusNotification", "{\"connectorId\": 1.5, \"errorCode\": \"NoError\", \"status\": \"Faulted\"}",
		    "TypeConstraintViolation");
	schema_case(s, "StatusNotification", "{\"connectorId\": 1, \"errorCode\": \"Oops\", \"status\": \"Faulted\"}",
		    "PropertyConstraintViolation");
	schema_case(s, "StatusNotification",
		    "{\"connectorId\": 1, \"errorCode\": \"NoError\", \"status\": \"Faulted\", \"timestamp\": \"yesterday\"}",
		    "PropertyConstraintViolation");
	schema_case(s, "StatusNotification",
		    "{\"connectorId\": 1, \"errorCode\": \"NoError\", \"status\": \"Faulted\", \"timestamp\": \"2026-11-23T08:00:00.123+01:00\"}",
		    NULL);
	schema_case(s, "MeterValues", "{\"connectorId\": 1, \"meterValue\": []}", "OccurenceConstraintViolation");
	schema_case(s, "MeterValues",
		    "{\"connectorId\": 1, \"meterValue\": [{\"timestamp\": \"2026-11-23T08:00:00Z\", \"sampledValue\": [{\"value\": \"1\", \"unit\": \"Wh\"}]}]}",
		    NULL);
	schema_case(s, "MeterValues",
		    "{\"connectorId\": 1, \"meterValue\": [{\"timestamp\": \"2026-11-23T08:00:00Z\", \"sampledValue\": [{\"value\": 1}]}]}",
		    "TypeConstraintViolation");
	schema_case(s, "ReserveNow",
		    "{\"connectorId\": 1, \"expiryDate\": \"2026-11-23T09:00:00Z\", \"idTag\": \"car-1\", \"reservationId\": 3}", NULL);
	schema_case(s, "HeartbeatResponse", "{}", "OccurenceConstraintViolation");
	schema_case(s, "NoSuchAction", "{}", "NotImplemented");
	ocpp_schemas_free(s);
}

static void a_station_acts_on_its_own_chargers_only(void **state)
{
	(void)state;
	struct actor station = actor_station("a-jpa-01"), car = actor_car("car-1"), op = actor_operator("a");
	struct actor peer = actor_peer("b"), anyone = actor_public();
	assert_int_equal(policy_check_station(&station, POLICY_CHARGER_REPORT, "a-jpa-01", "t", NULL), EVC_OK);
	assert_int_equal(policy_check_station(&station, POLICY_CHARGING_SESSION, "a-jpa-01", "t", NULL), EVC_OK);
	assert_int_equal(policy_check_station(&station, POLICY_CHARGER_REPORT, "a-jpa-02", "t", NULL), EVC_ERR_FORBIDDEN);
	assert_int_equal(policy_check_station(&station, POLICY_CHARGER_MANAGE, "a-jpa-01", "t", NULL), EVC_ERR_FORBIDDEN);
	assert_int_equal(policy_check_station(&station, POLICY_CHARGER_READ, "a-jpa-01", "t", NULL), EVC_ERR_FORBIDDEN);
	assert_int_equal(policy_check(&station, POLICY_RESERVATION_CREATE, NULL, "t", NULL), EVC_ERR_FORBIDDEN);
	assert_int_equal(policy_check(&station, POLICY_CATALOGUE_READ, NULL, "t", NULL), EVC_OK);
	const struct actor *others[] = { &car, &op, &peer };
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(policy_check_station(others[i], POLICY_CHARGER_REPORT, "a-jpa-01", "t", NULL),
				 EVC_ERR_FORBIDDEN);
		assert_int_equal(policy_check_station(others[i], POLICY_CHARGING_SESSION, "a-jpa-01", "t", NULL),
				 EVC_ERR_FORBIDDEN);
	}
	assert_int_equal(policy_check_station(&anyone, POLICY_CHARGER_REPORT, "a-jpa-01", "t", NULL),
			 EVC_ERR_UNAUTHENTICATED);
	assert_int_equal(policy_check_station(&op, POLICY_CHARGER_MANAGE, "a-jpa-01", "t", NULL), EVC_OK);
	assert_int_equal(policy_check_station(&car, POLICY_CHARGER_MANAGE, "a-jpa-01", "t", NULL), EVC_ERR_FORBIDDEN);
	assert_int_equal(policy_check_station(&peer, POLICY_CHARGER_READ, "a-jpa-01", "t", NULL), EVC_ERR_FORBIDDEN);
	char who[ACTOR_DESCRIBE_MAX];
	assert_string_equal(actor_describe(&station, who), "station:a-jpa-01");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(well_formed_frames_parse),
		cmocka_unit_test(malformed_frames_get_the_right_error_code),
		cmocka_unit_test(built_frames_are_what_ocpp_j_says),
		cmocka_unit_test(the_official_schemas_accept_and_refuse),
		cmocka_unit_test(a_station_acts_on_its_own_chargers_only),
	};
	return cmocka_run_group_tests_name("ocpp", tests, NULL, NULL);
}
