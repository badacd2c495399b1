/*
 * insight.c: the diagnostic reports, but for the back half of their pass.
 *
 * Owns: setting up the diagnostics' counts, the front half of the pass
 * over deals (lead handling: taken, released, unprocessed, first moves,
 * and the leads of the source x manager cohorts and of the manager style;
 * insight_back.c counts the rest of each deal, on the pass's second
 * thread when there is one), and everything decided after the pass
 * (docs/METRICS.md 4f-4k).  Counts go into grids by (bucket, manager or
 * source) like report.c's; source x manager cohorts, a product of two
 * large dimensions, are a record per lead sorted and merged after the
 * pass, so memory follows the leads.  Durations, whose medians cannot be
 * summed, are appended as samples (4-byte values in a group per row and
 * column where these are known before the pass: the stays, the most of
 * them, one value for a deal's latest stay and its total when they are
 * the same, and the times to won and to close; the first moves, by
 * period, as 12-byte samples) and turned into nearest-rank quantiles once
 * after the pass (quantile.c).  Per-manager summaries every accessor call
 * would otherwise redo (the style quadrant's medians) are computed once in
 * se_insight_finish().
 * Whatever needs a median before it can be decided (stale deals, the
 * expected close month) keeps a compact record per open deal and is decided
 * in se_insight_finish().
 *
 * Never: prints (format/ does), calls Lua, or reads SQL except to fetch
 * the deal_id of the stale deals it lists.
 */
#include "huge.h"
#include "insight_back.h"
#include "quantile.h"
#include "report.h"
#include "stats.h"
#include "store.h"
#include "timeconv.h"
#include "vec.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* ---- setup ------------------------------------------------------------------------ */

/* A (bucket, source, manager) cell's leads counted in the pass, when the
 * product of sources and managers is at most SM_GRID_WIDTH (daily buckets,
 * many more of them: SM_GRID_WIDTH_DAY): up to 32 KB a bucket instead of
 * 16 bytes a lead. */
typedef struct sm_count {
	uint32_t leads, won;
} sm_count;
#define SM_GRID_WIDTH 4096
#define SM_GRID_WIDTH_DAY 256


int64_t se_report_month_start(const se_report *rep, int64_t month)
{
	int64_t y = month >= 0 ? month / 12 : -((-month + 11) / 12);
	int m = (int)(month - y * 12) + 1;

	return se_tz_local_to_utc(rep->tz, se_days_from_civil(y, m, 1) * 86400);
}

int64_t se_report_month_of(const se_report *rep, int64_t t)
{
	int64_t days = se_tz_utc_to_local(rep->tz, t), y;
	int m, d;

	days = days >= 0 ? days / 86400 : -((-days + 86399) / 86400);
	se_civil_from_days(days, &y, &m, &d);
	return y * 12 + (m - 1);
}

/* The backtest's cutoffs: the first days of the latest SE_BACKTEST_CUTS
 * months whose horizon after them lies inside what the data can judge,
 * i.e. ends before as-of and before the data ends (when the data ends
 * earlier, these are the last months of the data, and the report says so). */
static int alloc_cuts(se_report *rep, se_insight *in, int n_stages)
{
	size_t cells = (size_t)n_stages * rep->n_manager;
	int64_t end = rep->as_of, m;
	int j = SE_BACKTEST_CUTS;

	if (rep->data_end > 0 && rep->data_end + 1 < end)
		end = rep->data_end + 1;
	rep->data_ends_early = rep->data_end > 0 && rep->as_of - (rep->data_end + 1) > rep->horizon;
	for (m = se_report_month_of(rep, end); j > 0 && m > se_report_month_of(rep, end) - 1200; m--) {
		int64_t t = se_report_month_start(rep, m);

		if (t + rep->horizon <= end)
			in->cuts[--j].cutoff = t;
	}
	for (int k = 0; j > 0 && k + j < SE_BACKTEST_CUTS; k++) /* (only when the horizon spans a century) */
		in->cuts[k] = in->cuts[k + j];
	in->n_cuts = SE_BACKTEST_CUTS - j;
	for (int k = 0; k < in->n_cuts; k++) {
		se_backtest_cut *c = &in->cuts[k];

		c->open = calloc(cells, sizeof *c->open);
		c->rates = calloc(cells, sizeof *c->rates);
		c->won_amount = calloc(cells, sizeof *c->won_amount);
		c->won_deals = calloc(cells, sizeof *c->won_deals);
		c->still_open = calloc(cells, sizeof *c->still_open);
		c->carry_open = calloc(cells, sizeof *c->carry_open);
		c->carry_rates = calloc(cells, sizeof *c->carry_rates);
		c->carry_still_open = calloc(cells, sizeof *c->carry_still_open);
		c->won_h_deals = calloc(cells, sizeof *c->won_h_deals);
		c->won_h_amount = calloc(cells, sizeof *c->won_h_amount);
		c->time_fc = calloc(cells, sizeof *c->time_fc);
		if (!c->open || !c->rates || !c->won_amount || !c->won_deals || !c->still_open ||
		    !c->carry_open || !c->carry_rates || !c->carry_still_open || !c->won_h_deals ||
		    !c->won_h_amount || !c->time_fc)
			return SE_ENOMEM;
	}
	return SE_OK;
}

