/* POST /waitlist bodies (and MQTT "waitlist" requests): waitlist_read_join, round trip. */
#include "fuzz_body.h"
#include "waitlist.h"

static json_t *normalised(const struct waitlist_request *q)
{
	json_t *n = json_pack("{s:o, s:o, s:o, s:I}", "start", fuzz_time(q->start), "end", fuzz_time(q->end), "expires_at",
			      fuzz_time(q->expires), "flexibility_minutes", (json_int_t)q->flex);
	json_object_set_new(n, q->station != NULL ? "station_id" : "city", json_string(q->station ? q->station : q->city));
	if (q->car_id != NULL)
		json_object_set_new(n, "car_id", json_string(q->car_id));
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *body = fuzz_body_load((const char *)data, size);
	if (body == NULL)
		return 0;
	struct waitlist_request first, second;
	struct core_result r = CORE_RESULT_INIT;
	if (waitlist_read_join(&fuzz_cfg, body, FUZZ_NOW, &first, &r) == EVC_OK) {
		FUZZ_CHECK((first.station == NULL) != (first.city == NULL) && first.expires > FUZZ_NOW);
		json_t *again = fuzz_body_reload(normalised(&first));
		struct core_result r2 = CORE_RESULT_INIT;
		FUZZ_CHECK(waitlist_read_join(&fuzz_cfg, again, FUZZ_NOW, &second, &r2) == EVC_OK);
		fuzz_same_string(first.car_id, second.car_id, "car_id");
		fuzz_same_string(first.station, second.station, "station_id");
		fuzz_same_string(first.city, second.city, "city");
		FUZZ_CHECK(first.flex == second.flex && first.start == second.start && first.end == second.end &&
			   first.expires == second.expires);
		core_result_clear(&r2);
		json_decref(again);
	} else {
		FUZZ_CHECK(r.err == EVC_ERR_INVALID || r.err == EVC_ERR_NOT_FOUND);
	}
	core_result_clear(&r);
	json_decref(body);
	return 0;
}
