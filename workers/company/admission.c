#include "admission.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

struct admission {
	pthread_mutex_t lock;
	pthread_cond_t freed;
	int limit, wait_ms;
	int running;
};

struct admission *admission_create(int limit, int wait_ms)
{
	struct admission *a = calloc(1, sizeof(*a));
	if (a == NULL)
		return NULL;
	pthread_mutex_init(&a->lock, NULL);
	/* The monotonic clock: a wall-clock step must not stretch the wait. */
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&a->freed, &attr);
	pthread_condattr_destroy(&attr);
	a->limit = limit;
	a->wait_ms = wait_ms < 0 ? 0 : wait_ms;
	return a;
}

void admission_destroy(struct admission *a)
{
	if (a == NULL)
		return;
	pthread_mutex_destroy(&a->lock);
	pthread_cond_destroy(&a->freed);
	free(a);
}

bool admission_enter(struct admission *a)
{
	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += a->wait_ms / 1000;
	deadline.tv_nsec += (long)(a->wait_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&a->lock);
	bool timed_out = false;
	while (a->limit > 0 && a->running >= a->limit && !timed_out)
		timed_out = pthread_cond_timedwait(&a->freed, &a->lock, &deadline) == ETIMEDOUT;
	bool admitted = a->limit <= 0 || a->running < a->limit;
	if (admitted)
		a->running++;
	pthread_mutex_unlock(&a->lock);
	return admitted;
}

void admission_leave(struct admission *a)
{
	pthread_mutex_lock(&a->lock);
	a->running--;
	pthread_cond_signal(&a->freed);
	pthread_mutex_unlock(&a->lock);
}

int admission_running(struct admission *a)
{
	pthread_mutex_lock(&a->lock);
	int n = a->running;
	pthread_mutex_unlock(&a->lock);
	return n;
}
