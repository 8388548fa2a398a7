/*
 * MQTT request payloads (cars/<car>/req): mqtt_bridge_read_request, the
 * envelope the bridge reads, round trip; then the core's reader of that type
 * (reserve: trips_read_legs, waitlist: waitlist_read_join, plan:
 * plan_read_input as the car), as the bridge hands the input to the core.
 */
#include "fuzz_body.h"
#include "mqtt_bridge.h"
#include "plan.h"
#include "trips.h"
#include "waitlist.h"

/* The core's reader for the request's type: it may refuse, never crash or leak. */
static void core_read(const char *type, json_t *input)
{
	struct core_result r = CORE_RESULT_INIT;
	struct actor car = actor_car("car-7");
	if (strcmp(type, "reserve") == 0) {
		json_t *legs = json_array(), *participants = json_array();
		(void)trips_read_legs(&fuzz_cfg, input, FUZZ_NOW, legs, participants, &r);
		json_decref(legs);
		json_decref(participants);
	} else if (strcmp(type, "waitlist") == 0) {
		struct waitlist_request w;
		(void)waitlist_read_join(&fuzz_cfg, input, FUZZ_NOW, &w, &r);
	} else if (strcmp(type, "plan") == 0) {
		struct plan_input p;
		(void)plan_read_input(&car, input, FUZZ_NOW, &p, &r);
	}
	core_result_clear(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The bridge keeps a payload NUL-terminated and reads it up to its first NUL. */
	char *payload = malloc(size + 1);
	if (payload == NULL)
		return 0;
	memcpy(payload, data, size);
	payload[size] = '\0';
	struct mqtt_bridge_request first, second;
	if (!mqtt_bridge_read_request(payload, strlen(payload), &first)) {
		FUZZ_CHECK(first.code != NULL && first.message[0] != '\0' && first.input == NULL);
	} else {
		FUZZ_CHECK(first.code == NULL && json_object_get(first.input, "type") == NULL &&
			   json_object_get(first.input, "request_id") == NULL);
		json_t *again = json_deep_copy(first.input);
		json_object_set_new(again, "type", json_string(first.type));
		json_object_set_new(again, "request_id", json_string(first.request_id));
		char *text = json_dumps(again, JSON_COMPACT | JSON_SORT_KEYS);
		json_decref(again);
		FUZZ_CHECK(text != NULL && mqtt_bridge_read_request(text, strlen(text), &second));
		fuzz_same_string(first.type, second.type, "type");
		fuzz_same_string(first.request_id, second.request_id, "request_id");
		FUZZ_CHECK(json_equal(first.input, second.input));
		core_read(first.type, first.input);
		mqtt_bridge_request_clear(&second);
		free(text);
	}
	mqtt_bridge_request_clear(&first);
	free(payload);
	return 0;
}
