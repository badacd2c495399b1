/*
 * store/open.c: opening the event store, its schema and statements, and
 * transactions.  (core/store/ is the only folder that calls SQLite.)
 *
 * Statements are prepared once in se_store_open() into an enum-indexed array
 * and each use is bind -> step -> reset, the way SQLite's own extensions do
 * it; the other files of core/store/ use them through store_int.h.
 *
 *
 * A second connection, on a thread of its own, copies the WAL into the
 * database file after large commits (the checkpointer); it only ever
 * checkpoints, so everything else stays on the caller's thread.
 */
#include "store_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A commit that leaves this many frames (16 MiB) in the WAL asks the
 * checkpointer thread to copy them into the database file. */
#define CHECKPOINT_FRAMES 1024
/* ... and past this many (128 MiB) waits until it has.  SQLite starts the
 * WAL over only when a write transaction begins with every frame copied;
 * a writer that went straight on to its next batch found the copy always
 * still running, and the WAL grew to the size of the whole import. */
#define CHECKPOINT_WAIT_FRAMES 8192

static const char schema_sql[] =
	"CREATE TABLE IF NOT EXISTS deal(id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE);"
	"CREATE TABLE IF NOT EXISTS manager(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
	"CREATE TABLE IF NOT EXISTS source(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
	"CREATE TABLE IF NOT EXISTS status(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
	"CREATE TABLE IF NOT EXISTS pipeline(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
	"CREATE TABLE IF NOT EXISTS currency(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
	/* A rowid table: new events append, and the history cache catches up
	 * by reading the rows above the last one it covers, in rowid order.
	 * The two unique indexes below are the dedup.  No index on deal: it
	 * would cost more at import than all the rest together. */
	"CREATE TABLE IF NOT EXISTS event("
	" id INTEGER PRIMARY KEY,"
	" event_key TEXT NOT NULL,"
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
	" SELECT CASE WHEN typeof(e.event_key) = 'blob'"
	"  THEN 'content:' || lower(hex(e.event_key)) ELSE e.event_key END AS event_id,"
	"  d.key AS deal_id,"
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

/* Dedup.  A content key is a hash: in one index of all keys each new one
 * lands on a random page, so a large store rewrote most of the index into
 * the WAL at every commit.  But a content key's time is part of what it
 * hashes, so (ts, event_key) is unique exactly when event_key is, and a
 * file in time order appends to that index.  Content keys are stored as
 * their 16 bytes (a BLOB, SE_CONTENT_BLOB_LEN): the text is 40, and each
 * key is in the table and in the index, two fifths of a narrow export's
 * store.  A text id in the content keys' range that is not exactly their
 * form stays text and stays in this index.  The CSV's own event ids,
 * usually increasing, keep an index of their own.  (Stores made before
 * these indexes keep their single UNIQUE(event_key): the same statements
 * work on both.) */
static const char key_index_sql[] =
	"CREATE UNIQUE INDEX IF NOT EXISTS event_id_key ON event(event_key)"
	" WHERE event_key < 'content:' OR (event_key >= 'content;' AND event_key < x'');"
	"CREATE UNIQUE INDEX IF NOT EXISTS event_content_key ON event(ts, event_key)"
	" WHERE event_key >= 'content:' AND (event_key < 'content;' OR event_key >= x'');";

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
		  "INSERT OR IGNORE INTO event(" EVENT_COLUMNS ") VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)" },
		{ ST_META_GET, "SELECT value FROM meta WHERE key = ?1" },
		{ ST_META_SET, "INSERT OR REPLACE INTO meta(key, value) VALUES(?1, ?2)" },
		{ ST_MAX_EVENT, "SELECT coalesce(max(id), 0) FROM event" },
		{ ST_LAST_TS, "SELECT coalesce(max(ts), 0) FROM event" },
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

/* se_content_blob(key): the 16 bytes of a key of exactly the content
 * keys' text form, any other value as it is (the upgrade below). */
