#include "cartoken.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#define PREFIX "evc1."
#define PREFIX_LEN (sizeof(PREFIX) - 1)
#define SIG_LEN 64
#define SIG_B64_LEN 86 /* unpadded base64url of 64 bytes */
#define TIME_MIN INT64_C(946684800)  /* 2000-01-01T00:00:00Z */
#define TIME_MAX INT64_C(4102444800) /* 2100-01-01T00:00:00Z */
#define PAYLOAD_MAX 256              /* the longest valid compact payload is 190 bytes */

static const char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

static size_t b64_encoded_len(size_t n)
{
	return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

/* Writes the unpadded base64url of in[0..n) and a NUL; out holds b64_encoded_len(n) + 1. */
static void b64_encode(const unsigned char *in, size_t n, char *out)
{
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		acc = (acc << 8 | in[i]) & 0xffffu;
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			out[o++] = b64_alphabet[(acc >> bits) & 0x3f];
		}
	}
	if (bits > 0)
		out[o++] = b64_alphabet[(acc << (6 - bits)) & 0x3f];
	out[o] = '\0';
}

/*
 * Strict decoding of in[0..len): alphabet only, no padding, a length an encoding
 * can have and zero unused bits. Each byte string then has exactly one text, so
 * no changed character can decode to the same bytes.
 */
static bool b64_decode(const char *in, size_t len, unsigned char *out, size_t cap, size_t *out_len)
{
	if (len % 4 == 1 || len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0) > cap)
		return false;
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		int v = b64_value((unsigned char)in[i]);
		if (v < 0)
			return false;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
		}
		acc &= (1u << bits) - 1;
	}
	if (acc != 0)
		return false;
	*out_len = o;
	return true;
}

/* True when s (len bytes, no NUL needed) is 1 to max characters, each in allowed. */
static bool made_of(const char *s, size_t len, size_t max, const char *allowed)
{
	if (len < 1 || len > max)
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] == '\0' || strchr(allowed, s[i]) == NULL)
			return false;
	return true;
}

static bool is_issuer(const char *s, size_t len)
{
	return made_of(s, len, CARTOKEN_ISSUER_MAX, "abcdefghijklmnopqrstuvwxyz0123456789-");
}

static bool is_car_id(const char *s, size_t len)
{
	return made_of(s, len, CARTOKEN_CAR_MAX,
		       "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:-");
}

static bool is_jti(const char *s, size_t len)
{
	if (len != CARTOKEN_JTI_LEN - 1)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return true;
}

static bool times_ok(int64_t iat, int64_t exp)
{
	return iat >= TIME_MIN && iat <= TIME_MAX && exp >= TIME_MIN && exp <= TIME_MAX && exp > iat;
}

/* The rules of the header, on claims a caller built (buffers may lack their NUL). */
static bool claims_ok(const struct cartoken_claims *c)
{
	return is_issuer(c->issuer, strnlen(c->issuer, sizeof(c->issuer))) &&
	       is_car_id(c->car_id, strnlen(c->car_id, sizeof(c->car_id))) &&
	       is_jti(c->jti, strnlen(c->jti, sizeof(c->jti))) && times_ok(c->issued_at, c->expires_at);
}

/* Copies obj[key] into dst (dst_size bytes) when it is a string that check accepts. */
static bool take_string(json_t *obj, const char *key, bool (*check)(const char *, size_t), char *dst,
			size_t dst_size)
{
	json_t *v = json_object_get(obj, key);
	if (!json_is_string(v))
		return false;
	size_t len = json_string_length(v);
	if (len >= dst_size || !check(json_string_value(v), len))
		return false;
	memcpy(dst, json_string_value(v), len);
	dst[len] = '\0';
	return true;
}

static bool take_time(json_t *obj, const char *key, int64_t *out)
{
	json_t *v = json_object_get(obj, key);
	if (!json_is_integer(v))
		return false;
	json_int_t t = json_integer_value(v);
	if (t < TIME_MIN || t > TIME_MAX)
		return false;
	*out = (int64_t)t;
	return true;
}

/* Parses the decoded payload into out (written even on failure: pass a scratch copy). */
static bool claims_from_json(const unsigned char *json, size_t len, struct cartoken_claims *out)
{
	bool ok = false;
	json_error_t err;
	json_t *root = json_loadb((const char *)json, len, JSON_REJECT_DUPLICATES, &err);
	if (!json_is_object(root) || json_object_size(root) != 5)
		goto cleanup;
	if (!take_string(root, "iss", is_issuer, out->issuer, sizeof(out->issuer)) ||
	    !take_string(root, "car", is_car_id, out->car_id, sizeof(out->car_id)) ||
	    !take_string(root, "jti", is_jti, out->jti, sizeof(out->jti)) ||
	    !take_time(root, "iat", &out->issued_at) || !take_time(root, "exp", &out->expires_at))
		goto cleanup;
	ok = out->expires_at > out->issued_at;
cleanup:
	json_decref(root);
	return ok;
}

