/*
 * partial.c: a chunk's foundation aggregates as bytes, and back into a
 * report (see partial.h).
 *
 * The format, all integers zigzag varints (pbuf.h): a magic number and the
 * funnel count; the deal counters; the unknown statuses with events; per
 * funnel the non-zero cells of each grid as (bucket key, column, fields),
 * then the non-zero pre-sale and rate cells as (stage, manager, fields);
 * then the cube's cells.  Cells are sparse: a chunk's deals touch a few
 * buckets of the report's range.  Last, 8 bytes (little-endian) of a hash
 * of the fingerprint, the key and everything before them: the structure
 * alone does not notice a changed byte that still decodes (a count that
 * becomes another count), a partial of another chunk or of other
 * settings of the same shape, and a damaged bucket key could send a grid
 * growing towards 2^63, so no byte is decoded before the hash matches.
 */
#include "partial.h"
#include "cube.h"
#include "grid.h"

#include <string.h>

#define PARTIAL_MAGIC 0x53455034u /* "SEP4": bump when the format or what it counts changes */
#define CHECK_BYTES 8
#define BUCKET_LIMIT ((int64_t)1 << 40)

/* ---- the check -------------------------------------------------------------- */

static uint64_t load_le64(const unsigned char *p)
{
	uint64_t w = 0;

	for (int i = 0; i < 8; i++)
		w |= (uint64_t)p[i] << (8 * i);
	return w;
}

/* A word at a time (a whole-store partial is megabytes, read on every
 * run).  Each step is a bijection of the state for a given word and of
 * the word for a given state, so one changed word always changes the
 * result; the length comes first, so a cut never matches either. */