int se_insight_alloc(se_report *rep, se_error *err)
{
	const se_rules *r = rep->rules;

	for (int i = 0; i < r->n_funnels; i++) {
		const se_funnel *f = &r->funnels[i];
		se_insight *in = &rep->agg[i].in;
		size_t cells = (size_t)f->n_stages * rep->n_manager;

		se_grid_init(&in->handling_by_manager, rep->n_manager, sizeof(se_handling_cell));
		se_grid_init(&in->handling_by_source, rep->n_source, sizeof(se_handling_cell));
		in->style = calloc(rep->n_manager ? rep->n_manager : 1, sizeof *in->style);
		in->open_count = calloc(cells ? cells : 1, sizeof *in->open_count);
		in->stale_count = calloc(cells ? cells : 1, sizeof *in->stale_count);
		in->source_pairs = calloc((size_t)f->n_pairs + 1, sizeof *in->source_pairs);
		if (!in->style || !in->open_count || !in->stale_count || !in->source_pairs)
			goto nomem;
		for (int p = 0; p < f->n_pairs; p++)
			se_grid_init(&in->source_pairs[p], rep->n_source, sizeof(se_pair_cell));
		for (int s = 0; s < f->won; s++)
			in->spell_stages |= (uint64_t)(f->stages[s].presale != 0) << s;
		in->sm_in_grid = rep->n_manager > 0 && rep->n_source > 0 &&
		                 (uint64_t)rep->n_source * rep->n_manager <=
		                 (rep->period == SE_PERIOD_DAY ? SM_GRID_WIDTH_DAY : SM_GRID_WIDTH);
		se_grid_init(&in->sm_grid, in->sm_in_grid ? (size_t)rep->n_source * rep->n_manager : 1,
		             sizeof(sm_count));
		if ((rep->compute & SE_REPORT_BACKTEST) && alloc_cuts(rep, in, f->n_stages) != SE_OK)
			goto nomem;
		if ((rep->compute & SE_REPORT_VELOCITY) &&
		    se_groups_init_pairs(&in->stays, f->won, rep->n_manager) != SE_OK)
			goto nomem;
		/* the times to won and to close: rows and columns known now */
		if (se_groups_init(&in->to_won, 1, rep->n_manager) != SE_OK ||
		    se_groups_init(&in->to_close, f->won, 1) != SE_OK)
			goto nomem;
	}
	return SE_OK;
nomem:
	return se_error_set(err, SE_ENOMEM, "out of memory");
}

/* ---- the pass ----------------------------------------------------------------------- */

static void classify_lead(const se_report *rep, const se_deal_eval *e, int32_t lead, se_handling_cell *c,
                          int32_t move)
{
	c->leads++;
	if (move == SE_NONE) {
		if (rep->as_of - e->ev[lead].ts > rep->sla)
			c->unprocessed++;
		else
			c->waiting++;
		return;
	}
	switch (SE_STATUS_CLASS(e->code[move])) {
	case SE_CLASS_LOST: c->released++; break;
	case SE_CLASS_NONTARGET: c->nontarget++; break;
	default: c->taken++; break;
	}
}

/* A lead's record for the within-manager source comparison. */
static se_sm_lead *add_sm(se_insight *in, int64_t bucket, uint32_t source, uint32_t manager)
{
	se_sm_lead *c;

	if (SE_VEC_RESERVE_HUGE(in->sm_leads, in->cap_sm_leads, in->n_sm_leads + 1, 1024) != SE_OK)
		return NULL;
	c = &in->sm_leads[in->n_sm_leads++];
	c->bucket = bucket;
	c->source = source;
	c->manager_won = manager;
	return c;
}

