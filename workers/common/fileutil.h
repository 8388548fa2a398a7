/* Reading small files whole: migrations, the API description. */
#ifndef EVC_FILEUTIL_H
#define EVC_FILEUTIL_H

#include <stddef.h>

/*
 * Reads a whole file of at most max_bytes into a new NUL-terminated buffer
 * (caller frees); NULL when it cannot. *len gets its length when len is given.
 */
char *fileutil_read(const char *path, size_t max_bytes, size_t *len);

#endif