static void content_blob_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	unsigned char blob[SE_CONTENT_BLOB_LEN];
	const char *text = (const char *)sqlite3_value_text(argv[0]);

	(void)argc;
	if (sqlite3_value_type(argv[0]) == SQLITE_TEXT && text != NULL &&
	    content_blob_of(text, (size_t)sqlite3_value_bytes(argv[0]), blob))
		sqlite3_result_blob(ctx, blob, SE_CONTENT_BLOB_LEN, SQLITE_TRANSIENT);
	else
		sqlite3_result_value(ctx, argv[0]);
}

/* Version 1 stored content keys as their text; version 2 stores them as
 * their 16 bytes.  The upgrade turns every key of exactly that form into
 * its bytes, in the open's one transaction (a store of millions of events
 * is rewritten once), and makes the view and the key indexes again.  A
 * store older than the two key indexes (one UNIQUE(event_key)) gets none:
 * its one index holds the bytes as well.  The events view shows the same
 * event ids before and after. */
static int upgrade_from_1(se_store *st, se_error *err)
{
	int had_indexes = 0, rc;

	if ((rc = schema_has(st, "index", "event_id_key", &had_indexes, "reading the schema", err)) != SE_OK)
		return rc;
	if (sqlite3_create_function(st->db, "se_content_blob", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
	                            content_blob_fn, NULL, NULL) != SQLITE_OK)
		return db_error(st, err, "upgrading the database");
	rc = exec_sql(st,
	              had_indexes ? "DROP VIEW IF EXISTS events; DROP INDEX IF EXISTS event_id_key;"
	                            " DROP INDEX IF EXISTS event_content_key;"
	                          : "DROP VIEW IF EXISTS events;",
	              err);
	if (rc == SE_OK)
		rc = exec_sql(st,
		              "UPDATE event SET event_key = se_content_blob(event_key)"
		              " WHERE event_key >= 'content:' AND event_key < 'content;'",
		              err);
	sqlite3_create_function(st->db, "se_content_blob", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL, NULL, NULL,
	                        NULL);
	if (rc == SE_OK && had_indexes)
		rc = exec_sql(st, key_index_sql, err);
	return rc;
}

_Static_assert(SE_SCHEMA_VERSION == 2, "check_schema_version writes the version as text");

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
	/* Read-only, a version 1 store reads as it is (its keys are text,
	 * which the history cache reads as well): it is upgraded by the next
	 * run that may write. */
	if (st->readonly && version == 1)
		return SE_OK;
	if (st->readonly)
		return se_error_set(err, SE_EDB, "not a salesengine database (opened read-only, so not made one)");
	/* An upgrade rewrites the whole event table in one transaction: with
	 * temporary data in memory (configure()), its statement journal held
	 * every page it wrote (250 MB for 3 million events); in a temporary
	 * file it takes the page cache.  Set before the transaction begins,
	 * or it does not apply to it. */
	if (version == 1 && (rc = exec_sql(st, "PRAGMA temp_store = FILE", err)) != SE_OK)
		return rc;
	if ((rc = exec_sql(st, "BEGIN IMMEDIATE", err)) == SE_OK) {
		if ((version == 1 && (rc = upgrade_from_1(st, err)) != SE_OK) ||
		    (rc = exec_sql(st, schema_sql, err)) != SE_OK ||
		    (version == 0 && (rc = exec_sql(st, key_index_sql, err)) != SE_OK) ||
		    (rc = exec_sql(st, "PRAGMA user_version = 2", err)) != SE_OK)
			exec_sql(st, "ROLLBACK", NULL);
		else
			rc = exec_sql(st, "COMMIT", err);
	}
	if (version == 1) {
		int restored = exec_sql(st, "PRAGMA temp_store = MEMORY", rc == SE_OK ? err : NULL);

		if (rc == SE_OK)
			rc = restored;
	}
	return rc;
}

