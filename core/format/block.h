/*
 * format/block.h: the printed shape of a report run, between the numbers
 * (report.h's accessors) and the bytes of a format.
 *
 * Owns: the block model (a block is one report for one funnel, or one pair
 * or metric of it: typed columns and rows of typed cells), the one table of
 * report descriptors (se_report_descs: name, --report option and bit,
 * columns, builder, title and per-format hooks) and the writers' interface.
 * Files of this folder:
 *   cells.c       blocks, rows, cells and their text (the bottom)
 *   output.c      se_report_write: picks the writer, hands it the blocks
 *   blockset.c    the blocks of every asked report, in print order: built
 *                 whole, or lazily as a streaming writer reads them
 *   reports.c     the descriptor table, columns and titles, name lookups
 *   build_*.c     block builders by report group (counts, team, forecast,
 *                 sources, compare)
 *   write_*.c     one writer per output format
 * Never: computes a metric (builders read numbers through report.h's
 * accessors and only turn them into cells), or prints to a stream it was
 * not handed.
 *
 * Adding a report: a row in se_report_descs (reports.c) with its columns,
 * and its builder in the build_*.c of its group (declared below); a new
 * --report option also needs its SE_REPORT_* bit in salesengine.h.  Every
 * writer then prints it with no change.
 *
 * Adding a format: a writer (se_block_writer) in write_NAME.c and a row in
 * output.c's format table.  A writer receives the finished blocks (in
 * descriptor order, then funnel, then pair or metric), the report for its
 * header (as_of, zone, period, counts), the stream and options; it reads
 * cells through se_cell_text() (CSV and table text) or the cell fields by
 * their column type (typed formats), and never calls back into the report
 * beyond report.h's read-only fields.
 */
#ifndef SE_FORMAT_BLOCK_H
#define SE_FORMAT_BLOCK_H

#include "report.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* What a cell holds, so each format prints it its own way. */
typedef enum se_ctype {
	SE_T_STR, SE_T_INT, SE_T_AMOUNT, SE_T_PCT, SE_T_BOOL,
	SE_T_HOURS,  /* i: seconds; hours with one decimal (JSON: whole seconds) */
	SE_T_REAL,   /* d: two decimals */
	SE_T_FLAG,   /* i: 0/1; "yes" in the table */
	SE_T_NUM,    /* a number already formatted in buf (JSON: unquoted); null: none */
	SE_T_METRIC  /* a metric{} value in d, its enum se_metric_format in i */
} se_ctype;

enum { SE_IN_CSV = 1, SE_IN_TABLE = 2, SE_IN_ALL = 3 };

typedef struct se_col {
	const char *csv;     /* CSV and table header */
	const char *json;    /* JSON key, NULL: not in JSON rows */
	se_ctype type;
	int where;           /* SE_IN_CSV | SE_IN_TABLE */
} se_col;

typedef struct se_cell {
	se_money i;          /* SE_T_INT, SE_T_BOOL; SE_T_AMOUNT: kopecks, exact */
	double d;            /* SE_T_PCT: ratio 0..1 */
	int64_t tenths;      /* SE_T_PCT from counts or kopecks: tenths of a percent, exact */
	const char *s;       /* SE_T_STR: points to names; NULL when the text is in buf */
	int null;            /* SE_T_PCT with a zero denominator; any type: no value */
	int exact;           /* tenths is set */
	char buf[40];        /* short text owned by the cell (rows move when the block grows) */
} se_cell;

struct se_report_desc;

typedef struct se_block {
	const struct se_report_desc *desc;
	int funnel;          /* SE_NONE for reports of the whole store */
	int pair;            /* conversion: index into the funnel's pairs; metrics: the metric */
	const se_col *cols;
	int ncols;
	char *label;         /* conversion: "from -> to" the rows point to (heap: blocks move) */
	char **labels;       /* per pair of the funnel, for blocks with rows of several pairs */
	int n_labels;
	se_cell *cells;      /* rows * ncols */
	size_t rows, cap;
	int failed;          /* out of memory while adding rows */
} se_block;

