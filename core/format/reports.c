/*
 * format/reports.c: the one table of reports.  Each row says what a report
 * is called (CSV "report" column, JSON key), which --report option asks for
 * it and its bit, its columns, its builder, its table title and its JSON
 * hooks; the writers, the --report parser and the docs' list all read it.
 * Rows are in the documented order, which is the order of the output.
 *
 * Never: builds or writes a block itself (build_*.c and write_*.c do).
 */
#include "block.h"
#include "jsonout.h"

#include <stdlib.h>
#include <string.h>

#define NCOLS(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* ---- columns: cells are filled by position, in this order --------------------- */

#define SE_IN_ALL (SE_IN_CSV | SE_IN_TABLE)

static const se_col leads_cols[] = {
	{ "funnel", NULL, SE_T_STR, SE_IN_CSV },
	{ "period", "period", SE_T_STR, SE_IN_ALL },
	{ "dimension", "dimension", SE_T_STR, SE_IN_ALL },
	{ "name", "name", SE_T_STR, SE_IN_ALL },
	{ "leads", "leads", SE_T_INT, SE_IN_ALL },
};

static const se_col conversion_cols[] = {
	{ "funnel", NULL, SE_T_STR, SE_IN_CSV },
	{ "pair", NULL, SE_T_STR, SE_IN_CSV },
	{ "mode", NULL, SE_T_STR, SE_IN_CSV },
	{ "period", "period", SE_T_STR, SE_IN_ALL },
	{ "dimension", "dimension", SE_T_STR, SE_IN_ALL },
	{ "name", "name", SE_T_STR, SE_IN_ALL },
	{ "from_stage", NULL, SE_T_STR, SE_IN_CSV },
	{ "to_stage", NULL, SE_T_STR, SE_IN_CSV },
	{ "reached_from", "reached_from", SE_T_INT, SE_IN_ALL },
	{ "reached_to", "reached_to", SE_T_INT, SE_IN_ALL },
	{ "conversion_pct", "rate", SE_T_PCT, SE_IN_ALL },
	{ "window_open", "window_open", SE_T_BOOL, SE_IN_ALL },
};

static const se_col presale_cols[] = {
	{ "funnel", NULL, SE_T_STR, SE_IN_CSV },
	{ "stage", "stage", SE_T_STR, SE_IN_ALL },
	{ "dimension", "dimension", SE_T_STR, SE_IN_ALL },
	{ "name", "name", SE_T_STR, SE_IN_ALL },
	{ "deals", "deals", SE_T_INT, SE_IN_ALL },
	{ "amount", "amount", SE_T_AMOUNT, SE_IN_ALL },
	{ "win_rate_pct", "win_rate", SE_T_PCT, SE_IN_ALL },
	{ "win_rate_basis", "win_rate_basis", SE_T_STR, SE_IN_ALL },
	{ "forecast", "forecast", SE_T_AMOUNT, SE_IN_ALL },
	{ "no_amount", "no_amount", SE_T_INT, SE_IN_ALL },
	{ "win_rate_won", "win_rate_won", SE_T_INT, 0 },
	{ "win_rate_closed", "win_rate_closed", SE_T_INT, 0 },
};

static const se_col sources_cols[] = {
	{ "funnel", NULL, SE_T_STR, SE_IN_CSV },
	{ "period", "period", SE_T_STR, SE_IN_ALL },
	{ "dimension", "dimension", SE_T_STR, SE_IN_ALL },
	{ "name", "name", SE_T_STR, SE_IN_ALL },
	{ "leads", "leads", SE_T_INT, SE_IN_ALL },
	{ "won", "won", SE_T_INT, SE_IN_ALL },
	{ "conversion_pct", "rate", SE_T_PCT, SE_IN_ALL },
	{ "revenue", "revenue", SE_T_AMOUNT, SE_IN_ALL },
};

static const se_col unknown_cols[] = {
	{ "status", "status", SE_T_STR, SE_IN_ALL },
	{ "events", "events", SE_T_INT, SE_IN_ALL },
	{ "deals", "deals", SE_T_INT, SE_IN_ALL },
	{ "example_deal", "example_deal", SE_T_STR, SE_IN_ALL },
};

static const se_col metrics_cols[] = {
	{ "funnel", NULL, SE_T_STR, SE_IN_CSV },
	{ "metric", NULL, SE_T_STR, SE_IN_CSV },
	{ "period", "period", SE_T_STR, SE_IN_ALL },
	{ "dimension", "dimension", SE_T_STR, SE_IN_ALL },
	{ "name", "name", SE_T_STR, SE_IN_ALL },
	{ "value", "value", SE_T_METRIC, SE_IN_ALL },
};

