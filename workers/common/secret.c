#include "secret.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>

bool secret_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char diff = la != lb;
	for (size_t i = 0; i < la && i < lb; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
	return diff == 0;
}

bool secret_random_hex(char *out, size_t nbytes)
{
	unsigned char bytes[64];
	if (nbytes > sizeof(bytes) || getrandom(bytes, nbytes, 0) != (ssize_t)nbytes)
		return false;
	for (size_t i = 0; i < nbytes; i++)
		snprintf(out + 2 * i, 3, "%02x", bytes[i]);
	out[2 * nbytes] = '\0';
	return true;
}
