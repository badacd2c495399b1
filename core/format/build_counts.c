/*
 * format/build_counts.c: blocks of the foundation reports (leads,
 * conversion by pair, pre-sale deals, sources, unknown statuses) and of the
 * script's metric{}s.
 *
 * Never: computes a number the report does not hold; it only sums the
 * report's cells into the team row and lays rows out in the documented
 * order (team, then managers and sources by name).
 */
#include "block.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void leads_row(se_block *b, const char *funnel, const char *period, const char *dim,
                      const char *name, int64_t n)
{
	se_cell *r = se_block_row(b);

	if (r == NULL)
		return;
	se_set_str(&r[0], funnel);
	se_set_copy(&r[1], period);
	se_set_str(&r[2], dim);
	se_set_str(&r[3], name);
	r[4].i = n;
}

void se_build_leads(const se_report *rep, const se_report_desc *desc, se_blocks *bs, int f)
{
	const se_funnel_agg *a = &rep->agg[f];
	const char *fname = rep->rules->funnels[f].name;
	se_block *b = se_block_new(bs, desc, f, 0);
	int64_t lo, hi;

	if (b == NULL)
		return;
	se_grid_span(&a->leads_by_manager, &a->leads_by_source, &lo, &hi);
	for (int64_t k = lo; k < hi; k++) {
		char period[40];
		int64_t team = se_report_leads(rep, f, k, SE_DIM_MANAGER, SE_ALL);

		if (team == 0)
			continue;
		se_report_bucket_label(rep, k, period, sizeof period);
		leads_row(b, fname, period, "team", "*", team);
		for (uint32_t i = 0; i < rep->n_manager; i++) {
			uint32_t m = rep->manager_order[i];
			int64_t n = se_report_leads(rep, f, k, SE_DIM_MANAGER, m);

			if (n > 0)
				leads_row(b, fname, period, "manager", se_manager_name(rep, m), n);
		}
		for (uint32_t i = 0; i < rep->n_source; i++) {
			uint32_t s = rep->source_order[i];
			int64_t n = se_report_leads(rep, f, k, SE_DIM_SOURCE, s);

			if (n > 0)
				leads_row(b, fname, period, "source", se_source_name(rep, s), n);
		}
	}
}

typedef struct pair_labels {
	const char *funnel, *mode, *from, *to, *pair;
	int64_t window;
} pair_labels;

static void conversion_row(const se_report *rep, se_block *b, const pair_labels *pl, const char *period,
                           const char *dim, const char *name, const se_pair_cell *c)
{
	se_cell *r = se_block_row(b);

	if (r == NULL)
		return;
	se_set_str(&r[0], pl->funnel);
	se_set_str(&r[1], pl->pair);
	se_set_str(&r[2], pl->mode);
	se_set_copy(&r[3], period);
	se_set_str(&r[4], dim);
	se_set_str(&r[5], name);
	se_set_str(&r[6], pl->from);
	se_set_str(&r[7], pl->to);
	r[8].i = c->from;
	r[9].i = c->to;
	se_set_count_ratio(&r[10], c->to, c->from);
	r[11].i = pl->window > 0 && c->last_cohort + pl->window > rep->as_of;
}

static void build_pair(const se_report *rep, const se_report_desc *desc, se_blocks *bs, int f, int p)
{
	const se_funnel *fn = &rep->rules->funnels[f];
	const se_grid *g = &rep->agg[f].pairs[p];
	se_block *b = se_block_new(bs, desc, f, p);
	pair_labels pl;

	if (b == NULL)
		return;
	pl.funnel = fn->name;
	pl.mode = se_mode_name(rep->agg[f].pair_mode[p]);
	pl.from = fn->stages[fn->pairs[p].from].name;
	pl.to = fn->stages[fn->pairs[p].to].name;
	pl.window = fn->pairs[p].window;
	if (se_pair_label(fn, &fn->pairs[p], &b->label) != SE_OK) {
		b->failed = 1;
		return;
	}
	pl.pair = b->label;
	for (int64_t k = g->lo; k < g->lo + g->nb; k++) {
		se_pair_cell team = { 0, 0, INT64_MIN };
		char period[40];

		for (uint32_t m = 0; m < rep->n_manager; m++) {
			const se_pair_cell *c = se_grid_at(g, k, m);

			if (c == NULL || c->from == 0)
				continue;
			team.from += c->from;
			team.to += c->to;
			if (c->last_cohort > team.last_cohort)
				team.last_cohort = c->last_cohort;
		}
		if (team.from == 0)
			continue;
		se_report_bucket_label(rep, k, period, sizeof period);
		conversion_row(rep, b, &pl, period, "team", "*", &team);
		for (uint32_t i = 0; i < rep->n_manager; i++) {
			uint32_t m = rep->manager_order[i];
			const se_pair_cell *c = se_grid_at(g, k, m);

			if (c != NULL && c->from > 0)
				conversion_row(rep, b, &pl, period, "manager", se_manager_name(rep, m), c);
		}
	}
}

