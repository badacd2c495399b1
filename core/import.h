/*
 * import.h: the canonical-row path of import.c, shared with import adapters.
 *
 * Owns: the canonical event fields and one row's check (required fields,
 * UTF-8, key lengths, time, amount) and its way into the store in batched
 * transactions, whoever produced the row: the CSV and JSON Lines readers of
 * import.c or an adapter (adapter.c).  A bad row is reported as
 * "file:LINE: column: reason" (adapters: "file:record N: column: reason")
 * and counted; read == imported + duplicates + rejected.
 *
 * Never: calls Lua.
 */
#ifndef SE_IMPORT_H
#define SE_IMPORT_H

#include "csv.h"
#include "error.h"
#include "store.h"

#include <stddef.h>

enum field {
	F_EVENT_ID,
	F_DEAL_ID,
	F_TS,
	F_STAGE,
	F_MANAGER,
	F_SOURCE,
	F_AMOUNT,
	F_FROM_STAGE,
	F_PIPELINE,
	F_CURRENCY,
	F_COUNT
};

/* One row's fields as text; absent fields have ptr NULL.  line < 0: the
 * row is not at a line (messages name the unit alone). */
/* The largest amount a row may carry, either sign: 10^15 (a quadrillion
 * roubles).  In kopecks that is 10^17, so one amount fits an int64 with
 * room to spare and a sum over 10^9 deals (10^26) stays exact in 128-bit
 * arithmetic.  Larger amounts are rejected, naming the column. */
#define SE_IMPORT_MAX_AMOUNT 1e15

typedef struct row_text {
	const char *ptr[F_COUNT];
	size_t len[F_COUNT];
	long line;
} row_text;

typedef struct importer importer;

/* A row sink for an adapter: counts into *stats (zeroed here), commits
 * only when se_rows_record_done() says a record is complete. */
int se_rows_open(importer **out, se_store *st, const se_import_opts *opts,
                 se_import_stats *stats, se_error *err);
/* Names the place of the rows to come in messages: "name:unitLINE: ...". */
void se_rows_where(importer *im, const char *name, const char *unit);
/* The canonical field of a column or key name (case insensitive), or -1. */
int se_rows_field(const char *name, size_t len);
const char *se_rows_field_name(int f);
/* Checks one row and queues it for the store, or rejects it (reported,
 * counted, *accepted 0, still SE_OK).  An error return is the store's. */
int se_rows_put(importer *im, row_text *row, int *accepted, se_error *err);
/* Opens the batch's transaction if none is open (before state writes). */
int se_rows_begin(importer *im, se_error *err);
/* Between records: commits when the batch is full. */
int se_rows_record_done(importer *im, se_error *err);
/* Commits the open batch now (between records): a sync's page and its
 * cursor are durable before the next request. */
int se_rows_commit(importer *im, se_error *err);
/* Commits what is left (rc == SE_OK) or abandons the open batch, refreshes
 * the history cache, frees im; returns the outcome. */
int se_rows_close(importer *im, int rc, se_error *err);

/* A copy of a CSV header record that outlives the reader's next record
 * (free *fields and *text). */
int se_csv_copy_header(const se_csv_record *src, se_csv_record *dst, se_csv_field **fields,
                       char **text);

#endif
