#include "load.h"
#include "procstat.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define RSS_SAMPLE_MS 200

struct worker {
	struct bench_thread t;
	pthread_t thread;
	const struct scenario *scenario;
	const struct load_options *options;
	int64_t warm_ns, end_ns; /* CLOCK_MONOTONIC */
	bool answered_in_window; /* false: this client waited through the whole window */
	struct load_result result;
};

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_until(int64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000), (long)(ns % 1000000000) };
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0) {
	}
}

/* Counts one answer; returns when the thread may send its next request (0: at once). */
static int64_t count(struct worker *w, long status, int64_t started, int64_t done)
{
	struct load_result *r = &w->result;
	long retry_after = status == 503 ? httpc_retry_after(w->t.http) : -1;
	if (done >= w->warm_ns && done < w->end_ns)
		w->answered_in_window = true;
	int64_t next = retry_after >= 0 ? done + retry_after * 1000000000LL : 0;
	if (started < w->warm_ns)
		return next;
	if (status >= 200 && status < 300) {
		r->ok++;
		histogram_record(&r->hist, (uint64_t)((done - started) / 1000));
		return next;
	}
	if (retry_after >= 0) {
		r->shed++;
		if ((uint64_t)((done - started) / 1000) > r->shed_max_us)
			r->shed_max_us = (uint64_t)((done - started) / 1000);
		return next;
	}
	if (status == 409)
		r->conflict++;
	else if (status >= 400 && status < 500)
		r->client_error++;
	else if (status >= 500)
		r->server_error++;
	else
		r->transport_error++;
	if (status != 409 && r->first_error[0] == '\0')
		snprintf(r->first_error, sizeof(r->first_error), "%ld %.200s", status,
			 status == HTTPC_TRANSPORT_ERROR ? httpc_error(w->t.http) : httpc_body(w->t.http));
	return next;
}

static void *work(void *arg)
{
	struct worker *w = arg;
	const struct load_options *o = w->options;
	if (o->rate <= 0) {
		for (int64_t start = now_ns(); start < w->end_ns; start = now_ns()) {
			long status = w->scenario->run_one(&w->t);
			w->t.seq++;
			int64_t next = count(w, status, start, now_ns());
			if (next > 0)
				sleep_until(next < w->end_ns ? next : w->end_ns);
		}
	} else {
		/* This thread's share of the schedule, offset so the threads interleave. */
		int64_t interval = (int64_t)(1e9 * o->threads / o->rate);
		int64_t due = w->warm_ns - (int64_t)(1e9 * o->warmup_s) + interval * w->t.index / o->threads;
		for (; due < w->end_ns; due += interval) {
			sleep_until(due);
			long status = w->scenario->run_one(&w->t);
			w->t.seq++;
			(void)count(w, status, due, now_ns()); /* paced: the schedule decides */
		}
	}
	w->result.connects = httpc_connects(w->t.http);
	return NULL;
}

static void sample_memory(const struct bench *b, struct load_result *r)
{
	for (int c = 0; c < b->ncompanies; c++) {
		long rss, hwm;
		if (b->companies[c].pid > 0 && procstat_memory(b->companies[c].pid, &rss, &hwm) && rss > r->rss_max_kb[c])
			r->rss_max_kb[c] = rss;
	}
}

bool load_run(struct bench *b, const struct scenario *s, const struct load_options *o, struct load_result *r)
{
	memset(r, 0, sizeof(*r));
	histogram_clear(&r->hist);
	struct worker *workers = calloc((size_t)o->threads, sizeof(*workers));
	if (workers == NULL)
		return false;

	b->round++;
	int64_t start = now_ns();
	int64_t warm = start + (int64_t)(o->warmup_s * 1e9), end = warm + (int64_t)(o->duration_s * 1e9);
	int started = 0;
	bool ok = true;
	for (int i = 0; i < o->threads; i++) {
		struct worker *w = &workers[i];
		w->t.bench = b;
		w->t.index = i;
		w->t.round = b->round;
		if (getrandom(&w->t.rng, sizeof(w->t.rng), 0) != (ssize_t)sizeof(w->t.rng))
			w->t.rng = (uint64_t)start ^ ((uint64_t)i << 32);
		w->t.http = httpc_new(b->timeout_ms);
		w->scenario = s;
		w->options = o;
		w->warm_ns = warm;
		w->end_ns = end;
		if (w->t.http == NULL || pthread_create(&w->thread, NULL, work, w) != 0) {
			ok = false;
			break;
		}
		started++;
	}
	/* While the threads work, watch the workers' memory. */
	for (int64_t t = now_ns(); ok && t < end; t = now_ns()) {
		sample_memory(b, r);
		int64_t next = t + RSS_SAMPLE_MS * 1000000LL;
		sleep_until(next < end ? next : end);
	}
	sample_memory(b, r);
	for (int i = 0; i < started; i++) {
		pthread_join(workers[i].thread, NULL);
		const struct load_result *wr = &workers[i].result;
		histogram_merge(&r->hist, &wr->hist);
		r->ok += wr->ok;
		r->conflict += wr->conflict;
		r->client_error += wr->client_error;
		r->server_error += wr->server_error;
		r->shed += wr->shed;
		if (wr->shed_max_us > r->shed_max_us)
			r->shed_max_us = wr->shed_max_us;
		r->transport_error += wr->transport_error;
		r->connects += wr->connects;
		r->starved += !workers[i].answered_in_window;
		if (r->first_error[0] == '\0')
			memcpy(r->first_error, wr->first_error, sizeof(r->first_error));
	}
	for (int i = 0; i < o->threads; i++)
		httpc_free(workers[i].t.http);
	free(workers);
	r->seconds = o->duration_s;
	r->ops_per_s = (double)r->ok / r->seconds;
	return ok;
}