static const se_col handling_cols[] = {
	{ "funnel", NULL, SE_T_STR, SE_IN_CSV },
	{ "period", "period", SE_T_STR, SE_IN_ALL },
	{ "dimension", "dimension", SE_T_STR, SE_IN_ALL },
	{ "name", "name", SE_T_STR, SE_IN_ALL },
	{ "leads", "leads", SE_T_INT, SE_IN_ALL },
	{ "taken", "taken", SE_T_INT, SE_IN_ALL },
	{ "released", "released", SE_T_INT, SE_IN_ALL },
	{ "nontarget", "nontarget", SE_T_INT, SE_IN_ALL },
	{ "unprocessed", "unprocessed", SE_T_INT, SE_IN_ALL },
	{ "waiting", "waiting", SE_T_INT, SE_IN_ALL },
	{ "first_move_median_h", "first_move_median_s", SE_T_HOURS, SE_IN_ALL },
	{ "first_move_p90_h", "first_move_p90_s", SE_T_HOURS, SE_IN_ALL },
};

static const se_col diagnostics_cols[] = {
	{ "funnel", NULL, SE_T_STR, SE_IN_CSV },
	{ "step", "step", SE_T_STR, SE_IN_ALL },
	{ "dimension", "dimension", SE_T_STR, SE_IN_ALL },
	{ "name", "name", SE_T_STR, SE_IN_ALL },
	{ "reached_from", "reached_from", SE_T_INT, SE_IN_ALL },
	{ "reached_to", "reached_to", SE_T_INT, SE_IN_ALL },
	{ "conversion_pct", "rate", SE_T_PCT, SE_IN_ALL },
	{ "ci_low_pct", "ci_low", SE_T_PCT, SE_IN_ALL },
	{ "ci_high_pct", "ci_high", SE_T_PCT, SE_IN_ALL },
	{ "others_pct", "others_rate", SE_T_PCT, SE_IN_ALL },
	{ "gap_low_pct", "gap_low", SE_T_PCT, SE_IN_ALL },
	{ "gap_high_pct", "gap_high", SE_T_PCT, SE_IN_ALL },
	{ "missed", "missed", SE_T_REAL, SE_IN_ALL },
	{ "p_value", "p_value", SE_T_NUM, SE_IN_ALL },
	{ "p_adjusted", "p_adjusted", SE_T_NUM, SE_IN_ALL },
	{ "significant", "significant", SE_T_FLAG, SE_IN_ALL },
	{ "growth_point", "growth_point", SE_T_FLAG, SE_IN_ALL },
};

static const se_col style_cols[] = {
	{ "funnel", NULL, SE_T_STR, SE_IN_CSV },
	{ "dimension", "dimension", SE_T_STR, SE_IN_ALL },
	{ "name", "name", SE_T_STR, SE_IN_ALL },
	{ "leads", "leads", SE_T_INT, SE_IN_ALL },
	{ "won", "won", SE_T_INT, SE_IN_ALL },
	{ "periods", "periods", SE_T_INT, SE_IN_ALL },
	{ "volume", "volume", SE_T_REAL, SE_IN_ALL },
	{ "depth_pct", "depth", SE_T_PCT, SE_IN_ALL },
	{ "style", "style", SE_T_STR, SE_IN_ALL },
};

static const se_col velocity_cols[] = {
	{ "funnel", NULL, SE_T_STR, SE_IN_CSV },
	{ "stage", "stage", SE_T_STR, SE_IN_ALL },
	{ "dimension", "dimension", SE_T_STR, SE_IN_ALL },
	{ "name", "name", SE_T_STR, SE_IN_ALL },
	{ "deals", "deals", SE_T_INT, SE_IN_ALL },
	{ "stay_median_h", "stay_median_s", SE_T_HOURS, SE_IN_ALL },
	{ "stay_p90_h", "stay_p90_s", SE_T_HOURS, SE_IN_ALL },
	{ "total_median_h", "total_median_s", SE_T_HOURS, SE_IN_ALL },
	{ "total_p90_h", "total_p90_s", SE_T_HOURS, SE_IN_ALL },
	{ "open", "open", SE_T_INT, SE_IN_ALL },
	{ "stale", "stale", SE_T_INT, SE_IN_ALL },
};

