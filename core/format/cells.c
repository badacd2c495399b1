/*
 * format/cells.c: blocks, rows and cells, and the text of a cell: the
 * bottom of format/, used by the builders and the writers alike.
 *
 * Never: knows a report (the descriptor table is reports.c's) or a
 * format beyond the text CSV and the table share.
 */
#include "block.h"
#include "huge.h"
#include "vec.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

se_block *se_block_new(se_blocks *bs, const se_report_desc *d, int funnel, int pair)
{
	se_block *b;

	if (SE_VEC_RESERVE(bs->v, bs->cap, bs->n + 1, 16) != SE_OK)
		return NULL;
	b = &bs->v[bs->n++];
	memset(b, 0, sizeof *b);
	b->desc = d;
	b->funnel = funnel;
	b->pair = pair;
	b->cols = d->cols;
	b->ncols = d->ncols;
	return b;
}

/* A block's cells past this many bytes go in whole huge pages (huge.h):
 * a report's rows are megabytes of cells written once, and faulting them
 * in 4 KiB at a time was most of the time spent building them. */
#define CELLS_HUGE (SE_HUGE_PAGE / 4)

se_cell *se_block_row(se_block *b)
{
	se_cell *row;

	if (b->failed)
		return NULL;
	if (b->rows == b->cap) {
		size_t row_bytes = (size_t)b->ncols * sizeof *row, ncap = b->cap ? b->cap * 2 : 32;
		se_cell *nc = NULL;

		/* in huge pages, eightfold as se_vec_reserve_huge grows: fewer
		 * copies, and the room not yet written is no memory; doubling
		 * when that much address space is refused */
		for (int k = b->cap * row_bytes >= CELLS_HUGE && ncap <= SIZE_MAX / 8 / row_bytes ? 4 : 1;
		     nc == NULL && k >= 1 && ncap * k * row_bytes >= CELLS_HUGE; k /= 4) {
			size_t bytes = (ncap * k * row_bytes + SE_HUGE_PAGE - 1) / SE_HUGE_PAGE * SE_HUGE_PAGE;

			if ((nc = se_huge_alloc(bytes)) != NULL) {
				if (b->rows > 0)
					memcpy(nc, b->cells, b->rows * row_bytes);
				free(b->cells);
				ncap = bytes / row_bytes;
			}
		}
		if (nc == NULL && (nc = realloc(b->cells, ncap * row_bytes)) == NULL) {
			b->failed = 1;
			return NULL;
		}
		b->cells = nc;
		b->cap = ncap;
	}
	row = &b->cells[b->rows++ * (size_t)b->ncols];
	memset(row, 0, (size_t)b->ncols * sizeof *row);
	return row;
}

int64_t se_pct_tenths(const se_cell *c)
{
	if (c->exact)
		return c->tenths;
	return llround(c->d * 1000.0);
}

const char *se_manager_name(const se_report *rep, uint32_t id)
{
	return id < rep->n_manager && rep->managers[id] ? rep->managers[id] : "(none)";
}

const char *se_source_name(const se_report *rep, uint32_t id)
{
	return id < rep->n_source && rep->sources[id] ? rep->sources[id] : "(none)";
}

void se_grid_span(const se_grid *a, const se_grid *b, int64_t *lo, int64_t *hi)
{
	*lo = INT64_MAX;
	*hi = INT64_MIN;
	for (int i = 0; i < 2; i++) {
		const se_grid *g = i == 0 ? a : b;

		if (g == NULL || g->nb == 0)
			continue;
		if (g->lo < *lo)
			*lo = g->lo;
		if (g->lo + g->nb > *hi)
			*hi = g->lo + g->nb;
	}
}

se_cell *se_label_row(se_block *b, const char *funnel, const char *what, int copy, const char *dim,
                       const char *name)
{
	se_cell *r = se_block_row(b);

	if (r == NULL)
		return NULL;
	se_set_str(&r[0], funnel);
	if (copy)
		se_set_copy(&r[1], what);
	else
		se_set_str(&r[1], what);
	se_set_str(&r[2], dim);
	se_set_str(&r[3], name);
	return r;
}

