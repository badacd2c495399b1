/*
 * store.c: SQLite behind the event store.
 *
 * Statements are prepared once in se_store_open() into an enum-indexed array
 * and each use is bind -> step -> reset, the way SQLite's own extensions do
 * it.  Names and deal keys are interned through in-memory maps in front of
 * the tables, so an import touches SQLite once per new name, not per row,
 * and events and new deals go in as multi-row INSERTs.
 *
 * The history cache (table deal_chunk) is derived data: meta.cache_rowid
 * is the highest event row it covers.  se_store_refresh() reads the rows
 * above it in rowid order (a sequential scan, in bounded windows), merges
 * them into the packed chunks of their deals (old events come back from the
 * chunks' own blobs, not from SQL) and moves the mark, in one transaction.
 * A killed import leaves committed events above the mark, so the next run
 * folds them in: the cache is never silently behind.  The rows this
 * connection inserted itself are kept in memory for that merge, so they are
 * not read back (see "rows kept from the import").
 *
 * A second connection, on a thread of its own, copies the WAL into the
 * database file after large commits (the checkpointer); it only ever
 * checkpoints, so everything else stays on the caller's thread.
 */
#include "store.h"
#include "history.h"
#include "strmap.h"

#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

/* Past this many cached deal keys the map is dropped and refilled lazily:
 * keeps an import's memory bounded however many deals there are. */
#define DEAL_CACHE_MAX 4000000
/* A store with at most this many deals has all their keys loaded when an
 * import starts, so a key not in the map is new without asking SQLite. */
#define DEAL_PRELOAD_MAX 2000000
#define DEAL_GROUP 64

enum deal_cache_state {
	DEALS_UNKNOWN,
	DEALS_COMPLETE,   /* the map holds every key: a miss is a new deal */
	DEALS_PARTIAL,    /* SQLite decides */
	DEALS_LENT        /* the map is out (se_store_lend_deals) */
};

/* A commit that leaves this many frames (16 MiB) in the WAL asks the
 * checkpointer thread to copy them into the database file. */
#define CHECKPOINT_FRAMES 1024

/* Copies the WAL into the database file on its own connection and thread,
 * so a large import goes on writing while the last batches are copied
 * (SQLite's own autocheckpoint would stop the committing thread for it). */
typedef struct checkpointer {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	sqlite3 *db;
	int started;
	int pending;              /* a commit asked for a checkpoint */
	int stop;
} checkpointer;

/* The capture of inserted rows (see "rows kept from the import"). */
enum capture_state {
	CAP_NONE,         /* nothing kept */
	CAP_ACTIVE,       /* every row above cap_base is kept, up to cap_last */
	CAP_FROZEN        /* rows up to cap_last are kept, later ones are not */
};

/* Kept rows and the import's deal keys together stay under this: past it
 * the rest of the import is read back from SQL instead, as it was before
 * rows were kept (the keys are freed before that read).  1M deals and
 * 3.2M rows take 84 + 44 MiB. */
#define CAPTURE_BUDGET ((size_t)144 << 20)

struct se_deal_numbers {
	se_strmap *map;
	int64_t next;
};

enum stmt_id {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_DEAL_INSERT,
	ST_DEAL_FIND,
	ST_DEAL_KEY,
	ST_DEAL_STATS,
	ST_DEAL_MAX,
	ST_DEAL_ALL,
	ST_DEAL_ADD,
	ST_DEAL_ADD_GROUP,
	ST_DICT_INSERT0,
	ST_DICT_FIND0 = ST_DICT_INSERT0 + SE_DICT_COUNT,
	ST_DICT_ALL0 = ST_DICT_FIND0 + SE_DICT_COUNT,
	ST_EVENT_INSERT = ST_DICT_ALL0 + SE_DICT_COUNT,
	ST_EVENT_INSERT_GROUP,
	ST_META_GET,
	ST_META_SET,
	ST_MAX_EVENT,
	ST_DELTA_ROWS,
	ST_EVENT_KEY,
	ST_CHUNK_GET,
	ST_CHUNK_PUT,
	ST_CHUNK_ALL,
	ST_JSON_MEMBERS,
	ST_ALERT_GET,
	ST_ALERT_PUT,
	ST_ALERT_DELETE,
	ST_ALERT_FIRING,
	/* Adapter state: prepared on first use (the table may not exist yet). */
	ST_STATE_GET,
	ST_STATE_SET,
	ST_STATE_DEL,
	ST_STATE_KEYS,
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
	/* A rowid table: new events append, and the history cache catches up
	 * by reading the rows above the last one it covers, in rowid order.
	 * The unique event_key index is the dedup.  No index on deal: it would
	 * cost more at import than all the rest together. */
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
	"CREATE TABLE IF NOT EXISTS deal_chunk(id INTEGER PRIMARY KEY, data BLOB NOT NULL,"
	" detail BLOB NOT NULL);"
	"CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;"
	/* One row per alert (rule and scope) that is pending, firing or was
	 * resolved: what lets a firing alert be announced once, and its
	 * resolution once, across runs. */
	"CREATE TABLE IF NOT EXISTS alert_state("
	" rule TEXT NOT NULL, scope TEXT NOT NULL,"
	" state TEXT NOT NULL CHECK (state IN ('pending', 'firing', 'resolved')),"
	" since INTEGER NOT NULL, changed INTEGER NOT NULL, holds INTEGER NOT NULL,"
	" value REAL, notified INTEGER NOT NULL DEFAULT 0,"
	" PRIMARY KEY (rule, scope)) WITHOUT ROWID;"
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
	char *key_buf;               /* an event_id fetched to order a tie */
	size_t key_cap;
	char *state_buf;             /* the last value se_store_state_get() gave */
	size_t state_cap;
	int state_ready;             /* the adapter_state statements are prepared */
	/* Events queued for the multi-row insert, keys copied. */
	se_event_in queued[SE_STORE_GROUP];
	char queued_keys[SE_STORE_GROUP][SE_STORE_MAX_KEY];
	int n_queued;
	int64_t tx_inserted, tx_ignored;
	/* New deals numbered here and queued for a multi-row insert. */
	int deal_state;              /* enum deal_cache_state */
	int64_t next_deal;
	int64_t expected_rows;       /* se_store_expect_rows() */
	int lent_valid;              /* DEALS_LENT: the reader's numbers still hold */
	int64_t lent_max;            /* DEALS_LENT: highest deal id in the table */
	int64_t queued_deal_ids[DEAL_GROUP];
	char queued_deal_keys[DEAL_GROUP][SE_STORE_MAX_KEY];
	size_t queued_deal_lens[DEAL_GROUP];
	int n_queued_deals;
	/* The rows this connection inserted, kept for the cache refresh (see
	 * "rows kept from the import" below): rows (cap_base, cap_last] when
	 * cap_state is CAP_ACTIVE or CAP_FROZEN. */
	se_history_delta *cap;
	int cap_state;               /* enum capture_state */
	int cap_checked;             /* the transaction's first insert checked it */
	int64_t cap_base, cap_last;
	size_t cap_limit;            /* bytes the kept rows may take */
	int64_t refreshed_from_memory;
	int wal_frames;              /* frames in the WAL after our last commit */
	checkpointer ckpt;
};

