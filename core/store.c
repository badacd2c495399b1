/*
 * store.c: SQLite behind the event store.
 *
 * Statements are prepared once in se_store_open() into an enum-indexed array
 * and each use is bind -> step -> reset, the way SQLite's own extensions do
 * it.  Names and deal keys are interned through in-memory maps in front of
 * the tables, so an import touches SQLite once per new name, not per row.
 *
 * The history cache (table deal_chunk) is derived data.  Every transaction
 * that adds events also records, in dirty_chunk, the chunks whose deals got
 * them; se_store_refresh() repacks exactly those and clears the marks in one
 * transaction.  A killed import leaves committed events with their marks,
 * so the next run repacks them: the cache is never silently behind.
 */
#include "store.h"
#include "history.h"
#include "strmap.h"

#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

/* Past this many cached deal keys the map is dropped and refilled lazily:
 * keeps an import's memory flat however many deals the file has. */
#define DEAL_CACHE_MAX 2000000

enum stmt_id {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_DEAL_INSERT,
	ST_DEAL_FIND,
	ST_DEAL_KEY,
	ST_DICT_INSERT0,
	ST_DICT_FIND0 = ST_DICT_INSERT0 + SE_DICT_COUNT,
	ST_DICT_ALL0 = ST_DICT_FIND0 + SE_DICT_COUNT,
	ST_EVENT_INSERT = ST_DICT_ALL0 + SE_DICT_COUNT,
	ST_MARK_DIRTY,
	ST_DIRTY_CHUNKS,
	ST_CLEAR_DIRTY,
	ST_CHUNK_ROWS,
	ST_CHUNK_PUT,
	ST_CHUNK_ALL,
	ST_JSON_MEMBERS,
	ST_COUNT
};

static const char *const dict_tables[SE_DICT_COUNT] = {
	"manager", "source", "status", "pipeline", "currency"
};

static const char schema_sql[] =
	"CREATE TABLE IF NOT EXISTS deal(id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE);"
	"CREATE TABLE IF NOT EXISTS manager(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
	"CREATE TABLE IF NOT EXISTS source(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
	"CREATE TABLE IF NOT EXISTS status(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
	"CREATE TABLE IF NOT EXISTS pipeline(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
	"CREATE TABLE IF NOT EXISTS currency(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
	/* A rowid table: new events append.  The unique event_key index is the
	 * dedup; the deal index lets a chunk of deals be repacked alone. */
	"CREATE TABLE IF NOT EXISTS event("
	" id INTEGER PRIMARY KEY,"
	" event_key TEXT NOT NULL UNIQUE,"
	" deal INTEGER NOT NULL REFERENCES deal(id),"
	" ts INTEGER NOT NULL,"
	" status INTEGER NOT NULL REFERENCES status(id),"
	" from_status INTEGER REFERENCES status(id),"
	" manager INTEGER REFERENCES manager(id),"
	" source INTEGER REFERENCES source(id),"
	" amount REAL,"
	" pipeline INTEGER REFERENCES pipeline(id),"
	" currency INTEGER REFERENCES currency(id));"
	"CREATE INDEX IF NOT EXISTS event_deal ON event(deal);"
	"CREATE TABLE IF NOT EXISTS deal_chunk(id INTEGER PRIMARY KEY, data BLOB NOT NULL);"
	"CREATE TABLE IF NOT EXISTS dirty_chunk(id INTEGER PRIMARY KEY);"
	"CREATE VIEW IF NOT EXISTS events AS"
	" SELECT e.event_key AS event_id, d.key AS deal_id,"
	"  strftime('%Y-%m-%dT%H:%M:%SZ', e.ts, 'unixepoch') AS ts,"
	"  s.name AS stage, fs.name AS from_stage, m.name AS manager,"
	"  src.name AS source, e.amount AS amount, p.name AS pipeline,"
	"  c.name AS currency"
	" FROM event e JOIN deal d ON d.id = e.deal JOIN status s ON s.id = e.status"
	" LEFT JOIN status fs ON fs.id = e.from_status"
	" LEFT JOIN manager m ON m.id = e.manager"
	" LEFT JOIN source src ON src.id = e.source"
	" LEFT JOIN pipeline p ON p.id = e.pipeline"
	" LEFT JOIN currency c ON c.id = e.currency;";

