/*
 * report.h: the aggregated numbers of one report run, shared by report.c
 * (which fills them from the counting core) and format/ (which prints them).
 *
 * Cells are kept per (bucket, manager or source id) in grids that grow to
 * the buckets actually seen, so aggregation is an array increment per deal
 * and report, and the cost of a report is one pass over the deals.  Never a
 * grid over a product of managers and sources: such data is kept as sorted
 * records (se_sm_cell).  Totals every accessor call would redo per manager
 * (team win rates, pair sums) are summed once after the pass.
 */
#ifndef SE_REPORT_H
#define SE_REPORT_H

#include "count.h"
#include "forecast.h"
#include "grid.h"
#include "money.h"
#include "quantile.h"
#include "rules.h"

typedef struct se_pair_cell {
	int64_t from, to;
	int64_t last_cohort; /* latest cohort event time: is the window still open? */
} se_pair_cell;

/* Adds pair cell v, counted over other deals, into c: the sums, and the
 * later cohort of the two where v counted any, as one pass over both
 * sets of deals would have kept it (merging threads and stored parts). */
static inline void se_pair_cell_add(se_pair_cell *c, const se_pair_cell *v)
{
	if (v->from > 0 && (c->from == 0 || v->last_cohort > c->last_cohort))
		c->last_cohort = v->last_cohort;
	c->from += v->from;
	c->to += v->to;
}

/* Money is summed in integer kopecks (cents): exact, whatever the order,
 * so the printed totals are the sums of the printed parts. */
typedef struct se_source_cell {
	int64_t leads, won;
	se_money revenue;    /* kopecks */
} se_source_cell;

typedef struct se_presale_cell {
	int64_t deals, no_amount;
	se_money amount;     /* kopecks */
} se_presale_cell;

typedef struct se_rate_cell {
	int64_t closed, won;
} se_rate_cell;

/* ---- diagnostic reports (docs/METRICS.md 4f-4l), filled by insight.c ---- */

typedef struct se_handling_cell {
	int64_t leads, taken, released, nontarget, unprocessed, waiting;
} se_handling_cell;

/* A deal open now (at a stage before won), kept for stale deals and the
 * close-month forecast, which need medians only known after the pass. */
typedef struct se_open_deal {
	uint32_t deal, manager;
	int32_t stage;
	uint16_t presale;     /* its stage is pre-sale: in the forecast */
	uint16_t ranged;      /* its lead event is in the range: in velocity */
	int64_t since;        /* start of its current stay */
	int64_t reached;      /* when it reached its current stage (report mode) */
	int64_t amount;       /* kopecks */
} se_open_deal;

typedef struct se_stale_deal {
	uint32_t deal, manager;
	int32_t stage;
	int64_t age, median;  /* seconds in the current stay; the stage's median stay */
	char *key;            /* deal_id */
} se_stale_deal;

typedef struct se_cohort_cell {  /* leads and those of them won */
	int64_t leads, won;
} se_cohort_cell;

/* Leads of one (bucket, source, manager), or of one (bucket, manager) over
 * every source: a record per lead during the pass, sorted and merged after
 * it, so memory follows the leads, never sources x managers. */
typedef struct se_sm_cell {
	int64_t bucket;
	uint32_t source, manager;
	int64_t leads, won;
} se_sm_cell;

/* A lead as the pass records it for those cells: 16 bytes, the manager's
 * top bit saying whether it was won. */
typedef struct se_sm_lead {
	int64_t bucket;
	uint32_t source, manager_won;
} se_sm_lead;
#define SE_SM_WON 0x80000000u

/* Backtest: one replay of history as of a cutoff date. */
typedef struct se_backtest_cut {
	int64_t cutoff;                /* UTC seconds */
	se_presale_cell *open;         /* [stage * n_manager + manager] open at the cutoff */
	se_rate_cell *rates;           /* [stage * n_manager + manager] closed before it */
	se_money *won_amount;          /* [stage * n_manager + manager] of those open, won after */
	int64_t *won_deals;
	se_money *still_open;          /* [stage * n_manager + manager] still open now */
	/* Deals whose whole history lies before this cutoff count the same at
	 * every later one: added here once, carried forward after the pass. */
	se_presale_cell *carry_open;
	se_rate_cell *carry_rates;
	se_money *carry_still_open;
	/* Of the deals open at the cutoff, won within the horizon after it:
	 * what every method is judged against. */
	int64_t *won_h_deals;
	se_money *won_h_amount;
	se_money *time_fc;             /* [stage * n_manager + manager] time-aware forecast (timecast.c) */
	int64_t time_deals;            /* deals the time-aware forecast saw open (the same set) */
} se_backtest_cut;

