/*
 * POST /federation/prepare bodies (a peer's vote request): twopc_read_prepare,
 * round trip; and the gid of POST /federation/commit and /abort bodies.
 */
#include "fuzz_body.h"
#include "twopc.h"
#include "validate.h"

/* A read prepare as a body again: its normalised legs stand for the legs sent. */
static json_t *normalised(const struct twopc_prepare_request *q)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:O}", "gid", q->gid, "trip_id", q->trip_id, "coordinator",
			 q->coordinator, "op", q->op, "car_id", q->car_id, "legs", q->legs);
}

static void prepare_round_trip(json_t *body)
{
	struct twopc_prepare_request first, second;
	struct peer_response out;
	if (!twopc_read_prepare(&fuzz_cfg, body, FUZZ_NOW, &first, &out)) {
		FUZZ_CHECK(out.status == 400 && first.legs == NULL);
		json_decref(out.body);
		return;
	}
	json_t *again = fuzz_body_reload(normalised(&first));
	FUZZ_CHECK(twopc_read_prepare(&fuzz_cfg, again, FUZZ_NOW, &second, &out));
	fuzz_same_string(first.gid, second.gid, "gid");
	fuzz_same_string(first.trip_id, second.trip_id, "trip_id");
	fuzz_same_string(first.coordinator, second.coordinator, "coordinator");
	fuzz_same_string(first.op, second.op, "op");
	fuzz_same_string(first.car_id, second.car_id, "car_id");
	FUZZ_CHECK(json_equal(first.legs, second.legs));
	json_decref(first.legs);
	json_decref(second.legs);
	json_decref(again);
}

/* Commit and abort: {"gid"}; a parsed gid names a valid coordinator and trip, and parses again the same. */
static void finish_gid(json_t *body)
{
	const char *gid = json_string_value(json_object_get(body, "gid"));
	char coordinator[VALIDATE_COMPANY_MAX + 1], trip[37], coordinator2[VALIDATE_COMPANY_MAX + 1], trip2[37];
	if (gid == NULL || !twopc_gid_parse(gid, coordinator, sizeof(coordinator), trip))
		return;
	FUZZ_CHECK(validate_company_id(coordinator) && validate_uuid(trip));
	json_t *again = fuzz_body_reload(json_pack("{s:s}", "gid", gid));
	FUZZ_CHECK(twopc_gid_parse(json_string_value(json_object_get(again, "gid")), coordinator2, sizeof(coordinator2),
				   trip2));
	fuzz_same_string(coordinator, coordinator2, "coordinator");
	fuzz_same_string(trip, trip2, "trip_id");
	json_decref(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *body = fuzz_body_load((const char *)data, size);
	if (body == NULL)
		return 0;
	prepare_round_trip(body);
	finish_gid(body);
	json_decref(body);
	return 0;
}
