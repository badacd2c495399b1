/*
 * quantile.c: durations collected as samples during the pass, turned into
 * nearest-rank medians and 90th percentiles per (row, column) and per row
 * after it (quantile.h).  Grouping is a counting sort by cell (or the
 * groups kept as they came), then a row's cells and the whole row at once
 * (se_quantiles_spans, stats.c: two sweeps of histograms, selection among
 * the few values of the ranks' bins): linear, no comparison sort of
 * millions of values.
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
	if (SE_VEC_RESERVE_LEAP(s->v, s->cap, s->n + 1, 1024, SE_PASS_LEAP) != SE_OK)
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
	if (SE_VEC_RESERVE_LEAP(s->col2, s->cap2, s->n + 1, 1024, SE_PASS_LEAP) != SE_OK)
		return SE_ENOMEM;
	s->col2[s->n] = col2;
	return se_samples_add(s, row, col, v);
}

/* One thread's room for a table row: its values' spans, where each
 * cell's spans begin, and the answers of se_quantiles_spans. */
typedef struct row_room {
	se_span *spans;
	size_t *first;               /* width + 1 */
	int32_t *p50, *p90;          /* width + 1 each */
} row_room;

static int room_init(row_room *r, uint32_t width, size_t spans)
{
	r->spans = malloc((spans ? spans : 1) * sizeof *r->spans);
	r->first = malloc(((size_t)width + 1) * sizeof *r->first);
	r->p50 = malloc(2 * ((size_t)width + 1) * sizeof *r->p50);
	r->p90 = r->p50 != NULL ? r->p50 + width + 1 : NULL;
	return r->spans && r->first && r->p50 ? SE_OK : SE_ENOMEM;
}

static void room_free(row_room *r)
{
	free(r->spans);
	free(r->first);
	free(r->p50);
	memset(r, 0, sizeof *r);
}

/* The cells of the row whose spans r holds: each column's, then, when
 * whole, the whole row's in column width.  0 or SE_ENOMEM. */
static int room_cells(row_room *r, se_quant *row, uint32_t width, int whole)
{
	int64_t all = 0;

	if (se_quantiles_spans(r->spans, r->first, width, whole, r->p50, r->p90) != SE_OK)
		return SE_ENOMEM;
	for (uint32_t c = 0; c <= width; c++) {
		int64_t n = 0;

		for (size_t k = r->first[c]; c < width && k < r->first[c + 1]; k++)
			n += (int64_t)r->spans[k].n;
		if (c == width) {
			if (!whole)
				break;
			n = all;
		}
		all += n;
		row[c].n = n;
		if (n > 0) {
			row[c].p50 = r->p50[c];
			row[c].p90 = r->p90[c];
		}
	}
	return SE_OK;
}

/* The quantile rows of a table whose values are grouped: every row
 * (parity -1), or the even (0) or odd (1) ones.  With `whole` set the
 * whole rows are copied from that table (the same samples by another
 * column: the same rows) instead of selected again. */
typedef struct qrows {
	se_qtable *q;
	const int32_t *vals;
	const size_t *start;
	uint32_t width;
	int parity;
	const se_qtable *whole;
	row_room room;               /* width spans, a cell's one each */
	int rc;
} qrows;

