/* Identifier rules: what a station, car, company or UUID may look like. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "validate.h"

static void station_ids_name_their_company(void **state)
{
	(void)state;
	char owner[VALIDATE_COMPANY_MAX + 1];
	assert_true(validate_station_company("a-jpa-01", owner, sizeof(owner)));
	assert_string_equal(owner, "a");
	assert_true(validate_station_company("frevo2-rec-centro-02", owner, sizeof(owner)));
	assert_string_equal(owner, "frevo2");

	const char *bad[] = { "", "a", "a-", "-jpa", "A-jpa", "a-JPA", "a_jpa", "a-jpa 1", "a-j\xc3\xbc",
			      "abcdefghijklmnopq-x", "a-0123456789012345678901234567890123456789012345678" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (validate_station_id(bad[i]))
			fail_msg("accepted station id '%s'", bad[i]);
}

static void car_ids_are_plain_ascii(void **state)
{
	(void)state;
	assert_true(validate_car_id("car-1"));
	assert_true(validate_car_id("EV_42.br:x"));
	assert_false(validate_car_id(""));
	assert_false(validate_car_id("car 1"));
	assert_false(validate_car_id("car/1"));
	assert_false(validate_car_id("carro-\xc3\xa7"));
	assert_false(validate_car_id("\xe2\x80\x8f" "car"));
	assert_false(validate_car_id("0123456789012345678901234567890123456789012345678901234567890123456789"));
}

static void company_ids_and_uuids(void **state)
{
	(void)state;
	assert_true(validate_company_id("a"));
	assert_false(validate_company_id("A"));
	assert_false(validate_company_id("a-b"));
	assert_true(validate_uuid("d2e43aa5-46eb-463f-935e-fa0adb5630d9"));
	assert_false(validate_uuid("d2e43aa546eb463f935efa0adb5630d9"));
	assert_false(validate_uuid("d2e43aa5-46eb-463f-935e-fa0adb5630dg"));
	assert_false(validate_uuid("'; DROP TABLE trips; --"));
}

static void connector_types_are_spelt_exactly(void **state)
{
	(void)state;
	assert_true(validate_connector("CCS2"));
	assert_true(validate_connector("CHAdeMO"));
	assert_true(validate_connector("Type2"));
	assert_false(validate_connector("ccs2"));
	assert_false(validate_connector("CHADEMO"));
	assert_false(validate_connector("Type 2"));
	assert_false(validate_connector("CCS2 "));
	assert_false(validate_connector("CCS"));
	assert_false(validate_connector(""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(station_ids_name_their_company),
		cmocka_unit_test(car_ids_are_plain_ascii),
		cmocka_unit_test(company_ids_and_uuids),
		cmocka_unit_test(connector_types_are_spelt_exactly),
	};
	return cmocka_run_group_tests_name("validate", tests, NULL, NULL);
}
