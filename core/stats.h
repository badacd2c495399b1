/*
 * stats.h: the small statistics the diagnostic reports rest on.
 *
 * Owns: the Wilson score interval, the "is this gap real" tests (Newcombe's
 * interval for a difference of two rates; the Cochran-Mantel-Haenszel z
 * across strata),
 * empirical-Bayes shrinkage of a rate toward a prior, and nearest-rank
 * quantiles.  Pure functions of their arguments, each defined in
 * docs/METRICS.md section 5 and unit-tested on hand-computed cases.
 *
 * Never: allocates, or knows what a deal or a manager is.
 */
#ifndef SE_STATS_H
#define SE_STATS_H

#include "salesengine.h"

#include <stddef.h>
#include <stdint.h>

/* z for a two-sided 95% interval. */
#define SE_Z95 1.959963984540054

/* Wilson score interval of k successes in n trials at z; n == 0 gives
 * [0, 1]. */
void se_wilson(int64_t k, int64_t n, double z, double *lo, double *hi);

/* 1 when rate lies outside the Wilson 95% interval of k of n (so the gap
 * between k/n and rate is significant at 5% for this sample size), else 0;
 * 0 when n == 0. */
int se_wilson_excludes(int64_t k, int64_t n, double rate);

/* Newcombe's hybrid score interval (his method 10, built from the two
 * Wilson intervals) for the difference k1/n1 - k2/n2 at 95%.  The gap is
 * significant when the interval excludes 0: both samples' sizes count, so
 * a manager with 2 deals is never flagged against a team of 2 either.
 * n1 or n2 == 0 gives [-1, 1]. */
void se_newcombe(int64_t k1, int64_t n1, int64_t k2, int64_t n2, double *lo, double *hi);

/* Posterior mean of a rate under a beta prior of strength k centred on
 * prior: (won + k * prior) / (n + k).  k = 0 gives won / n (prior if n == 0). */
double se_shrink(int64_t won, int64_t n, double prior, double k);

/* One stratum of a Cochran-Mantel-Haenszel test: a of n1 in the group of
 * interest succeeded, b of n2 in the rest. */
typedef struct se_cmh {
	double observed, expected, variance;
} se_cmh;

void se_cmh_add(se_cmh *c, int64_t a, int64_t n1, int64_t b, int64_t n2);
/* (observed - expected) / sqrt(variance); 0 when the variance is 0. */
double se_cmh_z(const se_cmh *c);

/* Nearest-rank quantile: the value at rank ceil(p * n) (1-based, at least
 * 1) of v[0..n) in ascending order.  Reorders v (Floyd-Rivest selection, O(n)); n > 0. */
int32_t se_quantile(int32_t *v, size_t n, double p);
/* The median and the 90th percentile at once (from some thousands of
 * values up through a histogram of 4 KiB, stats.c): the second search
 * only looks above the first.  Reorders v; n > 0. */
void se_quantiles(int32_t *v, size_t n, int32_t *p50, int32_t *p90);

/* Values that need not be in one array: n of them from v. */
typedef struct se_span {
	const int32_t *v;
	size_t n;
} se_span;

/* se_quantiles of each part, the values of spans[first[p] .. first[p + 1])
 * (p < parts), into p50[p], p90[p], and, when whole, of all the parts
 * together into p50[parts], p90[parts]: a table row's cells and the whole
 * row, in two sweeps over the values instead of four, without copying
 * them or changing them.  Empty parts are left unwritten, and so is the
 * whole when all are empty.  0 or SE_ENOMEM. */
int se_quantiles_spans(const se_span *spans, const size_t *first, size_t parts, int whole, int32_t *p50,
                       int32_t *p90);

#endif
