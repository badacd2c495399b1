/*
 * stats.c: Wilson intervals, CMH, shrinkage and quantiles (stats.h).
 *
 * Quantiles are nearest-rank, not interpolated: every printed median is a
 * duration some deal really had, and a plain SQL reference can reproduce
 * it exactly with ORDER BY ... LIMIT 1 OFFSET.
 */
#include "stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

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

/* Floyd-Rivest selection of index k within v[left..right]: afterwards v[k]
 * is in place, everything before it is no larger and everything after it no
 * smaller.  On large ranges it first selects within a small sample around
 * the expected position, so the partition pivot is nearly exact: about 1.5 n
 * comparisons against quickselect's 3.4 n, which matters for the millions of
 * durations a report on a big store collects. */
static void select_at(int32_t *v, ptrdiff_t left, ptrdiff_t right, ptrdiff_t k)
{
	while (right > left) {
		ptrdiff_t i, j;
		int32_t t;

		if (right - left > 600) {
			double n = (double)(right - left + 1), pos = (double)(k - left + 1), z = log(n);
			double sz = 0.5 * exp(2 * z / 3);
			double sd = 0.5 * sqrt(z * sz * (n - sz) / n) * (pos - n / 2 < 0 ? -1 : 1);
			ptrdiff_t nl = (ptrdiff_t)((double)k - pos * sz / n + sd);
			ptrdiff_t nr = (ptrdiff_t)((double)k + (n - pos) * sz / n + sd);

			select_at(v, nl > left ? nl : left, nr < right ? nr : right, k);
		}
		t = v[k];
		i = left;
		j = right;
		swap(&v[left], &v[k]);
		if (v[right] > t)
			swap(&v[right], &v[left]);
		while (i < j) {
			swap(&v[i], &v[j]);
			i++;
			j--;
			while (v[i] < t)
				i++;
			while (v[j] > t)
				j--;
		}
		if (v[left] == t) {
			swap(&v[left], &v[j]);
		} else {
			j++;
			swap(&v[j], &v[right]);
		}
		if (j <= k)
			left = j + 1;
		if (k <= j)
			right = j - 1;
	}
}

int32_t se_quantile(int32_t *v, size_t n, double p)
{
	size_t k = rank_of(n, p);

	select_at(v, 0, (ptrdiff_t)n - 1, (ptrdiff_t)k);
	return v[k];
}

/* se_quantiles from some thousands of values up (below, selecting over
 * all of them is as fast): a histogram over a logarithmic binning (a
 * value's bin is its float's exponent and 5 leading mantissa bits: each
 * value below 64 its own bin, then 32 bins an octave, 4 KiB in all, in the
 * L1 cache and on the stack; the conversion rounds, but monotonically, so
 * a bin is still a range of values) finds the bins of both ranks; one more
 * sweep moves those bins' values to the ends of v (a three-way partition:
 * the few swaps are the only writes), and the selection runs on them.  Two
 * sequential sweeps of cheap, well-predicted steps instead of selecting
 * over all of v, whose comparisons the branch predictor cannot guess:
 * 2.5 ns a value against 5 at 100,000 values, and against 7 for a finer
 * histogram of 92 KiB allocated for every array, which this replaced. */
#define BINNED_MIN_N 8192
#define FLOAT_ONE_BITS (0x3F800000u >> 18)               /* 1.0f's bin */
#define BINNED_BINS ((0x4F000000u >> 18) - FLOAT_ONE_BITS + 2) /* through 2^31 */

static inline uint32_t binned_bin(int32_t x)
{
	float f = (float)(x < 0 ? 0 : x);
	uint32_t b;

	memcpy(&b, &f, sizeof b);
	b >>= 18;
	return b < FLOAT_ONE_BITS ? 0 : b - FLOAT_ONE_BITS + 1;
}

/* The bins of ranks a and b (0-based) in a histogram of BINNED_BINS
 * counts, and how many values lie below each. */
typedef struct bin_pair {
	uint32_t ba, bb;
	size_t below_a, below_b;
} bin_pair;

static void locate_bins(const uint32_t *bins, size_t a, size_t b, bin_pair *p)
{
	size_t below = 0;
	int found_a = 0;

	memset(p, 0, sizeof *p);
	for (uint32_t k = 0; k < BINNED_BINS; k++) {
		if (!found_a && below + bins[k] > a) {
			p->ba = k;
			p->below_a = below;
			found_a = 1;
		}
		if (below + bins[k] > b) {
			p->bb = k;
			p->below_b = below;
			return;
		}
		below += bins[k];
	}
}

/* Values of two other bins copied aside while a partition classifies
 * each value once: to a[] those of bin ba, to b[] those of bin bb. */
typedef struct bin_copy {
	uint32_t ba, bb;
	int32_t *a, *b;
	size_t na, nb;
} bin_copy;

/* The ranks a and b of v[0..n) once v[0, lo) holds bin bp->ba's values
 * and v[hi, n) bin bp->bb's (when another). */
