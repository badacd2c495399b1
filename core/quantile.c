/*
 * quantile.c: durations collected as samples during the pass, turned into
 * nearest-rank medians and 90th percentiles per (row, column) and per row
 * after it (quantile.h).  Grouping is a counting sort by cell, then
 * quickselect per cell (or histograms for a few huge rows): linear, no
 * comparison sort of millions of values.
 *
 * Never: knows what rows and columns mean (stages, buckets, managers).
 */
#include "quantile.h"
#include "error.h"
#include "huge.h"
#include "stats.h"
#include "vec.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

int se_samples_add(se_samples *s, int64_t row, uint32_t col, int64_t v)
{
	if (SE_VEC_RESERVE_HUGE(s->v, s->cap, s->n + 1, 1024) != SE_OK)
		return SE_ENOMEM;
	if (v > INT32_MAX)
		v = INT32_MAX;
	if (v < 0)
		v = 0;
	if (s->n == 0 || (int32_t)row < s->lo)
		s->lo = (int32_t)row;
	if (s->n == 0 || (int32_t)row > s->hi)
		s->hi = (int32_t)row;
	s->v[s->n].row = (int32_t)row;
	s->v[s->n].col = col;
	s->v[s->n].v = (int32_t)v;
	s->n++;
	return SE_OK;
}

int se_samples_add2(se_samples *s, int64_t row, uint32_t col, uint32_t col2, int64_t v)
{
	if (SE_VEC_RESERVE_HUGE(s->col2, s->cap2, s->n + 1, 1024) != SE_OK)
		return SE_ENOMEM;
	s->col2[s->n] = col2;
	return se_samples_add(s, row, col, v);
}

/* A row's cells from se_quantiles_parts (its int32 answers, room for
 * width + 1 each): the groups', then, when whole, the whole row's in
 * column width. */
static void row_cells(se_quant *row, const size_t *bounds, uint32_t width, int whole, const int32_t *p50,
                      const int32_t *p90)
{
	for (uint32_t c = 0; c < width + (whole != 0); c++) {
		row[c].n = (int64_t)(bounds[c < width ? c + 1 : width] - bounds[c < width ? c : 0]);
		if (row[c].n > 0) {
			row[c].p50 = p50[c];
			row[c].p90 = p90[c];
		}
	}
}

/* The quantile rows of a table whose values are grouped: every row
 * (parity -1), or the even (0) or odd (1) ones.  With `whole` set the
 * whole rows are copied from that table (the same samples by another
 * column: the same rows) instead of selected again. */
typedef struct qrows {
	se_qtable *q;
	int32_t *vals;
	const size_t *start;
	uint32_t width;
	int parity;
	const se_qtable *whole;
	int32_t *p50, *p90;          /* width + 1 each */
	int rc;
} qrows;

static void qrows_run(qrows *j)
{
	for (int64_t r = j->parity < 0 ? 0 : j->parity; r < j->q->nb; r += j->parity < 0 ? 1 : 2) {
		const size_t *bounds = j->start + (size_t)r * j->width;
		se_quant *row = &j->q->cells[(size_t)r * (j->width + 1)];

		if (se_quantiles_parts(j->vals, bounds, j->width, j->whole == NULL, j->p50, j->p90) != SE_OK) {
			j->rc = SE_ENOMEM;
			continue;
		}
		row_cells(row, bounds, j->width, j->whole == NULL, j->p50, j->p90);
		if (j->whole != NULL)
			row[j->width] = j->whole->cells[(size_t)r * (j->whole->width + 1) + j->whole->width];
	}
}

static void *qrows_thread(void *arg)
{
	qrows_run(arg);
	return NULL;
}

/* The table of s by column cols[i] of sample i, or by its own column
 * (cols NULL), its values grouped in vals (room for s->n); s is only read,
 * so two tables can be built at once.  whole: as in qrows. */
