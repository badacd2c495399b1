/*
 * output.c: report numbers -> table, CSV or JSON.
 *
 * The aggregated grids are first flattened into blocks of typed rows (one
 * block per report, funnel and pair), in the documented order; the three
 * writers only format blocks.  So the formats cannot disagree on a number,
 * and a new report is one block builder, not three printers.
 *
 * Never: computes a metric beyond dividing the numerator and denominator
 * the report already holds.
 */
#include "report.h"
#include "timeconv.h"
#include "utf8.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum ctype {
	T_STR, T_INT, T_AMOUNT, T_PCT, T_BOOL,
	T_HOURS,  /* i: seconds; hours with one decimal (JSON: whole seconds) */
	T_REAL,   /* d: two decimals */
	T_FLAG,   /* i: 0/1; "yes" in the table */
	T_NUM,    /* a number already formatted in buf (JSON: unquoted); null: none */
	T_METRIC  /* a metric{} value in d, its enum se_metric_format in i */
};

enum { IN_CSV = 1, IN_TABLE = 2 };

typedef struct col {
	const char *csv;     /* CSV and table header */
	const char *json;    /* JSON key, NULL: not in JSON rows */
	enum ctype type;
	int where;           /* IN_CSV | IN_TABLE */
} col;

typedef struct cell {
	const char *s;       /* T_STR: points to names; NULL when the text is in buf */
	char buf[40];        /* short text owned by the cell (rows move when the block grows) */
	int64_t i;           /* T_INT, T_BOOL; T_AMOUNT: kopecks */
	double d;            /* T_PCT: ratio 0..1 */
	int64_t num, den;    /* T_PCT from counts (den > 0): printed exactly */
	int null;            /* T_PCT with a zero denominator; any type: no value */
} cell;

enum kind {
	K_LEADS, K_CONVERSION, K_PRESALE, K_SOURCES, K_UNKNOWN,
	K_HANDLING, K_DIAGNOSTICS, K_STYLE, K_VELOCITY, K_TO_WON, K_STALE,
	K_FORECAST, K_FORECAST_MONTH, K_BACKTEST, K_SOURCE_STEPS, K_CHANNELS, K_COMPARE,
	K_METRICS, K_COUNT
};

static const char *const kind_names[K_COUNT] = {
	"leads", "conversion", "presale", "sources", "unknown",
	"handling", "diagnostics", "style", "velocity", "time_to_won", "stale",
	"forecast", "forecast_month", "backtest", "source_steps", "channels", "compare", "metrics"
};

/* The --report bit that asks for each block kind. */
static const unsigned kind_report[K_COUNT] = {
	SE_REPORT_LEADS, SE_REPORT_CONVERSION, SE_REPORT_PRESALE, SE_REPORT_SOURCES, SE_REPORT_UNKNOWN,
	SE_REPORT_HANDLING, SE_REPORT_DIAGNOSTICS, SE_REPORT_DIAGNOSTICS, SE_REPORT_VELOCITY,
	SE_REPORT_VELOCITY, SE_REPORT_VELOCITY, SE_REPORT_FORECAST, SE_REPORT_FORECAST,
	SE_REPORT_BACKTEST, SE_REPORT_CHANNELS, SE_REPORT_CHANNELS, SE_REPORT_COMPARE,
	SE_REPORT_METRICS
};

typedef struct block {
	enum kind kind;
	int funnel;          /* SE_NONE for unknown */
	int pair;            /* conversion: index into the funnel's pairs; metrics: the metric */
	const col *cols;
	int ncols;
	char *label;         /* conversion: "from -> to" the rows point to (heap: blocks move) */
	char **labels;       /* per pair of the funnel, for blocks with rows of several pairs */
	int n_labels;
	cell *cells;         /* rows * ncols */
	size_t rows, cap;
	int failed;          /* out of memory while adding rows */
} block;

typedef struct blocks {
	block *v;
	size_t n, cap;
} blocks;

/* ---- columns -------------------------------------------------------------- */

#define ALL (IN_CSV | IN_TABLE)

static const col leads_cols[] = {
	{ "funnel", NULL, T_STR, IN_CSV },
	{ "period", "period", T_STR, ALL },
	{ "dimension", "dimension", T_STR, ALL },
	{ "name", "name", T_STR, ALL },
	{ "leads", "leads", T_INT, ALL },
};

static const col conversion_cols[] = {
	{ "funnel", NULL, T_STR, IN_CSV },
	{ "pair", NULL, T_STR, IN_CSV },
	{ "mode", NULL, T_STR, IN_CSV },
	{ "period", "period", T_STR, ALL },
	{ "dimension", "dimension", T_STR, ALL },
	{ "name", "name", T_STR, ALL },
	{ "from_stage", NULL, T_STR, IN_CSV },
	{ "to_stage", NULL, T_STR, IN_CSV },
	{ "reached_from", "reached_from", T_INT, ALL },
	{ "reached_to", "reached_to", T_INT, ALL },
	{ "conversion_pct", "rate", T_PCT, ALL },
	{ "window_open", "window_open", T_BOOL, ALL },
};

static const col presale_cols[] = {
	{ "funnel", NULL, T_STR, IN_CSV },
	{ "stage", "stage", T_STR, ALL },
	{ "dimension", "dimension", T_STR, ALL },
	{ "name", "name", T_STR, ALL },
	{ "deals", "deals", T_INT, ALL },
	{ "amount", "amount", T_AMOUNT, ALL },
	{ "win_rate_pct", "win_rate", T_PCT, ALL },
	{ "win_rate_basis", "win_rate_basis", T_STR, ALL },
	{ "forecast", "forecast", T_AMOUNT, ALL },
	{ "no_amount", "no_amount", T_INT, ALL },
	{ "win_rate_won", "win_rate_won", T_INT, 0 },
	{ "win_rate_closed", "win_rate_closed", T_INT, 0 },
};

static const col sources_cols[] = {
	{ "funnel", NULL, T_STR, IN_CSV },
	{ "period", "period", T_STR, ALL },
	{ "dimension", "dimension", T_STR, ALL },
	{ "name", "name", T_STR, ALL },
	{ "leads", "leads", T_INT, ALL },
	{ "won", "won", T_INT, ALL },
	{ "conversion_pct", "rate", T_PCT, ALL },
	{ "revenue", "revenue", T_AMOUNT, ALL },
};

static const col unknown_cols[] = {
	{ "status", "status", T_STR, ALL },
	{ "events", "events", T_INT, ALL },
	{ "deals", "deals", T_INT, ALL },
	{ "example_deal", "example_deal", T_STR, ALL },
};

static const col metrics_cols[] = {
	{ "funnel", NULL, T_STR, IN_CSV },
	{ "metric", NULL, T_STR, IN_CSV },
	{ "period", "period", T_STR, ALL },
	{ "dimension", "dimension", T_STR, ALL },
	{ "name", "name", T_STR, ALL },
	{ "value", "value", T_METRIC, ALL },
};

static const col handling_cols[] = {
	{ "funnel", NULL, T_STR, IN_CSV },
	{ "period", "period", T_STR, ALL },
	{ "dimension", "dimension", T_STR, ALL },
	{ "name", "name", T_STR, ALL },
	{ "leads", "leads", T_INT, ALL },
	{ "taken", "taken", T_INT, ALL },
	{ "released", "released", T_INT, ALL },
	{ "nontarget", "nontarget", T_INT, ALL },
	{ "unprocessed", "unprocessed", T_INT, ALL },
	{ "waiting", "waiting", T_INT, ALL },
	{ "first_move_median_h", "first_move_median_s", T_HOURS, ALL },
	{ "first_move_p90_h", "first_move_p90_s", T_HOURS, ALL },
};

static const col diagnostics_cols[] = {
	{ "funnel", NULL, T_STR, IN_CSV },
	{ "step", "step", T_STR, ALL },
	{ "dimension", "dimension", T_STR, ALL },
	{ "name", "name", T_STR, ALL },
	{ "reached_from", "reached_from", T_INT, ALL },
	{ "reached_to", "reached_to", T_INT, ALL },
	{ "conversion_pct", "rate", T_PCT, ALL },
	{ "ci_low_pct", "ci_low", T_PCT, ALL },
	{ "ci_high_pct", "ci_high", T_PCT, ALL },
	{ "others_pct", "others_rate", T_PCT, ALL },
	{ "gap_low_pct", "gap_low", T_PCT, ALL },
	{ "gap_high_pct", "gap_high", T_PCT, ALL },
	{ "missed", "missed", T_REAL, ALL },
	{ "significant", "significant", T_FLAG, ALL },
	{ "growth_point", "growth_point", T_FLAG, ALL },
};

static const col style_cols[] = {
	{ "funnel", NULL, T_STR, IN_CSV },
	{ "dimension", "dimension", T_STR, ALL },
	{ "name", "name", T_STR, ALL },
	{ "leads", "leads", T_INT, ALL },
	{ "won", "won", T_INT, ALL },
	{ "periods", "periods", T_INT, ALL },
	{ "volume", "volume", T_REAL, ALL },
	{ "depth_pct", "depth", T_PCT, ALL },
	{ "style", "style", T_STR, ALL },
};

