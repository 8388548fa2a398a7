/* Car tokens: what one company signs, every company can check, and nothing else passes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "cartoken.h"

#define NOW INT64_C(1795420800) /* 2026-11-23T08:00:00Z */

static const unsigned char seed_a[CARTOKEN_SEED_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
							 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32 };

static struct cartoken_claims sample_claims(void)
{
	struct cartoken_claims c;
	memset(&c, 0, sizeof(c));
	strcpy(c.issuer, "acme-charge");
	strcpy(c.car_id, "WVW_ZZZ.1:K-2");
	c.issued_at = NOW - 60;
	c.expires_at = NOW + 3600;
	return c;
}

static void sign_sample(const unsigned char *seed, struct cartoken_claims *c, char token[CARTOKEN_MAX])
{
	if (!cartoken_sign(seed, c, token, CARTOKEN_MAX))
		fail_msg("cartoken_sign refused the sample claims");
}

/* Unpadded base64url, the test's own, so the format is checked from outside the module. */
static void b64url(const unsigned char *in, size_t n, char *out)
{
	int len = EVP_EncodeBlock((unsigned char *)out, in, (int)n);
	while (len > 0 && out[len - 1] == '=')
		len--;
	out[len] = '\0';
	for (char *p = out; *p; p++)
		*p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
}

/* A token with any payload text, signed by seed as an issuer would: only the payload can be at fault. */
static void forge(const unsigned char *seed, const char *json, char out[1024])
{
	unsigned char sig[64];
	size_t sig_len = sizeof(sig);
	strcpy(out, "evc1.");
	b64url((const unsigned char *)json, strlen(json), out + 5);
	EVP_PKEY *key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, CARTOKEN_SEED_LEN);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	assert_non_null(key);
	assert_non_null(ctx);
	assert_int_equal(EVP_DigestSignInit(ctx, NULL, NULL, NULL, key), 1);
	assert_int_equal(EVP_DigestSign(ctx, sig, &sig_len, (unsigned char *)out, strlen(out)), 1);
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(key);
	strcat(out, ".");
	b64url(sig, sig_len, out + strlen(out));
}

static void round_trip(void **state)
{
	(void)state;
	unsigned char seed[CARTOKEN_SEED_LEN], pub[CARTOKEN_PUBLIC_LEN];
	char token[CARTOKEN_MAX];
	struct cartoken_claims in = sample_claims(), out;
	assert_true(cartoken_keygen(seed));
	assert_true(cartoken_public_key(seed, pub));
	sign_sample(seed, &in, token);
	assert_int_equal(strlen(in.jti), 32);
	assert_int_equal(strncmp(token, "evc1.", 5), 0);
	assert_int_equal(cartoken_verify(token, pub, NOW, &out), CARTOKEN_VALID);
	assert_string_equal(out.issuer, in.issuer);
	assert_string_equal(out.car_id, in.car_id);
	assert_string_equal(out.jti, in.jti);
	assert_int_equal(out.issued_at, in.issued_at);
	assert_int_equal(out.expires_at, in.expires_at);
}

static void format_is_the_documented_one(void **state)
{
	(void)state;
	char token[CARTOKEN_MAX], forged[1024];
	struct cartoken_claims c = sample_claims();
	strcpy(c.jti, "0123456789abcdef0123456789abcdef");
	sign_sample(seed_a, &c, token);
	assert_string_equal(c.jti, "0123456789abcdef0123456789abcdef");
	/* Ed25519 is deterministic: the same text signed by hand gives the same token. */
	forge(seed_a, "{\"iss\":\"acme-charge\",\"car\":\"WVW_ZZZ.1:K-2\",\"iat\":1795420740,\"exp\":1795424400,"
		      "\"jti\":\"0123456789abcdef0123456789abcdef\"}",
	      forged);
	assert_string_equal(token, forged);
}