struct se_store {
	sqlite3 *db;
	sqlite3_stmt *stmt[ST_COUNT];
	se_strmap *dict_cache[SE_DICT_COUNT];
	se_strmap *deal_cache;
	int in_tx;
	/* Chunks that got events in the open transaction, flushed to
	 * dirty_chunk just before it commits. */
	unsigned char *dirty;
	size_t dirty_cap;
	int any_dirty;
};

static int db_error(se_store *st, se_error *err, const char *what)
{
	return se_error_set(err, SE_EDB, "%s: %s", what, sqlite3_errmsg(st->db));
}

static int exec_sql(se_store *st, const char *sql, se_error *err)
{
	char *msg = NULL;

	if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		se_error_set(err, SE_EDB, "database: %s", msg ? msg : sqlite3_errmsg(st->db));
		sqlite3_free(msg);
		return SE_EDB;
	}
	return SE_OK;
}

static int prepare(se_store *st, enum stmt_id id, const char *sql, se_error *err)
{
	if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st->stmt[id], NULL) != SQLITE_OK)
		return db_error(st, err, "preparing a statement");
	return SE_OK;
}

static int prepare_dict_statements(se_store *st, se_error *err)
{
	char sql[256];
	int rc;

	for (int d = 0; d < SE_DICT_COUNT; d++) {
		snprintf(sql, sizeof sql,
		         "INSERT INTO %s(name) VALUES(?1) ON CONFLICT(name) DO NOTHING RETURNING id",
		         dict_tables[d]);
		if ((rc = prepare(st, ST_DICT_INSERT0 + d, sql, err)) != SE_OK)
			return rc;
		snprintf(sql, sizeof sql, "SELECT id FROM %s WHERE name = ?1", dict_tables[d]);
		if ((rc = prepare(st, ST_DICT_FIND0 + d, sql, err)) != SE_OK)
			return rc;
		snprintf(sql, sizeof sql, "SELECT id, name FROM %s ORDER BY id", dict_tables[d]);
		if ((rc = prepare(st, ST_DICT_ALL0 + d, sql, err)) != SE_OK)
			return rc;
	}
	return SE_OK;
}

static int prepare_all(se_store *st, se_error *err)
{
	static const struct { enum stmt_id id; const char *sql; } fixed[] = {
		{ ST_BEGIN, "BEGIN IMMEDIATE" },
		{ ST_COMMIT, "COMMIT" },
		{ ST_ROLLBACK, "ROLLBACK" },
		{ ST_DEAL_INSERT, "INSERT INTO deal(key) VALUES(?1) ON CONFLICT(key) DO NOTHING RETURNING id" },
		{ ST_DEAL_FIND, "SELECT id FROM deal WHERE key = ?1" },
		{ ST_DEAL_KEY, "SELECT key FROM deal WHERE id = ?1" },
		/* An event_id already stored is a duplicate, whatever its deal or
		 * time say: the first stored version wins. */
		{ ST_EVENT_INSERT,
		  "INSERT INTO event(event_key, deal, ts, status, from_status, manager, source,"
		  " amount, pipeline, currency) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)"
		  " ON CONFLICT(event_key) DO NOTHING" },
		{ ST_MARK_DIRTY, "INSERT OR IGNORE INTO dirty_chunk(id) VALUES(?1)" },
		{ ST_DIRTY_CHUNKS, "SELECT id FROM dirty_chunk ORDER BY id" },
		{ ST_CLEAR_DIRTY, "DELETE FROM dirty_chunk" },
		{ ST_CHUNK_ROWS,
		  "SELECT deal, ts, event_key, status, pipeline, manager, source, amount"
		  " FROM event WHERE deal >= ?1 AND deal < ?2" },
		{ ST_CHUNK_PUT, "INSERT OR REPLACE INTO deal_chunk(id, data) VALUES(?1, ?2)" },
		{ ST_CHUNK_ALL, "SELECT id FROM deal_chunk ORDER BY id" },
		/* The outer row makes "[]" and "{}" give one row too, so the top-level
		 * type is always checked. */
		{ ST_JSON_MEMBERS,
		  "SELECT json_type(?1), j.key, j.type, j.atom"
		  " FROM (SELECT 1) LEFT JOIN json_each(?1) AS j" },
	};
	int rc;

	for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
		if ((rc = prepare(st, fixed[i].id, fixed[i].sql, err)) != SE_OK)
			return rc;
	return prepare_dict_statements(st, err);
}

