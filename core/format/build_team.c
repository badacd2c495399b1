/*
 * format/build_team.c: blocks of the reports on how the team works: lead handling,
 * managers against the rest of the team and their style, time in stages,
 * time to won and stale deals.
 *
 * Never: computes a metric; every number comes from report.h's accessors.
 */
#include "block.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void handling_row(se_block *b, const char *funnel, const char *period, const char *dim,
                         const char *name, const se_handling *h)
{
	se_cell *r = se_label_row(b, funnel, period, 1, dim, name);

	if (r == NULL)
		return;
	r[4].i = h->leads;
	r[5].i = h->taken;
	r[6].i = h->released;
	r[7].i = h->nontarget;
	r[8].i = h->unprocessed;
	r[9].i = h->waiting;
	se_set_hours(&r[10], h->first_move_median, h->moved);
	se_set_hours(&r[11], h->first_move_p90, h->moved);
}

void se_build_handling(const se_report *rep, const se_report_desc *desc, se_blocks *bs, int f)
{
	const se_insight *in = &rep->agg[f].in;
	const char *fname = rep->rules->funnels[f].name;
	se_block *b = se_block_new(bs, desc, f, 0);
	int64_t lo, hi;

	if (b == NULL)
		return;
	se_grid_span(&in->handling_by_manager, &in->handling_by_source, &lo, &hi);
	for (int64_t k = lo; k < hi; k++) {
		char period[40];
		se_handling h;

		se_report_handling(rep, f, k, SE_DIM_MANAGER, SE_ALL, &h);
		if (h.leads == 0)
			continue;
		se_report_bucket_label(rep, k, period, sizeof period);
		handling_row(b, fname, period, "team", "*", &h);
		for (uint32_t i = 0; i < rep->n_manager; i++) {
			uint32_t m = rep->manager_order[i];

			se_report_handling(rep, f, k, SE_DIM_MANAGER, m, &h);
			if (h.leads > 0)
				handling_row(b, fname, period, "manager", se_manager_name(rep, m), &h);
		}
		for (uint32_t i = 0; i < rep->n_source; i++) {
			uint32_t src = rep->source_order[i];

			se_report_handling(rep, f, k, SE_DIM_SOURCE, src, &h);
			if (h.leads > 0)
				handling_row(b, fname, period, "source", se_source_name(rep, src), &h);
		}
	}
}

static void diagnostics_row(se_block *b, const char *funnel, const char *step, const char *dim,
                            const char *name, const se_step_diag *d, int growth)
{
	se_cell *r = se_label_row(b, funnel, step, 0, dim, name);

	if (r == NULL)
		return;
	r[4].i = d->from;
	r[5].i = d->to;
	se_set_count_ratio(&r[6], d->to, d->from);
	se_set_ratio(&r[7], d->ci_low, 1);
	se_set_ratio(&r[8], d->ci_high, 1);
	if (d->others_rate < 0)
		se_set_ratio(&r[9], 0, 0);
	else
		se_set_count_ratio(&r[9], d->others_to, d->others_from);
	se_set_ratio(&r[10], d->gap_low, d->others_rate < 0 ? 0 : 1);
	se_set_ratio(&r[11], d->gap_high, d->others_rate < 0 ? 0 : 1);
	se_set_real(&r[12], d->missed, d->others_rate < 0);
	r[13].i = d->significant;
	r[14].i = growth;
}

void se_build_diagnostics(const se_report *rep, const se_report_desc *desc, se_blocks *bs, int f)
{
	const se_funnel *fn = &rep->rules->funnels[f];
	se_block *b = se_block_new(bs, desc, f, 0);
	int *growth;

	if (b == NULL)
		return;
	if ((growth = malloc((rep->n_manager ? rep->n_manager : 1) * sizeof *growth)) == NULL) {
		b->failed = 1;
		return;
	}
	for (uint32_t m = 0; m < rep->n_manager; m++)
		growth[m] = se_report_growth_point(rep, f, m);
	if (se_pair_labels(b, fn) != SE_OK) {
		free(growth);
		return;
	}
	for (int p = 0; p < fn->n_pairs; p++) {
		const char *label = b->labels[p];
		se_step_diag d;

		se_report_step(rep, f, p, SE_ALL, &d);
		if (d.from == 0)
			continue;
		diagnostics_row(b, fn->name, label, "team", "*", &d, 0);
		for (uint32_t i = 0; i < rep->n_manager; i++) {
			uint32_t m = rep->manager_order[i];

			se_report_step(rep, f, p, m, &d);
			if (d.from > 0)
				diagnostics_row(b, fn->name, label, "manager", se_manager_name(rep, m), &d, growth[m] == p);
		}
	}
	free(growth);
}

