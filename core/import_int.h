/*
 * import_int.h: what the two halves of the canonical import share.
 *
 * import_row.c checks one row (required fields, UTF-8, time, amount, the
 * content key) and feeds good ones to the store in batched transactions;
 * import.c reads files (CSV through the reader thread, JSON Lines) and
 * adapters' rows into it.  The arrow points one way: the readers call the
 * row half, never the reverse.
 */
#ifndef SE_IMPORT_INT_H
#define SE_IMPORT_INT_H

#include "colmap.h"
#include "csv.h"
#include "import.h"
#include "store.h"
#include "timeconv.h"

#define DEFAULT_BATCH 100000
#define MAX_KEY_BYTES SE_STORE_MAX_KEY

extern const char *const im_field_names[F_COUNT];

#define N_REQUIRED 4 /* the first four fields of enum field */

_Static_assert(F_COUNT <= 16, "colmap.c keeps 16 fields");

struct importer {
	se_store *st;
	const se_import_opts *opts;
	se_import_stats *stats;
	const char *name;          /* file name used in messages */
	const char *unit;          /* before the line number: "" or "record " */
	int defer_commit;          /* adapters: commit only between records */
	int in_batch;
	int batch_rows;
	int rows_in_batch;         /* handed to the store, outcome known at commit */
	int64_t lost;              /* rows the store failed under: leave the count */
	int64_t held_imported;     /* counted rows of a commit the store holds open */
	int64_t held_duplicates;
	se_deal_numbers *deals;    /* lent to the reader thread, or NULL */
	double last_progress;
	long long size;
	/* CSV without an event_id column: the key is the content's hash
	 * (colmap.h), made by the reader thread, which alone uses key. */
	int content_key;
	/* The reader thread makes a slab's keys together (se_content_keys):
	 * a row keeps key's bytes as a placeholder until then. */
	int defer_key;
	char key[SE_CONTENT_KEY_LEN + 1];
	const se_time_layout *ts_layout; /* columns{} ts_format, or NULL */
	/* The last time read and what it gave: exports write one minute (or
	 * day) on many rows in a row, and parsing is a pure function of the
	 * text for the whole import (zone and layout do not change). */
	char last_ts[32];
	size_t last_ts_len;        /* 0: none yet */
	int64_t last_ts_value;
};

void im_trim(const char **p, size_t *len);
int im_field_by_name(const char *name, size_t len);
void im_reject(importer *im, long line, const char *column, const char *fmt, ...) SE_PRINTF(4, 5);
void im_reject_at(importer *im, long line, long col, const char *column, const char *fmt, ...) SE_PRINTF(5, 6);
void im_progress(importer *im, long long offset, int final);
int im_commit_batch(importer *im, se_error *err);
void im_abandon_batch(importer *im);
int im_ensure_batch(importer *im, se_error *err);
int im_accept_row(importer *im, row_text *row, se_event_in *ev);
/* The same, skipping the UTF-8 and NUL checks of the fields whose bit is
 * set in clean (already checked by the caller). */
int im_accept_row_clean(importer *im, row_text *row, se_event_in *ev, unsigned clean);
int im_write_row(importer *im, const row_text *row, se_event_in *ev, int64_t lent_deal, int deal_is_new, se_error *err);
int im_store_row(importer *im, row_text *row, se_error *err);

#endif
