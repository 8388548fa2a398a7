/* POST /reservations bodies: reservations_read, the reader the worker runs, round trip. */
#include "fuzz_body.h"
#include "reservations.h"
#include "validate.h"

static json_t *normalised(const struct reservation_request *q)
{
	json_t *n = json_pack("{s:s, s:o, s:o}", "station_id", q->station_id, "start", fuzz_time(q->start), "end",
			      fuzz_time(q->end));
	if (q->car_id != NULL)
		json_object_set_new(n, "car_id", json_string(q->car_id));
	if (q->connector != NULL)
		json_object_set_new(n, "connector", json_string(q->connector));
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *body = fuzz_body_load((const char *)data, size);
	if (body == NULL)
		return 0;
	struct reservation_request first, second;
	struct core_result r = CORE_RESULT_INIT;
	if (reservations_read(&fuzz_cfg, body, FUZZ_NOW, &first, &r) == EVC_OK) {
		FUZZ_CHECK(first.end > first.start);
		json_t *again = fuzz_body_reload(normalised(&first));
		struct core_result r2 = CORE_RESULT_INIT;
		FUZZ_CHECK(reservations_read(&fuzz_cfg, again, FUZZ_NOW, &second, &r2) == EVC_OK);
		fuzz_same_string(first.station_id, second.station_id, "station_id");
		fuzz_same_string(first.car_id, second.car_id, "car_id");
		fuzz_same_string(first.connector, second.connector, "connector");
		FUZZ_CHECK(first.connector == NULL || validate_connector(first.connector));
		FUZZ_CHECK(first.start == second.start && first.end == second.end);
		core_result_clear(&r2);
		json_decref(again);
	} else {
		FUZZ_CHECK(r.err == EVC_ERR_INVALID || r.err == EVC_ERR_NOT_FOUND);
	}
	core_result_clear(&r);
	json_decref(body);
	return 0;
}