static int add_handling(se_report *rep, se_insight *in, const se_funnel *f, const se_deal_eval *e,
                        uint32_t mgr, uint32_t src, se_bucket_cache *cache)
{
	int32_t lead = se_count_reach(e, 0, rep->mode), move;
	int64_t key;
	se_handling_cell *cm, *cs;
	se_sm_lead *sm = NULL;
	sm_count *smc = NULL;

	if (lead == SE_NONE || !se_insight_in_range(rep, e->ev[lead].ts))
		return SE_OK;
	key = se_report_bucket_in(rep, cache, e->ev[lead].ts);
	move = se_count_first_move(e, lead);
	if ((cm = se_grid_cell(&in->handling_by_manager, key, mgr)) == NULL ||
	    (cs = se_grid_cell(&in->handling_by_source, key, src)) == NULL ||
	    ((rep->compute & SE_REPORT_CHANNELS) && in->sm_in_grid &&
	     (smc = se_grid_cell(&in->sm_grid, key, (size_t)src * rep->n_manager + mgr)) == NULL) ||
	    ((rep->compute & SE_REPORT_CHANNELS) && !in->sm_in_grid && (sm = add_sm(in, key, src, mgr)) == NULL))
		return SE_ENOMEM;
	if (smc != NULL)
		smc->leads++;
	classify_lead(rep, e, lead, cm, move);
	classify_lead(rep, e, lead, cs, move);
	in->style[mgr].leads++;
	if (se_count_reach(e, f->won, rep->mode) != SE_NONE) {
		if (sm != NULL)
			sm->manager_won |= SE_SM_WON;
		if (smc != NULL)
			smc->won++;
		in->style[mgr].won++;
	}
	if (move != SE_NONE && (rep->compute & SE_REPORT_HANDLING)) { /* only handling prints them */
		int64_t d = e->ev[move].ts - e->ev[lead].ts;

		if (se_samples_add2(&in->first_move, key, mgr, src, d) != SE_OK)
			return SE_ENOMEM;
	}
	return SE_OK;
}

/* The front half of a deal's diagnostics: its lead's handling. */
static int deal_front(se_report *rep, const se_deal_eval *e, const se_chunk_deal *d)
{
	const se_funnel *f = &rep->rules->funnels[e->funnel];
	se_funnel_agg *a = &rep->agg[e->funnel];
	uint32_t mgr = d->manager < rep->n_manager ? d->manager : 0;
	uint32_t src = d->source < rep->n_source ? d->source : 0;
	unsigned want = rep->compute;

	if ((want & (SE_REPORT_HANDLING | SE_REPORT_DIAGNOSTICS | SE_REPORT_CHANNELS)) &&
	    add_handling(rep, &a->in, f, e, mgr, src, &rep->insight_bucket_cache) != SE_OK)
		return SE_ENOMEM;
	return SE_OK;
}

int se_insight_deal(se_report *rep, const se_deal_eval *e, const se_chunk_deal *d)
{
	if (deal_front(rep, e, d) != SE_OK)
		return SE_ENOMEM;
	return se_insight_deal_back(rep, e, d);
}

/* ---- after the pass ------------------------------------------------------------------ */

void se_report_stage_rate(const se_report *rep, int funnel, int stage, uint32_t manager, se_stage_rate *out)
{
	const se_rate_cell *row = &rep->agg[funnel].rates[(size_t)stage * rep->n_manager];

	memset(out, 0, sizeof *out);
	out->team_won = rep->agg[funnel].team_rates[stage].won;
	out->team_closed = rep->agg[funnel].team_rates[stage].closed;
	out->team_rate = out->team_closed > 0 ? (double)out->team_won / (double)out->team_closed : 0;
	if (manager < rep->n_manager) {
		out->won = row[manager].won;
		out->closed = row[manager].closed;
	} else {
		out->won = out->team_won;
		out->closed = out->team_closed;
	}
	out->k = rep->shrinkage;
	out->shrunk = se_shrink(out->won, out->closed, out->team_rate, rep->shrinkage);
}


/* Each stage's median of a quantile table's row (row * mult) in column
 * col, or INT64_MIN when it has none: once a stage instead of a lookup an
 * open deal.  NULL when out of memory. */
static int64_t *stage_medians(const se_qtable *q, int n_stages, int64_t mult, uint32_t col)
{
	int64_t *med = malloc((n_stages > 0 ? (size_t)n_stages : 1) * sizeof *med);

	for (int s = 0; med != NULL && s < n_stages; s++) {
		const se_quant *c = se_qtable_at(q, mult * s, col);

		med[s] = c == NULL || c->n == 0 ? INT64_MIN : c->p50;
	}
	return med;
}