typedef struct se_blocks {
	se_block *v;
	size_t n, cap;
	/* Built whole (se_blocks_build_mask), or lazy (se_blocks_lazy): then
	 * it holds one report's blocks for one funnel at a time, built when a
	 * writer asks for them, and the whole run's cells (megabytes on a big
	 * store, each a fresh page to fault in) are never in memory at once. */
	const se_report *rep;
	unsigned mask;
	int lazy;
	int failed;          /* a lazy set ran out of memory building blocks */
} se_blocks;

/* Where se_blocks_next is: the block, and the report and funnel it built
 * last (k, f; f -2 before the first funnel of report k). */
typedef struct se_block_iter {
	size_t i, k;
	int f;
} se_block_iter;
#define SE_BLOCK_ITER_INIT { 0, 0, -2 }

/* ---- the descriptor table ------------------------------------------------ */

/* Appends the blocks of one report for funnel f (SE_NONE for a report of
 * the whole store); memory errors are marked on the block (failed). */
typedef void (*se_block_builder)(const se_report *rep, const struct se_report_desc *d, se_blocks *bs,
                                 int f);
/* A title computed from the run's settings, funnel name included. */
typedef void (*se_title_fn)(const se_report *rep, const se_block *b, char *buf, size_t size);
/* JSON: the keys that open a block's object before its "rows" (no braces). */
typedef void (*se_json_head_fn)(const se_report *rep, const se_block *b, FILE *out);

typedef struct se_report_desc {
	const char *name;          /* CSV "report" column and JSON key */
	const char *option;        /* the --report name that asks for it */
	unsigned flag;             /* its SE_REPORT_* bit */
	int per_funnel;            /* 0: one block for the whole store (funnel SE_NONE) */
	const se_col *cols;
	int ncols;
	se_block_builder build;
	/* table */
	const char *title;         /* "FUNNEL: title", or title_fn when NULL */
	se_title_fn title_fn;
	const char *empty;         /* the line for a block without rows; NULL: "(no data)" */
	/* JSON */
	se_json_head_fn json_head; /* set: each block is an object {head, "rows": [...]} */
	int (*json_present)(const se_report *rep); /* NULL: present whenever asked */
} se_report_desc;

extern const se_report_desc se_report_descs[];
extern const size_t se_n_report_descs;

/* ---- writers --------------------------------------------------------------- */

/* The public options (salesengine.h), language resolved. */
typedef se_write_options se_write_opts;

/* Prints every block to out; 0, or an SE_* code with err set (the caller
 * checks the stream, and bs->failed, itself after the writer returns).
 * The writers that stream (table, CSV, JSON: output.c's table) get a lazy
 * set and read it through se_blocks_next or se_blocks_select only; the
 * others get it built whole. */
typedef int (*se_block_writer)(const se_report *rep, se_blocks *bs, FILE *out,
                               const se_write_opts *opts, se_error *err);

int se_write_table(const se_report *rep, se_blocks *bs, FILE *out, const se_write_opts *opts,
                   se_error *err);
int se_write_csv(const se_report *rep, se_blocks *bs, FILE *out, const se_write_opts *opts,
                 se_error *err);
int se_write_json(const se_report *rep, se_blocks *bs, FILE *out, const se_write_opts *opts,
                  se_error *err);
int se_write_prometheus(const se_report *rep, se_blocks *bs, FILE *out,
                        const se_write_opts *opts, se_error *err);
int se_write_html(const se_report *rep, se_blocks *bs, FILE *out, const se_write_opts *opts,
                  se_error *err);
int se_write_xlsx(const se_report *rep, se_blocks *bs, FILE *out, const se_write_opts *opts,
                  se_error *err);

/* The digest (write_digest.c): at most 40 lines of text for people, from
 * blocks it builds itself; table and HTML print it first. */
typedef struct se_digest_line {
	char text[512];
	int heading;               /* a section's first line */
} se_digest_line;
#define SE_DIGEST_LINES 40
int se_digest_lines(const se_report *rep, const se_write_opts *opts, se_digest_line *lines,
                    int *n);
int se_write_digest(const se_report *rep, FILE *out, const se_write_opts *opts, se_error *err);

/* The blocks of every report in mask (rep->reports when 0). */
int se_blocks_build_mask(const se_report *rep, unsigned mask, se_blocks *bs);
/* The first block of the report named name (descriptor name) for funnel f,
 * built alone; NULL when the report has none or memory ran out. */
const se_report_desc *se_report_desc_named(const char *name);

