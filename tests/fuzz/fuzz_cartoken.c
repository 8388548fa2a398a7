/*
 * Car tokens: any bytes in, a status out, never a crash. The first byte picks
 * how the rest is used, so the fuzzer also reaches the claims parser behind a
 * good signature without having to guess base64 or Ed25519:
 *   0  the bytes are the token
 *   1  the bytes are the payload JSON, with a signature of junk
 *   2  the bytes are the payload JSON, signed with the fixed key
 */
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cartoken.h"

#define NOW INT64_C(1795420800)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const unsigned char seed[CARTOKEN_SEED_LEN] = { 42, 42, 42, 42, 42, 42, 42, 42, 42, 42, 42,
						       42, 42, 42, 42, 42, 42, 42, 42, 42, 42, 42,
						       42, 42, 42, 42, 42, 42, 42, 42, 42, 42 };

static void b64url_append(char *out, const unsigned char *in, size_t n)
{
	char *p = out + strlen(out);
	int len = EVP_EncodeBlock((unsigned char *)p, in, (int)n);
	while (len > 0 && p[len - 1] == '=')
		len--;
	p[len] = '\0';
	for (; *p; p++)
		*p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
}

static void sign_into(char *token)
{
	unsigned char sig[64];
	size_t sig_len = sizeof(sig);
	EVP_PKEY *key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, sizeof(seed));
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (key == NULL || ctx == NULL || EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) != 1 ||
	    EVP_DigestSign(ctx, sig, &sig_len, (unsigned char *)token, strlen(token)) != 1)
		abort();
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(key);
	strcat(token, ".");
	b64url_append(token, sig, sig_len);
}

/* Builds the token for data per the mode; the caller frees it. */
static char *make_token(uint8_t mode, const uint8_t *data, size_t size)
{
	if (mode == 0) {
		char *token = malloc(size + 1);
		if (token != NULL) {
			memcpy(token, data, size);
			token[size] = '\0';
		}
		return token;
	}
	if (size > 1024)
		size = 1024;
	char *token = malloc(size / 3 * 4 + 4 + 128);
	if (token == NULL)
		return NULL;
	strcpy(token, "evc1.");
	b64url_append(token, data, size);
	if (mode == 2) {
		sign_into(token);
	} else {
		unsigned char junk[64];
		memset(junk, 0x5a, sizeof(junk));
		strcat(token, ".");
		b64url_append(token, junk, sizeof(junk));
	}
	return token;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned char pub[CARTOKEN_PUBLIC_LEN];
	static int have_pub;
	if (!have_pub) {
		if (!cartoken_public_key(seed, pub))
			abort();
		have_pub = 1;
	}
	if (size == 0)
		return 0;
	uint8_t mode = data[0] % 3;
	char *token = make_token(mode, data + 1, size - 1);
	if (token == NULL)
		return 0;
	struct cartoken_claims peeked, verified;
	enum cartoken_status p = cartoken_peek(token, &peeked);
	enum cartoken_status v = cartoken_verify(token, pub, NOW, &verified);
	/* Peek and verify agree on the format; a token this target signed never has a bad signature. */
	if ((p == CARTOKEN_MALFORMED) != (v == CARTOKEN_MALFORMED))
		abort();
	if (mode == 2 && v == CARTOKEN_BAD_SIGNATURE)
		abort();
	if (p == CARTOKEN_VALID) {
		if (strlen(peeked.issuer) < 1 || strlen(peeked.issuer) > CARTOKEN_ISSUER_MAX ||
		    strlen(peeked.car_id) < 1 || strlen(peeked.car_id) > CARTOKEN_CAR_MAX ||
		    strlen(peeked.jti) != CARTOKEN_JTI_LEN - 1 || peeked.expires_at <= peeked.issued_at)
			abort();
		/* Whatever parses can be signed again as it is. */
		char again[CARTOKEN_MAX];
		if (!cartoken_sign(seed, &peeked, again, sizeof(again)))
			abort();
	}
	if (v == CARTOKEN_VALID &&
	    (strcmp(peeked.issuer, verified.issuer) != 0 || strcmp(peeked.car_id, verified.car_id) != 0 ||
	     strcmp(peeked.jti, verified.jti) != 0 || peeked.issued_at != verified.issued_at ||
	     peeked.expires_at != verified.expires_at))
		abort();
	free(token);
	return 0;
}