/*
 * Checks the shape of token and reads its claims and signature. On success
 * *signed_len is the length of the signed prefix "evc1.<payload>".
 */
static bool parse(const char *token, struct cartoken_claims *claims, unsigned char sig[SIG_LEN],
		  size_t *signed_len)
{
	if (token == NULL)
		return false;
	size_t len = strnlen(token, CARTOKEN_MAX);
	if (len >= CARTOKEN_MAX || len <= PREFIX_LEN || memcmp(token, PREFIX, PREFIX_LEN) != 0)
		return false;
	const char *dot = NULL;
	for (size_t i = PREFIX_LEN; i < len; i++) {
		if (token[i] == '.') {
			if (dot != NULL)
				return false;
			dot = token + i;
		} else if (b64_value((unsigned char)token[i]) < 0) {
			return false;
		}
	}
	if (dot == NULL)
		return false;
	const char *payload = token + PREFIX_LEN, *sig_text = dot + 1;
	size_t payload_len = (size_t)(dot - payload), sig_text_len = len - (size_t)(sig_text - token);
	unsigned char json[PAYLOAD_MAX];
	size_t json_len, sig_len;
	if (payload_len == 0 || !b64_decode(payload, payload_len, json, sizeof(json), &json_len) ||
	    !claims_from_json(json, json_len, claims))
		return false;
	if (sig_text_len != SIG_B64_LEN || !b64_decode(sig_text, sig_text_len, sig, SIG_LEN, &sig_len) ||
	    sig_len != SIG_LEN)
		return false;
	*signed_len = (size_t)(dot - token);
	return true;
}

static bool ed25519_sign(const unsigned char seed[CARTOKEN_SEED_LEN], const char *msg, size_t msg_len,
			 unsigned char sig[SIG_LEN])
{
	bool ok = false;
	EVP_PKEY *key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, CARTOKEN_SEED_LEN);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t sig_len = SIG_LEN;
	if (key == NULL || ctx == NULL || EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) != 1 ||
	    EVP_DigestSign(ctx, sig, &sig_len, (const unsigned char *)msg, msg_len) != 1 || sig_len != SIG_LEN)
		goto cleanup;
	ok = true;
cleanup:
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(key);
	if (!ok)
		ERR_clear_error();
	return ok;
}

static bool ed25519_verify(const unsigned char pub[CARTOKEN_PUBLIC_LEN], const char *msg, size_t msg_len,
			   const unsigned char sig[SIG_LEN])
{
	bool ok = false;
	EVP_PKEY *key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, CARTOKEN_PUBLIC_LEN);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (key == NULL || ctx == NULL || EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) != 1 ||
	    EVP_DigestVerify(ctx, sig, SIG_LEN, (const unsigned char *)msg, msg_len) != 1)
		goto cleanup;
	ok = true;
cleanup:
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(key);
	/* A bad signature leaves an error queued; it is an answer, not a fault to report. */
	if (!ok)
		ERR_clear_error();
	return ok;
}

bool cartoken_keygen(unsigned char seed[CARTOKEN_SEED_LEN])
{
	ssize_t n;
	do {
		n = getrandom(seed, CARTOKEN_SEED_LEN, 0);
	} while (n < 0 && errno == EINTR);
	return n == CARTOKEN_SEED_LEN;
}

bool cartoken_public_key(const unsigned char seed[CARTOKEN_SEED_LEN], unsigned char pub[CARTOKEN_PUBLIC_LEN])
{
	bool ok = false;
	size_t len = CARTOKEN_PUBLIC_LEN;
	EVP_PKEY *key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, CARTOKEN_SEED_LEN);
	if (key == NULL || EVP_PKEY_get_raw_public_key(key, pub, &len) != 1 || len != CARTOKEN_PUBLIC_LEN)
		goto cleanup;
	ok = true;
cleanup:
	EVP_PKEY_free(key);
	if (!ok)
		ERR_clear_error();
	return ok;
}

void cartoken_public_to_text(const unsigned char pub[CARTOKEN_PUBLIC_LEN], char out[CARTOKEN_PUBLIC_B64_LEN])
{
	b64_encode(pub, CARTOKEN_PUBLIC_LEN, out);
}

bool cartoken_public_from_text(const char *text, unsigned char pub[CARTOKEN_PUBLIC_LEN])
{
	unsigned char bytes[CARTOKEN_PUBLIC_LEN];
	size_t n;
	if (text == NULL || strnlen(text, CARTOKEN_PUBLIC_B64_LEN) != CARTOKEN_PUBLIC_B64_LEN - 1 ||
	    !b64_decode(text, CARTOKEN_PUBLIC_B64_LEN - 1, bytes, sizeof(bytes), &n) || n != CARTOKEN_PUBLIC_LEN)
		return false;
	memcpy(pub, bytes, CARTOKEN_PUBLIC_LEN);
	return true;
}