static int build(se_qtable *q, const se_samples *s, uint32_t width, const uint32_t *cols, int32_t *vals,
                 const se_qtable *whole)
{
	int64_t lo;
	size_t groups, *start = NULL;
	int32_t *p = NULL;
	int rc = SE_ENOMEM;

	memset(q, 0, sizeof *q);
	q->width = width;
	if (s->n == 0)
		return SE_OK;
	lo = s->lo; /* kept as the samples came: no pass over them for it */
	q->lo = lo;
	q->nb = (int64_t)s->hi - lo + 1;
	groups = (size_t)q->nb * width;
	if ((start = calloc(groups + 1, sizeof *start)) == NULL ||
	    (p = malloc(4 * ((size_t)width + 1) * sizeof *p)) == NULL ||
	    (q->cells = calloc((size_t)q->nb * (width + 1), sizeof *q->cells)) == NULL)
		goto out;
	for (size_t i = 0; i < s->n; i++)
		start[(size_t)(s->v[i].row - lo) * width + (cols ? cols[i] : s->v[i].col) + 1]++;
	for (size_t g = 0; g < groups; g++)
		start[g + 1] += start[g];
	for (size_t i = 0; i < s->n; i++) /* start[g] runs to the group's end, then back */
		vals[start[(size_t)(s->v[i].row - lo) * width + (cols ? cols[i] : s->v[i].col)]++] = s->v[i].v;
	for (size_t g = groups; g > 0; g--)
		start[g] = start[g - 1];
	start[0] = 0;
	{
		qrows half = { q, vals, start, width, 1, whole, p + 2 * ((size_t)width + 1), p + 3 * ((size_t)width + 1), SE_OK };
		qrows all = { q, vals, start, width, -1, whole, p, p + (size_t)width + 1, SE_OK };
		pthread_t t;
		/* Rows are independent: a large table's odd rows go to a second
		 * thread. */
		int threaded = s->n > 1000000 && q->nb > 1 && pthread_create(&t, NULL, qrows_thread, &half) == 0;

		all.parity = threaded ? 0 : -1;
		qrows_run(&all);
		if (threaded)
			pthread_join(t, NULL);
		rc = all.rc != SE_OK ? all.rc : half.rc;
	}
out:
	if (rc != SE_OK) {
		free(q->cells);
		q->cells = NULL;
	}
	free(p);
	free(start);
	return rc;
}

static void free_samples(se_samples *s)
{
	free(s->v);
	free(s->col2);
	memset(s, 0, sizeof *s);
}

/* The grouped values' buffer, in huge pages when large. */
static int32_t *vals_for(const se_samples *s)
{
	return se_huge_malloc((s->n ? s->n : 1) * sizeof(int32_t));
}

int se_qtable_build(se_qtable *q, se_samples *s, uint32_t width)
{
	int32_t *vals = vals_for(s);
	int rc = vals != NULL ? build(q, s, width, NULL, vals, NULL) : SE_ENOMEM;

	free(vals);
	free_samples(s);
	return rc;
}

/* The second table reads each sample's column from col2 in place (no
 * pass rewriting the samples' columns between the two), groups them in
 * the first's buffer (faulted in once), and takes its whole rows from the
 * first: the same values in the same rows. */
int se_qtable_build2(se_qtable *q, uint32_t width, se_qtable *q2, uint32_t width2, se_samples *s)
{
	int32_t *vals = vals_for(s);
	int rc = vals != NULL ? build(q, s, width, NULL, vals, NULL) : SE_ENOMEM;

	memset(q2, 0, sizeof *q2);
	q2->width = width2;
	if (rc == SE_OK && s->n > 0)
		rc = build(q2, s, width2, s->col2, vals, q);
	free(vals);
	free_samples(s);
	return rc;
}

/* ---- samples kept by group ---------------------------------------------- */

int se_groups_init(se_groups *s, int64_t rows, uint32_t width)
{
	size_t cells = (size_t)(rows > 0 ? rows : 0) * width;

	memset(s, 0, sizeof *s);
	if (cells > 0 && (s->g = calloc(cells, sizeof *s->g)) == NULL)
		return SE_ENOMEM;
	s->rows = rows > 0 ? rows : 0;
	s->width = width;
	return SE_OK;
}

/* Block k's values: 16 (a group per manager and stage: many managers
 * with a few deals each must not cost a kilobyte a group), doubling up to
 * 64 Ki (256 KB). */
static size_t group_block(int k)
{
	return (size_t)16 << (k < 12 ? k : 12);
}

/* A slab: a huge page, or ordinary memory of the same size. */
#define SLAB SE_HUGE_PAGE

/* bytes (at most a slab) from the last slab, or a new one; the rest of a
 * slab too short for them is left unused (at most a block). */
static void *slab_take(se_groups *s, size_t bytes)
{
	char *p;

	if (bytes > s->slab_left) {
		char **ns = realloc(s->slabs, (size_t)(s->n_slabs + 1) * sizeof *ns);

		if (ns == NULL)
			return NULL;
		s->slabs = ns;
		if ((ns[s->n_slabs] = se_huge_malloc(SLAB)) == NULL)
			return NULL;
		s->n_slabs++;
		s->slab_left = SLAB;
	}
	p = s->slabs[s->n_slabs - 1] + (SLAB - s->slab_left);
	s->slab_left -= bytes;
	return p;
}

int se_group_grow(se_groups *s, se_group *g)
{
	size_t size = group_block(g->n_blocks);
	int32_t **nb = realloc(g->blocks, (size_t)(g->n_blocks + 1) * sizeof *nb);

	if (nb == NULL)
		return SE_ENOMEM;
	g->blocks = nb;
	if ((nb[g->n_blocks] = slab_take(s, size * sizeof **nb)) == NULL)
		return SE_ENOMEM;
	g->next = nb[g->n_blocks++];
	g->left = size;
	return SE_OK;
}