static const col velocity_cols[] = {
	{ "funnel", NULL, T_STR, IN_CSV },
	{ "stage", "stage", T_STR, ALL },
	{ "dimension", "dimension", T_STR, ALL },
	{ "name", "name", T_STR, ALL },
	{ "deals", "deals", T_INT, ALL },
	{ "stay_median_h", "stay_median_s", T_HOURS, ALL },
	{ "stay_p90_h", "stay_p90_s", T_HOURS, ALL },
	{ "total_median_h", "total_median_s", T_HOURS, ALL },
	{ "total_p90_h", "total_p90_s", T_HOURS, ALL },
	{ "open", "open", T_INT, ALL },
	{ "stale", "stale", T_INT, ALL },
};

static const col to_won_cols[] = {
	{ "funnel", NULL, T_STR, IN_CSV },
	{ "dimension", "dimension", T_STR, ALL },
	{ "name", "name", T_STR, ALL },
	{ "won", "won", T_INT, ALL },
	{ "median_h", "median_s", T_HOURS, ALL },
	{ "p90_h", "p90_s", T_HOURS, ALL },
};

static const col stale_cols[] = {
	{ "funnel", NULL, T_STR, IN_CSV },
	{ "deal", "deal", T_STR, ALL },
	{ "stage", "stage", T_STR, ALL },
	{ "manager", "manager", T_STR, ALL },
	{ "age_h", "age_s", T_HOURS, ALL },
	{ "stage_median_h", "stage_median_s", T_HOURS, ALL },
	{ "ratio", "ratio", T_REAL, ALL },
};

static const col forecast_cols[] = {
	{ "funnel", NULL, T_STR, IN_CSV },
	{ "stage", "stage", T_STR, ALL },
	{ "dimension", "dimension", T_STR, ALL },
	{ "name", "name", T_STR, ALL },
	{ "deals", "deals", T_INT, ALL },
	{ "amount", "amount", T_AMOUNT, ALL },
	{ "probability_pct", "probability", T_PCT, ALL },
	{ "forecast_stage", "forecast_stage", T_AMOUNT, ALL },
	{ "won", "won", T_INT, ALL },
	{ "closed", "closed", T_INT, ALL },
	{ "team_rate_pct", "team_rate", T_PCT, ALL },
	{ "shrunk_rate_pct", "shrunk_rate", T_PCT, ALL },
	{ "forecast_shrunk", "forecast_shrunk", T_AMOUNT, ALL },
	{ "forecast_time", "forecast_time", T_AMOUNT, ALL },
};

static const col forecast_month_cols[] = {
	{ "funnel", NULL, T_STR, IN_CSV },
	{ "month", "month", T_STR, ALL },
	{ "deals", "deals", T_INT, ALL },
	{ "amount", "amount", T_AMOUNT, ALL },
	{ "forecast_stage", "forecast_stage", T_AMOUNT, ALL },
	{ "forecast_shrunk", "forecast_shrunk", T_AMOUNT, ALL },
	{ "forecast_time", "forecast_time", T_AMOUNT, ALL },
};

static const col backtest_cols[] = {
	{ "funnel", NULL, T_STR, IN_CSV },
	{ "cutoff", "cutoff", T_STR, ALL },
	{ "deals", "deals", T_INT, ALL },
	{ "amount", "amount", T_AMOUNT, ALL },
	{ "forecast_stage", "forecast_stage", T_AMOUNT, ALL },
	{ "forecast_shrunk", "forecast_shrunk", T_AMOUNT, ALL },
	{ "forecast_time", "forecast_time", T_AMOUNT, ALL },
	{ "won_deals", "won_deals", T_INT, ALL },
	{ "won_amount", "won_amount", T_AMOUNT, ALL },
	{ "still_open", "still_open", T_AMOUNT, ALL },
	{ "error_stage", "error_stage", T_AMOUNT, ALL },
	{ "error_stage_pct", "error_stage_rate", T_PCT, ALL },
	{ "error_shrunk", "error_shrunk", T_AMOUNT, ALL },
	{ "error_shrunk_pct", "error_shrunk_rate", T_PCT, ALL },
	{ "error_time", "error_time", T_AMOUNT, ALL },
	{ "error_time_pct", "error_time_rate", T_PCT, ALL },
};

static const col source_steps_cols[] = {
	{ "funnel", NULL, T_STR, IN_CSV },
	{ "pair", "pair", T_STR, ALL },
	{ "period", "period", T_STR, ALL },
	{ "dimension", "dimension", T_STR, ALL },
	{ "name", "name", T_STR, ALL },
	{ "reached_from", "reached_from", T_INT, ALL },
	{ "reached_to", "reached_to", T_INT, ALL },
	{ "conversion_pct", "rate", T_PCT, ALL },
};

static const col channels_cols[] = {
	{ "funnel", NULL, T_STR, IN_CSV },
	{ "period", "period", T_STR, ALL },
	{ "dimension", "dimension", T_STR, ALL },
	{ "name", "name", T_STR, ALL },
	{ "leads", "leads", T_INT, ALL },
	{ "won", "won", T_INT, ALL },
	{ "conversion_pct", "rate", T_PCT, ALL },
	{ "revenue", "revenue", T_AMOUNT, ALL },
	{ "spend", "spend", T_AMOUNT, ALL },
	{ "cpl", "cpl", T_AMOUNT, ALL },
	{ "cps", "cps", T_AMOUNT, ALL },
	{ "romi_pct", "romi", T_PCT, ALL },
	{ "within_manager_z", "within_manager_z", T_REAL, ALL },
	{ "weak", "weak", T_FLAG, ALL },
};

static const col compare_cols[] = {
	{ "funnel", NULL, T_STR, IN_CSV },
	{ "period", "period", T_STR, ALL },
	{ "previous", "previous", T_STR, ALL },
	{ "dimension", "dimension", T_STR, ALL },
	{ "name", "name", T_STR, ALL },
	{ "metric", "metric", T_STR, ALL },
	{ "value", "value", T_NUM, ALL },
	{ "previous_value", "previous_value", T_NUM, ALL },
	{ "change", "change", T_NUM, ALL },
	{ "change_pct", "change_rate", T_PCT, ALL },
};

#define NCOLS(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* ---- building blocks -------------------------------------------------------- */

static block *new_block(blocks *bs, enum kind kind, int funnel, int pair, const col *cols, int ncols)
{
	block *b;

	if (bs->n == bs->cap) {
		size_t ncap = bs->cap ? bs->cap * 2 : 16;
		block *nv = realloc(bs->v, ncap * sizeof *nv);

		if (nv == NULL)
			return NULL;
		bs->v = nv;
		bs->cap = ncap;
	}
	b = &bs->v[bs->n++];
	memset(b, 0, sizeof *b);
	b->kind = kind;
	b->funnel = funnel;
	b->pair = pair;
	b->cols = cols;
	b->ncols = ncols;
	return b;
}

