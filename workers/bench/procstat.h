/* Memory of another process, read from /proc/<pid>/status (Linux). */
#ifndef EVC_BENCH_PROCSTAT_H
#define EVC_BENCH_PROCSTAT_H

#include <stdbool.h>
#include <sys/types.h>

/* Resident set now (VmRSS) and its peak since start (VmHWM), in kB. False when pid is gone. */
bool procstat_memory(pid_t pid, long *rss_kb, long *hwm_kb);

#endif