static const se_col to_won_cols[] = {
	{ "funnel", NULL, SE_T_STR, SE_IN_CSV },
	{ "dimension", "dimension", SE_T_STR, SE_IN_ALL },
	{ "name", "name", SE_T_STR, SE_IN_ALL },
	{ "won", "won", SE_T_INT, SE_IN_ALL },
	{ "median_h", "median_s", SE_T_HOURS, SE_IN_ALL },
	{ "p90_h", "p90_s", SE_T_HOURS, SE_IN_ALL },
};

static const se_col stale_cols[] = {
	{ "funnel", NULL, SE_T_STR, SE_IN_CSV },
	{ "deal", "deal", SE_T_STR, SE_IN_ALL },
	{ "stage", "stage", SE_T_STR, SE_IN_ALL },
	{ "manager", "manager", SE_T_STR, SE_IN_ALL },
	{ "age_h", "age_s", SE_T_HOURS, SE_IN_ALL },
	{ "stage_median_h", "stage_median_s", SE_T_HOURS, SE_IN_ALL },
	{ "ratio", "ratio", SE_T_REAL, SE_IN_ALL },
};

static const se_col forecast_cols[] = {
	{ "funnel", NULL, SE_T_STR, SE_IN_CSV },
	{ "stage", "stage", SE_T_STR, SE_IN_ALL },
	{ "dimension", "dimension", SE_T_STR, SE_IN_ALL },
	{ "name", "name", SE_T_STR, SE_IN_ALL },
	{ "deals", "deals", SE_T_INT, SE_IN_ALL },
	{ "amount", "amount", SE_T_AMOUNT, SE_IN_ALL },
	{ "probability_pct", "probability", SE_T_PCT, SE_IN_ALL },
	{ "forecast_stage", "forecast_stage", SE_T_AMOUNT, SE_IN_ALL },
	{ "won", "won", SE_T_INT, SE_IN_ALL },
	{ "closed", "closed", SE_T_INT, SE_IN_ALL },
	{ "team_rate_pct", "team_rate", SE_T_PCT, SE_IN_ALL },
	{ "shrunk_rate_pct", "shrunk_rate", SE_T_PCT, SE_IN_ALL },
	{ "forecast_shrunk", "forecast_shrunk", SE_T_AMOUNT, SE_IN_ALL },
	{ "forecast_time", "forecast_time", SE_T_AMOUNT, SE_IN_ALL },
};

static const se_col forecast_month_cols[] = {
	{ "funnel", NULL, SE_T_STR, SE_IN_CSV },
	{ "month", "month", SE_T_STR, SE_IN_ALL },
	{ "deals", "deals", SE_T_INT, SE_IN_ALL },
	{ "amount", "amount", SE_T_AMOUNT, SE_IN_ALL },
	{ "forecast_stage", "forecast_stage", SE_T_AMOUNT, SE_IN_ALL },
	{ "forecast_shrunk", "forecast_shrunk", SE_T_AMOUNT, SE_IN_ALL },
	{ "forecast_time", "forecast_time", SE_T_AMOUNT, SE_IN_ALL },
};

static const se_col backtest_cols[] = {
	{ "funnel", NULL, SE_T_STR, SE_IN_CSV },
	{ "cutoff", "cutoff", SE_T_STR, SE_IN_ALL },
	{ "deals", "deals", SE_T_INT, SE_IN_ALL },
	{ "amount", "amount", SE_T_AMOUNT, SE_IN_ALL },
	{ "forecast_stage", "forecast_stage", SE_T_AMOUNT, SE_IN_ALL },
	{ "forecast_shrunk", "forecast_shrunk", SE_T_AMOUNT, SE_IN_ALL },
	{ "forecast_time", "forecast_time", SE_T_AMOUNT, SE_IN_ALL },
	{ "won_deals", "won_deals", SE_T_INT, SE_IN_ALL },
	{ "won_amount", "won_amount", SE_T_AMOUNT, SE_IN_ALL },
	{ "still_open", "still_open", SE_T_AMOUNT, SE_IN_ALL },
	{ "error_stage", "error_stage", SE_T_AMOUNT, SE_IN_ALL },
	{ "error_stage_pct", "error_stage_rate", SE_T_PCT, SE_IN_ALL },
	{ "error_shrunk", "error_shrunk", SE_T_AMOUNT, SE_IN_ALL },
	{ "error_shrunk_pct", "error_shrunk_rate", SE_T_PCT, SE_IN_ALL },
	{ "error_time", "error_time", SE_T_AMOUNT, SE_IN_ALL },
	{ "error_time_pct", "error_time_rate", SE_T_PCT, SE_IN_ALL },
	{ "data_ends", "data_ends", SE_T_STR, SE_IN_ALL },
};

