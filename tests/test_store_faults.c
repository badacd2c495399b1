/*
 * test_store_faults.c: an import that hits a full disk.
 *
 * Link with -Wl,--wrap=sqlite3_step: every sqlite3_step() call in the
 * objects being linked (core/ and this file; SQLite's own internal calls are
 * not affected) goes through __wrap_sqlite3_step() below.  Disarmed, it
 * calls the real function.  Armed with a piece of SQL (and optionally a
 * bound value, matched in sqlite3_expanded_sql(), so a row is picked however
 * many steps the store needs per row) and a count, it fails the Nth matching
 * step the way a full disk does:
 * it makes the connection really fail with SQLITE_FULL (through a SQL
 * function that raises it), so sqlite3_errmsg() says "database or disk is
 * full", then returns SQLITE_FULL.  The statement it was asked to step is
 * never run, and the open transaction stays open (as after a statement that
 * SQLite rolled back alone): the caller has to roll it back.
 *
 * The same wrapper can also run a function just before the Nth step of a
 * statement (interpose()): another connection's work, at the one moment a
 * race needs it.
 *
 * Each test then checks what the import contract promises: SE_EDB with a
 * clear message, stats that add up and say how far it got, a database that
 * still opens and passes integrity_check, committed batches intact, and a
 * rerun that completes the rest.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "helpers.h"
#include "history.h"
#include "store.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- the fault injector ---------------------------------------------------------- */

int __real_sqlite3_step(sqlite3_stmt *stmt);
int __wrap_sqlite3_step(sqlite3_stmt *stmt);

static struct {
	const char *sql;  /* fail steps of statements containing this; NULL = disarmed */
	const char *value; /* ... with this bound value (quoted as in SQL), or any */
	int countdown;    /* ... the countdown-th of them */
	int fired;
} fault;

static void arm(const char *sql, const char *value, int nth)
{
	fault.sql = sql;
	fault.value = value;
	fault.countdown = nth;
	fault.fired = 0;
}

static void disarm(void)
{
	fault.sql = NULL;
}

static void raise_disk_full(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	(void)argc;
	(void)argv;
	sqlite3_result_error_code(ctx, SQLITE_FULL);
}

static int fail_like_full_disk(sqlite3_stmt *stmt)
{
	sqlite3 *db = sqlite3_db_handle(stmt);
	sqlite3_stmt *s = NULL;

	if (sqlite3_create_function(db, "test_disk_full", 0, SQLITE_UTF8, NULL, raise_disk_full, NULL,
	                            NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "SELECT test_disk_full()", -1, &s, NULL) == SQLITE_OK) {
		__real_sqlite3_step(s);
		sqlite3_finalize(s);
	}
	return SQLITE_FULL;
}

static int matches(sqlite3_stmt *stmt)
{
	const char *sql = sqlite3_sql(stmt);
	char *expanded;
	int hit;

	if (sql == NULL || strstr(sql, fault.sql) == NULL)
		return 0;
	if (fault.value == NULL)
		return 1;
	expanded = sqlite3_expanded_sql(stmt);
	hit = expanded != NULL && strstr(expanded, fault.value) != NULL;
	sqlite3_free(expanded);
	return hit;
}

static struct {
	const char *sql;  /* before the countdown-th step of this SQL ... */
	int countdown;
	void (*fn)(void *ud); /* ... run this, once */
	void *ud;
} before;

static void interpose(const char *sql, int nth, void (*fn)(void *), void *ud)
{
	before.sql = sql;
	before.countdown = nth;
	before.fn = fn;
	before.ud = ud;
}

int __wrap_sqlite3_step(sqlite3_stmt *stmt)
{
	if (before.sql != NULL && sqlite3_sql(stmt) != NULL && strstr(sqlite3_sql(stmt), before.sql) &&
	    --before.countdown == 0) {
		before.sql = NULL;
		before.fn(before.ud);
	}
	if (fault.sql != NULL && !fault.fired && matches(stmt) && --fault.countdown == 0) {
		fault.fired = 1;
		return fail_like_full_disk(stmt);
	}
	return __real_sqlite3_step(stmt);
}