static void other_key_is_bad_signature(void **state)
{
	(void)state;
	unsigned char seed_b[CARTOKEN_SEED_LEN], pub_b[CARTOKEN_PUBLIC_LEN];
	char token[CARTOKEN_MAX];
	struct cartoken_claims c = sample_claims(), out;
	memset(&out, 0x5a, sizeof(out));
	struct cartoken_claims untouched = out;
	assert_true(cartoken_keygen(seed_b));
	assert_true(cartoken_public_key(seed_b, pub_b));
	sign_sample(seed_a, &c, token);
	assert_int_equal(cartoken_verify(token, pub_b, NOW, &out), CARTOKEN_BAD_SIGNATURE);
	assert_memory_equal(&out, &untouched, sizeof(out));
}

static void every_one_character_change_fails(void **state)
{
	(void)state;
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.";
	unsigned char pub[CARTOKEN_PUBLIC_LEN];
	char token[CARTOKEN_MAX], changed[CARTOKEN_MAX];
	struct cartoken_claims c = sample_claims();
	assert_true(cartoken_public_key(seed_a, pub));
	sign_sample(seed_a, &c, token);
	size_t len = strlen(token);
	for (size_t i = 0; i < len; i++) {
		size_t at = (size_t)(strchr(alphabet, token[i]) - alphabet);
		/* The next character (flips the lowest bit, the one strict decoding must catch), one far away, and '.'. */
		const char repl[] = { alphabet[(at + 1) % 64], alphabet[(at + 32) % 64], '.' };
		for (size_t k = 0; k < sizeof(repl); k++) {
			if (repl[k] == token[i])
				continue;
			memcpy(changed, token, len + 1);
			changed[i] = repl[k];
			enum cartoken_status s = cartoken_verify(changed, pub, NOW, NULL);
			if (s == CARTOKEN_VALID)
				fail_msg("changing position %zu to '%c' left the token valid", i, repl[k]);
		}
	}
	assert_int_equal(cartoken_verify(token, pub, NOW, NULL), CARTOKEN_VALID);
}

static void expiry_and_not_before(void **state)
{
	(void)state;
	unsigned char pub[CARTOKEN_PUBLIC_LEN];
	char token[CARTOKEN_MAX];
	struct cartoken_claims c = sample_claims();
	assert_true(cartoken_public_key(seed_a, pub));
	sign_sample(seed_a, &c, token);
	assert_int_equal(cartoken_verify(token, pub, c.expires_at - 1, NULL), CARTOKEN_VALID);
	assert_int_equal(cartoken_verify(token, pub, c.expires_at, NULL), CARTOKEN_EXPIRED);
	assert_int_equal(cartoken_verify(token, pub, c.expires_at + 86400, NULL), CARTOKEN_EXPIRED);
	/* The verifier's clock may be up to CARTOKEN_SKEW behind the issuer's. */
	assert_int_equal(cartoken_verify(token, pub, c.issued_at - CARTOKEN_SKEW, NULL), CARTOKEN_VALID);
	assert_int_equal(cartoken_verify(token, pub, c.issued_at - CARTOKEN_SKEW - 1, NULL), CARTOKEN_NOT_YET_VALID);

	struct cartoken_claims future = sample_claims();
	future.issued_at = NOW + 86400;
	future.expires_at = NOW + 2 * 86400;
	sign_sample(seed_a, &future, token);
	assert_int_equal(cartoken_verify(token, pub, NOW, NULL), CARTOKEN_NOT_YET_VALID);
}

static void assert_malformed(const char *token, const unsigned char pub[CARTOKEN_PUBLIC_LEN], const char *what)
{
	struct cartoken_claims c;
	enum cartoken_status s = cartoken_verify(token, pub, NOW, &c);
	if (s != CARTOKEN_MALFORMED)
		fail_msg("%s: %s instead of malformed", what, cartoken_status_text(s));
	if (cartoken_peek(token, &c) != CARTOKEN_MALFORMED)
		fail_msg("%s: peek accepted it", what);
}