static const se_col source_steps_cols[] = {
	{ "funnel", NULL, SE_T_STR, SE_IN_CSV },
	{ "pair", "pair", SE_T_STR, SE_IN_ALL },
	{ "period", "period", SE_T_STR, SE_IN_ALL },
	{ "dimension", "dimension", SE_T_STR, SE_IN_ALL },
	{ "name", "name", SE_T_STR, SE_IN_ALL },
	{ "reached_from", "reached_from", SE_T_INT, SE_IN_ALL },
	{ "reached_to", "reached_to", SE_T_INT, SE_IN_ALL },
	{ "conversion_pct", "rate", SE_T_PCT, SE_IN_ALL },
};

static const se_col channels_cols[] = {
	{ "funnel", NULL, SE_T_STR, SE_IN_CSV },
	{ "period", "period", SE_T_STR, SE_IN_ALL },
	{ "dimension", "dimension", SE_T_STR, SE_IN_ALL },
	{ "name", "name", SE_T_STR, SE_IN_ALL },
	{ "leads", "leads", SE_T_INT, SE_IN_ALL },
	{ "won", "won", SE_T_INT, SE_IN_ALL },
	{ "conversion_pct", "rate", SE_T_PCT, SE_IN_ALL },
	{ "revenue", "revenue", SE_T_AMOUNT, SE_IN_ALL },
	{ "spend", "spend", SE_T_AMOUNT, SE_IN_ALL },
	{ "cpl", "cpl", SE_T_AMOUNT, SE_IN_ALL },
	{ "cps", "cps", SE_T_AMOUNT, SE_IN_ALL },
	{ "romi_pct", "romi", SE_T_PCT, SE_IN_ALL },
	{ "within_manager_z", "within_manager_z", SE_T_REAL, SE_IN_ALL },
	{ "p_value", "p_value", SE_T_NUM, SE_IN_ALL },
	{ "p_adjusted", "p_adjusted", SE_T_NUM, SE_IN_ALL },
	{ "weak", "weak", SE_T_FLAG, SE_IN_ALL },
	{ "not_testable", "not_testable", SE_T_STR, SE_IN_ALL },
};

static const se_col compare_cols[] = {
	{ "funnel", NULL, SE_T_STR, SE_IN_CSV },
	{ "period", "period", SE_T_STR, SE_IN_ALL },
	{ "previous", "previous", SE_T_STR, SE_IN_ALL },
	{ "dimension", "dimension", SE_T_STR, SE_IN_ALL },
	{ "name", "name", SE_T_STR, SE_IN_ALL },
	{ "metric", "metric", SE_T_STR, SE_IN_ALL },
	{ "value", "value", SE_T_NUM, SE_IN_ALL },
	{ "previous_value", "previous_value", SE_T_NUM, SE_IN_ALL },
	{ "change", "change", SE_T_NUM, SE_IN_ALL },
	{ "change_pct", "change_rate", SE_T_PCT, SE_IN_ALL },
};


/* ---- titles computed from the run's settings --------------------------------- */

static const char *funnel_name(const se_report *rep, const se_block *b)
{
	return rep->rules->funnels[b->funnel].name;
}

static void title_leads(const se_report *rep, const se_block *b, char *buf, size_t size)
{
	snprintf(buf, size, "%s: leads at the first stage (%s)", funnel_name(rep, b), se_mode_name(rep->mode));
}

static void title_conversion(const se_report *rep, const se_block *b, char *buf, size_t size)
{
	const se_funnel *f = &rep->rules->funnels[b->funnel];
	const se_pair *p = &f->pairs[b->pair];
	char window[48] = "";

	if (p->window > 0 && p->window % 86400 == 0)
		snprintf(window, sizeof window, ", within %lld day%s", (long long)(p->window / 86400),
		         p->window == 86400 ? "" : "s");
	else if (p->window > 0)
		snprintf(window, sizeof window, ", within %lld min", (long long)(p->window / 60));
	snprintf(buf, size, "%s: conversion %s -> %s (%s%s)", f->name, f->stages[p->from].name,
	         f->stages[p->to].name, se_mode_name(rep->agg[b->funnel].pair_mode[b->pair]), window);
}

