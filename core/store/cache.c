/*
 * store/cache.c: the per-deal history cache (table deal_chunk) kept beside
 * the events.
 *
 * The cache is derived data: meta.cache_rowid is the highest event row it
 * covers.  se_store_refresh() reads the rows above it in rowid order (a
 * sequential scan, in bounded windows), merges them into the packed chunks
 * of their deals (old events come back from the chunks' own blobs, not
 * from SQL) and moves the mark, in one transaction.  A killed import
 * leaves committed events above the mark, so the next run folds them in:
 * the cache is never silently behind.  The rows this connection inserted
 * itself are merged from memory (events.c).
 *
 * The events are the truth: a chunk that cannot be read (a corrupt blob)
 * makes the refresh, or a reader, rebuild the whole cache from the events,
 * with a warning, instead of failing every report and import after it.
 *
 * Never: writes events.
 */
#include "store_int.h"
#include "vec.h"
#include <malloc.h>
#include <stdio.h>

#include <stdlib.h>
#include <string.h>

/* ---- the history cache -------------------------------------------------- */

static int64_t query_int(sqlite3_stmt *s, int64_t dflt)
{
	int64_t v = dflt;

	if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL)
		v = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	return v;
}

static int64_t meta_get_int(se_store *st, const char *key, int64_t dflt)
{
	sqlite3_bind_text(st->stmt[ST_META_GET], 1, key, -1, SQLITE_STATIC);
	return query_int(st->stmt[ST_META_GET], dflt);
}

static int meta_set_int(se_store *st, const char *key, int64_t value, se_error *err)
{
	sqlite3_stmt *s = st->stmt[ST_META_SET];

	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, value);
	return step_done(st, s, err, "writing meta");
}

/* Rows above the cache mark, read a window at a time so that memory stays
 * bounded however large an import was (1 M rows, 48 MB: the fewer the
 * windows, the fewer times a chunk is rewritten, but rows come in time
 * order and deals are numbered as they first appear, so a window touches
 * mostly the chunks of the deals open in its time). */
#define DELTA_WINDOW 1000000

/* The rows kept from an import are merged in one transaction up to this
 * many bytes of chunks written, then in pieces this size (see
 * merge_from_capture): the WAL holds one piece, whatever the import. */
#define FOLD_PIECE ((size_t)32 << 20)

/* The window's rows: a fold (se_store_fold) runs beside the import's deal
 * keys, so its windows (rows a killed import left, rarely any) are a
 * quarter of the size. */
static size_t window_rows(const se_store *st)
{
	return (size_t)DELTA_WINDOW >> (st->mem_shift + (st->folding ? 2 : 0));
}

static int read_delta(se_store *st, int64_t after, int64_t upto, delta_row *rows, size_t *n,
                      se_error *err)
{
	sqlite3_stmt *s = st->stmt[ST_DELTA_ROWS];
	size_t k = 0;
	int rc;

	sqlite3_bind_int64(s, 1, after);
	sqlite3_bind_int64(s, 2, (int64_t)window_rows(st));
	sqlite3_bind_int64(s, 3, upto);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		delta_row_read(s, &rows[k++]);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return db_error(st, err, "reading new events for the history cache");
	*n = k;
	return SE_OK;
}

/* An event's id as text: a content key, stored as its bytes, orders a tie
 * by its text, as when it was imported. */
static int fetch_event_key(void *ud, int64_t rowid, const char **key, size_t *len, se_error *err)
{
	se_store *st = ud;
	sqlite3_stmt *s = st->stmt[ST_EVENT_KEY];
	int rc, content;
	size_t n = 0;

	sqlite3_bind_int64(s, 1, rowid);
	rc = sqlite3_step(s);
	content = rc == SQLITE_ROW && sqlite3_column_type(s, 0) == SQLITE_BLOB &&
	          sqlite3_column_bytes(s, 0) == SE_CONTENT_BLOB_LEN;
	if (rc == SQLITE_ROW)
		n = content ? SE_CONTENT_TEXT_LEN : (size_t)sqlite3_column_bytes(s, 0);
	if (rc == SQLITE_ROW && SE_VEC_RESERVE(st->key_buf, st->key_cap, n + 1, 64) != SE_OK) {
		sqlite3_reset(s);
		return se_error_set(err, SE_ENOMEM, "out of memory");
	}
	if (content) {
		content_text_of(sqlite3_column_blob(s, 0), st->key_buf);
	} else if (rc == SQLITE_ROW) {
		memcpy(st->key_buf, sqlite3_column_text(s, 0), n);
		st->key_buf[n] = '\0';
	}
	if (rc == SQLITE_ROW) {
		*key = st->key_buf;
		*len = n;
	}
	sqlite3_reset(s);
	if (rc == SQLITE_ROW)
		return SE_OK;
	if (rc == SQLITE_DONE)
		return se_error_set(err, SE_EDB, "event row %lld vanished", (long long)rowid);
	return db_error(st, err, "reading an event id");
}

