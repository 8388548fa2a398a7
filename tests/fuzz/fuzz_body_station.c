/* POST /stations and PATCH /stations/{id} bodies: catalogue_station_read, round trip. */
#include "catalogue.h"
#include "fuzz_body.h"

/* The connectors' array literals ("{CCS2,Type2}", "{150.0,NULL}") as the body's list again. */
static json_t *connectors_again(const struct station_fields *f)
{
	char types[sizeof(f->connectors)], powers[sizeof(f->charger_power)];
	char *ts = NULL, *ps = NULL;
	snprintf(types, sizeof(types), "%s", f->connectors + 1);
	snprintf(powers, sizeof(powers), "%s", f->charger_power + 1);
	types[strcspn(types, "}")] = '\0';
	powers[strcspn(powers, "}")] = '\0';
	json_t *list = json_array();
	char *t = strtok_r(types, ",", &ts), *p = strtok_r(powers, ",", &ps);
	for (; t != NULL && p != NULL; t = strtok_r(NULL, ",", &ts), p = strtok_r(NULL, ",", &ps)) {
		json_t *c = json_pack("{s:s}", "type", t);
		if (strcmp(p, "NULL") != 0)
			json_object_set_new(c, "power_kw", json_real(strtod(p, NULL)));
		json_array_append_new(list, c);
	}
	FUZZ_CHECK(t == NULL && p == NULL && (int)json_array_size(list) == f->nconnectors);
	return list;
}

/* The normalised fields as a body again: the numbers from their normalised text. */
static json_t *normalised(const struct station_fields *f)
{
	json_t *n = json_object();
	if (f->id != NULL)
		json_object_set_new(n, "id", json_string(f->id));
	if (f->name != NULL)
		json_object_set_new(n, "name", json_string(f->name));
	if (f->city != NULL)
		json_object_set_new(n, "city", json_string(f->city));
	if (f->status != NULL)
		json_object_set_new(n, "status", json_string(f->status));
	if (f->has_lat)
		json_object_set_new(n, "lat", json_real(strtod(f->lat, NULL)));
	if (f->has_lon)
		json_object_set_new(n, "lon", json_real(strtod(f->lon, NULL)));
	if (f->has_chargers)
		json_object_set_new(n, "chargers", json_integer(strtoll(f->chargers, NULL, 10)));
	if (f->has_power)
		json_object_set_new(n, "power_kw", json_real(strtod(f->power_kw, NULL)));
	if (f->has_price)
		json_object_set_new(n, "price_per_kwh", json_real(strtod(f->price, NULL)));
	if (f->has_connectors)
		json_object_set_new(n, "connectors", connectors_again(f));
	return n;
}

static void same(const struct station_fields *a, const struct station_fields *b)
{
	fuzz_same_string(a->id, b->id, "id");
	fuzz_same_string(a->name, b->name, "name");
	fuzz_same_string(a->city, b->city, "city");
	fuzz_same_string(a->status, b->status, "status");
	fuzz_same_string(a->lat, b->lat, "lat");
	fuzz_same_string(a->lon, b->lon, "lon");
	fuzz_same_string(a->chargers, b->chargers, "chargers");
	fuzz_same_string(a->power_kw, b->power_kw, "power_kw");
	fuzz_same_string(a->price, b->price, "price_per_kwh");
	fuzz_same_string(a->connectors, b->connectors, "connectors");
	fuzz_same_string(a->charger_power, b->charger_power, "charger_power");
	FUZZ_CHECK(a->has_connectors == b->has_connectors && a->nconnectors == b->nconnectors);
	FUZZ_CHECK(a->has_lat == b->has_lat && a->has_lon == b->has_lon && a->has_chargers == b->has_chargers &&
		   a->has_power == b->has_power && a->has_price == b->has_price);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *body = fuzz_body_load((const char *)data, size);
	if (body == NULL)
		return 0;
	/* The same bytes as a creation and as a PATCH. */
	for (int create = 0; create < 2; create++) {
		const char *company = create ? FUZZ_COMPANY : NULL;
		struct station_fields first, second;
		struct jsonx_error err;
		if (!catalogue_station_read(body, company, &first, &err)) {
			FUZZ_CHECK(err.code != NULL && err.message[0] != '\0');
			continue;
		}
		json_t *again = fuzz_body_reload(normalised(&first));
		FUZZ_CHECK(catalogue_station_read(again, company, &second, &err));
		same(&first, &second);
		json_decref(again);
	}
	json_decref(body);
	return 0;
}