static uint64_t check_hash(uint64_t fp, int64_t key, const unsigned char *p, size_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ (uint64_t)n;
	unsigned char tail[8] = { 0 };

	h = (h ^ fp) * 0xff51afd7ed558ccdull;
	h ^= h >> 32;
	h = (h ^ (uint64_t)key) * 0xff51afd7ed558ccdull;
	h ^= h >> 32;

	for (; n >= 8; p += 8, n -= 8) {
		h = (h ^ load_le64(p)) * 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	memcpy(tail, p, n);
	h = (h ^ load_le64(tail)) * 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 29;
	h *= 0xff51afd7ed558ccdull;
	return h ^ (h >> 32);
}

/* Appends the check of b's bytes from start on. */
static void put_check(se_pbuf *b, size_t start, uint64_t fp, int64_t key)
{
	uint64_t h;

	if (b->nomem)
		return;
	if (se_vec_reserve(&b->data, &b->cap, b->len + CHECK_BYTES, 1, 4096, 0) != SE_OK) {
		b->nomem = 1;
		return;
	}
	h = check_hash(fp, key, b->data + start, b->len - start);
	for (int i = 0; i < CHECK_BYTES; i++)
		b->data[b->len++] = (unsigned char)(h >> (8 * i));
}

/* ---- encoding --------------------------------------------------------------- */

/* The non-zero cells of a row-major table of `rows` x `width` cells of
 * `fields` int64s, rows numbered from first_row: a count, then each as
 * (row, column, fields).  Row numbers are zigzag (they may be negative:
 * grid bucket keys) when signed_rows. */
static void put_table(se_pbuf *b, const int64_t *data, int64_t first_row, size_t rows, size_t width,
                      size_t fields, int signed_rows)
{
	uint64_t n = 0;

	for (int pass = 0; pass < 2; pass++) {
		if (pass == 1)
			se_pbuf_u64(b, n);
		for (size_t r = 0; r < rows; r++)
			for (size_t col = 0; col < width; col++) {
				const int64_t *c = data + (r * width + col) * fields;
				int any = 0;

				for (size_t i = 0; i < fields; i++)
					any |= c[i] != 0;
				if (!any)
					continue;
				if (pass == 0) {
					n++;
					continue;
				}
				if (signed_rows)
					se_pbuf_i64(b, first_row + (int64_t)r);
				else
					se_pbuf_u64(b, (uint64_t)first_row + r);
				se_pbuf_u64(b, col);
				for (size_t i = 0; i < fields; i++)
					se_pbuf_i64(b, c[i]);
			}
	}
}

/* A grid's non-zero cells (cells of int64s), keyed by bucket. */
static void put_grid(se_pbuf *b, const se_grid *g)
{
	put_table(b, (const int64_t *)(const void *)g->data, g->lo, (size_t)g->nb, g->width,
	          g->cell / sizeof(int64_t), 1);
}

/* The non-zero cells of a [stage * n_manager + manager] array. */
static void put_cells(se_pbuf *b, const int64_t *cells, int n_stages, uint32_t n_manager, size_t fields)
{
	put_table(b, cells, 0, (size_t)n_stages, n_manager, fields, 0);
}

void se_partial_encode(const se_report *rep, uint64_t fp, int64_t key, se_pbuf *b)
{
	const se_rules *r = rep->rules;
	uint64_t n_unknown = 0;
	size_t start = b->len;

	se_pbuf_u64(b, PARTIAL_MAGIC);
	se_pbuf_u64(b, (uint64_t)r->n_funnels);
	se_pbuf_i64(b, rep->deals);
	se_pbuf_i64(b, rep->events);
	se_pbuf_i64(b, rep->deals_unmatched);
	se_pbuf_i64(b, rep->unknown_events);
	se_pbuf_i64(b, rep->amounts_over_max);
	for (uint32_t s = 0; s < rep->n_status; s++)
		n_unknown += rep->unknown[s].events != 0;
	se_pbuf_u64(b, n_unknown);
	for (uint32_t s = 0; s < rep->n_status; s++) {
		const se_unknown_status *u = &rep->unknown[s];

		if (u->events == 0)
			continue;
		se_pbuf_u64(b, s);
		se_pbuf_i64(b, u->events);
		se_pbuf_i64(b, u->deals);
		se_pbuf_i64(b, u->example_deal);
		se_pbuf_i64(b, u->last_deal);
	}
	for (int f = 0; f < r->n_funnels; f++) {
		const se_funnel_agg *a = &rep->agg[f];

		put_grid(b, &a->leads_by_manager);
		put_grid(b, &a->leads_by_source);
		put_grid(b, &a->sources);
		for (int p = 0; p < r->funnels[f].n_pairs; p++)
			put_grid(b, &a->pairs[p]);
		put_cells(b, (const int64_t *)a->presale, r->funnels[f].n_stages, rep->n_manager,
		          sizeof(se_presale_cell) / sizeof(int64_t));
		put_cells(b, (const int64_t *)a->rates, r->funnels[f].n_stages, rep->n_manager,
		          sizeof(se_rate_cell) / sizeof(int64_t));
	}
	se_pbuf_u64(b, rep->cube != NULL);
	if (rep->cube != NULL)
		se_cube_encode(rep->cube, b);
	put_check(b, start, fp, key);
}

/* ---- merging ----------------------------------------------------------------- */

/* A stored cell: its fields as put_table wrote them, the cell's int64
 * words in memory order, read back into a cell of its own type (a
 * kopecks field is 16-byte aligned), for se_cell_add_*: every field of a
 * cell is that many words. */
typedef union stored_cell {
	int64_t w[4];
	se_source_cell source;
	se_presale_cell presale;
	se_pair_cell pair;
	se_rate_cell rate;
} stored_cell;

static int get_grid(se_preader *rd, se_grid *g, void (*add)(void *into, const void *cell))
{
	size_t fields = g->cell / sizeof(int64_t);
	uint64_t n = se_pread_count(rd, 2 + fields);

	if (fields > 4)
		return SE_EDB;
	for (uint64_t i = 0; i < n; i++) {
		int64_t key = se_pread_i64(rd);
		uint64_t col = se_pread_u64(rd);
		stored_cell v;
		void *c;

		for (size_t j = 0; j < fields; j++)
			v.w[j] = se_pread_i64(rd);
		/* Bucket keys are periods of times between 1970 and 9999: a key
		 * past 2^40 is no bucket, and a grid spanning two such keys
		 * would overflow its row count (the check makes this a second
		 * line of defence). */
		if (rd->bad || col >= g->width || key < -BUCKET_LIMIT || key > BUCKET_LIMIT)
			return SE_EDB;
		if ((c = se_grid_cell(g, key, col)) == NULL)
			return SE_ENOMEM;
		add(c, &v);
	}
	return rd->bad ? SE_EDB : SE_OK;
}

/* The stored cells of a [stage * n_manager + manager] array of cells of
 * `cell` bytes. */
static int get_cells(se_preader *rd, void *cells, size_t cell, int n_stages, uint32_t n_manager,
                     void (*add)(void *into, const void *cell))
{
	size_t fields = cell / sizeof(int64_t);
	uint64_t n = se_pread_count(rd, 2 + fields);

	if (fields > 4)
		return SE_EDB;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t s = se_pread_u64(rd), m = se_pread_u64(rd);
		stored_cell v;

		for (size_t j = 0; j < fields; j++)
			v.w[j] = se_pread_i64(rd);
		if (rd->bad || s >= (uint64_t)n_stages || m >= n_manager)
			return SE_EDB;
		add((char *)cells + (s * n_manager + m) * cell, &v);
	}
	return rd->bad ? SE_EDB : SE_OK;
}