/* Steps a statement that returns no rows and resets it. */
static int step_done(se_store *st, sqlite3_stmt *s, se_error *err, const char *what)
{
	int rc = sqlite3_step(s);

	sqlite3_reset(s);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return db_error(st, err, what);
	return SE_OK;
}

static int check_schema_version(se_store *st, se_error *err)
{
	sqlite3_stmt *s = NULL;
	int version = 0, rc;

	if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK)
		return db_error(st, err, "reading the schema version");
	if (sqlite3_step(s) == SQLITE_ROW)
		version = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	if (version > SE_SCHEMA_VERSION)
		return se_error_set(err, SE_EDB, "database schema version %d is newer than this salesengine (%d)",
		                    version, SE_SCHEMA_VERSION);
	if (version == SE_SCHEMA_VERSION)
		return SE_OK;
	if ((rc = exec_sql(st, "BEGIN IMMEDIATE", err)) != SE_OK)
		return rc;
	if ((rc = exec_sql(st, schema_sql, err)) != SE_OK ||
	    (rc = exec_sql(st, "PRAGMA user_version = 1", err)) != SE_OK) {
		exec_sql(st, "ROLLBACK", NULL);
		return rc;
	}
	return exec_sql(st, "COMMIT", err);
}

static int configure(se_store *st, se_error *err)
{
	int rc;

	sqlite3_busy_timeout(st->db, 5000);
	/* WAL: readers (reports, other tools) never block an import, and a
	 * killed import loses only its open batch.  NORMAL sync is durable
	 * against process crashes, which is what a batch needs. */
	if ((rc = exec_sql(st, "PRAGMA journal_mode = WAL", err)) != SE_OK ||
	    (rc = exec_sql(st, "PRAGMA synchronous = NORMAL", err)) != SE_OK ||
	    (rc = exec_sql(st, "PRAGMA cache_size = -32768", err)) != SE_OK ||
	    (rc = exec_sql(st, "PRAGMA temp_store = MEMORY", err)) != SE_OK)
		return rc;
	return SE_OK;
}

int se_store_open(se_store **out, const char *path, unsigned flags, se_error *err)
{
	se_store *st = NULL;
	int rc = SE_ENOMEM;
	int oflags = (flags & SE_STORE_READONLY) ? SQLITE_OPEN_READONLY
	                                         : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;

	oflags |= SQLITE_OPEN_NOMUTEX; /* one connection, one thread: no locking needed */

	*out = NULL;
	st = calloc(1, sizeof *st);
	if (st == NULL)
		return se_error_set(err, SE_ENOMEM, "out of memory");
	if (sqlite3_open_v2(path, &st->db, oflags, NULL) != SQLITE_OK) {
		rc = se_error_set(err, SE_EDB, "cannot open database %s: %s", path,
		                  st->db ? sqlite3_errmsg(st->db) : "out of memory");
		goto fail;
	}
	if ((rc = configure(st, err)) != SE_OK || (rc = check_schema_version(st, err)) != SE_OK ||
	    (rc = prepare_all(st, err)) != SE_OK) {
		se_error_prefix(err, "%s", path);
		goto fail;
	}
	for (int d = 0; d < SE_DICT_COUNT; d++)
		if ((st->dict_cache[d] = se_strmap_new()) == NULL)
			goto nomem;
	if ((st->deal_cache = se_strmap_new()) == NULL)
		goto nomem;
	*out = st;
	return SE_OK;
nomem:
	rc = se_error_set(err, SE_ENOMEM, "out of memory");
fail:
	se_store_close(st);
	return rc;
}

void se_store_close(se_store *st)
{
	if (st == NULL)
		return;
	if (st->in_tx)
		se_store_rollback(st);
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(st->stmt[i]);
	for (int d = 0; d < SE_DICT_COUNT; d++)
		se_strmap_free(st->dict_cache[d]);
	se_strmap_free(st->deal_cache);
	free(st->dirty);
	sqlite3_close(st->db);
	free(st);
}