/* Appends an empty row; the caller fills its cells in column order. */
static cell *new_row(block *b)
{
	cell *row;

	if (b->failed)
		return NULL;
	if (b->rows == b->cap) {
		size_t ncap = b->cap ? b->cap * 2 : 32;
		cell *nc = realloc(b->cells, ncap * (size_t)b->ncols * sizeof *nc);

		if (nc == NULL) {
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

static void set_str(cell *c, const char *s)
{
	c->s = s;
}

static void set_copy(cell *c, const char *s)
{
	snprintf(c->buf, sizeof c->buf, "%s", s);
	c->s = NULL;
}

static const char *cell_str(const cell *c)
{
	return c->s ? c->s : c->buf;
}

static void set_ratio(cell *c, double num, double den)
{
	c->null = den == 0;
	c->d = den == 0 ? 0 : num / den;
	c->num = c->den = 0;
}

static void set_count_ratio(cell *c, int64_t num, int64_t den)
{
	set_ratio(c, (double)num, (double)den);
	c->num = num;
	c->den = den;
}

/* Tenths of a percent, halves rounded up: exactly from counts (so 1/16 is
 * 6.3, never 6.2 by a binary accident), else from the ratio. */
static int64_t pct_tenths(const cell *c)
{
	if (c->den > 0 && c->num >= 0)
		return (2000 * c->num + c->den) / (2 * c->den);
	return llround(c->d * 1000.0);
}

static const char *manager_name(const se_report *rep, uint32_t id)
{
	return id < rep->n_manager && rep->managers[id] ? rep->managers[id] : "(none)";
}

static const char *source_name(const se_report *rep, uint32_t id)
{
	return id < rep->n_source && rep->sources[id] ? rep->sources[id] : "(none)";
}

static void grid_span(const se_grid *a, const se_grid *b, int64_t *lo, int64_t *hi)
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

static int64_t count_at(const se_grid *g, int64_t key, uint32_t column)
{
	const int64_t *n = se_grid_at(g, key, column);

	return n ? *n : 0;
}

static void leads_row(block *b, const char *funnel, const char *period, const char *dim,
                      const char *name, int64_t n)
{
	cell *r = new_row(b);

	if (r == NULL)
		return;
	set_str(&r[0], funnel);
	set_copy(&r[1], period);
	set_str(&r[2], dim);
	set_str(&r[3], name);
	r[4].i = n;
}

static void build_leads(const se_report *rep, blocks *bs, int f)
{
	const se_funnel_agg *a = &rep->agg[f];
	const char *fname = rep->rules->funnels[f].name;
	block *b = new_block(bs, K_LEADS, f, 0, leads_cols, NCOLS(leads_cols));
	int64_t lo, hi;

	if (b == NULL)
		return;
	grid_span(&a->leads_by_manager, &a->leads_by_source, &lo, &hi);
	for (int64_t k = lo; k < hi; k++) {
		char period[40];
		int64_t team = 0;

		for (uint32_t m = 0; m < rep->n_manager; m++)
			team += count_at(&a->leads_by_manager, k, m);
		if (team == 0)
			continue;
		se_report_bucket_label(rep, k, period, sizeof period);
		leads_row(b, fname, period, "team", "*", team);
		for (uint32_t i = 0; i < rep->n_manager; i++) {
			uint32_t m = rep->manager_order[i];
			int64_t n = count_at(&a->leads_by_manager, k, m);

			if (n > 0)
				leads_row(b, fname, period, "manager", manager_name(rep, m), n);
		}
		for (uint32_t i = 0; i < rep->n_source; i++) {
			uint32_t s = rep->source_order[i];
			int64_t n = count_at(&a->leads_by_source, k, s);

			if (n > 0)
				leads_row(b, fname, period, "source", source_name(rep, s), n);
		}
	}
}

typedef struct pair_labels {
	const char *funnel, *mode, *from, *to, *pair;
	int64_t window;
} pair_labels;

static void conversion_row(const se_report *rep, block *b, const pair_labels *pl, const char *period,
                           const char *dim, const char *name, const se_pair_cell *c)
{
	cell *r = new_row(b);

	if (r == NULL)
		return;
	set_str(&r[0], pl->funnel);
	set_str(&r[1], pl->pair);
	set_str(&r[2], pl->mode);
	set_copy(&r[3], period);
	set_str(&r[4], dim);
	set_str(&r[5], name);
	set_str(&r[6], pl->from);
	set_str(&r[7], pl->to);
	r[8].i = c->from;
	r[9].i = c->to;
	set_count_ratio(&r[10], c->to, c->from);
	r[11].i = pl->window > 0 && c->last_cohort + pl->window > rep->as_of;
}

/* "A -> B", and " within 30d" when the pair has a window, so two pairs of
 * the same stages stay apart in CSV. */
static int pair_label(const se_funnel *fn, const se_pair *p, char **out)
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

static void build_conversion(const se_report *rep, blocks *bs, int f, int p)
{
	const se_funnel *fn = &rep->rules->funnels[f];
	const se_grid *g = &rep->agg[f].pairs[p];
	block *b = new_block(bs, K_CONVERSION, f, p, conversion_cols, NCOLS(conversion_cols));
	pair_labels pl;

	if (b == NULL)
		return;
	pl.funnel = fn->name;
	pl.mode = se_mode_name(rep->agg[f].pair_mode[p]);
	pl.from = fn->stages[fn->pairs[p].from].name;
	pl.to = fn->stages[fn->pairs[p].to].name;
	pl.window = fn->pairs[p].window;
	if (pair_label(fn, &fn->pairs[p], &b->label) != SE_OK) {
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
				conversion_row(rep, b, &pl, period, "manager", manager_name(rep, m), c);
		}
	}
}

/* Win rate of a manager from stage s, falling back to the team's rate. */
typedef struct win_rate {
	double rate;
	int64_t won, closed;
	const char *basis;
} win_rate;

static win_rate manager_win_rate(const se_report *rep, const se_funnel_agg *a, int s, uint32_t m)
{
	const se_rate_cell *row = &a->rates[(size_t)s * rep->n_manager];
	win_rate w = { 0, row[m].won, row[m].closed, "manager" };

	if (w.closed > 0) {
		w.rate = (double)w.won / (double)w.closed;
		return w;
	}
	w.won = w.closed = 0;
	for (uint32_t i = 0; i < rep->n_manager; i++) {
		w.won += row[i].won;
		w.closed += row[i].closed;
	}
	w.basis = w.closed > 0 ? "team" : "none";
	w.rate = w.closed > 0 ? (double)w.won / (double)w.closed : 0;
	return w;
}

typedef struct presale_sum {
	int64_t deals, no_amount, won, closed;
	int64_t amount, forecast;  /* kopecks */
	const char *basis;         /* shared by every part, or "mixed" */
} presale_sum;

static void presale_row(block *b, const char *funnel, const char *stage, const char *dim,
                        const char *name, const presale_sum *p, const win_rate *w)
{
	cell *r = new_row(b);

	if (r == NULL)
		return;
	set_str(&r[0], funnel);
	set_str(&r[1], stage);
	set_str(&r[2], dim);
	set_str(&r[3], name);
	r[4].i = p->deals;
	r[5].i = p->amount;
	if (w != NULL && w->closed > 0)
		set_count_ratio(&r[6], w->won, w->closed);
	else if (w != NULL)
		set_ratio(&r[6], 0, 1);
	else
		set_count_ratio(&r[6], p->forecast, p->amount);
	set_str(&r[7], w != NULL ? w->basis : p->basis ? p->basis : "mixed");
	r[8].i = p->forecast;
	r[9].i = p->no_amount;
	r[10].i = w != NULL ? w->won : p->won;
	r[11].i = w != NULL ? w->closed : p->closed;
}

/* The forecast of one manager at one stage, rounded to the kopeck once;
 * every total above it adds these rounded parts, so the column adds up. */
static int64_t part_forecast(const se_presale_cell *c, const win_rate *w)
{
	if (w->closed == 0)
		return 0;
	return se_div_round((int64_t)((__int128)c->amount * w->won), w->closed);
}

static void merge_basis(presale_sum *sum, const char *basis)
{
	if (sum->basis == NULL)
		sum->basis = basis;
	else if (strcmp(sum->basis, basis) != 0)
		sum->basis = "mixed";
}

static void add_presale(presale_sum *sum, const se_presale_cell *c, const win_rate *w)
{
	sum->deals += c->deals;
	sum->no_amount += c->no_amount;
	sum->amount += c->amount;
	sum->forecast += part_forecast(c, w);
	merge_basis(sum, w->basis);
}

static void build_presale_stage(const se_report *rep, block *b, int f, int s, presale_sum *per_manager)
{
	const se_funnel *fn = &rep->rules->funnels[f];
	const se_funnel_agg *a = &rep->agg[f];
	const se_presale_cell *row = &a->presale[(size_t)s * rep->n_manager];
	presale_sum team = { 0 };

	for (uint32_t m = 0; m < rep->n_manager; m++) {
		win_rate w;

		if (row[m].deals == 0)
			continue;
		w = manager_win_rate(rep, a, s, m);
		add_presale(&team, &row[m], &w);
		add_presale(&per_manager[m], &row[m], &w);
	}
	if (team.deals == 0)
		return;
	for (uint32_t m = 0; m < rep->n_manager; m++) {
		team.won += a->rates[(size_t)s * rep->n_manager + m].won;
		team.closed += a->rates[(size_t)s * rep->n_manager + m].closed;
	}
	presale_row(b, fn->name, fn->stages[s].name, "team", "*", &team, NULL);
	for (uint32_t i = 0; i < rep->n_manager; i++) {
		uint32_t m = rep->manager_order[i];
		presale_sum one = { 0 };
		win_rate w;

		if (row[m].deals == 0)
			continue;
		w = manager_win_rate(rep, a, s, m);
		add_presale(&one, &row[m], &w);
		presale_row(b, fn->name, fn->stages[s].name, "manager", manager_name(rep, m), &one, &w);
	}
}

static void build_presale(const se_report *rep, blocks *bs, int f)
{
	const se_funnel *fn = &rep->rules->funnels[f];
	block *b = new_block(bs, K_PRESALE, f, 0, presale_cols, NCOLS(presale_cols));
	presale_sum *per_manager, team = { 0 };

	if (b == NULL)
		return;
	if ((per_manager = calloc(rep->n_manager ? rep->n_manager : 1, sizeof *per_manager)) == NULL) {
		b->failed = 1;
		return;
	}
	for (int s = 0; s < fn->won; s++)
		if (fn->stages[s].presale)
			build_presale_stage(rep, b, f, s, per_manager);
	for (uint32_t m = 0; m < rep->n_manager; m++) {
		if (per_manager[m].deals == 0)
			continue;
		team.deals += per_manager[m].deals;
		team.no_amount += per_manager[m].no_amount;
		team.amount += per_manager[m].amount;
		team.forecast += per_manager[m].forecast;
		merge_basis(&team, per_manager[m].basis);
	}
	if (team.deals > 0) {
		presale_row(b, fn->name, "*", "team", "*", &team, NULL);
		for (uint32_t i = 0; i < rep->n_manager; i++) {
			uint32_t m = rep->manager_order[i];

			if (per_manager[m].deals > 0)
				presale_row(b, fn->name, "*", "manager", manager_name(rep, m), &per_manager[m], NULL);
		}
	}
	free(per_manager);
}

static void sources_row(block *b, const char *funnel, const char *period, const char *dim,
                        const char *name, const se_source_cell *c)
{
	cell *r = new_row(b);

	if (r == NULL)
		return;
	set_str(&r[0], funnel);
	set_copy(&r[1], period);
	set_str(&r[2], dim);
	set_str(&r[3], name);
	r[4].i = c->leads;
	r[5].i = c->won;
	set_count_ratio(&r[6], c->won, c->leads);
	r[7].i = c->revenue;
}

static void build_sources(const se_report *rep, blocks *bs, int f)
{
	const se_grid *g = &rep->agg[f].sources;
	const char *fname = rep->rules->funnels[f].name;
	block *b = new_block(bs, K_SOURCES, f, 0, sources_cols, NCOLS(sources_cols));

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
				sources_row(b, fname, period, "source", source_name(rep, s), c);
		}
	}
}

