/*
 * history.h: per-deal event histories, packed into chunks.
 *
 * Owns: the counting core's input format.  Deals are numbered densely from 1
 * as they first appear; SE_CHUNK_DEALS consecutive deal numbers form a chunk,
 * and a chunk's histories are stored as one packed blob: for each deal its
 * manager, source and amount (already resolved by the rules in
 * docs/METRICS.md section 1) and its events in (ts, event_id) order, reduced
 * to what counting needs (time, status id, pipeline id).  Reports read these
 * blobs instead of the events table, so a report costs one sequential pass
 * over compact memory, and an import only repacks the chunks it touched.
 *
 * Never: touches SQLite (the store hands rows in and blobs out) or knows what
 * a status means (that is the rules' business, at report time).
 */
#ifndef SE_HISTORY_H
#define SE_HISTORY_H

#include "error.h"

#include <stddef.h>
#include <stdint.h>

#define SE_CHUNK_SHIFT 12
#define SE_CHUNK_DEALS (1u << SE_CHUNK_SHIFT)
#define SE_HISTORY_MAGIC 0x31484553u /* "SEH1", also catches a foreign byte order */

/* One event as the store reads it back for packing.  key is copied on add;
 * it may be NULL when rowid is set, and is then fetched (through the
 * builder's key_fetch callback) only if the event ties with another of its
 * deal on ts, the one case where the event_id decides the order. */
typedef struct se_history_row {
	int64_t deal;
	int64_t ts;
	int64_t rowid;      /* the event's row in the store, 0 if unknown */
	const char *key;
	size_t key_len;
	uint32_t status;
	uint32_t pipeline;  /* 0 = none */
	uint32_t manager;   /* 0 = none */
	uint32_t source;    /* 0 = none */
	double amount;      /* NAN = none */
} se_history_row;

typedef struct se_history_builder se_history_builder;

int se_history_builder_new(se_history_builder **out, se_error *err);
void se_history_builder_free(se_history_builder *b);
/* Starts a new chunk: forgets rows added so far, keeps the memory. */
void se_history_builder_reset(se_history_builder *b);
int se_history_builder_add(se_history_builder *b, const se_history_row *row, se_error *err);
/* Sorts the rows added since the reset and packs them.  *blob stays valid
 * until the next reset/free. */
int se_history_builder_pack(se_history_builder *b, const void **blob, size_t *size, se_error *err);

/* The detail blob the last pack wrote beside the data blob: per event, in
 * the same order, what merging new events in later needs and reports do
 * not (rowid, manager, source, amount).  Layout: se_detail_header (magic
 * SED2), then per event varints (LEB128): the rowid's zigzag difference to
 * the previous event's (the first's to 0), manager << 1 | 1 if it has an
 * amount, source; then the amount's 8 bytes if it has one.  Stores written
 * before hold SED1 blobs: se_detail_event[n_events] after the header;
 * they are still read, and rewritten as SED2 when their chunk is. */
void se_history_builder_detail(const se_history_builder *b, const void **blob, size_t *size);

/* Adds back every event of an already packed chunk (data + detail), so new
 * events can be merged in without reading the old ones from SQL. */
int se_history_builder_add_packed(se_history_builder *b, const void *data, size_t data_size,
                                  const void *detail, size_t detail_size, se_error *err);

/* Fetches the event_id of the event stored at rowid into *key (valid until
 * the next call); returns 0 or an SE_E* code. */
typedef int (*se_key_fetch_fn)(void *ud, int64_t rowid, const char **key, size_t *len, se_error *err);
void se_history_builder_key_fetch(se_history_builder *b, se_key_fetch_fn fn, void *ud);

/* Rows an import wrote, kept in memory for the cache refresh so it need
 * not read them back from SQL.  Rows are grouped by chunk as they come and
 * packed with variable-length numbers (about 12 bytes a row instead of the
 * 48 a read-back row takes), so a large import's rows fit beside its deal
 * keys.  Rows must be added in increasing rowid order. */
typedef struct se_history_delta se_history_delta;

int se_history_delta_new(se_history_delta **out, se_error *err);
void se_history_delta_free(se_history_delta *d);
int se_history_delta_add(se_history_delta *d, const se_history_row *row, se_error *err);
/* Bytes held, and rows added. */
size_t se_history_delta_bytes(const se_history_delta *d);
int64_t se_history_delta_rows(const se_history_delta *d);
/* The lowest chunk id above `after` that holds rows, or -1. */
int64_t se_history_delta_next_chunk(const se_history_delta *d, int64_t after);
/* Adds the chunk's rows to the builder and frees them. */
int se_history_delta_take(se_history_delta *d, int64_t chunk, se_history_builder *b, se_error *err);

/* Reading a packed chunk.  Layout (native byte order, 8-byte aligned):
 *   se_chunk_header, se_chunk_deal[n_deals], se_chunk_event[n_events]
 * Deals appear in increasing id order; each deal's events follow the
 * previous deal's in the events array. */
typedef struct se_chunk_header {
	uint32_t magic;
	uint32_t n_deals;
	uint32_t n_events;
	uint32_t reserved;
} se_chunk_header;

typedef struct se_chunk_deal {
	uint32_t deal;       /* deal number (row id in table deal) */
	uint32_t n_events;
	uint32_t manager;    /* latest non-empty, 0 = none */
	uint32_t source;     /* earliest non-empty, 0 = none */
	double amount;       /* latest non-empty, NAN = none */
} se_chunk_deal;

typedef struct se_chunk_event {
	int64_t ts;
	uint32_t status;
	uint32_t pipeline;
} se_chunk_event;

#define SE_DETAIL_MAGIC 0x31444553u  /* "SED1": fixed records */
#define SE_DETAIL_MAGIC2 0x32444553u /* "SED2": varints */

typedef struct se_detail_header {
	uint32_t magic;
	uint32_t n_events;
} se_detail_header;

typedef struct se_detail_event {
	int64_t rowid;
	uint32_t manager;
	uint32_t source;
	double amount;
} se_detail_event;

typedef struct se_chunk_view {
	const se_chunk_deal *deals;
	const se_chunk_event *events;
	uint32_t n_deals;
	uint32_t n_events;
} se_chunk_view;

/* Checks a blob's header and sizes; SE_EDB "cache chunk is corrupt" if off. */
int se_history_view(const void *blob, size_t size, se_chunk_view *view, se_error *err);

#endif