/* ---- transactions ------------------------------------------------------ */

int se_store_begin(se_store *st, se_error *err)
{
	int rc = step_done(st, st->stmt[ST_BEGIN], err, "starting a transaction");

	if (rc == SE_OK)
		st->in_tx = 1;
	return rc;
}

static int flush_dirty_marks(se_store *st, se_error *err)
{
	sqlite3_stmt *s = st->stmt[ST_MARK_DIRTY];
	int rc;

	if (!st->any_dirty)
		return SE_OK;
	for (size_t i = 0; i < st->dirty_cap; i++) {
		if (!st->dirty[i])
			continue;
		sqlite3_bind_int64(s, 1, (int64_t)i);
		if ((rc = step_done(st, s, err, "marking changed deals")) != SE_OK)
			return rc;
		st->dirty[i] = 0;
	}
	st->any_dirty = 0;
	return SE_OK;
}

static void forget_dirty_marks(se_store *st)
{
	if (st->dirty != NULL)
		memset(st->dirty, 0, st->dirty_cap);
	st->any_dirty = 0;
}

static int mark_dirty(se_store *st, int64_t deal)
{
	size_t chunk = (size_t)(deal >> SE_CHUNK_SHIFT);

	if (chunk >= st->dirty_cap) {
		size_t ncap = st->dirty_cap ? st->dirty_cap : 256;
		unsigned char *nd;

		while (ncap <= chunk)
			ncap *= 2;
		if ((nd = realloc(st->dirty, ncap)) == NULL)
			return SE_ENOMEM;
		memset(nd + st->dirty_cap, 0, ncap - st->dirty_cap);
		st->dirty = nd;
		st->dirty_cap = ncap;
	}
	st->dirty[chunk] = 1;
	st->any_dirty = 1;
	return SE_OK;
}

int se_store_commit(se_store *st, se_error *err)
{
	int rc = flush_dirty_marks(st, err);

	if (rc != SE_OK)
		return rc;
	rc = step_done(st, st->stmt[ST_COMMIT], err, "committing");

	if (rc == SE_OK)
		st->in_tx = 0;
	return rc;
}

/* Forgets cached ids too: rows they point to may be gone with the rollback. */
void se_store_rollback(se_store *st)
{
	step_done(st, st->stmt[ST_ROLLBACK], NULL, "rolling back");
	st->in_tx = 0;
	forget_dirty_marks(st);
	for (int d = 0; d < SE_DICT_COUNT; d++)
		se_strmap_clear(st->dict_cache[d]);
	se_strmap_clear(st->deal_cache);
}

/* ---- interning ---------------------------------------------------------- */

/* Runs "INSERT ... DO NOTHING RETURNING id", falling back to the lookup
 * when the row was there already. */
static int insert_or_find(se_store *st, sqlite3_stmt *ins, sqlite3_stmt *find,
                          const char *text, size_t len, int64_t *id, se_error *err)
{
	sqlite3_stmt *steps[2] = { ins, find };

	for (int i = 0; i < 2; i++) {
		sqlite3_stmt *s = steps[i];
		int rc;

		sqlite3_bind_text(s, 1, text, (int)len, SQLITE_STATIC);
		rc = sqlite3_step(s);
		if (rc == SQLITE_ROW)
			*id = sqlite3_column_int64(s, 0);
		if (rc == SQLITE_ROW)
			while (sqlite3_step(s) == SQLITE_ROW) /* let RETURNING finish */
				;
		sqlite3_reset(s);
		sqlite3_clear_bindings(s);
		if (rc == SQLITE_ROW)
			return SE_OK;
		if (rc != SQLITE_DONE)
			return db_error(st, err, "storing a name");
	}
	return se_error_set(err, SE_EDB, "storing a name: row vanished");
}

