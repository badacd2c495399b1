/*
 * diagnose.c: the accessors of report.h over a built report.
 *
 * Owns: every derived number of the diagnostic reports (docs/METRICS.md
 * 4f-4j): intervals and significance, growth points, style quadrants,
 * quantile lookups, forecasts, backtest sums, spend ratios and the weak
 * source test.  format/ prints through these functions and the Lua API
 * reads through them, so a number has one definition in code as in the
 * docs.
 *
 * Never: changes the report, allocates (except a per-call id list for
 * medians), prints, or touches SQLite or Lua.
 */
#include "report.h"
#include "stats.h"
#include "timeconv.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int bad_funnel(const se_report *rep, int funnel)
{
	return funnel < 0 || funnel >= rep->rules->n_funnels;
}

/* ---- handling ----------------------------------------------------------------------- */

int se_report_handling(const se_report *rep, int funnel, int64_t bucket, enum se_dim dim, uint32_t id,
                       se_handling *out)
{
	const se_insight *in;
	const se_grid *g;
	const se_qtable *q;
	uint32_t width;
	const se_quant *qc;

	memset(out, 0, sizeof *out);
	out->first_move_median = out->first_move_p90 = -1;
	if (bad_funnel(rep, funnel))
		return SE_ERR;
	in = &rep->agg[funnel].in;
	g = dim == SE_DIM_SOURCE ? &in->handling_by_source : &in->handling_by_manager;
	q = dim == SE_DIM_SOURCE ? &in->q_first_move_by_source : &in->q_first_move_by_manager;
	width = dim == SE_DIM_SOURCE ? rep->n_source : rep->n_manager;
	if (id != SE_ALL && id >= width)
		return SE_ERR;
	for (uint32_t c = id == SE_ALL ? 0 : id; c < width && (id == SE_ALL || c == id); c++) {
		const se_handling_cell *h;

		if ((h = se_grid_at(g, bucket, c)) == NULL)
			continue;
		out->taken += h->taken;
		out->released += h->released;
		out->nontarget += h->nontarget;
		out->unprocessed += h->unprocessed;
		out->waiting += h->waiting;
	}
	/* the leads are the leads report's, read through its accessor */
	out->leads = se_report_leads(rep, funnel, bucket, dim, id);
	out->moved = out->taken + out->released + out->nontarget;
	qc = se_qtable_at(q, bucket, id == SE_ALL ? q->width : id);
	if (qc != NULL && qc->n > 0) {
		out->first_move_median = qc->p50;
		out->first_move_p90 = qc->p90;
	}
	return SE_OK;
}

/* ---- managers against the team ---------------------------------------------------------- */

/* A manager's or the team's counts on a pair over every bucket, summed
 * once after the pass (report.c). */
static void pair_totals(const se_report *rep, int funnel, int pair, uint32_t manager, int64_t *from,
                        int64_t *to)
{
	const se_pair_cell *c = &rep->agg[funnel].pair_sums[(size_t)pair * (rep->n_manager + 1) +
	                                                    (manager == SE_ALL ? rep->n_manager : manager)];

	*from = c->from;
	*to = c->to;
}

int se_report_step(const se_report *rep, int funnel, int pair, uint32_t manager, se_step_diag *out)
{
	int64_t team_from, team_to;

	memset(out, 0, sizeof *out);
	out->others_rate = -1;
	if (bad_funnel(rep, funnel) || pair < 0 || pair >= rep->rules->funnels[funnel].n_pairs ||
	    (manager != SE_ALL && manager >= rep->n_manager))
		return SE_ERR;
	pair_totals(rep, funnel, pair, manager, &out->from, &out->to);
	out->rate = out->from > 0 ? (double)out->to / (double)out->from : 0;
	se_wilson(out->to, out->from, SE_Z95, &out->ci_low, &out->ci_high);
	if (manager == SE_ALL)
		return SE_OK;
	pair_totals(rep, funnel, pair, SE_ALL, &team_from, &team_to);
	out->others_from = team_from - out->from;
	out->others_to = team_to - out->to;
	if (out->others_from > 0) {
		out->others_rate = (double)out->others_to / (double)out->others_from;
		out->missed = (out->others_rate - out->rate) * (double)out->from;
		se_newcombe(out->to, out->from, out->others_to, out->others_from, &out->gap_low, &out->gap_high);
		out->significant = out->gap_low > 0 || out->gap_high < 0;
	}
	return SE_OK;
}

