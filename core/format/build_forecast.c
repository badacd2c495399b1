/*
 * format/build_forecast.c: blocks of the forecast reports: by stage and manager,
 * by expected close month, and the backtest against what was won.
 *
 * Never: computes a metric; every number comes from report.h's accessors.
 */
#include "block.h"
#include "timeconv.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void forecast_row(se_block *b, const char *funnel, const char *stage, const char *dim,
                         const char *name, const se_forecast *fc, int rates)
{
	se_cell *r = se_label_row(b, funnel, stage, 0, dim, name);

	if (r == NULL)
		return;
	r[4].i = fc->deals;
	r[5].i = fc->amount;
	if (fc->probability >= 0)
		se_set_ratio(&r[6], fc->probability, 1);
	else
		se_set_ratio(&r[6], 0, 0);
	r[7].i = fc->forecast_stage;
	r[8].i = fc->rate.won;
	r[9].i = fc->rate.closed;
	if (rates) {
		se_set_ratio(&r[10], fc->rate.team_rate, fc->rate.team_closed > 0);
		se_set_ratio(&r[11], fc->rate.shrunk, 1);
	} else { /* sums over parts: the rate they add up to */
		se_set_ratio(&r[10], 0, 0);
		se_set_count_ratio(&r[11], fc->forecast_shrunk, fc->amount);
	}
	r[12].i = fc->forecast_shrunk;
}

void se_build_forecast(const se_report *rep, const se_report_desc *desc, se_blocks *bs, int f)
{
	const se_funnel *fn = &rep->rules->funnels[f];
	se_block *b = se_block_new(bs, desc, f, 0);
	se_forecast fc;

	if (b == NULL)
		return;
	for (int s = 0; s < fn->won; s++) {
		if (!fn->stages[s].presale)
			continue;
		se_report_forecast(rep, f, s, SE_ALL, &fc);
		if (fc.deals == 0)
			continue;
		forecast_row(b, fn->name, fn->stages[s].name, "team", "*", &fc, 0);
		for (uint32_t i = 0; i < rep->n_manager; i++) {
			uint32_t m = rep->manager_order[i];

			se_report_forecast(rep, f, s, m, &fc);
			if (fc.deals > 0)
				forecast_row(b, fn->name, fn->stages[s].name, "manager", se_manager_name(rep, m), &fc, 1);
		}
	}
	se_report_forecast(rep, f, -1, SE_ALL, &fc);
	if (fc.deals > 0)
		forecast_row(b, fn->name, "*", "team", "*", &fc, 0);
}

void se_build_forecast_month(const se_report *rep, const se_report_desc *desc, se_blocks *bs, int f)
{
	const char *fname = rep->rules->funnels[f].name;
	se_block *b = se_block_new(bs, desc, f, 0);
	se_forecast_month fm;

	if (b == NULL)
		return;
	for (size_t i = 0; se_report_forecast_months(rep, f, i, &fm) == SE_OK; i++) {
		se_cell *r;
		char label[32];

		if (fm.deals == 0)
			continue;
		if ((r = se_block_row(b)) == NULL)
			return;
		if (fm.month < 0)
			snprintf(label, sizeof label, "unknown");
		else
			snprintf(label, sizeof label, "%04lld-%02d", (long long)(fm.month / 12), (int)(fm.month % 12) + 1);
		se_set_str(&r[0], fname);
		se_set_copy(&r[1], label);
		r[2].i = fm.deals;
		r[3].i = fm.amount;
		r[4].i = fm.forecast_stage;
		r[5].i = fm.forecast_shrunk;
	}
}

static void backtest_row(se_block *b, const char *funnel, const char *label, const se_backtest *t,
                         se_money err_stage, se_money err_shrunk)
{
	se_cell *r = se_block_row(b);

	if (r == NULL)
		return;
	se_set_str(&r[0], funnel);
	se_set_copy(&r[1], label);
	r[2].i = t->deals;
	r[3].i = t->amount;
	r[4].i = t->forecast_stage;
	r[5].i = t->forecast_shrunk;
	r[6].i = t->won_deals;
	r[7].i = t->won_amount;
	r[8].i = t->still_open;
	r[9].i = err_stage;
	se_set_count_ratio(&r[10], err_stage, t->won_amount);
	r[11].i = err_shrunk;
	se_set_count_ratio(&r[12], err_shrunk, t->won_amount);
}

/* "2025-02-01": the local date of an instant in the report zone. */
static void local_date(const se_report *rep, int64_t t, char *buf, size_t size)
{
	int64_t local = se_tz_utc_to_local(rep->tz, t), days = local / 86400, y;
	int m, d;

	if (local % 86400 < 0)
		days--;
	se_civil_from_days(days, &y, &m, &d);
	snprintf(buf, size, "%04lld-%02d-%02d", (long long)y, m, d);
}

/* One row per cutoff (signed errors), then "all": sums, with the errors
 * as sums of absolute errors (so their rate is the WAPE). */
void se_build_backtest(const se_report *rep, const se_report_desc *desc, se_blocks *bs, int f)
{
	const char *fname = rep->rules->funnels[f].name;
	se_block *b = se_block_new(bs, desc, f, 0);
	se_backtest t, all;
	se_money abs_stage = 0, abs_shrunk = 0;

	if (b == NULL)
		return;
	memset(&all, 0, sizeof all);
	for (int c = 0; se_report_backtest(rep, f, c, &t) == SE_OK; c++) {
		char label[32];
		se_money es = t.forecast_stage - t.won_amount, eh = t.forecast_shrunk - t.won_amount;

		if (t.deals == 0)
			continue;
		local_date(rep, t.cutoff, label, sizeof label);
		backtest_row(b, fname, label, &t, es, eh);
		all.deals += t.deals;
		all.amount += t.amount;
		all.forecast_stage += t.forecast_stage;
		all.forecast_shrunk += t.forecast_shrunk;
		all.won_deals += t.won_deals;
		all.won_amount += t.won_amount;
		all.still_open += t.still_open;
		abs_stage += es < 0 ? -es : es;
		abs_shrunk += eh < 0 ? -eh : eh;
	}
	if (all.deals > 0)
		backtest_row(b, fname, "all", &all, abs_stage, abs_shrunk);
}
