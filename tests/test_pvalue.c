/*
 * test_pvalue.c: p-values, the Benjamini-Hochberg adjustment and the
 * Aalen-Johansen estimate (core/pvalue.c, core/survival.c) on cases worked
 * out by hand in the comments, from the formulas in docs/METRICS.md.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "helpers.h"
#include "pvalue.h"
#include "survival.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define near(a, b) assert_true(fabs((a) - (b)) < 1e-6)

static void test_p_two_sided(void **state)
{
	(void)state;
	near(se_p_two_sided(1.959963984540054), 0.05);
	near(se_p_two_sided(-1.959963984540054), 0.05);
	near(se_p_two_sided(0), 1);
	assert_true(isnan(se_p_two_sided(NAN)));
}

/* The newcomer: 1 of 6 against 63 of 100.  Pooled p = 64/106 = .603774;
 * se = sqrt(.603774 x .396226 x (1/6 + 1/100)) = .205584;
 * z = (.166667 - .63) / .205584 = -2.253759, p = erfc(2.253759 / sqrt 2)
 * = .024211: below .05 on its own, which is why a minimum sample exists. */
static void test_two_prop(void **state)
{
	double z;

	(void)state;
	z = se_two_prop_z(1, 6, 63, 100);
	near(z, -2.2537589852);
	near(se_p_two_sided(z), 0.0242113343);
	/* 45 of 300 against 810 of 2700: a manager at half the team's 30% */
	near(se_two_prop_z(45, 300, 810, 2700), -5.4600634584);
	/* no variation, or an empty side: no evidence */
	near(se_two_prop_z(0, 50, 0, 70), 0);
	near(se_two_prop_z(5, 5, 9, 9), 0);
	near(se_two_prop_z(1, 0, 9, 9), 0);
}

/* p = .01 .04 .03 .005 (and one non-test): ranks .005 (1) .01 (2) .03 (3)
 * .04 (4); m p / j = .02 .02 .04 .04; running minimum from the top:
 * q(.04) = .04, q(.03) = .04, q(.01) = .02, q(.005) = .02. */
static void test_bh(void **state)
{
	double p[5] = { 0.01, 0.04, 0.03, 0.005, NAN }, q[5];

	(void)state;
	assert_int_equal(se_bh_adjust(p, 5, q), 0);
	near(q[0], 0.02);
	near(q[1], 0.04);
	near(q[2], 0.04);
	near(q[3], 0.02);
	assert_true(isnan(q[4]));
	/* the running minimum matters: .01 .011 .9 -> 3 x .01 / 1 = .03,
	 * 3 x .011 / 2 = .0165, .9: q = .0165 .0165 .9 */
	{
		double p2[3] = { 0.01, 0.011, 0.9 }, q2[3];

		assert_int_equal(se_bh_adjust(p2, 3, q2), 0);
		near(q2[0], 0.0165);
		near(q2[1], 0.0165);
		near(q2[2], 0.9);
	}
	/* capped at 1, and an empty family is fine */
	{
		double p3[2] = { 0.9, 0.95 }, q3[2];

		assert_int_equal(se_bh_adjust(p3, 2, q3), 0);
		near(q3[0], 0.95);
		near(q3[1], 0.95);
		assert_int_equal(se_bh_adjust(p3, 0, q3), 0);
	}
}

/* Five histories: won at 1, lost at 2, censored at 2, won at 3, censored
 * at 4.
 *   u = 1: at risk 5, one won:  CIF = 1/5 = .2,           S = .8
 *   u = 2: at risk 4, one lost (the censored one still at risk):
 *                               CIF = .2,                 S = .8 x 3/4 = .6
 *   u = 3: at risk 2, one won:  CIF = .2 + .6 x 1/2 = .5, S = .3
 * so P(won within 2 | nothing by 1) = (.5 - .2) / .8 = .375, and nothing
 * is expected after 3: the only history that lasted longer was censored. */
/* se_cif_rank from any known lower rank equals the count of outcome
 * times <= t, at every t around and between the points (the gallop's
 * edges: one step, the last point, past the end). */
static void test_cif_rank(void **state)
{
	se_surv_obs o[40];
	se_cif c;

	(void)state;
	for (int i = 0; i < 40; i++) /* outcome times 2, 4, .., 80 (every third one censored) */
		o[i] = (se_surv_obs){ 2 * (i + 1), i % 3 == 2 ? SE_OUT_CENSORED : i % 2 ? SE_OUT_OTHER : SE_OUT_WON };
	assert_int_equal(se_cif_build(&c, o, 40), 0);
	for (int64_t t = -1; t <= 83; t++) {
		size_t want = 0;

		for (size_t i = 0; i < c.n; i++)
			want += c.time[i] <= t;
		for (size_t from = 0; from <= want; from++)
			assert_int_equal(se_cif_rank(&c, t, from), want);
	}
	se_cif_free(&c);
}

