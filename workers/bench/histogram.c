#include "histogram.h"

#include <string.h>

/* Index of the bucket holding v: linear below HISTOGRAM_LINEAR, then 64 per octave. */
static unsigned bucket_of(uint64_t v)
{
	if (v < HISTOGRAM_LINEAR)
		return (unsigned)v;
	unsigned octave = 63u - (unsigned)__builtin_clzll(v); /* floor(log2 v), at least 7 */
	unsigned shift = octave - 6;                          /* v >> shift is in [64, 127] */
	unsigned index = HISTOGRAM_LINEAR + (shift - 1) * HISTOGRAM_SUB + (unsigned)(v >> shift) - HISTOGRAM_SUB;
	return index < HISTOGRAM_BUCKETS ? index : HISTOGRAM_BUCKETS - 1;
}

/* The middle of bucket i's range of values. */
static uint64_t bucket_value(unsigned i)
{
	if (i < HISTOGRAM_LINEAR)
		return i;
	unsigned shift = (i - HISTOGRAM_LINEAR) / HISTOGRAM_SUB + 1;
	uint64_t sub = (i - HISTOGRAM_LINEAR) % HISTOGRAM_SUB + HISTOGRAM_SUB;
	uint64_t low = sub << shift, high = ((sub + 1) << shift) - 1;
	return low + (high - low) / 2;
}

void histogram_clear(struct histogram *h)
{
	memset(h, 0, sizeof(*h));
}

void histogram_record(struct histogram *h, uint64_t us)
{
	h->buckets[bucket_of(us)]++;
	h->count++;
	h->sum_us += (double)us;
	if (us > h->max_us)
		h->max_us = us;
}

void histogram_merge(struct histogram *into, const struct histogram *from)
{
	for (unsigned i = 0; i < HISTOGRAM_BUCKETS; i++)
		into->buckets[i] += from->buckets[i];
	into->count += from->count;
	into->sum_us += from->sum_us;
	if (from->max_us > into->max_us)
		into->max_us = from->max_us;
}

uint64_t histogram_quantile(const struct histogram *h, double q)
{
	if (h->count == 0)
		return 0;
	/* The rank of the value wanted, 1-based: the smallest with at least q of all at or below it. */
	uint64_t rank = (uint64_t)(q * (double)h->count + 0.999999);
	if (rank < 1)
		rank = 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < HISTOGRAM_BUCKETS; i++) {
		seen += h->buckets[i];
		if (seen >= rank) {
			uint64_t v = bucket_value(i);
			return v < h->max_us ? v : h->max_us;
		}
	}
	return h->max_us;
}