static void select_pair(int32_t *v, size_t n, size_t lo, size_t hi, size_t a, size_t b, const bin_pair *bp,
                        int32_t *pa, int32_t *pb)
{
	size_t ia = a - bp->below_a, ib;

	select_at(v, 0, (ptrdiff_t)lo - 1, (ptrdiff_t)ia);
	*pa = v[ia];
	if (bp->ba == bp->bb) { /* b's offset lies above a's in the same, now partly ordered, bin */
		ib = b - bp->below_a;
		select_at(v, (ptrdiff_t)ia, (ptrdiff_t)lo - 1, (ptrdiff_t)ib);
	} else {
		ib = hi + (b - bp->below_b);
		select_at(v, (ptrdiff_t)hi, (ptrdiff_t)n - 1, (ptrdiff_t)ib);
	}
	*pb = v[ib];
}

static inline void copy_bin(bin_copy *cp, uint32_t k, int32_t x)
{
	if (k == cp->ba)
		cp->a[cp->na++] = x;
	else if (k == cp->bb)
		cp->b[cp->nb++] = x;
}

/* The ranks a and b of v[0..n), whose bins (bp) a histogram found: one
 * sweep moves those bins' values to the ends of v (a three-way partition:
 * the few swaps are the only writes), and the selection runs on them.
 * mark[k] is nonzero for bp's bins only: most values are in neither, and
 * pass on one test. */
static void split_select(int32_t *v, size_t n, size_t a, size_t b, const bin_pair *bp, const uint8_t *mark,
                         int32_t *pa, int32_t *pb)
{
	size_t lo = 0, mid = 0, hi = n;

	while (mid < hi) {
		uint32_t k = binned_bin(v[mid]);

		if (!mark[k])
			mid++;
		else if (k == bp->ba)
			swap(&v[lo++], &v[mid++]);
		else
			swap(&v[mid], &v[--hi]);
	}
	select_pair(v, n, lo, hi, a, b, bp, pa, pb);
}

/* No bin matches: nothing copied. */
#define NO_COPY ((bin_copy){ UINT32_MAX, UINT32_MAX, NULL, NULL, 0, 0 })

static void binned_quantiles(int32_t *v, size_t n, size_t a, size_t b, int32_t *pa, int32_t *pb)
{
	uint32_t bins[BINNED_BINS] = { 0 };
	uint8_t mark[BINNED_BINS] = { 0 };
	bin_pair bp;

	for (size_t i = 0; i < n; i++)
		bins[binned_bin(v[i])]++;
	locate_bins(bins, a, b, &bp);
	mark[bp.ba] = mark[bp.bb] = 1;
	split_select(v, n, a, b, &bp, mark, pa, pb);
}

void se_quantiles(int32_t *v, size_t n, int32_t *p50, int32_t *p90)
{
	size_t a = rank_of(n, 0.5), b = rank_of(n, 0.9);

	if (n >= BINNED_MIN_N) {
		binned_quantiles(v, n, a, b, p50, p90);
		return;
	}

	select_at(v, 0, (ptrdiff_t)n - 1, (ptrdiff_t)a);
	*p50 = v[a];
	select_at(v, (ptrdiff_t)a, (ptrdiff_t)n - 1, (ptrdiff_t)b); /* after a: no smaller */
	*p90 = v[b];
}

/* The row's bins come from the parts' first sweep (each part's histogram,
 * added into the row's), and the parts' second sweep copies aside the
 * values of each part's two bins and of the row's: two sweeps for the
 * parts and the row together, where a part's quantiles and then the row's
 * took two each, and only a few hundredths of the values written (the
 * spans are never, nor copied whole).  A part's histogram costs only its
 * clearing and search here, the row's sweep being made anyway, so parts
 * are binned from far fewer values than se_quantiles bins an array; the
 * smaller ones are copied and selected over. */
#define PART_BINNED_MIN_N 512

/* Calls body with x for each value of part p. */
#define EACH_VALUE(spans, first, p, x, body)                                                            \
	for (size_t s_ = (first)[p]; s_ < (first)[(p) + 1]; s_++)                                      \
		for (const int32_t *x_ = (spans)[s_].v, *e_ = x_ + (spans)[s_].n; x_ < e_; x_++) {     \
			int32_t x = *x_;                                                                 \
			body                                                                             \
		}

static size_t part_size(const se_span *spans, const size_t *first, size_t p)
{
	size_t m = 0;

	for (size_t s_ = first[p]; s_ < first[p + 1]; s_++)
		m += spans[s_].n;
	return m;
}

/* The parts' and the row's quantiles of a row too small to bin: each part
 * copied to buf (room for the row) and selected over, then all of buf. */
