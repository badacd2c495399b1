/*
 * test_stats.c: the statistics of core/stats.c on hand-computed cases.
 *
 * Every expected value is worked out in the comment beside it from the
 * formulas in docs/METRICS.md section 5, so a failure can be judged against
 * the docs rather than against the code.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "helpers.h"
#include "quantile.h"
#include "stats.h"

#include <math.h>
#include <stdlib.h>

#define near(a, b) assert_true(fabs((a) - (b)) < 5e-4)

static void test_wilson_hand_cases(void **state)
{
	double lo, hi;

	(void)state;
	/* 5 of 10: p = .5, z^2 = 3.8415; centre .5; half =
	 * 1.96 * sqrt(.025 + 3.8415/400) / (1 + .38415) = .26341 */
	se_wilson(5, 10, SE_Z95, &lo, &hi);
	near(lo, 0.23659);
	near(hi, 0.76341);
	/* 0 of 5: lower 0, upper z^2 / (n + z^2) = 3.8415 / 8.8415 = .43448 */
	se_wilson(0, 5, SE_Z95, &lo, &hi);
	near(lo, 0);
	near(hi, 0.43448);
	/* 5 of 5: the mirror image */
	se_wilson(5, 5, SE_Z95, &lo, &hi);
	near(lo, 0.56552);
	near(hi, 1);
	/* 1 of 2 */
	se_wilson(1, 2, SE_Z95, &lo, &hi);
	near(lo, 0.09453);
	near(hi, 0.90547);
	/* no trials: no information */
	se_wilson(0, 0, SE_Z95, &lo, &hi);
	near(lo, 0);
	near(hi, 1);
	/* 20 of 100: centre (.2 + .019207) / 1.038415 = .211100, half =
	 * 1.96 * sqrt(.0016 + .00009604) / 1.038415 = .077735 */
	se_wilson(20, 100, SE_Z95, &lo, &hi);
	near(lo, 0.13336);
	near(hi, 0.28884);
	assert_int_equal(se_wilson_excludes(20, 100, 0.30), 1);
	assert_int_equal(se_wilson_excludes(20, 100, 0.28), 0);
	assert_int_equal(se_wilson_excludes(0, 0, 0.9), 0);
}

/* Small samples stay unflagged: 1 of 2 against 2 of 2 looks like a 50-point
 * gap, but the interval of the difference is [-.905, .273]
 * (d = -.5; upper = -.5 + sqrt(.40547^2 + .65770^2) = .2726). */
static void test_small_sample_not_significant(void **state)
{
	double lo, hi;

	(void)state;
	se_newcombe(1, 2, 2, 2, &lo, &hi);
	near(lo, -0.90547);
	near(hi, 0.27264);
	assert_true(lo < 0 && hi > 0);
	/* 0 of 3 against 5 of 10: still not significant */
	se_newcombe(0, 3, 5, 10, &lo, &hi);
	assert_true(lo < 0 && hi > 0);
	/* an empty side says nothing */
	se_newcombe(0, 0, 5, 10, &lo, &hi);
	near(lo, -1);
	near(hi, 1);
}

/* A clear gap is flagged: 2 of 40 against 30 of 60.  d = .05 - .5 = -.45;
 * Wilson(2, 40) = [.01383, .16501], Wilson(30, 60) = [.37731, .62269];
 * upper = -.45 + sqrt(.11501^2 + .12269^2) = -.28184 < 0. */
static void test_clear_gap_significant(void **state)
{
	double lo, hi;

	(void)state;
	se_newcombe(2, 40, 30, 60, &lo, &hi);
	near(hi, -0.28184);
	assert_true(hi < 0);
	/* and symmetric: the other way round the interval is mirrored */
	se_newcombe(30, 60, 2, 40, &lo, &hi);
	near(lo, 0.28184);
}

/* (won + k * prior) / (n + k): 2 of 3 with a team rate of .2 and k = 10:
 * (2 + 2) / 13 = .307692; k = 0 is the raw rate; no data is the prior. */
static void test_shrinkage(void **state)
{
	(void)state;
	near(se_shrink(2, 3, 0.2, 10), 4.0 / 13.0);
	near(se_shrink(2, 3, 0.2, 0), 2.0 / 3.0);
	near(se_shrink(0, 0, 0.2, 10), 0.2);
	near(se_shrink(0, 0, 0.2, 0), 0.2);
	/* a large sample barely moves: 300 of 1000, prior .5: 305 / 1010 */
	near(se_shrink(300, 1000, 0.5, 10), 305.0 / 1010.0);
}