int se_report_growth_point(const se_report *rep, int funnel, uint32_t manager)
{
	int best = SE_NONE;
	double most = 0;

	if (bad_funnel(rep, funnel) || manager >= rep->n_manager)
		return SE_NONE;
	for (int p = 0; p < rep->rules->funnels[funnel].n_pairs; p++) {
		se_step_diag d;

		if (rep->rules->funnels[funnel].pairs[p].extra || se_report_step(rep, funnel, p, manager, &d) != SE_OK)
			continue;
		if (d.significant && d.rate < d.others_rate && d.missed > most) {
			most = d.missed;
			best = p;
		}
	}
	return best;
}

/* ---- style -------------------------------------------------------------------------------- */

int se_report_style(const se_report *rep, int funnel, uint32_t manager, se_style *out)
{
	const se_insight *in;
	se_cohort_cell vol, dep;

	memset(out, 0, sizeof *out);
	if (bad_funnel(rep, funnel) || (manager != SE_ALL && manager >= rep->n_manager))
		return SE_ERR;
	in = &rep->agg[funnel].in;
	out->periods = in->style_periods;
	vol = in->style_volume;
	dep = in->style_depth;
	if (manager == SE_ALL) {
		for (uint32_t m = 0; m < rep->n_manager; m++) {
			out->leads += in->style[m].leads;
			out->won += in->style[m].won;
		}
		out->volume = out->periods > 0 ? (double)vol.leads / (double)out->periods : 0;
		out->depth = dep.leads > 0 ? (double)dep.won / (double)dep.leads : 0;
		out->style = "median";
		return SE_OK;
	}
	out->leads = in->style[manager].leads;
	out->won = in->style[manager].won;
	out->volume = out->periods > 0 ? (double)out->leads / (double)out->periods : 0;
	out->depth = out->leads > 0 ? (double)out->won / (double)out->leads : 0;
	{
		int high_volume = out->leads >= vol.leads;
		int high_depth = (__int128)out->won * dep.leads >= (__int128)dep.won * out->leads;

		out->style = high_volume && high_depth ? "volume+depth" : high_volume ? "volume"
		             : high_depth ? "depth" : "neither";
	}
	return SE_OK;
}

/* ---- velocity ------------------------------------------------------------------------------- */

static void quant_or_empty(const se_qtable *q, int64_t row, uint32_t col, se_quant *out)
{
	const se_quant *c = se_qtable_at(q, row, col);

	if (c != NULL)
		*out = *c;
	else
		memset(out, 0, sizeof *out);
}

int se_report_velocity(const se_report *rep, int funnel, int stage, uint32_t manager, se_velocity *out)
{
	const se_insight *in;
	uint32_t col = manager == SE_ALL ? rep->n_manager : manager;

	memset(out, 0, sizeof *out);
	if (bad_funnel(rep, funnel) || stage < 0 || stage >= rep->rules->funnels[funnel].won ||
	    (manager != SE_ALL && manager >= rep->n_manager))
		return SE_ERR;
	in = &rep->agg[funnel].in;
	quant_or_empty(&in->q_stays, 2 * stage, col, &out->latest);
	quant_or_empty(&in->q_stays, 2 * stage + 1, col, &out->total);
	for (uint32_t m = manager == SE_ALL ? 0 : manager; m < rep->n_manager; m++) {
		if (manager != SE_ALL && m != manager)
			break;
		out->open += in->open_count[(size_t)stage * rep->n_manager + m];
		out->stale += in->stale_count[(size_t)stage * rep->n_manager + m];
	}
	return SE_OK;
}

int se_report_time_to_won(const se_report *rep, int funnel, uint32_t manager, se_quant *out)
{
	memset(out, 0, sizeof *out);
	if (bad_funnel(rep, funnel) || (manager != SE_ALL && manager >= rep->n_manager))
		return SE_ERR;
	quant_or_empty(&rep->agg[funnel].in.q_to_won, 0, manager == SE_ALL ? rep->n_manager : manager, out);
	return SE_OK;
}

size_t se_report_stale_count(const se_report *rep, int funnel)
{
	return bad_funnel(rep, funnel) ? 0 : rep->agg[funnel].in.n_stale;
}

const se_stale_deal *se_report_stale_deal(const se_report *rep, int funnel, size_t i)
{
	if (bad_funnel(rep, funnel) || i >= rep->agg[funnel].in.n_stale)
		return NULL;
	return &rep->agg[funnel].in.stale[i];
}

/* ---- forecast --------------------------------------------------------------------------------- */

