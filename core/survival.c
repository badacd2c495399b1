/*
 * survival.c: the Aalen-Johansen estimator (survival.h).
 *
 * With r histories at risk just before a time u (duration >= u), d of them
 * ending at u and d1 of those in "won":
 *   CIF(u) = CIF(u-) + S(u-) d1 / r,    S(u) = S(u-) (1 - d / r).
 * Censored histories leave the risk set after their time without moving
 * either curve, which is what makes deals still open count as "not known
 * yet" rather than as lost.  Without censoring CIF(u) is the plain share
 * won by u.
 */
#include "survival.h"

#include <stdlib.h>
#include <string.h>

int se_cif_order(const void *pa, const void *pb)
{
	const se_surv_obs *a = pa, *b = pb;

	if (a->t != b->t)
		return a->t < b->t ? -1 : 1;
	return (a->outcome < b->outcome) - (a->outcome > b->outcome); /* outcomes before censorings */
}

void se_cif_free(se_cif *c)
{
	free(c->time);
	free(c->surv);
	free(c->cif);
	memset(c, 0, sizeof *c);
}

int se_cif_build(se_cif *c, se_surv_obs *obs, size_t n)
{
	qsort(obs, n, sizeof *obs, se_cif_order);
	return se_cif_build_sorted(c, obs, n);
}

int se_cif_build_sorted(se_cif *c, const se_surv_obs *obs, size_t n)
{
	memset(c, 0, sizeof *c);
	if (n == 0)
		return 0;
	c->time = malloc(n * sizeof *c->time);
	c->surv = malloc(n * sizeof *c->surv);
	c->cif = malloc(n * sizeof *c->cif);
	if (c->time == NULL || c->surv == NULL || c->cif == NULL) {
		se_cif_free(c);
		return -2;
	}
	se_cif_fill_sorted(c, obs, n);
	return 0;
}

/* One time u of the estimate: d events of any kind (d1 of them wins)
 * among *at_risk, then `all` observations leave the risk set.  Returns the
 * number of points filled. */
static size_t add_time(se_cif *c, size_t k, int64_t u, size_t d, size_t d1, size_t *at_risk,
                       size_t all, double *s, double *f)
{
	if (d > 0) {
		*f += *s * (double)d1 / (double)*at_risk;
		*s *= 1 - (double)d / (double)*at_risk;
		c->time[k] = u;
		c->surv[k] = *s;
		c->cif[k] = *f;
		k++;
	}
	*at_risk -= all;
	return k;
}

void se_cif_fill_sorted(se_cif *c, const se_surv_obs *obs, size_t n)
{
	double s = 1, f = 0;
	size_t at_risk = n, k = 0;

	c->n_obs = n;
	for (size_t i = 0; i < n;) {
		int64_t u = obs[i].t;
		size_t d = 0, d1 = 0, all = 0;

		for (; i < n && obs[i].t == u; i++, all++) {
			if (obs[i].outcome != SE_OUT_CENSORED)
				d++;
			if (obs[i].outcome == SE_OUT_WON)
				d1++;
		}
		k = add_time(c, k, u, d, d1, &at_risk, all, &s, &f);
	}
	c->n = k;
}

void se_cif_fill_where(se_cif *c, const se_surv_obs *obs, const uint8_t *level, size_t n, uint8_t min_level,
                       size_t kept)
{
	double s = 1, f = 0;
	size_t at_risk = kept, k = 0;

	c->n_obs = kept;
	for (size_t i = 0; i < n;) {
		int64_t u = obs[i].t;
		size_t d = 0, d1 = 0, all = 0;
		double r;

		/* a time's group: the kept observations at u (counted without
		 * branching on which are kept: a group of none changes nothing) */
		for (; i < n && obs[i].t == u; i++) {
			size_t in = level[i] >= min_level;

			all += in;
			d += in & (obs[i].outcome != SE_OUT_CENSORED);
			d1 += in & (obs[i].outcome == SE_OUT_WON);
		}
		/* add_time without its branch, which half the groups (censored
		 * or not kept) would mispredict: with d = 0, s * (1 - 0 / r) is
		 * s and f + s * 0 / r is f, exactly; the point written goes
		 * unless d > 0 (there is room: a point per group at most) */
		r = (double)(at_risk > 0 ? at_risk : 1);
		f += s * (double)d1 / r;
		s *= 1 - (double)d / r;
		c->time[k] = u;
		c->surv[k] = s;
		c->cif[k] = f;
		k += d > 0;
		at_risk -= all;
	}
	c->n = k;
}

size_t se_cif_rank(const se_cif *c, int64_t t, size_t from)
{
	size_t lo = from, hi = c->n, step = 1;

	/* galloping from a known rank: one near it costs a few steps, in the
	 * cache lines just read; from none, a plain binary search */
	if (from > 0) {
		while (lo + step <= c->n && c->time[lo + step - 1] <= t) {
			lo += step;
			step *= 2;
		}
		if (lo + step - 1 < hi)
			hi = lo + step - 1;
	}
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (c->time[mid] <= t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void se_cif_at(const se_cif *c, int64_t t, double *surv, double *cif)
{
	size_t k = se_cif_rank(c, t, 0);

	*surv = k == 0 ? 1 : c->surv[k - 1];
	*cif = k == 0 ? 0 : c->cif[k - 1];
}

static int64_t add_sat(int64_t x, int64_t y)
{
	return x > INT64_MAX - y ? INT64_MAX : x + y;
}

double se_cif_won_between(const se_cif *c, int64_t t, int64_t a, int64_t b)
{
	double s, f0, fa, fb, sa, sb;

	se_cif_at(c, t, &s, &f0);
	if (!(s > 0))
		return 0;
	se_cif_at(c, add_sat(t, a), &sa, &fa);
	se_cif_at(c, add_sat(t, b), &sb, &fb);
	return (fb - fa) / s;
}
