#include "connguard.h"
#include "log.h"
#include "ticker.h"

#include <dirent.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct slot {
	char addr[CONNGUARD_ADDR_MAX];
	int count; /* 0: free */
};

/* A body being read, and when it is late. */
struct deadline {
	bool active;
	bool fired; /* the reaper shut the read side */
	char addr[CONNGUARD_ADDR_MAX];
	int remote_port, local_port;
	struct timespec at; /* CLOCK_MONOTONIC */
};

struct connguard {
	pthread_mutex_t lock;
	int max_per_client;
	int busy_at; /* from this many open connections on, every new one must be prompt */
	int total;
	int nslots;
	struct slot *slots; /* one per thread: a connection holds a thread, so they never run out */
	/*
	 * Held by the reaper while it shuts a late body's socket: a reader that
	 * ends its deadline then waits, and learns that it fired.
	 */
	pthread_mutex_t deadline_lock;
	struct deadline *deadlines; /* one per thread too */
	struct ticker *reaper;
};

static void reap(void *arg);

struct connguard *connguard_create(int threads, int max_per_client)
{
	int reserve = threads / 8 > 4 ? threads / 8 : 4;
	struct connguard *g = calloc(1, sizeof(*g));
	if (g == NULL)
		return NULL;
	pthread_mutex_init(&g->lock, NULL);
	pthread_mutex_init(&g->deadline_lock, NULL);
	g->max_per_client = max_per_client;
	g->busy_at = threads - reserve > 1 ? threads - reserve : 1;
	g->nslots = threads;
	g->slots = calloc((size_t)threads, sizeof(*g->slots));
	g->deadlines = calloc((size_t)threads, sizeof(*g->deadlines));
	if (g->slots != NULL && g->deadlines != NULL)
		g->reaper = ticker_start("connguard_reaper", CONNGUARD_REAP_MS, reap, g);
	if (g->reaper == NULL) {
		connguard_destroy(g);
		return NULL;
	}
	return g;
}

void connguard_destroy(struct connguard *g)
{
	if (g == NULL)
		return;
	ticker_stop(g->reaper);
	pthread_mutex_destroy(&g->lock);
	pthread_mutex_destroy(&g->deadline_lock);
	free(g->slots);
	free(g->deadlines);
	free(g);
}

/* Caller holds the lock. The slot of addr, a free one when create, or NULL. */
static struct slot *slot_of(struct connguard *g, const char *addr, bool create)
{
	struct slot *free_slot = NULL;
	for (int i = 0; i < g->nslots; i++) {
		struct slot *s = &g->slots[i];
		if (s->count > 0 && strcmp(s->addr, addr) == 0)
			return s;
		if (s->count == 0 && free_slot == NULL)
			free_slot = s;
	}
	if (!create || free_slot == NULL)
		return NULL;
	snprintf(free_slot->addr, sizeof(free_slot->addr), "%s", addr);
	return free_slot;
}

enum connguard_verdict connguard_enter(struct connguard *g, const char *addr)
{
	pthread_mutex_lock(&g->lock);
	/* Counted before the verdict: the connection holds a thread whatever it is told. */
	int before = g->total++;
	struct slot *s = slot_of(g, addr, true);
	int mine = s != NULL ? ++s->count : g->max_per_client + 1;
	pthread_mutex_unlock(&g->lock);
	if (mine > g->max_per_client)
		return CONNGUARD_PROMPT_CLIENT;
	if (before >= g->busy_at)
		return CONNGUARD_PROMPT_BUSY;
	return CONNGUARD_SERVE;
}

void connguard_leave(struct connguard *g, const char *addr)
{
	pthread_mutex_lock(&g->lock);
	g->total--;
	struct slot *s = slot_of(g, addr, false);
	if (s != NULL)
		s->count--;
	pthread_mutex_unlock(&g->lock);
}

int connguard_held(struct connguard *g, const char *addr, int *of_addr)
{
	pthread_mutex_lock(&g->lock);
	struct slot *s = slot_of(g, addr, false);
	*of_addr = s != NULL ? s->count : 0;
	int total = g->total;
	pthread_mutex_unlock(&g->lock);
	return total;
}

int connguard_deadline_begin(struct connguard *g, const char *remote_addr, int remote_port, int local_port, int ms)
{
	struct timespec at;
	clock_gettime(CLOCK_MONOTONIC, &at);
	at.tv_sec += ms / 1000;
	at.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (at.tv_nsec >= 1000000000L) {
		at.tv_sec++;
		at.tv_nsec -= 1000000000L;
	}
	int slot = -1;
	pthread_mutex_lock(&g->deadline_lock);
	for (int i = 0; i < g->nslots && slot < 0; i++) {
		struct deadline *d = &g->deadlines[i];
		if (d->active)
			continue;
		memset(d, 0, sizeof(*d));
		d->active = true;
		snprintf(d->addr, sizeof(d->addr), "%s", remote_addr);
		d->remote_port = remote_port;
		d->local_port = local_port;
		d->at = at;
		slot = i;
	}
	pthread_mutex_unlock(&g->deadline_lock);
	return slot;
}