static void style_row(se_block *b, const char *funnel, const char *dim, const char *name, const se_style *st)
{
	se_cell *r = se_block_row(b);

	if (r == NULL)
		return;
	se_set_str(&r[0], funnel);
	se_set_str(&r[1], dim);
	se_set_str(&r[2], name);
	r[3].i = st->leads;
	r[4].i = st->won;
	r[5].i = st->periods;
	se_set_real(&r[6], st->volume, st->periods == 0);
	se_set_ratio(&r[7], st->depth, 1);
	se_set_str(&r[8], st->style);
}

void se_build_style(const se_report *rep, const se_report_desc *desc, se_blocks *bs, int f)
{
	const char *fname = rep->rules->funnels[f].name;
	se_block *b = se_block_new(bs, desc, f, 0);
	se_style st;

	if (b == NULL)
		return;
	if (se_report_style(rep, f, SE_ALL, &st) != SE_OK) {
		b->failed = 1;
		return;
	}
	if (st.leads == 0)
		return;
	style_row(b, fname, "team", "*", &st);
	for (uint32_t i = 0; i < rep->n_manager; i++) {
		uint32_t m = rep->manager_order[i];

		if (se_report_style(rep, f, m, &st) != SE_OK) {
			b->failed = 1;
			return;
		}
		if (st.leads > 0)
			style_row(b, fname, "manager", se_manager_name(rep, m), &st);
	}
}

static void velocity_row(se_block *b, const char *funnel, const char *stage, const char *dim,
                         const char *name, const se_velocity *v)
{
	se_cell *r = se_label_row(b, funnel, stage, 0, dim, name);

	if (r == NULL)
		return;
	r[4].i = v->latest.n;
	se_set_hours(&r[5], v->latest.p50, v->latest.n);
	se_set_hours(&r[6], v->latest.p90, v->latest.n);
	se_set_hours(&r[7], v->total.p50, v->total.n);
	se_set_hours(&r[8], v->total.p90, v->total.n);
	r[9].i = v->open;
	r[10].i = v->stale;
}

void se_build_velocity(const se_report *rep, const se_report_desc *desc, se_blocks *bs, int f)
{
	const se_funnel *fn = &rep->rules->funnels[f];
	se_block *b = se_block_new(bs, desc, f, 0);

	if (b == NULL)
		return;
	for (int s = 0; s < fn->won; s++) {
		se_velocity v;

		se_report_velocity(rep, f, s, SE_ALL, &v);
		if (v.latest.n == 0 && v.open == 0)
			continue;
		velocity_row(b, fn->name, fn->stages[s].name, "team", "*", &v);
		for (uint32_t i = 0; i < rep->n_manager; i++) {
			uint32_t m = rep->manager_order[i];

			se_report_velocity(rep, f, s, m, &v);
			if (v.latest.n > 0 || v.open > 0)
				velocity_row(b, fn->name, fn->stages[s].name, "manager", se_manager_name(rep, m), &v);
		}
	}
}

static void to_won_row(se_block *b, const char *funnel, const char *dim, const char *name, const se_quant *q)
{
	se_cell *r = se_block_row(b);

	if (r == NULL)
		return;
	se_set_str(&r[0], funnel);
	se_set_str(&r[1], dim);
	se_set_str(&r[2], name);
	r[3].i = q->n;
	se_set_hours(&r[4], q->p50, q->n);
	se_set_hours(&r[5], q->p90, q->n);
}

void se_build_to_won(const se_report *rep, const se_report_desc *desc, se_blocks *bs, int f)
{
	const char *fname = rep->rules->funnels[f].name;
	se_block *b = se_block_new(bs, desc, f, 0);
	se_quant q;

	if (b == NULL)
		return;
	se_report_time_to_won(rep, f, SE_ALL, &q);
	if (q.n == 0)
		return;
	to_won_row(b, fname, "team", "*", &q);
	for (uint32_t i = 0; i < rep->n_manager; i++) {
		uint32_t m = rep->manager_order[i];

		se_report_time_to_won(rep, f, m, &q);
		if (q.n > 0)
			to_won_row(b, fname, "manager", se_manager_name(rep, m), &q);
	}
}

void se_build_stale(const se_report *rep, const se_report_desc *desc, se_blocks *bs, int f)
{
	const se_funnel *fn = &rep->rules->funnels[f];
	se_block *b = se_block_new(bs, desc, f, 0);

	if (b == NULL)
		return;
	for (size_t i = 0; i < se_report_stale_count(rep, f); i++) {
		const se_stale_deal *d = se_report_stale_deal(rep, f, i);
		se_cell *r = se_block_row(b);

		if (r == NULL)
			return;
		se_set_str(&r[0], fn->name);
		se_set_str(&r[1], d->key ? d->key : "");
		se_set_str(&r[2], fn->stages[d->stage].name);
		se_set_str(&r[3], se_manager_name(rep, d->manager));
		se_set_hours(&r[4], d->age, 1);
		se_set_hours(&r[5], d->median, 1);
		se_set_real(&r[6], d->median > 0 ? (double)d->age / (double)d->median : 0, d->median <= 0);
	}
}
