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

enum ctype { T_STR, T_INT, T_AMOUNT, T_PCT, T_BOOL, T_METRIC };

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
	int null;            /* T_PCT with a zero denominator; T_METRIC without a value */
} cell;                  /* T_METRIC: value in d, enum se_metric_format in i */

enum kind { K_LEADS, K_CONVERSION, K_PRESALE, K_SOURCES, K_UNKNOWN, K_METRICS, K_COUNT };

static const char *const kind_names[K_COUNT] = {
	"leads", "conversion", "presale", "sources", "unknown", "metrics"
};

typedef struct block {
	enum kind kind;
	int funnel;          /* SE_NONE for unknown */
	int pair;            /* conversion: index into the funnel's pairs; metrics: the metric */
	const col *cols;
	int ncols;
	char *label;         /* conversion: "from -> to" the rows point to (heap: blocks move) */
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

/* Report kind outer, funnel inner: CSV then needs one header per kind. */
static int build_blocks(const se_report *rep, blocks *bs)
{
	const se_rules *r = rep->rules;

	for (int k = 0; k < K_COUNT; k++) {
		if (!(rep->reports & (1u << k)))
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
			else if (k == K_LEADS)
				build_leads(rep, bs, f);
			else if (k == K_PRESALE)
				build_presale(rep, bs, f);
			else if (k == K_SOURCES)
				build_sources(rep, bs, f);
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

static void block_title(const se_report *rep, const block *b, char *buf, size_t size)
{
	const se_funnel *f = b->funnel != SE_NONE ? &rep->rules->funnels[b->funnel] : NULL;

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

static void json_string(FILE *out, const char *s)
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

static void json_number(FILE *out, double d)
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
	switch (c->type) {
	case T_STR:
		json_string(out, cell_str(v));
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
			json_number(out, v->d);
		return;
	case T_BOOL:
		fputs(v->i ? "true" : "false", out);
		return;
	case T_METRIC:
		if (v->null || !isfinite(v->d))
			fputs("null", out);
		else
			json_number(out, v->d);
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
			json_string(out, m->name);
			fputs(", \"title\": ", out);
			json_string(out, m->title ? m->title : m->name);
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
			json_string(out, fn->stages[p->from].name);
			fputs(", \"to\": ", out);
			json_string(out, fn->stages[p->to].name);
			fprintf(out, ", \"mode\": \"%s\", \"window_days\": ", se_mode_name(rep->agg[f].pair_mode[b->pair]));
			if (p->window > 0)
				json_number(out, (double)p->window / 86400.0);
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
		json_string(out, s);
}

static void write_json(const se_report *rep, const blocks *bs, FILE *out)
{
	static const enum kind kinds[] = { K_LEADS, K_CONVERSION, K_PRESALE, K_SOURCES, K_METRICS };
	char asof[32];
	int first = 1;

	se_time_format_utc(rep->as_of, asof, sizeof asof);
	fprintf(out, "{\n  \"salesengine\": \"%s\",\n  \"as_of\": \"%s\",\n  \"timezone\": ", SE_VERSION, asof);
	json_string(out, se_tz_name(rep->tz));
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
		json_string(out, fn->name);
		fputs(",\n      \"stages\": [", out);
		for (int s = 0; s < fn->n_stages; s++) {
			if (s)
				fputs(", ", out);
			json_string(out, fn->stages[s].name);
		}
		fputc(']', out);
		for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
			if (rep->reports & (1u << kinds[k]) &&
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
