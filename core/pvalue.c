/*
 * pvalue.c: normal p-values and the Benjamini-Hochberg adjustment (pvalue.h).
 *
 * Benjamini-Hochberg rather than Bonferroni: a report tests dozens to
 * hundreds of (manager, step) and (source, period) pairs, and Bonferroni at
 * that size would miss real gaps of 10-15 points on a few hundred deals.
 * BH keeps the expected share of false claims among the claims at 5%, and
 * when no gap is real at all (every claim false) the chance of any claim is
 * at most 5%, which is the "no accusation from noise" a head of sales needs.
 */
#include "pvalue.h"

#include <math.h>
#include <stdlib.h>

double se_p_two_sided(double z)
{
	if (isnan(z))
		return NAN;
	return erfc(fabs(z) / sqrt(2.0));
}

double se_two_prop_z(int64_t k1, int64_t n1, int64_t k2, int64_t n2)
{
	double p, se;

	if (n1 <= 0 || n2 <= 0)
		return 0;
	p = (double)(k1 + k2) / (double)(n1 + n2);
	se = sqrt(p * (1 - p) * (1.0 / (double)n1 + 1.0 / (double)n2));
	if (!(se > 0))
		return 0;
	return ((double)k1 / (double)n1 - (double)k2 / (double)n2) / se;
}

typedef struct ranked {
	double p;
	size_t i;
} ranked;

static int by_p(const void *a, const void *b)
{
	const ranked *x = a, *y = b;

	if (x->p != y->p)
		return x->p < y->p ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i; /* stable: ties keep their order */
}

int se_bh_adjust(const double *p, size_t n, double *q)
{
	ranked *r;
	size_t m = 0;
	double running = 1;

	for (size_t i = 0; i < n; i++)
		q[i] = NAN;
	if ((r = malloc((n ? n : 1) * sizeof *r)) == NULL)
		return -2;
	for (size_t i = 0; i < n; i++)
		if (!isnan(p[i]))
			r[m++] = (ranked){ p[i], i };
	qsort(r, m, sizeof *r, by_p);
	/* from the largest p down: the running minimum of m p / rank */
	for (size_t j = m; j > 0; j--) {
		double v = (double)m * r[j - 1].p / (double)j;

		if (v < running)
			running = v;
		q[r[j - 1].i] = running;
	}
	free(r);
	return 0;
}