/* One block per pair of the funnel. */
void se_build_conversion(const se_report *rep, const se_report_desc *desc, se_blocks *bs, int f)
{
	for (int p = 0; p < rep->rules->funnels[f].n_pairs; p++)
		build_pair(rep, desc, bs, f, p);
}

static void presale_row(se_block *b, const char *funnel, const char *stage, const char *dim,
                        const char *name, const se_presale *p)
{
	se_cell *r = se_block_row(b);

	if (r == NULL)
		return;
	se_set_str(&r[0], funnel);
	se_set_str(&r[1], stage);
	se_set_str(&r[2], dim);
	se_set_str(&r[3], name);
	r[4].i = p->deals;
	r[5].i = p->amount;
	if (p->one_part && p->closed > 0) /* the rate the part used */
		se_set_count_ratio(&r[6], p->won, p->closed);
	else if (p->one_part)
		se_set_ratio(&r[6], 0, 1);
	else /* sums of parts: the rate they add up to */
		se_set_count_ratio(&r[6], p->forecast, p->amount);
	se_set_str(&r[7], p->basis ? p->basis : "mixed");
	r[8].i = p->forecast;
	r[9].i = p->no_amount;
	r[10].i = p->won;
	r[11].i = p->closed;
}

/* Each pre-sale stage (the team, then its managers), then every stage
 * together ("*"). */
void se_build_presale(const se_report *rep, const se_report_desc *desc, se_blocks *bs, int f)
{
	const se_funnel *fn = &rep->rules->funnels[f];
	se_block *b = se_block_new(bs, desc, f, 0);

	if (b == NULL)
		return;
	for (int i = 0; i <= fn->won; i++) {
		int stage = i < fn->won ? i : -1; /* stages first, "*" last */
		const char *label = stage >= 0 ? fn->stages[stage].name : "*";
		se_presale p;

		if (stage >= 0 && !fn->stages[stage].presale)
			continue;
		se_report_presale(rep, f, stage, SE_ALL, &p);
		if (p.deals == 0)
			continue;
		presale_row(b, fn->name, label, "team", "*", &p);
		for (uint32_t j = 0; j < rep->n_manager; j++) {
			uint32_t m = rep->manager_order[j];

			se_report_presale(rep, f, stage, m, &p);
			if (p.deals > 0)
				presale_row(b, fn->name, label, "manager", se_manager_name(rep, m), &p);
		}
	}
}

static void sources_row(se_block *b, const char *funnel, const char *period, const char *dim,
                        const char *name, const se_source_cell *c)
{
	se_cell *r = se_block_row(b);

	if (r == NULL)
		return;
	se_set_str(&r[0], funnel);
	se_set_copy(&r[1], period);
	se_set_str(&r[2], dim);
	se_set_str(&r[3], name);
	r[4].i = c->leads;
	r[5].i = c->won;
	se_set_count_ratio(&r[6], c->won, c->leads);
	r[7].i = c->revenue;
}

void se_build_sources(const se_report *rep, const se_report_desc *desc, se_blocks *bs, int f)
{
	const se_grid *g = &rep->agg[f].sources;
	const char *fname = rep->rules->funnels[f].name;
	se_block *b = se_block_new(bs, desc, f, 0);

	if (b == NULL)
		return;
	for (int64_t k = g->lo; k < g->lo + g->nb; k++) {
		se_source_cell team = { 0, 0, 0 };

		char period[40];

		for (uint32_t s = 0; s < rep->n_source; s++) {
			const se_source_cell *c = se_grid_at(g, k, s);

			team.leads += c->leads;
			team.won += c->won;
			team.revenue += c->revenue;
		}
		if (team.leads == 0)
			continue;
		se_report_bucket_label(rep, k, period, sizeof period);
		sources_row(b, fname, period, "team", "*", &team);
		for (uint32_t i = 0; i < rep->n_source; i++) {
			uint32_t s = rep->source_order[i];
			const se_source_cell *c = se_grid_at(g, k, s);

			if (c->leads > 0)
				sources_row(b, fname, period, "source", se_source_name(rep, s), c);
		}
	}
}

