/*
 * Car bearer tokens: a car gets one token from its issuing company, and any
 * company's server checks it offline with the issuer's Ed25519 public key.
 *
 * Format:  evc1.<payload>.<signature>
 *   payload    base64url (RFC 4648 §5, no padding) of the compact JSON object
 *              {"iss":"<issuer>","car":"<car id>","iat":<int>,"exp":<int>,"jti":"<32 hex>"}
 *              with exactly those five keys (no duplicates, no others).
 *   signature  base64url (no padding) of the 64-byte Ed25519 signature over the
 *              ASCII bytes "evc1.<payload>".
 * Rules: issuer 1..32 of [a-z0-9-]; car id 1..64 of [A-Za-z0-9_.:-]; jti 32
 * lowercase hex; iat and exp integers in [946684800, 4102444800] (years
 * 2000..2100) with exp > iat; the whole token at most CARTOKEN_MAX - 1 chars.
 * Base64url is decoded strictly (no padding, unused bits zero), so a token has
 * one spelling and changing any character of it never leaves it valid.
 *
 * A token is a credential: this module never logs it, and neither may callers.
 * The seed is the issuer's private key: keep it out of logs and responses.
 */
#ifndef EVC_CARTOKEN_H
#define EVC_CARTOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CARTOKEN_SEED_LEN 32
#define CARTOKEN_PUBLIC_LEN 32
#define CARTOKEN_PUBLIC_B64_LEN 44 /* base64url without padding of 32 bytes (43 chars) + NUL */
#define CARTOKEN_MAX 512           /* longest token accepted or produced, NUL included */
#define CARTOKEN_ISSUER_MAX 32     /* company ids: 1..32 of [a-z0-9-] */
#define CARTOKEN_CAR_MAX 64        /* car ids: 1..64 of [A-Za-z0-9_.:-] */
#define CARTOKEN_JTI_LEN 33        /* 32 hex + NUL */
#define CARTOKEN_SKEW 60           /* seconds a token's iat may lie ahead of the verifier's clock */

struct cartoken_claims {
	char issuer[CARTOKEN_ISSUER_MAX + 1];
	char car_id[CARTOKEN_CAR_MAX + 1];
	int64_t issued_at;  /* epoch seconds */
	int64_t expires_at; /* epoch seconds */
	char jti[CARTOKEN_JTI_LEN];
};

enum cartoken_status {
	CARTOKEN_VALID = 0,
	CARTOKEN_MALFORMED,
	CARTOKEN_BAD_SIGNATURE,
	CARTOKEN_EXPIRED,
	CARTOKEN_NOT_YET_VALID,
};

/* Fills seed with a new random private key (getrandom); false without entropy. */
bool cartoken_keygen(unsigned char seed[CARTOKEN_SEED_LEN]) __attribute__((warn_unused_result));

/* Derives the public key of seed into pub; false if OpenSSL fails. */
bool cartoken_public_key(const unsigned char seed[CARTOKEN_SEED_LEN], unsigned char pub[CARTOKEN_PUBLIC_LEN])
	__attribute__((warn_unused_result));

/* Writes the base64url text (43 chars, no padding) of pub and a NUL into out. */
void cartoken_public_to_text(const unsigned char pub[CARTOKEN_PUBLIC_LEN], char out[CARTOKEN_PUBLIC_B64_LEN]);

/* Reads that text back; false unless text is exactly the 43-char encoding of 32 bytes. */
bool cartoken_public_from_text(const char *text, unsigned char pub[CARTOKEN_PUBLIC_LEN])
	__attribute__((warn_unused_result));

/*
 * Signs claims into out (out_size bytes, NUL included; the caller owns both).
 * When claims->jti is empty, 32 random hex digits are chosen and, on success
 * only, written back into it. False, with out empty, on claims that break the
 * rules above, on an OpenSSL error, or when the token would not fit in
 * out_size or CARTOKEN_MAX.
 */
bool cartoken_sign(const unsigned char seed[CARTOKEN_SEED_LEN], struct cartoken_claims *claims, char *out,
		   size_t out_size) __attribute__((warn_unused_result));

/*
 * Reads the claims WITHOUT checking the signature, so the caller can find the
 * issuer's key; nothing read here may be trusted before cartoken_verify.
 * CARTOKEN_VALID (claims filled) or CARTOKEN_MALFORMED (claims untouched).
 */
enum cartoken_status cartoken_peek(const char *token, struct cartoken_claims *claims)
	__attribute__((warn_unused_result));

/*
 * Full check: format, signature with pub, issued_at <= now + CARTOKEN_SKEW,
 * now < expires_at, in that order. claims (may be NULL) is filled on
 * CARTOKEN_VALID only. An OpenSSL failure counts as CARTOKEN_BAD_SIGNATURE.
 */
enum cartoken_status cartoken_verify(const char *token, const unsigned char pub[CARTOKEN_PUBLIC_LEN], int64_t now,
				     struct cartoken_claims *claims) __attribute__((warn_unused_result));

/* "valid", "malformed", "bad_signature", "expired", "not_yet_valid"; static strings. */
const char *cartoken_status_text(enum cartoken_status s);

#endif