static void small_row(const se_span *spans, const size_t *first, size_t parts, int whole, int32_t *buf,
                      int32_t *p50, int32_t *p90)
{
	size_t n = 0;

	for (size_t p = 0; p < parts; p++) {
		size_t at = n;

		EACH_VALUE(spans, first, p, x, { buf[n++] = x; })
		if (n > at)
			se_quantiles(buf + at, n - at, &p50[p], &p90[p]);
	}
	if (!whole || n == 0)
		return;
	if (parts == 1) { /* the one part is the row */
		p50[1] = p50[0];
		p90[1] = p90[0];
	} else {
		se_quantiles(buf, n, &p50[parts], &p90[parts]);
	}
}

/* A binned part's two bins and how many values each holds. */
typedef struct part_bins {
	bin_pair bp;
	size_t cnt_a, cnt_b;
} part_bins;

int se_quantiles_spans(const se_span *spans, const size_t *first, size_t parts, int whole, int32_t *p50,
                       int32_t *p90)
{
	size_t n = 0, most = PART_BINNED_MIN_N, a, b;
	uint32_t row[BINNED_BINS] = { 0 }, part[BINNED_BINS];
	uint8_t mark[BINNED_BINS] = { 0 }; /* the row's bins, and a part's while it is swept */
	bin_pair rb;
	part_bins *pb;
	bin_copy cp = NO_COPY;
	int32_t *side = NULL, *buf = NULL;
	int rc = SE_ENOMEM;

	for (size_t p = 0; p < parts; p++)
		n += part_size(spans, first, p);
	if (n < BINNED_MIN_N || (parts == 1 && whole)) {
		if (n == 0)
			return SE_OK;
		if ((buf = malloc(n * sizeof *buf)) == NULL)
			return SE_ENOMEM;
		small_row(spans, first, parts, whole, buf, p50, p90);
		free(buf);
		return SE_OK;
	}
	if ((pb = malloc(parts * sizeof *pb)) == NULL)
		return SE_ENOMEM;
	for (size_t p = 0; p < parts; p++) {
		size_t m = part_size(spans, first, p);
		part_bins *q = &pb[p];

		if (m < PART_BINNED_MIN_N) {
			if (whole)
				EACH_VALUE(spans, first, p, x, { row[binned_bin(x)]++; })
			continue;
		}
		memset(part, 0, sizeof part);
		EACH_VALUE(spans, first, p, x, { part[binned_bin(x)]++; })
		for (size_t k = 0; whole && k < BINNED_BINS; k++)
			row[k] += part[k];
		locate_bins(part, rank_of(m, 0.5), rank_of(m, 0.9), &q->bp);
		q->cnt_a = part[q->bp.ba];
		q->cnt_b = q->bp.bb != q->bp.ba ? part[q->bp.bb] : 0;
		if (q->cnt_a + q->cnt_b > most)
			most = q->cnt_a + q->cnt_b;
	}
	a = rank_of(n, 0.5);
	b = rank_of(n, 0.9);
	if (whole) {
		locate_bins(row, a, b, &rb);
		/* side: bin ba's values, then bin bb's when another */
		if ((side = malloc((row[rb.ba] + (rb.bb != rb.ba ? row[rb.bb] : 0)) * sizeof *side)) == NULL)
			goto out;
		cp = (bin_copy){ rb.ba, rb.ba == rb.bb ? UINT32_MAX : rb.bb, side, side + row[rb.ba], 0, 0 };
		mark[rb.ba] = mark[rb.bb] = 1;
	}
	if ((buf = malloc(most * sizeof *buf)) == NULL)
		goto out;
	for (size_t p = 0; p < parts; p++) {
		size_t m = part_size(spans, first, p), at = 0;
		const part_bins *q = &pb[p];
		bin_copy own;

		if (m < PART_BINNED_MIN_N) { /* copied whole, for selecting over */
			EACH_VALUE(spans, first, p, x, {
				copy_bin(&cp, binned_bin(x), x);
				buf[at++] = x;
			})
			if (m > 0)
				se_quantiles(buf, m, &p50[p], &p90[p]);
			continue;
		}
		/* buf: the part's bin ba's values, then bb's when another */
		own = (bin_copy){ q->bp.ba, q->bp.ba == q->bp.bb ? UINT32_MAX : q->bp.bb, buf, buf + q->cnt_a, 0, 0 };
		mark[q->bp.ba] = mark[q->bp.bb] = 1;
		EACH_VALUE(spans, first, p, x, {
			uint32_t k = binned_bin(x);

			if (mark[k]) {
				copy_bin(&cp, k, x);
				copy_bin(&own, k, x);
			}
		})
		mark[q->bp.ba] = mark[q->bp.bb] = 0;
		if (whole)
			mark[rb.ba] = mark[rb.bb] = 1;
		select_pair(buf, q->cnt_a + q->cnt_b, q->cnt_a, q->cnt_a, rank_of(m, 0.5), rank_of(m, 0.9), &q->bp,
		            &p50[p], &p90[p]);
	}
	if (whole)
		select_pair(side, cp.na + cp.nb, cp.na, cp.na, a, b, &rb, &p50[parts], &p90[parts]);
	rc = SE_OK;
out:
	free(buf);
	free(side);
	free(pb);
	return rc;
}