static void metric_row(block *b, const char *funnel, const char *metric, const char *period,
                       const char *dim, const char *name, double v, int format)
{
	cell *r = new_row(b);

	if (r == NULL)
		return;
	set_str(&r[0], funnel);
	set_str(&r[1], metric);
	set_copy(&r[2], period);
	set_str(&r[3], dim);
	set_str(&r[4], name);
	r[5].d = v;
	r[5].null = isnan(v);
	r[5].i = format;
}

/* One block per custom metric: the team, each manager, then each source
 * that had data in the period, as the leads report lists them. */
static void build_metrics(const se_report *rep, blocks *bs, int f, int m)
{
	const se_metric_decl *md = &rep->rules->metrics[m];
	const se_metric_table *t;
	const char *fname = rep->rules->funnels[f].name;
	block *b;

	if (md->funnel >= 0 && md->funnel != f)
		return;
	if ((b = new_block(bs, K_METRICS, f, m, metrics_cols, NCOLS(metrics_cols))) == NULL)
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
				metric_row(b, fname, md->name, period, "manager", manager_name(rep, id), mv[id],
				           md->format);
		}
		for (uint32_t i = 0; i < rep->n_source; i++) {
			uint32_t id = rep->source_order[i];

			if (!isnan(sv[id]))
				metric_row(b, fname, md->name, period, "source", source_name(rep, id), sv[id],
				           md->format);
		}
	}
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

static void build_unknown(const se_report *rep, blocks *bs)
{
	block *b = new_block(bs, K_UNKNOWN, SE_NONE, 0, unknown_cols, NCOLS(unknown_cols));
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
		cell *r = new_row(b);

		if (r == NULL)
			break;
		set_str(&r[0], rep->statuses[ids[i]]);
		r[1].i = rep->unknown[ids[i]].events;
		r[2].i = rep->unknown[ids[i]].deals;
		set_str(&r[3], rep->unknown_example[ids[i]] ? rep->unknown_example[ids[i]] : "");
	}
	free(ids);
}

/* ---- diagnostic reports (through the accessors of report.h) ------------------ */

static void set_hours(cell *c, int64_t seconds, int64_t n)
{
	c->i = seconds;
	c->null = n <= 0;
}

static void set_money_or_null(cell *c, int64_t kopecks)
{
	c->i = kopecks;
	c->null = kopecks < 0;
}

static void set_real(cell *c, double d, int null)
{
	c->d = d;
	c->null = null;
}

/* A new row opened by its four label cells: funnel, what (a bucket label is
 * copied: it lives on the caller's stack), dimension and name; NULL when
 * memory ran out. */
static cell *label_row(block *b, const char *funnel, const char *what, int copy, const char *dim,
                       const char *name)
{
	cell *r = new_row(b);

	if (r == NULL)
		return NULL;
	set_str(&r[0], funnel);
	if (copy)
		set_copy(&r[1], what);
	else
		set_str(&r[1], what);
	set_str(&r[2], dim);
	set_str(&r[3], name);
	return r;
}

static void handling_row(block *b, const char *funnel, const char *period, const char *dim,
                         const char *name, const se_handling *h)
{
	cell *r = label_row(b, funnel, period, 1, dim, name);

	if (r == NULL)
		return;
	r[4].i = h->leads;
	r[5].i = h->taken;
	r[6].i = h->released;
	r[7].i = h->nontarget;
	r[8].i = h->unprocessed;
	r[9].i = h->waiting;
	set_hours(&r[10], h->first_move_median, h->moved);
	set_hours(&r[11], h->first_move_p90, h->moved);
}

static void build_handling(const se_report *rep, blocks *bs, int f)
{
	const se_insight *in = &rep->agg[f].in;
	const char *fname = rep->rules->funnels[f].name;
	block *b = new_block(bs, K_HANDLING, f, 0, handling_cols, NCOLS(handling_cols));
	int64_t lo, hi;

	if (b == NULL)
		return;
	grid_span(&in->handling_by_manager, &in->handling_by_source, &lo, &hi);
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
				handling_row(b, fname, period, "manager", manager_name(rep, m), &h);
		}
		for (uint32_t i = 0; i < rep->n_source; i++) {
			uint32_t src = rep->source_order[i];

			se_report_handling(rep, f, k, SE_DIM_SOURCE, src, &h);
			if (h.leads > 0)
				handling_row(b, fname, period, "source", source_name(rep, src), &h);
		}
	}
}

static void diagnostics_row(block *b, const char *funnel, const char *step, const char *dim,
                            const char *name, const se_step_diag *d, int growth)
{
	cell *r = label_row(b, funnel, step, 0, dim, name);

	if (r == NULL)
		return;
	r[4].i = d->from;
	r[5].i = d->to;
	set_count_ratio(&r[6], d->to, d->from);
	set_ratio(&r[7], d->ci_low, 1);
	set_ratio(&r[8], d->ci_high, 1);
	if (d->others_rate < 0)
		set_ratio(&r[9], 0, 0);
	else
		set_count_ratio(&r[9], d->others_to, d->others_from);
	set_ratio(&r[10], d->gap_low, d->others_rate < 0 ? 0 : 1);
	set_ratio(&r[11], d->gap_high, d->others_rate < 0 ? 0 : 1);
	set_real(&r[12], d->missed, d->others_rate < 0);
	r[13].i = d->significant;
	r[14].i = growth;
}

/* Labels of every pair of the funnel, owned by the block. */
static int pair_labels_of(block *b, const se_funnel *fn)
{
	if ((b->labels = calloc((size_t)fn->n_pairs + 1, sizeof *b->labels)) == NULL) {
		b->failed = 1;
		return SE_ENOMEM;
	}
	b->n_labels = fn->n_pairs;
	for (int p = 0; p < fn->n_pairs; p++)
		if (pair_label(fn, &fn->pairs[p], &b->labels[p]) != SE_OK) {
			b->failed = 1;
			return SE_ENOMEM;
		}
	return SE_OK;
}

static void build_diagnostics(const se_report *rep, blocks *bs, int f)
{
	const se_funnel *fn = &rep->rules->funnels[f];
	block *b = new_block(bs, K_DIAGNOSTICS, f, 0, diagnostics_cols, NCOLS(diagnostics_cols));
	int *growth;

	if (b == NULL)
		return;
	if ((growth = malloc((rep->n_manager ? rep->n_manager : 1) * sizeof *growth)) == NULL) {
		b->failed = 1;
		return;
	}
	for (uint32_t m = 0; m < rep->n_manager; m++)
		growth[m] = se_report_growth_point(rep, f, m);
	if (pair_labels_of(b, fn) != SE_OK) {
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
				diagnostics_row(b, fn->name, label, "manager", manager_name(rep, m), &d, growth[m] == p);
		}
	}
	free(growth);
}

static void style_row(block *b, const char *funnel, const char *dim, const char *name, const se_style *st)
{
	cell *r = new_row(b);

	if (r == NULL)
		return;
	set_str(&r[0], funnel);
	set_str(&r[1], dim);
	set_str(&r[2], name);
	r[3].i = st->leads;
	r[4].i = st->won;
	r[5].i = st->periods;
	set_real(&r[6], st->volume, st->periods == 0);
	set_ratio(&r[7], st->depth, 1);
	set_str(&r[8], st->style);
}

