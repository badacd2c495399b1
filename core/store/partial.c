/*
 * store/partial.c: the partial aggregates kept beside the history cache
 * (table chunk_partial), so a report reads again only the chunks that
 * changed since the last run.
 *
 * A row holds what the foundation pass counted from one chunk of deals
 * (key: the chunk id), from a segment of SE_PARTIAL_SEGMENT chunks (key:
 * -1 - the segment number), or from every segment before segment k (a
 * prefix; key SE_PARTIAL_PREFIX - k), under a fingerprint of the settings
 * it was counted with (partial.h); the bytes are the report's, opaque
 * here.  Triggers on deal_chunk delete a chunk's partial, its segment's
 * and the prefixes that include it whenever the chunk is written,
 * replaced or deleted, in the same
 * transaction as the write: whoever rewrites the cache (a refresh, a
 * rebuild, an older salesengine) cannot leave a stale partial behind.  A partial is written only in the read transaction its chunk
 * was read in, so it never describes a chunk rewritten in between: when
 * another connection wrote first, the upgrade fails and nothing is kept.
 *
 * The table and its triggers came after schema version 1 and are
 * additive: created by the first writable run that keeps partials, so
 * older stores need no migration; a read-only run on a store without
 * them reads every chunk.
 *
 * Never: reads or interprets a partial's bytes, or writes deal_chunk.
 */
#include "store_int.h"
#include "vec.h"

#include <stdlib.h>
#include <string.h>

/* How many fingerprints (report settings) keep their partials: a cron
 * job's alerts and reports, and a few others; older ones are dropped. */
#define KEEP_FINGERPRINTS 4

static const char partial_schema[] =
	/* Runs when the triggers are missing: rows kept without them may be
	 * stale, so they go. */
	"DROP TABLE IF EXISTS chunk_partial;"
	"CREATE TABLE IF NOT EXISTS chunk_partial(fp INTEGER NOT NULL, chunk INTEGER NOT NULL,"
	" data BLOB NOT NULL, PRIMARY KEY(fp, chunk));"
	"CREATE TRIGGER IF NOT EXISTS chunk_partial_put AFTER INSERT ON deal_chunk BEGIN"
	" DELETE FROM chunk_partial WHERE chunk IN (NEW.id, -1 - (NEW.id >> 4))"
	"  OR chunk < -1099511627776 - (NEW.id >> 4); END;"
	"CREATE TRIGGER IF NOT EXISTS chunk_partial_set AFTER UPDATE ON deal_chunk BEGIN"
	" DELETE FROM chunk_partial WHERE chunk IN (OLD.id, -1 - (OLD.id >> 4), NEW.id, -1 - (NEW.id >> 4))"
	"  OR chunk < -1099511627776 - min(OLD.id >> 4, NEW.id >> 4); END;"
	"CREATE TRIGGER IF NOT EXISTS chunk_partial_gone AFTER DELETE ON deal_chunk BEGIN"
	" DELETE FROM chunk_partial WHERE chunk IN (OLD.id, -1 - (OLD.id >> 4))"
	"  OR chunk < -1099511627776 - (OLD.id >> 4); END;";

/* The triggers' ">> 4" is the segment size, and -1099511627776 the
 * prefixes' base: a chunk in segment s drops its own partial, its
 * segment's and every prefix past s (keys below base - s). */
_Static_assert(SE_PARTIAL_SEGMENT == 16, "the triggers' shift must match SE_PARTIAL_SEGMENT");
_Static_assert(SE_PARTIAL_PREFIX == -1099511627776LL, "the triggers' base must match SE_PARTIAL_PREFIX");

typedef struct kept {
	int64_t key;
	void *data;
	size_t size;
} kept;

struct se_partials {
	se_store *st;
	uint64_t fp;
	int table;                   /* chunk_partial exists */
	int can_keep;                /* writable, and the table exists */
	int own_tx;
	int64_t last;                /* the highest chunk id, -1 when none */
	int64_t *chunks;             /* chunk ids in order, from se_partials_chunks */
	size_t n_chunks, cap_chunks;
	int64_t *keys;               /* keys stored under fp, ascending */
	size_t n_keys, cap_keys;
	sqlite3_stmt *get, *chunk;
	void *buf;                   /* the aligned copy handed out last */
	size_t cap;
	kept *keep;
	size_t n_keep, cap_keep;
};

/* Whether the table and its triggers exist (a read-only run cannot make
 * them): the last trigger made says so. */
static int have_table(se_store *st, int *yes, se_error *err)
{
	return schema_has(st, "trigger", "chunk_partial_gone", yes, "looking for the partial aggregates", err);
}

/* In the caller's write transaction when there is one (an import that
 * holds its last commit): made and kept with its events. */