/* ---- fixture --------------------------------------------------------------------- */

typedef struct fixture {
	char dir[64];
	char db[128];
	char csv[128];
	se_store *st;
	se_error err;
	se_import_stats stats;
	se_import_opts opts;
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof *f);

	if (f == NULL)
		return -1;
	*state = f;
	disarm();
	before.sql = NULL;
	if (scratch_store_open("test_store_faults", "events.db", f->dir, sizeof f->dir, f->db,
	                       sizeof f->db, &f->st) != 0)
		return -1;
	snprintf(f->csv, sizeof f->csv, "%s/sales.csv", f->dir);
	f->opts.batch_rows = 3;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;

	disarm();
	scratch_store_close(&f->st, f->dir);
	free(f);
	return 0;
}

/* ---- helpers ---------------------------------------------------------------------- */

static void write_rows(fixture *f, int first, int last)
{
	FILE *fp = fopen(f->csv, "w");

	assert_non_null(fp);
	fputs("event_id,deal_id,ts,stage\n", fp);
	for (int i = first; i <= last; i++)
		fprintf(fp, "e%02d,d%d,2025-01-%02d,stage%d\n", i, i % 4, i, i);
	assert_int_equal(fclose(fp), 0);
}

static int run_import(fixture *f)
{
	int rc;

	se_error_clear(&f->err);
	rc = se_import_file(f->st, f->csv, &f->opts, &f->stats, &f->err);
	print_message("import: rc %d, read %lld, imported %lld, duplicates %lld, rejected %lld%s%s\n", rc,
	              (long long)f->stats.read, (long long)f->stats.imported,
	              (long long)f->stats.duplicates, (long long)f->stats.rejected,
	              rc ? ", error: " : "", rc ? f->err.msg : "");
	return rc;
}

static void expect_stats(const fixture *f, int64_t read, int64_t imported, int64_t duplicates)
{
	assert_int_equal(f->stats.imported, imported);
	assert_int_equal(f->stats.duplicates, duplicates);
	assert_int_equal(f->stats.rejected, 0);
	assert_int_equal(f->stats.read, read);
}