static int close_months(se_report *rep, int fi)
{
	const se_funnel *f = &rep->rules->funnels[fi];
	se_insight *in = &rep->agg[fi].in;
	int64_t lo = INT64_MAX, hi = INT64_MIN, *month, *med, last_t = 0, last_m = 0;
	size_t cells = (size_t)f->n_stages * rep->n_manager, k = 0;
	double *shrunk; /* [stage * n_manager + manager]: se_report_stage_rate's, once a cell */
	int rc = SE_ENOMEM, have_last = 0;

	/* month[k]: the k-th pre-sale deal's (only they are touched) */
	month = malloc((in->n_open ? in->n_open : 1) * sizeof *month);
	shrunk = malloc((cells ? cells : 1) * sizeof *shrunk);
	med = stage_medians(&in->q_to_close, f->n_stages, 1, 0);
	if (month == NULL || shrunk == NULL || med == NULL)
		goto out;
	for (int s = 0; s < f->n_stages; s++)
		for (uint32_t m = 0; m < rep->n_manager; m++) {
			se_stage_rate r;

			se_report_stage_rate(rep, fi, s, m, &r);
			shrunk[(size_t)s * rep->n_manager + m] = r.shrunk;
		}
	for (size_t i = 0; i < in->n_open; i++) {
		const se_open_deal *o = &in->open[i];
		int64_t t;

		if (!o->presale)
			continue;
		if (med[o->stage] == INT64_MIN) {
			month[k++] = INT64_MIN;
			continue;
		}
		t = o->reached + med[o->stage] > rep->as_of ? o->reached + med[o->stage] : rep->as_of;
		if (!have_last || t != last_t) { /* the overdue all close at as-of */
			last_m = se_report_month_of(rep, t);
			last_t = t;
			have_last = 1;
		}
		month[k++] = last_m;
		if (last_m < lo)
			lo = last_m;
		if (last_m > hi)
			hi = last_m;
	}
	in->close_lo = lo == INT64_MAX ? 0 : lo;
	in->close_nb = lo == INT64_MAX ? 0 : hi - lo + 1;
	/* one more row: pre-sale deals of a stage no won deal ever passed */
	if ((in->close_month = calloc((size_t)(in->close_nb + 1) * 4, sizeof *in->close_month)) == NULL)
		goto out;
	k = 0;
	for (size_t i = 0; i < in->n_open; i++) {
		const se_open_deal *o = &in->open[i];
		se_money *row;
		se_stage_rate r;
		double p = f->stages[o->stage].probability;

		if (!o->presale)
			continue;
		row = &in->close_month[(month[k] == INT64_MIN ? in->close_nb : month[k] - in->close_lo) * 4];
		k++;
		if (o->manager < rep->n_manager)
			r.shrunk = shrunk[(size_t)o->stage * rep->n_manager + o->manager];
		else
			se_report_stage_rate(rep, fi, o->stage, o->manager, &r);
		row[0]++;
		row[1] += o->amount;
		row[2] += se_kopecks_times(o->amount, p < 0 ? 0 : p);
		row[3] += se_kopecks_times(o->amount, r.shrunk);
	}
	rc = SE_OK;
out:
	free(month);
	free(shrunk);
	free(med);
	return rc;
}

static int by_overdue(const void *pa, const void *pb)
{
	const se_stale_deal *a = pa, *b = pb;
	/* age / median, compared without dividing; a zero median ranks by age */
	__int128 x = (__int128)a->age * (b->median > 0 ? b->median : 1);
	__int128 y = (__int128)b->age * (a->median > 0 ? a->median : 1);

	if (x != y)
		return x > y ? -1 : 1;
	return a->deal < b->deal ? -1 : a->deal > b->deal;
}

/* Sifts v[at] down the heap v[0..n), whose root is the deal that ranks
 * last (least overdue) among those kept. */
static void sift_down(se_stale_deal *v, size_t n, size_t at)
{
	for (;;) {
		size_t worst = at, l = 2 * at + 1, r = l + 1;
		se_stale_deal t;

		if (l < n && by_overdue(&v[l], &v[worst]) > 0)
			worst = l;
		if (r < n && by_overdue(&v[r], &v[worst]) > 0)
			worst = r;
		if (worst == at)
			return;
		t = v[at];
		v[at] = v[worst];
		v[worst] = t;
		at = worst;
	}
}

/* Offers d to the heap of the `keep` most overdue deals met so far: a
 * list of SE_STALE_LIST whatever the number of open deals, instead of a
 * record per stale deal selected from afterwards (by_overdue is a total
 * order, so the deals kept are the same). */
static void offer_stale(se_stale_deal *v, size_t *n, size_t keep, const se_stale_deal *d)
{
	size_t at;

	if (*n == keep) {
		if (keep == 0 || by_overdue(d, &v[0]) >= 0)
			return;
		v[0] = *d;
		sift_down(v, *n, 0);
		return;
	}
	at = (*n)++;
	v[at] = *d;
	while (at > 0 && by_overdue(&v[(at - 1) / 2], &v[at]) < 0) {
		se_stale_deal t = v[at];

		v[at] = v[(at - 1) / 2];
		v[(at - 1) / 2] = t;
		at = (at - 1) / 2;
	}
}

/* The stale deals, most overdue first, without their keys: only the
 * stays' table and the open deals are read, so this runs beside the
 * other tables (stale_keys then asks the store).  0 or SE_ENOMEM. */