static int configure(se_store *st, se_error *err)
{
	int rc;

	sqlite3_busy_timeout(st->db, 5000);
	if (st->readonly) /* the file's own page size and WAL mode stand */
		return exec_sql(st, "PRAGMA cache_size = -32768", err);
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
	/* Debian builds SQLite with secure_delete on: every page freed is
	 * overwritten with zeros, and each such page written to the WAL.  A
	 * chunk's blobs rewritten by an import free their old pages, which
	 * hold the same histories as the new ones; events are never deleted.
	 * Nothing here is secret from the file's reader, so nothing is zeroed
	 * (it made dropping an index of 200 MB take 230 MB of memory). */
	return exec_sql(st, "PRAGMA secure_delete = OFF", err);
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
		ck->busy = 1;
		pthread_mutex_unlock(&ck->mu);
		/* PASSIVE: copies what no reader still needs, never waits for the
		 * writer.  A failure leaves the frames for the next one (or the
		 * close's checkpoint): nothing is lost either way. */
		sqlite3_wal_checkpoint_v2(ck->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
		pthread_mutex_lock(&ck->mu);
		ck->busy = 0;
		pthread_cond_broadcast(&ck->cv);
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
	pthread_cond_broadcast(&ck->cv);
	pthread_mutex_unlock(&ck->mu);
	pthread_join(ck->thread, NULL);
	pthread_cond_destroy(&ck->cv);
	pthread_mutex_destroy(&ck->mu);
	sqlite3_close(ck->db);
	memset(ck, 0, sizeof *ck);
}

static void checkpoint_soon(se_store *st, int wait)
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
	pthread_cond_broadcast(&ck->cv);
	while (wait && (ck->pending || ck->busy))
		pthread_cond_wait(&ck->cv, &ck->mu);
	pthread_mutex_unlock(&ck->mu);
}

/* Copies the whole WAL into the database now (the checkpointer's copy,
 * waited for), so that the next write transaction starts the WAL over. */
void checkpoint_wait(se_store *st)
{
	checkpoint_soon(st, 1);
}

/* SQLite keeps memory statistics by default, which takes a global mutex
 * on every malloc and free: some 5% of an import's SQLite time, for
 * figures nobody reads.  Only possible before SQLite initializes (if
 * something opened a database first, it stays on). */
