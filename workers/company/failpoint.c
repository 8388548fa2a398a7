#include "failpoint.h"
#include "log.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *const names[FAILPOINT_COUNT] = {
	[FAILPOINT_COORDINATOR_AFTER_PREPARES] = "coordinator_after_prepares",
	[FAILPOINT_COORDINATOR_AFTER_DECISION] = "coordinator_after_decision",
	[FAILPOINT_COORDINATOR_MID_COMMIT] = "coordinator_mid_commit",
	[FAILPOINT_PARTICIPANT_AFTER_PREPARE] = "participant_after_prepare",
	[FAILPOINT_PARTICIPANT_SLOW_PREPARE] = "participant_slow_prepare",
};

static atomic_bool armed[FAILPOINT_COUNT];

bool failpoint_set(const char *name, bool on)
{
	for (int i = 0; i < FAILPOINT_COUNT; i++) {
		if (strcmp(names[i], name) == 0) {
			atomic_store(&armed[i], on);
			log_warn("event=failpoint_%s name=%s", on ? "armed" : "disarmed", name);
			return true;
		}
	}
	return false;
}

bool failpoint_arm_list(const char *list)
{
	char copy[256];
	snprintf(copy, sizeof(copy), "%s", list);
	char *save = NULL;
	for (char *name = strtok_r(copy, ",", &save); name != NULL; name = strtok_r(NULL, ",", &save))
		if (!failpoint_set(name, true))
			return false;
	return true;
}

void failpoint_hit(enum failpoint fp)
{
	if (!atomic_load(&armed[fp]))
		return;
	if (fp == FAILPOINT_PARTICIPANT_SLOW_PREPARE) {
		struct timespec pause = { FAILPOINT_PAUSE_MS / 1000, (FAILPOINT_PAUSE_MS % 1000) * 1000000L };
		log_warn("event=failpoint_hit name=%s action=pause ms=%d", names[fp], FAILPOINT_PAUSE_MS);
		nanosleep(&pause, NULL);
		return;
	}
	log_error("event=failpoint_hit name=%s action=kill", names[fp]);
	fflush(stderr);
	raise(SIGKILL);
}
