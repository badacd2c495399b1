/*
 * stats.c: Wilson intervals, CMH, shrinkage and quantiles (stats.h).
 *
 * Quantiles are nearest-rank, not interpolated: every printed median is a
 * duration some deal really had, and a plain SQL reference can reproduce
 * it exactly with ORDER BY ... LIMIT 1 OFFSET.
 */
#include "stats.h"

#include <math.h>

void se_wilson(int64_t k, int64_t n, double z, double *lo, double *hi)
{
	double p, z2, den, centre, half;

	if (n <= 0) {
		*lo = 0;
		*hi = 1;
		return;
	}
	p = (double)k / (double)n;
	z2 = z * z;
	den = 1 + z2 / (double)n;
	centre = (p + z2 / (2 * (double)n)) / den;
	half = z * sqrt(p * (1 - p) / (double)n + z2 / (4 * (double)n * (double)n)) / den;
	*lo = centre - half < 0 ? 0 : centre - half;
	*hi = centre + half > 1 ? 1 : centre + half;
}

int se_wilson_excludes(int64_t k, int64_t n, double rate)
{
	double lo, hi;

	if (n <= 0)
		return 0;
	se_wilson(k, n, SE_Z95, &lo, &hi);
	return rate < lo || rate > hi;
}

void se_newcombe(int64_t k1, int64_t n1, int64_t k2, int64_t n2, double *lo, double *hi)
{
	double p1, p2, l1, u1, l2, u2, d;

	if (n1 <= 0 || n2 <= 0) {
		*lo = -1;
		*hi = 1;
		return;
	}
	p1 = (double)k1 / (double)n1;
	p2 = (double)k2 / (double)n2;
	se_wilson(k1, n1, SE_Z95, &l1, &u1);
	se_wilson(k2, n2, SE_Z95, &l2, &u2);
	d = p1 - p2;
	*lo = d - sqrt((p1 - l1) * (p1 - l1) + (u2 - p2) * (u2 - p2));
	*hi = d + sqrt((u1 - p1) * (u1 - p1) + (p2 - l2) * (p2 - l2));
}

double se_shrink(int64_t won, int64_t n, double prior, double k)
{
	if (n + k <= 0)
		return prior;
	return ((double)won + k * prior) / ((double)n + k);
}

void se_cmh_add(se_cmh *c, int64_t a, int64_t n1, int64_t b, int64_t n2)
{
	double N = (double)(n1 + n2), m1 = (double)(a + b), m2 = N - m1;

	if (n1 == 0 || n2 == 0)
		return; /* a stratum with one group only says nothing about the gap */
	c->observed += (double)a;
	c->expected += (double)n1 * m1 / N;
	c->variance += (double)n1 * (double)n2 * m1 * m2 / (N * N * (N - 1));
}

double se_cmh_z(const se_cmh *c)
{
	if (c->variance <= 0)
		return 0;
	return (c->observed - c->expected) / sqrt(c->variance);
}

static void swap(int32_t *a, int32_t *b)
{
	int32_t t = *a;

	*a = *b;
	*b = t;
}

static size_t rank_of(size_t n, double p)
{
	size_t rank = (size_t)ceil(p * (double)n - 1e-9);

	return rank < 1 ? 0 : rank > n ? n - 1 : rank - 1;
}

/* Quickselect of index want within v[lo..hi]; afterwards v[want] is in
 * place and everything after it is no smaller. */
static int32_t select_at(int32_t *v, size_t lo, size_t hi, size_t want)
{
	while (lo < hi) {
		/* median of three as the pivot keeps sorted input linear */
		size_t mid = lo + (hi - lo) / 2, i = lo, j = hi;
		int32_t pivot;

		if (v[mid] < v[lo])
			swap(&v[mid], &v[lo]);
		if (v[hi] < v[lo])
			swap(&v[hi], &v[lo]);
		if (v[hi] < v[mid])
			swap(&v[hi], &v[mid]);
		pivot = v[mid];
		while (i <= j) {
			while (v[i] < pivot)
				i++;
			while (v[j] > pivot)
				j--;
			if (i <= j) {
				swap(&v[i], &v[j]);
				i++;
				if (j == 0)
					break;
				j--;
			}
		}
		if (want <= j)
			hi = j;
		else if (want >= i)
			lo = i;
		else
			return v[want];
	}
	return v[want];
}

int32_t se_quantile(int32_t *v, size_t n, double p)
{
	return select_at(v, 0, n - 1, rank_of(n, p));
}

void se_quantiles(int32_t *v, size_t n, int32_t *p50, int32_t *p90)
{
	size_t a = rank_of(n, 0.5), b = rank_of(n, 0.9);

	*p50 = select_at(v, 0, n - 1, a);
	*p90 = select_at(v, a, n - 1, b);
}