#define SE_BACKTEST_CUTS 6

/* A stay at a pre-sale stage, for the time-aware forecast (timecast.c):
 * when it began and ended, and the deal's first outcome after it began. */
typedef struct se_spell {
	int64_t start;                 /* the stay began */
	int64_t end;                   /* it ended (next resolving event elsewhere); INT64_MAX: lasts now */
	int64_t outcome_t;             /* first won or closing event after start; INT64_MAX: none */
	int64_t amount;                /* kopecks */
	uint32_t manager;
	int16_t stage;                 /* < SE_MAX_STAGES */
	int16_t outcome;               /* enum se_outcome (survival.h) of that event */
} se_spell;                            /* 40 bytes: one per stay, millions of them */

/* Months of the time-aware forecast by close month: the as-of month and
 * the ones after it. */
#define SE_TIME_MONTHS 12

typedef struct se_insight {
	se_grid handling_by_manager, handling_by_source;  /* se_handling_cell */
	se_samples first_move;         /* by manager, and by source in col2 */
	se_qtable q_first_move_by_manager, q_first_move_by_source;
	se_cohort_cell *style;         /* [manager], leads in the range */
	se_groups stays;               /* row = stage * 2 + (0 latest, 1 total), col = manager */
	se_groups to_won;              /* row 0: first stage -> won */
	se_groups to_close;            /* row = stage: reached(stage) -> won, won deals; col 0 */
	se_qtable q_stays, q_to_won, q_to_close;
	se_open_deal *open;
	size_t n_open, cap_open;
	int64_t *open_count, *stale_count;  /* [stage * n_manager + manager] */
	se_stale_deal *stale;          /* most overdue first, at most SE_STALE_LIST */
	size_t n_stale;
	se_money *close_month;         /* forecast by month: [month - close_lo] x 4 sums */
	int64_t close_lo, close_nb;
	se_grid *source_pairs;         /* one per pair: se_pair_cell by source */
	se_sm_lead *sm_leads;          /* a record per lead during the pass (channels only) */
	size_t n_sm_leads, cap_sm_leads;
	se_grid sm_grid;               /* instead, when sources x managers is small: counts
	                                * by [bucket][source * n_manager + manager] */
	int sm_in_grid;
	se_sm_cell *sm;                /* by (bucket, source, manager), merged after the pass */
	size_t n_sm;
	se_sm_cell *sm_manager;        /* by (bucket, manager), every source together */
	size_t n_sm_manager;
	int64_t style_periods;         /* buckets in which the team had leads */
	se_cohort_cell style_volume, style_depth; /* the managers' medians (style quadrant lines) */
	se_backtest_cut cuts[SE_BACKTEST_CUTS];
	int n_cuts;
	/* Benjamini-Hochberg values of the report's tests (family.c), NAN
	 * where there is no test; NULL before they are computed. */
	double *step_q;                /* [pair * n_manager + manager] */
	double *channel_q;             /* [(bucket - channel_lo) * n_source + source] */
	int64_t *channel_managers;     /* [bucket - channel_lo]: managers with leads (not "(none)") */
	int64_t channel_lo, channel_nb;
	uint64_t spell_stages;         /* bit s: stage s is pre-sale and before won */
	se_spell *spells;              /* stays at pre-sale stages (forecast, backtest) */
	size_t n_spells, cap_spells;
	se_money *time_fc;             /* [stage * n_manager + manager] forecast within the horizon */
	se_money time_month[SE_TIME_MONTHS]; /* by close month, from the as-of month */
	int64_t time_month_lo;         /* the as-of month (year * 12 + month - 1) */
} se_insight;

#define SE_STALE_LIST 1000

