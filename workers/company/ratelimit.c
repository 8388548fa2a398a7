#include "ratelimit.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 4096

struct slot {
	char client[65];
	double tokens;
	double at;
};

struct ratelimit {
	pthread_mutex_t lock;
	double rate, burst;
	struct slot slots[SLOTS];
};

struct ratelimit *ratelimit_create(double rate, double burst)
{
	struct ratelimit *rl = calloc(1, sizeof(*rl));
	if (rl == NULL)
		return NULL;
	pthread_mutex_init(&rl->lock, NULL);
	rl->rate = rate;
	rl->burst = burst < 1 ? 1 : burst;
	return rl;
}

void ratelimit_destroy(struct ratelimit *rl)
{
	if (rl == NULL)
		return;
	pthread_mutex_destroy(&rl->lock);
	free(rl);
}

static uint32_t fnv1a(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

bool ratelimit_take(struct ratelimit *rl, const char *client, double now)
{
	if (rl->rate <= 0)
		return true;
	struct slot *s = &rl->slots[fnv1a(client) % SLOTS];
	pthread_mutex_lock(&rl->lock);
	if (strncmp(s->client, client, sizeof(s->client) - 1) != 0) {
		snprintf(s->client, sizeof(s->client), "%s", client);
		s->tokens = rl->burst;
		s->at = now;
	}
	s->tokens += (now - s->at) * rl->rate;
	if (s->tokens > rl->burst)
		s->tokens = rl->burst;
	s->at = now;
	bool allowed = s->tokens >= 1.0;
	if (allowed)
		s->tokens -= 1.0;
	pthread_mutex_unlock(&rl->lock);
	return allowed;
}
