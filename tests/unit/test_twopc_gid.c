/* Global transaction ids: made, parsed, and refused when malformed (they end up in SQL). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "twopc.h"
#include "validate.h"

static void made_gids_parse_back(void **state)
{
	(void)state;
	char gid[TWOPC_GID_MAX], coordinator[VALIDATE_COMPANY_MAX + 1], trip[37];
	const char *id = "d2e43aa5-46eb-463f-935e-fa0adb5630d9";
	assert_true(twopc_gid_make("a", id, "reserve", gid));
	assert_true(strncmp(gid, "evc_a_d2e43aa546eb463f935efa0adb5630d9_r", 40) == 0);
	assert_true(twopc_gid_valid(gid));
	assert_true(twopc_gid_parse(gid, coordinator, sizeof(coordinator), trip));
	assert_string_equal(coordinator, "a");
	assert_string_equal(trip, id);

	char other[TWOPC_GID_MAX];
	assert_true(twopc_gid_make("a", id, "cancel", other));
	assert_string_not_equal(gid, other);
	assert_false(twopc_gid_make("a", id, "delete", other));
	assert_false(twopc_gid_make("A", id, "reserve", other));
}

static void malformed_gids_are_refused(void **state)
{
	(void)state;
	const char *bad[] = {
		"", "evc_", "evc_a_", "evc_a_d2e43aa546eb463f935efa0adb5630d9_r0011223",
		"evc_a_d2e43aa546eb463f935efa0adb5630d9_x00112233", "evc_a_d2e43aa546eb463f935efa0adb5630d9_r00112233'",
		"evc_a_D2E43AA546EB463F935EFA0ADB5630D9_r00112233", "evc_a'_d2e43aa546eb463f935efa0adb5630d9_r00112233",
		"xyz_a_d2e43aa546eb463f935efa0adb5630d9_r00112233",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (twopc_gid_valid(bad[i]))
			fail_msg("accepted gid '%s'", bad[i]);
	assert_true(twopc_gid_valid("evc_a_d2e43aa546eb463f935efa0adb5630d9_r00112233"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(made_gids_parse_back),
		cmocka_unit_test(malformed_gids_are_refused),
	};
	return cmocka_run_group_tests_name("twopc_gid", tests, NULL, NULL);
}
