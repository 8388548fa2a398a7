/*
 * Admission control: at most `limit` requests of one kind (route plans) run at
 * once; one more waits up to `wait_ms` for a place, then is refused, so the
 * caller answers 503 with Retry-After at once instead of piling work onto a
 * saturated machine (issue 18: the planner collapsed at 64 clients). It never
 * blocks longer than wait_ms and holds nothing but its own counter.
 */
#ifndef EVC_ADMISSION_H
#define EVC_ADMISSION_H

#include <stdbool.h>

struct admission;

/* limit <= 0 admits everything. NULL on allocation failure. Caller destroys. */
struct admission *admission_create(int limit, int wait_ms);
void admission_destroy(struct admission *a);

/* Takes a place, waiting at most wait_ms; false when none came free (nothing taken). */
bool admission_enter(struct admission *a) __attribute__((warn_unused_result));

/* Gives back a place admission_enter took. */
void admission_leave(struct admission *a);

/* Requests running now (for tests and /health). */
int admission_running(struct admission *a);

#endif
