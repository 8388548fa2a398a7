/*
 * Secrets and random identifiers: tokens, request and instance ids. Never log
 * what these functions produce when it is a credential.
 */
#ifndef EVC_SECRET_H
#define EVC_SECRET_H

#include <stdbool.h>
#include <stddef.h>

/* Compares without an early exit, so timing tells nothing about the secret. */
bool secret_equal(const char *a, const char *b);

/* Writes 2 * nbytes random hex digits and a NUL into out; false without entropy. */
bool secret_random_hex(char *out, size_t nbytes) __attribute__((warn_unused_result));

/* A random version 4 UUID, canonical text (37 bytes with the NUL). */
bool secret_uuid(char out[37]) __attribute__((warn_unused_result));

#endif