static void add_part(se_presale *out, const se_presale_cell *c, const se_win_rate *w)
{
	out->deals += c->deals;
	out->no_amount += c->no_amount;
	out->amount += c->amount;
	out->forecast += se_forecast_part(c->amount, w);
	if (out->basis == NULL)
		out->basis = w->basis;
	else if (strcmp(out->basis, w->basis) != 0)
		out->basis = "mixed";
}

int se_report_presale(const se_report *rep, int funnel, int stage, uint32_t manager, se_presale *out)
{
	const se_funnel *f;
	const se_funnel_agg *a;

	memset(out, 0, sizeof *out);
	if (bad_funnel(rep, funnel) || (manager != SE_ALL && manager >= rep->n_manager))
		return SE_ERR;
	f = &rep->rules->funnels[funnel];
	a = &rep->agg[funnel];
	if (stage < -1 || stage >= f->won || (stage >= 0 && !f->stages[stage].presale))
		return SE_ERR;
	for (int s = 0; s < f->won; s++) {
		const se_presale_cell *row = &a->presale[(size_t)s * rep->n_manager];
		const se_rate_cell *rates = &a->rates[(size_t)s * rep->n_manager];
		const se_rate_cell *team = &a->team_rates[s];

		if (!f->stages[s].presale || (stage >= 0 && s != stage))
			continue;
		if (manager != SE_ALL) {
			se_win_rate w = se_win_rate_pick(rates[manager].won, rates[manager].closed, team->won,
			                                 team->closed);

			if (row[manager].deals > 0)
				add_part(out, &row[manager], &w);
			if (stage >= 0) {
				out->won = w.won;
				out->closed = w.closed;
				out->basis = w.basis;
				out->one_part = 1;
			}
			continue;
		}
		for (uint32_t m = 0; m < rep->n_manager; m++) {
			se_win_rate w;

			if (row[m].deals == 0)
				continue;
			w = se_win_rate_pick(rates[m].won, rates[m].closed, team->won, team->closed);
			add_part(out, &row[m], &w);
		}
		if (stage >= 0) {
			out->won = team->won;
			out->closed = team->closed;
		}
	}
	return SE_OK;
}

int se_report_forecast(const se_report *rep, int funnel, int stage, uint32_t manager, se_forecast *out)
{
	const se_funnel *f;
	const se_funnel_agg *a;

	memset(out, 0, sizeof *out);
	out->probability = -1;
	if (bad_funnel(rep, funnel) || (manager != SE_ALL && manager >= rep->n_manager))
		return SE_ERR;
	f = &rep->rules->funnels[funnel];
	a = &rep->agg[funnel];
	if (stage < -1 || stage >= f->won || (stage >= 0 && !f->stages[stage].presale))
		return SE_ERR;
	if (stage >= 0) {
		out->probability = f->stages[stage].probability;
		se_report_stage_rate(rep, funnel, stage, manager, &out->rate);
	}
	for (int s = 0; s < f->won; s++) {
		double p = f->stages[s].probability;

		if (!f->stages[s].presale || (stage >= 0 && s != stage))
			continue;
		for (uint32_t m = manager == SE_ALL ? 0 : manager; m < rep->n_manager; m++) {
			const se_presale_cell *c = &a->presale[(size_t)s * rep->n_manager + m];
			se_stage_rate r;

			if (manager != SE_ALL && m != manager)
				break;
			if (c->deals == 0)
				continue;
			se_report_stage_rate(rep, funnel, s, m, &r);
			out->deals += c->deals;
			out->amount += c->amount;
			out->forecast_stage += se_kopecks_times(c->amount, p < 0 ? 0 : p);
			out->forecast_shrunk += se_kopecks_times(c->amount, r.shrunk);
		}
	}
	return SE_OK;
}

int se_report_forecast_months(const se_report *rep, int funnel, size_t i, se_forecast_month *out)
{
	const se_insight *in;
	const se_money *row;

	memset(out, 0, sizeof *out);
	if (bad_funnel(rep, funnel))
		return SE_ERR;
	in = &rep->agg[funnel].in;
	if (in->close_month == NULL || i > (size_t)in->close_nb)
		return SE_ERR;
	row = &in->close_month[i * 4];
	out->month = i == (size_t)in->close_nb ? -1 : in->close_lo + (int64_t)i;
	out->deals = (int64_t)row[0];
	out->amount = row[1];
	out->forecast_stage = row[2];
	out->forecast_shrunk = row[3];
	return SE_OK;
}