/* The table title of a block. */
void se_block_title(const se_report *rep, const se_block *b, char *buf, size_t size);

/* ---- building blocks (blockset.c; the rest in cells.c) -------------------- */

/* Every report rep->reports asks for, descriptor outer and funnel inner
 * (CSV then needs one header per report).  0 or SE_ENOMEM. */
int se_blocks_build(const se_report *rep, se_blocks *bs);
void se_blocks_free(se_blocks *bs);
/* Drops every block bs holds, keeping the array. */
void se_blocks_clear(se_blocks *bs);

/* Makes bs an empty lazy set of the reports in mask (rep->reports when 0). */
void se_blocks_lazy(se_blocks *bs, const se_report *rep, unsigned mask);
/* The next block in the order se_blocks_build_mask builds them (a lazy
 * set builds each report's blocks for a funnel when it gets there,
 * dropping the ones before); NULL after the last, or when memory ran out
 * (bs->failed). */
const se_block *se_blocks_next(se_blocks *bs, se_block_iter *it);
/* Makes bs->v[0 .. bs->n) hold at least the blocks of report d for funnel
 * f (SE_NONE: a report of the whole store), none when the set's mask
 * leaves d out: a lazy set builds them now, dropping what it held; a set
 * built whole holds every block already.  0 or SE_ENOMEM (bs->failed). */
int se_blocks_select(se_blocks *bs, const se_report_desc *d, int f);

/* A new empty block of descriptor d; NULL when memory runs out. */
se_block *se_block_new(se_blocks *bs, const se_report_desc *d, int funnel, int pair);
/* Appends an empty row; the caller fills its cells in column order. */
se_cell *se_block_row(se_block *b);
/* A new row opened by its four label cells: funnel, what (copied when copy
 * is set: a bucket label lives on the caller's stack), dimension, name. */
se_cell *se_label_row(se_block *b, const char *funnel, const char *what, int copy, const char *dim,
                      const char *name);

/* "A -> B", and " within 30d" when the pair has a window, so two pairs of
 * the same stages stay apart in CSV; malloc'd. */
int se_pair_label(const se_funnel *fn, const se_pair *p, char **out);
/* Labels of every pair of the funnel, owned by the block. */
int se_pair_labels(se_block *b, const se_funnel *fn);

const char *se_manager_name(const se_report *rep, uint32_t id);
const char *se_source_name(const se_report *rep, uint32_t id);
/* The rows [lo, hi) two grids span together (b may be NULL). */
void se_grid_span(const se_grid *a, const se_grid *b, int64_t *lo, int64_t *hi);

/* ---- cells ------------------------------------------------------------------ */

static inline void se_set_str(se_cell *c, const char *s)
{
	c->s = s;
}

/* s copied into the cell, cut at its buffer's end as snprintf would cut
 * it, without snprintf's cost: a big report copies a label or two into
 * each of tens of thousands of rows. */
static inline void se_set_copy(se_cell *c, const char *s)
{
	size_t n = 0;

	for (; n < sizeof c->buf - 1 && s[n] != '\0'; n++)
		c->buf[n] = s[n];
	c->buf[n] = '\0';
	c->s = NULL;
}

static inline const char *se_cell_str(const se_cell *c)
{
	return c->s ? c->s : c->buf;
}

static inline void se_set_ratio(se_cell *c, double num, double den)
{
	c->null = den == 0;
	c->d = den == 0 ? 0 : num / den;
	c->exact = 0;
}

/* Tenths of a percent, halves rounded up, exactly from counts (so 1/16 is
 * 6.3, never 6.2 by a binary accident): computed once, here, as the row is
 * filled (a block holds rows of every report at once: cells stay small). */
static inline void se_set_count_ratio(se_cell *c, se_money num, se_money den)
{
	se_set_ratio(c, (double)num, (double)den);
	if (den > 0 && num >= 0) {
		se_money t = (2000 * num + den) / (2 * den);

		c->tenths = t > INT64_MAX ? INT64_MAX : (int64_t)t;
		c->exact = 1;
	}
}

static inline void se_set_hours(se_cell *c, int64_t seconds, int64_t n)
{
	c->i = seconds;
	c->null = n <= 0;
}