static int pick_stale(se_report *rep, int fi)
{
	se_insight *in = &rep->agg[fi].in;
	size_t n = 0;
	size_t keep = in->n_open < SE_STALE_LIST ? in->n_open : SE_STALE_LIST;
	/* each stage's median stay: the whole row of its current stays */
	int64_t *med = stage_medians(&in->q_stays, rep->rules->funnels[fi].n_stages, 2, in->q_stays.width);

	if (med == NULL || (in->stale = calloc(keep ? keep : 1, sizeof *in->stale)) == NULL) {
		free(med);
		return SE_ENOMEM;
	}
	for (size_t i = 0; i < in->n_open; i++) {
		const se_open_deal *o = &in->open[i];
		int64_t age = rep->as_of - o->since;

		if (!o->ranged || med[o->stage] == INT64_MIN || (double)age <= rep->stale_multiple * (double)med[o->stage])
			continue;
		in->stale_count[(size_t)o->stage * rep->n_manager + o->manager]++;
		offer_stale(in->stale, &n, keep, &(se_stale_deal){ o->deal, o->manager, o->stage, age, med[o->stage], NULL });
	}
	free(med);
	qsort(in->stale, n, sizeof *in->stale, by_overdue);
	in->n_stale = n;
	return SE_OK;
}

static int stale_keys(se_report *rep, se_store *st, int fi, se_error *err)
{
	se_insight *in = &rep->agg[fi].in;

	for (size_t i = 0; i < in->n_stale; i++) {
		char key[600];
		int rc;

		if ((rc = se_store_deal_key(st, in->stale[i].deal, key, sizeof key, err)) != SE_OK)
			return rc;
		if ((in->stale[i].key = strdup(key)) == NULL)
			return se_error_set(err, SE_ENOMEM, "out of memory");
	}
	return SE_OK;
}

/* Adds the deals whose whole history preceded a cutoff to it and to every
 * later cutoff. */
static void carry_cuts(se_report *rep, se_insight *in, int n_stages)
{
	size_t cells = (size_t)n_stages * rep->n_manager;

	for (int j = 0; j < in->n_cuts; j++) {
		se_backtest_cut *c = &in->cuts[j];

		for (size_t i = 0; i < cells; i++) {
			if (j > 0) {
				const se_backtest_cut *p = &in->cuts[j - 1];

				c->carry_open[i].deals += p->carry_open[i].deals;
				c->carry_open[i].amount += p->carry_open[i].amount;
				c->carry_rates[i].closed += p->carry_rates[i].closed;
				c->carry_rates[i].won += p->carry_rates[i].won;
				c->carry_still_open[i] += p->carry_still_open[i];
			}
			c->open[i].deals += c->carry_open[i].deals;
			c->open[i].amount += c->carry_open[i].amount;
			c->rates[i].closed += c->carry_rates[i].closed;
			c->rates[i].won += c->carry_rates[i].won;
			c->still_open[i] += c->carry_still_open[i];
		}
	}
}

/* ---- the tables and what is decided from them, on both cores ----------------------- */

/* The quantile tables are independent, and so is what each decides: the
 * stays' table (the largest: a sample per deal and stage) the stale deals
 * and then their keys from the store, the times to close the close
 * months.  They are tasks, the largest first, that this thread and a
 * second one take in turn as each gets free, so both cores stay busy
 * whichever finishes first (the stays' table runs its rows in two threads
 * of its own).  None reads what another writes, and only the stays' task
 * uses the store.  (1M deals: the tables 21-27 ms, then 6 ms of keys; now
 * the keys while the other thread builds the rest.) */
typedef struct finish_pool finish_pool;

static int task_stays(finish_pool *p);
static int task_first_move(finish_pool *p);
static int task_close(finish_pool *p);
static int task_to_won(finish_pool *p);
static int task_carry(finish_pool *p);

static int (*const finish_task[])(finish_pool *p) = {
	task_stays, task_first_move, task_close, task_to_won, task_carry,
};
#define N_FINISH_TASKS ((int)(sizeof finish_task / sizeof finish_task[0]))

struct finish_pool {
	se_report *rep;
	se_store *st;
	int fi;
	atomic_int next;             /* the next task to take */
	int rc[N_FINISH_TASKS];
	se_error err;                /* the stays' task's, when the store fails */
};

static int task_stays(finish_pool *p)
{
	se_report *rep = p->rep;
	se_insight *in = &rep->agg[p->fi].in;
	int rc = se_qtable_build_groups(&in->q_stays, &in->stays);

	if (rc != SE_OK || !(rep->compute & SE_REPORT_VELOCITY))
		return rc == SE_OK ? SE_OK : se_error_set(&p->err, rc, "out of memory");
	if (pick_stale(rep, p->fi) != SE_OK)
		return se_error_set(&p->err, SE_ENOMEM, "out of memory");
	return stale_keys(rep, p->st, p->fi, &p->err);
}