typedef struct se_funnel_agg {
	se_grid leads_by_manager;  /* int64_t */
	se_grid leads_by_source;   /* int64_t */
	se_grid *pairs;            /* one per funnel pair: se_pair_cell by manager */
	se_mode *pair_mode;        /* effective mode per pair */
	se_grid sources;           /* se_source_cell by source */
	se_presale_cell *presale;  /* [stage * n_manager + manager] */
	se_rate_cell *rates;       /* [stage * n_manager + manager], closed deals */
	se_rate_cell *team_rates;  /* [stage]: rates summed over managers, after the pass */
	se_pair_cell *pair_sums;   /* [pair * (n_manager + 1) + manager] over every bucket, the
	                            * team at n_manager; after the pass */
	se_insight in;
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

/* The reports that need the diagnostics pass (insight.c). */
#define SE_REPORT_INSIGHTS ((unsigned)SE_REPORT_ALL & ~(unsigned)(SE_REPORT_CLASSIC | SE_REPORT_METRICS))
#define SE_BUCKET_CACHE 8
/* Bytes that keep two fields off one cache line (x86-64 and most ARM). */
#define SE_CACHE_LINE 64

/* Recent buckets as UTC ranges [lo, hi): se_report_bucket_in(). */
typedef struct se_bucket_cache {
	int64_t lo[SE_BUCKET_CACHE], hi[SE_BUCKET_CACHE], key[SE_BUCKET_CACHE];
	int next;
	int last;                 /* the slot that answered last: tried first */
} se_bucket_cache;

struct se_report {
	const se_rules *rules;
	se_tz *tz;
	se_period period;
	se_mode mode;
	unsigned reports;          /* se_report_kind bits to print */
	unsigned compute;          /* bits to compute: reports, and what metrics and rules read */
	char *from, *to;           /* as given, or NULL */
	int64_t from_utc, to_utc;  /* cohort events must be in [from_utc, to_utc) */
	int64_t from_day;          /* --from as a local day number, when given */
	struct se_report *previous; /* compare with --from: the bucket before the range, else NULL */
	int64_t as_of;
	int only_funnel;           /* index, or SE_NONE for all */

	char **managers, **sources, **statuses;
	uint32_t n_manager, n_source, n_status;
	uint32_t *manager_order, *source_order; /* ids sorted by name */

	se_funnel_agg *agg;        /* one per funnel */
	se_unknown_status *unknown;
	char **unknown_example;    /* deal_id text per status with events, else NULL */

	struct se_cube *cube;      /* when the rules declare metrics or alert rules */
	int skip_pairs;            /* the pass leaves the pairs' grids empty: nothing built reads them */
	se_metric_table *metric_tables; /* [funnel * n_metrics + metric], or NULL */

	int64_t sla;               /* effective settings (rules, else defaults) */
	double stale_multiple, shrinkage;
	int64_t horizon;           /* time-aware forecast and backtest horizon, seconds */
	int64_t data_end;          /* latest event in the store (backtest), else 0 */
	int data_ends_early;       /* the data ends more than a horizon before as-of */
	se_spend *spend;           /* the script's and --spend's, merged */
	size_t n_spend;
	const se_count_ctx *count_ctx; /* during the pass */

	/* What the pass writes for every deal, each group by one thread,
	 * with a cache line between the groups and from the fields both
	 * threads read per deal (agg, above): a write to a line the other
	 * core reads makes the next read there wait for the line to come
	 * back.  (Side by side, --report all on 1M deals took 0.38 s, and
	 * 0.33 s apart.) */
	char apart_read[SE_CACHE_LINE];
	int64_t deals, events, deals_unmatched, unknown_events;
	int64_t amounts_over_max;  /* deals whose amount is over SE_AMOUNT_MAX: in no sum */
	se_bucket_cache bucket_cache;          /* the pass's own */
	char apart_first[SE_CACHE_LINE];
	se_bucket_cache insight_bucket_cache;  /* insight.c's: it may run in a second thread */
	char apart_second[SE_CACHE_LINE];

	/* Metrics and rules read the diagnostics only when one of them calls
	 * a diagnostic scope method; until then the pass skips them, and the
	 * first such call rebuilds the report with them from this. */
	struct se_store *store;    /* the store it was built from (alive while scripts run) */
	struct se_report_lazy *lazy; /* the options to build again with, or NULL */
};

/* How the pass splits the chunks between its two threads, when the
 * second counts every diagnostic: as the load goes (se_report_build), or,
 * for tests, which hold the numbers to not depending on it, every chunk
 * evaluated by the first thread (KEPT), every chunk handed over whole, or
 * the two in turn. */
enum se_split { SE_SPLIT_LOAD, SE_SPLIT_KEPT, SE_SPLIT_WHOLE, SE_SPLIT_TURNS };
int se_report_build_split(se_report **out, se_store *st, const se_rules *rules,
                          const se_report_opts *opts, int split, se_error *err);

/* Makes sure the report holds the diagnostics metrics and rules may read
 * (every insight but the backtest): when it was built without them, builds
 * it again from the same store and options with them and takes the new
 * numbers in place (the foundation numbers are the same; metric tables
 * already filled stay).  The report's pointer stays valid; pointers into
 * it taken before do not, but for rep->metric_tables.  0, or an error. */
int se_report_want_insights(const se_report *rep, se_error *err);

/* Allocates rep->metric_tables for the cube's buckets, every value NAN. */
int se_report_alloc_metric_tables(se_report *rep, se_error *err);

/* bucket.c: bucket key of a UTC instant, and its label ("2025-W03", "2025-01", ...). */
int64_t se_report_bucket(const se_report *rep, int64_t t);
void se_report_bucket_label(const se_report *rep, int64_t key, char *buf, size_t size);
int64_t se_report_bucket_lookup(const se_report *rep, se_bucket_cache *c, int64_t t);

/* The bucket of t through cache c; the usual case (the same bucket as the
 * last lookup) stays inline. */
static inline int64_t se_report_bucket_in(const se_report *rep, se_bucket_cache *c, int64_t t)
{
	if (t >= c->lo[c->last] && t < c->hi[c->last])
		return c->key[c->last];
	return se_report_bucket_lookup(rep, c, t);
}

/* The first instant of a local month (year * 12 + month - 1), and the
 * local month of an instant, in the report zone. */
int64_t se_report_month_start(const se_report *rep, int64_t month);
int64_t se_report_month_of(const se_report *rep, int64_t t);

/* aggregate.c: the foundation aggregates of the pass.  alloc makes the
 * empty grids and cells for rep's rules, managers, sources and statuses
 * (each pair's mode: mode_override, else the pair's, else rep->mode);
 * free releases them (not the cube, not the diagnostics).  deal counts one
 * evaluated deal into them and the cube; it returns whether the
 * diagnostics want the deal too, and sets *nomem when memory ran out.
 * takes is that answer alone, for a deal whose foundation counts were
 * read from a stored partial instead. */
int se_aggregate_alloc(se_report *rep, se_mode mode_override, se_error *err);
void se_aggregate_free(se_report *rep);
int se_aggregate_deal(se_report *rep, const se_chunk_deal *d, const se_deal_eval *e, int *nomem);
int se_aggregate_takes(const se_report *rep, const se_deal_eval *e);
/* Adds the foundation aggregates (and the cube) of `from`, a report of the
 * same settings that counted other deals, into rep, as the stored partials
 * merge (partial.c): sums, a pair cell's latest cohort, and per unknown
 * status the example of the lower deal number (the first in the pass).
 * 0 or SE_ENOMEM. */
int se_aggregate_merge(se_report *rep, const se_report *from);
/* How the foundation's cells add up when two counts of other deals are
 * merged (aggregate.c; partial.c for the stored ones), as se_grid_merge
 * takes them: into += cell, field by field (kopecks as the 128-bit sums
 * they are: adding their two 64-bit halves apart loses the carry, and
 * a negative amount's upper half is all ones), a pair cell by
 * se_pair_cell_add.  count: one int64. */
void se_cell_add_count(void *into, const void *cell);
void se_cell_add_source(void *into, const void *cell);
void se_cell_add_pair(void *into, const void *cell);
void se_cell_add_presale(void *into, const void *cell);
void se_cell_add_rate(void *into, const void *cell);

/* insight.c: the diagnostic reports' share of the pass. */
int se_insight_alloc(se_report *rep, se_error *err);
int se_insight_deal(se_report *rep, const se_deal_eval *e, const se_chunk_deal *d);
int se_insight_finish(se_report *rep, se_store *st, se_error *err);
void se_insight_free(se_report *rep);

/* A manager's win rate from a stage, shrunk toward the team's
 * (docs/METRICS.md 4i).  manager >= n_manager: the team. */
typedef struct se_stage_rate {
	int64_t won, closed;          /* the manager's closed deals from the stage */
	int64_t team_won, team_closed;
	double team_rate;             /* team_won / team_closed, 0 when none */
	double k;                     /* prior strength */
	double shrunk;                /* (won + k * team_rate) / (closed + k) */
} se_stage_rate;
void se_report_stage_rate(const se_report *rep, int funnel, int stage, uint32_t manager, se_stage_rate *out);

/* ---- accessors: every number of the diagnostic reports, as plain structs.
 * format/ prints through them and the Lua API reads through them, so the
 * two cannot disagree.  Ids are manager or source ids (rep->managers[id]);
 * SE_ALL means the whole team.  Buckets are se_report_bucket() keys (0 for
 * period total).  Each returns 0, or SE_ERR when the funnel, stage, pair or
 * id is out of range. */
#define SE_ALL UINT32_MAX

enum se_dim { SE_DIM_MANAGER, SE_DIM_SOURCE };

/* Lead handling (4f).  Durations in seconds; -1 when no lead moved. */
typedef struct se_handling {
	int64_t leads, taken, released, nontarget, unprocessed, waiting;
	int64_t moved;                 /* taken + released + nontarget */
	int64_t first_move_median, first_move_p90;
} se_handling;
int se_report_handling(const se_report *rep, int funnel, int64_t bucket, enum se_dim dim, uint32_t id,
                       se_handling *out);

/* A manager against the rest of the team on one pair, over the range (4g). */
typedef struct se_step_diag {
	int64_t from, to;              /* the manager's reached_from, reached_to */
	double rate, ci_low, ci_high;  /* to / from and its Wilson 95% interval */
	int64_t others_from, others_to;/* every other manager together */
	double others_rate;            /* -1 when others_from == 0 */
	double missed;                 /* (others_rate - rate) * from: deals short of the team */
	double gap_low, gap_high;      /* Newcombe 95% interval of rate - others_rate */
	int tested;                    /* both sides have SE_TEST_MIN_N deals: p is a test */
	double p;                      /* two-proportion test against the others; NAN untested */
	double q;                      /* its Benjamini-Hochberg value in the report's family; NAN */
	int significant;               /* tested and q <= SE_FDR_LEVEL */
} se_step_diag;
int se_report_step(const se_report *rep, int funnel, int pair, uint32_t manager, se_step_diag *out);
/* The adjacent step with the most missed deals among the significant
 * shortfalls (after the false discovery rate correction): its pair index,
 * or SE_NONE. */
int se_report_growth_point(const se_report *rep, int funnel, uint32_t manager);

/* Style quadrant (4g).  For SE_ALL: the team's totals, and volume and depth
 * are the managers' medians (the quadrant's lines). */
typedef struct se_style {
	int64_t leads, won, periods;
	double volume;                 /* leads per period */
	double depth;                  /* won / leads */
	const char *style;             /* "volume+depth", "volume", "depth", "neither"; "median" for SE_ALL */
} se_style;
int se_report_style(const se_report *rep, int funnel, uint32_t manager, se_style *out);

/* Velocity (4h), seconds. */
typedef struct se_velocity {
	se_quant latest, total;        /* stays in the stage (finished ones) */
	int64_t open, stale;           /* deals at the stage now, and of them stale */
} se_velocity;
int se_report_velocity(const se_report *rep, int funnel, int stage, uint32_t manager, se_velocity *out);
int se_report_time_to_won(const se_report *rep, int funnel, uint32_t manager, se_quant *out);
/* Stale deals listed, most overdue first (at most SE_STALE_LIST). */
size_t se_report_stale_count(const se_report *rep, int funnel);
const se_stale_deal *se_report_stale_deal(const se_report *rep, int funnel, size_t i);

/* The note the backtest carries: 1 when the data ends more than a horizon
 * before as-of (its cutoffs are then the last months of the data). */
int se_report_backtest_early(const se_report *rep, int64_t *data_end);
/* Pre-sale deals open now and their forecast (4c) at one pre-sale stage,
 * or every one (stage -1), of a manager or the team (SE_ALL): sums of the
 * per-(manager, stage) parts of forecast.h. */
typedef struct se_presale {
	int64_t deals, no_amount;
	se_money amount, forecast;     /* kopecks */
	int64_t won, closed;           /* one part (a manager at a stage): the rate it used;
	                                * the team at a stage: the team's closed deals; else 0 */
	const char *basis;             /* "manager", "team", "none"; "mixed" when the parts differ;
	                                * NULL without deals */
	int one_part;                  /* a manager at one stage: won / closed is its rate */
} se_presale;
int se_report_presale(const se_report *rep, int funnel, int stage, uint32_t manager, se_presale *out);

/* Forecast of the deals open now at one pre-sale stage (4i); stage -1: all
 * pre-sale stages.  Forecasts are sums of per-(stage, manager) parts, each
 * rounded to the kopeck. */
typedef struct se_forecast {
	int64_t deals;
	se_money amount;               /* kopecks */
	double probability;            /* the script's for the stage, -1 when not set or stage -1 */
	se_money forecast_stage;       /* amount x probability */
	se_stage_rate rate;            /* empirical, shrunk (not for stage -1) */
	se_money forecast_shrunk;      /* amount x rate.shrunk */
	se_money forecast_time;        /* expected won within the horizon (timecast.c) */
} se_forecast;
int se_report_forecast(const se_report *rep, int funnel, int stage, uint32_t manager, se_forecast *out);
/* By expected close month: month -1 = the deals of stages no won deal ever
 * passed (no history to date them). */
typedef struct se_forecast_month {
	int64_t month;                 /* year * 12 + month - 1, or -1 */
	int64_t deals;
	se_money amount, forecast_stage, forecast_shrunk;
	se_money forecast_time;        /* expected won in that month (the 12 from the as-of month) */
} se_forecast_month;
int se_report_forecast_months(const se_report *rep, int funnel, size_t i, se_forecast_month *out);

/* Backtest (4i): the team forecast replayed as of cut i (0 .. SE_BACKTEST_CUTS-1,
 * oldest first), against what was won after it. */
typedef struct se_backtest {
	int64_t cutoff;                /* UTC seconds */
	int64_t deals;
	se_money amount, forecast_stage, forecast_shrunk;
	int64_t won_deals;             /* of those deals, won after the cutoff (by as-of) */
	se_money won_amount;
	se_money still_open;           /* amount of those deals still open now */
	se_money forecast_time;        /* time-aware: expected won within the horizon */
	int64_t won_h_deals;           /* won within the horizon after the cutoff */
	se_money won_h_amount;
	int64_t time_deals;            /* open deals the time-aware forecast saw (== deals) */
} se_backtest;
int se_report_backtest(const se_report *rep, int funnel, int cut, se_backtest *out);

/* A source in a bucket (4j).  Money in kopecks; spend -1 when the period
 * has no monthly spend (day and week). */
typedef struct se_channel {
	int64_t leads, won;
	se_money revenue, spend;
	se_money cpl, cps;             /* spend / leads, spend / won; -1 when not defined */
	double romi;                   /* (revenue - spend) / spend; NAN when not defined */
	double cmh_z;                  /* within-manager comparison with the other sources; NAN untested */
	double p, q;                   /* its two-sided p and Benjamini-Hochberg value; NAN untested */
	const char *untestable;        /* why there is no test ("one manager", ...), or NULL */
	int weak;                      /* tested, cmh_z < 0 and q <= SE_FDR_LEVEL */
} se_channel;
int se_report_channel(const se_report *rep, int funnel, int64_t bucket, uint32_t source, se_channel *out);
/* Managers (not "(none)") with leads in a bucket: the within-manager
 * test's strata (family.c keeps them per bucket). */
int64_t se_report_managers_in(const se_report *rep, int funnel, int64_t bucket);
int se_report_source_step(const se_report *rep, int funnel, int pair, int64_t bucket, uint32_t source,
                          se_pair_cell *out);

/* The foundation reports' numbers for one bucket, so a bucket can be set
 * next to the previous one (compare, 4k): leads of a manager, source or the
 * team; a pair's counts for a manager or the team; won and revenue of the
 * team's leads (sources). */
int64_t se_report_leads(const se_report *rep, int funnel, int64_t bucket, enum se_dim dim, uint32_t id);
int se_report_pair(const se_report *rep, int funnel, int pair, int64_t bucket, uint32_t manager, se_pair_cell *out);
int se_report_won(const se_report *rep, int funnel, int64_t bucket, int64_t *won, se_money *revenue);

#endif