static void build_style(const se_report *rep, blocks *bs, int f)
{
	const char *fname = rep->rules->funnels[f].name;
	block *b = new_block(bs, K_STYLE, f, 0, style_cols, NCOLS(style_cols));
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
			style_row(b, fname, "manager", manager_name(rep, m), &st);
	}
}

static void velocity_row(block *b, const char *funnel, const char *stage, const char *dim,
                         const char *name, const se_velocity *v)
{
	cell *r = label_row(b, funnel, stage, 0, dim, name);

	if (r == NULL)
		return;
	r[4].i = v->latest.n;
	set_hours(&r[5], v->latest.p50, v->latest.n);
	set_hours(&r[6], v->latest.p90, v->latest.n);
	set_hours(&r[7], v->total.p50, v->total.n);
	set_hours(&r[8], v->total.p90, v->total.n);
	r[9].i = v->open;
	r[10].i = v->stale;
}

static void build_velocity(const se_report *rep, blocks *bs, int f)
{
	const se_funnel *fn = &rep->rules->funnels[f];
	block *b = new_block(bs, K_VELOCITY, f, 0, velocity_cols, NCOLS(velocity_cols));

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
				velocity_row(b, fn->name, fn->stages[s].name, "manager", manager_name(rep, m), &v);
		}
	}
}

static void to_won_row(block *b, const char *funnel, const char *dim, const char *name, const se_quant *q)
{
	cell *r = new_row(b);

	if (r == NULL)
		return;
	set_str(&r[0], funnel);
	set_str(&r[1], dim);
	set_str(&r[2], name);
	r[3].i = q->n;
	set_hours(&r[4], q->p50, q->n);
	set_hours(&r[5], q->p90, q->n);
}

static void build_to_won(const se_report *rep, blocks *bs, int f)
{
	const char *fname = rep->rules->funnels[f].name;
	block *b = new_block(bs, K_TO_WON, f, 0, to_won_cols, NCOLS(to_won_cols));
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
			to_won_row(b, fname, "manager", manager_name(rep, m), &q);
	}
}

static void build_stale(const se_report *rep, blocks *bs, int f)
{
	const se_funnel *fn = &rep->rules->funnels[f];
	block *b = new_block(bs, K_STALE, f, 0, stale_cols, NCOLS(stale_cols));

	if (b == NULL)
		return;
	for (size_t i = 0; i < se_report_stale_count(rep, f); i++) {
		const se_stale_deal *d = se_report_stale_deal(rep, f, i);
		cell *r = new_row(b);

		if (r == NULL)
			return;
		set_str(&r[0], fn->name);
		set_str(&r[1], d->key ? d->key : "");
		set_str(&r[2], fn->stages[d->stage].name);
		set_str(&r[3], manager_name(rep, d->manager));
		set_hours(&r[4], d->age, 1);
		set_hours(&r[5], d->median, 1);
		set_real(&r[6], d->median > 0 ? (double)d->age / (double)d->median : 0, d->median <= 0);
	}
}

static void forecast_row(block *b, const char *funnel, const char *stage, const char *dim,
                         const char *name, const se_forecast *fc, int rates)
{
	cell *r = label_row(b, funnel, stage, 0, dim, name);

	if (r == NULL)
		return;
	r[4].i = fc->deals;
	r[5].i = fc->amount;
	if (fc->probability >= 0)
		set_ratio(&r[6], fc->probability, 1);
	else
		set_ratio(&r[6], 0, 0);
	r[7].i = fc->forecast_stage;
	r[8].i = fc->rate.won;
	r[9].i = fc->rate.closed;
	if (rates) {
		set_ratio(&r[10], fc->rate.team_rate, fc->rate.team_closed > 0);
		set_ratio(&r[11], fc->rate.shrunk, 1);
	} else { /* sums over parts: the rate they add up to */
		set_ratio(&r[10], 0, 0);
		set_count_ratio(&r[11], fc->forecast_shrunk, fc->amount);
	}
	r[12].i = fc->forecast_shrunk;
	r[13].i = fc->forecast_time;
}

static void build_forecast(const se_report *rep, blocks *bs, int f)
{
	const se_funnel *fn = &rep->rules->funnels[f];
	block *b = new_block(bs, K_FORECAST, f, 0, forecast_cols, NCOLS(forecast_cols));
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
				forecast_row(b, fn->name, fn->stages[s].name, "manager", manager_name(rep, m), &fc, 1);
		}
	}
	se_report_forecast(rep, f, -1, SE_ALL, &fc);
	if (fc.deals > 0)
		forecast_row(b, fn->name, "*", "team", "*", &fc, 0);
}

static void build_forecast_month(const se_report *rep, blocks *bs, int f)
{
	const char *fname = rep->rules->funnels[f].name;
	block *b = new_block(bs, K_FORECAST_MONTH, f, 0, forecast_month_cols, NCOLS(forecast_month_cols));
	se_forecast_month fm;

	if (b == NULL)
		return;
	for (size_t i = 0; se_report_forecast_months(rep, f, i, &fm) == SE_OK; i++) {
		cell *r;
		char label[32];

		if (fm.deals == 0 && fm.forecast_time == 0)
			continue;
		if ((r = new_row(b)) == NULL)
			return;
		if (fm.month < 0)
			snprintf(label, sizeof label, "unknown");
		else
			snprintf(label, sizeof label, "%04lld-%02d", (long long)(fm.month / 12), (int)(fm.month % 12) + 1);
		set_str(&r[0], fname);
		set_copy(&r[1], label);
		r[2].i = fm.deals;
		r[3].i = fm.amount;
		r[4].i = fm.forecast_stage;
		r[5].i = fm.forecast_shrunk;
		r[6].i = fm.forecast_time;
	}
}