int se_report_backtest(const se_report *rep, int funnel, int cut, se_backtest *out)
{
	const se_funnel *f;
	const se_backtest_cut *c;

	memset(out, 0, sizeof *out);
	if (bad_funnel(rep, funnel) || cut < 0 || cut >= rep->agg[funnel].in.n_cuts)
		return SE_ERR;
	f = &rep->rules->funnels[funnel];
	c = &rep->agg[funnel].in.cuts[cut];
	out->cutoff = c->cutoff;
	for (int s = 0; s < f->won; s++) {
		int64_t team_won = 0, team_closed = 0;
		double p = f->stages[s].probability, team_rate;

		if (!f->stages[s].presale)
			continue;
		for (uint32_t m = 0; m < rep->n_manager; m++) {
			team_won += c->rates[(size_t)s * rep->n_manager + m].won;
			team_closed += c->rates[(size_t)s * rep->n_manager + m].closed;
		}
		team_rate = team_closed > 0 ? (double)team_won / (double)team_closed : 0;
		for (uint32_t m = 0; m < rep->n_manager; m++) {
			size_t i = (size_t)s * rep->n_manager + m;
			double shrunk = se_shrink(c->rates[i].won, c->rates[i].closed, team_rate, rep->shrinkage);

			if (c->open[i].deals == 0)
				continue;
			out->deals += c->open[i].deals;
			out->amount += c->open[i].amount;
			out->forecast_stage += se_kopecks_times(c->open[i].amount, p < 0 ? 0 : p);
			out->forecast_shrunk += se_kopecks_times(c->open[i].amount, shrunk);
			out->won_deals += c->won_deals[i];
			out->won_amount += c->won_amount[i];
			out->still_open += c->still_open[i];
		}
	}
	return SE_OK;
}

/* ---- sources --------------------------------------------------------------------------------- */

/* Spend of source (NULL: every source) for a bucket: the month itself for
 * monthly buckets, every month overlapping the range for total; -1 when
 * buckets are days or weeks. */
static se_money bucket_spend(const se_report *rep, const char *source, int64_t bucket)
{
	se_money sum = 0;

	if (rep->period != SE_PERIOD_MONTH && rep->period != SE_PERIOD_TOTAL)
		return -1;
	for (size_t i = 0; i < rep->n_spend; i++) {
		const se_spend *s = &rep->spend[i];

		if (source != NULL && strcmp(s->source, source) != 0)
			continue;
		if (rep->period == SE_PERIOD_MONTH && s->month != bucket)
			continue;
		if (rep->period == SE_PERIOD_TOTAL) {
			int64_t y = s->month / 12, m = s->month % 12 + 1;
			int64_t start = se_tz_local_to_utc(rep->tz, se_days_from_civil(y, (int)m, 1) * 86400);
			int64_t end = se_tz_local_to_utc(rep->tz, (se_days_from_civil(y, (int)m, 1) +
			                                           se_days_in_month(y, (int)m)) * 86400);

			if (end <= rep->from_utc || start >= rep->to_utc)
				continue;
		}
		sum += s->kopecks;
	}
	return sum;
}

/* The first (bucket, source, ...) record of the sorted cohorts. */
static size_t sm_first(const se_insight *in, int64_t bucket, uint32_t source)
{
	size_t lo = 0, hi = in->n_sm;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const se_sm_cell *c = &in->sm[mid];

		if (c->bucket < bucket || (c->bucket == bucket && c->source < source))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* A manager's leads over every source in a bucket, or NULL. */
static const se_sm_cell *sm_manager(const se_insight *in, int64_t bucket, uint32_t manager)
{
	size_t lo = 0, hi = in->n_sm_manager;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const se_sm_cell *c = &in->sm_manager[mid];

		if (c->bucket < bucket || (c->bucket == bucket && c->manager < manager))
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < in->n_sm_manager && in->sm_manager[lo].bucket == bucket && in->sm_manager[lo].manager == manager)
		return &in->sm_manager[lo];
	return NULL;
}

