/*
 * cube.h: the core's counters by (funnel, period bucket, manager, source),
 * for the Lua metrics API and alert rules.
 *
 * Owns: counting each deal once into sparse cells while the report makes
 * its one pass over the deals (report.c calls se_cube_add_deal), and
 * answering sums over any filter (one funnel; one manager or all; one
 * source or all; a range of buckets) without another pass.  The printed
 * reports keep their own dense grids; the cube exists only when a script
 * declares metrics or rules, so plain reports pay nothing for it.
 *
 * Cells hold flows (things that happened at an instant, bucketed by that
 * instant like the reports bucket them) and, under the key
 * SE_CUBE_STATE_BUCKET, the deal's state now (open stage, amount, and the
 * closed/won counts the forecast's win rates come from).
 *
 * Never: touches Lua or SQLite, or keeps per-deal data.
 */
#ifndef SE_CUBE_H
#define SE_CUBE_H

#include "count.h"
#include "pbuf.h"
#include "rules.h"

#define SE_CUBE_ANY (-1)
#define SE_CUBE_STATE_BUCKET INT64_MIN

typedef struct se_cube se_cube;

/* A conversion the cube counts for a funnel: every declared pair (with its
 * window) and every stage -> won that is not declared. */
typedef struct se_cube_pair {
	int from, to;
	int64_t window;
	se_mode mode;   /* the pair's own mode, or SE_MODE_DEFAULT */
} se_cube_pair;

typedef struct se_cube_filter {
	int funnel;
	int64_t manager;            /* id, or SE_CUBE_ANY */
	int64_t source;             /* id, or SE_CUBE_ANY */
	int64_t bucket_lo, bucket_hi; /* inclusive range of bucket keys (flows only) */
} se_cube_filter;

int se_cube_new(se_cube **out, const se_rules *rules, se_error *err);
void se_cube_free(se_cube *c);
/* Before a pass whose deals have managers < n_manager and sources <
 * n_source: an index in front of the cells' hash, when these are few.
 * The cells and their order are the same with it or without. */
void se_cube_index(se_cube *c, uint32_t n_manager, uint32_t n_source);

/* Counts one evaluated deal.  bucket(t) maps an instant to its bucket key;
 * only flows with in_range(t) are counted, as the reports count them.
 * Returns SE_ENOMEM or 0. */
typedef struct se_cube_deal {
	const se_deal_eval *e;
	uint32_t manager, source;
	double amount;
	se_mode report_mode;   /* the mode the deal's state-based counts use */
} se_cube_deal;

typedef int64_t (*se_cube_bucket_fn)(const void *ud, int64_t t);
int se_cube_add_deal(se_cube *c, const se_cube_deal *d, se_cube_bucket_fn bucket,
                     int64_t from_utc, int64_t to_utc, const void *ud);

/* The lowest and highest flow bucket seen for a funnel; 0 when none. */
int se_cube_buckets(const se_cube *c, int funnel, int64_t *lo, int64_t *hi);

/* Deals whose first arrival at stage (under mode) falls in the filter. */
int64_t se_cube_reached(const se_cube *c, const se_cube_filter *q, se_mode mode, int stage);

/* The cube's pair index for from -> to in the funnel with that window in
 * seconds (0: none); with window < 0, the pair without a window if there is
 * one, else the first declared.  -1 when the cube does not count it
 * (declare it in pairs{}). */
int se_cube_pair_index(const se_cube *c, int funnel, int from, int to, int64_t window);
const se_cube_pair *se_cube_pair_at(const se_cube *c, int funnel, int pair);

/* Cohort conversion on a counted pair: *den deals arrived at `from` in the
 * filter, *num of them went on to `to` (within the pair's window). */
void se_cube_conversion(const se_cube *c, const se_cube_filter *q, se_mode mode, int pair,
                        int64_t *num, int64_t *den);

/* Deals that reached won (under mode) in the filter, and their revenue in
 * kopecks. */
void se_cube_won(const se_cube *c, const se_cube_filter *q, se_mode mode, int64_t *deals,
                 int64_t *revenue);

/* Deals lost / marked non-target, bucketed by their last event. */
int64_t se_cube_lost(const se_cube *c, const se_cube_filter *q);
int64_t se_cube_nontarget(const se_cube *c, const se_cube_filter *q);

/* Open deals now at stage (any stage when stage < 0; pre-sale stages only
 * when presale_only): count, amount in kopecks, and how many have none.
 * The bucket range does not apply: this is the state now. */
void se_cube_open(const se_cube *c, const se_cube_filter *q, int stage, int presale_only,
                  int64_t *deals, int64_t *amount, int64_t *no_amount);

/* Forecast in kopecks of the open pre-sale deals in the filter, as
 * docs/METRICS.md 4c defines it: each manager's and stage's amount x that
 * manager's win rate from the stage, else the team's, else 0; each part
 * rounded to the kopeck.  0 or SE_ENOMEM. */
int se_cube_forecast(const se_cube *c, const se_cube_filter *q, int64_t *out);

/* Partials (partial.c): the cells appended to b, and cells read from r
 * added into c (the flow range widened as counting would).  Merging the
 * cubes of any split of the deals gives the cube of all of them.  merge:
 * 0, SE_ENOMEM, or SE_EDB when the bytes are damaged. */
void se_cube_encode(const se_cube *c, se_pbuf *b);
int se_cube_merge(se_cube *c, se_preader *r);
/* Every cell of `from` (a cube of the same rules) added into c, as
 * se_cube_merge adds them from bytes: the pass's second thread counts its
 * chunks into a cube of its own.  0 or SE_ENOMEM. */
int se_cube_add(se_cube *c, const se_cube *from);

/* The cells, for walking which (bucket, manager, source) have data. */
size_t se_cube_n_cells(const se_cube *c);
void se_cube_cell_key(const se_cube *c, size_t i, int *funnel, int64_t *bucket, uint32_t *manager,
                      uint32_t *source);

#endif
