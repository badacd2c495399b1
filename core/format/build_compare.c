/*
 * format/build_compare.c: the compare report, each bucket next to the previous
 * one; rates change in percentage points of the printed tenths.
 *
 * Never: computes a metric; every number comes from report.h's accessors.
 */
#include "block.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum mkind { M_COUNT, M_AMOUNT, M_RATE };

typedef struct metric_pair {
	enum mkind kind;
	se_money v, pv;          /* counts, kopecks; rates: to */
	int64_t den, pden;       /* rates: from */
} metric_pair;

/* Tenths of a percent of num / den, halves up; den > 0. */
static int64_t tenths_of(int64_t num, int64_t den)
{
	se_cell c;

	memset(&c, 0, sizeof c);
	se_set_count_ratio(&c, num, den);
	return se_pct_tenths(&c);
}

static void set_tenths(se_cell *c, int64_t t)
{
	se_format_fixed(t, 1, c->buf, sizeof c->buf);
}

static void set_metric_value(se_cell *c, enum mkind kind, se_money v, int64_t den)
{
	c->s = NULL;
	if (kind == M_COUNT)
		se_format_fixed((int64_t)v, 0, c->buf, sizeof c->buf);
	else if (kind == M_AMOUNT)
		se_format_kopecks(v, c->buf, sizeof c->buf);
	else if (den > 0)
		set_tenths(c, tenths_of((int64_t)v, den));
	else
		c->null = 1;
}

static void compare_row(se_block *b, const char *funnel, const char *period, const char *previous,
                        const char *dim, const char *name, const char *metric, const metric_pair *m)
{
	se_cell *r = se_block_row(b);

	if (r == NULL)
		return;
	se_set_str(&r[0], funnel);
	se_set_copy(&r[1], period);
	se_set_copy(&r[2], previous);
	se_set_str(&r[3], dim);
	se_set_str(&r[4], name);
	se_set_str(&r[5], metric);
	set_metric_value(&r[6], m->kind, m->v, m->den);
	set_metric_value(&r[7], m->kind, m->pv, m->pden);
	if (m->kind != M_RATE) {
		set_metric_value(&r[8], m->kind, m->v - m->pv, 0);
		if (m->pv != 0)
			se_set_count_ratio(&r[9], m->v - m->pv, m->pv);
		else
			se_set_ratio(&r[9], 0, 0);
		return;
	}
	if (m->den == 0 || m->pden == 0) { /* a rate missing on either side */
		r[8].null = 1;
		se_set_ratio(&r[9], 0, 0);
		return;
	}
	/* the change of a rate is in percentage points, from the printed tenths */
	set_tenths(&r[8], tenths_of((int64_t)m->v, m->den) - tenths_of((int64_t)m->pv, m->pden));
	{
		double now = (double)m->v / (double)m->den, before = (double)m->pv / (double)m->pden;

		if (before > 0)
			se_set_ratio(&r[9], now - before, before);
		else
			se_set_ratio(&r[9], 0, 0);
	}
}

/* The metrics of one name (the team when manager is SE_ALL) in bucket k
 * and k - 1. */
static void compare_one(const se_report *rep, se_block *b, int f, int64_t k, const char *period,
                        const char *previous, const char *dim, const char *name, uint32_t manager)
{
	const se_funnel *fn = &rep->rules->funnels[f];
	metric_pair m = { M_COUNT, 0, 0, 0, 0 };

	m.v = se_report_leads(rep, f, k, SE_DIM_MANAGER, manager);
	m.pv = se_report_leads(rep, f, k - 1, SE_DIM_MANAGER, manager);
	if (m.v == 0 && m.pv == 0)
		return;
	compare_row(b, fn->name, period, previous, dim, name, "leads", &m);
	for (int p = 0; p < fn->n_pairs; p++) {
		se_pair_cell now, before;

		se_report_pair(rep, f, p, k, manager, &now);
		se_report_pair(rep, f, p, k - 1, manager, &before);
		if (now.from == 0 && before.from == 0)
			continue;
		m = (metric_pair){ M_RATE, now.to, before.to, now.from, before.from };
		compare_row(b, fn->name, period, previous, dim, name, b->labels[p], &m);
	}
	if (manager == SE_ALL) {
		int64_t won, pwon;
		se_money revenue, prevenue;

		se_report_won(rep, f, k, &won, &revenue);
		se_report_won(rep, f, k - 1, &pwon, &prevenue);
		m = (metric_pair){ M_COUNT, won, pwon, 0, 0 };
		compare_row(b, fn->name, period, previous, dim, name, "won", &m);
		m = (metric_pair){ M_AMOUNT, revenue, prevenue, 0, 0 };
		compare_row(b, fn->name, period, previous, dim, name, "revenue", &m);
	}
	if (rep->reports & SE_REPORT_HANDLING) {
		se_handling now, before;

		se_report_handling(rep, f, k, SE_DIM_MANAGER, manager, &now);
		se_report_handling(rep, f, k - 1, SE_DIM_MANAGER, manager, &before);
		m = (metric_pair){ M_COUNT, now.taken, before.taken, 0, 0 };
		compare_row(b, fn->name, period, previous, dim, name, "taken", &m);
		m = (metric_pair){ M_COUNT, now.unprocessed, before.unprocessed, 0, 0 };
		compare_row(b, fn->name, period, previous, dim, name, "unprocessed", &m);
	}
}

void se_build_compare(const se_report *rep, const se_report_desc *desc, se_blocks *bs, int f)
{
	const se_funnel_agg *a = &rep->agg[f];
	se_block *b = se_block_new(bs, desc, f, 0);
	int64_t lo, hi;

	if (b == NULL || rep->period == SE_PERIOD_TOTAL || se_pair_labels(b, &rep->rules->funnels[f]) != SE_OK)
		return;
	se_grid_span(&a->leads_by_manager, NULL, &lo, &hi);
	for (int64_t k = lo; k < hi; k++) {
		char period[40], previous[40];

		if (se_report_leads(rep, f, k, SE_DIM_MANAGER, SE_ALL) == 0)
			continue;
		se_report_bucket_label(rep, k, period, sizeof period);
		se_report_bucket_label(rep, k - 1, previous, sizeof previous);
		compare_one(rep, b, f, k, period, previous, "team", "*", SE_ALL);
		for (uint32_t i = 0; i < rep->n_manager; i++) {
			uint32_t m = rep->manager_order[i];

			compare_one(rep, b, f, k, period, previous, "manager", se_manager_name(rep, m), m);
		}
	}
}