int se_pair_label(const se_funnel *fn, const se_pair *p, char **out)
{
	const char *from = fn->stages[p->from].name, *to = fn->stages[p->to].name;
	char window[48] = "";
	size_t size;

	if (p->window > 0 && p->window % 86400 == 0)
		snprintf(window, sizeof window, " within %lldd", (long long)(p->window / 86400));
	else if (p->window > 0)
		snprintf(window, sizeof window, " within %lldm", (long long)(p->window / 60));
	size = strlen(from) + strlen(to) + strlen(window) + 8;
	if ((*out = malloc(size)) == NULL)
		return SE_ENOMEM;
	snprintf(*out, size, "%s -> %s%s", from, to, window);
	return SE_OK;
}

int se_pair_labels(se_block *b, const se_funnel *fn)
{
	if ((b->labels = calloc((size_t)fn->n_pairs + 1, sizeof *b->labels)) == NULL) {
		b->failed = 1;
		return SE_ENOMEM;
	}
	b->n_labels = fn->n_pairs;
	for (int p = 0; p < fn->n_pairs; p++)
		if (se_pair_label(fn, &fn->pairs[p], &b->labels[p]) != SE_OK) {
			b->failed = 1;
			return SE_ENOMEM;
		}
	return SE_OK;
}

/* ---- formatting cells --------------------------------------------------------- */

/* A custom metric's value: percentages as the built-in ones (tenths,
 * halves up), money with two decimals, other numbers with up to two. */
static const char *metric_text(const se_cell *v, char *buf, size_t size, int table)
{
	if (v->null || !isfinite(v->d))
		return table ? "-" : "";
	if (v->i == SE_FORMAT_PERCENT) {
		size_t n = se_format_fixed(llround(v->d * 1000.0), 1, buf, size);

		if (table && n + 1 < size) {
			buf[n] = '%';
			buf[n + 1] = '\0';
		}
	} else if (v->i == SE_FORMAT_MONEY) {
		snprintf(buf, size, "%.2f", v->d);
	} else {
		snprintf(buf, size, "%.2f", v->d);
		/* trim "12.50" to "12.5" and "3.00" to "3" */
		char *dot = strchr(buf, '.');

		if (dot != NULL) {
			char *end = buf + strlen(buf) - 1;

			while (end > dot && *end == '0')
				*end-- = '\0';
			if (end == dot)
				*end = '\0';
		}
	}
	return buf;
}

const char *se_cell_text(const se_col *c, const se_cell *v, char *buf, size_t size, int table)
{
	if (v->null && (c->type == SE_T_AMOUNT || c->type == SE_T_INT || c->type == SE_T_FLAG || c->type == SE_T_STR))
		return table ? "-" : "";
	switch (c->type) {
	case SE_T_STR:
		return se_cell_str(v);
	case SE_T_INT:
		/* counts fit int64; its low 64 bits, as "%lld" of the cast */
		se_format_fixed((int64_t)v->i, 0, buf, size);
		return buf;
	case SE_T_AMOUNT:
		se_format_kopecks(v->i, buf, size);
		return buf;
	case SE_T_PCT:
		if (v->null)
			return table ? "-" : "";
		se_format_fixed(se_pct_tenths(v), 1, buf, size);
		return buf;
	case SE_T_BOOL:
		if (table)
			return v->i ? "open" : "";
		return v->i ? "1" : "0";
	case SE_T_METRIC:
		return metric_text(v, buf, size, table);
	case SE_T_FLAG:
		if (table)
			return v->i ? "yes" : "";
		return v->i ? "1" : "0";
	case SE_T_HOURS:
		if (v->null)
			return table ? "-" : "";
		/* tenths of an hour, halves up */
		se_format_fixed(se_div_round(v->i, 360), 1, buf, size);
		return buf;
	case SE_T_REAL:
		if (v->null)
			return table ? "-" : "";
		snprintf(buf, size, "%.2f", v->d);
		return buf;
	case SE_T_NUM:
		return v->null ? (table ? "-" : "") : se_cell_str(v);
	}
	return "";
}

void se_blocks_clear(se_blocks *bs)
{
	for (size_t i = 0; i < bs->n; i++) {
		free(bs->v[i].cells);
		free(bs->v[i].label);
		for (int l = 0; l < bs->v[i].n_labels; l++)
			free(bs->v[i].labels[l]);
		free(bs->v[i].labels);
	}
	bs->n = 0;
}

void se_blocks_free(se_blocks *bs)
{
	se_blocks_clear(bs);
	free(bs->v);
	memset(bs, 0, sizeof *bs);
}