/* Kopecks, or no value when negative (spend unknown, CPL undefined). */
static inline void se_set_money(se_cell *c, se_money kopecks)
{
	c->i = kopecks;
	c->null = kopecks < 0;
}

static inline void se_set_real(se_cell *c, double d, int null)
{
	c->d = d;
	c->null = null;
}

/* A probability (a p-value) as an SE_T_NUM: six significant digits, so
 * small ones stay readable (4.75964e-08); null when NAN (no test). */
static inline void se_set_prob(se_cell *c, double p)
{
	c->null = p != p;
	if (!c->null)
		snprintf(c->buf, sizeof c->buf, "%.6g", p);
	c->s = NULL;
}

/* An SE_T_REAL value as the machine formats carry it: four decimals (the
 * table and CSV print two). */
static inline double se_real_rounded(double d)
{
	return round(d * 10000.0) / 10000.0;
}

/* Tenths of a percent, halves rounded up: exactly from counts (so 1/16 is
 * 6.3, never 6.2 by a binary accident), else from the ratio. */
int64_t se_pct_tenths(const se_cell *c);
/* Text of a cell for CSV (table = 0) and the table (table = 1: "-" for no
 * value, "yes"/"open" for flags); buf (64 bytes) when it must be formatted. */
const char *se_cell_text(const se_col *c, const se_cell *v, char *buf, size_t size, int table);

/* ---- finding cells by column (the digest, the page, the workbook) -------- */

/* The index of the column whose CSV name is csv; -1 when the block has none. */
static inline int se_block_col(const se_block *b, const char *csv)
{
	for (int c = 0; c < b->ncols; c++)
		if (strcmp(b->cols[c].csv, csv) == 0)
			return c;
	return -1;
}

/* Row r's cell of column csv; NULL when the block has no such column. */
static inline const se_cell *se_block_cell(const se_block *b, size_t r, const char *csv)
{
	int c = se_block_col(b, csv);

	return c < 0 ? NULL : &b->cells[r * (size_t)b->ncols + c];
}

/* Row r's text of column csv; "" when the block has no such column. */
static inline const char *se_block_str(const se_block *b, size_t r, const char *csv)
{
	const se_cell *c = se_block_cell(b, r, csv);

	return c ? se_cell_str(c) : "";
}

/* ---- builders, by group ------------------------------------------------------- */

/* build_counts.c: the foundation reports */
void se_build_leads(const se_report *rep, const se_report_desc *d, se_blocks *bs, int f);
void se_build_conversion(const se_report *rep, const se_report_desc *d, se_blocks *bs, int f);
void se_build_presale(const se_report *rep, const se_report_desc *d, se_blocks *bs, int f);
void se_build_sources(const se_report *rep, const se_report_desc *d, se_blocks *bs, int f);
void se_build_unknown(const se_report *rep, const se_report_desc *d, se_blocks *bs, int f);
void se_build_metrics(const se_report *rep, const se_report_desc *d, se_blocks *bs, int f);
/* build_team.c: handling, managers against the team, velocity */
void se_build_handling(const se_report *rep, const se_report_desc *d, se_blocks *bs, int f);
void se_build_diagnostics(const se_report *rep, const se_report_desc *d, se_blocks *bs, int f);
void se_build_style(const se_report *rep, const se_report_desc *d, se_blocks *bs, int f);
void se_build_velocity(const se_report *rep, const se_report_desc *d, se_blocks *bs, int f);
void se_build_to_won(const se_report *rep, const se_report_desc *d, se_blocks *bs, int f);
void se_build_stale(const se_report *rep, const se_report_desc *d, se_blocks *bs, int f);
/* build_forecast.c */
void se_build_forecast(const se_report *rep, const se_report_desc *d, se_blocks *bs, int f);
void se_build_forecast_month(const se_report *rep, const se_report_desc *d, se_blocks *bs, int f);
void se_build_backtest(const se_report *rep, const se_report_desc *d, se_blocks *bs, int f);
/* build_sources.c: channels */
void se_build_source_steps(const se_report *rep, const se_report_desc *d, se_blocks *bs, int f);
void se_build_channels(const se_report *rep, const se_report_desc *d, se_blocks *bs, int f);
/* build_compare.c */
void se_build_compare(const se_report *rep, const se_report_desc *d, se_blocks *bs, int f);

#endif
