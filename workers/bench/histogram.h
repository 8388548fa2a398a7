/*
 * Latency histogram in microseconds: log-linear buckets (64 per power of two,
 * so a percentile is exact to about 1.6 %) from 1 us to over an hour, in a
 * fixed array. Each load thread fills its own; they are merged when the
 * threads are done, so recording takes no lock.
 */
#ifndef EVC_BENCH_HISTOGRAM_H
#define EVC_BENCH_HISTOGRAM_H

#include <stdint.h>

#define HISTOGRAM_SUB 64
#define HISTOGRAM_LINEAR (2 * HISTOGRAM_SUB)          /* values below this have a bucket each */
#define HISTOGRAM_BUCKETS (HISTOGRAM_LINEAR + 26 * HISTOGRAM_SUB)

struct histogram {
	uint64_t count;
	uint64_t max_us;
	double sum_us;
	uint64_t buckets[HISTOGRAM_BUCKETS];
};

/* Starts empty. */
void histogram_clear(struct histogram *h);

/* Counts one value; values beyond the last bucket land in it. */
void histogram_record(struct histogram *h, uint64_t us);

/* Adds the counts of from to into. */
void histogram_merge(struct histogram *into, const struct histogram *from);

/* The value (us) below which fraction q (0..1) of the values fall; 0 when empty. */
uint64_t histogram_quantile(const struct histogram *h, double q);

#endif