/* Puts the chunk's packed events (if any) into the builder. */
static int load_chunk(se_store *st, se_history_builder *b, int64_t chunk, se_error *err)
{
	sqlite3_stmt *s = st->stmt[ST_CHUNK_GET];
	int rc = SE_OK, step;

	sqlite3_bind_int64(s, 1, chunk);
	step = sqlite3_step(s);
	if (step == SQLITE_ROW) {
		/* Copies, for alignment: blob pointers from SQLite need not be. */
		size_t dn = (size_t)sqlite3_column_bytes(s, 0), tn = (size_t)sqlite3_column_bytes(s, 1);
		void *data = malloc(dn ? dn : 1), *detail = malloc(tn ? tn : 1);

		if (data == NULL || detail == NULL) {
			rc = se_error_set(err, SE_ENOMEM, "out of memory");
		} else {
			memcpy(data, sqlite3_column_blob(s, 0), dn);
			memcpy(detail, sqlite3_column_blob(s, 1), tn);
			rc = se_history_builder_add_packed(b, data, dn, detail, tn, err);
			/* Its only database error is a blob it cannot read. */
			if (rc == SE_EDB)
				st->chunk_corrupt = 1;
		}
		free(data);
		free(detail);
	} else if (step != SQLITE_DONE) {
		rc = db_error(st, err, "reading the history cache");
	}
	sqlite3_reset(s);
	return rc;
}

/* The latest event time of a chunk about to be written, for
 * meta.cache_last_ts (a report's backtest would otherwise scan every
 * event for it). */
static void note_max_ts(se_store *st, const void *blob, size_t size)
{
	se_chunk_view v;
	size_t events = 0;

	if (se_history_view(blob, size, &v, NULL) != SE_OK)
		return;
	for (uint32_t i = 0; i < v.n_deals; i++)
		events += v.deals[i].n_events;
	for (size_t i = 0; i < events; i++)
		if (v.events[i].ts > st->written_max_ts)
			st->written_max_ts = v.events[i].ts;
}

/* meta.cache_last_ts with each commit of a refresh (every window's, so a
 * refresh killed between windows leaves it true of what was committed):
 * the latest of what it held and of what this refresh wrote so far, or
 * the latter alone when the cache was built from nothing.  Left unset for
 * a cache built before it was kept (a report then asks the events). */
static int keep_last_ts(se_store *st, se_error *err)
{
	int64_t covered = st->refresh_covered;
	int64_t old = covered == 0 ? INT64_MIN : meta_get_int(st, "cache_last_ts", INT64_MIN);

	if (covered != 0 && old == INT64_MIN)
		return SE_OK;
	return meta_set_int(st, "cache_last_ts", old > st->written_max_ts ? old : st->written_max_ts, err);
}

/* The latest event time: kept by the history cache when it covers every
 * event, else (a cache built before it was kept, or behind) a scan of the
 * events. */
int se_store_last_ts(se_store *st, int64_t *ts, se_error *err)
{
	int64_t covered = meta_get_int(st, "cache_rowid", -1), last = meta_get_int(st, "cache_last_ts", INT64_MIN);
	sqlite3_stmt *s = st->stmt[ST_LAST_TS];
	int rc;

	if (last != INT64_MIN && covered == query_int(st->stmt[ST_MAX_EVENT], 0)) {
		*ts = last;
		return SE_OK;
	}
	rc = sqlite3_step(s);
	*ts = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? SE_OK : db_error(st, err, "reading the latest event time");
}

