/*
 * store/events.c: storing events, and keeping the rows an import inserted
 * for the history cache's refresh.
 *
 * Never: merges the cache itself (cache.c does) or interns names.
 */
#include "store_int.h"

#include <math.h>
#include <string.h>

/* Kept rows and the import's deal keys together stay under this.  When
 * the kept rows come near it (within CAPTURE_RESERVE, room for the rest of
 * a batch) they are folded into the cache after the batch's commit
 * (se_store_fold) and keeping starts again; past it (a batch larger than
 * the reserve) the rest of the import is read back from SQL instead, as it
 * was before rows were kept.  1M deals and 3.2M rows take 64 + 44 MiB;
 * with SQLite's cache and the rest an import stays near 180 MiB. */
#define CAPTURE_BUDGET ((size_t)136 << 20)
#define CAPTURE_RESERVE ((size_t)6 << 20)
/* A capture allowed less than this is not folded (each fold rewrites the
 * chunks it touches): it freezes at its limit, as before folding. */
#define CAPTURE_FOLD_MIN ((size_t)8 << 20)

/* ---- rows kept from the import ---------------------------------------------- */

/*
 * The cache refresh after an import needs every new row's deal, time,
 * status, pipeline, manager, source, amount and rowid.  Reading them back
 * from SQL costs a second pass over the table; but the insert knew them
 * all, so the rows this connection inserts are kept (st->cap, packed small
 * by history.c) and the refresh takes them from memory.
 *
 * The rule that keeps this exact: the kept rows are every row of the table
 * in (cap_base, cap_last], nothing missing.  A full multi-row insert gets
 * consecutive rowids ending at sqlite3_last_insert_rowid() (each new row
 * takes max(rowid) + 1); a group with duplicates reads its new rows back
 * (a few, from the end of the table).  When another connection may have
 * appended rows (checked at each transaction's first insert) or memory
 * runs short (CAPTURE_BUDGET), the capture freezes: rows after cap_last
 * are read from SQL as before.  A rollback drops it: its rows may be gone.
 * Memory only: a killed import loses it, and the refresh from
 * meta.cache_rowid reads everything from SQL.  A capture near its budget
 * is folded into the cache between two batches (cache.c) and dropped; the
 * next transaction starts a new one where the table ends.
 */

/* One row of ST_DELTA_ROWS. */
void delta_row_read(sqlite3_stmt *s, delta_row *r)
{
	r->id = sqlite3_column_int64(s, 0);
	r->deal = (uint32_t)sqlite3_column_int64(s, 1);
	r->ts = sqlite3_column_int64(s, 2);
	r->status = (uint32_t)sqlite3_column_int64(s, 3);
	r->pipeline = (uint32_t)sqlite3_column_int64(s, 4);
	r->manager = (uint32_t)sqlite3_column_int64(s, 5);
	r->source = (uint32_t)sqlite3_column_int64(s, 6);
	r->amount = sqlite3_column_type(s, 7) == SQLITE_NULL ? NAN : sqlite3_column_double(s, 7);
}

se_history_row history_row(const delta_row *d)
{
	se_history_row r = {
		.deal = d->deal, .ts = d->ts, .rowid = d->id,
		.status = d->status, .pipeline = d->pipeline,
		.manager = d->manager, .source = d->source, .amount = d->amount,
	};

	return r;
}

void capture_drop(se_store *st)
{
	se_history_delta_free(st->cap);
	st->cap = NULL;
	st->cap_state = CAP_NONE;
	st->cap_full = 0;
}

void se_store_limit_capture(se_store *st, size_t bytes)
{
	st->cap_budget = bytes;
}

/* What the kept rows may take now: the budget less what the deal keys may
 * take in this transaction (they grow as an import numbers deals). */
static size_t capture_limit(const se_store *st)
{
	size_t deal_keys = deal_maps_bytes(st), budget = CAPTURE_BUDGET >> st->mem_shift;

	if (st->cap_budget != 0)
		return st->cap_budget;
	return deal_keys < budget ? budget - deal_keys : 0;
}

/* Room left for the rest of a batch once the capture asks to be folded. */
static size_t capture_reserve(const se_store *st, size_t limit)
{
	size_t most = CAPTURE_RESERVE >> st->mem_shift;

	return limit / 4 < most ? limit / 4 : most;
}

/* Whether a capture this large is worth folding: each fold rewrites the
 * chunks it touches, so a capture left less than CAPTURE_FOLD_MIN by the
 * deal keys freezes at its limit instead, as before folding. */
static int capture_may_fold(const se_store *st, size_t limit)
{
	return limit >= (CAPTURE_FOLD_MIN >> st->mem_shift) || st->cap_budget != 0;
}

/* Between two transactions: fold the kept rows now?  When they came near
 * their limit, or when the deal keys have grown since the transaction
 * began and left them less room than they take (the next transaction's
 * first row would freeze them). */