/* Copies g's values to out (room for g->n). */
static void group_copy(const se_group *g, int32_t *out)
{
	size_t n = g->n;

	for (int k = 0; k < g->n_blocks && n > 0; k++) {
		size_t take = n < group_block(k) ? n : group_block(k);

		memcpy(out, g->blocks[k], take * sizeof *out);
		out += take;
		n -= take;
	}
}

void se_groups_free(se_groups *s)
{
	for (size_t i = 0; s->g != NULL && i < (size_t)s->rows * s->width; i++)
		free(s->g[i].blocks);
	for (int k = 0; k < s->n_slabs; k++)
		free(s->slabs[k]);
	free(s->slabs);
	free(s->g);
	memset(s, 0, sizeof *s);
}

/* The quantile rows of grouped samples: every row (parity -1), or the
 * even (0) or odd (1) ones, over a copy of the row's groups in tmp (room
 * for the largest row), with bounds, p50 and p90 (width + 1 each) for
 * se_quantiles_parts. */
typedef struct grows {
	se_qtable *q;
	se_groups *s;
	int parity;
	int32_t *tmp;
	size_t *bounds;
	int32_t *p50, *p90;
	int rc;
} grows;

static void grows_run(grows *j)
{
	uint32_t w = j->s->width;

	for (int64_t r = j->parity < 0 ? 0 : j->parity; r < j->q->nb; r += j->parity < 0 ? 1 : 2) {
		se_group *g = &j->s->g[(size_t)(j->q->lo + r) * w];
		se_quant *row = &j->q->cells[(size_t)r * (w + 1)];

		j->bounds[0] = 0;
		for (uint32_t c = 0; c < w; c++) {
			group_copy(&g[c], j->tmp + j->bounds[c]);
			j->bounds[c + 1] = j->bounds[c] + g[c].n;
		}
		if (se_quantiles_parts(j->tmp, j->bounds, w, 1, j->p50, j->p90) != SE_OK)
			j->rc = SE_ENOMEM;
		else
			row_cells(row, j->bounds, w, 1, j->p50, j->p90);
	}
}

static void *grows_thread(void *arg)
{
	grows_run(arg);
	return NULL;
}

/* A grows job's buffers: tmp for most values, the rest for width. */
static int grows_init(grows *j, se_qtable *q, se_groups *s, int parity, size_t most)
{
	size_t w1 = (size_t)s->width + 1;

	*j = (grows){ q, s, parity, se_huge_malloc(most * sizeof *j->tmp), malloc(w1 * sizeof *j->bounds),
	              malloc(2 * w1 * sizeof *j->p50), NULL, SE_OK };
	if (j->p50 != NULL)
		j->p90 = j->p50 + w1;
	return j->tmp != NULL && j->bounds != NULL && j->p50 != NULL ? SE_OK : SE_ENOMEM;
}

static void grows_free(grows *j)
{
	free(j->tmp);
	free(j->bounds);
	free(j->p50);
}

int se_qtable_build_groups(se_qtable *q, se_groups *s)
{
	int64_t lo = -1, hi = -1;
	size_t most = 0;
	grows all = { 0 }, half = { 0 };
	int rc = SE_ENOMEM;

	memset(q, 0, sizeof *q);
	q->width = s->width;
	for (int64_t r = 0; r < s->rows; r++) {
		size_t n = 0;

		for (uint32_t c = 0; c < s->width; c++)
			n += s->g[(size_t)r * s->width + c].n;
		if (n == 0)
			continue;
		if (lo < 0)
			lo = r;
		hi = r;
		if (n > most)
			most = n;
	}
	if (lo < 0) {
		rc = SE_OK;
		goto out;
	}
	q->lo = lo;
	q->nb = hi - lo + 1;
	if ((q->cells = calloc((size_t)q->nb * (s->width + 1), sizeof *q->cells)) == NULL ||
	    grows_init(&all, q, s, -1, most) != SE_OK)
		goto out;
	{
		pthread_t t;
		/* Rows are independent: a large table's odd rows go to a second
		 * thread, with buffers of its own. */
		int threaded = s->n > 1000000 && q->nb > 1 && grows_init(&half, q, s, 1, most) == SE_OK &&
		               pthread_create(&t, NULL, grows_thread, &half) == 0;

		all.parity = threaded ? 0 : -1;
		grows_run(&all);
		if (threaded)
			pthread_join(t, NULL);
		rc = all.rc != SE_OK ? all.rc : threaded ? half.rc : SE_OK;
	}
out:
	if (rc != SE_OK) {
		free(q->cells);
		q->cells = NULL;
	}
	grows_free(&all);
	grows_free(&half);
	se_groups_free(s);
	return rc;
}

const se_quant *se_qtable_at(const se_qtable *q, int64_t row, uint32_t col)
{
	if (q->cells == NULL || row < q->lo || row >= q->lo + q->nb || col > q->width)
		return NULL;
	return &q->cells[(size_t)(row - q->lo) * (q->width + 1) + col];
}