int se_partial_merge(se_report *rep, uint64_t fp, int64_t key, const void *data, size_t size)
{
	const se_rules *r = rep->rules;
	const unsigned char *bytes = data;
	se_preader rd = { bytes, bytes + (size < CHECK_BYTES ? 0 : size - CHECK_BYTES), 0 };
	uint64_t n_unknown;
	int rc;

	if (size < CHECK_BYTES || check_hash(fp, key, bytes, size - CHECK_BYTES) != load_le64(rd.end))
		return SE_EDB;
	if (se_pread_u64(&rd) != PARTIAL_MAGIC || se_pread_u64(&rd) != (uint64_t)r->n_funnels)
		return SE_EDB;
	rep->deals += se_pread_i64(&rd);
	rep->events += se_pread_i64(&rd);
	rep->deals_unmatched += se_pread_i64(&rd);
	rep->unknown_events += se_pread_i64(&rd);
	rep->amounts_over_max += se_pread_i64(&rd);
	n_unknown = se_pread_count(&rd, 5);
	for (uint64_t i = 0; i < n_unknown; i++) {
		uint64_t s = se_pread_u64(&rd);
		int64_t events = se_pread_i64(&rd), deals = se_pread_i64(&rd);
		int64_t example = se_pread_i64(&rd), last = se_pread_i64(&rd);
		se_unknown_status *u;

		if (rd.bad || s >= rep->n_status)
			return SE_EDB;
		u = &rep->unknown[s];
		u->events += events;
		u->deals += deals;
		if (u->example_deal == 0) /* the first deal with it, in deal order */
			u->example_deal = example;
		u->last_deal = last;
	}
	for (int f = 0; f < r->n_funnels; f++) {
		se_funnel_agg *a = &rep->agg[f];
		int S = r->funnels[f].n_stages;

		if ((rc = get_grid(&rd, &a->leads_by_manager, se_cell_add_count)) != SE_OK ||
		    (rc = get_grid(&rd, &a->leads_by_source, se_cell_add_count)) != SE_OK ||
		    (rc = get_grid(&rd, &a->sources, se_cell_add_source)) != SE_OK)
			return rc;
		for (int p = 0; p < r->funnels[f].n_pairs; p++)
			if ((rc = get_grid(&rd, &a->pairs[p], se_cell_add_pair)) != SE_OK)
				return rc;
		if ((rc = get_cells(&rd, a->presale, sizeof *a->presale, S, rep->n_manager, se_cell_add_presale)) !=
		            SE_OK ||
		    (rc = get_cells(&rd, a->rates, sizeof *a->rates, S, rep->n_manager, se_cell_add_rate)) != SE_OK)
			return rc;
	}
	if (se_pread_u64(&rd) != (rep->cube != NULL))
		return SE_EDB;
	if (rep->cube != NULL && (rc = se_cube_merge(rep->cube, &rd)) != SE_OK)
		return rc;
	return rd.bad || rd.p != rd.end ? SE_EDB : SE_OK;
}

/* ---- the fingerprint ------------------------------------------------------------ */

typedef struct fnv {
	uint64_t h;
} fnv;

static void mix(fnv *x, const void *data, size_t n)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < n; i++) {
		x->h ^= p[i];
		x->h *= 0x100000001b3ull;
	}
}

static void mix_i64(fnv *x, int64_t v)
{
	unsigned char b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)((uint64_t)v >> (8 * i));
	mix(x, b, 8);
}

uint64_t se_partial_fingerprint(const se_report *rep, const se_count_ctx *ctx, const char *zone)
{
	const se_rules *r = rep->rules;
	fnv x = { 0xcbf29ce484222325ull };

	mix_i64(&x, PARTIAL_MAGIC);
	mix_i64(&x, (int64_t)sizeof(se_pair_cell));
	mix_i64(&x, rep->period);
	mix_i64(&x, rep->mode);
	mix_i64(&x, rep->from_utc);
	mix_i64(&x, rep->to_utc);
	mix_i64(&x, rep->only_funnel);
	mix_i64(&x, rep->cube != NULL);
	mix(&x, zone, strlen(zone) + 1);
	mix_i64(&x, r->n_funnels);
	for (int f = 0; f < r->n_funnels; f++) {
		const se_funnel *fn = &r->funnels[f];

		mix_i64(&x, fn->n_stages);
		mix_i64(&x, fn->won);
		for (int s = 0; s < fn->n_stages; s++)
			mix_i64(&x, fn->stages[s].presale);
		mix_i64(&x, fn->n_pairs);
		for (int p = 0; p < fn->n_pairs; p++) {
			mix_i64(&x, fn->pairs[p].from);
			mix_i64(&x, fn->pairs[p].to);
			mix_i64(&x, fn->pairs[p].mode);
			mix_i64(&x, fn->pairs[p].window);
			mix_i64(&x, rep->agg[f].pair_mode[p]);
		}
	}
	/* How every stored status and pipeline resolves in every funnel: the
	 * names, aliases and pipelines of the rules, as the deals are read. */
	mix_i64(&x, ctx->n_status);
	for (size_t i = 0; i < (size_t)r->n_funnels * ctx->n_status; i++)
		mix_i64(&x, ctx->codes[i]);
	mix_i64(&x, ctx->n_pipeline);
	mix(&x, ctx->pipeline_ok, (size_t)r->n_funnels * ctx->n_pipeline);
	return x.h;
}