static int store_chunk(se_store *st, se_history_builder *b, int64_t chunk, se_error *err)
{
	sqlite3_stmt *put = st->stmt[ST_CHUNK_PUT];
	const void *blob, *detail;
	size_t size, detail_size;
	int rc;

	if ((rc = se_history_builder_pack(b, &blob, &size, err)) != SE_OK)
		return rc;
	note_max_ts(st, blob, size);
	se_history_builder_detail(b, &detail, &detail_size);
	sqlite3_bind_int64(put, 1, chunk);
	sqlite3_bind_blob64(put, 2, blob, size, SQLITE_STATIC);
	sqlite3_bind_blob64(put, 3, detail, detail_size, SQLITE_STATIC);
	st->written_bytes += size + detail_size;
	rc = step_done(st, put, err, "writing the history cache");
	sqlite3_clear_bindings(put);
	return rc;
}

/* Merges the rows picked by idx[0..n) -- all of one chunk -- into it. */
static int merge_into_chunk(se_store *st, se_history_builder *b, const delta_row *rows,
                            const uint32_t *idx, size_t n, se_error *err)
{
	int64_t chunk = (int64_t)(rows[idx[0]].deal >> SE_CHUNK_SHIFT);
	int rc;

	se_history_builder_reset(b);
	if ((rc = load_chunk(st, b, chunk, err)) != SE_OK)
		return rc;
	for (size_t k = 0; k < n; k++) {
		se_history_row r = history_row(&rows[idx[k]]);

		if ((rc = se_history_builder_add(b, &r, err)) != SE_OK)
			return rc;
	}
	return store_chunk(st, b, chunk, err);
}

/* Groups the window's rows by chunk with a counting sort over row indexes
 * (linear, and 4 bytes a row instead of a second copy of the window; the
 * builder orders each chunk's rows itself), then merges each group. */