static char *query(const fixture *f, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	char *out = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&out, &len);

	assert_non_null(mem);
	assert_int_equal(sqlite3_open_v2(f->db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	while (sqlite3_step(s) == SQLITE_ROW) {
		for (int i = 0; i < sqlite3_column_count(s); i++) {
			const char *v = (const char *)sqlite3_column_text(s, i);

			fprintf(mem, "%s%s", i ? "|" : "", v ? v : "NULL");
		}
		fputc('\n', mem);
	}
	sqlite3_finalize(s);
	sqlite3_close(db);
	fclose(mem);
	return out;
}

static void expect_query(const fixture *f, const char *sql, const char *want)
{
	char *got = query(f, sql);

	assert_string_equal(got, want);
	free(got);
}

static int count_chunk_events(void *ud, se_chunk_buf *buf, const se_chunk_view *store_view, se_error *err)
{
	se_chunk_view v;
	int rc = se_history_view(buf->data, buf->size, &v, err); /* the bytes checked here, not the store's view */

	(void)store_view;
	if (rc == SE_OK)
		*(size_t *)ud += v.n_events;
	return rc;
}

/* After the failure: the file opens again, is sound, and holds exactly the
 * committed events, which the history cache sees too. */
static void expect_database_holds(fixture *f, const char *event_ids)
{
	size_t cached = 0;
	size_t n = 0;

	disarm();
	se_store_close(f->st);
	f->st = NULL;
	assert_int_equal(se_store_open(&f->st, f->db, 0, &f->err), SE_OK);
	expect_query(f, "PRAGMA integrity_check", "ok\n");
	expect_query(f, "PRAGMA foreign_key_check", "");
	expect_query(f, "SELECT event_id FROM events ORDER BY event_id", event_ids);
	for (const char *p = event_ids; *p; p++)
		n += *p == '\n';
	assert_int_equal(se_store_each_chunk(f->st, count_chunk_events, &cached, &f->err), SE_OK);
	assert_int_equal(cached, n);
}

static void expect_rerun_completes(fixture *f, int64_t already)
{
	assert_int_equal(run_import(f), SE_OK);
	expect_stats(f, 10, 10 - already, already);
	expect_database_holds(f, "e01\ne02\ne03\ne04\ne05\ne06\ne07\ne08\ne09\ne10\n");
}

static void expect_full_disk_error(const fixture *f, int rc, const char *what)
{
	char want[256];

	assert_int_equal(rc, SE_EDB);
	assert_int_equal(f->err.code, SE_EDB);
	assert_int_equal(fault.fired, 1);
	/* Says what was being done and what SQLite said. */
	snprintf(want, sizeof want, "%s: database or disk is full", what);
	assert_non_null(strstr(f->err.msg, want));
}

/* ---- tests ------------------------------------------------------------------------------ */

/* Batches of 3: e01-e03 and e04-e06 are committed when the insert of e08
 * fails; e07 goes with its rolled-back batch.
 * The row being stored when the error hit has no outcome, so it leaves the
 * counts with its batch: read == imported + duplicates + rejected. */
static void test_full_disk_on_event_insert(void **state)
{
	fixture *f = *state;
	int rc;

	write_rows(f, 1, 10);
	arm("INTO event", "'e08'", 1);
	rc = run_import(f);
	expect_full_disk_error(f, rc, "storing an event");
	expect_database_holds(f, "e01\ne02\ne03\ne04\ne05\ne06\n");
	assert_int_equal(f->stats.imported, 6);
	assert_int_equal(f->stats.duplicates, 0);
	assert_int_equal(f->stats.rejected, 0);
	assert_int_equal(f->stats.read, f->stats.imported + f->stats.duplicates + f->stats.rejected);
}

/* The same, where the failing step is a new stage name being stored.
 * The summary adds up here too. */
static void test_full_disk_on_new_name(void **state)
{
	fixture *f = *state;
	int rc;

	write_rows(f, 1, 10);
	arm("INTO status", "'stage5'", 1); /* in the second batch */
	rc = run_import(f);
	expect_full_disk_error(f, rc, "storing a name");
	expect_database_holds(f, "e01\ne02\ne03\n");
	assert_int_equal(f->stats.imported, 3);
	assert_int_equal(f->stats.read, f->stats.imported + f->stats.duplicates + f->stats.rejected);
}

/* The second batch fails to commit: only the first one is stored, and the
 * rows of the lost batch leave the counts. */
static void test_full_disk_on_commit(void **state)
{
	fixture *f = *state;
	int rc;

	write_rows(f, 1, 10);
	arm("COMMIT", NULL, 2);
	rc = run_import(f);
	expect_full_disk_error(f, rc, "committing");
	expect_stats(f, 3, 3, 0);
	expect_database_holds(f, "e01\ne02\ne03\n");
	expect_rerun_completes(f, 3);
}

/* The second batch cannot even start.
 * The row that needed the new batch is not counted as read. */
static void test_full_disk_on_begin(void **state)
{
	fixture *f = *state;
	int rc;

	write_rows(f, 1, 10);
	arm("BEGIN", NULL, 2);
	rc = run_import(f);
	expect_full_disk_error(f, rc, "starting a transaction");
	expect_database_holds(f, "e01\ne02\ne03\n");
	assert_int_equal(f->stats.imported, 3);
	assert_int_equal(f->stats.read, f->stats.imported + f->stats.duplicates + f->stats.rejected);
}

/* A batch of duplicates and new rows lost at commit: both counts go back. */
static void test_full_disk_with_duplicates(void **state)
{
	fixture *f = *state;
	int rc;

	write_rows(f, 1, 4);
	assert_int_equal(run_import(f), SE_OK);
	expect_stats(f, 4, 4, 0);
	write_rows(f, 1, 10);
	arm("COMMIT", NULL, 2); /* batch 1 (e01-e03, all duplicates) commits; batch 2 does not */
	rc = run_import(f);
	expect_full_disk_error(f, rc, "committing");
	expect_stats(f, 3, 0, 3);
	expect_database_holds(f, "e01\ne02\ne03\ne04\n");
	expect_rerun_completes(f, 4);
}

/* Rows rejected in a batch that is then lost stay rejected (they were
 * reported); only the lost batch's stored rows leave the counts. */
static void test_full_disk_keeps_rejects(void **state)
{
	fixture *f = *state;
	FILE *fp = fopen(f->csv, "w");
	int rc;

	assert_non_null(fp);
	fputs("event_id,deal_id,ts,stage\n"
	      "e01,d1,2025-01-01,new\ne02,d1,2025-01-02,new\ne03,d1,2025-01-03,new\n"
	      "e04,d1,2025-01-04,new\ne05,d1,2025-02-30,new\ne06,d1,2025-01-06,new\n"
	      "e07,d1,2025-01-07,new\ne08,d1,2025-01-08,new\n", fp);
	assert_int_equal(fclose(fp), 0);
	arm("COMMIT", NULL, 2); /* batch 2 is e04, e06, e07: e05 is rejected on the way */
	rc = run_import(f);
	expect_full_disk_error(f, rc, "committing");
	assert_int_equal(f->stats.imported, 3);
	assert_int_equal(f->stats.rejected, 1);
	assert_int_equal(f->stats.read, 4);
	expect_database_holds(f, "e01\ne02\ne03\n");
}

/* Every event is committed, then the history cache cannot be written: the
 * import reports it, the events stay, and the next read repacks. */
static void test_full_disk_while_refreshing_the_cache(void **state)
{
	fixture *f = *state;
	int rc;

	write_rows(f, 1, 10);
	arm("INTO deal_chunk", NULL, 1);
	rc = run_import(f);
	expect_full_disk_error(f, rc, "history cache");
	expect_stats(f, 10, 10, 0);
	expect_database_holds(f, "e01\ne02\ne03\ne04\ne05\ne06\ne07\ne08\ne09\ne10\n");
	expect_rerun_completes(f, 10);
}

/* The same with the last commit held for the refresh (as the command line
 * does before a report): the failing refresh rolls the held batch (e10)
 * back with it, so e10 is not counted as imported; the summary adds up to
 * what is stored, the message says what became of the row, and a rerun
 * stores it. */
static void test_full_disk_while_refreshing_a_held_import(void **state)
{
	fixture *f = *state;
	int rc;

	write_rows(f, 1, 10);
	f->opts.hold_last = 1;
	arm("INTO deal_chunk", NULL, 1);
	rc = run_import(f);
	expect_full_disk_error(f, rc, "history cache");
	assert_non_null(strstr(f->err.msg, "the last 1 row was rolled back, not imported"));
	expect_stats(f, 9, 9, 0);
	assert_int_equal(se_store_holding(f->st), 0);
	expect_database_holds(f, "e01\ne02\ne03\ne04\ne05\ne06\ne07\ne08\ne09\n");

	assert_int_equal(run_import(f), SE_OK);
	expect_stats(f, 10, 1, 9);
	assert_int_equal(f->stats.held, 1); /* the last batch of three rows: e10 alone */
	assert_int_equal(se_store_holding(f->st), 1);
	assert_int_equal(se_store_release(f->st, &f->err), SE_OK);
	expect_database_holds(f, "e01\ne02\ne03\ne04\ne05\ne06\ne07\ne08\ne09\ne10\n");
}

/* The held commit itself fails at the release: the summary already
 * counted its rows, which stats.held names, so the caller can say they
 * were not stored (the command line does). */
static void test_full_disk_on_releasing_a_held_import(void **state)
{
	fixture *f = *state;

	write_rows(f, 1, 10);
	f->opts.hold_last = 1;
	assert_int_equal(run_import(f), SE_OK);
	expect_stats(f, 10, 10, 0);
	assert_int_equal(f->stats.held, 1); /* batches of three: e10 alone is held */
	arm("COMMIT", NULL, 1);
	assert_int_not_equal(se_store_release(f->st, &f->err), SE_OK);
	assert_int_equal(fault.fired, 1);
	se_store_rollback(f->st);
	expect_database_holds(f, "e01\ne02\ne03\ne04\ne05\ne06\ne07\ne08\ne09\n");
	f->opts.hold_last = 0;
	expect_rerun_completes(f, 9);
}

/* Kept rows allowed a few hundred bytes are folded into the cache after
 * each batch; the first fold cannot write: the import stops there with
 * the error, its committed batch (e01-e03) counted and stored, the cache
 * behind it (the next read folds it in), and a rerun stores the rest. */
static void test_full_disk_while_folding(void **state)
{
	fixture *f = *state;
	int rc;

	write_rows(f, 1, 10);
	se_store_limit_capture(f->st, 300);
	arm("INTO deal_chunk", NULL, 1);
	rc = run_import(f);
	expect_full_disk_error(f, rc, "history cache");
	expect_stats(f, 3, 3, 0);
	expect_query(f, "SELECT count(*) FROM meta WHERE key = 'cache_rowid'", "0\n");
	expect_database_holds(f, "e01\ne02\ne03\n");
	expect_rerun_completes(f, 3);
}

/* An import adapter whose state write fails at record 8: batches of 3
 * events commit between records (after records 3 and 6), events and state
 * together, so the store holds e01-e06 and the state of records 1-6, never
 * an event without its state.  The adapter catching the error (pcall) does
 * not hide it.  A rerun completes the rest. */
static void test_full_disk_on_adapter_state(void **state)
{
	fixture *f = *state;
	char adapter[160], json[160];
	const char *files[1] = { json };
	FILE *fp;
	int rc;

	snprintf(adapter, sizeof adapter, "%s/keep.lua", f->dir);
	snprintf(json, sizeof json, "%s/recs.json", f->dir);
	fp = fopen(adapter, "w");
	assert_non_null(fp);
	fputs("return { name = 'keep', record = function(r, emit, ctx)\n"
	      "  local id = string.format('e%02d', r.n)\n"
	      "  emit { event_id = id, deal_id = 'd' .. r.n % 4, ts = 1735689600 + r.n, stage = 's' }\n"
	      "  pcall(ctx.state_set, id, string.format('v%02d', r.n))\n"
	      "end }\n", fp);
	assert_int_equal(fclose(fp), 0);
	fp = fopen(json, "w");
	assert_non_null(fp);
	fputs("[{\"n\":1},{\"n\":2},{\"n\":3},{\"n\":4},{\"n\":5},{\"n\":6},{\"n\":7},{\"n\":8},{\"n\":9},{\"n\":10}]", fp);
	assert_int_equal(fclose(fp), 0);

	arm("INTO adapter_state", "'v08'", 1);
	rc = se_import_with(f->st, adapter, files, 1, &f->opts, NULL, &f->stats, &f->err);
	expect_full_disk_error(f, rc, "writing adapter state");
	assert_int_equal(f->stats.imported, 6);
	assert_int_equal(f->stats.read, f->stats.imported + f->stats.duplicates + f->stats.rejected);
	expect_database_holds(f, "e01\ne02\ne03\ne04\ne05\ne06\n");
	expect_query(f, "SELECT group_concat(value) FROM adapter_state", "v01,v02,v03,v04,v05,v06\n");

	assert_int_equal(se_import_with(f->st, adapter, files, 1, &f->opts, NULL, &f->stats, &f->err), SE_OK);
	expect_stats(f, 10, 4, 6);
	expect_query(f, "SELECT count(*) FROM adapter_state", "10\n");
}

static int count_events(void *ud, se_chunk_buf *buf, const se_chunk_view *v, se_error *err);

/* A report on another connection, run from inside the wrapper. */
static void report_elsewhere(void *ud)
{
	const char *db = ud;
	se_store *other = NULL;
	se_error err = { 0 };
	size_t cached = 0;

	if (se_store_open(&other, db, 0, &err) != SE_OK ||
	    se_store_each_chunk(other, count_events, &cached, &err) != SE_OK)
		fail_msg("the report beside the import: %s", err.msg);
	se_store_close(other);
}

static int count_events(void *ud, se_chunk_buf *buf, const se_chunk_view *v, se_error *err)
{
	return count_chunk_events(ud, buf, v, err);
}

/* A report that refreshes the history cache just before each write
 * transaction of an import: its batches of 3 (BEGIN IMMEDIATE 1 to 4) and
 * its own refresh of the cache (the 5th).  Regression: the import read the
 * cache mark before taking the write lock, so with a report's refresh in
 * between it merged the rows the report had just merged a second time, and
 * the cache counted them twice, for good (the header said 1,272,354 events
 * over a table of 636,177). */
static void test_report_refreshes_during_an_import(void **state)
{
	fixture *f = *state;
	char path[256];

	write_rows(f, 1, 10);
	for (int nth = 1; nth <= 5; nth++) {
		print_message("the report before BEGIN IMMEDIATE number %d\n", nth);
		se_store_close(f->st);
		f->st = NULL;
		for (int i = 0; i < 3; i++) {
			snprintf(path, sizeof path, "%s%s", f->db, (const char *[]){ "", "-wal", "-shm" }[i]);
			unlink(path);
		}
		assert_int_equal(se_store_open(&f->st, f->db, 0, &f->err), SE_OK);
		interpose("BEGIN IMMEDIATE", nth, report_elsewhere, f->db);
		assert_int_equal(run_import(f), SE_OK);
		assert_null(before.sql); /* the report did run */
		expect_stats(f, 10, 10, 0);
		expect_database_holds(f, "e01\ne02\ne03\ne04\ne05\ne06\ne07\ne08\ne09\ne10\n");
	}
}

/* The injector itself: a real SQLITE_FULL with SQLite's own message; the
 * failed statement did nothing and the transaction is still there to be
 * rolled back. */
static void test_injector(void **state)
{
	fixture *f = *state;
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;

	(void)f;
	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "CREATE TABLE t(x); BEGIN; INSERT INTO t VALUES(1);", NULL, NULL, NULL),
	                 SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO t VALUES(2)", -1, &s, NULL), SQLITE_OK);
	arm("INTO t", NULL, 1);
	assert_int_equal(sqlite3_step(s), SQLITE_FULL);
	assert_string_equal(sqlite3_errmsg(db), "database or disk is full");
	assert_int_equal(sqlite3_get_autocommit(db), 0);
	disarm();
	sqlite3_reset(s);
	assert_int_equal(sqlite3_step(s), SQLITE_DONE);
	sqlite3_finalize(s);
	assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM t", -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(s, 0), 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_injector),
		T(test_full_disk_on_event_insert),
		T(test_full_disk_on_new_name),
		T(test_full_disk_on_commit),
		T(test_full_disk_on_begin),
		T(test_full_disk_with_duplicates),
		T(test_full_disk_keeps_rejects),
		T(test_full_disk_while_refreshing_the_cache),
		T(test_full_disk_while_refreshing_a_held_import),
		T(test_full_disk_on_releasing_a_held_import),
		T(test_full_disk_while_folding),
		T(test_full_disk_on_adapter_state),
		T(test_report_refreshes_during_an_import),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