static void test_aalen_johansen(void **state)
{
	se_surv_obs o[5] = { { 3, SE_OUT_WON }, { 2, SE_OUT_CENSORED }, { 1, SE_OUT_WON }, { 4, SE_OUT_CENSORED },
	                     { 2, SE_OUT_OTHER } };
	se_cif c;
	double s, f;

	(void)state;
	assert_int_equal(se_cif_build(&c, o, 5), 0);
	assert_int_equal(c.n, 3);
	se_cif_at(&c, 0, &s, &f);
	near(s, 1);
	near(f, 0);
	se_cif_at(&c, 2, &s, &f);
	near(s, 0.6);
	near(f, 0.2);
	se_cif_at(&c, 100, &s, &f);
	near(s, 0.3);
	near(f, 0.5);
	near(se_cif_won_between(&c, 1, 0, 2), 0.375);
	near(se_cif_won_between(&c, 0, 0, 1), 0.2);
	near(se_cif_won_between(&c, 0, 1, 3), 0.3);
	near(se_cif_won_between(&c, 3, 0, 1000), 0);
	near(se_cif_won_between(&c, INT64_MAX - 1, 0, INT64_MAX), 0);
	se_cif_free(&c);
	/* nothing censored: the plain share won by then */
	{
		se_surv_obs p[4] = { { 5, SE_OUT_WON }, { 1, SE_OUT_OTHER }, { 2, SE_OUT_WON }, { 9, SE_OUT_OTHER } };

		assert_int_equal(se_cif_build(&c, p, 4), 0);
		se_cif_at(&c, 5, &s, &f);
		near(f, 0.5);
		near(s, 0.25);
		se_cif_free(&c);
	}
	assert_int_equal(se_cif_build(&c, o, 0), 0);
	near(se_cif_won_between(&c, 0, 0, 10), 0);
	se_cif_free(&c);
}

/* The estimate over a subset, taken in place (se_cif_fill_where), is bit
 * for bit the plain estimate over the subset copied out
 * (se_cif_fill_sorted): on random histories, small ones among them, with
 * ties of up to 8, at every level, and with a risk set larger than the
 * histories scanned (the caller's prefix: the rest stay at risk). */
static void test_cif_subset_exact(void **state)
{
	enum { MOST = 2000, LEVELS = 4, ROUNDS = 3000 };
	uint64_t rng = 0x5eed0c1fULL;
	se_surv_obs *o = malloc(MOST * sizeof *o), *sub = malloc(MOST * sizeof *sub);
	uint8_t *level = malloc(MOST);
	int64_t *time = malloc(2 * MOST * sizeof *time);
	double *surv = malloc(2 * MOST * sizeof *surv), *cif = malloc(2 * MOST * sizeof *cif);
	int big_ties = 0;

	(void)state;
	assert_non_null(o && sub && level && time && surv && cif);
	for (int round = 0; round < ROUNDS; round++) {
		size_t all = round % 100 == 0 ? MOST : 2 + test_rng_below(&rng, 30);
		int64_t t = 0;

		for (size_t i = 0, run = 0; i < all; i++) {
			if (i == 0 || test_rng_below(&rng, 2) != 0 || run >= 8) { /* else a tie with the one before */
				t += 1 + test_rng_below(&rng, 50);
				run = 0;
			}
			run++;
			o[i] = (se_surv_obs){ t, (int32_t)test_rng_below(&rng, 3) }; /* won, other or censored */
			level[i] = (uint8_t)test_rng_below(&rng, LEVELS);
		}
		for (int lv = 0; lv < LEVELS; lv++) {
			for (int part = 0; part < 2; part++) { /* all, or a prefix with the rest still at risk */
				size_t n = all, kept = 0, m = 0;
				se_cif want = { 0, time, surv, cif, 0 }, got = { 0, time + MOST, surv + MOST, cif + MOST, 0 };

				if (part) /* a prefix that ends between two times */
					for (n = all / 2; n > 0 && n < all && o[n].t == o[n - 1].t; n++)
						;
				for (size_t i = 0; i < all; i++)
					if (level[i] >= lv)
						sub[m++] = o[i];
				kept = m;
				for (size_t i = 0, d = 0; i < n; i++) { /* groups of 3 outcomes or more in what is scanned */
					d = i > 0 && o[i].t == o[i - 1].t ? d : 0;
					d += level[i] >= lv && o[i].outcome != SE_OUT_CENSORED;
					big_ties += d == 3;
				}
				se_cif_fill_sorted(&want, sub, m);
				se_cif_fill_where(&got, o, level, n, (uint8_t)lv, kept);
				assert_int_equal(got.n_obs, kept);
				assert_true(part ? got.n <= want.n : got.n == want.n); /* a prefix: the first points */
				assert_memory_equal(got.time, want.time, got.n * sizeof *time);
				assert_memory_equal(got.surv, want.surv, got.n * sizeof *surv);
				assert_memory_equal(got.cif, want.cif, got.n * sizeof *cif);
			}
		}
	}
	assert_true(big_ties > 1000);
	free(o);
	free(sub);
	free(level);
	free(time);
	free(surv);
	free(cif);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_p_two_sided),
		cmocka_unit_test(test_two_prop),
		cmocka_unit_test(test_bh),
		cmocka_unit_test(test_aalen_johansen),
		cmocka_unit_test(test_cif_rank),
		cmocka_unit_test(test_cif_subset_exact),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