static int task_first_move(finish_pool *p)
{
	se_report *rep = p->rep;
	se_insight *in = &rep->agg[p->fi].in;

	return se_qtable_build2(&in->q_first_move_by_manager, rep->n_manager, &in->q_first_move_by_source,
	                        rep->n_source, &in->first_move);
}

static int task_close(finish_pool *p)
{
	se_report *rep = p->rep;
	se_insight *in = &rep->agg[p->fi].in;
	int rc = se_qtable_build_groups(&in->q_to_close, &in->to_close);

	return rc == SE_OK && (rep->compute & SE_REPORT_FORECAST) ? close_months(rep, p->fi) : rc;
}

static int task_to_won(finish_pool *p)
{
	se_insight *in = &p->rep->agg[p->fi].in;

	return se_qtable_build_groups(&in->q_to_won, &in->to_won);
}

static int task_carry(finish_pool *p)
{
	if (p->rep->compute & SE_REPORT_BACKTEST)
		carry_cuts(p->rep, &p->rep->agg[p->fi].in, p->rep->rules->funnels[p->fi].n_stages);
	return SE_OK;
}

static void *finish_worker(void *arg)
{
	finish_pool *p = arg;
	int k;

	while ((k = atomic_fetch_add(&p->next, 1)) < N_FINISH_TASKS)
		p->rc[k] = finish_task[k](p);
	return NULL;
}

/* All the tasks, in a second thread too when the stays are many.  0, or
 * an error in err. */
static int finish_tables(se_report *rep, se_store *st, int fi, se_error *err)
{
	finish_pool p = { .rep = rep, .st = st, .fi = fi };
	pthread_t t;
	int threaded;

	atomic_init(&p.next, 0);
	threaded = rep->agg[fi].in.stays.n > 100000 && pthread_create(&t, NULL, finish_worker, &p) == 0;
	finish_worker(&p);
	if (threaded)
		pthread_join(t, NULL);
	if (p.rc[0] != SE_OK) {
		*err = p.err;
		return p.rc[0];
	}
	for (int k = 1; k < N_FINISH_TASKS; k++)
		if (p.rc[k] != SE_OK)
			return se_error_set(err, p.rc[k], "out of memory");
	return SE_OK;
}

/* ---- source x manager cohorts and style, once after the pass ----------------------- */

static int by_bucket_source_manager(const void *pa, const void *pb)
{
	const se_sm_cell *a = pa, *b = pb;

	if (a->bucket != b->bucket)
		return a->bucket < b->bucket ? -1 : 1;
	if (a->source != b->source)
		return a->source < b->source ? -1 : 1;
	return (a->manager > b->manager) - (a->manager < b->manager);
}

static int by_bucket_manager(const void *pa, const void *pb)
{
	const se_sm_cell *a = pa, *b = pb;

	if (a->bucket != b->bucket)
		return a->bucket < b->bucket ? -1 : 1;
	return (a->manager > b->manager) - (a->manager < b->manager);
}

/* Sorts v by cmp and adds up the records cmp finds equal; returns the
 * count left. */
static size_t sort_merge(se_sm_cell *v, size_t n, int (*cmp)(const void *, const void *))
{
	size_t out = 0;

	if (n == 0)
		return 0; /* v may be NULL: qsort must not see it */
	qsort(v, n, sizeof *v, cmp);
	for (size_t i = 0; i < n; i++) {
		if (out > 0 && cmp(&v[out - 1], &v[i]) == 0) {
			v[out - 1].leads += v[i].leads;
			v[out - 1].won += v[i].won;
		} else {
			v[out++] = v[i];
		}
	}
	return out;
}

/* Whether a dense table of rows x cols cells (16 bytes each) is worth it
 * for n records: no larger than the records themselves, or a few MB. */
static int dense_ok(int64_t rows, uint64_t cols, size_t n)
{
	uint64_t limit = n > (1u << 20) ? (uint64_t)n : (1u << 20);

	return rows > 0 && cols > 0 && (uint64_t)rows <= limit && cols <= limit / (uint64_t)rows;
}

typedef struct sm_sum {
	int64_t leads, won;
} sm_sum;

/* The leads' records added up by (bucket, source, manager), in that
 * order: counted into a dense table when the product of the dimensions is
 * small (linear), else sorted and merged.  Frees the records. */