static void qrows_run(qrows *j)
{
	for (int64_t r = j->parity < 0 ? 0 : j->parity; r < j->q->nb; r += j->parity < 0 ? 1 : 2) {
		const size_t *bounds = j->start + (size_t)r * j->width;
		se_quant *row = &j->q->cells[(size_t)r * (j->width + 1)];

		for (uint32_t c = 0; c <= j->width; c++) {
			j->room.first[c] = c;
			if (c < j->width)
				j->room.spans[c] = (se_span){ j->vals + bounds[c], bounds[c + 1] - bounds[c] };
		}
		if (room_cells(&j->room, row, j->width, j->whole == NULL) != SE_OK)
			j->rc = SE_ENOMEM;
		else if (j->whole != NULL)
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
	qrows all = { 0 }, half = { 0 };
	int rc = SE_ENOMEM;

	memset(q, 0, sizeof *q);
	q->width = width;
	if (s->n == 0)
		return SE_OK;
	lo = s->lo; /* kept as the samples came: no pass over them for it */
	q->lo = lo;
	q->nb = (int64_t)s->hi - lo + 1;
	groups = (size_t)q->nb * width;
	if ((start = calloc(groups + 1, sizeof *start)) == NULL || room_init(&all.room, width, width) != SE_OK ||
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
		pthread_t t;
		/* Rows are independent: a large table's odd rows go to a second
		 * thread, with room of its own. */
		int threaded;

		all = (qrows){ q, vals, start, width, -1, whole, all.room, SE_OK };
		half = (qrows){ q, vals, start, width, 1, whole, { 0 }, SE_OK };
		threaded = s->n > 1000000 && q->nb > 1 && room_init(&half.room, width, width) == SE_OK &&
		           pthread_create(&t, NULL, qrows_thread, &half) == 0;
		all.parity = threaded ? 0 : -1;
		qrows_run(&all);
		if (threaded)
			pthread_join(t, NULL);
		rc = all.rc != SE_OK ? all.rc : threaded ? half.rc : SE_OK;
	}
out:
	if (rc != SE_OK) {
		free(q->cells);
		q->cells = NULL;
	}
	room_free(&all.room);
	room_free(&half.room);
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

int se_groups_init_pairs(se_groups *s, int64_t pairs, uint32_t width)
{
	if (se_groups_init(s, 3 * (pairs > 0 ? pairs : 0), width) != SE_OK)
		return SE_ENOMEM;
	s->rows = 2 * (pairs > 0 ? pairs : 0);
	s->paired = 1;
	return SE_OK;
}

static size_t group_rows(const se_groups *s)
{
	return s->paired ? (size_t)s->rows / 2 * 3 : (size_t)s->rows;
}

/* The groups of cell (r, c): its own, or in a paired table the values its
 * row shares with the other of the pair, then its own. */
static int cell_groups(const se_groups *s, int64_t r, uint32_t c, const se_group **out)
{
	const se_group *p;

	if (!s->paired) {
		out[0] = &s->g[(size_t)r * s->width + c];
		return 1;
	}
	p = &s->g[(size_t)(r / 2) * 3 * s->width + c];
	out[0] = p + 2 * (size_t)s->width;
	out[1] = p + (size_t)(r % 2) * s->width;
	return 2;
}

/* Block k's values: 16 (a group per manager and stage: many managers
 * with a few deals each must not cost a kilobyte a group), doubling up to
 * 1 Ki (4 KB).  A group's last block is part-empty, and its huge page is
 * zeroed whole all the same: blocks of up to 256 KB left a third of the
 * stays' slabs unwritten on a million deals (14 MB for 8), blocks of
 * 4 KB a tenth; the thousands of spans more cost the table little. */
static size_t group_block(int k)
{
	return (size_t)16 << (k < 6 ? k : 6);
}

/* A slab: a huge page, or ordinary memory of the same size; a table's
 * first one is 64 KB of ordinary memory, so that a small table (a small
 * store's, or one of a few thousand samples) does not fault in a huge
 * page it barely uses. */
#define SLAB SE_HUGE_PAGE
#define FIRST_SLAB ((size_t)64 << 10)

static size_t slab_size(int k)
{
	return k == 0 ? FIRST_SLAB : SLAB;
}

/* bytes (at most a first slab) from the last slab, or a new one; the rest
 * of a slab too short for them is left unused (at most a block). */
static void *slab_take(se_groups *s, size_t bytes)
{
	char *p;

	if (bytes > s->slab_left) {
		char **ns = realloc(s->slabs, (size_t)(s->n_slabs + 1) * sizeof *ns);

		if (ns == NULL)
			return NULL;
		s->slabs = ns;
		if ((ns[s->n_slabs] = se_huge_malloc(slab_size(s->n_slabs))) == NULL)
			return NULL;
		s->slab_left = slab_size(s->n_slabs++);
	}
	p = s->slabs[s->n_slabs - 1] + (slab_size(s->n_slabs - 1) - s->slab_left);
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

void se_groups_free(se_groups *s)
{
	for (size_t i = 0; s->g != NULL && i < group_rows(s) * s->width; i++)
		free(s->g[i].blocks);
	for (int k = 0; k < s->n_slabs; k++)
		free(s->slabs[k]);
	free(s->slabs);
	free(s->g);
	memset(s, 0, sizeof *s);
}

/* The quantile rows of grouped samples: every row (parity -1), or the
 * even (0) or odd (1) ones, read where the groups' blocks hold them. */
typedef struct grows {
	se_qtable *q;
	se_groups *s;
	int parity;
	row_room room;               /* room for the most blocks in a row */
	int rc;
} grows;

static void grows_run(grows *j)
{
	uint32_t w = j->s->width;

	for (int64_t r = j->parity < 0 ? 0 : j->parity; r < j->q->nb; r += j->parity < 0 ? 1 : 2) {
		size_t k = 0;

		for (uint32_t c = 0; c < w; c++) {
			const se_group *gs[2];
			int ng = cell_groups(j->s, j->q->lo + r, c, gs);

			j->room.first[c] = k;
			for (int i = 0; i < ng; i++) {
				const se_group *g = gs[i];
				size_t n = g->n;

				for (int b = 0; b < g->n_blocks && n > 0; b++) {
					size_t take = n < group_block(b) ? n : group_block(b);

					j->room.spans[k++] = (se_span){ g->blocks[b], take };
					n -= take;
				}
			}
		}
		j->room.first[w] = k;
		if (room_cells(&j->room, &j->q->cells[(size_t)r * (w + 1)], w, 1) != SE_OK)
			j->rc = SE_ENOMEM;
	}
}

static void *grows_thread(void *arg)
{
	grows_run(arg);
	return NULL;
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
		size_t n = 0, blocks = 0;

		for (uint32_t c = 0; c < s->width; c++) {
			const se_group *gs[2];
			int ng = cell_groups(s, r, c, gs);

			for (int i = 0; i < ng; i++) {
				n += gs[i]->n;
				blocks += (size_t)gs[i]->n_blocks;
			}
		}
		if (n == 0)
			continue;
		if (lo < 0)
			lo = r;
		hi = r;
		if (blocks > most)
			most = blocks;
	}
	if (lo < 0) {
		rc = SE_OK;
		goto out;
	}
	q->lo = lo;
	q->nb = hi - lo + 1;
	if ((q->cells = calloc((size_t)q->nb * (s->width + 1), sizeof *q->cells)) == NULL ||
	    room_init(&all.room, s->width, most) != SE_OK)
		goto out;
	{
		pthread_t t;
		/* Rows are independent: a large table's odd rows go to a second
		 * thread, with room of its own. */
		int threaded;

		all = (grows){ q, s, -1, all.room, SE_OK };
		half = (grows){ q, s, 1, { 0 }, SE_OK };
		threaded = s->n > 1000000 && q->nb > 1 && room_init(&half.room, s->width, most) == SE_OK &&
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
	room_free(&all.room);
	room_free(&half.room);
	se_groups_free(s);
	return rc;
}

const se_quant *se_qtable_at(const se_qtable *q, int64_t row, uint32_t col)
{
	if (q->cells == NULL || row < q->lo || row >= q->lo + q->nb || col > q->width)
		return NULL;
	return &q->cells[(size_t)(row - q->lo) * (q->width + 1) + col];
}
