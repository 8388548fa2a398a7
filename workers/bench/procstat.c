#include "procstat.h"

#include <stdio.h>
#include <string.h>

bool procstat_memory(pid_t pid, long *rss_kb, long *hwm_kb)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return false;
	int found = 0;
	*rss_kb = *hwm_kb = 0;
	while (found < 2 && fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "VmRSS: %ld kB", rss_kb) == 1 || sscanf(line, "VmHWM: %ld kB", hwm_kb) == 1)
			found++;
	}
	fclose(f);
	return found == 2;
}