static void capture_drop(se_store *st);

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

#define EVENT_COLUMNS "event_key, deal, ts, status, from_status, manager, source, amount, pipeline, currency"
#define EVENT_PARAMS 10

static int prepare_group_insert(se_store *st, se_error *err)
{
	char sql[SE_STORE_GROUP * 64 + 256];
	size_t n = 0;
	int rc;

	/* OR IGNORE, not ON CONFLICT(event_key) DO NOTHING: the same for what
	 * is bound here (an event_id already stored is skipped, and no bound
	 * value breaks NOT NULL), but a statement that can abort halfway makes
	 * SQLite copy each page it touches into a statement journal first:
	 * 6% of an import's instructions. */
	n += (size_t)snprintf(sql + n, sizeof sql - n, "INSERT OR IGNORE INTO event(" EVENT_COLUMNS ") VALUES");
	for (int r = 0; r < SE_STORE_GROUP; r++)
		n += (size_t)snprintf(sql + n, sizeof sql - n, "%s(?,?,?,?,?,?,?,?,?,?)", r ? "," : "");
	if ((rc = prepare(st, ST_EVENT_INSERT_GROUP, sql, err)) != SE_OK)
		return rc;
	return SE_OK;
}

static int prepare_deal_group(se_store *st, se_error *err)
{
	char sql[DEAL_GROUP * 8 + 64];
	size_t n = 0;

	/* OR IGNORE spares SQLite the statement journal (see
	 * prepare_group_insert); flush_deal_group() turns a row not stored
	 * into the error ABORT would have given. */
	n += (size_t)snprintf(sql + n, sizeof sql - n, "INSERT OR IGNORE INTO deal(id, key) VALUES");
	for (int r = 0; r < DEAL_GROUP; r++)
		n += (size_t)snprintf(sql + n, sizeof sql - n, "%s(?,?)", r ? "," : "");
	return prepare(st, ST_DEAL_ADD_GROUP, sql, err);
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
		{ ST_DEAL_STATS, "SELECT count(*), coalesce(max(id), 0) FROM deal" },
		{ ST_DEAL_MAX, "SELECT coalesce(max(id), 0) FROM deal" },
		{ ST_DEAL_ALL, "SELECT id, key FROM deal" },
		{ ST_DEAL_ADD, "INSERT INTO deal(id, key) VALUES(?1, ?2)" },
		/* An event_id already stored is a duplicate, whatever its deal or
		 * time say: the first stored version wins. */
		{ ST_EVENT_INSERT,
		  "INSERT INTO event(" EVENT_COLUMNS ") VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)"
		  " ON CONFLICT(event_key) DO NOTHING" },
		{ ST_META_GET, "SELECT value FROM meta WHERE key = ?1" },
		{ ST_META_SET, "INSERT OR REPLACE INTO meta(key, value) VALUES(?1, ?2)" },
		{ ST_MAX_EVENT, "SELECT coalesce(max(id), 0) FROM event" },
		{ ST_DELTA_ROWS,
		  "SELECT id, deal, ts, status, pipeline, manager, source, amount"
		  " FROM event WHERE id > ?1 AND id <= ?3 ORDER BY id LIMIT ?2" },
		{ ST_EVENT_KEY, "SELECT event_key FROM event WHERE id = ?1" },
		{ ST_CHUNK_GET, "SELECT data, detail FROM deal_chunk WHERE id = ?1" },
		{ ST_CHUNK_PUT, "INSERT OR REPLACE INTO deal_chunk(id, data, detail) VALUES(?1, ?2, ?3)" },
		{ ST_CHUNK_ALL, "SELECT id FROM deal_chunk ORDER BY id" },
		/* The outer row makes "[]" and "{}" give one row too, so the top-level
		 * type is always checked. */
		{ ST_JSON_MEMBERS,
		  "SELECT json_type(?1), j.key, j.type, j.atom"
		  " FROM (SELECT 1) LEFT JOIN json_each(?1) AS j" },
		{ ST_ALERT_GET,
		  "SELECT state, since, changed, holds, value, notified FROM alert_state"
		  " WHERE rule = ?1 AND scope = ?2" },
		{ ST_ALERT_PUT,
		  "INSERT OR REPLACE INTO alert_state(rule, scope, state, since, changed, holds, value,"
		  " notified) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)" },
		{ ST_ALERT_DELETE, "DELETE FROM alert_state WHERE rule = ?1 AND scope = ?2" },
		{ ST_ALERT_FIRING,
		  "SELECT rule, scope, since, value FROM alert_state WHERE state = 'firing'"
		  " ORDER BY since, rule, scope" },
	};
	int rc;

	for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
		if ((rc = prepare(st, fixed[i].id, fixed[i].sql, err)) != SE_OK)
			return rc;
	if ((rc = prepare_group_insert(st, err)) != SE_OK || (rc = prepare_deal_group(st, err)) != SE_OK)
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
	/* Takes effect only on a new file.  Events append and the history cache
	 * is large blobs: 16 KiB pages mean a quarter of the page reads and
	 * writes (system calls) of the 4 KiB default for the same bytes. */
	if ((rc = exec_sql(st, "PRAGMA page_size = 16384", err)) != SE_OK)
		return rc;
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