static void malformed_shapes(void **state)
{
	(void)state;
	unsigned char pub[CARTOKEN_PUBLIC_LEN];
	char token[CARTOKEN_MAX], bad[CARTOKEN_MAX + 64];
	struct cartoken_claims c = sample_claims();
	assert_true(cartoken_public_key(seed_a, pub));
	sign_sample(seed_a, &c, token);
	size_t len = strlen(token);
	const char *dot = strrchr(token, '.');

	assert_malformed(NULL, pub, "NULL");
	assert_malformed("", pub, "empty");
	snprintf(bad, sizeof(bad), "%.*s", (int)len - 1, token);
	assert_malformed(bad, pub, "last character cut");
	snprintf(bad, sizeof(bad), "%.*s", (int)len / 2, token);
	assert_malformed(bad, pub, "cut in half");
	snprintf(bad, sizeof(bad), "%.*s", (int)(dot - token), token);
	assert_malformed(bad, pub, "2 parts");
	snprintf(bad, sizeof(bad), "%s.AAAA", token);
	assert_malformed(bad, pub, "4 parts");
	snprintf(bad, sizeof(bad), "%.*s.%s", (int)(dot - token), token, dot);
	assert_malformed(bad, pub, "empty part");
	snprintf(bad, sizeof(bad), "evc2%s", token + 4);
	assert_malformed(bad, pub, "other version");
	memset(bad, 'A', CARTOKEN_MAX);
	bad[CARTOKEN_MAX] = '\0';
	memcpy(bad, token, len);
	assert_malformed(bad, pub, "too long");
	memcpy(bad, token, len + 1);
	bad[len - 1] = '=';
	assert_malformed(bad, pub, "padding");
	memcpy(bad, token, len + 1);
	bad[10] = '+';
	assert_malformed(bad, pub, "base64 '+'");
	memcpy(bad, token, len + 1);
	bad[10] = '/';
	assert_malformed(bad, pub, "base64 '/'");
	memcpy(bad, token, len + 1);
	bad[len - 3] = ' ';
	assert_malformed(bad, pub, "space");
	snprintf(bad, sizeof(bad), "evc1.A%s", dot);
	assert_malformed(bad, pub, "base64 of impossible length");
	memcpy(bad, token, len + 1);
	bad[len - 1] = (char)0xc3;
	assert_malformed(bad, pub, "non-ASCII byte");
}

