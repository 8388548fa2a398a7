/*
 * POST /trips bodies (and MQTT "reserve" requests): trips_read_legs, round trip.
 * The normalised legs are themselves an accepted body and read back unchanged.
 */
#include "fuzz_body.h"
#include "trips.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *body = fuzz_body_load((const char *)data, size);
	if (body == NULL)
		return 0;
	json_t *legs = json_array(), *participants = json_array();
	struct core_result r = CORE_RESULT_INIT;
	if (trips_read_legs(&fuzz_cfg, body, FUZZ_NOW, legs, participants, &r) == EVC_OK) {
		FUZZ_CHECK(json_array_size(legs) >= 1 && json_array_size(participants) >= 1 &&
			   json_array_size(participants) <= json_array_size(legs));
		json_t *again = fuzz_body_reload(json_pack("{s:O}", "legs", legs));
		json_t *legs2 = json_array(), *participants2 = json_array();
		struct core_result r2 = CORE_RESULT_INIT;
		FUZZ_CHECK(trips_read_legs(&fuzz_cfg, again, FUZZ_NOW, legs2, participants2, &r2) == EVC_OK);
		FUZZ_CHECK(json_equal(legs, legs2) && json_equal(participants, participants2));
		core_result_clear(&r2);
		json_decref(legs2);
		json_decref(participants2);
		json_decref(again);
	} else {
		FUZZ_CHECK(r.err == EVC_ERR_INVALID);
	}
	core_result_clear(&r);
	json_decref(legs);
	json_decref(participants);
	json_decref(body);
	return 0;
}