int se_report_channel(const se_report *rep, int funnel, int64_t bucket, uint32_t source, se_channel *out)
{
	const se_funnel_agg *a;
	se_cmh cmh = { 0, 0, 0 };

	memset(out, 0, sizeof *out);
	out->cpl = out->cps = -1;
	out->romi = NAN;
	if (bad_funnel(rep, funnel) || (source != SE_ALL && source >= rep->n_source))
		return SE_ERR;
	a = &rep->agg[funnel];
	for (uint32_t s = source == SE_ALL ? 0 : source; s < rep->n_source; s++) {
		const se_source_cell *c = se_grid_at(&a->sources, bucket, s);

		if (source != SE_ALL && s != source)
			break;
		if (c == NULL)
			continue;
		out->leads += c->leads;
		out->won += c->won;
		out->revenue += c->revenue;
	}
	out->spend = bucket_spend(rep, source == SE_ALL ? NULL
	                                 : rep->sources[source] ? rep->sources[source] : "(none)", bucket);
	if (out->spend >= 0) {
		if (out->leads > 0)
			out->cpl = se_money_div_round(out->spend, out->leads);
		if (out->won > 0)
			out->cps = se_money_div_round(out->spend, out->won);
		if (out->spend > 0)
			out->romi = (double)(out->revenue - out->spend) / (double)out->spend;
	}
	if (source == SE_ALL)
		return SE_OK;
	/* Each manager with leads from this source is a stratum: this source
	 * against the manager's other sources (managers without any add nothing
	 * to the statistic), in manager order. */
	for (size_t i = sm_first(&a->in, bucket, source); i < a->in.n_sm; i++) {
		const se_sm_cell *c = &a->in.sm[i];
		const se_sm_cell *t;

		if (c->bucket != bucket || c->source != source)
			break;
		if ((t = sm_manager(&a->in, bucket, c->manager)) == NULL)
			continue;
		se_cmh_add(&cmh, c->won, c->leads, t->won - c->won, t->leads - c->leads);
	}
	out->cmh_z = se_cmh_z(&cmh);
	out->weak = out->cmh_z < -SE_Z95;
	return SE_OK;
}

/* Sum of a pair grid's cells in a bucket: column id, or every column. */
static void sum_pair_cells(const se_grid *g, int64_t bucket, uint32_t width, uint32_t id, se_pair_cell *out)
{
	memset(out, 0, sizeof *out);
	for (uint32_t c = id == SE_ALL ? 0 : id; c < width && (id == SE_ALL || c == id); c++) {
		const se_pair_cell *v = se_grid_at(g, bucket, c);

		if (v == NULL)
			continue;
		out->from += v->from;
		out->to += v->to;
		if (v->last_cohort > out->last_cohort)
			out->last_cohort = v->last_cohort;
	}
}

int se_report_source_step(const se_report *rep, int funnel, int pair, int64_t bucket, uint32_t source,
                          se_pair_cell *out)
{
	memset(out, 0, sizeof *out);
	if (bad_funnel(rep, funnel) || pair < 0 || pair >= rep->rules->funnels[funnel].n_pairs ||
	    (source != SE_ALL && source >= rep->n_source))
		return SE_ERR;
	sum_pair_cells(&rep->agg[funnel].in.source_pairs[pair], bucket, rep->n_source, source, out);
	return SE_OK;
}

/* ---- one bucket of the foundation reports (compare) ------------------------------ */

int64_t se_report_leads(const se_report *rep, int funnel, int64_t bucket, enum se_dim dim, uint32_t id)
{
	const se_grid *g;
	uint32_t width;
	int64_t n = 0;

	if (bad_funnel(rep, funnel))
		return 0;
	g = dim == SE_DIM_SOURCE ? &rep->agg[funnel].leads_by_source : &rep->agg[funnel].leads_by_manager;
	width = dim == SE_DIM_SOURCE ? rep->n_source : rep->n_manager;
	if (id != SE_ALL) {
		const int64_t *v = id < width ? se_grid_at(g, bucket, id) : NULL;

		return v != NULL ? *v : 0;
	}
	for (uint32_t c = 0; c < width; c++) {
		const int64_t *v = se_grid_at(g, bucket, c);

		if (v != NULL)
			n += *v;
	}
	return n;
}

int se_report_pair(const se_report *rep, int funnel, int pair, int64_t bucket, uint32_t manager, se_pair_cell *out)
{
	memset(out, 0, sizeof *out);
	if (bad_funnel(rep, funnel) || pair < 0 || pair >= rep->rules->funnels[funnel].n_pairs ||
	    (manager != SE_ALL && manager >= rep->n_manager))
		return SE_ERR;
	sum_pair_cells(&rep->agg[funnel].pairs[pair], bucket, rep->n_manager, manager, out);
	return SE_OK;
}

int se_report_won(const se_report *rep, int funnel, int64_t bucket, int64_t *won, se_money *revenue)
{
	*won = *revenue = 0;
	if (bad_funnel(rep, funnel))
		return SE_ERR;
	for (uint32_t s = 0; s < rep->n_source; s++) {
		const se_source_cell *c = se_grid_at(&rep->agg[funnel].sources, bucket, s);

		if (c != NULL) {
			*won += c->won;
			*revenue += c->revenue;
		}
	}
	return SE_OK;
}