static void configure_sqlite(void)
{
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

/* "file:" and path with everything but plain characters %-escaped. */
static char *file_uri(const char *path, const char *query)
{
	static const char plain[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-~";
	size_t n = strlen(path);
	char *uri = malloc(5 + 3 * n + strlen(query) + 1), *p = uri;

	if (uri == NULL)
		return NULL;
	p += sprintf(p, "file:");
	for (const unsigned char *s = (const unsigned char *)path; *s; s++)
		p += *s && strchr(plain, *s) ? sprintf(p, "%c", *s) : sprintf(p, "%%%02X", *s);
	strcpy(p, query);
	return uri;
}

/* Read-only: SQLITE_OPEN_READONLY, and SQLite needs the -wal and -shm
 * files of a WAL database, which a read-only folder does not let it make.
 * Then the file is opened as immutable: nothing can be writing it in WAL
 * mode either, as no writer could make those files. */
static int open_readonly(se_store *st, const char *path)
{
	const int oflags = SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX;
	char *uri;
	int rc;

	if (sqlite3_open_v2(path, &st->db, oflags, NULL) == SQLITE_OK &&
	    sqlite3_exec(st->db, "SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL) == SQLITE_OK)
		return SQLITE_OK;
	if (st->db == NULL || sqlite3_errcode(st->db) != SQLITE_CANTOPEN || access(path, R_OK) != 0)
		return SQLITE_ERROR;
	sqlite3_close(st->db);
	st->db = NULL;
	if ((uri = file_uri(path, "?immutable=1")) == NULL)
		return SQLITE_NOMEM;
	rc = sqlite3_open_v2(uri, &st->db, oflags | SQLITE_OPEN_URI, NULL);
	free(uri);
	return rc;
}

int se_store_open(se_store **out, const char *path, unsigned flags, se_error *err)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	se_store *st = NULL;
	int rc = SE_ENOMEM, orc;

	pthread_once(&once, configure_sqlite);

	*out = NULL;
	st = calloc(1, sizeof *st);
	if (st == NULL)
		return se_error_set(err, SE_ENOMEM, "out of memory");
	st->readonly = (flags & SE_STORE_READONLY) != 0;
	/* NOMUTEX: one connection, one thread: no locking needed. */
	if (st->readonly)
		orc = open_readonly(st, path);
	else
		orc = sqlite3_open_v2(path, &st->db,
		                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (orc != SQLITE_OK) {
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

void store_warn(se_store *st, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (st->warn == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	st->warn(st->warn_ud, msg);
}

void se_store_on_warning(se_store *st, void (*fn)(void *ud, const char *message), void *ud)
{
	st->warn = fn;
	st->warn_ud = ud;
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
	int rc;

	if (st->held) { /* the held transaction goes on: only its counts start again */
		st->n_queued = 0;
		st->tx_inserted = st->tx_ignored = 0;
		st->cap_checked = 0;
		return SE_OK;
	}
	rc = step_done(st, st->stmt[ST_BEGIN], err, "starting a transaction");

	if (rc == SE_OK)
		check_deal_numbering(st);
	st->n_queued = 0;
	st->tx_inserted = st->tx_ignored = 0;
	st->cap_checked = 0;
	if (rc == SE_OK)
		st->in_tx = 1;
	return rc;
}

int se_store_commit(se_store *st, se_error *err)
{
	int rc = flush_queued_deals(st, err);

	if (rc == SE_OK)
		rc = flush_queued(st, err);
	if (rc != SE_OK)
		return rc;
	if (st->hold) {
		st->held = 1;
		return SE_OK;
	}
	rc = step_done(st, st->stmt[ST_COMMIT], err, "committing");
	if (rc == SE_OK)
		st->in_tx = 0;
	if (rc == SE_OK && st->wal_frames >= CHECKPOINT_FRAMES)
		checkpoint_soon(st, st->wal_frames >= CHECKPOINT_WAIT_FRAMES);
	return rc;
}

void se_store_hold(se_store *st)
{
	st->hold = 1;
}

int se_store_holding(const se_store *st)
{
	return st->held && st->in_tx;
}

int se_store_release(se_store *st, se_error *err)
{
	int held = st->held;

	st->hold = st->held = 0;
	return held && st->in_tx ? se_store_commit(st, err) : SE_OK;
}

/* Forgets cached ids too: rows they point to may be gone with the rollback. */
void se_store_rollback(se_store *st)
{
	step_done(st, st->stmt[ST_ROLLBACK], NULL, "rolling back");
	st->in_tx = 0;
	st->hold = st->held = 0;
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

/* ---- lower memory (streamed adapter imports) -------------------------------
 *
 * An adapter import streams its input to keep memory bounded; the cache's
 * two large buffers (the rows kept from the import, the window of rows a
 * refresh merges) would otherwise take up to 144 MB whatever the input.
 * Here they are divided by 2^shift: smaller windows mean a chunk may be
 * rewritten once per window, a price only imports of millions of rows pay. */
void se_store_lower_memory(se_store *st, unsigned shift)
{
	char sql[64];

	st->mem_shift = shift > 4 ? 4 : shift;
	/* SQLite's page cache too (32 MB when opened); a constant statement. */
	snprintf(sql, sizeof sql, "PRAGMA cache_size = %d", -(32768 >> st->mem_shift));
	sqlite3_exec(st->db, sql, NULL, NULL, NULL);
}