static void title_sources(const se_report *rep, const se_block *b, char *buf, size_t size)
{
	snprintf(buf, size, "%s: sources, lead to won (%s)", funnel_name(rep, b), se_mode_name(rep->mode));
}

static void title_metrics(const se_report *rep, const se_block *b, char *buf, size_t size)
{
	const se_metric_decl *m = &rep->rules->metrics[b->pair];

	if (m->title != NULL && strcmp(m->title, m->name) != 0)
		snprintf(buf, size, "%s: metric %s (%s)", funnel_name(rep, b), m->name, m->title);
	else
		snprintf(buf, size, "%s: metric %s", funnel_name(rep, b), m->name);
}

static void title_handling(const se_report *rep, const se_block *b, char *buf, size_t size)
{
	snprintf(buf, size, "%s: lead handling at the first stage (SLA %lld min)", funnel_name(rep, b),
	         (long long)(rep->sla / 60));
}

static void title_velocity(const se_report *rep, const se_block *b, char *buf, size_t size)
{
	snprintf(buf, size, "%s: time in stage, hours (stale: over %g x the stage median)", funnel_name(rep, b),
	         rep->stale_multiple);
}

static void title_forecast(const se_report *rep, const se_block *b, char *buf, size_t size)
{
	snprintf(buf, size, "%s: forecast: stage probability, shrunk win rate (k = %g), and time-aware within %lld days",
	         funnel_name(rep, b), rep->shrinkage, (long long)(rep->horizon / 86400));
}

static void title_backtest(const se_report *rep, const se_block *b, char *buf, size_t size)
{
	int64_t end;
	int n = snprintf(buf, size, "%s: forecast backtest: as of past month starts, against what was won within "
	                 "%lld days", funnel_name(rep, b), (long long)(rep->horizon / 86400));

	if (se_report_backtest_early(rep, &end) && n > 0 && (size_t)n < size)
		snprintf(buf + n, size - (size_t)n, " (the data ends before as-of: cutoffs are its last months)");
}

static void title_compare(const se_report *rep, const se_block *b, char *buf, size_t size)
{
	snprintf(buf, size, "%s: each %s next to the previous one", funnel_name(rep, b), se_period_name(rep->period));
}

/* ---- JSON hooks ------------------------------------------------------------------ */

static void json_head_conversion(const se_report *rep, const se_block *b, FILE *out)
{
	const se_funnel *fn = &rep->rules->funnels[b->funnel];
	const se_pair *p = &fn->pairs[b->pair];

	fputs("\"from\": ", out);
	se_json_string(out, fn->stages[p->from].name);
	fputs(", \"to\": ", out);
	se_json_string(out, fn->stages[p->to].name);
	fprintf(out, ", \"mode\": \"%s\", \"window_days\": ", se_mode_name(rep->agg[b->funnel].pair_mode[b->pair]));
	if (p->window > 0)
		se_json_number(out, (double)p->window / 86400.0);
	else
		fputs("null", out);
}

static void json_head_metrics(const se_report *rep, const se_block *b, FILE *out)
{
	static const char *const formats[] = { "number", "percent", "money" };
	const se_metric_decl *m = &rep->rules->metrics[b->pair];

	fputs("\"name\": ", out);
	se_json_string(out, m->name);
	fputs(", \"title\": ", out);
	se_json_string(out, m->title ? m->title : m->name);
	fprintf(out, ", \"format\": \"%s\"", formats[m->format]);
}

/* JSON has a "metrics" key only when the script declares metrics. */
static int has_metrics(const se_report *rep)
{
	return rep->rules->n_metrics > 0;
}

/* ---- the table ------------------------------------------------------------------------ */

#define COLS(a) a, NCOLS(a)

