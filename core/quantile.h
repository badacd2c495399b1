/*
 * quantile.h: tables of medians and 90th percentiles built from samples
 * (quantile.c), below the reports that fill and read them.
 */
#ifndef SE_QUANTILE_H
#define SE_QUANTILE_H

#include "salesengine.h"

#include <stddef.h>
#include <stdint.h>

/* Durations collected during the pass (one per deal and measure, 12 bytes)
 * and turned into nearest-rank quantiles after it, per (row, column) and per
 * row over all columns. */
typedef struct se_sample {
	int32_t row;       /* bucket key, or a measure index */
	uint32_t col;      /* manager or source id */
	int32_t v;         /* seconds, clamped to int32 */
} se_sample;

typedef struct se_samples {
	se_sample *v;
	size_t n, cap;
	int32_t lo, hi;    /* the lowest and highest row added (when n > 0) */
	uint32_t *col2;    /* a second column per sample (se_samples_add2), for a
	                    * second table over the same rows and values: 4 bytes
	                    * a sample instead of another 12 */
	size_t cap2;
} se_samples;

typedef struct se_quant {
	int64_t n, p50, p90;  /* seconds; n == 0: no value */
} se_quant;

typedef struct se_qtable {
	int64_t lo, nb;       /* rows lo .. lo+nb-1 */
	uint32_t width;       /* columns; column width holds the whole row */
	se_quant *cells;      /* nb * (width + 1) */
} se_qtable;

/* Samples of a table whose rows and columns are few and known before the
 * pass (the stays: two rows a stage, a column per manager), kept per
 * (row, column) group as they come: 4 bytes a sample instead of 12, and
 * nothing to group after the pass.  A group grows by blocks, each twice
 * the last up to a cap, never moved: no copying as it grows, and at most
 * one block part-empty.  The blocks are cut from shared slabs of a huge
 * page each (huge.h), so the samples fault in 2 MiB at a time. */
typedef struct se_group {
	int32_t *next;     /* the next free value in the last block */
	size_t left;       /* room left there */
	int32_t **blocks;  /* block k holds se_group_block(k) values */
	int n_blocks;
	size_t n;
} se_group;

typedef struct se_groups {
	se_group *g;       /* group rows * width, row-major */
	int64_t rows;      /* the table's */
	uint32_t width;
	int paired;        /* rows 2p and 2p+1 kept as group rows 3p (the values
	                    * of row 2p only), 3p+1 (of row 2p+1 only) and 3p+2
	                    * (one value in both) */
	size_t n;          /* samples in all the table's cells */
	char **slabs;      /* the blocks' memory */
	int n_slabs;
	size_t slab_left;  /* bytes left in the last slab */
} se_groups;

/* Room for rows x width groups, all empty.  0 or SE_ENOMEM. */
int se_groups_init(se_groups *s, int64_t rows, uint32_t width);
/* The same for a table of 2 * pairs rows filled in pairs by
 * se_groups_add_pair. */
int se_groups_init_pairs(se_groups *s, int64_t pairs, uint32_t width);
/* A new last block for g (se_groups_add's slow path).  0 or SE_ENOMEM. */
int se_group_grow(se_groups *s, se_group *g);

static inline int se_group_put(se_groups *s, se_group *g, int32_t v)
{
	if (g->left == 0 && se_group_grow(s, g) != SE_OK)
		return SE_ENOMEM;
	*g->next++ = v;
	g->left--;
	g->n++;
	return SE_OK;
}

static inline int32_t se_group_clamp(int64_t v)
{
	return v > INT32_MAX ? INT32_MAX : v < 0 ? 0 : (int32_t)v;
}

/* Appends a sample to group (row, col) of a table made by se_groups_init,
 * which must be inside it; v is clamped to 0 .. INT32_MAX.  0 or
 * SE_ENOMEM. */
static inline int se_groups_add(se_groups *s, int64_t row, uint32_t col, int64_t v)
{
	s->n++;
	return se_group_put(s, &s->g[(size_t)row * s->width + col], se_group_clamp(v));
}

/* Appends a to cell (2 * pair, col) and b to cell (2 * pair + 1, col) of a
 * table made by se_groups_init_pairs, clamped as above: one value when
 * they are the same (a deal's latest stay at a stage and the sum of its
 * stays there, when it stayed once: most deals), so half the memory
 * written.  0 or SE_ENOMEM. */
static inline int se_groups_add_pair(se_groups *s, int64_t pair, uint32_t col, int64_t a, int64_t b)
{
	se_group *g = &s->g[(size_t)pair * 3 * s->width + col];
	int32_t x = se_group_clamp(a), y = se_group_clamp(b);

	s->n += 2;
	if (x == y)
		return se_group_put(s, g + 2 * (size_t)s->width, x);
	if (se_group_put(s, g, x) != SE_OK)
		return SE_ENOMEM;
	return se_group_put(s, g + s->width, y);
}

/* The table of the groups, as se_qtable_build makes of the same samples
 * (its rows from the lowest to the highest that has a sample).  Frees the
 * samples.  0 or SE_ENOMEM. */
int se_qtable_build_groups(se_qtable *q, se_groups *s);
void se_groups_free(se_groups *s);

/* How the arrays the pass fills a record at a time (samples, open deals,
 * stays of the forecast) grow once past a megabyte: sixty-four-fold, so
 * that a million deals' arrays (some 20 MB each) never move again, where
 * eightfold moved them once more, copying 8 MB each and faulting in (on
 * virtual machines: zeroing) pages written once and thrown away.  The
 * room reserved and never written is address space, not memory; where
 * that much is refused, huge.h doubles. */
#define SE_PASS_LEAP 64

/* Appends a sample; v is clamped to 0 .. INT32_MAX.  0 or SE_ENOMEM. */
int se_samples_add(se_samples *s, int64_t row, uint32_t col, int64_t v);
/* The same with the sample's column in the second table; every sample of
 * s is added this way or none.  0 or SE_ENOMEM. */
int se_samples_add2(se_samples *s, int64_t row, uint32_t col, uint32_t col2, int64_t v);

/* Groups the samples by (row, column) with a counting sort, then takes the
 * quantiles of each group and of each whole row (column width).  Frees the
 * samples.  0 or SE_ENOMEM. */
int se_qtable_build(se_qtable *q, se_samples *s, uint32_t width);
/* Both tables of samples added with se_samples_add2: q by the first
 * column (width), q2 by the second (width2).  Frees the samples. */
int se_qtable_build2(se_qtable *q, uint32_t width, se_qtable *q2, uint32_t width2, se_samples *s);

/* A quantile cell, or NULL when the row or column is outside the table. */
const se_quant *se_qtable_at(const se_qtable *q, int64_t row, uint32_t col);

#endif