int capture_wants_fold(const se_store *st)
{
	size_t limit;

	if (st->cap_state != CAP_ACTIVE)
		return 0;
	if (st->cap_full)
		return 1;
	limit = capture_limit(st);
	return capture_may_fold(st, limit) && se_history_delta_rows(st->cap) > 0 &&
	       se_history_delta_bytes(st->cap) + capture_reserve(st, limit) >= limit;
}

/* Before each insert statement.  The transaction's first insert makes sure
 * the kept rows still end where the table does, or starts keeping them. */
static int capture_check(se_store *st, se_error *err)
{
	sqlite3_stmt *s = st->stmt[ST_MAX_EVENT];
	int64_t top;
	int rc;

	if (st->cap_checked || st->cap_state == CAP_FROZEN)
		return SE_OK;
	if (!st->in_tx) {
		/* Autocommit: another writer may slip in between two statements. */
		if (st->cap_state == CAP_ACTIVE)
			st->cap_state = CAP_FROZEN;
		return SE_OK;
	}
	rc = sqlite3_step(s);
	top = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	if (rc != SQLITE_ROW)
		return db_error(st, err, "reading the last event");
	st->cap_checked = 1;
	st->cap_limit = capture_limit(st);
	if (st->cap_state == CAP_ACTIVE) {
		if (top != st->cap_last)
			st->cap_state = CAP_FROZEN; /* someone else appended rows */
		return SE_OK;
	}
	if (se_history_delta_new(&st->cap, err) != SE_OK)
		return SE_OK; /* no memory to spare: the refresh reads SQL */
	st->cap_base = st->cap_last = top;
	st->cap_state = CAP_ACTIVE;
	return SE_OK;
}

/* Keeps one inserted row; it must be the next one after cap_last.  Near
 * the limit the capture asks to be folded; at it, it freezes. */
static void capture_row(se_store *st, const se_history_row *r)
{
	size_t reserve = capture_reserve(st, st->cap_limit);
	se_error ignored;

	if (r->rowid != st->cap_last + 1 || se_history_delta_bytes(st->cap) >= st->cap_limit ||
	    se_history_delta_add(st->cap, r, &ignored) != SE_OK) {
		st->cap_state = CAP_FROZEN;
		return;
	}
	st->cap_last = r->rowid;
	if (se_history_delta_bytes(st->cap) + reserve >= st->cap_limit && capture_may_fold(st, st->cap_limit))
		st->cap_full = 1;
}

static void capture_event(se_store *st, const se_event_in *ev, int64_t rowid)
{
	se_history_row r = {
		.deal = ev->deal, .ts = ev->ts, .rowid = rowid,
		.status = ev->status, .pipeline = ev->pipeline,
		.manager = ev->manager, .source = ev->source, .amount = ev->amount,
	};

	/* Exactly what SQL would give back: SQLite stores a whole REAL as an
	 * integer, so -0.0 reads back as 0.0 (and NaN, none, as NULL). */
	if (r.amount == 0)
		r.amount = 0;
	capture_row(st, &r);
}

/* Reads back the rows the last statement added (when a group had
 * duplicates, which of its rows are new is not known otherwise). */
static int capture_read_back(se_store *st, int n, se_error *err)
{
	sqlite3_stmt *s = st->stmt[ST_DELTA_ROWS];
	int rc;

	sqlite3_bind_int64(s, 1, st->cap_last);
	sqlite3_bind_int64(s, 2, n);
	sqlite3_bind_int64(s, 3, INT64_MAX);
	while (st->cap_state == CAP_ACTIVE && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		delta_row d;
		se_history_row r;

		delta_row_read(s, &d);
		r = history_row(&d);
		capture_row(st, &r);
	}
	rc = sqlite3_reset(s);
	if (rc != SQLITE_OK)
		return db_error(st, err, "reading new events back");
	return SE_OK;
}

/* After a group insert that added `changes` rows. */
static int capture_group(se_store *st, int changes, se_error *err)
{
	int64_t first = st->cap_last + 1;

	if (st->cap_state != CAP_ACTIVE || changes == 0)
		return SE_OK;
	if (changes < SE_STORE_GROUP || sqlite3_last_insert_rowid(st->db) != st->cap_last + SE_STORE_GROUP)
		return capture_read_back(st, changes, err);
	for (int r = 0; r < SE_STORE_GROUP; r++)
		capture_event(st, &st->queued[r], first + r);
	return SE_OK;
}

static void bind_id(sqlite3_stmt *s, int col, uint32_t id)
{
	if (id == 0)
		sqlite3_bind_null(s, col);
	else
		sqlite3_bind_int64(s, col, id);
}

static const char content_prefix[] = "content:";

/* Each lower-case hex digit's value plus one, 0 for every other byte: one
 * lookup a digit and no branch on which kind of digit it is (the keys'
 * digits are random, so such a branch was mispredicted half the time). */