static int merge_leads(const se_report *rep, se_insight *in)
{
	int64_t lo = INT64_MAX, hi = INT64_MIN;
	uint64_t ns = rep->n_source ? rep->n_source : 1, nm = rep->n_manager ? rep->n_manager : 1;
	size_t n = in->n_sm_leads, out = 0;
	sm_sum *t;

	if (in->sm_in_grid) { /* counted in the pass, in this order already */
		const se_grid *g = &in->sm_grid;
		size_t cells = (size_t)g->nb * g->width;
		const sm_count *c = (const sm_count *)g->data;

		for (size_t i = 0; i < cells; i++)
			out += c[i].leads > 0;
		if ((in->sm = malloc((out ? out : 1) * sizeof *in->sm)) == NULL)
			return SE_ENOMEM;
		out = 0;
		for (size_t i = 0; i < cells; i++)
			if (c[i].leads > 0)
				in->sm[out++] = (se_sm_cell){ g->lo + (int64_t)(i / g->width), (uint32_t)(i % g->width / nm),
				                              (uint32_t)(i % nm), c[i].leads, c[i].won };
		in->n_sm = out;
		free(in->sm_grid.data);
		in->sm_grid.data = NULL;
		in->sm_grid.nb = 0;
		return SE_OK;
	}
	for (size_t i = 0; i < n; i++) {
		if (in->sm_leads[i].bucket < lo)
			lo = in->sm_leads[i].bucket;
		if (in->sm_leads[i].bucket > hi)
			hi = in->sm_leads[i].bucket;
	}
	if (n > 0 && hi - lo < INT64_MAX && dense_ok(hi - lo + 1, ns * nm, n) && ns * nm / nm == ns &&
	    (t = calloc((size_t)(hi - lo + 1) * ns * nm, sizeof *t)) != NULL) {
		size_t cells = (size_t)(hi - lo + 1) * ns * nm;

		for (size_t i = 0; i < n; i++) {
			const se_sm_lead *r = &in->sm_leads[i];
			sm_sum *c = &t[((size_t)(r->bucket - lo) * ns + r->source) * nm + (r->manager_won & ~SE_SM_WON)];

			c->leads++;
			c->won += (r->manager_won & SE_SM_WON) != 0;
		}
		for (size_t c = 0; c < cells; c++)
			out += t[c].leads > 0;
		if ((in->sm = malloc((out ? out : 1) * sizeof *in->sm)) == NULL) {
			free(t);
			return SE_ENOMEM;
		}
		out = 0;
		for (size_t c = 0; c < cells; c++)
			if (t[c].leads > 0)
				in->sm[out++] = (se_sm_cell){ lo + (int64_t)(c / (ns * nm)), (uint32_t)(c / nm % ns),
				                              (uint32_t)(c % nm), t[c].leads, t[c].won };
		free(t);
		in->n_sm = out;
	} else {
		if ((in->sm = malloc((n ? n : 1) * sizeof *in->sm)) == NULL)
			return SE_ENOMEM;
		for (size_t i = 0; i < n; i++) {
			const se_sm_lead *r = &in->sm_leads[i];

			in->sm[i] = (se_sm_cell){ r->bucket, r->source, r->manager_won & ~SE_SM_WON, 1,
			                          (r->manager_won & SE_SM_WON) != 0 };
		}
		in->n_sm = sort_merge(in->sm, n, by_bucket_source_manager);
	}
	free(in->sm_leads);
	in->sm_leads = NULL;
	in->n_sm_leads = in->cap_sm_leads = 0;
	return SE_OK;
}

/* The merged cells added up by (bucket, manager): the same way, dense when
 * small.  A cell keeps the first (lowest) source it met, as a stable
 * merge of the cells would. */
static int merge_sm(const se_report *rep, se_insight *in)
{
	uint64_t nm = rep->n_manager ? rep->n_manager : 1;
	int64_t lo, nb;
	se_sm_cell *t;
	size_t out = 0;

	if (merge_leads(rep, in) != SE_OK)
		return SE_ENOMEM;
	if ((in->sm_manager = malloc((in->n_sm ? in->n_sm : 1) * sizeof *in->sm_manager)) == NULL)
		return SE_ENOMEM;
	if (in->n_sm == 0) {
		in->n_sm_manager = 0;
		return SE_OK;
	}
	lo = in->sm[0].bucket; /* sorted by bucket first */
	nb = in->sm[in->n_sm - 1].bucket - lo + 1;
	if (in->sm[in->n_sm - 1].bucket - lo < INT64_MAX && dense_ok(nb, nm, in->n_sm) &&
	    (t = calloc((size_t)nb * nm, sizeof *t)) != NULL) {
		for (size_t i = 0; i < in->n_sm; i++) {
			const se_sm_cell *c = &in->sm[i];
			se_sm_cell *m = &t[(size_t)(c->bucket - lo) * nm + c->manager];

			if (m->leads == 0) {
				*m = *c;
			} else {
				m->leads += c->leads;
				m->won += c->won;
			}
		}
		for (size_t c = 0; c < (size_t)nb * nm; c++)
			if (t[c].leads > 0)
				in->sm_manager[out++] = t[c];
		free(t);
		in->n_sm_manager = out;
		return SE_OK;
	}
	memcpy(in->sm_manager, in->sm, in->n_sm * sizeof *in->sm);
	in->n_sm_manager = sort_merge(in->sm_manager, in->n_sm, by_bucket_manager);
	return SE_OK;
}