static void backtest_row(block *b, const char *funnel, const char *label, const se_backtest *t,
                         const int64_t *err)
{
	cell *r = new_row(b);

	if (r == NULL)
		return;
	set_str(&r[0], funnel);
	set_copy(&r[1], label);
	r[2].i = t->deals;
	r[3].i = t->amount;
	r[4].i = t->forecast_stage;
	r[5].i = t->forecast_shrunk;
	r[6].i = t->forecast_time;
	r[7].i = t->won_h_deals;
	r[8].i = t->won_h_amount;
	r[9].i = t->still_open;
	for (int m = 0; m < 3; m++) {
		r[10 + 2 * m].i = err[m];
		set_count_ratio(&r[11 + 2 * m], err[m], t->won_h_amount);
	}
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
static void build_backtest(const se_report *rep, blocks *bs, int f)
{
	const char *fname = rep->rules->funnels[f].name;
	block *b = new_block(bs, K_BACKTEST, f, 0, backtest_cols, NCOLS(backtest_cols));
	se_backtest t, all;
	int64_t abs_err[3] = { 0, 0, 0 };

	if (b == NULL)
		return;
	memset(&all, 0, sizeof all);
	for (int c = 0; se_report_backtest(rep, f, c, &t) == SE_OK; c++) {
		char label[32];
		int64_t e[3] = { t.forecast_stage - t.won_h_amount, t.forecast_shrunk - t.won_h_amount,
			         t.forecast_time - t.won_h_amount };

		if (t.deals == 0)
			continue;
		local_date(rep, t.cutoff, label, sizeof label);
		backtest_row(b, fname, label, &t, e);
		all.deals += t.deals;
		all.amount += t.amount;
		all.forecast_stage += t.forecast_stage;
		all.forecast_shrunk += t.forecast_shrunk;
		all.forecast_time += t.forecast_time;
		all.won_h_deals += t.won_h_deals;
		all.won_h_amount += t.won_h_amount;
		all.still_open += t.still_open;
		for (int m = 0; m < 3; m++)
			abs_err[m] += e[m] < 0 ? -e[m] : e[m];
	}
	if (all.deals > 0)
		backtest_row(b, fname, "all", &all, abs_err);
}

static void build_source_steps(const se_report *rep, blocks *bs, int f)
{
	const se_funnel *fn = &rep->rules->funnels[f];
	block *b = new_block(bs, K_SOURCE_STEPS, f, 0, source_steps_cols, NCOLS(source_steps_cols));

	if (b == NULL || pair_labels_of(b, fn) != SE_OK)
		return;
	for (int p = 0; p < fn->n_pairs; p++) {
		const se_grid *g = &rep->agg[f].in.source_pairs[p];

		for (int64_t k = g->lo; k < g->lo + g->nb; k++) {
			char period[40];
			se_pair_cell c;

			se_report_source_step(rep, f, p, k, SE_ALL, &c);
			if (c.from == 0)
				continue;
			se_report_bucket_label(rep, k, period, sizeof period);
			for (uint32_t i = 0; i <= rep->n_source; i++) {
				uint32_t src = i == 0 ? SE_ALL : rep->source_order[i - 1];
				cell *r;

				se_report_source_step(rep, f, p, k, src, &c);
				if (c.from == 0 || (r = new_row(b)) == NULL)
					continue;
				set_str(&r[0], fn->name);
				set_str(&r[1], b->labels[p]);
				set_copy(&r[2], period);
				set_str(&r[3], i == 0 ? "team" : "source");
				set_str(&r[4], i == 0 ? "*" : source_name(rep, src));
				r[5].i = c.from;
				r[6].i = c.to;
				set_count_ratio(&r[7], c.to, c.from);
			}
		}
	}
}

static void channels_row(block *b, const char *funnel, const char *period, const char *dim,
                         const char *name, const se_channel *ch, int team)
{
	cell *r = label_row(b, funnel, period, 1, dim, name);

	if (r == NULL)
		return;
	r[4].i = ch->leads;
	r[5].i = ch->won;
	set_count_ratio(&r[6], ch->won, ch->leads);
	r[7].i = ch->revenue;
	set_money_or_null(&r[8], ch->spend);
	set_money_or_null(&r[9], ch->cpl);
	set_money_or_null(&r[10], ch->cps);
	if (ch->spend > 0)
		set_count_ratio(&r[11], ch->revenue - ch->spend, ch->spend);
	else
		set_ratio(&r[11], 0, 0);
	set_real(&r[12], ch->cmh_z, team);
	r[13].i = ch->weak;
}

static void build_channels(const se_report *rep, blocks *bs, int f)
{
	const se_grid *g = &rep->agg[f].sources;
	const char *fname = rep->rules->funnels[f].name;
	block *b = new_block(bs, K_CHANNELS, f, 0, channels_cols, NCOLS(channels_cols));

	if (b == NULL)
		return;
	for (int64_t k = g->lo; k < g->lo + g->nb; k++) {
		char period[40];
		se_channel ch;

		se_report_channel(rep, f, k, SE_ALL, &ch);
		if (ch.leads == 0)
			continue;
		se_report_bucket_label(rep, k, period, sizeof period);
		channels_row(b, fname, period, "team", "*", &ch, 1);
		for (uint32_t i = 0; i < rep->n_source; i++) {
			uint32_t src = rep->source_order[i];

			se_report_channel(rep, f, k, src, &ch);
			if (ch.leads > 0)
				channels_row(b, fname, period, "source", source_name(rep, src), &ch, 0);
		}
	}
}

/* ---- compare: each bucket next to the previous one (docs/METRICS.md 4k) ---- */

enum mkind { M_COUNT, M_AMOUNT, M_RATE };

typedef struct metric_pair {
	enum mkind kind;
	int64_t v, pv;           /* counts, kopecks; rates: to */
	int64_t den, pden;       /* rates: from */
} metric_pair;

static void format_kopecks(int64_t k, char *buf, size_t size);

/* Tenths of a percent of num / den, halves up; den > 0. */
static int64_t tenths_of(int64_t num, int64_t den)
{
	cell c;

	memset(&c, 0, sizeof c);
	set_count_ratio(&c, num, den);
	return pct_tenths(&c);
}

static void set_tenths(cell *c, int64_t t)
{
	snprintf(c->buf, sizeof c->buf, "%s%lld.%lld", t < 0 ? "-" : "", llabs(t) / 10, llabs(t) % 10);
}

static void set_metric_value(cell *c, enum mkind kind, int64_t v, int64_t den)
{
	c->s = NULL;
	if (kind == M_COUNT)
		snprintf(c->buf, sizeof c->buf, "%lld", (long long)v);
	else if (kind == M_AMOUNT)
		format_kopecks(v, c->buf, sizeof c->buf);
	else if (den > 0)
		set_tenths(c, tenths_of(v, den));
	else
		c->null = 1;
}

static void compare_row(block *b, const char *funnel, const char *period, const char *previous,
                        const char *dim, const char *name, const char *metric, const metric_pair *m)
{
	cell *r = new_row(b);

	if (r == NULL)
		return;
	set_str(&r[0], funnel);
	set_copy(&r[1], period);
	set_copy(&r[2], previous);
	set_str(&r[3], dim);
	set_str(&r[4], name);
	set_str(&r[5], metric);
	set_metric_value(&r[6], m->kind, m->v, m->den);
	set_metric_value(&r[7], m->kind, m->pv, m->pden);
	if (m->kind != M_RATE) {
		set_metric_value(&r[8], m->kind, m->v - m->pv, 0);
		if (m->pv != 0)
			set_count_ratio(&r[9], m->v - m->pv, m->pv);
		else
			set_ratio(&r[9], 0, 0);
		return;
	}
	if (m->den == 0 || m->pden == 0) { /* a rate missing on either side */
		r[8].null = 1;
		set_ratio(&r[9], 0, 0);
		return;
	}
	/* the change of a rate is in percentage points, from the printed tenths */
	set_tenths(&r[8], tenths_of(m->v, m->den) - tenths_of(m->pv, m->pden));
	{
		double now = (double)m->v / (double)m->den, before = (double)m->pv / (double)m->pden;

		if (before > 0)
			set_ratio(&r[9], now - before, before);
		else
			set_ratio(&r[9], 0, 0);
	}
}

/* The metrics of one name (the team when manager is SE_ALL) in bucket k
 * and k - 1. */
static void compare_one(const se_report *rep, block *b, int f, int64_t k, const char *period,
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
		int64_t won, revenue, pwon, prevenue;

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

static void build_compare(const se_report *rep, blocks *bs, int f)
{
	const se_funnel_agg *a = &rep->agg[f];
	block *b = new_block(bs, K_COMPARE, f, 0, compare_cols, NCOLS(compare_cols));
	int64_t lo, hi;

	if (b == NULL || rep->period == SE_PERIOD_TOTAL || pair_labels_of(b, &rep->rules->funnels[f]) != SE_OK)
		return;
	grid_span(&a->leads_by_manager, NULL, &lo, &hi);
	for (int64_t k = lo; k < hi; k++) {
		char period[40], previous[40];

		if (se_report_leads(rep, f, k, SE_DIM_MANAGER, SE_ALL) == 0)
			continue;
		se_report_bucket_label(rep, k, period, sizeof period);
		se_report_bucket_label(rep, k - 1, previous, sizeof previous);
		compare_one(rep, b, f, k, period, previous, "team", "*", SE_ALL);
		for (uint32_t i = 0; i < rep->n_manager; i++) {
			uint32_t m = rep->manager_order[i];

			compare_one(rep, b, f, k, period, previous, "manager", manager_name(rep, m), m);
		}
	}
}

typedef void (*block_builder)(const se_report *rep, blocks *bs, int f);

static const block_builder builders[K_COUNT] = {
	build_leads, NULL, build_presale, build_sources, NULL,
	build_handling, build_diagnostics, build_style, build_velocity, build_to_won, build_stale,
	build_forecast, build_forecast_month, build_backtest, build_source_steps, build_channels, build_compare,
	NULL /* metrics: one block per metric{}, built apart */
};

/* Report kind outer, funnel inner: CSV then needs one header per kind. */
static int build_blocks(const se_report *rep, blocks *bs)
{
	const se_rules *r = rep->rules;

	for (int k = 0; k < K_COUNT; k++) {
		if (!(rep->reports & kind_report[k]))
			continue;
		if (k == K_UNKNOWN) {
			build_unknown(rep, bs);
			continue;
		}
		for (int f = 0; f < r->n_funnels; f++) {
			if (rep->only_funnel != SE_NONE && f != rep->only_funnel)
				continue;
			if (k == K_METRICS)
				for (int m = 0; m < r->n_metrics; m++)
					build_metrics(rep, bs, f, m);
			else if (k != K_CONVERSION)
				builders[k](rep, bs, f);
			else
				for (int p = 0; p < r->funnels[f].n_pairs; p++)
					build_conversion(rep, bs, f, p);
		}
	}
	for (size_t i = 0; i < bs->n; i++)
		if (bs->v[i].failed)
			return SE_ENOMEM;
	return SE_OK;
}

static void free_blocks(blocks *bs)
{
	for (size_t i = 0; i < bs->n; i++) {
		free(bs->v[i].cells);
		free(bs->v[i].label);
		for (int l = 0; l < bs->v[i].n_labels; l++)
			free(bs->v[i].labels[l]);
		free(bs->v[i].labels);
	}
	free(bs->v);
}

/* ---- formatting cells --------------------------------------------------------- */

/* "1234.50" from 123450 kopecks: exact, no floating point. */
static void format_kopecks(int64_t k, char *buf, size_t size)
{
	uint64_t a = k < 0 ? (uint64_t)0 - (uint64_t)k : (uint64_t)k;

	snprintf(buf, size, "%s%llu.%02llu", k < 0 ? "-" : "", (unsigned long long)(a / 100),
	         (unsigned long long)(a % 100));
}

/* A custom metric's value: percentages as the built-in ones (tenths,
 * halves up), money with two decimals, other numbers with up to two. */
static const char *metric_text(const cell *v, char *buf, size_t size, int table)
{
	if (v->null || !isfinite(v->d))
		return table ? "-" : "";
	if (v->i == SE_FORMAT_PERCENT) {
		int64_t t = llround(v->d * 1000.0);

		snprintf(buf, size, "%s%lld.%lld%s", t < 0 ? "-" : "", llabs(t) / 10, llabs(t) % 10,
		         table ? "%" : "");
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

/* Text of a cell for CSV and the table. */
static const char *cell_text(const col *c, const cell *v, char *buf, size_t size, int table)
{
	if (v->null && (c->type == T_AMOUNT || c->type == T_INT))
		return table ? "-" : "";
	switch (c->type) {
	case T_STR:
		return cell_str(v);
	case T_INT:
		snprintf(buf, size, "%lld", (long long)v->i);
		return buf;
	case T_AMOUNT:
		format_kopecks(v->i, buf, size);
		return buf;
	case T_PCT: {
		int64_t t;

		if (v->null)
			return table ? "-" : "";
		t = pct_tenths(v);
		snprintf(buf, size, "%s%lld.%lld", t < 0 ? "-" : "", llabs(t) / 10, llabs(t) % 10);
		return buf;
	}
	case T_BOOL:
		if (table)
			return v->i ? "open" : "";
		return v->i ? "1" : "0";
	case T_METRIC:
		return metric_text(v, buf, size, table);
	case T_FLAG:
		if (table)
			return v->i ? "yes" : "";
		return v->i ? "1" : "0";
	case T_HOURS: {
		int64_t t;

		if (v->null)
			return table ? "-" : "";
		t = se_div_round(v->i, 360); /* tenths of an hour, halves up */
		snprintf(buf, size, "%s%lld.%lld", t < 0 ? "-" : "", llabs(t) / 10, llabs(t) % 10);
		return buf;
	}
	case T_REAL:
		if (v->null)
			return table ? "-" : "";
		snprintf(buf, size, "%.2f", v->d);
		return buf;
	case T_NUM:
		return v->null ? (table ? "-" : "") : cell_str(v);
	}
	return "";
}

static void write_csv_field(FILE *out, const char *s)
{
	if (strpbrk(s, ",\"\r\n") == NULL) {
		fputs(s, out);
		return;
	}
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', out);
		fputc(*s, out);
	}
	fputc('"', out);
}

/* ---- CSV -------------------------------------------------------------------------- */

static void write_csv(const blocks *bs, FILE *out)
{
	int last_kind = -1;

	for (size_t i = 0; i < bs->n; i++) {
		const block *b = &bs->v[i];
		char buf[64];

		if ((int)b->kind != last_kind) {
			if (last_kind != -1)
				fputc('\n', out);
			fputs("report", out);
			for (int c = 0; c < b->ncols; c++)
				if (b->cols[c].where & IN_CSV)
					fprintf(out, ",%s", b->cols[c].csv);
			fputc('\n', out);
			last_kind = (int)b->kind;
		}
		for (size_t r = 0; r < b->rows; r++) {
			const cell *row = &b->cells[r * (size_t)b->ncols];

			fputs(kind_names[b->kind], out);
			for (int c = 0; c < b->ncols; c++) {
				if (!(b->cols[c].where & IN_CSV))
					continue;
				fputc(',', out);
				write_csv_field(out, cell_text(&b->cols[c], &row[c], buf, sizeof buf, 0));
			}
			fputc('\n', out);
		}
	}
}

/* ---- table ---------------------------------------------------------------------------- */

static void pad(FILE *out, size_t n)
{
	while (n-- > 0)
		fputc(' ', out);
}

/* Titles of the table blocks that print no setting. */
static const char *const fixed_titles[K_COUNT] = {
	[K_DIAGNOSTICS] = "managers against the rest of the team (Wilson 95%)",
	[K_STYLE] = "style: volume (leads per period) and depth (lead to won)",
	[K_TO_WON] = "time from the first stage to won, hours",
	[K_STALE] = "stale deals, most overdue first",
	[K_FORECAST_MONTH] = "forecast by expected close month",
	[K_BACKTEST] = "forecast backtest: as of past month starts, against what was won",
	[K_SOURCE_STEPS] = "conversion of every step by source",
	[K_CHANNELS] = "sources: money and within-manager quality",
};

static void block_title(const se_report *rep, const block *b, char *buf, size_t size)
{
	const se_funnel *f = b->funnel != SE_NONE ? &rep->rules->funnels[b->funnel] : NULL;

	if (f != NULL && fixed_titles[b->kind] != NULL) {
		snprintf(buf, size, "%s: %s", f->name, fixed_titles[b->kind]);
		return;
	}

	switch (b->kind) {
	case K_CONVERSION: {
		const se_pair *p = &f->pairs[b->pair];
		char window[48] = "";

		if (p->window > 0 && p->window % 86400 == 0)
			snprintf(window, sizeof window, ", within %lld day%s", (long long)(p->window / 86400),
			         p->window == 86400 ? "" : "s");
		else if (p->window > 0)
			snprintf(window, sizeof window, ", within %lld min", (long long)(p->window / 60));
		snprintf(buf, size, "%s: conversion %s -> %s (%s%s)", f->name, f->stages[p->from].name,
		         f->stages[p->to].name, se_mode_name(rep->agg[b->funnel].pair_mode[b->pair]), window);
		return;
	}
	case K_PRESALE:
		snprintf(buf, size, "%s: pre-sale deals now, with forecast", f->name);
		return;
	case K_LEADS:
		snprintf(buf, size, "%s: leads at the first stage (%s)", f->name, se_mode_name(rep->mode));
		return;
	case K_SOURCES:
		snprintf(buf, size, "%s: sources, lead to won (%s)", f->name, se_mode_name(rep->mode));
		return;
	case K_METRICS: {
		const se_metric_decl *m = &rep->rules->metrics[b->pair];

		if (m->title != NULL && strcmp(m->title, m->name) != 0)
			snprintf(buf, size, "%s: metric %s (%s)", f->name, m->name, m->title);
		else
			snprintf(buf, size, "%s: metric %s", f->name, m->name);
		return;
	}
	case K_HANDLING:
		snprintf(buf, size, "%s: lead handling at the first stage (SLA %lld min)", f->name,
		         (long long)(rep->sla / 60));
		return;
	case K_VELOCITY:
		snprintf(buf, size, "%s: time in stage, hours (stale: over %g x the stage median)", f->name,
		         rep->stale_multiple);
		return;
	case K_FORECAST:
		snprintf(buf, size, "%s: forecast: stage probability and shrunk win rate (k = %g)", f->name,
		         rep->shrinkage);
		return;
	case K_COMPARE:
		snprintf(buf, size, "%s: each %s next to the previous one", f->name, se_period_name(rep->period));
		return;
	default:
		snprintf(buf, size, "statuses no funnel knows");
		return;
	}
}

static void write_table_block(const se_report *rep, const block *b, FILE *out)
{
	size_t width[16] = { 0 };
	char title[512], buf[64];

	block_title(rep, b, title, sizeof title);
	fprintf(out, "== %s ==\n", title);
	if (b->rows == 0) {
		fputs(b->kind == K_UNKNOWN ? "(none: every status is known)\n\n" : "(no data)\n\n", out);
		return;
	}
	for (int c = 0; c < b->ncols && c < 16; c++)
		if (b->cols[c].where & IN_TABLE)
			width[c] = se_utf8_width(b->cols[c].csv, strlen(b->cols[c].csv));
	for (size_t r = 0; r < b->rows; r++)
		for (int c = 0; c < b->ncols && c < 16; c++) {
			const char *t;
			size_t w;

			if (!(b->cols[c].where & IN_TABLE))
				continue;
			t = cell_text(&b->cols[c], &b->cells[r * (size_t)b->ncols + c], buf, sizeof buf, 1);
			w = se_utf8_width(t, strlen(t));
			if (w > width[c])
				width[c] = w;
		}
	for (size_t r = 0; r <= b->rows; r++) {
		size_t owed = 0; /* spaces not written yet: none trail a line */

		for (int c = 0; c < b->ncols && c < 16; c++) {
			const char *t;
			size_t w;
			int right = b->cols[c].type != T_STR && b->cols[c].type != T_BOOL;

			if (!(b->cols[c].where & IN_TABLE))
				continue;
			t = r == 0 ? b->cols[c].csv
			           : cell_text(&b->cols[c], &b->cells[(r - 1) * (size_t)b->ncols + c], buf, sizeof buf, 1);
			w = se_utf8_width(t, strlen(t));
			if (right)
				owed += width[c] - w;
			if (*t != '\0') {
				pad(out, owed);
				fputs(t, out);
				owed = 0;
			}
			owed += (right ? 0 : width[c] - w) + 2;
		}
		fputc('\n', out);
	}
	fputc('\n', out);
}

static void write_table(const se_report *rep, const blocks *bs, FILE *out)
{
	char asof[32];

	se_time_format_utc(rep->as_of, asof, sizeof asof);
	fprintf(out, "salesengine %s: %lld deals, %lld events; period %s; zone %s; ", SE_VERSION,
	        (long long)rep->deals, (long long)rep->events, se_period_name(rep->period), se_tz_name(rep->tz));
	if (rep->from || rep->to)
		fprintf(out, "from %s to %s; ", rep->from ? rep->from : "the start", rep->to ? rep->to : "now");
	fprintf(out, "as of %s\n\n", asof);
	for (size_t i = 0; i < bs->n; i++)
		write_table_block(rep, &bs->v[i], out);
	if (rep->deals_unmatched > 0)
		fprintf(out, "%lld deals have no status any funnel knows: they are in no report above.\n",
		        (long long)rep->deals_unmatched);
}

/* ---- JSON -------------------------------------------------------------------------------- */

void se_json_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", out);
		else if (*p == '\t')
			fputs("\\t", out);
		else if (*p == '\r')
			fputs("\\r", out);
		else if (*p < 0x20)
			fprintf(out, "\\u%04x", *p);
		else
			fputc(*p, out);
	}
	fputc('"', out);
}

void se_json_number(FILE *out, double d)
{
	/* %.17g round-trips; trim it for amounts that are whole or in kopecks. */
	char buf[40];

	snprintf(buf, sizeof buf, "%.15g", d);
	if (strtod(buf, NULL) != d)
		snprintf(buf, sizeof buf, "%.17g", d);
	fputs(buf, out);
}

static void json_cell(FILE *out, const col *c, const cell *v)
{
	if (v->null && (c->type == T_AMOUNT || c->type == T_INT)) {
		fputs("null", out);
		return;
	}
	switch (c->type) {
	case T_STR:
		se_json_string(out, cell_str(v));
		return;
	case T_INT:
		fprintf(out, "%lld", (long long)v->i);
		return;
	case T_AMOUNT: {
		char buf[32];

		format_kopecks(v->i, buf, sizeof buf);
		fputs(buf, out);
		return;
	}
	case T_PCT:
		if (v->null)
			fputs("null", out);
		else
			se_json_number(out, v->d);
		return;
	case T_BOOL:
	case T_FLAG:
		fputs(v->i ? "true" : "false", out);
		return;
	case T_HOURS:
		if (v->null)
			fputs("null", out);
		else
			fprintf(out, "%lld", (long long)v->i);
		return;
	case T_REAL:
		if (v->null)
			fputs("null", out);
		else
			se_json_number(out, round(v->d * 10000.0) / 10000.0);
		return;
	case T_NUM:
		fputs(v->null ? "null" : cell_str(v), out);
		return;
	case T_METRIC:
		if (v->null || !isfinite(v->d))
			fputs("null", out);
		else
			se_json_number(out, v->d);
		return;
	}
}

static void json_rows(const block *b, FILE *out, int *first, const char *indent)
{
	for (size_t r = 0; r < b->rows; r++) {
		const cell *row = &b->cells[r * (size_t)b->ncols];
		int firstcol = 1;

		fprintf(out, "%s\n%s{", *first ? "" : ",", indent);
		*first = 0;
		for (int c = 0; c < b->ncols; c++) {
			if (b->cols[c].json == NULL)
				continue;
			fprintf(out, "%s\"%s\": ", firstcol ? "" : ", ", b->cols[c].json);
			firstcol = 0;
			json_cell(out, &b->cols[c], &row[c]);
		}
		fputc('}', out);
	}
}

static void json_kind(const se_report *rep, const blocks *bs, int f, enum kind k, FILE *out)
{
	int first = 1;

	fprintf(out, ",\n      \"%s\": [", kind_names[k]);
	for (size_t i = 0; i < bs->n; i++) {
		const block *b = &bs->v[i];

		if (b->kind != k || b->funnel != f)
			continue;
		if (k == K_METRICS) {
			const se_metric_decl *m = &rep->rules->metrics[b->pair];
			static const char *const formats[] = { "number", "percent", "money" };
			int firstrow = 1;

			fprintf(out, "%s\n        {\"name\": ", first ? "" : ",");
			first = 0;
			se_json_string(out, m->name);
			fputs(", \"title\": ", out);
			se_json_string(out, m->title ? m->title : m->name);
			fprintf(out, ", \"format\": \"%s\", \"rows\": [", formats[m->format]);
			json_rows(b, out, &firstrow, "          ");
			fputs(firstrow ? "]}" : "\n        ]}", out);
			continue;
		}
		if (k != K_CONVERSION) {
			json_rows(b, out, &first, "        ");
			continue;
		}
		{
			const se_funnel *fn = &rep->rules->funnels[f];
			const se_pair *p = &fn->pairs[b->pair];
			int firstrow = 1;

			fprintf(out, "%s\n        {\"from\": ", first ? "" : ",");
			first = 0;
			se_json_string(out, fn->stages[p->from].name);
			fputs(", \"to\": ", out);
			se_json_string(out, fn->stages[p->to].name);
			fprintf(out, ", \"mode\": \"%s\", \"window_days\": ", se_mode_name(rep->agg[f].pair_mode[b->pair]));
			if (p->window > 0)
				se_json_number(out, (double)p->window / 86400.0);
			else
				fputs("null", out);
			fputs(", \"rows\": [", out);
			json_rows(b, out, &firstrow, "          ");
			fputs(firstrow ? "]}" : "\n        ]}", out);
		}
	}
	fputs(first ? "]" : "\n      ]", out);
}

static void json_opt_string(FILE *out, const char *s)
{
	if (s == NULL)
		fputs("null", out);
	else
		se_json_string(out, s);
}

static void write_json(const se_report *rep, const blocks *bs, FILE *out)
{
	static const enum kind kinds[] = {
		K_LEADS, K_CONVERSION, K_PRESALE, K_SOURCES, K_HANDLING, K_DIAGNOSTICS, K_STYLE,
		K_VELOCITY, K_TO_WON, K_STALE, K_FORECAST, K_FORECAST_MONTH, K_BACKTEST, K_SOURCE_STEPS,
		K_CHANNELS, K_COMPARE, K_METRICS
	};
	char asof[32];
	int first = 1;

	se_time_format_utc(rep->as_of, asof, sizeof asof);
	fprintf(out, "{\n  \"salesengine\": \"%s\",\n  \"as_of\": \"%s\",\n  \"timezone\": ", SE_VERSION, asof);
	se_json_string(out, se_tz_name(rep->tz));
	fprintf(out, ",\n  \"period\": \"%s\",\n  \"from\": ", se_period_name(rep->period));
	json_opt_string(out, rep->from);
	fputs(", \"to\": ", out);
	json_opt_string(out, rep->to);
	fprintf(out, ",\n  \"summary\": {\"deals\": %lld, \"events\": %lld, \"deals_unmatched\": %lld, "
	        "\"unknown_events\": %lld},\n  \"funnels\": [",
	        (long long)rep->deals, (long long)rep->events, (long long)rep->deals_unmatched,
	        (long long)rep->unknown_events);
	for (int f = 0; f < rep->rules->n_funnels; f++) {
		const se_funnel *fn = &rep->rules->funnels[f];

		if (rep->only_funnel != SE_NONE && f != rep->only_funnel)
			continue;
		fprintf(out, "%s\n    {\n      \"name\": ", first ? "" : ",");
		first = 0;
		se_json_string(out, fn->name);
		fputs(",\n      \"stages\": [", out);
		for (int s = 0; s < fn->n_stages; s++) {
			if (s)
				fputs(", ", out);
			se_json_string(out, fn->stages[s].name);
		}
		fputc(']', out);
		for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
			if (rep->reports & kind_report[kinds[k]] &&
			    (kinds[k] != K_METRICS || rep->rules->n_metrics > 0))
				json_kind(rep, bs, f, kinds[k], out);
		fputs("\n    }", out);
	}
	fputs(first ? "],\n  \"unknown\": [" : "\n  ],\n  \"unknown\": [", out);
	first = 1;
	for (size_t i = 0; i < bs->n; i++)
		if (bs->v[i].kind == K_UNKNOWN)
			json_rows(&bs->v[i], out, &first, "    ");
	fputs(first ? "]\n}\n" : "\n  ]\n}\n", out);
}

int se_report_write(const se_report *rep, FILE *out, se_output format, se_error *err)
{
	blocks bs = { 0 };
	int rc = build_blocks(rep, &bs);

	if (rc != SE_OK) {
		free_blocks(&bs);
		return se_error_set(err, SE_ENOMEM, "out of memory formatting the report");
	}
	if (format == SE_OUTPUT_CSV)
		write_csv(&bs, out);
	else if (format == SE_OUTPUT_JSON)
		write_json(rep, &bs, out);
	else
		write_table(rep, &bs, out);
	free_blocks(&bs);
	if (fflush(out) != 0 || ferror(out))
		return se_error_set(err, SE_EIO, "writing the report failed");
	return SE_OK;
}