static const unsigned char hex_value[256] = {
	['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5, ['5'] = 6, ['6'] = 7, ['7'] = 8, ['8'] = 9,
	['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
};

int content_blob_of(const char *key, size_t len, unsigned char out[SE_CONTENT_BLOB_LEN])
{
	const unsigned char *h = (const unsigned char *)key + 8;
	unsigned bad = 0;

	if (len != SE_CONTENT_TEXT_LEN || memcmp(key, content_prefix, 8) != 0)
		return 0;
	for (int i = 0; i < SE_CONTENT_BLOB_LEN; i++) {
		unsigned hi = hex_value[h[2 * i]], lo = hex_value[h[2 * i + 1]];

		bad |= (hi == 0) | (lo == 0);
		out[i] = (unsigned char)((hi - 1) << 4 | (lo - 1));
	}
	return !bad;
}

void content_text_of(const unsigned char blob[SE_CONTENT_BLOB_LEN], char out[SE_CONTENT_TEXT_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";

	memcpy(out, content_prefix, 8);
	for (int i = 0; i < SE_CONTENT_BLOB_LEN; i++) {
		out[8 + 2 * i] = digits[blob[i] >> 4];
		out[9 + 2 * i] = digits[blob[i] & 15];
	}
	out[SE_CONTENT_TEXT_LEN] = '\0';
}

/* Binds one event's ten values starting at parameter base + 1; a content
 * key as its bytes, put in blob (which must last until the step). */
static void bind_event(sqlite3_stmt *s, int base, const se_event_in *ev, unsigned char *blob)
{
	if (content_blob_of(ev->key, ev->key_len, blob))
		sqlite3_bind_blob(s, base + 1, blob, SE_CONTENT_BLOB_LEN, SQLITE_STATIC);
	else
		sqlite3_bind_text(s, base + 1, ev->key, (int)ev->key_len, SQLITE_STATIC);
	sqlite3_bind_int64(s, base + 2, ev->deal);
	sqlite3_bind_int64(s, base + 3, ev->ts);
	sqlite3_bind_int64(s, base + 4, ev->status);
	bind_id(s, base + 5, ev->from_status);
	bind_id(s, base + 6, ev->manager);
	bind_id(s, base + 7, ev->source);
	if (isnan(ev->amount))
		sqlite3_bind_null(s, base + 8);
	else
		sqlite3_bind_double(s, base + 8, ev->amount);
	bind_id(s, base + 9, ev->pipeline);
	bind_id(s, base + 10, ev->currency);
}

int se_store_insert_event(se_store *st, const se_event_in *ev, int *inserted, se_error *err)
{
	sqlite3_stmt *s = st->stmt[ST_EVENT_INSERT];
	int rc;

	if ((rc = flush_queued_deals(st, err)) != SE_OK) /* the event's deal must exist first */
		return rc;
	if ((rc = capture_check(st, err)) != SE_OK)
		return rc;
	bind_event(s, 0, ev, st->single_blob);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return db_error(st, err, "storing an event");
	*inserted = sqlite3_changes(st->db) > 0;
	if (*inserted)
		st->tx_inserted++;
	else
		st->tx_ignored++;
	if (*inserted && st->cap_state == CAP_ACTIVE)
		capture_event(st, ev, sqlite3_last_insert_rowid(st->db));
	return SE_OK;
}

/* Writes a full group with one statement; only how many rows were new is
 * known, which is all the import summary needs. */
static int flush_group(se_store *st, se_error *err)
{
	sqlite3_stmt *s = st->stmt[ST_EVENT_INSERT_GROUP];
	int rc, changes;

	if ((rc = capture_check(st, err)) != SE_OK)
		return rc;
	for (int r = 0; r < SE_STORE_GROUP; r++)
		bind_event(s, r * EVENT_PARAMS, &st->queued[r], st->queued_blobs[r]);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return db_error(st, err, "storing an event");
	changes = sqlite3_changes(st->db);
	st->tx_inserted += changes;
	st->tx_ignored += SE_STORE_GROUP - changes;
	st->n_queued = 0;
	return capture_group(st, changes, err);
}

/* A partial group (end of a batch) goes row by row. */
int flush_queued(se_store *st, se_error *err)
{
	int n = st->n_queued, inserted, rc;

	st->n_queued = 0;
	for (int r = 0; r < n; r++)
		if ((rc = se_store_insert_event(st, &st->queued[r], &inserted, err)) != SE_OK)
			return rc;
	return SE_OK;
}

int se_store_add_event(se_store *st, const se_event_in *ev, se_error *err)
{
	se_event_in *q;

	if (ev->key_len > SE_STORE_MAX_KEY)
		return se_error_set(err, SE_EINPUT, "event id longer than %d bytes", SE_STORE_MAX_KEY);
	q = &st->queued[st->n_queued];
	*q = *ev;
	memcpy(st->queued_keys[st->n_queued], ev->key, ev->key_len);
	q->key = st->queued_keys[st->n_queued];
	if (++st->n_queued < SE_STORE_GROUP)
		return SE_OK;
	return flush_group(st, err);
}

void se_store_tx_counts(const se_store *st, int64_t *inserted, int64_t *ignored)
{
	*inserted = st->tx_inserted;
	*ignored = st->tx_ignored;
}