static int merge_window(se_store *st, se_history_builder *b, const delta_row *rows, size_t n,
                        se_error *err)
{
	uint32_t max_chunk = 0;
	size_t *start = NULL;
	uint32_t *order = NULL;
	int rc = SE_OK;

	for (size_t i = 0; i < n; i++)
		if ((rows[i].deal >> SE_CHUNK_SHIFT) > max_chunk)
			max_chunk = rows[i].deal >> SE_CHUNK_SHIFT;
	start = calloc((size_t)max_chunk + 2, sizeof *start);
	order = malloc((n ? n : 1) * sizeof *order);
	if (start == NULL || order == NULL) {
		rc = se_error_set(err, SE_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		start[(rows[i].deal >> SE_CHUNK_SHIFT) + 1]++;
	for (uint32_t c = 0; c <= max_chunk; c++)
		start[c + 1] += start[c];
	for (size_t i = 0; i < n; i++)
		order[start[rows[i].deal >> SE_CHUNK_SHIFT]++] = (uint32_t)i;
	/* start[c] is now the end of chunk c's indexes, and the start of c + 1's. */
	for (size_t c = 0, first = 0; c <= max_chunk && rc == SE_OK; c++) {
		if (start[c] > first)
			rc = merge_into_chunk(st, b, rows, order + first, start[c] - first, err);
		first = start[c];
	}
out:
	free(start);
	free(order);
	return rc;
}

/* When the cache covers every row up to the window's last, that is made
 * durable before the next window: one transaction for a whole refresh put
 * every chunk it wrote into the WAL at once (hundreds of MB for millions of
 * deals).  *stop: another connection moved the mark meanwhile (it carries
 * on from there, and merging further here would count rows twice). */
static int commit_window(se_store *st, int64_t last, int *stop, se_error *err)
{
	int rc;

	if ((rc = keep_last_ts(st, err)) != SE_OK || (rc = meta_set_int(st, "cache_rowid", last, err)) != SE_OK ||
	    (rc = se_store_commit(st, err)) != SE_OK || (rc = se_store_begin(st, err)) != SE_OK)
		return rc;
	*stop = meta_get_int(st, "cache_rowid", 0) != last;
	return SE_OK;
}

/* Merges the rows in (after, upto] from SQL, a window at a time; *last is
 * the highest rowid read (unchanged if none).  The window's memory is taken
 * only when there are rows.  contiguous: the cache covers every row up to
 * after, so each window may be committed on its own. */
static int merge_from_sql(se_store *st, se_history_builder *b, delta_row **rows, int64_t after,
                          int64_t upto, int64_t *last, int contiguous, int *stop, se_error *err)
{
	size_t n = 0;
	int rc;

	while (!*stop) {
		if (*rows == NULL && (*rows = malloc(window_rows(st) * sizeof **rows)) == NULL)
			return se_error_set(err, SE_ENOMEM, "out of memory");
		if ((rc = read_delta(st, after, upto, *rows, &n, err)) != SE_OK)
			return rc;
		if (n == 0)
			return SE_OK;
		after = *last = (*rows)[n - 1].id; /* read in rowid order: the last is the highest */
		if ((rc = merge_window(st, b, *rows, n, err)) != SE_OK)
			return rc;
		if (contiguous && n == window_rows(st) &&
		    (rc = commit_window(st, *last, stop, err)) != SE_OK)
			return rc;
	}
	return SE_OK;
}

/* Merges the rows kept in memory, chunk by chunk, freeing them as it goes.
 * pieces: the chunks may be committed a piece at a time, the mark left
 * where it was (covered) until the end, so that the WAL holds a piece and
 * not all of them: a kill in between leaves chunks ahead of the mark,
 * whose rows the next refresh merges again, to no effect (the builder
 * keeps a row once).  *stop: another connection moved the mark between
 * two pieces (its refresh covered these rows). */
static int merge_from_capture(se_store *st, se_history_builder *b, int pieces, int64_t covered, int *stop,
                              se_error *err)
{
	size_t piece = (size_t)FOLD_PIECE >> st->mem_shift;
	int64_t chunk = -1;
	int rc;

	if (piece > st->cap_limit)
		piece = st->cap_limit;
	st->written_bytes = 0;
	while ((chunk = se_history_delta_next_chunk(st->cap, chunk)) >= 0) {
		se_history_builder_reset(b);
		if ((rc = load_chunk(st, b, chunk, err)) != SE_OK ||
		    (rc = se_history_delta_take(st->cap, chunk, b, err)) != SE_OK ||
		    (rc = store_chunk(st, b, chunk, err)) != SE_OK)
			return rc;
		if (pieces && st->written_bytes >= piece) {
			st->written_bytes = 0;
			if ((rc = se_store_commit(st, err)) != SE_OK || (rc = se_store_begin(st, err)) != SE_OK)
				return rc;
			if (meta_get_int(st, "cache_rowid", 0) != covered) {
				*stop = 1;
				return SE_OK;
			}
		}
	}
	return SE_OK;
}

/* Brings the cache up to date; rebuild: all of it again, from the events.
 * st->folding: in the middle of an import (se_store_fold), whose deal keys
 * stay. */
static int refresh(se_store *st, int rebuild, se_error *err)
{
	se_history_builder *b = NULL;
	delta_row *rows = NULL;
	int64_t covered, top, last, below, from_memory = 0;
	int rc, stop = 0, wiped = 0;

	if (!st->folding) { /* the import's folds count with its refresh */
		st->refreshed_from_memory = st->folded_rows;
		st->folded_rows = 0;
	}
	st->chunk_corrupt = 0;
	/* A first look, without a transaction: nothing to do is the usual case
	 * of a report, and it takes no lock. */
	covered = meta_get_int(st, "cache_rowid", 0);
	top = query_int(st->stmt[ST_MAX_EVENT], 0);
	if (covered == top && !rebuild) {
		capture_drop(st);
		return SE_OK;
	}
	/* The deal keys of an import are not needed any more: give their
	 * memory back before the windows take theirs. */
	if (!st->folding) {
		se_strmap_free(st->deal_cache);
		if (st->mem_shift > 0)
			malloc_trim(0); /* the keys were many small blocks: hand their pages back first */
		if ((st->deal_cache = se_strmap_new()) == NULL)
			return se_error_set(err, SE_ENOMEM, "out of memory");
		st->deal_state = DEALS_UNKNOWN;
	}
	if ((rc = se_store_begin(st, err)) != SE_OK)
		return rc;
	/* Again inside the write transaction: another connection (a report,
	 * a second import) may have refreshed the cache since the first look,
	 * and merging the rows it covered a second time would count them
	 * twice, for good. */
	covered = meta_get_int(st, "cache_rowid", 0);
	top = query_int(st->stmt[ST_MAX_EVENT], 0);
	if (covered == top && !rebuild) {
		rc = se_store_commit(st, err);
		goto out;
	}
	st->written_max_ts = INT64_MIN;
	if (covered > top || rebuild) { /* events were deleted behind our back: start over */
		if ((rc = exec_sql(st, "DELETE FROM deal_chunk", err)) != SE_OK)
			goto out;
		covered = 0;
		wiped = 1; /* no commit before the mark says so too */
	}
	st->refresh_covered = covered;
	/* Kept rows at or below the mark are in the cache already (another
	 * connection refreshed it): then they serve nothing. */
	if (st->cap_state != CAP_NONE && (st->cap_base < covered || st->cap_last > top))
		capture_drop(st);
	if ((rc = se_history_builder_new(&b, err)) != SE_OK)
		goto out;
	se_history_builder_key_fetch(b, fetch_event_key, st);
	last = covered;
	if (st->cap_state == CAP_NONE) {
		rc = merge_from_sql(st, b, &rows, covered, INT64_MAX, &last, 1, &stop, err);
	} else {
		/* Rows (covered, cap_base] come from SQL (a killed import left
		 * them), (cap_base, cap_last] from memory, and any later ones
		 * (the capture froze) from SQL.  The order of merging does not
		 * matter: each chunk is sorted whole.  Memory first, so the
		 * kept rows are freed before a window is taken. */
		from_memory = se_history_delta_rows(st->cap);
		last = st->cap_last;
		if ((rc = merge_from_capture(st, b, !wiped, covered, &stop, err)) == SE_OK && !stop &&
		    (rc = merge_from_sql(st, b, &rows, covered, st->cap_base, &below, 0, &stop, err)) == SE_OK)
			rc = merge_from_sql(st, b, &rows, st->cap_last, INT64_MAX, &last, 1, &stop, err);
	}
	if (rc != SE_OK)
		goto out;
	if (stop) { /* the mark is another connection's now */
		rc = se_store_commit(st, err);
		goto out;
	}
	if ((rc = keep_last_ts(st, err)) != SE_OK ||
	    (rc = meta_set_int(st, "cache_rowid", last, err)) != SE_OK)
		goto out;
	if ((rc = se_store_commit(st, err)) == SE_OK) {
		if (st->folding)
			st->folded_rows += from_memory;
		else
			st->refreshed_from_memory += from_memory;
	}
out:
	if (rc != SE_OK && st->in_tx)
		se_store_rollback(st);
	capture_drop(st);
	se_history_builder_free(b);
	free(rows);
	return rc;
}

/* After a chunk was found corrupt (why says how): the cache again from
 * the events, with a warning. */
static int rebuild_cache(se_store *st, const char *why, se_error *err)
{
	int rc;

	if (st->readonly)
		return se_error_set(err, SE_EDB, "history cache: %s; open the database writable once "
		                    "(an import or a report without read-only access) to rebuild it", why);
	store_warn(st, "history cache: %s; rebuilding it from the events", why);
	if ((rc = refresh(st, 1, err)) != SE_OK)
		se_error_prefix(err, "rebuilding the history cache");
	return rc;
}

int se_store_refresh(se_store *st, se_error *err)
{
	int rc = refresh(st, 0, err);

	if (rc == SE_EDB && st->chunk_corrupt) {
		char why[sizeof err->msg];

		snprintf(why, sizeof why, "%s", err->msg);
		se_error_clear(err);
		rc = rebuild_cache(st, why, err);
	}
	return rc;
}

/* The fold is the refresh, run early: the same transactions, the same
 * answer to another connection's refresh, the same rebuild of a corrupt
 * chunk; only the deal keys stay, and its windows are smaller. */
int se_store_fold(se_store *st, se_error *err)
{
	int rc;

	if (st->in_tx || !capture_wants_fold(st))
		return SE_OK;
	/* The batches before may have left frames the checkpointer has not
	 * copied yet: the fold's chunks would go after them, and the WAL
	 * file grow by their size. */
	checkpoint_wait(st);
	st->folding = 1;
	rc = se_store_refresh(st, err);
	st->folding = 0;
	return rc;
}

int se_store_cache_rebuilt(const se_store *st)
{
	return st->cache_rebuilt;
}

int64_t se_store_rows_from_memory(const se_store *st)
{
	return st->refreshed_from_memory;
}

/* SQLite's page cache while the chunks stream through it: each page is
 * read once, so a small cache, recycled, serves as well as the 32 MB one
 * the imports want, without the fresh pages (and their page faults) a
 * large one takes on the way.  Constant statements. */
static void scan_cache(se_store *st, int scanning)
{
	char sql[64];

	snprintf(sql, sizeof sql, "PRAGMA cache_size = %d", scanning ? -1024 : -(32768 >> st->mem_shift));
	sqlite3_exec(st->db, sql, NULL, NULL, NULL);
}

/* Chunks are read with incremental blob I/O straight into a malloc-aligned
 * buffer: a single copy, and the packed structs can be read in place
 * without unaligned access.  The buffer is reused from chunk to chunk, or,
 * when fn takes it (to hand the bytes to another thread without a second
 * copy), the one fn gives back in its place. */
int se_store_each_chunk(se_store *st, se_chunk_fn fn, void *ud, se_error *err)
{
	sqlite3_stmt *s = st->stmt[ST_CHUNK_ALL];
	sqlite3_blob *blob = NULL;
	se_chunk_view view;
	se_chunk_buf buf = { NULL, 0, 0 };
	int rc, step;

	st->cache_rebuilt = 0;
	if ((rc = se_store_refresh(st, err)) != SE_OK)
		return rc;
	scan_cache(st, 1);
	while ((step = sqlite3_step(s)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(s, 0);
		int brc = blob ? sqlite3_blob_reopen(blob, id)
		               : sqlite3_blob_open(st->db, "main", "deal_chunk", "data", id, 0, &blob);

		if (brc != SQLITE_OK) {
			rc = db_error(st, err, "opening the history cache");
			break;
		}
		buf.size = (size_t)sqlite3_blob_bytes(blob);
		if (buf.size > buf.cap) {
			/* Nothing in it is kept: free and malloc, not realloc's
			 * copy.  A quarter to spare, as chunk sizes vary: buffers
			 * the worker passes round, each made anew for every larger
			 * chunk, left 5 MB of freed ones behind in the heap. */
			free(buf.data);
			buf.cap = buf.size + buf.size / 4;
			if ((buf.data = malloc(buf.cap)) == NULL) {
				buf.cap = 0;
				rc = se_error_set(err, SE_ENOMEM, "out of memory reading the history cache");
				break;
			}
		}
		if (sqlite3_blob_read(blob, buf.data, (int)buf.size, 0) != SQLITE_OK) {
			rc = db_error(st, err, "reading the history cache");
			break;
		}
		if (se_history_view(buf.data, buf.size, &view, err) != SE_OK) {
			/* The events are the truth: rebuild, and have the caller
			 * read again (what fn took so far is no good). */
			char why[sizeof err->msg];

			snprintf(why, sizeof why, "chunk %lld: %.900s", (long long)id, err->msg);
			sqlite3_reset(s);
			sqlite3_blob_close(blob);
			blob = NULL;
			if ((rc = rebuild_cache(st, why, err)) == SE_OK) {
				st->cache_rebuilt = 1;
				rc = se_error_set(err, SE_EDB, "history cache: %s; rebuilt, read it again", why);
			}
			break;
		}
		if ((rc = fn(ud, &buf, &view, err)) != SE_OK)
			break;
	}
	sqlite3_reset(s);
	sqlite3_blob_close(blob);
	scan_cache(st, 0);
	free(buf.data);
	if (rc == SE_OK && step != SQLITE_DONE)
		return db_error(st, err, "reading the history cache");
	return rc;
}