int se_store_intern(se_store *st, se_dict dict, const char *name, size_t len,
                    uint32_t *id, se_error *err)
{
	int64_t v;
	int rc;

	if (se_strmap_get(st->dict_cache[dict], name, len, &v)) {
		*id = (uint32_t)v;
		return SE_OK;
	}
	rc = insert_or_find(st, st->stmt[ST_DICT_INSERT0 + dict], st->stmt[ST_DICT_FIND0 + dict],
	                    name, len, &v, err);
	if (rc != SE_OK)
		return rc;
	if (v <= 0 || v > UINT32_MAX)
		return se_error_set(err, SE_EDB, "too many distinct %s names", dict_tables[dict]);
	if (se_strmap_put(st->dict_cache[dict], name, len, v) != SE_OK)
		return se_error_set(err, SE_ENOMEM, "out of memory");
	*id = (uint32_t)v;
	return SE_OK;
}

int se_store_intern_deal(se_store *st, const char *key, size_t len, int64_t *id, se_error *err)
{
	int rc;

	if (se_strmap_get(st->deal_cache, key, len, id))
		return SE_OK;
	rc = insert_or_find(st, st->stmt[ST_DEAL_INSERT], st->stmt[ST_DEAL_FIND], key, len, id, err);
	if (rc != SE_OK)
		return rc;
	if (*id > UINT32_MAX)
		return se_error_set(err, SE_EDB, "more than 4294967295 deals");
	if (se_strmap_count(st->deal_cache) >= DEAL_CACHE_MAX)
		se_strmap_clear(st->deal_cache);
	if (se_strmap_put(st->deal_cache, key, len, *id) != SE_OK)
		return se_error_set(err, SE_ENOMEM, "out of memory");
	return SE_OK;
}

static void bind_id(sqlite3_stmt *s, int col, uint32_t id)
{
	if (id == 0)
		sqlite3_bind_null(s, col);
	else
		sqlite3_bind_int64(s, col, id);
}

int se_store_insert_event(se_store *st, const se_event_in *ev, int *inserted, se_error *err)
{
	sqlite3_stmt *s = st->stmt[ST_EVENT_INSERT];
	int rc;

	sqlite3_bind_text(s, 1, ev->key, (int)ev->key_len, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, ev->deal);
	sqlite3_bind_int64(s, 3, ev->ts);
	sqlite3_bind_int64(s, 4, ev->status);
	bind_id(s, 5, ev->from_status);
	bind_id(s, 6, ev->manager);
	bind_id(s, 7, ev->source);
	if (isnan(ev->amount))
		sqlite3_bind_null(s, 8);
	else
		sqlite3_bind_double(s, 8, ev->amount);
	bind_id(s, 9, ev->pipeline);
	bind_id(s, 10, ev->currency);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return db_error(st, err, "storing an event");
	*inserted = sqlite3_changes(st->db) > 0;
	if (*inserted && mark_dirty(st, ev->deal) != SE_OK)
		return se_error_set(err, SE_ENOMEM, "out of memory");
	return SE_OK;
}

/* ---- JSON objects -------------------------------------------------------- */

static int json_type_of(const char *t)
{
	if (t == NULL || strcmp(t, "null") == 0)
		return SE_JSON_NULL;
	if (strcmp(t, "text") == 0)
		return SE_JSON_STRING;
	if (strcmp(t, "integer") == 0 || strcmp(t, "real") == 0)
		return SE_JSON_NUMBER;
	return SE_JSON_OTHER;
}