const se_report_desc se_report_descs[] = {
	/* name, option, flag, per_funnel, columns, builder,
	 * title, title_fn, empty, json_head, json_present */
	{ "leads", "leads", SE_REPORT_LEADS, 1, COLS(leads_cols), se_build_leads,
	  NULL, title_leads, NULL, NULL, NULL },
	{ "conversion", "conversion", SE_REPORT_CONVERSION, 1, COLS(conversion_cols), se_build_conversion,
	  NULL, title_conversion, NULL, json_head_conversion, NULL },
	{ "presale", "presale", SE_REPORT_PRESALE, 1, COLS(presale_cols), se_build_presale,
	  "pre-sale deals now, with forecast", NULL, NULL, NULL, NULL },
	{ "sources", "sources", SE_REPORT_SOURCES, 1, COLS(sources_cols), se_build_sources,
	  NULL, title_sources, NULL, NULL, NULL },
	{ "unknown", "unknown", SE_REPORT_UNKNOWN, 0, COLS(unknown_cols), se_build_unknown,
	  "statuses no funnel knows", NULL, "(none: every status is known)", NULL, NULL },
	{ "handling", "handling", SE_REPORT_HANDLING, 1, COLS(handling_cols), se_build_handling,
	  NULL, title_handling, NULL, NULL, NULL },
	{ "diagnostics", "diagnostics", SE_REPORT_DIAGNOSTICS, 1, COLS(diagnostics_cols), se_build_diagnostics,
	  "managers against the rest of the team (Wilson 95%; flags at a 5% false discovery rate)", NULL, NULL, NULL, NULL },
	{ "style", "diagnostics", SE_REPORT_DIAGNOSTICS, 1, COLS(style_cols), se_build_style,
	  "style: volume (leads per period) and depth (lead to won)", NULL, NULL, NULL, NULL },
	{ "velocity", "velocity", SE_REPORT_VELOCITY, 1, COLS(velocity_cols), se_build_velocity,
	  NULL, title_velocity, NULL, NULL, NULL },
	{ "time_to_won", "velocity", SE_REPORT_VELOCITY, 1, COLS(to_won_cols), se_build_to_won,
	  "time from the first stage to won, hours", NULL, NULL, NULL, NULL },
	{ "stale", "velocity", SE_REPORT_VELOCITY, 1, COLS(stale_cols), se_build_stale,
	  "stale deals, most overdue first", NULL, NULL, NULL, NULL },
	{ "forecast", "forecast", SE_REPORT_FORECAST, 1, COLS(forecast_cols), se_build_forecast,
	  NULL, title_forecast, NULL, NULL, NULL },
	{ "forecast_month", "forecast", SE_REPORT_FORECAST, 1, COLS(forecast_month_cols), se_build_forecast_month,
	  "forecast by expected close month", NULL, NULL, NULL, NULL },
	{ "backtest", "backtest", SE_REPORT_BACKTEST, 1, COLS(backtest_cols), se_build_backtest,
	  NULL, title_backtest, NULL, NULL, NULL },
	{ "source_steps", "channels", SE_REPORT_CHANNELS, 1, COLS(source_steps_cols), se_build_source_steps,
	  "conversion of every step by source", NULL, NULL, NULL, NULL },
	{ "channels", "channels", SE_REPORT_CHANNELS, 1, COLS(channels_cols), se_build_channels,
	  "sources: money and within-manager quality (weak at a 5% false discovery rate)", NULL, NULL, NULL, NULL },
	{ "compare", "compare", SE_REPORT_COMPARE, 1, COLS(compare_cols), se_build_compare,
	  NULL, title_compare, NULL, NULL, NULL },
	{ "metrics", "metrics", SE_REPORT_METRICS, 1, COLS(metrics_cols), se_build_metrics,
	  NULL, title_metrics, NULL, json_head_metrics, has_metrics },
};

const size_t se_n_report_descs = sizeof se_report_descs / sizeof se_report_descs[0];

/* ---- --report names ---------------------------------------------------------------- */

/* The i-th distinct --report option, in table order. */
const char *se_report_option(size_t i)
{
	for (size_t k = 0; k < se_n_report_descs; k++) {
		int seen = 0;

		for (size_t j = 0; j < k && !seen; j++)
			seen = strcmp(se_report_descs[j].option, se_report_descs[k].option) == 0;
		if (!seen && i-- == 0)
			return se_report_descs[k].option;
	}
	return NULL;
}

int se_report_flag(const char *name, unsigned *bit)
{
	if (strcmp(name, "all") == 0) {
		*bit = SE_REPORT_ALL;
		return SE_OK;
	}
	for (size_t k = 0; k < se_n_report_descs; k++)
		if (strcmp(name, se_report_descs[k].option) == 0) {
			*bit = se_report_descs[k].flag;
			return SE_OK;
		}
	return SE_EUSAGE;
}

const se_report_desc *se_report_desc_named(const char *name)
{
	for (size_t k = 0; k < se_n_report_descs; k++)
		if (strcmp(se_report_descs[k].name, name) == 0)
			return &se_report_descs[k];
	return NULL;
}