/* Two managers.  Source X vs the rest:
 *   manager 1: X 1 of 10 won, rest 5 of 10: N 20, m1 6, m2 14;
 *     E = 10 * 6 / 20 = 3, V = 10*10*6*14 / (400 * 19) = 1.105263
 *   manager 2: X 0 of 10, rest 4 of 10: E = 2, V = 10*10*4*16 / 7600 = .842105
 * z = (1 - 5) / sqrt(1.947368) = -2.86640: weak.
 * A stratum with only X leads adds nothing. */
static void test_cmh(void **state)
{
	se_cmh c = { 0, 0, 0 };

	(void)state;
	se_cmh_add(&c, 1, 10, 5, 10);
	se_cmh_add(&c, 0, 10, 4, 10);
	se_cmh_add(&c, 3, 7, 0, 0);
	near(c.observed, 1);
	near(c.expected, 5);
	near(c.variance, 1.947368);
	near(se_cmh_z(&c), -2.86640);
	/* no variance: z is 0, never flagged */
	se_cmh empty = { 0, 0, 0 };
	near(se_cmh_z(&empty), 0);
}

static int by_value(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest rank: rank ceil(p * n).  {10, 20, 30, 40}: median rank 2 = 20,
 * p90 rank ceil(3.6) = 4 = 40.  {5}: 5 and 5.  10 values 1..10: median
 * rank 5 = 5, p90 rank 9 = 9. */
static void test_quantiles_hand(void **state)
{
	int32_t a[] = { 40, 10, 30, 20 }, one[] = { 5 }, ten[] = { 7, 3, 9, 1, 10, 2, 8, 4, 6, 5 };
	int32_t p50, p90;

	(void)state;
	se_quantiles(a, 4, &p50, &p90);
	assert_int_equal(p50, 20);
	assert_int_equal(p90, 40);
	se_quantiles(one, 1, &p50, &p90);
	assert_int_equal(p50, 5);
	assert_int_equal(p90, 5);
	se_quantiles(ten, 10, &p50, &p90);
	assert_int_equal(p50, 5);
	assert_int_equal(p90, 9);
	assert_int_equal(se_quantile(ten, 10, 0.2), 2);
}

/* Random arrays (with many ties, sorted and reversed runs) against a sort. */
static void test_quantiles_against_sort(void **state)
{
	enum { N = 20000 }; /* both sides of se_quantiles' switch to a histogram */
	int32_t *v = malloc(N * sizeof *v), *w = malloc(N * sizeof *w);
	unsigned seed = 12345;

	(void)state;
	assert_non_null(v);
	assert_non_null(w);
	for (int round = 0; round < 300; round++) {
		size_t n = 1 + (size_t)(round * 67) % N;
		int32_t p50, p90;

		for (size_t i = 0; i < n; i++) {
			seed = seed * 1103515245u + 12345u;
			v[i] = round % 3 == 0 ? (int32_t)((seed >> 16) % 5)
			       : round % 3 == 1 ? (int32_t)i : (int32_t)(seed >> 8);
			if (round % 5 == 4)
				v[i] = (int32_t)(n - i);
			if (round % 7 == 6) /* negatives share the lowest bin */
				v[i] = (int32_t)(seed >> 4) * ((int32_t)(i % 3) - 1);
			w[i] = v[i];
		}
		qsort(w, n, sizeof *w, by_value);
		se_quantiles(v, n, &p50, &p90);
		assert_int_equal(p50, w[(size_t)ceil(0.5 * (double)n - 1e-9) - 1]);
		assert_int_equal(p90, w[(size_t)ceil(0.9 * (double)n - 1e-9) - 1]);
	}
	free(v);
	free(w);
}

/* Large arrays take the histogram path: spread values, clustered values,
 * all equal. */
static void test_quantiles_large(void **state)
{
	enum { N = 200003 };
	int32_t *v = malloc(N * sizeof *v), *w = malloc(N * sizeof *w);
	unsigned seed = 7;

	(void)state;
	assert_non_null(v);
	assert_non_null(w);
	for (int round = 0; round < 3; round++) {
		int32_t p50, p90;

		for (size_t i = 0; i < N; i++) {
			seed = seed * 1103515245u + 12345u;
			v[i] = round == 0 ? (int32_t)(seed >> 1) : round == 1 ? (int32_t)((seed >> 8) % 5000) : 42;
			if (round == 0 && i % 4 == 0) /* a quarter of them in one bin: both ranks' bins large */
				v[i] = 1000000 + (int32_t)(seed % 1000);
			w[i] = v[i];
		}
		qsort(w, N, sizeof *w, by_value);
		se_quantiles(v, N, &p50, &p90);
		assert_int_equal(p50, w[(N + 1) / 2 - 1]);
		assert_int_equal(p90, w[(9 * (size_t)N + 9) / 10 - 1]);
	}
	free(v);
	free(w);
}

/* A table row's parts and the whole row at once (se_quantiles_spans)
 * against a sort of each: parts empty, tiny, just below and above the
 * size from which a part is binned, and large, each cut into spans (some
 * empty) as the groups' blocks cut them; rows below and above the size
 * from which the row is binned; spread, clustered (both ranks in one bin)
 * and equal values; the whole asked for or not (then left unwritten); the
 * values left as they were. */
static void test_quantiles_spans(void **state)
{
	static const size_t sizes[] = { 0, 1, 3, 511, 512, 700, 5000, 8191, 8192, 30000 };
	enum { PARTS = 9, SPANS = 4 * PARTS, SENTINEL = -77 };
	uint64_t rng = 99;

	(void)state;
	for (int round = 0; round < 60; round++) {
		size_t bounds[PARTS + 1], first[PARTS + 1], n, k = 0;
		se_span spans[SPANS];
		int32_t *v, *w, *u, p50[PARTS + 1], p90[PARTS + 1];
		int whole = round % 4 != 3, kind = round % 3;

		bounds[0] = 0;
		for (int p = 0; p < PARTS; p++)
			bounds[p + 1] = bounds[p] + (round < 20 && p > 2 ? 0 : sizes[test_rng_below(&rng, 10)]);
		n = bounds[PARTS];
		v = malloc((n + 1) * sizeof *v);
		w = malloc((n + 1) * sizeof *w);
		u = malloc((n + 1) * sizeof *u);
		assert_non_null(v);
		assert_non_null(w);
		assert_non_null(u);
		for (size_t i = 0; i < n; i++) {
			uint64_t x = test_rng_next(&rng);

			v[i] = kind == 0 ? (int32_t)(x >> 34) : kind == 1 ? 1000000 + (int32_t)(x % 300) : 42;
			if (kind == 1 && i % 5 == 0)
				v[i] = (int32_t)(x % 100000);
			if (i % 101 == 7)
				v[i] = -(int32_t)(x % 1000); /* negatives share the lowest bin */
			w[i] = u[i] = v[i];
		}
		for (int p = 0; p < PARTS; p++) { /* up to 4 spans a part, at random cuts */
			size_t at = bounds[p], cuts = test_rng_below(&rng, 4);

			first[p] = k;
			for (size_t c = 0; c < cuts; c++) {
				size_t len = test_rng_below(&rng, (unsigned)(bounds[p + 1] - at + 1));

				spans[k++] = (se_span){ v + at, len };
				at += len;
			}
			spans[k++] = (se_span){ v + at, bounds[p + 1] - at };
		}
		first[PARTS] = k;
		for (int p = 0; p <= PARTS; p++)
			p50[p] = p90[p] = SENTINEL;
		assert_int_equal(se_quantiles_spans(spans, first, PARTS, whole, p50, p90), SE_OK);
		assert_memory_equal(v, u, n * sizeof *v);
		for (int p = 0; p <= PARTS; p++) {
			size_t lo = p < PARTS ? bounds[p] : 0, hi = p < PARTS ? bounds[p + 1] : n, m = hi - lo;

			if (m == 0 || (p == PARTS && !whole)) {
				assert_int_equal(p50[p], SENTINEL);
				assert_int_equal(p90[p], SENTINEL);
				continue;
			}
			qsort(w + lo, m, sizeof *w, by_value);
			assert_int_equal(p50[p], w[lo + (m + 1) / 2 - 1]);
			assert_int_equal(p90[p], w[lo + (9 * m + 9) / 10 - 1]);
		}
		free(v);
		free(w);
		free(u);
	}
}

static int cmp_i64(const void *pa, const void *pb)
{
	int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;

	return (a > b) - (a < b);
}

/* Table g has the rows, cells and whole rows of table a (width columns). */
static void expect_same_table(const se_qtable *a, const se_qtable *g, uint32_t width)
{
	assert_int_equal(g->width, width);
	assert_int_equal(g->lo, a->lo);
	assert_int_equal(g->nb, a->nb);
	for (int64_t r = a->lo; r < a->lo + a->nb; r++)
		for (uint32_t c = 0; c <= width; c++) {
			const se_quant *x = se_qtable_at(a, r, c), *y = se_qtable_at(g, r, c);

			assert_non_null(y);
			assert_int_equal(x->n, y->n);
			if (x->n > 0) {
				assert_int_equal(x->p50, y->p50);
				assert_int_equal(x->p90, y->p90);
			}
		}
}

/* Samples kept by group give the table the 12-byte samples give: the same
 * rows (empty ones before, between and after), cells and whole rows, one
 * row's whole also checked against a sort; the large case takes the
 * second thread.  paired: groups filled in pairs, each pair two samples,
 * one in each of its rows: values the two share (kept once) and values
 * that differ. */
static void groups_as_samples(int paired, unsigned seed, const size_t *sizes, size_t n_sizes)
{
	const uint32_t width = paired ? 6 : 7;
	const int64_t row = paired ? 7 : 3; /* the row checked against a sort */

	for (size_t si = 0; si < n_sizes; si++) {
		se_samples a = { 0 };
		se_groups g;
		se_qtable qa, qg;
		int64_t *vals = malloc((sizes[si] + 1) * sizeof *vals);
		size_t n_vals = 0;

		assert_non_null(vals);
		assert_int_equal(paired ? se_groups_init_pairs(&g, 5, width) : se_groups_init(&g, 9, width), SE_OK);
		for (size_t i = 0; i < sizes[si]; i++) {
			int64_t r, v, y;
			uint32_t c;

			seed = seed * 1103515245u + 12345u;
			if (paired) { /* pairs 1..3 and a gap: pairs 0 and 4 empty */
				r = 1 + (int64_t)(seed >> 8) % 3;
				if (r == 2 && i % 2 == 0)
					r = 3;
			} else { /* rows 2..7; 5 left empty */
				r = 2 + (int64_t)(seed >> 8) % 6;
				if (r == 5)
					r = 3;
			}
			seed = seed * 1103515245u + 12345u;
			c = (seed >> 8) % width;
			seed = seed * 1103515245u + 12345u;
			v = i % 97 == 0 ? -5 : i % 89 == 0 ? (int64_t)INT32_MAX + 9 : (int64_t)(seed >> 9) % 100000;
			/* mostly the same value; sometimes more, or the same once clamped */
			y = i % 5 == 0 ? v + (int64_t)(seed >> 20) % 5000 : i % 97 == 0 ? -9 : v;
			if (paired) {
				assert_int_equal(se_samples_add(&a, 2 * r, c, v), SE_OK);
				assert_int_equal(se_samples_add(&a, 2 * r + 1, c, y), SE_OK);
				assert_int_equal(se_groups_add_pair(&g, r, c, v, y), SE_OK);
				r = 2 * r + 1;
				v = y;
			} else {
				assert_int_equal(se_samples_add(&a, r, c, v), SE_OK);
				assert_int_equal(se_groups_add(&g, r, c, v), SE_OK);
			}
			if (r == row)
				vals[n_vals++] = v < 0 ? 0 : v > INT32_MAX ? INT32_MAX : v;
		}
		assert_int_equal(se_qtable_build(&qa, &a, width), SE_OK);
		assert_int_equal(se_qtable_build_groups(&qg, &g), SE_OK);
		expect_same_table(&qa, &qg, width);
		if (n_vals > 0) {
			const se_quant *q = se_qtable_at(&qg, row, width);

			qsort(vals, n_vals, sizeof *vals, cmp_i64);
			assert_int_equal(q->n, (int64_t)n_vals);
			assert_int_equal(q->p50, vals[(n_vals + 1) / 2 - 1]);
			assert_int_equal(q->p90, vals[(9 * n_vals + 9) / 10 - 1]);
			if (paired) {
				assert_int_equal(qg.lo, 2);
				assert_int_equal(qg.nb, 6);
			} else {
				assert_int_equal(se_qtable_at(&qg, 5, 0)->n, 0);
			}
		} else if (!paired || sizes[si] == 0) {
			assert_null(se_qtable_at(&qg, row, 0));
		}
		free(qa.cells);
		free(qg.cells);
		free(vals);
	}
}

static void test_groups_as_samples(void **state)
{
	static const size_t sizes[] = { 0, 1, 5000, 1200000 };

	(void)state;
	groups_as_samples(0, 5, sizes, sizeof sizes / sizeof sizes[0]);
}

static void test_group_pairs_as_samples(void **state)
{
	static const size_t sizes[] = { 0, 1, 7000, 800000 };

	(void)state;
	groups_as_samples(1, 11, sizes, sizeof sizes / sizeof sizes[0]);
}

/* Both tables of se_qtable_build2 are what se_qtable_build gives of the
 * same samples by either column, each cell also checked against a sort. */
static void test_build2_as_two_builds(void **state)
{
	static const size_t sizes[] = { 0, 3, 4000, 250000 };
	unsigned seed = 77;

	(void)state;
	for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
		const uint32_t width = 6, width2 = 4;
		const int64_t lo = 10, rows = 5;
		size_t n = sizes[si];
		se_samples both = { 0 }, by1 = { 0 }, by2 = { 0 };
		se_qtable q1, q2, r1, r2;
		int64_t *vals = malloc((n + 1) * sizeof *vals), *rr = malloc((n + 1) * sizeof *rr);
		uint32_t *c1 = malloc((n + 1) * sizeof *c1), *c2 = malloc((n + 1) * sizeof *c2);
		int64_t *row = malloc((n + 1) * sizeof *row);

		assert_true(vals && rr && c1 && c2 && row);
		for (size_t i = 0; i < n; i++) {
			seed = seed * 1103515245u + 12345u;
			rr[i] = lo + (int64_t)(seed >> 8) % rows;
			seed = seed * 1103515245u + 12345u;
			c1[i] = (seed >> 8) % width;
			seed = seed * 1103515245u + 12345u;
			c2[i] = (seed >> 8) % width2;
			seed = seed * 1103515245u + 12345u;
			vals[i] = (int64_t)(seed >> 10) % 50000;
			assert_int_equal(se_samples_add2(&both, rr[i], c1[i], c2[i], vals[i]), SE_OK);
			assert_int_equal(se_samples_add(&by1, rr[i], c1[i], vals[i]), SE_OK);
			assert_int_equal(se_samples_add(&by2, rr[i], c2[i], vals[i]), SE_OK);
		}
		assert_int_equal(se_qtable_build2(&q1, width, &q2, width2, &both), SE_OK);
		assert_int_equal(se_qtable_build(&r1, &by1, width), SE_OK);
		assert_int_equal(se_qtable_build(&r2, &by2, width2), SE_OK);
		assert_int_equal(q2.width, width2);
		for (int t = 0; t < 2; t++) {
			const se_qtable *q = t == 0 ? &q1 : &q2, *r = t == 0 ? &r1 : &r2;
			const uint32_t *cols = t == 0 ? c1 : c2;
			uint32_t w = t == 0 ? width : width2;

			assert_int_equal(q->nb, r->nb);
			assert_int_equal(q->lo, r->lo);
			for (int64_t k = lo; n > 0 && k < lo + rows; k++)
				for (uint32_t c = 0; c < w; c++) {
					const se_quant *x = se_qtable_at(q, k, c), *y = se_qtable_at(r, k, c);
					size_t m = 0;

					for (size_t i = 0; i < n; i++)
						if (rr[i] == k && cols[i] == c)
							row[m++] = vals[i];
					if (m == 0) { /* a row before or after the samples' has no cell */
						assert_true(x == NULL || x->n == 0);
						assert_true(y == NULL || y->n == 0);
						continue;
					}
					assert_non_null(x);
					assert_non_null(y);
					assert_int_equal(x->n, (int64_t)m);
					assert_int_equal(y->n, (int64_t)m);
					qsort(row, m, sizeof *row, cmp_i64);
					assert_int_equal(x->p50, row[(m + 1) / 2 - 1]);
					assert_int_equal(x->p90, row[(9 * m + 9) / 10 - 1]);
					assert_int_equal(y->p50, x->p50);
					assert_int_equal(y->p90, x->p90);
				}
		}
		free(q1.cells);
		free(q2.cells);
		free(r1.cells);
		free(r2.cells);
		free(vals);
		free(rr);
		free(c1);
		free(c2);
		free(row);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wilson_hand_cases),
		cmocka_unit_test(test_small_sample_not_significant),
		cmocka_unit_test(test_clear_gap_significant),
		cmocka_unit_test(test_shrinkage),
		cmocka_unit_test(test_cmh),
		cmocka_unit_test(test_quantiles_hand),
		cmocka_unit_test(test_quantiles_against_sort),
		cmocka_unit_test(test_quantiles_large),
		cmocka_unit_test(test_quantiles_spans),
		cmocka_unit_test(test_groups_as_samples),
		cmocka_unit_test(test_group_pairs_as_samples),
		cmocka_unit_test(test_build2_as_two_builds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