int se_store_json_object(se_store *st, const char *json, size_t len, se_json_member_fn fn,
                         void *ud, const char **why, se_error *err)
{
	sqlite3_stmt *s = st->stmt[ST_JSON_MEMBERS];
	int rc = SE_OK, step;

	sqlite3_bind_text(s, 1, json, (int)len, SQLITE_STATIC);
	while ((step = sqlite3_step(s)) == SQLITE_ROW) {
		const char *top = (const char *)sqlite3_column_text(s, 0);
		int type = json_type_of((const char *)sqlite3_column_text(s, 2));
		const char *key, *text = NULL;
		size_t key_len, text_len = 0;

		if (top == NULL || strcmp(top, "object") != 0) {
			*why = "not a JSON object";
			rc = SE_EINPUT;
			break;
		}
		if (sqlite3_column_type(s, 1) == SQLITE_NULL)
			continue; /* {}: no members */
		key = (const char *)sqlite3_column_text(s, 1);
		key_len = (size_t)sqlite3_column_bytes(s, 1);
		if (type == SE_JSON_STRING || type == SE_JSON_NUMBER) {
			text = (const char *)sqlite3_column_text(s, 3);
			text_len = (size_t)sqlite3_column_bytes(s, 3);
		}
		if ((rc = fn(ud, key ? key : "", key_len, type, text ? text : "", text_len)) != SE_OK)
			break;
	}
	if (rc == SE_OK && step != SQLITE_DONE) {
		if (step == SQLITE_NOMEM)
			rc = se_error_set(err, SE_ENOMEM, "out of memory");
		else {
			*why = "malformed JSON";
			rc = SE_EINPUT;
		}
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc;
}

/* ---- reading names ------------------------------------------------------ */

void se_store_free_names(char **names, uint32_t count)
{
	if (names == NULL)
		return;
	for (uint32_t i = 0; i < count; i++)
		free(names[i]);
	free(names);
}

int se_store_names(se_store *st, se_dict dict, char ***names, uint32_t *count, se_error *err)
{
	sqlite3_stmt *s = st->stmt[ST_DICT_ALL0 + dict];
	char **v = NULL;
	uint32_t n = 1, cap = 0;
	int rc;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(s, 0);
		const char *name = (const char *)sqlite3_column_text(s, 1);

		if (id <= 0 || id >= UINT32_MAX)
			continue;
		if ((uint32_t)id >= cap) {
			uint32_t ncap = cap ? cap : 64;
			char **nv;

			while (ncap <= (uint32_t)id)
				ncap *= 2;
			nv = realloc(v, ncap * sizeof *v);
			if (nv == NULL)
				goto nomem;
			memset(nv + cap, 0, (ncap - cap) * sizeof *nv);
			v = nv;
			cap = ncap;
		}
		if ((v[id] = strdup(name ? name : "")) == NULL)
			goto nomem;
		if ((uint32_t)id + 1 > n)
			n = (uint32_t)id + 1;
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		se_store_free_names(v, cap);
		return db_error(st, err, "reading names");
	}
	if (v == NULL && (v = calloc(1, sizeof *v)) == NULL)
		return se_error_set(err, SE_ENOMEM, "out of memory");
	*names = v;
	*count = n;
	return SE_OK;
nomem:
	sqlite3_reset(s);
	se_store_free_names(v, cap);
	return se_error_set(err, SE_ENOMEM, "out of memory");
}

int se_store_deal_key(se_store *st, int64_t id, char *buf, size_t size, se_error *err)
{
	sqlite3_stmt *s = st->stmt[ST_DEAL_KEY];
	int rc;

	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		snprintf(buf, size, "%s", (const char *)sqlite3_column_text(s, 0));
	sqlite3_reset(s);
	if (rc == SQLITE_ROW)
		return SE_OK;
	if (rc == SQLITE_DONE)
		return se_error_set(err, SE_EDB, "deal %lld not found", (long long)id);
	return db_error(st, err, "reading a deal");
}

/* ---- the history cache -------------------------------------------------- */

static void row_from_stmt(sqlite3_stmt *s, se_history_row *r)
{
	r->deal = sqlite3_column_int64(s, 0);
	r->ts = sqlite3_column_int64(s, 1);
	r->key = (const char *)sqlite3_column_text(s, 2);
	r->key_len = (size_t)sqlite3_column_bytes(s, 2);
	r->status = (uint32_t)sqlite3_column_int64(s, 3);
	r->pipeline = (uint32_t)sqlite3_column_int64(s, 4);
	r->manager = (uint32_t)sqlite3_column_int64(s, 5);
	r->source = (uint32_t)sqlite3_column_int64(s, 6);
	r->amount = sqlite3_column_type(s, 7) == SQLITE_NULL ? NAN : sqlite3_column_double(s, 7);
}