/* Fills c->jti with 32 random lowercase hex digits. */
static bool random_jti(struct cartoken_claims *c)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char bytes[(CARTOKEN_JTI_LEN - 1) / 2];
	if (getrandom(bytes, sizeof(bytes), 0) != (ssize_t)sizeof(bytes))
		return false;
	for (size_t i = 0; i < sizeof(bytes); i++) {
		c->jti[2 * i] = hex[bytes[i] >> 4];
		c->jti[2 * i + 1] = hex[bytes[i] & 0xf];
	}
	c->jti[CARTOKEN_JTI_LEN - 1] = '\0';
	return true;
}

bool cartoken_sign(const unsigned char seed[CARTOKEN_SEED_LEN], struct cartoken_claims *claims, char *out,
		   size_t out_size)
{
	bool ok = false;
	struct cartoken_claims c;
	char json[PAYLOAD_MAX];
	char text[CARTOKEN_MAX];
	unsigned char sig[SIG_LEN];
	if (out == NULL || out_size == 0)
		return false;
	out[0] = '\0';
	if (seed == NULL || claims == NULL)
		goto cleanup;
	c = *claims;
	if (c.jti[0] == '\0' && !random_jti(&c))
		goto cleanup;
	if (!claims_ok(&c))
		goto cleanup;
	/* Every character the rules allow stands for itself in JSON: nothing to escape. */
	int json_len = snprintf(json, sizeof(json),
				"{\"iss\":\"%s\",\"car\":\"%s\",\"iat\":%" PRId64 ",\"exp\":%" PRId64 ",\"jti\":\"%s\"}",
				c.issuer, c.car_id, c.issued_at, c.expires_at, c.jti);
	if (json_len < 0 || (size_t)json_len >= sizeof(json))
		goto cleanup;
	size_t signed_len = PREFIX_LEN + b64_encoded_len((size_t)json_len);
	if (signed_len + 1 + SIG_B64_LEN >= CARTOKEN_MAX || signed_len + 1 + SIG_B64_LEN >= out_size)
		goto cleanup;
	memcpy(text, PREFIX, PREFIX_LEN);
	b64_encode((const unsigned char *)json, (size_t)json_len, text + PREFIX_LEN);
	if (!ed25519_sign(seed, text, signed_len, sig))
		goto cleanup;
	text[signed_len] = '.';
	b64_encode(sig, SIG_LEN, text + signed_len + 1);
	memcpy(out, text, signed_len + 1 + SIG_B64_LEN + 1);
	memcpy(claims->jti, c.jti, sizeof(c.jti));
	ok = true;
cleanup:
	OPENSSL_cleanse(text, sizeof(text));
	return ok;
}

enum cartoken_status cartoken_peek(const char *token, struct cartoken_claims *claims)
{
	struct cartoken_claims c;
	unsigned char sig[SIG_LEN];
	size_t signed_len;
	if (!parse(token, &c, sig, &signed_len))
		return CARTOKEN_MALFORMED;
	if (claims != NULL)
		*claims = c;
	return CARTOKEN_VALID;
}

enum cartoken_status cartoken_verify(const char *token, const unsigned char pub[CARTOKEN_PUBLIC_LEN], int64_t now,
				     struct cartoken_claims *claims)
{
	struct cartoken_claims c;
	unsigned char sig[SIG_LEN];
	size_t signed_len;
	if (!parse(token, &c, sig, &signed_len))
		return CARTOKEN_MALFORMED;
	if (pub == NULL || !ed25519_verify(pub, token, signed_len, sig))
		return CARTOKEN_BAD_SIGNATURE;
	/* Written as comparisons on now, so no now near INT64_MAX can overflow. */
	if (now < c.issued_at - CARTOKEN_SKEW)
		return CARTOKEN_NOT_YET_VALID;
	if (now >= c.expires_at)
		return CARTOKEN_EXPIRED;
	if (claims != NULL)
		*claims = c;
	return CARTOKEN_VALID;
}

const char *cartoken_status_text(enum cartoken_status s)
{
	switch (s) {
	case CARTOKEN_VALID:
		return "valid";
	case CARTOKEN_MALFORMED:
		return "malformed";
	case CARTOKEN_BAD_SIGNATURE:
		return "bad_signature";
	case CARTOKEN_EXPIRED:
		return "expired";
	case CARTOKEN_NOT_YET_VALID:
		return "not_yet_valid";
	}
	return "unknown";
}
