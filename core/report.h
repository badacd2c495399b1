/*
 * report.h: the aggregated numbers of one report run, shared by report.c
 * (which fills them from the counting core) and output.c (which prints them).
 *
 * Cells are kept per (bucket, manager or source id) in dense grids that grow
 * to the buckets actually seen, so aggregation is an array increment per
 * deal and report, and the cost of a report is one pass over the deals.
 */
#ifndef SE_REPORT_H
#define SE_REPORT_H

#include "count.h"
#include "rules.h"

typedef struct se_grid {
	int64_t lo;          /* bucket key of row 0 */
	int64_t nb;          /* rows */
	size_t width;        /* cells per row */
	size_t cell;         /* bytes per cell */
	unsigned char *data;
} se_grid;

typedef struct se_pair_cell {
	int64_t from, to;
	int64_t last_cohort; /* latest cohort event time: is the window still open? */
} se_pair_cell;

/* Money is summed in integer kopecks (cents): exact, whatever the order,
 * so the printed totals are the sums of the printed parts. */
typedef struct se_source_cell {
	int64_t leads, won;
	int64_t revenue;     /* kopecks */
} se_source_cell;

typedef struct se_presale_cell {
	int64_t deals, no_amount;
	int64_t amount;      /* kopecks */
} se_presale_cell;

typedef struct se_rate_cell {
	int64_t closed, won;
} se_rate_cell;

typedef struct se_funnel_agg {
	se_grid leads_by_manager;  /* int64_t */
	se_grid leads_by_source;   /* int64_t */
	se_grid *pairs;            /* one per funnel pair: se_pair_cell by manager */
	se_mode *pair_mode;        /* effective mode per pair */
	se_grid sources;           /* se_source_cell by source */
	se_presale_cell *presale;  /* [stage * n_manager + manager] */
	se_rate_cell *rates;       /* [stage * n_manager + manager], closed deals */
} se_funnel_agg;

typedef struct se_unknown_status {
	int64_t events, deals;
	int64_t example_deal;      /* deal number of one deal with it */
	int64_t last_deal;         /* to count each deal once */
} se_unknown_status;

/* Values of one custom metric (metric{}) in one funnel, filled by the
 * script after the pass; NAN where the scope had no data or the metric
 * returned nil. */
typedef struct se_metric_table {
	int64_t lo, nb;            /* bucket keys lo .. lo + nb - 1 */
	double *by_manager;        /* [bucket * (n_manager + 1) + id]; the team at n_manager */
	double *by_source;         /* [bucket * (n_source + 1) + id]; the team at n_source */
} se_metric_table;

struct se_cube;

struct se_report {
	const se_rules *rules;
	se_tz *tz;
	se_period period;
	se_mode mode;
	unsigned reports;
	char *from, *to;           /* as given, or NULL */
	int64_t from_utc, to_utc;  /* cohort events must be in [from_utc, to_utc) */
	int64_t as_of;
	int only_funnel;           /* index, or SE_NONE for all */

	char **managers, **sources, **statuses;
	uint32_t n_manager, n_source, n_status;
	uint32_t *manager_order, *source_order; /* ids sorted by name */

	se_funnel_agg *agg;        /* one per funnel */
	se_unknown_status *unknown;
	char **unknown_example;    /* deal_id text per status with events, else NULL */

	int64_t deals, events, deals_unmatched, unknown_events;

	struct se_cube *cube;      /* when the rules declare metrics or alert rules */
	se_metric_table *metric_tables; /* [funnel * n_metrics + metric], or NULL */
};

/* Allocates rep->metric_tables for the cube's buckets, every value NAN. */
int se_report_alloc_metric_tables(se_report *rep, se_error *err);

/* A deal amount in kopecks, rounded half away from zero; 0 for NAN. */
int64_t se_report_kopecks(double amount);

/* num / den rounded half up (towards +infinity on a tie); den > 0. */
int64_t se_div_round(int64_t num, int64_t den);

/* Bucket key of a UTC instant, and its label ("2025-W03", "2025-01", ...). */
int64_t se_report_bucket(const se_report *rep, int64_t t);
void se_report_bucket_label(const se_report *rep, int64_t key, char *buf, size_t size);

/* Cell (row for key, column col) of a grid; NULL if the key is outside. */
static inline void *se_grid_at(const se_grid *g, int64_t key, size_t col)
{
	if (key < g->lo || key >= g->lo + g->nb || col >= g->width)
		return NULL;
	return g->data + ((size_t)(key - g->lo) * g->width + col) * g->cell;
}

#endif