static int repack_chunk(se_store *st, se_history_builder *b, int64_t chunk, se_error *err)
{
	sqlite3_stmt *rows = st->stmt[ST_CHUNK_ROWS];
	sqlite3_stmt *put = st->stmt[ST_CHUNK_PUT];
	const void *blob;
	size_t size;
	int rc, step;

	se_history_builder_reset(b);
	sqlite3_bind_int64(rows, 1, chunk << SE_CHUNK_SHIFT);
	sqlite3_bind_int64(rows, 2, (chunk + 1) << SE_CHUNK_SHIFT);
	while ((step = sqlite3_step(rows)) == SQLITE_ROW) {
		se_history_row r;

		row_from_stmt(rows, &r);
		if ((rc = se_history_builder_add(b, &r, err)) != SE_OK) {
			sqlite3_reset(rows);
			return rc;
		}
	}
	sqlite3_reset(rows);
	if (step != SQLITE_DONE)
		return db_error(st, err, "reading events for the history cache");
	if ((rc = se_history_builder_pack(b, &blob, &size, err)) != SE_OK)
		return rc;
	sqlite3_bind_int64(put, 1, chunk);
	sqlite3_bind_blob64(put, 2, blob, size, SQLITE_STATIC);
	rc = step_done(st, put, err, "writing the history cache");
	sqlite3_clear_bindings(put);
	return rc;
}

static int collect_dirty_chunks(se_store *st, int64_t **out, size_t *n, se_error *err)
{
	sqlite3_stmt *s = st->stmt[ST_DIRTY_CHUNKS];
	int64_t *v = NULL;
	size_t cnt = 0, cap = 0;
	int rc;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (cnt == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			int64_t *nv = realloc(v, ncap * sizeof *nv);

			if (nv == NULL) {
				free(v);
				sqlite3_reset(s);
				return se_error_set(err, SE_ENOMEM, "out of memory");
			}
			v = nv;
			cap = ncap;
		}
		v[cnt++] = sqlite3_column_int64(s, 0);
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		free(v);
		return db_error(st, err, "finding changed deals");
	}
	*out = v;
	*n = cnt;
	return SE_OK;
}

int se_store_refresh(se_store *st, se_error *err)
{
	se_history_builder *b = NULL;
	int64_t *chunks = NULL;
	size_t n = 0;
	int rc;

	if ((rc = collect_dirty_chunks(st, &chunks, &n, err)) != SE_OK)
		return rc;
	if (n == 0)
		goto out;
	if ((rc = se_store_begin(st, err)) != SE_OK ||
	    (rc = se_history_builder_new(&b, err)) != SE_OK)
		goto out;
	for (size_t i = 0; i < n; i++)
		if ((rc = repack_chunk(st, b, chunks[i], err)) != SE_OK)
			goto out;
	if ((rc = step_done(st, st->stmt[ST_CLEAR_DIRTY], err, "clearing change marks")) != SE_OK)
		goto out;
	rc = se_store_commit(st, err);
out:
	if (rc != SE_OK && st->in_tx)
		se_store_rollback(st);
	se_history_builder_free(b);
	free(chunks);
	return rc;
}

/* Chunks are read with incremental blob I/O straight into one reused,
 * malloc-aligned buffer: a single copy, and the packed structs can be read
 * in place without unaligned access. */
int se_store_each_chunk(se_store *st, se_chunk_fn fn, void *ud, se_error *err)
{
	sqlite3_stmt *s = st->stmt[ST_CHUNK_ALL];
	sqlite3_blob *blob = NULL;
	void *buf = NULL;
	size_t cap = 0;
	int rc, step;

	if ((rc = se_store_refresh(st, err)) != SE_OK)
		return rc;
	while ((step = sqlite3_step(s)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(s, 0);
		int brc = blob ? sqlite3_blob_reopen(blob, id)
		               : sqlite3_blob_open(st->db, "main", "deal_chunk", "data", id, 0, &blob);
		size_t size;

		if (brc != SQLITE_OK) {
			rc = db_error(st, err, "opening the history cache");
			break;
		}
		size = (size_t)sqlite3_blob_bytes(blob);
		if (size > cap) {
			void *nb = realloc(buf, size);

			if (nb == NULL) {
				rc = se_error_set(err, SE_ENOMEM, "out of memory reading the history cache");
				break;
			}
			buf = nb;
			cap = size;
		}
		if (sqlite3_blob_read(blob, buf, (int)size, 0) != SQLITE_OK) {
			rc = db_error(st, err, "reading the history cache");
			break;
		}
		if ((rc = fn(ud, buf, size, err)) != SE_OK)
			break;
	}
	sqlite3_reset(s);
	sqlite3_blob_close(blob);
	free(buf);
	if (rc == SE_OK && step != SQLITE_DONE)
		return db_error(st, err, "reading the history cache");
	return rc;
}
