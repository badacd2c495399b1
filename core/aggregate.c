/*
 * aggregate.c: one evaluated deal added into the foundation aggregates.
 *
 * Owns: the per-funnel grids (leads by manager and by source, every pair,
 * sources), pre-sale and rate cells, unknown statuses and deal counters of
 * a report, their allocation, and counting a deal into them and the cube.
 * The same code counts the whole store (report.c's pass) and one chunk's
 * share kept for later runs (partial.c), so the two cannot disagree.
 *
 * Never: reads the store, or touches the diagnostics (insight.c).
 */
#include "report.h"
#include "cube.h"

#include <math.h>
#include <stdlib.h>

static int in_range(const se_report *rep, int64_t t)
{
	return t >= rep->from_utc && t < rep->to_utc;
}

static void count_unknown(se_report *rep, const se_deal_eval *e, const se_chunk_deal *d)
{
	for (uint32_t i = 0; i < e->n_events; i++) {
		uint32_t st;
		se_unknown_status *u;

		if (e->funnel != SE_NONE && e->code[i] != 0)
			continue;
		st = e->ev[i].status;
		if (st >= rep->n_status)
			continue;
		u = &rep->unknown[st];
		u->events++;
		rep->unknown_events++;
		if (u->last_deal != d->deal) {
			u->deals++;
			u->last_deal = d->deal;
			if (u->example_deal == 0)
				u->example_deal = d->deal;
		}
	}
}

static void add_leads_and_sources(se_report *rep, int *nomem, se_funnel_agg *a, const se_funnel *f, const se_deal_eval *e,
                                  uint32_t mgr, uint32_t src, double amount)
{
	int32_t lead = se_count_reach(e, 0, rep->mode);
	int64_t key, *n;
	se_source_cell *sc;

	if (lead == SE_NONE || !in_range(rep, e->ev[lead].ts))
		return;
	key = se_report_bucket_in(rep, &rep->bucket_cache, e->ev[lead].ts);
	if ((n = se_grid_cell(&a->leads_by_manager, key, mgr)) == NULL)
		goto nomem;
	(*n)++;
	if ((n = se_grid_cell(&a->leads_by_source, key, src)) == NULL)
		goto nomem;
	(*n)++;
	if ((sc = se_grid_cell(&a->sources, key, src)) == NULL)
		goto nomem;
	sc->leads++;
	if (se_count_reach(e, f->won, rep->mode) != SE_NONE) {
		sc->won++;
		sc->revenue += se_kopecks_of(amount);
	}
	return;
nomem:
	*nomem = 1;
}

static void add_pairs(se_report *rep, int *nomem, se_funnel_agg *a, const se_funnel *f, const se_deal_eval *e, uint32_t mgr)
{
	for (int i = 0; i < f->n_pairs; i++) {
		const se_pair *pr = &f->pairs[i];
		int32_t conv, cohort = se_count_pair(e, pr->from, pr->to, a->pair_mode[i], pr->window, &conv);
		se_pair_cell *c;
		int64_t t;

		if (cohort == SE_NONE)
			continue;
		t = e->ev[cohort].ts;
		if (!in_range(rep, t))
			continue;
		if ((c = se_grid_cell(&a->pairs[i], se_report_bucket_in(rep, &rep->bucket_cache, t), mgr)) == NULL) {
			*nomem = 1;
			return;
		}
		c->from++;
		if (conv != SE_NONE)
			c->to++;
		if (c->from == 1 || t > c->last_cohort)
			c->last_cohort = t;
	}
}

static void add_presale_and_rates(se_report *rep, se_funnel_agg *a, const se_funnel *f,
                                  const se_deal_eval *e, uint32_t mgr, double amount)
{
	if (e->state == SE_DEAL_OPEN) {
		if (f->stages[e->stage].presale) {
			se_presale_cell *c = &a->presale[(size_t)e->stage * rep->n_manager + mgr];

			c->deals++;
			if (!se_amount_counted(amount)) /* none, or over SE_AMOUNT_MAX */
				c->no_amount++;
			else
				c->amount += se_kopecks_of(amount);
		}
		return;
	}
	/* Closed: not open now.  Won: reached the won stage (section 2), so a
	 * sale later cancelled still counts as a sale the manager made. */
	int won = se_count_reach(e, f->won, rep->mode) != SE_NONE;

	for (int s = 0; s < f->won; s++) {
		if (se_count_reach(e, s, rep->mode) == SE_NONE)
			continue;
		se_rate_cell *c = &a->rates[(size_t)s * rep->n_manager + mgr];

		c->closed++;
		c->won += won;
	}
}