typedef struct style_ctx {
	const se_cohort_cell *c;
	int by_depth;
} style_ctx;

static int by_style(const void *pa, const void *pb, void *ud)
{
	const style_ctx *s = ud;
	const se_cohort_cell *a = &s->c[*(const uint32_t *)pa], *b = &s->c[*(const uint32_t *)pb];

	if (!s->by_depth)
		return a->leads < b->leads ? -1 : a->leads > b->leads;
	/* won/leads compared exactly: a.won * b.leads vs b.won * a.leads */
	__int128 x = (__int128)a->won * b->leads, y = (__int128)b->won * a->leads;
	return x < y ? -1 : x > y;
}

/* The buckets in which the team had leads, and the managers' lower
 * medians (nearest rank) of leads and of won/leads: the style quadrant's
 * lines, the same for every manager. */
static int style_summary(const se_report *rep, se_insight *in)
{
	const se_grid *g = &in->handling_by_manager;
	uint32_t *ids, n = 0;
	style_ctx s = { in->style, 0 };

	in->style_periods = 0;
	for (int64_t k = g->lo; k < g->lo + g->nb; k++)
		for (uint32_t m = 0; m < rep->n_manager; m++) {
			const se_handling_cell *h = se_grid_at(g, k, m);

			if (h != NULL && h->leads > 0) {
				in->style_periods++;
				break;
			}
		}
	if ((ids = malloc((rep->n_manager ? rep->n_manager : 1) * sizeof *ids)) == NULL)
		return SE_ENOMEM;
	for (uint32_t m = 0; m < rep->n_manager; m++)
		if (in->style[m].leads > 0)
			ids[n++] = m;
	memset(&in->style_volume, 0, sizeof in->style_volume);
	memset(&in->style_depth, 0, sizeof in->style_depth);
	if (n > 0) {
		size_t mid = (n + 1) / 2 - 1;

		qsort_r(ids, n, sizeof *ids, by_style, &s);
		in->style_volume = in->style[ids[mid]];
		s.by_depth = 1;
		qsort_r(ids, n, sizeof *ids, by_style, &s);
		in->style_depth = in->style[ids[mid]];
	}
	free(ids);
	return SE_OK;
}

int se_insight_finish(se_report *rep, se_store *st, se_error *err)
{
	for (int i = 0; i < rep->rules->n_funnels; i++) {
		se_insight *in = &rep->agg[i].in;
		int rc;

		if (merge_sm(rep, in) != SE_OK || style_summary(rep, in) != SE_OK)
			return se_error_set(err, SE_ENOMEM, "out of memory");
		if ((rc = finish_tables(rep, st, i, err)) != SE_OK)
			return rc;
		free(in->open);
		in->open = NULL;
		in->n_open = in->cap_open = 0;
	}
	return SE_OK;
}

void se_insight_free(se_report *rep)
{
	for (int i = 0; rep->agg && i < rep->rules->n_funnels; i++) {
		se_insight *in = &rep->agg[i].in;

		free(in->handling_by_manager.data);
		free(in->handling_by_source.data);
		free(in->sm_leads);
		free(in->sm_grid.data);
		free(in->sm);
		free(in->sm_manager);
		free(in->first_move.v);
		free(in->first_move.col2);
		se_groups_free(&in->stays);
		se_groups_free(&in->to_won);
		se_groups_free(&in->to_close);
		free(in->q_first_move_by_manager.cells);
		free(in->q_first_move_by_source.cells);
		free(in->q_stays.cells);
		free(in->q_to_won.cells);
		free(in->q_to_close.cells);
		free(in->style);
		free(in->open);
		free(in->open_count);
		free(in->stale_count);
		for (size_t s = 0; in->stale && s < in->n_stale; s++)
			free(in->stale[s].key);
		free(in->stale);
		free(in->close_month);
		for (int p = 0; in->source_pairs && p < rep->rules->funnels[i].n_pairs; p++)
			free(in->source_pairs[p].data);
		free(in->source_pairs);
		for (int j = 0; j < SE_BACKTEST_CUTS; j++) {
			free(in->cuts[j].open);
			free(in->cuts[j].rates);
			free(in->cuts[j].won_amount);
			free(in->cuts[j].won_deals);
			free(in->cuts[j].still_open);
			free(in->cuts[j].carry_open);
			free(in->cuts[j].carry_rates);
			free(in->cuts[j].carry_still_open);
			free(in->cuts[j].won_h_deals);
			free(in->cuts[j].won_h_amount);
			free(in->cuts[j].time_fc);
		}
		free(in->spells);
		free(in->time_fc);
		free(in->step_q);
		free(in->channel_q);
		free(in->channel_managers);
	}
	for (size_t i = 0; i < rep->n_spend; i++)
		free(rep->spend[i].source);
	free(rep->spend);
}