/* Replaces SQLite's autocheckpoint: only notes the WAL's size, for
 * se_store_commit() (a hook must not do the work itself). */
static int note_wal_size(void *ud, sqlite3 *db, const char *name, int frames)
{
	se_store *st = ud;

	(void)db;
	(void)name;
	st->wal_frames = frames;
	return SQLITE_OK;
}

static void *checkpointer_main(void *arg)
{
	checkpointer *ck = arg;

	pthread_mutex_lock(&ck->mu);
	for (;;) {
		while (!ck->stop && !ck->pending)
			pthread_cond_wait(&ck->cv, &ck->mu);
		if (ck->stop)
			break;
		ck->pending = 0;
		pthread_mutex_unlock(&ck->mu);
		/* PASSIVE: copies what no reader still needs, never waits for the
		 * writer.  A failure leaves the frames for the next one (or the
		 * close's checkpoint): nothing is lost either way. */
		sqlite3_wal_checkpoint_v2(ck->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		pthread_mutex_lock(&ck->mu);
	}
	pthread_mutex_unlock(&ck->mu);
	return NULL;
}

static int checkpointer_start(se_store *st)
{
	checkpointer *ck = &st->ckpt;
	const char *path = sqlite3_db_filename(st->db, "main");

	/* A connection finds out the file is in WAL mode only when it first
	 * reads it; until then a checkpoint silently does nothing. */
	if (path == NULL || *path == '\0' ||
	    sqlite3_open_v2(path, &ck->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
	    sqlite3_exec(ck->db, "PRAGMA schema_version", NULL, NULL, NULL) != SQLITE_OK) {
		sqlite3_close(ck->db);
		ck->db = NULL;
		return SE_EDB;
	}
	pthread_mutex_init(&ck->mu, NULL);
	pthread_cond_init(&ck->cv, NULL);
	if (pthread_create(&ck->thread, NULL, checkpointer_main, ck) != 0) {
		pthread_cond_destroy(&ck->cv);
		pthread_mutex_destroy(&ck->mu);
		sqlite3_close(ck->db);
		ck->db = NULL;
		return SE_ERR;
	}
	ck->started = 1;
	return SE_OK;
}

/* Closes the checkpointer's connection first: the store's own close is
 * then the last one and checkpoints whatever is left, as always. */
static void checkpointer_stop(se_store *st)
{
	checkpointer *ck = &st->ckpt;

	if (!ck->started)
		return;
	pthread_mutex_lock(&ck->mu);
	ck->stop = 1;
	pthread_cond_signal(&ck->cv);
	pthread_mutex_unlock(&ck->mu);
	pthread_join(ck->thread, NULL);
	pthread_cond_destroy(&ck->cv);
	pthread_mutex_destroy(&ck->mu);
	sqlite3_close(ck->db);
	memset(ck, 0, sizeof *ck);
}

static void checkpoint_soon(se_store *st)
{
	checkpointer *ck = &st->ckpt;

	st->wal_frames = 0;
	if (!ck->started && checkpointer_start(st) != SE_OK) {
		/* No second connection or thread: copy here, as SQLite would. */
		sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		return;
	}
	pthread_mutex_lock(&ck->mu);
	ck->pending = 1;
	pthread_cond_signal(&ck->cv);
	pthread_mutex_unlock(&ck->mu);
}

/* SQLite keeps memory statistics by default, which takes a global mutex
 * on every malloc and free: some 5% of an import's SQLite time, for
 * figures nobody reads.  Only possible before SQLite initializes (if
 * something opened a database first, it stays on). */
static void configure_sqlite(void)
{
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

int se_store_open(se_store **out, const char *path, unsigned flags, se_error *err)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	se_store *st = NULL;
	int rc = SE_ENOMEM;
	int oflags = (flags & SE_STORE_READONLY) ? SQLITE_OPEN_READONLY
	                                         : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;

	oflags |= SQLITE_OPEN_NOMUTEX; /* one connection, one thread: no locking needed */
	pthread_once(&once, configure_sqlite);

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
	if (!(flags & SE_STORE_READONLY))
		sqlite3_wal_hook(st->db, note_wal_size, st);
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
	checkpointer_stop(st);
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(st->stmt[i]);
	for (int d = 0; d < SE_DICT_COUNT; d++)
		se_strmap_free(st->dict_cache[d]);
	se_strmap_free(st->deal_cache);
	capture_drop(st);
	free(st->key_buf);
	free(st->state_buf);
	sqlite3_close(st->db);
	free(st);
}

/* ---- transactions ------------------------------------------------------ */

/* Another connection may have added deals since our last transaction: then
 * the numbering and the "all keys in memory" promise no longer hold. */
static void check_deal_numbering(se_store *st)
{
	sqlite3_stmt *s = st->stmt[ST_DEAL_MAX];
	int64_t expected;

	if (st->deal_state == DEALS_COMPLETE)
		expected = st->next_deal - 1;
	else if (st->deal_state == DEALS_LENT && st->lent_valid)
		expected = st->lent_max;
	else
		return;
	if (sqlite3_step(s) != SQLITE_ROW || sqlite3_column_int64(s, 0) != expected) {
		if (st->deal_state == DEALS_LENT)
			st->lent_valid = 0;
		else
			st->deal_state = DEALS_UNKNOWN;
	}
	sqlite3_reset(s);
}

int se_store_begin(se_store *st, se_error *err)
{
	int rc = step_done(st, st->stmt[ST_BEGIN], err, "starting a transaction");

	if (rc == SE_OK)
		check_deal_numbering(st);
	st->n_queued = 0;
	st->tx_inserted = st->tx_ignored = 0;
	st->cap_checked = 0;
	if (rc == SE_OK)
		st->in_tx = 1;
	return rc;
}

static int flush_queued_deals(se_store *st, se_error *err);
static int flush_queued(se_store *st, se_error *err);

int se_store_commit(se_store *st, se_error *err)
{
	int rc = flush_queued_deals(st, err);

	if (rc == SE_OK)
		rc = flush_queued(st, err);
	if (rc != SE_OK)
		return rc;
	rc = step_done(st, st->stmt[ST_COMMIT], err, "committing");
	if (rc == SE_OK)
		st->in_tx = 0;
	if (rc == SE_OK && st->wal_frames >= CHECKPOINT_FRAMES)
		checkpoint_soon(st);
	return rc;
}

/* Forgets cached ids too: rows they point to may be gone with the rollback. */
void se_store_rollback(se_store *st)
{
	step_done(st, st->stmt[ST_ROLLBACK], NULL, "rolling back");
	st->in_tx = 0;
	st->n_queued = 0;
	st->n_queued_deals = 0;
	if (st->deal_state == DEALS_LENT)
		st->lent_valid = 0; /* the lent numbers may name rolled-back rows */
	else
		st->deal_state = DEALS_UNKNOWN;
	st->tx_inserted = st->tx_ignored = 0;
	capture_drop(st); /* its rows may be gone with the transaction */
	for (int d = 0; d < SE_DICT_COUNT; d++)
		se_strmap_clear(st->dict_cache[d]);
	se_strmap_clear(st->deal_cache);
	/* The state table may have been created by the rolled-back transaction. */
	for (int i = ST_STATE_GET; i <= ST_STATE_KEYS; i++) {
		sqlite3_finalize(st->stmt[i]);
		st->stmt[i] = NULL;
	}
	st->state_ready = 0;
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

/* ---- deals ---------------------------------------------------------------- */

static int load_all_deals(se_store *st, se_error *err)
{
	sqlite3_stmt *s = st->stmt[ST_DEAL_ALL];
	int rc = SE_OK, step;

	while ((step = sqlite3_step(s)) == SQLITE_ROW) {
		const char *key = (const char *)sqlite3_column_text(s, 1);

		if (se_strmap_put(st->deal_cache, key, (size_t)sqlite3_column_bytes(s, 1),
		                  sqlite3_column_int64(s, 0)) != SE_OK) {
			rc = se_error_set(err, SE_ENOMEM, "out of memory");
			break;
		}
	}
	sqlite3_reset(s);
	if (rc == SE_OK && step != SQLITE_DONE)
		return db_error(st, err, "reading deals");
	return rc;
}

/* Decides, once per transaction run, whether the map holds every deal key
 * (then a miss is a new deal, numbered here without asking SQLite). */
static int init_deal_cache(se_store *st, se_error *err)
{
	sqlite3_stmt *s = st->stmt[ST_DEAL_STATS];
	int64_t count = 0;
	int rc;

	if (sqlite3_step(s) == SQLITE_ROW) {
		count = sqlite3_column_int64(s, 0);
		st->next_deal = sqlite3_column_int64(s, 1) + 1;
	}
	rc = sqlite3_reset(s);
	if (rc != SQLITE_OK)
		return db_error(st, err, "counting deals");
	se_strmap_clear(st->deal_cache);
	st->deal_state = DEALS_PARTIAL;
	/* Preload when the import may touch a fair share of the deals (a row
	 * per four stored deals or more); else each new key costs one lookup,
	 * which is cheaper than reading them all. */
	if (count <= DEAL_PRELOAD_MAX && (count == 0 || st->expected_rows >= count / 4)) {
		if ((rc = load_all_deals(st, err)) != SE_OK)
			return rc;
		st->deal_state = DEALS_COMPLETE;
	}
	return SE_OK;
}

static int flush_deal_group(se_store *st, se_error *err)
{
	sqlite3_stmt *s = st->stmt[ST_DEAL_ADD_GROUP];
	int rc;

	for (int r = 0; r < DEAL_GROUP; r++) {
		sqlite3_bind_int64(s, 2 * r + 1, st->queued_deal_ids[r]);
		sqlite3_bind_text(s, 2 * r + 2, st->queued_deal_keys[r], (int)st->queued_deal_lens[r], SQLITE_STATIC);
	}
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return db_error(st, err, "storing a deal");
	if (sqlite3_changes(st->db) != DEAL_GROUP)
		return se_error_set(err, SE_EDB, "storing a deal: its number or key is taken already");
	st->n_queued_deals = 0;
	return SE_OK;
}

static int flush_queued_deals(se_store *st, se_error *err)
{
	sqlite3_stmt *s = st->stmt[ST_DEAL_ADD];
	int n = st->n_queued_deals;

	st->n_queued_deals = 0;
	for (int r = 0; r < n; r++) {
		int rc;

		sqlite3_bind_int64(s, 1, st->queued_deal_ids[r]);
		sqlite3_bind_text(s, 2, st->queued_deal_keys[r], (int)st->queued_deal_lens[r], SQLITE_STATIC);
		if ((rc = step_done(st, s, err, "storing a deal")) != SE_OK)
			return rc;
	}
	return SE_OK;
}

static int queue_new_deal(se_store *st, const char *key, size_t len, int64_t *id, se_error *err)
{
	int n = st->n_queued_deals;

	if (len > SE_STORE_MAX_KEY)
		return se_error_set(err, SE_EINPUT, "deal id longer than %d bytes", SE_STORE_MAX_KEY);
	*id = st->next_deal++;
	st->queued_deal_ids[n] = *id;
	memcpy(st->queued_deal_keys[n], key, len);
	st->queued_deal_lens[n] = len;
	if (++st->n_queued_deals < DEAL_GROUP)
		return SE_OK;
	return flush_deal_group(st, err);
}

int se_store_intern_deal(se_store *st, const char *key, size_t len, int64_t *id, se_error *err)
{
	int rc;

	if (st->deal_state == DEALS_UNKNOWN && (rc = init_deal_cache(st, err)) != SE_OK)
		return rc;
	if (se_strmap_get(st->deal_cache, key, len, id))
		return SE_OK;
	/* While the map is lent (and in PARTIAL), SQLite decides below. */
	if (st->deal_state == DEALS_COMPLETE) {
		rc = queue_new_deal(st, key, len, id, err);
		/* Outside a transaction nobody commits the queue: write it now. */
		if (rc == SE_OK && !st->in_tx)
			rc = flush_queued_deals(st, err);
	} else {
		/* Keys are not all in memory: SQLite decides (queued deals first,
		 * so the lookup sees them). */
		if ((rc = flush_queued_deals(st, err)) != SE_OK)
			return rc;
		rc = insert_or_find(st, st->stmt[ST_DEAL_INSERT], st->stmt[ST_DEAL_FIND], key, len, id, err);
		if (rc == SE_OK && *id >= st->next_deal)
			st->next_deal = *id + 1;
	}
	if (rc != SE_OK)
		return rc;
	if (*id > UINT32_MAX)
		return se_error_set(err, SE_EDB, "more than 4294967295 deals");
	if (se_strmap_count(st->deal_cache) >= DEAL_CACHE_MAX) {
		se_strmap_clear(st->deal_cache);
		st->deal_state = DEALS_PARTIAL;
	}
	if (se_strmap_put(st->deal_cache, key, len, *id) != SE_OK)
		return se_error_set(err, SE_ENOMEM, "out of memory");
	return SE_OK;
}

void se_store_expect_rows(se_store *st, int64_t rows)
{
	st->expected_rows = rows;
	if (st->deal_state == DEALS_PARTIAL)
		st->deal_state = DEALS_UNKNOWN; /* decide again with the new hint */
}

int se_store_lend_deals(se_store *st, se_deal_numbers **out, se_error *err)
{
	se_deal_numbers *dn;
	se_strmap *empty;
	int rc;

	*out = NULL;
	if (st->deal_state == DEALS_UNKNOWN && (rc = init_deal_cache(st, err)) != SE_OK)
		return rc;
	if (st->deal_state != DEALS_COMPLETE)
		return SE_OK;
	/* Queued deals go in first: the table must hold every lent number
	 * below the ones the reader will hand out. */
	if ((rc = flush_queued_deals(st, err)) != SE_OK)
		return rc;
	if ((dn = malloc(sizeof *dn)) == NULL || (empty = se_strmap_new()) == NULL) {
		free(dn);
		return se_error_set(err, SE_ENOMEM, "out of memory");
	}
	dn->map = st->deal_cache;
	dn->next = st->next_deal;
	st->deal_cache = empty;
	st->deal_state = DEALS_LENT;
	st->lent_valid = 1;
	st->lent_max = st->next_deal - 1;
	*out = dn;
	return SE_OK;
}

int se_deal_numbers_get(se_deal_numbers *dn, const char *key, size_t len, int64_t *id, int *is_new)
{
	*is_new = 0;
	if (se_strmap_get(dn->map, key, len, id))
		return SE_OK;
	if (se_strmap_count(dn->map) >= DEAL_CACHE_MAX)
		return SE_ENOMEM; /* the caller interns the rest the slow way */
	*id = dn->next++;
	*is_new = 1;
	return se_strmap_put(dn->map, key, len, *id);
}

int se_store_use_lent_deal(se_store *st, const char *key, size_t len, int64_t lent_id, int is_new,
                           int64_t *id, se_error *err)
{
	int n = st->n_queued_deals;

	if (st->deal_state != DEALS_LENT || !st->lent_valid || lent_id == 0)
		return se_store_intern_deal(st, key, len, id, err);
	*id = lent_id;
	if (!is_new)
		return SE_OK;
	if (len > SE_STORE_MAX_KEY)
		return se_error_set(err, SE_EINPUT, "deal id longer than %d bytes", SE_STORE_MAX_KEY);
	st->queued_deal_ids[n] = lent_id;
	memcpy(st->queued_deal_keys[n], key, len);
	st->queued_deal_lens[n] = len;
	st->lent_max = lent_id;
	if (++st->n_queued_deals < DEAL_GROUP)
		return SE_OK;
	return flush_deal_group(st, err);
}

void se_store_return_deals(se_store *st, se_deal_numbers *dn)
{
	if (dn == NULL)
		return;
	if (st->deal_state == DEALS_LENT && st->lent_valid) {
		se_strmap_free(st->deal_cache);
		st->deal_cache = dn->map;
		st->next_deal = dn->next;
		/* Numbers the reader gave to rows never stored leave gaps: the
		 * table's highest id is what counts from here on. */
		st->deal_state = st->lent_max == dn->next - 1 ? DEALS_COMPLETE : DEALS_UNKNOWN;
	} else {
		se_strmap_free(dn->map);
		se_strmap_clear(st->deal_cache);
		st->deal_state = DEALS_UNKNOWN;
	}
	free(dn);
}

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
 * are read from SQL as before.  A rollback drops it: its rows may be gone.  Memory only: a
 * killed import loses it, and the refresh from meta.cache_rowid reads
 * everything from SQL.
 */

typedef struct delta_row {
	int64_t id, ts;
	double amount;
	uint32_t deal, status, pipeline, manager, source;
} delta_row;

/* One row of ST_DELTA_ROWS. */
static void delta_row_read(sqlite3_stmt *s, delta_row *r)
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

static se_history_row history_row(const delta_row *d)
{
	se_history_row r = {
		.deal = d->deal, .ts = d->ts, .rowid = d->id,
		.status = d->status, .pipeline = d->pipeline,
		.manager = d->manager, .source = d->source, .amount = d->amount,
	};

	return r;
}

static void capture_drop(se_store *st)
{
	se_history_delta_free(st->cap);
	st->cap = NULL;
	st->cap_state = CAP_NONE;
}

/* Before each insert statement.  The transaction's first insert makes sure
 * the kept rows still end where the table does, or starts keeping them. */
static int capture_check(se_store *st, se_error *err)
{
	sqlite3_stmt *s = st->stmt[ST_MAX_EVENT];
	int64_t top;
	size_t deal_keys;
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
	deal_keys = se_strmap_bytes(st->deal_state == DEALS_LENT ? (size_t)st->lent_max
	                                                         : se_strmap_count(st->deal_cache));
	st->cap_limit = deal_keys < CAPTURE_BUDGET ? CAPTURE_BUDGET - deal_keys : 0;
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

/* Keeps one inserted row; it must be the next one after cap_last. */
static void capture_row(se_store *st, const se_history_row *r)
{
	se_error ignored;

	if (r->rowid != st->cap_last + 1 || se_history_delta_bytes(st->cap) >= st->cap_limit ||
	    se_history_delta_add(st->cap, r, &ignored) != SE_OK) {
		st->cap_state = CAP_FROZEN;
		return;
	}
	st->cap_last = r->rowid;
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

/* Binds one event's ten values starting at parameter base + 1. */
static void bind_event(sqlite3_stmt *s, int base, const se_event_in *ev)
{
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
	bind_event(s, 0, ev);
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
		bind_event(s, r * EVENT_PARAMS, &st->queued[r]);
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
static int flush_queued(se_store *st, se_error *err)
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

	if ((rc = flush_queued_deals(st, err)) != SE_OK)
		return rc;
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

/* ---- adapter state ------------------------------------------------------ */

/* Import adapters keep what they must remember between runs (BlueSales:
 * each customer's status in the last dump) in adapter_state, one namespace
 * per adapter.  It is written inside the import's own transactions, so
 * events and state commit together.  The table came after schema version 1
 * and is additive: it is created, and its statements prepared, the first
 * time an adapter uses state, so older stores need no migration. */
static int state_prepare(se_store *st, se_error *err)
{
	static const struct { enum stmt_id id; const char *sql; } state_sql[] = {
		{ ST_STATE_GET, "SELECT value FROM adapter_state WHERE adapter = ?1 AND key = ?2" },
		{ ST_STATE_SET, "INSERT OR REPLACE INTO adapter_state(adapter, key, value) VALUES(?1, ?2, ?3)" },
		{ ST_STATE_DEL, "DELETE FROM adapter_state WHERE adapter = ?1 AND key = ?2" },
		{ ST_STATE_KEYS,
		  "SELECT key FROM adapter_state WHERE adapter = ?1 AND substr(key, 1, length(?2)) = ?2"
		  " ORDER BY key" },
	};
	int rc;

	if (st->state_ready)
		return SE_OK;
	if ((rc = exec_sql(st, "CREATE TABLE IF NOT EXISTS adapter_state(adapter TEXT NOT NULL,"
	                       " key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY(adapter, key))"
	                       " WITHOUT ROWID", err)) != SE_OK)
		return rc;
	for (size_t i = 0; i < sizeof state_sql / sizeof state_sql[0]; i++)
		if ((rc = prepare(st, state_sql[i].id, state_sql[i].sql, err)) != SE_OK)
			return rc;
	st->state_ready = 1;
	return SE_OK;
}

int se_store_state_get(se_store *st, const char *ns, const char *key, size_t len,
                       const char **value, size_t *value_len, se_error *err)
{
	sqlite3_stmt *s;
	int rc;

	*value = NULL;
	*value_len = 0;
	if ((rc = state_prepare(st, err)) != SE_OK)
		return rc;
	s = st->stmt[ST_STATE_GET];
	sqlite3_bind_text(s, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, key, (int)len, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		size_t n = (size_t)sqlite3_column_bytes(s, 0);
		const char *text = (const char *)sqlite3_column_text(s, 0);

		if (n + 1 > st->state_cap) {
			char *nb = realloc(st->state_buf, n + 1);

			if (nb == NULL) {
				sqlite3_reset(s);
				return se_error_set(err, SE_ENOMEM, "out of memory");
			}
			st->state_buf = nb;
			st->state_cap = n + 1;
		}
		memcpy(st->state_buf, text ? text : "", n);
		st->state_buf[n] = '\0';
		*value = st->state_buf;
		*value_len = n;
	}
	sqlite3_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_error(st, err, "reading adapter state");
	return SE_OK;
}

int se_store_state_set(se_store *st, const char *ns, const char *key, size_t len,
                       const char *value, size_t value_len, se_error *err)
{
	sqlite3_stmt *s;
	int rc;

	if ((rc = state_prepare(st, err)) != SE_OK)
		return rc;
	s = st->stmt[value != NULL ? ST_STATE_SET : ST_STATE_DEL];
	sqlite3_bind_text(s, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, key, (int)len, SQLITE_STATIC);
	if (value != NULL)
		sqlite3_bind_text(s, 3, value, (int)value_len, SQLITE_STATIC);
	return step_done(st, s, err, "writing adapter state");
}

int se_store_state_keys(se_store *st, const char *ns, const char *prefix, size_t len,
                        se_state_key_fn fn, void *ud, se_error *err)
{
	sqlite3_stmt *s;
	int rc, step;

	if ((rc = state_prepare(st, err)) != SE_OK)
		return rc;
	s = st->stmt[ST_STATE_KEYS];
	sqlite3_reset(s); /* fn may have left it mid-way by raising (a Lua error) */
	sqlite3_bind_text(s, 1, ns, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, prefix, (int)len, SQLITE_STATIC);
	while ((step = sqlite3_step(s)) == SQLITE_ROW) {
		if ((rc = fn(ud, (const char *)sqlite3_column_text(s, 0),
		             (size_t)sqlite3_column_bytes(s, 0))) != SE_OK)
			break;
	}
	sqlite3_reset(s);
	if (rc == SE_OK && step != SQLITE_DONE)
		return db_error(st, err, "listing adapter state");
	return rc;
}

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
 * bounded however large an import was (2.5 M rows, 120 MB: the fewer the
 * windows, the fewer times a chunk is rewritten). */
#define DELTA_WINDOW 2500000

static int read_delta(se_store *st, int64_t after, int64_t upto, delta_row *rows, size_t *n,
                      se_error *err)
{
	sqlite3_stmt *s = st->stmt[ST_DELTA_ROWS];
	size_t k = 0;
	int rc;

	sqlite3_bind_int64(s, 1, after);
	sqlite3_bind_int64(s, 2, DELTA_WINDOW);
	sqlite3_bind_int64(s, 3, upto);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		delta_row_read(s, &rows[k++]);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return db_error(st, err, "reading new events for the history cache");
	*n = k;
	return SE_OK;
}

static int fetch_event_key(void *ud, int64_t rowid, const char **key, size_t *len, se_error *err)
{
	se_store *st = ud;
	sqlite3_stmt *s = st->stmt[ST_EVENT_KEY];
	int rc;

	sqlite3_bind_int64(s, 1, rowid);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		size_t n = (size_t)sqlite3_column_bytes(s, 0);

		if (n + 1 > st->key_cap) {
			char *nb = realloc(st->key_buf, n + 1);

			if (nb == NULL) {
				sqlite3_reset(s);
				return se_error_set(err, SE_ENOMEM, "out of memory");
			}
			st->key_buf = nb;
			st->key_cap = n + 1;
		}
		memcpy(st->key_buf, sqlite3_column_text(s, 0), n);
		st->key_buf[n] = '\0';
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
		}
		free(data);
		free(detail);
	} else if (step != SQLITE_DONE) {
		rc = db_error(st, err, "reading the history cache");
	}
	sqlite3_reset(s);
	return rc;
}

static int store_chunk(se_store *st, se_history_builder *b, int64_t chunk, se_error *err)
{
	sqlite3_stmt *put = st->stmt[ST_CHUNK_PUT];
	const void *blob, *detail;
	size_t size, detail_size;
	int rc;

	if ((rc = se_history_builder_pack(b, &blob, &size, err)) != SE_OK)
		return rc;
	se_history_builder_detail(b, &detail, &detail_size);
	sqlite3_bind_int64(put, 1, chunk);
	sqlite3_bind_blob64(put, 2, blob, size, SQLITE_STATIC);
	sqlite3_bind_blob64(put, 3, detail, detail_size, SQLITE_STATIC);
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

/* Merges the rows in (after, upto] from SQL, a window at a time; *last is
 * the highest rowid read (unchanged if none).  The window's memory is taken
 * only when there are rows. */
static int merge_from_sql(se_store *st, se_history_builder *b, delta_row **rows, int64_t after,
                          int64_t upto, int64_t *last, se_error *err)
{
	size_t n = 0;
	int rc;

	for (;;) {
		if (*rows == NULL && (*rows = malloc(DELTA_WINDOW * sizeof **rows)) == NULL)
			return se_error_set(err, SE_ENOMEM, "out of memory");
		if ((rc = read_delta(st, after, upto, *rows, &n, err)) != SE_OK)
			return rc;
		if (n == 0)
			return SE_OK;
		after = *last = (*rows)[n - 1].id; /* read in rowid order: the last is the highest */
		if ((rc = merge_window(st, b, *rows, n, err)) != SE_OK)
			return rc;
	}
}

/* Merges the rows kept in memory, chunk by chunk, freeing them as it goes. */
static int merge_from_capture(se_store *st, se_history_builder *b, se_error *err)
{
	int64_t chunk = -1;
	int rc;

	while ((chunk = se_history_delta_next_chunk(st->cap, chunk)) >= 0) {
		se_history_builder_reset(b);
		if ((rc = load_chunk(st, b, chunk, err)) != SE_OK ||
		    (rc = se_history_delta_take(st->cap, chunk, b, err)) != SE_OK ||
		    (rc = store_chunk(st, b, chunk, err)) != SE_OK)
			return rc;
	}
	return SE_OK;
}

int se_store_refresh(se_store *st, se_error *err)
{
	se_history_builder *b = NULL;
	delta_row *rows = NULL;
	int64_t covered, top, last, below;
	int rc;

	st->refreshed_from_memory = 0;
	covered = meta_get_int(st, "cache_rowid", 0);
	top = query_int(st->stmt[ST_MAX_EVENT], 0);
	if (covered == top) {
		capture_drop(st);
		return SE_OK;
	}
	/* The deal keys of an import are not needed any more: give their
	 * memory back before the windows take theirs. */
	se_strmap_free(st->deal_cache);
	if ((st->deal_cache = se_strmap_new()) == NULL)
		return se_error_set(err, SE_ENOMEM, "out of memory");
	st->deal_state = DEALS_UNKNOWN;
	if ((rc = se_store_begin(st, err)) != SE_OK)
		return rc;
	if (covered > top) { /* events were deleted behind our back: start over */
		if ((rc = exec_sql(st, "DELETE FROM deal_chunk", err)) != SE_OK)
			goto out;
		covered = 0;
	}
	/* Kept rows at or below the mark are in the cache already (another
	 * connection refreshed it): then they serve nothing. */
	if (st->cap_state != CAP_NONE && (st->cap_base < covered || st->cap_last > top))
		capture_drop(st);
	if ((rc = se_history_builder_new(&b, err)) != SE_OK)
		goto out;
	se_history_builder_key_fetch(b, fetch_event_key, st);
	last = covered;
	if (st->cap_state == CAP_NONE) {
		rc = merge_from_sql(st, b, &rows, covered, INT64_MAX, &last, err);
	} else {
		/* Rows (covered, cap_base] come from SQL (a killed import left
		 * them), (cap_base, cap_last] from memory, and any later ones
		 * (the capture froze) from SQL.  The order of merging does not
		 * matter: each chunk is sorted whole.  Memory first, so the
		 * kept rows are freed before a window is taken. */
		st->refreshed_from_memory = se_history_delta_rows(st->cap);
		last = st->cap_last;
		if ((rc = merge_from_capture(st, b, err)) == SE_OK &&
		    (rc = merge_from_sql(st, b, &rows, covered, st->cap_base, &below, err)) == SE_OK)
			rc = merge_from_sql(st, b, &rows, st->cap_last, INT64_MAX, &last, err);
	}
	if (rc != SE_OK)
		goto out;
	if ((rc = meta_set_int(st, "cache_rowid", last, err)) != SE_OK)
		goto out;
	rc = se_store_commit(st, err);
out:
	if (rc != SE_OK && st->in_tx)
		se_store_rollback(st);
	capture_drop(st);
	se_history_builder_free(b);
	free(rows);
	return rc;
}

int64_t se_store_rows_from_memory(const se_store *st)
{
	return st->refreshed_from_memory;
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

/* ---- alert state ------------------------------------------------------------ */

int se_store_alert_get(se_store *st, const char *rule, const char *scope, se_alert_state *out,
                       int *found, se_error *err)
{
	sqlite3_stmt *s = st->stmt[ST_ALERT_GET];
	int rc;

	*found = 0;
	memset(out, 0, sizeof *out);
	sqlite3_bind_text(s, 1, rule, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, scope, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*found = 1;
		snprintf(out->state, sizeof out->state, "%s", (const char *)sqlite3_column_text(s, 0));
		out->since = sqlite3_column_int64(s, 1);
		out->changed = sqlite3_column_int64(s, 2);
		out->holds = sqlite3_column_int64(s, 3);
		out->value = sqlite3_column_type(s, 4) == SQLITE_NULL ? NAN : sqlite3_column_double(s, 4);
		out->notified = sqlite3_column_int64(s, 5);
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_error(st, err, "reading alert state");
	return SE_OK;
}

int se_store_alert_put(se_store *st, const char *rule, const char *scope, const se_alert_state *a,
                       se_error *err)
{
	sqlite3_stmt *s = st->stmt[ST_ALERT_PUT];

	sqlite3_bind_text(s, 1, rule, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, scope, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, a->state, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, a->since);
	sqlite3_bind_int64(s, 5, a->changed);
	sqlite3_bind_int64(s, 6, a->holds);
	if (isnan(a->value))
		sqlite3_bind_null(s, 7);
	else
		sqlite3_bind_double(s, 7, a->value);
	sqlite3_bind_int64(s, 8, a->notified);
	return step_done(st, s, err, "saving alert state");
}

int se_store_alert_delete(se_store *st, const char *rule, const char *scope, se_error *err)
{
	sqlite3_stmt *s = st->stmt[ST_ALERT_DELETE];

	sqlite3_bind_text(s, 1, rule, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, scope, -1, SQLITE_STATIC);
	return step_done(st, s, err, "removing alert state");
}

int se_store_alert_each_firing(se_store *st, se_alert_firing_fn fn, void *ud, se_error *err)
{
	sqlite3_stmt *s = st->stmt[ST_ALERT_FIRING];
	int step, rc = SE_OK;

	while (rc == SE_OK && (step = sqlite3_step(s)) == SQLITE_ROW)
		rc = fn(ud, (const char *)sqlite3_column_text(s, 0), (const char *)sqlite3_column_text(s, 1),
		        sqlite3_column_int64(s, 2),
		        sqlite3_column_type(s, 3) == SQLITE_NULL ? NAN : sqlite3_column_double(s, 3));
	if (rc == SE_OK && step != SQLITE_DONE)
		rc = db_error(st, err, "reading alert state");
	sqlite3_reset(s);
	return rc;
}
