/*
 * Named fail points for crash tests: when one is armed, the worker kills itself
 * (SIGKILL, as a crash would) the moment it reaches it, or, for the one slow
 * point, pauses there (FAILPOINT_PAUSE_MS). All are off unless armed through
 * EVC_FAILPOINTS or the admin endpoint POST /api/v1/admin/failpoints.
 */
#ifndef EVC_FAILPOINT_H
#define EVC_FAILPOINT_H

#include <stdbool.h>

enum failpoint {
	FAILPOINT_COORDINATOR_AFTER_PREPARES, /* every participant voted yes; no decision yet */
	FAILPOINT_COORDINATOR_AFTER_DECISION, /* commit decision durable; no participant told */
	FAILPOINT_COORDINATOR_MID_COMMIT,     /* the first participant told (the coordinator's own, if any) committed, the others not */
	FAILPOINT_PARTICIPANT_AFTER_PREPARE,  /* PREPARE TRANSACTION done; the vote not sent */
	FAILPOINT_PARTICIPANT_SLOW_PREPARE,   /* pauses: a slow participant, after PREPARE TRANSACTION */
	FAILPOINT_COUNT,
};

/* Arms the comma-separated names; false when one is unknown. */
bool failpoint_arm_list(const char *names) __attribute__((warn_unused_result));

/* Arms or disarms one by name; false when unknown. */
bool failpoint_set(const char *name, bool armed) __attribute__((warn_unused_result));

#define FAILPOINT_PAUSE_MS 3000

/* When fp is armed: kills the process, or pauses the calling thread (slow points). */
void failpoint_hit(enum failpoint fp);

#endif
