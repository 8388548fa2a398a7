#include "fileutil.h"

#include <stdio.h>
#include <stdlib.h>

char *fileutil_read(const char *path, size_t max_bytes, size_t *len)
{
	char *text = NULL;
	long size;
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && (size_t)size <= max_bytes &&
	    fseek(f, 0, SEEK_SET) == 0 && (text = malloc((size_t)size + 1)) != NULL) {
		if (fread(text, 1, (size_t)size, f) == (size_t)size) {
			text[size] = '\0';
			if (len != NULL)
				*len = (size_t)size;
		} else {
			free(text);
			text = NULL;
		}
	}
	fclose(f);
	return text;
}