/* Payloads a careless issuer could really sign: the signature is fine, the claims are not. */
static void malformed_payloads(void **state)
{
	(void)state;
	static const struct {
		const char *json, *what;
	} cases[] = {
		{ "not json", "non-JSON payload" },
		{ "[1,2,3]", "array" },
		{ "{}", "empty object" },
		{ "{\"iss\":\"acme\",\"car\":\"c1\",\"iat\":1795420740,\"exp\":1795424400,\"jti\":\"0123456789abcdef0123456789abcdef\","
		  "\"iss\":\"evil\"}",
		  "duplicate key" },
		{ "{\"iss\":\"acme\",\"car\":\"c1\",\"iat\":1795420740,\"exp\":1795424400,\"jti\":\"0123456789abcdef0123456789abcdef\","
		  "\"admin\":true}",
		  "extra key" },
		{ "{\"iss\":\"acme\",\"car\":\"c1\",\"iat\":1795420740,\"exp\":1795424400}", "missing jti" },
		{ "{\"iss\":\"acme\",\"car\":\"c1\",\"iat\":\"1795420740\",\"exp\":1795424400,\"jti\":\"0123456789abcdef0123456789abcdef\"}",
		  "iat as string" },
		{ "{\"iss\":\"acme\",\"car\":\"c1\",\"iat\":1795420740.0,\"exp\":1795424400,\"jti\":\"0123456789abcdef0123456789abcdef\"}",
		  "iat as real" },
		{ "{\"iss\":7,\"car\":\"c1\",\"iat\":1795420740,\"exp\":1795424400,\"jti\":\"0123456789abcdef0123456789abcdef\"}",
		  "iss as number" },
		{ "{\"iss\":\"acme\",\"car\":null,\"iat\":1795420740,\"exp\":1795424400,\"jti\":\"0123456789abcdef0123456789abcdef\"}",
		  "car null" },
		{ "{\"iss\":\"Acme\",\"car\":\"c1\",\"iat\":1795420740,\"exp\":1795424400,\"jti\":\"0123456789abcdef0123456789abcdef\"}",
		  "issuer with uppercase" },
		{ "{\"iss\":\"\",\"car\":\"c1\",\"iat\":1795420740,\"exp\":1795424400,\"jti\":\"0123456789abcdef0123456789abcdef\"}",
		  "empty issuer" },
		{ "{\"iss\":\"acme\",\"car\":\"c 1\",\"iat\":1795420740,\"exp\":1795424400,\"jti\":\"0123456789abcdef0123456789abcdef\"}",
		  "car id with a space" },
		{ "{\"iss\":\"acme\",\"car\":\"c\\u00001\",\"iat\":1795420740,\"exp\":1795424400,\"jti\":\"0123456789abcdef0123456789abcdef\"}",
		  "car id with NUL" },
		{ "{\"iss\":\"acme\",\"car\":\"c1\",\"iat\":1795420740,\"exp\":1795424400,\"jti\":\"0123456789ABCDEF0123456789ABCDEF\"}",
		  "jti uppercase" },
		{ "{\"iss\":\"acme\",\"car\":\"c1\",\"iat\":1795420740,\"exp\":1795424400,\"jti\":\"0123456789abcdef\"}",
		  "jti short" },
		{ "{\"iss\":\"acme\",\"car\":\"c1\",\"iat\":946684799,\"exp\":1795424400,\"jti\":\"0123456789abcdef0123456789abcdef\"}",
		  "iat before 2000" },
		{ "{\"iss\":\"acme\",\"car\":\"c1\",\"iat\":1795420740,\"exp\":4102444801,\"jti\":\"0123456789abcdef0123456789abcdef\"}",
		  "exp after 2100" },
		{ "{\"iss\":\"acme\",\"car\":\"c1\",\"iat\":1795420740,\"exp\":1795420740,\"jti\":\"0123456789abcdef0123456789abcdef\"}",
		  "exp == iat" },
		{ "{\"iss\":\"acme\",\"car\":\"c1\",\"iat\":1795420740,\"exp\":99999999999999999999999,\"jti\":\"0123456789abcdef0123456789abcdef\"}",
		  "exp overflowing" },
	};
	unsigned char pub[CARTOKEN_PUBLIC_LEN];
	char token[1024];
	assert_true(cartoken_public_key(seed_a, pub));
	/* The forger itself makes valid tokens, so each refusal below is about its payload. */
	forge(seed_a, "{\"iss\":\"acme\",\"car\":\"c1\",\"iat\":1795420740,\"exp\":1795424400,\"jti\":\"0123456789abcdef0123456789abcdef\"}",
	      token);
	assert_int_equal(cartoken_verify(token, pub, NOW, NULL), CARTOKEN_VALID);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		forge(seed_a, cases[i].json, token);
		assert_malformed(token, pub, cases[i].what);
	}
}