static void metric_row(se_block *b, const char *funnel, const char *metric, const char *period,
                       const char *dim, const char *name, double v, int format)
{
	se_cell *r = se_block_row(b);

	if (r == NULL)
		return;
	se_set_str(&r[0], funnel);
	se_set_str(&r[1], metric);
	se_set_copy(&r[2], period);
	se_set_str(&r[3], dim);
	se_set_str(&r[4], name);
	r[5].d = v;
	r[5].null = isnan(v);
	r[5].i = format;
}

/* One block per custom metric: the team, each manager, then each source
 * that had data in the period, as the leads report lists them. */
static void build_metric(const se_report *rep, const se_report_desc *desc, se_blocks *bs, int f, int m)
{
	const se_metric_decl *md = &rep->rules->metrics[m];
	const se_metric_table *t;
	const char *fname = rep->rules->funnels[f].name;
	se_block *b;

	if (md->funnel >= 0 && md->funnel != f)
		return;
	if ((b = se_block_new(bs, desc, f, m)) == NULL)
		return;
	if (rep->metric_tables == NULL)
		return;
	t = &rep->metric_tables[f * rep->rules->n_metrics + m];
	for (int64_t k = 0; k < t->nb; k++) {
		const double *mv = t->by_manager + (size_t)k * (rep->n_manager + 1);
		const double *sv = t->by_source + (size_t)k * (rep->n_source + 1);
		char period[40];

		se_report_bucket_label(rep, t->lo + k, period, sizeof period);
		metric_row(b, fname, md->name, period, "team", "*", mv[rep->n_manager], md->format);
		for (uint32_t i = 0; i < rep->n_manager; i++) {
			uint32_t id = rep->manager_order[i];

			if (!isnan(mv[id]))
				metric_row(b, fname, md->name, period, "manager", se_manager_name(rep, id), mv[id],
				           md->format);
		}
		for (uint32_t i = 0; i < rep->n_source; i++) {
			uint32_t id = rep->source_order[i];

			if (!isnan(sv[id]))
				metric_row(b, fname, md->name, period, "source", se_source_name(rep, id), sv[id],
				           md->format);
		}
	}
}

void se_build_metrics(const se_report *rep, const se_report_desc *desc, se_blocks *bs, int f)
{
	for (int m = 0; m < rep->rules->n_metrics; m++)
		build_metric(rep, desc, bs, f, m);
}
static int by_events_desc(const void *pa, const void *pb, void *ud)
{
	const se_report *rep = ud;
	uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;
	int64_t ea = rep->unknown[a].events, eb = rep->unknown[b].events;

	if (ea != eb)
		return ea > eb ? -1 : 1;
	return strcmp(rep->statuses[a], rep->statuses[b]);
}

void se_build_unknown(const se_report *rep, const se_report_desc *desc, se_blocks *bs, int f)
{
	(void)f;
	se_block *b = se_block_new(bs, desc, SE_NONE, 0);
	uint32_t *ids, n = 0;

	if (b == NULL)
		return;
	if ((ids = malloc((rep->n_status ? rep->n_status : 1) * sizeof *ids)) == NULL) {
		b->failed = 1;
		return;
	}
	for (uint32_t s = 1; s < rep->n_status; s++)
		if (rep->unknown[s].events > 0 && rep->statuses[s] != NULL)
			ids[n++] = s;
	qsort_r(ids, n, sizeof *ids, by_events_desc, (void *)rep);
	for (uint32_t i = 0; i < n; i++) {
		se_cell *r = se_block_row(b);

		if (r == NULL)
			break;
		se_set_str(&r[0], rep->statuses[ids[i]]);
		r[1].i = rep->unknown[ids[i]].events;
		r[2].i = rep->unknown[ids[i]].deals;
		se_set_str(&r[3], rep->unknown_example[ids[i]] ? rep->unknown_example[ids[i]] : "");
	}
	free(ids);
}

/* ---- diagnostic reports (through the accessors of report.h) ------------------ */