static int make_table(se_store *st, se_error *err)
{
	int rc;

	if (st->in_tx)
		return exec_sql(st, partial_schema, err);
	if ((rc = exec_sql(st, "BEGIN IMMEDIATE", err)) != SE_OK)
		return rc;
	if ((rc = exec_sql(st, partial_schema, err)) != SE_OK) {
		exec_sql(st, "ROLLBACK", NULL);
		return rc;
	}
	return exec_sql(st, "COMMIT", err);
}

/* The int64 column 0 of every row of sql (one int64 parameter, or none). */
static int read_ids(se_store *st, const char *sql, int bind, int64_t param, int64_t **v, size_t *n,
                    size_t *cap, se_error *err)
{
	sqlite3_stmt *s = NULL;
	int rc = SE_OK, step;

	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
		return db_error(st, err, "reading the partial aggregates");
	if (bind)
		sqlite3_bind_int64(s, 1, param);
	while ((step = sqlite3_step(s)) == SQLITE_ROW) {
		if (SE_VEC_RESERVE(*v, *cap, *n + 1, 256) != SE_OK) {
			rc = se_error_set(err, SE_ENOMEM, "out of memory");
			break;
		}
		(*v)[(*n)++] = sqlite3_column_int64(s, 0);
	}
	if (rc == SE_OK && step != SQLITE_DONE)
		rc = db_error(st, err, "reading the partial aggregates");
	sqlite3_finalize(s);
	return rc;
}

int se_partials_open(se_store *st, uint64_t fp, se_partials **out, se_error *err)
{
	se_partials *p;
	int rc;

	*out = NULL;
	if ((rc = se_store_refresh(st, err)) != SE_OK)
		return rc;
	if ((p = calloc(1, sizeof *p)) == NULL)
		return se_error_set(err, SE_ENOMEM, "out of memory");
	p->st = st;
	p->fp = fp;
	if ((rc = have_table(st, &p->table, err)) != SE_OK)
		goto fail;
	if (!p->table && !st->readonly) {
		if ((rc = make_table(st, err)) != SE_OK)
			goto fail;
		p->table = 1;
	}
	p->can_keep = p->table && !st->readonly;
	p->own_tx = !st->in_tx;
	if (p->own_tx && (rc = exec_sql(st, "BEGIN", err)) != SE_OK) {
		p->own_tx = 0;
		goto fail;
	}
	if ((rc = read_ids(st, "SELECT coalesce(max(id), -1) FROM deal_chunk", 0, 0, &p->chunks, &p->n_chunks,
	                   &p->cap_chunks, err)) != SE_OK ||
	    (p->table && (rc = read_ids(st, "SELECT chunk FROM chunk_partial WHERE fp = ?1 ORDER BY chunk", 1,
	                                (int64_t)fp, &p->keys, &p->n_keys, &p->cap_keys, err)) != SE_OK))
		goto fail;
	p->last = p->n_chunks > 0 ? p->chunks[0] : -1;
	p->n_chunks = 0;
	if ((p->table && sqlite3_prepare_v2(st->db, "SELECT data FROM chunk_partial WHERE fp = ?1 AND chunk = ?2",
	                                    -1, &p->get, NULL) != SQLITE_OK) ||
	    sqlite3_prepare_v2(st->db, "SELECT data FROM deal_chunk WHERE id = ?1", -1, &p->chunk, NULL) != SQLITE_OK) {
		rc = db_error(st, err, "reading the partial aggregates");
		goto fail;
	}
	*out = p;
	return SE_OK;
fail:
	se_partials_close(p, 0, NULL);
	return rc;
}

int64_t se_partials_last_chunk(const se_partials *p)
{
	return p->last;
}

/* Reading every chunk id would touch a page per few chunks of the whole
 * cache; a prefix partial covers the first ones. */
int se_partials_chunks(se_partials *p, int64_t from, const int64_t **ids, size_t *n, se_error *err)
{
	int rc;

	p->n_chunks = 0;
	rc = read_ids(p->st, "SELECT id FROM deal_chunk WHERE id >= ?1 ORDER BY id", 1, from, &p->chunks,
	              &p->n_chunks, &p->cap_chunks, err);
	*ids = p->chunks;
	*n = p->n_chunks;
	return rc;
}