/* The cube's bucketing through the pass's cache of recent buckets (a
 * zone conversion and a civil date each time otherwise). */
typedef struct cube_ud {
	const se_report *rep;
	se_bucket_cache *cache;
} cube_ud;

static int64_t cube_bucket(const void *ud, int64_t t)
{
	const cube_ud *u = ud;

	return se_report_bucket_in(u->rep, u->cache, t);
}

static int add_to_cube(se_report *rep, const se_chunk_deal *d, const se_deal_eval *e)
{
	se_cube_deal cd = { e, d->manager < rep->n_manager ? d->manager : 0,
		            d->source < rep->n_source ? d->source : 0, d->amount, rep->mode };
	cube_ud u = { rep, &rep->bucket_cache };

	return se_cube_add_deal(rep->cube, &cd, cube_bucket, rep->from_utc, rep->to_utc, &u);
}

int se_aggregate_takes(const se_report *rep, const se_deal_eval *e)
{
	if (e->funnel == SE_NONE || (rep->only_funnel != SE_NONE && e->funnel != rep->only_funnel))
		return 0;
	return (rep->compute & SE_REPORT_INSIGHTS) != 0;
}

int se_aggregate_deal(se_report *rep, const se_chunk_deal *d, const se_deal_eval *e, int *nomem)
{
	const se_funnel *f;
	se_funnel_agg *a;
	uint32_t mgr, src;

	rep->deals++;
	rep->events += d->n_events;
	if (!isnan(d->amount) && !se_amount_counted(d->amount))
		rep->amounts_over_max++;
	count_unknown(rep, e, d);
	if (e->funnel == SE_NONE) {
		rep->deals_unmatched++;
		return 0;
	}
	if (rep->only_funnel != SE_NONE && e->funnel != rep->only_funnel)
		return 0;
	f = &rep->rules->funnels[e->funnel];
	a = &rep->agg[e->funnel];
	mgr = d->manager < rep->n_manager ? d->manager : 0;
	src = d->source < rep->n_source ? d->source : 0;
	add_leads_and_sources(rep, nomem, a, f, e, mgr, src, d->amount);
	if (!rep->skip_pairs)
		add_pairs(rep, nomem, a, f, e, mgr);
	add_presale_and_rates(rep, a, f, e, mgr, d->amount);
	if (rep->cube != NULL && add_to_cube(rep, d, e) != SE_OK)
		*nomem = 1;
	return se_aggregate_takes(rep, e);
}

void se_cell_add_count(void *into, const void *cell)
{
	*(int64_t *)into += *(const int64_t *)cell;
}

void se_cell_add_source(void *into, const void *cell)
{
	se_source_cell *c = into;
	const se_source_cell *v = cell;

	c->leads += v->leads;
	c->won += v->won;
	c->revenue += v->revenue;
}

void se_cell_add_pair(void *into, const void *cell)
{
	se_pair_cell_add(into, cell);
}

void se_cell_add_presale(void *into, const void *cell)
{
	se_presale_cell *c = into;
	const se_presale_cell *v = cell;

	c->deals += v->deals;
	c->no_amount += v->no_amount;
	c->amount += v->amount;
}

void se_cell_add_rate(void *into, const void *cell)
{
	se_rate_cell *c = into;
	const se_rate_cell *v = cell;

	c->closed += v->closed;
	c->won += v->won;
}

