/* POST /federation/peers bodies (a company registering): federation_read_registration, round trip. */
#include "federation.h"
#include "fuzz_body.h"
#include "validate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *body = fuzz_body_load((const char *)data, size);
	if (body == NULL)
		return 0;
	struct federation_registration first, second;
	struct jsonx_error err;
	if (federation_read_registration(body, FUZZ_COMPANY, &first, &err)) {
		FUZZ_CHECK(validate_company_id(first.id) && strcmp(first.id, FUZZ_COMPANY) != 0 &&
			   strlen(first.token) >= 32 && strlen(first.token) < FEDERATION_TOKEN_MAX &&
			   strpbrk(first.url, "\r\n \"<>") == NULL);
		json_t *again = fuzz_body_reload(json_pack("{s:s, s:s, s:s}", "id", first.id, "url", first.url, "token",
							   first.token));
		FUZZ_CHECK(federation_read_registration(again, FUZZ_COMPANY, &second, &err));
		fuzz_same_string(first.id, second.id, "id");
		fuzz_same_string(first.url, second.url, "url");
		fuzz_same_string(first.token, second.token, "token");
		json_decref(again);
	} else {
		FUZZ_CHECK(err.code != NULL && err.message[0] != '\0');
	}
	json_decref(body);
	return 0;
}