static void sign_refuses_bad_claims(void **state)
{
	(void)state;
	char token[CARTOKEN_MAX];
	struct cartoken_claims c = sample_claims();
	strcpy(c.issuer, "ACME");
	assert_false(cartoken_sign(seed_a, &c, token, sizeof(token)));
	assert_string_equal(token, "");
	c = sample_claims();
	strcpy(c.car_id, "car 1");
	assert_false(cartoken_sign(seed_a, &c, token, sizeof(token)));
	c = sample_claims();
	c.expires_at = c.issued_at;
	assert_false(cartoken_sign(seed_a, &c, token, sizeof(token)));
	c = sample_claims();
	strcpy(c.jti, "xyz");
	assert_false(cartoken_sign(seed_a, &c, token, sizeof(token)));
	c = sample_claims();
	assert_false(cartoken_sign(seed_a, &c, token, 100));
	assert_string_equal(c.jti, "");
	/* The longest claims the rules allow still fit. */
	memset(c.issuer, 'z', CARTOKEN_ISSUER_MAX);
	memset(c.car_id, 'Z', CARTOKEN_CAR_MAX);
	c.issued_at = 4102444799;
	c.expires_at = 4102444800;
	assert_true(cartoken_sign(seed_a, &c, token, sizeof(token)));
	assert_true(strlen(token) < CARTOKEN_MAX);
}

static void public_key_text(void **state)
{
	(void)state;
	unsigned char pub[CARTOKEN_PUBLIC_LEN], back[CARTOKEN_PUBLIC_LEN];
	char text[CARTOKEN_PUBLIC_B64_LEN], bad[64];
	assert_true(cartoken_public_key(seed_a, pub));
	cartoken_public_to_text(pub, text);
	assert_int_equal(strlen(text), CARTOKEN_PUBLIC_B64_LEN - 1);
	assert_true(cartoken_public_from_text(text, back));
	assert_memory_equal(pub, back, sizeof(pub));

	assert_false(cartoken_public_from_text("", back));
	assert_false(cartoken_public_from_text(NULL, back));
	snprintf(bad, sizeof(bad), "%.42s", text);
	assert_false(cartoken_public_from_text(bad, back));
	snprintf(bad, sizeof(bad), "%sA", text);
	assert_false(cartoken_public_from_text(bad, back));
	snprintf(bad, sizeof(bad), "%s=", text);
	assert_false(cartoken_public_from_text(bad, back));
	snprintf(bad, sizeof(bad), "%.42s+", text);
	assert_false(cartoken_public_from_text(bad, back));
	/* 43 chars carry 258 bits: the last 2 must be zero. */
	snprintf(bad, sizeof(bad), "%.42s%c", text, text[42] == 'B' ? 'C' : 'B');
	assert_false(cartoken_public_from_text(bad, back));
}

static void peek_reads_issuer_without_key(void **state)
{
	(void)state;
	char token[CARTOKEN_MAX];
	struct cartoken_claims c = sample_claims(), seen;
	sign_sample(seed_a, &c, token);
	assert_int_equal(cartoken_peek(token, &seen), CARTOKEN_VALID);
	assert_string_equal(seen.issuer, "acme-charge");
	assert_string_equal(seen.car_id, c.car_id);
	assert_string_equal(seen.jti, c.jti);
	assert_int_equal(cartoken_peek("evc1.e30.AAAA", &seen), CARTOKEN_MALFORMED);
}

static void status_texts(void **state)
{
	(void)state;
	assert_string_equal(cartoken_status_text(CARTOKEN_VALID), "valid");
	assert_string_equal(cartoken_status_text(CARTOKEN_MALFORMED), "malformed");
	assert_string_equal(cartoken_status_text(CARTOKEN_BAD_SIGNATURE), "bad_signature");
	assert_string_equal(cartoken_status_text(CARTOKEN_EXPIRED), "expired");
	assert_string_equal(cartoken_status_text(CARTOKEN_NOT_YET_VALID), "not_yet_valid");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip),
		cmocka_unit_test(format_is_the_documented_one),
		cmocka_unit_test(other_key_is_bad_signature),
		cmocka_unit_test(every_one_character_change_fails),
		cmocka_unit_test(expiry_and_not_before),
		cmocka_unit_test(malformed_shapes),
		cmocka_unit_test(malformed_payloads),
		cmocka_unit_test(sign_refuses_bad_claims),
		cmocka_unit_test(public_key_text),
		cmocka_unit_test(peek_reads_issuer_without_key),
		cmocka_unit_test(status_texts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