bool connguard_deadline_end(struct connguard *g, int slot)
{
	if (slot < 0 || slot >= g->nslots)
		return false;
	pthread_mutex_lock(&g->deadline_lock);
	bool fired = g->deadlines[slot].fired;
	g->deadlines[slot].active = false;
	pthread_mutex_unlock(&g->deadline_lock);
	return fired;
}

/* The reaper's round: shuts the read side of every connection whose body is late. */
static void reap(void *arg)
{
	struct connguard *g = arg;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&g->deadline_lock);
	for (int i = 0; i < g->nslots; i++) {
		struct deadline *d = &g->deadlines[i];
		if (!d->active || d->fired || now.tv_sec < d->at.tv_sec ||
		    (now.tv_sec == d->at.tv_sec && now.tv_nsec < d->at.tv_nsec))
			continue;
		/* Under the lock: the reader cannot end its deadline and move on while its socket is shut. */
		d->fired = true;
		int fd = connguard_find_socket(d->addr, d->remote_port, d->local_port);
		if (fd >= 0)
			shutdown(fd, SHUT_RD);
		log_debug("event=body_deadline client=%s port=%d shut=%s", d->addr, d->remote_port, fd >= 0 ? "yes" : "no");
	}
	pthread_mutex_unlock(&g->deadline_lock);
}

static int port_of(const struct sockaddr_storage *sa)
{
	if (sa->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	if (sa->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	return -1;
}

int connguard_find_socket(const char *remote_addr, int remote_port, int local_port)
{
	/* The open descriptors only: the fd limit may be a million. */
	DIR *dir = opendir("/proc/self/fd");
	if (dir == NULL)
		return -1;
	int found = -1, matches = 0;
	struct dirent *e;
	while ((e = readdir(dir)) != NULL) {
		char *end;
		long fd = strtol(e->d_name, &end, 10);
		if (*end != '\0' || end == e->d_name || fd == dirfd(dir))
			continue;
		struct sockaddr_storage peer, local;
		socklen_t plen = sizeof(peer), llen = sizeof(local);
		if (getpeername((int)fd, (struct sockaddr *)&peer, &plen) != 0 || port_of(&peer) != remote_port ||
		    getsockname((int)fd, (struct sockaddr *)&local, &llen) != 0 || port_of(&local) != local_port)
			continue;
		/* civetweb writes the address the same way (getnameinfo, numeric). */
		char host[CONNGUARD_ADDR_MAX];
		if (getnameinfo((struct sockaddr *)&peer, plen, host, sizeof(host), NULL, 0, NI_NUMERICHOST) != 0 ||
		    strcmp(host, remote_addr) != 0)
			continue;
		found = (int)fd;
		matches++;
	}
	closedir(dir);
	return matches == 1 ? found : -1;
}

bool connguard_head_complete(const char *text, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++) {
		if (text[i] == '\n' && text[i + 1] == '\n')
			return true;
		if (i + 3 < len && memcmp(text + i, "\r\n\r\n", 4) == 0)
			return true;
	}
	return false;
}

static long ms_since(const struct timespec *t0)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t0->tv_sec) * 1000L + (now.tv_nsec - t0->tv_nsec) / 1000000L;
}

bool connguard_head_arrives(int fd, int grace_ms)
{
	char *buf = malloc(CONNGUARD_MAX_HEAD + 1);
	bool arrived = true; /* when in doubt, civetweb decides as for any connection */
	struct timespec started;
	clock_gettime(CLOCK_MONOTONIC, &started);
	if (buf == NULL)
		return true;
	for (;;) {
		ssize_t n = recv(fd, buf, CONNGUARD_MAX_HEAD + 1, MSG_PEEK | MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
			break; /* closed or failed: civetweb sees it on its first read */
		if (n > CONNGUARD_MAX_HEAD || (n > 0 && connguard_head_complete(buf, (size_t)n)))
			break;
		long left = grace_ms - ms_since(&started);
		if (left <= 0) {
			arrived = false;
			break;
		}
		if (n <= 0) {
			struct pollfd p = { .fd = fd, .events = POLLIN };
			poll(&p, 1, (int)left);
		} else {
			/* Part of a head: poll would return at once, so wait a little and look again. */
			struct timespec pause = { 0, (left < 10 ? left : 10) * 1000000L };
			nanosleep(&pause, NULL);
		}
	}
	free(buf);
	return arrived;
}

void connguard_refuse(int fd, const char *response, size_t len)
{
	/* Best effort: a client that does not read its answer does not get to hold the thread for it. */
	(void)send(fd, response, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	shutdown(fd, SHUT_RDWR);
}