int se_partials_have(const se_partials *p, int64_t key)
{
	size_t lo = 0, hi = p->n_keys;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (p->keys[mid] == key)
			return 1;
		if (p->keys[mid] < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/* Column 0 of s's one row, copied into p->buf: SQLite's pointers need not
 * be aligned for the packed structs. */
static int fetch(se_partials *p, sqlite3_stmt *s, const void **data, size_t *size, se_error *err)
{
	int step = sqlite3_step(s), rc = SE_OK;

	if (step == SQLITE_ROW) {
		size_t n = (size_t)sqlite3_column_bytes(s, 0);

		if (n > p->cap) {
			void *nb = realloc(p->buf, n);

			if (nb == NULL) {
				sqlite3_reset(s);
				return se_error_set(err, SE_ENOMEM, "out of memory reading the history cache");
			}
			p->buf = nb;
			p->cap = n;
		}
		if (n > 0)
			memcpy(p->buf, sqlite3_column_blob(s, 0), n);
		*data = p->buf;
		*size = n;
	} else if (step == SQLITE_DONE) {
		rc = se_error_set(err, SE_EDB, "history cache: a chunk or its partial vanished");
	} else {
		rc = db_error(p->st, err, "reading the history cache");
	}
	sqlite3_reset(s);
	return rc;
}

/* Partials are read byte by byte: SQLite's own copy is handed out (no
 * second copy of megabytes), the statement left on its row until the
 * next call. */
int se_partials_get(se_partials *p, int64_t key, const void **data, size_t *size, se_error *err)
{
	int step;

	if (p->get == NULL)
		return se_error_set(err, SE_EDB, "no partial aggregates stored");
	sqlite3_reset(p->get);
	sqlite3_bind_int64(p->get, 1, (int64_t)p->fp);
	sqlite3_bind_int64(p->get, 2, key);
	if ((step = sqlite3_step(p->get)) == SQLITE_ROW) {
		*data = sqlite3_column_blob(p->get, 0);
		*size = (size_t)sqlite3_column_bytes(p->get, 0);
		return SE_OK;
	}
	sqlite3_reset(p->get);
	if (step == SQLITE_DONE)
		return se_error_set(err, SE_EDB, "history cache: a partial vanished");
	return db_error(p->st, err, "reading the partial aggregates");
}

int se_partials_chunk(se_partials *p, int64_t id, const void **blob, size_t *size, se_error *err)
{
	if (p->get != NULL)
		sqlite3_reset(p->get);
	sqlite3_bind_int64(p->chunk, 1, id);
	return fetch(p, p->chunk, blob, size, err);
}

int se_partials_can_keep(const se_partials *p)
{
	return p->can_keep;
}

int se_partials_any(const se_partials *p)
{
	return p->n_keys > 0;
}

int se_partials_keep(se_partials *p, int64_t key, void *data, size_t size)
{
	if (!p->can_keep || SE_VEC_RESERVE(p->keep, p->cap_keep, p->n_keep + 1, 64) != SE_OK) {
		free(data);
		return p->can_keep ? SE_ENOMEM : SE_OK;
	}
	p->keep[p->n_keep++] = (kept){ key, data, size };
	return SE_OK;
}

/* Writes the kept partials; any failure (another writer came first, so
 * the snapshot they were counted from is stale) means they are not kept. */
static int save(se_partials *p)
{
	sqlite3 *db = p->st->db;
	sqlite3_stmt *put = NULL, *prune = NULL;
	int ok = 1;

	if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO chunk_partial(fp, chunk, data) VALUES(?1, ?2, ?3)",
	                       -1, &put, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "DELETE FROM chunk_partial WHERE fp NOT IN (SELECT fp FROM chunk_partial"
	                       " GROUP BY fp ORDER BY max(rowid) DESC LIMIT ?1)", -1, &prune, NULL) != SQLITE_OK)
		ok = 0;
	for (size_t i = 0; ok && i < p->n_keep; i++) {
		sqlite3_bind_int64(put, 1, (int64_t)p->fp);
		sqlite3_bind_int64(put, 2, p->keep[i].key);
		sqlite3_bind_blob(put, 3, p->keep[i].data, (int)p->keep[i].size, SQLITE_STATIC);
		ok = sqlite3_step(put) == SQLITE_DONE;
		sqlite3_reset(put);
	}
	if (ok) {
		sqlite3_bind_int64(prune, 1, KEEP_FINGERPRINTS);
		ok = sqlite3_step(prune) == SQLITE_DONE;
	}
	sqlite3_finalize(put);
	sqlite3_finalize(prune);
	return ok;
}

int se_partials_close(se_partials *p, int keep, se_error *err)
{
	int rc = SE_OK;

	if (p == NULL)
		return SE_OK;
	sqlite3_finalize(p->get); /* before the writes: it may still hold a row */
	sqlite3_finalize(p->chunk);
	if (keep && p->n_keep > 0 && !save(p) && !p->own_tx)
		rc = db_error(p->st, err, "keeping the partial aggregates");
	if (p->own_tx && (!keep || exec_sql(p->st, "COMMIT", NULL) != SE_OK))
		exec_sql(p->st, "ROLLBACK", NULL);
	for (size_t i = 0; i < p->n_keep; i++)
		free(p->keep[i].data);
	free(p->keep);
	free(p->chunks);
	free(p->keys);
	free(p->buf);
	free(p);
	return rc;
}

int se_store_partials_clear(se_store *st, se_error *err)
{
	int yes = 0;
	int rc = have_table(st, &yes, err);

	if (rc != SE_OK || !yes)
		return rc;
	return exec_sql(st, "DELETE FROM chunk_partial", err);
}