int se_aggregate_merge(se_report *rep, const se_report *from)
{
	const se_rules *r = rep->rules;

	rep->deals += from->deals;
	rep->events += from->events;
	rep->deals_unmatched += from->deals_unmatched;
	rep->unknown_events += from->unknown_events;
	rep->amounts_over_max += from->amounts_over_max;
	for (uint32_t s = 0; s < rep->n_status && s < from->n_status; s++) {
		se_unknown_status *u = &rep->unknown[s];
		const se_unknown_status *o = &from->unknown[s];

		if (o->events == 0)
			continue;
		u->events += o->events;
		u->deals += o->deals;
		/* deal numbers grow along the pass: the lower one came first */
		if (u->example_deal == 0 || (o->example_deal != 0 && o->example_deal < u->example_deal))
			u->example_deal = o->example_deal;
		if (o->last_deal > u->last_deal)
			u->last_deal = o->last_deal;
	}
	for (int f = 0; f < r->n_funnels; f++) {
		se_funnel_agg *a = &rep->agg[f];
		const se_funnel_agg *o = &from->agg[f];
		size_t cells = (size_t)r->funnels[f].n_stages * rep->n_manager;

		if (se_grid_merge(&a->leads_by_manager, &o->leads_by_manager, se_cell_add_count) != 0 ||
		    se_grid_merge(&a->leads_by_source, &o->leads_by_source, se_cell_add_count) != 0 ||
		    se_grid_merge(&a->sources, &o->sources, se_cell_add_source) != 0)
			return SE_ENOMEM;
		for (int p = 0; p < r->funnels[f].n_pairs; p++)
			if (se_grid_merge(&a->pairs[p], &o->pairs[p], se_cell_add_pair) != 0)
				return SE_ENOMEM;
		for (size_t c = 0; c < cells; c++) {
			se_cell_add_presale(&a->presale[c], &o->presale[c]);
			se_cell_add_rate(&a->rates[c], &o->rates[c]);
		}
	}
	if (rep->cube != NULL && from->cube != NULL)
		return se_cube_add(rep->cube, from->cube);
	return SE_OK;
}

int se_aggregate_alloc(se_report *rep, se_mode mode_override, se_error *err)
{
	const se_rules *r = rep->rules;

	if ((rep->agg = calloc((size_t)r->n_funnels, sizeof *rep->agg)) == NULL)
		goto nomem;
	for (int i = 0; i < r->n_funnels; i++) {
		const se_funnel *f = &r->funnels[i];
		se_funnel_agg *a = &rep->agg[i];
		size_t cells = (size_t)f->n_stages * rep->n_manager;

		se_grid_init(&a->leads_by_manager, rep->n_manager, sizeof(int64_t));
		se_grid_init(&a->leads_by_source, rep->n_source, sizeof(int64_t));
		se_grid_init(&a->sources, rep->n_source, sizeof(se_source_cell));
		a->pairs = calloc((size_t)f->n_pairs + 1, sizeof *a->pairs);
		a->pair_mode = calloc((size_t)f->n_pairs + 1, sizeof *a->pair_mode);
		a->presale = calloc(cells, sizeof *a->presale);
		a->rates = calloc(cells, sizeof *a->rates);
		a->team_rates = calloc((size_t)f->n_stages + 1, sizeof *a->team_rates);
		a->pair_sums = calloc(((size_t)f->n_pairs + 1) * ((size_t)rep->n_manager + 1), sizeof *a->pair_sums);
		if (!a->pairs || !a->pair_mode || !a->presale || !a->rates || !a->team_rates || !a->pair_sums)
			goto nomem;
		for (int p = 0; p < f->n_pairs; p++) {
			se_grid_init(&a->pairs[p], rep->n_manager, sizeof(se_pair_cell));
			a->pair_mode[p] = mode_override != SE_MODE_DEFAULT ? mode_override
			                  : f->pairs[p].mode != SE_MODE_DEFAULT ? f->pairs[p].mode
			                  : rep->mode;
		}
	}
	if ((rep->unknown = calloc(rep->n_status, sizeof *rep->unknown)) == NULL ||
	    (rep->unknown_example = calloc(rep->n_status, sizeof *rep->unknown_example)) == NULL)
		goto nomem;
	return SE_OK;
nomem:
	return se_error_set(err, SE_ENOMEM, "out of memory");
}

void se_aggregate_free(se_report *rep)
{
	for (int i = 0; rep->agg && i < rep->rules->n_funnels; i++) {
		se_funnel_agg *a = &rep->agg[i];

		free(a->leads_by_manager.data);
		free(a->leads_by_source.data);
		free(a->sources.data);
		for (int p = 0; a->pairs && p < rep->rules->funnels[i].n_pairs; p++)
			free(a->pairs[p].data);
		free(a->pairs);
		free(a->pair_mode);
		free(a->presale);
		free(a->rates);
		free(a->team_rates);
		free(a->pair_sums);
	}
	free(rep->agg);
	rep->agg = NULL;
	for (uint32_t s = 0; rep->unknown_example && s < rep->n_status; s++)
		free(rep->unknown_example[s]);
	free(rep->unknown_example);
	free(rep->unknown);
	rep->unknown_example = NULL;
	rep->unknown = NULL;
}

