/*
 * POST /routes/plan bodies (and MQTT "plan" requests), read as a car and as an
 * operator: plan_read_input; POST /availability/batch bodies: plan_read_windows.
 * Both round trip: the normalised value as a body reads back the same.
 */
#include <math.h>

#include "fuzz_body.h"
#include "plan.h"

/* The battery's fractions travel as percentages: equal up to the rounding of * 100 / 100. */
static bool close_to(double a, double b)
{
	return fabs(a - b) <= 1e-12 * fmax(1.0, fabs(a));
}

static json_t *plan_json(const struct plan_input *in)
{
	const struct planner_battery *b = &in->battery;
	json_t *battery = json_pack("{s:f, s:f, s:f, s:f}", "capacity_kwh", b->capacity_kwh, "soc", b->soc * 100, "min_soc",
				    b->min_soc * 100, "target_soc", b->target_soc * 100);
	if (in->consumption_source != NULL)
		json_object_set_new(battery, "consumption_kwh_per_100km", json_real(b->consumption_kwh_per_100km));
	return json_pack("{s:s, s:s, s:s, s:o, s:i, s:i, s:o, s:s*}", "car_id", in->car_id, "origin", in->origin,
			 "destination", in->destination, "departure", fuzz_time(in->departure), "max_options", in->max_options,
			 "offset", in->offset, "battery", battery, "connector", in->connector);
}

static void plan_round_trip(const struct actor *actor, json_t *body)
{
	struct plan_input first, second;
	struct core_result r = CORE_RESULT_INIT, r2 = CORE_RESULT_INIT;
	if (!plan_read_input(actor, body, FUZZ_NOW, &first, &r)) {
		FUZZ_CHECK(r.err == EVC_ERR_INVALID || r.err == EVC_ERR_FORBIDDEN);
		core_result_clear(&r);
		return;
	}
	json_t *again = fuzz_body_reload(plan_json(&first));
	FUZZ_CHECK(plan_read_input(actor, again, FUZZ_NOW, &second, &r2));
	fuzz_same_string(first.car_id, second.car_id, "car_id");
	fuzz_same_string(first.origin, second.origin, "origin");
	fuzz_same_string(first.destination, second.destination, "destination");
	fuzz_same_string(first.consumption_source, second.consumption_source, "consumption_source");
	fuzz_same_string(first.connector, second.connector, "connector");
	FUZZ_CHECK(first.departure == second.departure && first.max_options == second.max_options &&
		   first.offset == second.offset);
	FUZZ_CHECK(first.battery.capacity_kwh == second.battery.capacity_kwh &&
		   first.battery.consumption_kwh_per_100km == second.battery.consumption_kwh_per_100km);
	FUZZ_CHECK(close_to(first.battery.soc, second.battery.soc) && close_to(first.battery.min_soc, second.battery.min_soc) &&
		   close_to(first.battery.target_soc, second.battery.target_soc));
	json_decref(again);
}

/* The normalised windows ({station_id, start, stop}) as a batch body again. */
static void windows_round_trip(json_t *body)
{
	struct core_result r = CORE_RESULT_INIT, r2 = CORE_RESULT_INIT;
	json_t *first = plan_read_windows(body, &r);
	if (first == NULL) {
		FUZZ_CHECK(r.err == EVC_ERR_INVALID);
		core_result_clear(&r);
		return;
	}
	json_t *asked = json_array();
	size_t i;
	json_t *w;
	json_array_foreach(first, i, w)
		json_array_append_new(asked, json_pack("{s:O, s:O, s:O, s:O*}", "station_id", json_object_get(w, "station_id"),
						       "start", json_object_get(w, "start"), "end", json_object_get(w, "stop"),
						       "connector", json_object_get(w, "connector")));
	json_t *again = fuzz_body_reload(json_pack("{s:o}", "windows", asked));
	json_t *second = plan_read_windows(again, &r2);
	FUZZ_CHECK(second != NULL && json_equal(first, second));
	json_decref(first);
	json_decref(second);
	json_decref(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *body = fuzz_body_load((const char *)data, size);
	if (body == NULL)
		return 0;
	struct actor car = actor_car("car-7"), operator = actor_operator(FUZZ_COMPANY);
	plan_round_trip(&car, body);
	plan_round_trip(&operator, body);
	windows_round_trip(body);
	json_decref(body);
	return 0;
}
