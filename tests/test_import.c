/*
 * test_import.c: CSV and JSON Lines files -> the event store.
 *
 * Each test runs in a fresh temporary directory (the working directory
 * while it runs, so file names in messages read "sales.csv:3: ..." and the
 * expected messages are written out in full) with a fresh store in it.
 * Every import goes through run_import(), which checks the invariant of
 * se_import_file() -- read == imported + duplicates + rejected -- and that
 * each rejected row produced exactly one message.  What was stored is read
 * back through the `events` view from a second, plain SQLite connection,
 * the way other tools see it.
 *
 * Fixtures in tests/fixtures/import/ are realistic exports (an amoCRM CSV
 * with BOM, semicolons, CRLF and Russian text; a Bitrix24-style JSON Lines
 * file); everything else is written inline so each test reads as a spec.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "helpers.h"
#include "store.h"
#include "timeconv.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef SE_SOURCE_DIR
#define SE_SOURCE_DIR "."
#endif
#define FIXTURES SE_SOURCE_DIR "/tests/fixtures/import/"

#define DB_NAME "events.db"

/* Every column of the events view, in a fixed order. */
#define ALL_COLUMNS \
	"SELECT event_id, deal_id, ts, stage, from_stage, manager, source, amount, pipeline," \
	" currency FROM events ORDER BY event_id"
#define CORE_COLUMNS "SELECT event_id, deal_id, ts, stage FROM events ORDER BY event_id"

typedef struct fixture {
	char dir[64];
	char *old_cwd;
	se_store *st;
	se_tz *moscow;
	se_error err;
	se_import_opts opts;
	se_import_stats stats;
	char **rejects;
	size_t n_rejects, cap_rejects;
} fixture;

/* ---- fixture ------------------------------------------------------------------ */

static void collect_reject(void *ud, const char *message)
{
	fixture *f = ud;

	if (f->n_rejects == f->cap_rejects) {
		size_t cap = f->cap_rejects ? f->cap_rejects * 2 : 16;
		char **p = realloc(f->rejects, cap * sizeof *p);

		assert_non_null(p);
		f->rejects = p;
		f->cap_rejects = cap;
	}
	f->rejects[f->n_rejects] = strdup(message);
	assert_non_null(f->rejects[f->n_rejects]);
	f->n_rejects++;
}

static void clear_rejects(fixture *f)
{
	for (size_t i = 0; i < f->n_rejects; i++)
		free(f->rejects[i]);
	f->n_rejects = 0;
}

static void open_store(fixture *f)
{
	assert_int_equal(se_store_open(&f->st, DB_NAME, 0, &f->err), SE_OK);
}

static void close_store(fixture *f)
{
	se_store_close(f->st);
	f->st = NULL;
}

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof *f);

	if (f == NULL)
		return -1;
	*state = f;
	if (scratch_store_open("test_import", DB_NAME, f->dir, sizeof f->dir, NULL, 0, &f->st) != 0 ||
	    (f->old_cwd = getcwd(NULL, 0)) == NULL || chdir(f->dir) != 0)
		return -1;
	f->opts.on_reject = collect_reject;
	f->opts.ud = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;

	close_store(f);
	se_tz_free(f->moscow);
	clear_rejects(f);
	free(f->rejects);
	if (f->old_cwd != NULL && chdir(f->old_cwd) != 0)
		perror("chdir");
	free(f->old_cwd);
	remove_tree(f->dir);
	free(f);
	return 0;
}

static void use_moscow(fixture *f)
{
	assert_int_equal(se_tz_open(&f->moscow, "Europe/Moscow", &f->err), SE_OK);
	f->opts.zone = f->moscow;
}

/* ---- helpers ---------------------------------------------------------------- */

/* Imports path; checks the counting invariant and one message per
 * rejected row whatever the outcome. */
static int run_import(fixture *f, const char *path)
{
	int rc;

	clear_rejects(f);
	se_error_clear(&f->err);
	memset(&f->stats, 0xAB, sizeof f->stats); /* must be reset by the import */
	rc = se_import_file(f->st, path, &f->opts, &f->stats, &f->err);
	assert_int_equal(f->stats.read,
	                 f->stats.imported + f->stats.duplicates + f->stats.rejected);
	assert_int_equal(f->stats.rejected, (int64_t)f->n_rejects);
	if (rc == SE_OK)
		assert_int_equal(f->err.code, SE_OK);
	else
		assert_int_equal(f->err.code, rc);
	return rc;
}

static void import_ok(fixture *f, const char *path)
{
	int rc = run_import(f, path);

	if (rc != SE_OK)
		fail_msg("import of %s failed (%d): %s", path, rc, f->err.msg);
}

static void expect_stats(const fixture *f, int64_t read, int64_t imported, int64_t duplicates,
                         int64_t rejected)
{
	assert_int_equal(f->stats.read, read);
	assert_int_equal(f->stats.imported, imported);
	assert_int_equal(f->stats.duplicates, duplicates);
	assert_int_equal(f->stats.rejected, rejected);
}

static void expect_rejects_(const fixture *f, const char *const *want)
{
	size_t n = 0;

	while (want[n] != NULL)
		n++;
	for (size_t i = 0; i < n && i < f->n_rejects; i++)
		assert_string_equal(f->rejects[i], want[i]);
	if (f->n_rejects != n) {
		for (size_t i = 0; i < f->n_rejects; i++)
			fprintf(stderr, "  reject: %s\n", f->rejects[i]);
		assert_int_equal(f->n_rejects, n);
	}
}

#define EXPECT_REJECTS(f, ...) expect_rejects_((f), (const char *const[]){__VA_ARGS__, NULL})
#define EXPECT_NO_REJECTS(f) assert_int_equal((f)->n_rejects, 0)

/* Runs sql on a second, plain connection and returns its rows as text:
 * columns joined by '|', NULL shown as NULL, each row ending in '\n'. */
static char *query(const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	char *out = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&out, &len);
	int rc;

	assert_non_null(mem);
	assert_int_equal(sqlite3_open_v2(DB_NAME, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		for (int i = 0; i < sqlite3_column_count(s); i++) {
			const char *v = (const char *)sqlite3_column_text(s, i);

			fprintf(mem, "%s%s", i ? "|" : "", v ? v : "NULL");
		}
		fputc('\n', mem);
	}
	assert_int_equal(rc, SQLITE_DONE);
	sqlite3_finalize(s);
	sqlite3_close(db);
	fclose(mem);
	return out;
}

static void expect_query(const char *sql, const char *want)
{
	char *got = query(sql);

	assert_string_equal(got, want);
	free(got);
}

static int64_t count_events(void)
{
	char *got = query("SELECT count(*) FROM event");
	int64_t n = strtoll(got, NULL, 10);

	free(got);
	return n;
}

/* ---- columns ------------------------------------------------------------------- */

static void test_columns_in_any_order(void **state)
{
	fixture *f = *state;

	write_file("sales.csv",
	           "Stage,Comment, TS ,Deal_ID,EVENT_ID,Manager\n"
	           "new,call back,2025-01-15T10:30:00Z,d1,e1,Ann\n"
	           "won,,2025-01-16T11:00:00Z,d1,e2,Bob\n");
	import_ok(f, "sales.csv");
	expect_stats(f, 2, 2, 0, 0);
	EXPECT_NO_REJECTS(f);
	/* Unknown columns are ignored; optional ones absent are NULL. */
	expect_query(ALL_COLUMNS,
	             "e1|d1|2025-01-15T10:30:00Z|new|NULL|Ann|NULL|NULL|NULL|NULL\n"
	             "e2|d1|2025-01-16T11:00:00Z|won|NULL|Bob|NULL|NULL|NULL|NULL\n");
}

static void test_all_columns(void **state)
{
	fixture *f = *state;

	write_file("sales.csv",
	           "currency,pipeline,amount,source,manager,from_stage,stage,ts,deal_id,event_id\n"
	           "USD,Main,1200.5,Google,Ann,new,meeting,2025-01-15T10:30:00Z,d1,e1\n"
	           ",,,,,,new,2025-01-14T09:00:00Z,d1,e0\n");
	import_ok(f, "sales.csv");
	expect_stats(f, 2, 2, 0, 0);
	expect_query(ALL_COLUMNS,
	             "e0|d1|2025-01-14T09:00:00Z|new|NULL|NULL|NULL|NULL|NULL|NULL\n"
	             "e1|d1|2025-01-15T10:30:00Z|meeting|new|Ann|Google|1200.5|Main|USD\n");
}

static void test_only_required_columns(void **state)
{
	fixture *f = *state;

	write_file("sales.csv", "event_id,deal_id,ts,stage\ne1,d1,2025-01-15,new\n");
	import_ok(f, "sales.csv");
	expect_stats(f, 1, 1, 0, 0);
	expect_query(ALL_COLUMNS, "e1|d1|2025-01-15T00:00:00Z|new|NULL|NULL|NULL|NULL|NULL|NULL\n");
}

static void test_missing_required_column(void **state)
{
	fixture *f = *state;
	static const struct {
		const char *header;
		const char *message;
	} cases[] = {
		{ "event_id,ts,stage\n",
		  "sales.csv:1: header lacks required column 'deal_id' (need deal_id, ts, stage)" },
		{ "event_id,deal_id,time,stage\n",
		  "sales.csv:1: header lacks required column 'ts' (need deal_id, ts, stage)" },
		{ "event_id,deal_id,ts,status\n",
		  "sales.csv:1: header lacks required column 'stage' (need deal_id, ts, stage)" },
		/* Blank lines before the header: the message names its real line. */
		{ "\n\r\nevent_id,deal_id\n",
		  "sales.csv:3: header lacks required column 'ts' (need deal_id, ts, stage)" },
		/* A header that is not UTF-8 says so, and what to try. */
		{ "\xd1\xe4\xe5\xeb\xea\xe0,ts,stage\n",
		  "sales.csv:1: header is not valid UTF-8 (column 1, byte 1); if it is a Windows export,"
		  " try --encoding cp1251" },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char text[256];

		snprintf(text, sizeof text, "%se1,d1,2025-01-15,new\n", cases[i].header);
		write_file("sales.csv", text);
		assert_int_equal(run_import(f, "sales.csv"), SE_EINPUT);
		assert_string_equal(f->err.msg, cases[i].message);
		expect_stats(f, 0, 0, 0, 0);
	}
	assert_int_equal(count_events(), 0);
}

static void test_duplicate_column(void **state)
{
	fixture *f = *state;

	write_file("sales.csv", "event_id,deal_id,ts,stage, TS \ne1,d1,2025-01-15,new,2025-01-16\n");
	assert_int_equal(run_import(f, "sales.csv"), SE_EINPUT);
	assert_string_equal(f->err.msg, "sales.csv:1: column 'ts' appears twice in the header");
	expect_stats(f, 0, 0, 0, 0);
	assert_int_equal(count_events(), 0);

	/* Unknown columns may repeat: they are ignored anyway. */
	write_file("sales.csv", "note,event_id,deal_id,ts,stage,note\nx,e1,d1,2025-01-15,new,y\n");
	import_ok(f, "sales.csv");
	expect_stats(f, 1, 1, 0, 0);
}

static void test_malformed_header(void **state)
{
	fixture *f = *state;

	write_file("sales.csv", "event_id,\"deal_id,ts,stage\n");
	assert_int_equal(run_import(f, "sales.csv"), SE_EINPUT);
	assert_string_equal(f->err.msg, "sales.csv:1: header: unterminated quote");
	expect_stats(f, 0, 0, 0, 0);
}

/* ---- delimiters, line ends, BOM, encodings ------------------------------------------ */

static void test_semicolon_detected(void **state)
{
	fixture *f = *state;

	write_file("sales.csv",
	           "event_id;deal_id;ts;stage;amount\n"
	           "e1;d1;2025-01-15;new;9 990,50\n"
	           "e2;d1;2025-01-16;won, finally;10\n");
	import_ok(f, "sales.csv");
	expect_stats(f, 2, 2, 0, 0);
	expect_query("SELECT event_id, stage, amount FROM events ORDER BY event_id",
	             "e1|new|9990.5\n"
	             "e2|won, finally|10.0\n");
}

static void test_tab_detected(void **state)
{
	fixture *f = *state;

	write_file("sales.tsv", "event_id\tdeal_id\tts\tstage\ne1\td1\t2025-01-15\tnew, hot\n");
	import_ok(f, "sales.tsv");
	expect_stats(f, 1, 1, 0, 0);
	expect_query(CORE_COLUMNS, "e1|d1|2025-01-15T00:00:00Z|new, hot\n");
}

static void test_forced_delimiter(void **state)
{
	fixture *f = *state;

	/* The header has more commas than semicolons, so detection picks ','
	 * and the header makes no sense... */
	write_file("sales.csv",
	           "event_id;deal_id;ts;stage;comment,with,many,commas,in,it\n"
	           "e1;d1;2025-01-15;new;a,b,c,d,e,f\n");
	assert_int_equal(run_import(f, "sales.csv"), SE_EINPUT);
	assert_string_equal(f->err.msg,
	                    "sales.csv:1: header lacks required column 'deal_id' (need deal_id, ts, stage)");
	/* ... until the delimiter is given. */
	f->opts.delimiter = ';';
	import_ok(f, "sales.csv");
	expect_stats(f, 1, 1, 0, 0);
	expect_query(CORE_COLUMNS, "e1|d1|2025-01-15T00:00:00Z|new\n");

	/* Tab can be forced too. */
	write_file("tabs.csv", "event_id\tdeal_id\tts\tstage\ne2\td2\t2025-01-15\ta;b;c\n");
	f->opts.delimiter = '\t';
	import_ok(f, "tabs.csv");
	expect_stats(f, 1, 1, 0, 0);
	expect_query("SELECT stage FROM events WHERE event_id = 'e2'", "a;b;c\n");
}

static void test_invalid_delimiter(void **state)
{
	fixture *f = *state;

	write_file("sales.csv", "event_id|deal_id|ts|stage\n");
	f->opts.delimiter = '|';
	assert_int_equal(run_import(f, "sales.csv"), SE_EUSAGE);
	assert_string_equal(f->err.msg, "invalid CSV delimiter (use ',', ';' or tab)");
}

static void test_crlf_and_bom(void **state)
{
	fixture *f = *state;

	write_file("sales.csv",
	           "\xEF\xBB\xBF" "event_id,deal_id,ts,stage\r\n"
	           "e1,d1,2025-01-15,new\r\n"
	           "\r\n"
	           "e2,d2,2025-01-16,\"won\"\r\n"
	           "e3,d3,bad,new\r\n");
	import_ok(f, "sales.csv");
	expect_stats(f, 3, 2, 0, 1);
	/* No stray CR in the last column, and the BOM is not part of the first
	 * column's name (or event_id would be missing). */
	expect_query("SELECT event_id, length(stage), stage FROM events ORDER BY event_id",
	             "e1|3|new\n"
	             "e2|3|won\n");
	EXPECT_REJECTS(f, "sales.csv:5: ts: cannot read time \"bad\": unrecognised time format");
}

static void test_cyrillic_stored_byte_exact(void **state)
{
	fixture *f = *state;
	char **names = NULL;
	uint32_t count = 0;

	write_file("sales.csv",
	           "event_id,deal_id,ts,stage,manager,source\n"
	           "e1,сделка-1,2025-01-15,Квалификация,Иванов Пётр,Яндекс.Директ\n"
	           "e2,сделка-1,2025-01-16,  Переговоры  ,Ёлкина Анна 🙂,\n");
	import_ok(f, "sales.csv");
	expect_stats(f, 2, 2, 0, 0);
	expect_query("SELECT event_id, deal_id, stage, manager, source, hex(manager) FROM events ORDER BY event_id",
	             "e1|сделка-1|Квалификация|Иванов Пётр|Яндекс.Директ|"
	             "D098D0B2D0B0D0BDD0BED0B220D09FD191D182D180\n"
	             "e2|сделка-1|Переговоры|Ёлкина Анна 🙂|NULL|"
	             "D081D0BBD0BAD0B8D0BDD0B020D090D0BDD0BDD0B020F09F9982\n");

	/* The same names through the store's own API. */
	assert_int_equal(se_store_names(f->st, SE_DICT_STATUS, &names, &count, &f->err), SE_OK);
	assert_int_equal(count, 3);
	assert_null(names[0]);
	assert_string_equal(names[1], "Квалификация");
	assert_string_equal(names[2], "Переговоры"); /* trimmed, nothing else */
	se_store_free_names(names, count);
	assert_int_equal(se_store_names(f->st, SE_DICT_MANAGER, &names, &count, &f->err), SE_OK);
	assert_int_equal(count, 3);
	assert_string_equal(names[1], "Иванов Пётр");
	assert_string_equal(names[2], "Ёлкина Анна 🙂");
	se_store_free_names(names, count);
}

static void test_amocrm_fixture(void **state)
{
	fixture *f = *state;
	const char *path = FIXTURES "amocrm_export.csv";

	use_moscow(f);
	import_ok(f, path);
	expect_stats(f, 5, 4, 0, 1);
	EXPECT_REJECTS(f, FIXTURES "amocrm_export.csv:5: ts: cannot read time \"31.02.2025 09:00\": "
	                  "day out of range for month");
	expect_query(ALL_COLUMNS,
	             "amo-1001|сделка-17|2025-01-15T07:30:00Z|Первичный контакт|NULL|Иванов Пётр|"
	             "Яндекс.Директ|9990.5|Продажи|RUB\n"
	             "amo-1002|сделка-17|2025-01-16T09:00:00Z|Переговоры|Первичный контакт|Иванов Пётр|"
	             "NULL|12500.0|Продажи|RUB\n"
	             "amo-1003|сделка-18|2025-01-15T21:00:00Z|Успешно реализовано|Переговоры|"
	             "Смирнова Ольга|Сайт|1000000.0|Продажи|RUB\n"
	             "amo-1005|сделка; с точкой с запятой|2025-01-17T04:15:00Z|Первичный контакт|NULL|"
	             "Иванов Пётр|Реклама \"ВКонтакте\"|NULL|Продажи|NULL\n");
}

/* ---- malformed rows --------------------------------------------------------------- */

static void test_quoted_fields(void **state)
{
	fixture *f = *state;

	write_file("sales.csv",
	           "event_id,deal_id,ts,stage,manager,source\n"
	           "e1,d1,2025-01-15,\"Won, finally\",\"Ivan \"\"The Closer\"\" Petrov\",\"line one\nline two\"\n"
	           "e2,d1,2025-01-16,\"\",x,y\n"
	           "\"e3\",\"d2\",\"2025-01-17\",\"new\",\"\",\"\"\n");
	import_ok(f, "sales.csv");
	expect_stats(f, 3, 2, 0, 1);
	/* The multi-line field moved the line count on. */
	EXPECT_REJECTS(f, "sales.csv:4: stage: missing value");
	expect_query("SELECT event_id, stage, manager, source FROM events ORDER BY event_id",
	             "e1|Won, finally|Ivan \"The Closer\" Petrov|line one\nline two\n"
	             "e3|new|NULL|NULL\n");
}

static void test_wrong_field_count(void **state)
{
	fixture *f = *state;

	write_file("sales.csv",
	           "event_id,deal_id,ts,stage\n"
	           "e1,d1,2025-01-15,new\n"
	           "e2,d1,2025-01-15\n"
	           "e3,d1,2025-01-15,new,\n"
	           "e4,d1,2025-01-15,new\n");
	import_ok(f, "sales.csv");
	expect_stats(f, 4, 2, 0, 2);
	EXPECT_REJECTS(f, "sales.csv:3: record: 3 fields, the header has 4",
	               "sales.csv:4: record: 5 fields, the header has 4");
	expect_query("SELECT event_id FROM events ORDER BY event_id", "e1\ne4\n");
}

static void test_unterminated_quote_rows_after_survive(void **state)
{
	fixture *f = *state;

	write_file("sales.csv",
	           "event_id,deal_id,ts,stage\n"
	           "e1,d1,2025-01-15,new\n"
	           "e2,\"d2,2025-01-15,new\n"
	           "e3,d3,2025-01-15,new\n"
	           "e4,d4,2025-01-15,new\n");
	import_ok(f, "sales.csv");
	expect_stats(f, 4, 3, 0, 1);
	EXPECT_REJECTS(f, "sales.csv:3:4: deal_id: unterminated quote");
	expect_query("SELECT event_id, deal_id FROM events ORDER BY event_id", "e1|d1\ne3|d3\ne4|d4\n");

	/* On the last line: nothing to resume. */
	write_file("last.csv", "event_id,deal_id,ts,stage\ne5,d5,2025-01-15,new\ne6,d6,2025-01-15,\"new\n");
	import_ok(f, "last.csv");
	expect_stats(f, 2, 1, 0, 1);
	EXPECT_REJECTS(f, "last.csv:3:18: stage: unterminated quote");
}

/* An unclosed quote on line 2 and a stray one on line 5: the quote of line
 * 2 used to run to line 5's and take lines 3 and 4 with it, uncounted.  Now
 * line 2 alone is rejected, at its quote, and every line is counted; a
 * value across two lines (line 6-7) stays whole. */
static void test_open_quote_costs_one_record(void **state)
{
	fixture *f = *state;

	write_file("sales.csv",
	           "event_id,deal_id,ts,stage,manager\n"
	           "e1,d1,2025-01-01,lead,\"Ann\n"
	           "e2,d2,2025-01-01,lead,Bob\n"
	           "e3,d3,2025-01-01,lead,Cy\n"
	           "e4,d4,2025-01-01,lead,TV 55\"x\n"
	           "e5,d5,2025-01-01,lead,\"Dee\nDee\"\n"
	           "e6,d6,2025-01-02,lead,Eve\n");
	import_ok(f, "sales.csv");
	expect_stats(f, 6, 5, 0, 1);
	EXPECT_REJECTS(f, "sales.csv:2:23: manager: unterminated quote");
	expect_query("SELECT event_id, manager FROM events ORDER BY event_id",
	             "e2|Bob\ne3|Cy\ne4|TV 55\"x\ne5|Dee\nDee\ne6|Eve\n");
}

static void test_character_after_closing_quote(void **state)
{
	fixture *f = *state;

	write_file("sales.csv",
	           "event_id,deal_id,ts,stage,Note\n"
	           "e1,\"d1\"x,2025-01-15,new,\n"
	           "e2,d2,2025-01-15,new,\"fine\"\n"
	           "e3,d3,2025-01-15,new,\"ok\" \n"
	           "e4,d4,2025-01-15,new,\"a\",\n");
	import_ok(f, "sales.csv");
	expect_stats(f, 4, 1, 0, 3);
	/* An ignored column is named as the header spells it; one past the
	 * header by its number. */
	EXPECT_REJECTS(f, "sales.csv:2:8: deal_id: unexpected character after closing quote",
	               "sales.csv:4:26: Note: unexpected character after closing quote",
	               "sales.csv:5: record: 6 fields, the header has 5");
	expect_query("SELECT event_id FROM events", "e2\n");
}

static void test_invalid_utf8(void **state)
{
	fixture *f = *state;

	write_file("sales.csv",
	           "event_id,deal_id,ts,stage,manager,note\n"
	           "e1,d1,2025-01-15,new,Ив\xFF" "нов,\n"
	           "e2,d1,2025-01-15,won\xD0,Ann,\n"
	           "\xC0\xAF,d1,2025-01-15,new,Ann,\n"
	           "e4,d1,2025-01-15,new,\xcf\xf0\xe8,\n"
	           "e5,d1,2025-01-15,new,Ann,\xFF ignored column\n"
	           "e6,d1,2025-01-15,new,  \xFF,\n");
	import_ok(f, "sales.csv");
	expect_stats(f, 6, 1, 0, 5);
	/* The byte is counted in the value as written, leading spaces too. */
	EXPECT_REJECTS(f, "sales.csv:2: manager: invalid UTF-8 at byte 5",
	               "sales.csv:3: stage: invalid UTF-8 at byte 4",
	               "sales.csv:4: event_id: invalid UTF-8 at byte 1",
	               "sales.csv:5: manager: invalid UTF-8 at byte 1",
	               "sales.csv:7: manager: invalid UTF-8 at byte 3");
	expect_query("SELECT event_id FROM events", "e5\n");
}

static void test_missing_required_value(void **state)
{
	fixture *f = *state;

	write_file("sales.csv",
	           "event_id,deal_id,ts,stage\n"
	           ",d1,2025-01-15,new\n"
	           "e2,,2025-01-15,new\n"
	           "e3,d3,,new\n"
	           "e4,d4,2025-01-15,   \n"
	           "e5,d5,\t ,new\n"
	           "e6,d6,2025-01-15,new\n");
	import_ok(f, "sales.csv");
	expect_stats(f, 6, 1, 0, 5);
	EXPECT_REJECTS(f, "sales.csv:2: event_id: missing value",
	               "sales.csv:3: deal_id: missing value",
	               "sales.csv:4: ts: missing value",
	               "sales.csv:5: stage: missing value",
	               "sales.csv:6: ts: missing value");
}

static void test_key_too_long(void **state)
{
	fixture *f = *state;
	char text[2048];
	char key[514];

	memset(key, 'k', 513);
	key[513] = '\0';
	snprintf(text, sizeof text,
	         "event_id,deal_id,ts,stage\n%s,d1,2025-01-15,new\ne2,%s,2025-01-15,new\n%.512s,d1,2025-01-15,new\n",
	         key, key, key);
	write_file("sales.csv", text);
	import_ok(f, "sales.csv");
	expect_stats(f, 3, 1, 0, 2);
	EXPECT_REJECTS(f, "sales.csv:2: event_id: longer than 512 bytes",
	               "sales.csv:3: deal_id: longer than 512 bytes");
	expect_query("SELECT length(event_id) FROM events", "512\n");
}

static void test_bad_time(void **state)
{
	fixture *f = *state;

	write_file("sales.csv",
	           "event_id,deal_id,ts,stage\n"
	           "e1,d1,2025-02-30,new\n"
	           "e2,d1,yesterday,new\n"
	           "e3,d1,2025-13-01,new\n"
	           "e4,d1,2025-01-15T24:00,new\n"
	           "e5,d1,1969-12-31,new\n"
	           "e6,d1,2025-01-15T10:60,new\n"
	           "e7,d1,31.04.2025,new\n"
	           "e8,d1,173693700000,new\n"
	           "e9,d1,not-a-time-not-a-time-not-a-time-not-a-time-xyz,new\n"
	           "e10,d1,вчера вечером после обеда,new\n"
	           "e11,d1,2024-02-29,new\n");
	import_ok(f, "sales.csv");
	expect_stats(f, 11, 1, 0, 10);
	EXPECT_REJECTS(f,
	               "sales.csv:2: ts: cannot read time \"2025-02-30\": day out of range for month",
	               "sales.csv:3: ts: cannot read time \"yesterday\": unrecognised time format",
	               "sales.csv:4: ts: cannot read time \"2025-13-01\": month out of range",
	               "sales.csv:5: ts: cannot read time \"2025-01-15T24:00\": hour out of range",
	               "sales.csv:6: ts: cannot read time \"1969-12-31\": year out of range",
	               "sales.csv:7: ts: cannot read time \"2025-01-15T10:60\": minute out of range",
	               "sales.csv:8: ts: cannot read time \"31.04.2025\": day out of range for month",
	               "sales.csv:9: ts: cannot read time \"173693700000\": unrecognised time format",
	               /* Long values are cut at 40 bytes, on a character boundary. */
	               "sales.csv:10: ts: cannot read time \"not-a-time-not-a-time-not-a-time-not-a-t...\": "
	               "unrecognised time format",
	               "sales.csv:11: ts: cannot read time \"вчера вечером после о...\": "
	               "unrecognised time format");
	expect_query(CORE_COLUMNS, "e11|d1|2024-02-29T00:00:00Z|new\n");
}

static void test_bad_amount(void **state)
{
	fixture *f = *state;

	write_file("sales.csv",
	           "event_id;deal_id;ts;stage;amount\n"
	           "e1;d1;2025-01-15;new;12abc\n"
	           "e2;d1;2025-01-15;new;1,000.50\n"
	           "e3;d1;2025-01-15;new;1e5\n"
	           "e4;d1;2025-01-15;new;,5\n"
	           "e5;d1;2025-01-15;new;5.\n"
	           "e6;d1;2025-01-15;new;-\n"
	           "e7;d1;2025-01-15;new;$100\n"
	           "e8;d1;2025-01-15;new;inf\n"
	           "e9;d1;2025-01-15;new;сто\n"
	           "e10;d1;2025-01-15;new;100\n");
	import_ok(f, "sales.csv");
	/* 1e5 is a number (exponents are allowed: JSON writes them). */
	expect_stats(f, 10, 2, 0, 8);
	EXPECT_REJECTS(f, "sales.csv:2: amount: not a number: \"12abc\"",
	               "sales.csv:3: amount: not a number: \"1,000.50\"",
	               "sales.csv:5: amount: not a number: \",5\"",
	               "sales.csv:6: amount: not a number: \"5.\"",
	               "sales.csv:7: amount: not a number: \"-\"",
	               "sales.csv:8: amount: not a number: \"$100\"",
	               "sales.csv:9: amount: not a number: \"inf\"",
	               "sales.csv:10: amount: not a number: \"сто\"");
	expect_query("SELECT event_id, amount FROM events ORDER BY event_id", "e10|100.0\ne3|100000.0\n");
}

static void test_amount_formats(void **state)
{
	fixture *f = *state;

	write_file("sales.csv",
	           "event_id;deal_id;ts;stage;amount\n"
	           "a1;d1;2025-01-15;new;125000\n"
	           "a2;d1;2025-01-15;new;9990.50\n"
	           "a3;d1;2025-01-15;new;9 990,50\n"
	           "a4;d1;2025-01-15;new;1\xC2\xA0" "500,5\n"            /* NBSP */
	           "a5;d1;2025-01-15;new;1\xE2\x80\xAF" "000\xE2\x80\xAF" "000\n" /* narrow NBSP */
	           "a6;d1;2025-01-15;new;-250\n"
	           "a7;d1;2025-01-15;new;+0,75\n"
	           "a8;d1;2025-01-15;new;  42  \n"
	           "a9;d1;2025-01-15;new;\n"
	           "b1;d1;2025-01-15;new;0\n");
	import_ok(f, "sales.csv");
	expect_stats(f, 10, 10, 0, 0);
	expect_query("SELECT event_id, amount FROM events ORDER BY event_id",
	             "a1|125000.0\n"
	             "a2|9990.5\n"
	             "a3|9990.5\n"
	             "a4|1500.5\n"
	             "a5|1000000.0\n"
	             "a6|-250.0\n"
	             "a7|0.75\n"
	             "a8|42.0\n"
	             "a9|NULL\n"
	             "b1|0.0\n");
	/* Quoted with the comma delimiter, as spreadsheets write it. */
	write_file("comma.csv",
	           "event_id,deal_id,ts,stage,amount\n"
	           "c1,d1,2025-01-15,new,\"9 990,50\"\n"
	           "c2,d1,2025-01-15,new,\"1\xC2\xA0" "500,5\"\n");
	import_ok(f, "comma.csv");
	expect_stats(f, 2, 2, 0, 0);
	expect_query("SELECT event_id, amount FROM events WHERE event_id LIKE 'c%' ORDER BY event_id",
	             "c1|9990.5\nc2|1500.5\n");
}

/* ---- timestamps ------------------------------------------------------------------- */

static void test_timestamp_formats_in_zone(void **state)
{
	fixture *f = *state;
	static const struct {
		const char *in;
		const char *utc;
	} cases[] = {
		/* With an offset: the zone does not matter. */
		{ "2025-01-15T10:30:00Z", "2025-01-15T10:30:00Z" },
		{ "2025-01-15t10:30:00z", "2025-01-15T10:30:00Z" },
		{ "2025-01-15T10:30Z", "2025-01-15T10:30:00Z" },
		{ "2025-01-15T10:30:00.123456Z", "2025-01-15T10:30:00Z" },
		{ "2025-01-15T10:30:00+05:00", "2025-01-15T05:30:00Z" },
		{ "2025-01-15T10:30:00+0500", "2025-01-15T05:30:00Z" },
		{ "2025-01-15T10:30:00+05", "2025-01-15T05:30:00Z" },
		{ "2025-01-15T10:30:00-02:30", "2025-01-15T13:00:00Z" },
		{ "2025-01-15 10:30:00+01:00", "2025-01-15T09:30:00Z" },
		{ "2025-01-15 10:30Z", "2025-01-15T10:30:00Z" },
		/* Naive: Moscow wall time, UTC+3 now... */
		{ "2025-01-15T10:30:00", "2025-01-15T07:30:00Z" },
		{ "2025-01-15 10:30:00", "2025-01-15T07:30:00Z" },
		{ "2025-01-15 10:30", "2025-01-15T07:30:00Z" },
		{ "2025-01-15T10:30:45.9", "2025-01-15T07:30:45Z" },
		{ "2025-01-15", "2025-01-14T21:00:00Z" },
		{ "15.01.2025 10:30:45", "2025-01-15T07:30:45Z" },
		{ "15.01.2025 10:30", "2025-01-15T07:30:00Z" },
		{ "15.01.2025", "2025-01-14T21:00:00Z" },
		{ "  2025-01-15 10:30  ", "2025-01-15T07:30:00Z" },
		/* ... but UTC+4 in the summer of 2010 (DST) and all of 2011-2014. */
		{ "2010-01-15 12:00", "2010-01-15T09:00:00Z" },
		{ "2010-07-15 12:00", "2010-07-15T08:00:00Z" },
		{ "2011-07-01 12:00", "2011-07-01T08:00:00Z" },
		/* Unix seconds are UTC. */
		{ "1736937000", "2025-01-15T10:30:00Z" },
		{ "0", "1970-01-01T00:00:00Z" },
	};
	char *text = NULL, *want = NULL;
	size_t text_len = 0, want_len = 0;
	FILE *t = open_memstream(&text, &text_len);
	FILE *w = open_memstream(&want, &want_len);
	const size_t n = sizeof cases / sizeof cases[0];

	use_moscow(f);
	fputs("event_id;deal_id;ts;stage\n", t);
	for (size_t i = 0; i < n; i++) {
		fprintf(t, "t%02zu;d1;%s;new\n", i, cases[i].in);
		fprintf(w, "t%02zu|%s\n", i, cases[i].utc);
	}
	fclose(t);
	fclose(w);
	write_file("times.csv", text);
	import_ok(f, "times.csv");
	expect_stats(f, (int64_t)n, (int64_t)n, 0, 0);
	expect_query("SELECT event_id, ts FROM events ORDER BY event_id", want);
	free(text);
	free(want);
}

/* A time repeated on the next row is not parsed again: the rows after it
 * must still read their own text, one character longer or shorter, or
 * bad right after a good one. */
static void test_repeated_times(void **state)
{
	fixture *f = *state;

	write_file("sales.csv",
	           "event_id,deal_id,ts,stage\n"
	           "e1,d1,2025-01-15 10:30,new\n"
	           "e2,d1,2025-01-15 10:30,won\n"
	           "e3,d1,2025-01-15 10:3,new\n"
	           "e4,d1,2025-01-15 10:30x,new\n"
	           "e5,d1,2025-01-15,new\n"
	           "e6,d1, 2025-01-15 10:30,lost\n"
	           "e7,d1,2025-01-15 10:31,new\n");
	import_ok(f, "sales.csv");
	expect_stats(f, 7, 5, 0, 2);
	EXPECT_REJECTS(f, "sales.csv:4: ts: cannot read time \"2025-01-15 10:3\": unrecognised time format",
	               "sales.csv:5: ts: cannot read time \"2025-01-15 10:30x\": unrecognised time format");
	expect_query("SELECT event_id, ts FROM events ORDER BY event_id",
	             "e1|2025-01-15T10:30:00Z\n"
	             "e2|2025-01-15T10:30:00Z\n"
	             "e5|2025-01-15T00:00:00Z\n"
	             "e6|2025-01-15T10:30:00Z\n"
	             "e7|2025-01-15T10:31:00Z\n");
}

static void test_naive_times_default_to_utc(void **state)
{
	fixture *f = *state;

	write_file("sales.csv",
	           "event_id,deal_id,ts,stage\n"
	           "e1,d1,2025-01-15 10:30,new\n"
	           "e2,d1,15.01.2025,new\n"
	           "e3,d1,2025-01-15T10:30:00+03:00,new\n");
	import_ok(f, "sales.csv");
	expect_query("SELECT event_id, ts FROM events ORDER BY event_id",
	             "e1|2025-01-15T10:30:00Z\n"
	             "e2|2025-01-15T00:00:00Z\n"
	             "e3|2025-01-15T07:30:00Z\n");
}

static void test_unix_seconds(void **state)
{
	fixture *f = *state;

	use_moscow(f); /* must not shift them */
	write_file("sales.csv",
	           "event_id,deal_id,ts,stage\n"
	           "e1,d1,1736937000,new\n"
	           "e2,d1,1,new\n"
	           "e3,d1, 1736937000 ,new\n"
	           "e4,d1,99999999999,new\n"
	           "e5,d1,-1,new\n"
	           "e6,d1,1736937000.5,new\n");
	import_ok(f, "sales.csv");
	expect_stats(f, 6, 4, 0, 2);
	EXPECT_REJECTS(f, "sales.csv:6: ts: cannot read time \"-1\": unrecognised time format",
	               "sales.csv:7: ts: cannot read time \"1736937000.5\": unrecognised time format");
	expect_query("SELECT event_id, ts FROM events ORDER BY event_id",
	             "e1|2025-01-15T10:30:00Z\n"
	             "e2|1970-01-01T00:00:01Z\n"
	             "e3|2025-01-15T10:30:00Z\n"
	             "e4|5138-11-16T09:46:39Z\n");
}

/* ---- duplicates -------------------------------------------------------------------- */

static const char three_rows[] =
	"event_id,deal_id,ts,stage\n"
	"e1,d1,2025-01-15,new\n"
	"e2,d1,2025-01-16,meeting\n"
	"e3,d2,2025-01-17,new\n";

static void test_same_file_twice(void **state)
{
	fixture *f = *state;

	write_file("sales.csv", three_rows);
	import_ok(f, "sales.csv");
	expect_stats(f, 3, 3, 0, 0);
	import_ok(f, "sales.csv");
	expect_stats(f, 3, 0, 3, 0);
	assert_int_equal(count_events(), 3);
	/* And again after reopening: duplicates are found in the database, not
	 * in a per-process cache. */
	close_store(f);
	open_store(f);
	import_ok(f, "sales.csv");
	expect_stats(f, 3, 0, 3, 0);
	assert_int_equal(count_events(), 3);
}

static void test_overlapping_files(void **state)
{
	fixture *f = *state;

	write_file("jan.csv", three_rows);
	write_file("jan-feb.csv",
	           "event_id,deal_id,ts,stage\n"
	           "e2,d1,2025-01-16,CHANGED\n"
	           "e3,d2,2025-01-17,new\n"
	           "e4,d2,2025-02-01,won\n"
	           "e5,d3,2025-02-02,new\n");
	import_ok(f, "jan.csv");
	import_ok(f, "jan-feb.csv");
	expect_stats(f, 4, 2, 2, 0);
	/* The stored version of a duplicate is the first one seen. */
	expect_query(CORE_COLUMNS,
	             "e1|d1|2025-01-15T00:00:00Z|new\n"
	             "e2|d1|2025-01-16T00:00:00Z|meeting\n"
	             "e3|d2|2025-01-17T00:00:00Z|new\n"
	             "e4|d2|2025-02-01T00:00:00Z|won\n"
	             "e5|d3|2025-02-02T00:00:00Z|new\n");
}

static void test_duplicate_within_file_first_wins(void **state)
{
	fixture *f = *state;

	write_file("sales.csv",
	           "event_id,deal_id,ts,stage,manager\n"
	           "e1,d1,2025-01-15,new,Ann\n"
	           "e2,d1,2025-01-16,meeting,Ann\n"
	           "e1,d9,2025-03-01,lost,Bob\n"
	           " e2 ,d1,2025-01-16,meeting,Ann\n");
	import_ok(f, "sales.csv");
	expect_stats(f, 4, 2, 2, 0);
	expect_query("SELECT event_id, deal_id, ts, stage, manager FROM events ORDER BY event_id",
	             "e1|d1|2025-01-15T00:00:00Z|new|Ann\n"
	             "e2|d1|2025-01-16T00:00:00Z|meeting|Ann\n");
}

/* Without event ids each event is known by its content, and that key is
 * unique together with its time: duplicates are found within a file, out
 * of time order, across batches and in a second import. */
static void test_content_keys_dedup(void **state)
{
	fixture *f = *state;
	static const char rows[] =
		"deal_id,ts,stage,manager\n"
		"d1,2025-01-15,new,Ann\n"
		"d2,2025-01-16,new,Ann\n"
		"d1,2025-01-17,won,Ann\n"
		"d2,2025-01-16,new,Bob\n"      /* same deal, time, stage: a duplicate */
		"d1,2025-01-15,new,Ann\n"      /* earlier than the row before */
		"d1,2025-01-15,lost,Ann\n"     /* same deal and time, another stage */
		"d3,2025-01-15,new,Ann\n";     /* same time and stage, another deal */

	write_file("sales.csv", rows);
	f->opts.batch_rows = 2;
	import_ok(f, "sales.csv");
	expect_stats(f, 7, 5, 2, 0);
	import_ok(f, "sales.csv");
	expect_stats(f, 7, 0, 7, 0);
	close_store(f);
	open_store(f);
	import_ok(f, "sales.csv");
	expect_stats(f, 7, 0, 7, 0);
	expect_query("SELECT deal_id, ts, stage, manager FROM events ORDER BY rowid",
	             "d1|2025-01-15T00:00:00Z|new|Ann\n"
	             "d2|2025-01-16T00:00:00Z|new|Ann\n"
	             "d1|2025-01-17T00:00:00Z|won|Ann\n"
	             "d1|2025-01-15T00:00:00Z|lost|Ann\n"
	             "d3|2025-01-15T00:00:00Z|new|Ann\n");
	expect_query("SELECT count(DISTINCT event_id), min(event_id) GLOB 'content:*' FROM events", "5|1\n");
}

/* Event ids near the content keys' "content:" in sort order are ids like
 * any other; one of the content keys' own form is found again at its time
 * (an events export imported back). */
static void test_event_ids_beside_content_keys(void **state)
{
	fixture *f = *state;

	write_file("sales.csv",
	           "event_id,deal_id,ts,stage\n"
	           "content,d1,2025-01-15,new\n"
	           "content;,d1,2025-01-16,new\n"
	           "content:9,d1,2025-01-17,new\n"
	           "content,d2,2025-02-15,won\n"
	           "content;,d2,2025-02-16,won\n"
	           "content:9,d2,2025-01-17,won\n");
	write_file("plain.csv", "deal_id,ts,stage\nd1,2025-01-15,new\n");
	import_ok(f, "sales.csv");
	expect_stats(f, 6, 3, 3, 0);
	import_ok(f, "plain.csv");
	expect_stats(f, 1, 1, 0, 0);
	import_ok(f, "plain.csv");
	expect_stats(f, 1, 0, 1, 0);
	expect_query("SELECT event_id, deal_id, stage FROM events WHERE length(event_id) < 40 ORDER BY rowid",
	             "content|d1|new\n"
	             "content;|d1|new\n"
	             "content:9|d1|new\n");
	assert_int_equal(count_events(), 4);
}

/* Runs sql (several statements) on a second, writing connection. */
static void exec_rw(const char *sql)
{
	sqlite3 *db = NULL;
	char *msg = NULL;

	assert_int_equal(sqlite3_open_v2(DB_NAME, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL), SQLITE_OK);
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg);
	sqlite3_close(db);
}

#define HEX8 "[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]"

/* A content key is stored as its 16 bytes; the events view shows its
 * text, and that text imported back finds the same events. */
static void test_content_keys_stored_as_bytes(void **state)
{
	fixture *f = *state;
	char *rows, *text;
	size_t n;

	write_file("plain.csv", "deal_id,ts,stage\nd1,2025-01-15,new\nd1,2025-01-16,won\nd2,2025-01-16,new\n");
	import_ok(f, "plain.csv");
	expect_stats(f, 3, 3, 0, 0);
	expect_query("SELECT typeof(event_key), length(event_key), count(*) FROM event GROUP BY 1, 2", "blob|16|3\n");
	expect_query("SELECT count(*) FROM events WHERE event_id GLOB 'content:" HEX8 HEX8 HEX8 HEX8 "'", "3\n");
	/* the events view exported and imported back: all duplicates */
	rows = query("SELECT event_id || ',' || deal_id || ',' || ts || ',' || stage FROM events ORDER BY ts, deal_id");
	n = strlen(rows);
	text = malloc(n + 32);
	assert_non_null(text);
	snprintf(text, n + 32, "event_id,deal_id,ts,stage\n%s", rows);
	write_file("back.csv", text);
	import_ok(f, "back.csv");
	expect_stats(f, 3, 0, 3, 0);
	/* the first id's digits in upper case are not the key's form: an id
	 * of the content range kept as text, a new event */
	for (char *p = text + strlen("event_id,deal_id,ts,stage\ncontent:"); *p != ','; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	write_file("upper.csv", text);
	import_ok(f, "upper.csv");
	expect_stats(f, 3, 1, 2, 0);
	expect_query("SELECT typeof(event_key), count(*) FROM event GROUP BY 1 ORDER BY 1", "blob|3\ntext|1\n");
	free(rows);
	free(text);
}

/* What a store of schema version 1 was: content keys as text, the key
 * indexes on text ranges, the view showing the keys as they are. */
static const char version_1_sql[] =
	"DROP VIEW events; DROP INDEX event_id_key; DROP INDEX event_content_key;"
	"UPDATE event SET event_key = 'content:' || lower(hex(event_key)) WHERE typeof(event_key) = 'blob';"
	"CREATE UNIQUE INDEX event_id_key ON event(event_key)"
	" WHERE event_key < 'content:' OR event_key >= 'content;';"
	"CREATE UNIQUE INDEX event_content_key ON event(ts, event_key)"
	" WHERE event_key >= 'content:' AND event_key < 'content;';"
	"CREATE VIEW events AS SELECT e.event_key AS event_id, d.key AS deal_id, e.ts AS ts"
	" FROM event e JOIN deal d ON d.id = e.deal;"
	"PRAGMA user_version = 1;";

/* A version 1 store reads as it is, read-only; the first run that may
 * write turns its content keys into bytes, and nothing else changes:
 * the view's rows, the dedup. */
static void test_version_1_store_is_upgraded(void **state)
{
	fixture *f = *state;
	se_store *ro = NULL;
	char *before, *after;

	write_file("plain.csv", "deal_id,ts,stage\nd1,2025-01-15,new\nd1,2025-01-16,won\nd2,2025-01-16,new\n");
	write_file("ids.csv", "event_id,deal_id,ts,stage\ne1,d3,2025-01-15,new\ncontent:9,d3,2025-01-17,won\n");
	import_ok(f, "plain.csv");
	import_ok(f, "ids.csv");
	before = query("SELECT * FROM events ORDER BY event_id");
	close_store(f);
	exec_rw(version_1_sql);
	expect_query("SELECT typeof(event_key), count(*) FROM event GROUP BY 1", "text|5\n");
	assert_int_equal(se_store_open(&ro, DB_NAME, SE_STORE_READONLY, &f->err), SE_OK);
	se_store_close(ro);
	expect_query("PRAGMA user_version", "1\n");
	open_store(f);
	expect_query("PRAGMA user_version", "2\n");
	expect_query("SELECT typeof(event_key), count(*) FROM event GROUP BY 1 ORDER BY 1", "blob|3\ntext|2\n");
	after = query("SELECT * FROM events ORDER BY event_id");
	assert_string_equal(after, before);
	expect_query("SELECT count(*) FROM sqlite_master WHERE name IN ('event_id_key', 'event_content_key')"
	             " AND instr(sql, 'x' || char(39) || char(39)) > 0",
	             "2\n");
	import_ok(f, "plain.csv");
	expect_stats(f, 3, 0, 3, 0);
	import_ok(f, "ids.csv");
	expect_stats(f, 2, 0, 2, 0);
	assert_int_equal(count_events(), 5);
	free(before);
	free(after);
}

/* A store from before the two key indexes has one UNIQUE(event_key): the
 * upgrade adds no index, and that one keeps the bytes unique too. */
static void test_single_key_index_store_is_upgraded(void **state)
{
	fixture *f = *state;

	close_store(f);
	assert_int_equal(unlink(DB_NAME), 0);
	exec_rw("CREATE TABLE event(id INTEGER PRIMARY KEY, event_key TEXT NOT NULL UNIQUE,"
	        " deal INTEGER NOT NULL, ts INTEGER NOT NULL, status INTEGER NOT NULL, from_status INTEGER,"
	        " manager INTEGER, source INTEGER, amount REAL, pipeline INTEGER, currency INTEGER);"
	        "PRAGMA user_version = 1;");
	open_store(f);
	expect_query("PRAGMA user_version", "2\n");
	expect_query("SELECT count(*) FROM sqlite_master WHERE name IN ('event_id_key', 'event_content_key')", "0\n");
	write_file("plain.csv", "deal_id,ts,stage\nd1,2025-01-15,new\nd1,2025-01-16,won\n");
	import_ok(f, "plain.csv");
	expect_stats(f, 2, 2, 0, 0);
	import_ok(f, "plain.csv");
	expect_stats(f, 2, 0, 2, 0);
	expect_query("SELECT typeof(event_key), count(*) FROM event GROUP BY 1", "blob|2\n");
}

static void test_rejected_rows_are_not_stored(void **state)
{
	fixture *f = *state;

	write_file("sales.csv",
	           "event_id,deal_id,ts,stage\n"
	           "e1,d1,2025-01-15,new\n"
	           "e2,d1,2025-02-30,meeting\n"
	           "e3,d2,2025-01-17,new\n");
	import_ok(f, "sales.csv");
	expect_stats(f, 3, 2, 0, 1);
	expect_query("SELECT event_id FROM events ORDER BY event_id", "e1\ne3\n");
	/* Fixed and re-exported: e2 is new, not a duplicate. */
	write_file("fixed.csv",
	           "event_id,deal_id,ts,stage\n"
	           "e1,d1,2025-01-15,new\n"
	           "e2,d1,2025-02-28,meeting\n"
	           "e3,d2,2025-01-17,new\n");
	import_ok(f, "fixed.csv");
	expect_stats(f, 3, 1, 2, 0);
	expect_query("SELECT event_id, ts FROM events ORDER BY event_id",
	             "e1|2025-01-15T00:00:00Z\ne2|2025-02-28T00:00:00Z\ne3|2025-01-17T00:00:00Z\n");
}

/* A record is first checked whole (valid UTF-8, no NUL inside a field);
 * when that fails, each column the import reads is checked alone, so a bad
 * byte in an ignored column still costs nothing, whichever way the reader
 * split the record (a quoted field takes the general path). */
static void test_nul_and_bad_bytes_by_column(void **state)
{
	fixture *f = *state;
	static const char csv[] =
		"event_id,deal_id,ts,stage,note,manager\n"
		"e1,d1,2025-01-15,new,x\0y,Ann\n"
		"e2,d1,2025-01-15,new,\"q\0\",Bo\0\n"
		"\0e3,d1,2025-01-15,new,,Cy\n"
		"e4,d1,2025-01-15,new,,\xD0\n"
		"e5,d1,2025-01-15,new,\xD0,Dee\n"
		"e6,d1,2025-01-15,new,\"\xD0\",\"  Eve\xE2\x82\"\n"
		"e7,d1,2025-01-15,new,\"\0\",\"\xD0\x96\"\n";

	write_bytes("mixed.csv", csv, sizeof csv - 1);
	import_ok(f, "mixed.csv");
	expect_stats(f, 7, 3, 0, 4);
	EXPECT_REJECTS(f, "mixed.csv:3: manager: NUL byte at byte 3", "mixed.csv:4: event_id: NUL byte at byte 1",
	               "mixed.csv:5: manager: invalid UTF-8 at byte 1",
	               "mixed.csv:7: manager: invalid UTF-8 at byte 6");
	expect_query("SELECT event_id FROM events ORDER BY event_id", "e1\ne5\ne7\n");
}

/* ---- JSON Lines ---------------------------------------------------------------------- */

/* A NUL byte used to cut "An\0nie" to "An" without a word: now the row is
 * rejected, naming the line and where the NUL is.  CSV, and JSON Lines
 * with the escape \u0000 or a raw NUL; an escaped backslash before
 * "u0000" is text, not a NUL. */
static void test_nul_bytes_rejected(void **state)
{
	fixture *f = *state;
	static const char csv[] =
		"event_id,deal_id,ts,stage,manager\n"
		"e1,d1,2025-01-15,new,An\0nie\n"
		"e2,d2,2025-01-15,new,Annie\n"
		"e3,d\0,2025-01-15,new,Bo\n";
	static const char jsonl[] =
		"{\"event_id\":\"j1\",\"deal_id\":\"d1\",\"ts\":\"2025-01-15\",\"stage\":\"new\",\"manager\":\"An\\u0000nie\"}\n"
		"{\"event_id\":\"j2\",\"deal_id\":\"d1\",\"ts\":\"2025-01-15\",\"stage\":\"new\",\"manager\":\"A\\\\u0000\"}\n"
		"{\"event_id\":\"j3\",\"deal_id\":\"d1\",\"ts\":\"2025-01-15\",\"stage\":\"new\",\"manager\":\"B\0\"}\n";

	write_bytes("nul.csv", csv, sizeof csv - 1);
	import_ok(f, "nul.csv");
	expect_stats(f, 3, 1, 0, 2);
	EXPECT_REJECTS(f, "nul.csv:2: manager: NUL byte at byte 3", "nul.csv:4: deal_id: NUL byte at byte 2");
	write_bytes("nul.jsonl", jsonl, sizeof jsonl - 1);
	import_ok(f, "nul.jsonl");
	expect_stats(f, 3, 1, 0, 2);
	EXPECT_REJECTS(f, "nul.jsonl:1:78: record: NUL character in JSON text",
	               "nul.jsonl:3:77: record: NUL character in JSON text");
	expect_query("SELECT event_id, manager FROM events ORDER BY event_id",
	             "e2|Annie\nj2|A\\u0000\n");
}

/* Two won deals of 6e16 used to sum to -64467440737095516.16, and 1e308
 * to 0.00: amounts past 10^15 are rejected now, naming the column, and
 * the largest allowed one is stored exactly (in kopecks it fits an int64). */
static void test_amount_beyond_the_maximum(void **state)
{
	fixture *f = *state;

	write_file("big.csv",
	           "event_id,deal_id,ts,stage,amount\n"
	           "e1,d1,2025-01-15,won,6e16\n"
	           "e2,d2,2025-01-15,won,60000000000000000\n"
	           "e3,d3,2025-01-15,won,1e308\n"
	           "e4,d4,2025-01-15,won,-1000000000000000.5\n"
	           "e5,d5,2025-01-15,won,1000000000000000\n"
	           "e6,d6,2025-01-15,won,\"-123 456 789 012,34\"\n");
	import_ok(f, "big.csv");
	expect_stats(f, 6, 2, 0, 4);
	EXPECT_REJECTS(f,
	               "big.csv:2: amount: \"6e16\" is beyond the largest amount, 1000000000000000 (10^15) either way",
	               "big.csv:3: amount: \"60000000000000000\" is beyond the largest amount, 1000000000000000 (10^15) either way",
	               "big.csv:4: amount: \"1e308\" is beyond the largest amount, 1000000000000000 (10^15) either way",
	               "big.csv:5: amount: \"-1000000000000000.5\" is beyond the largest amount, 1000000000000000 (10^15) either way");
	expect_query("SELECT event_id, printf('%.2f', amount) FROM events ORDER BY event_id",
	             "e5|1000000000000000.00\ne6|-123456789012.34\n");
}

static void test_jsonl(void **state)
{
	fixture *f = *state;

	write_file("events.jsonl",
	           "\xEF\xBB\xBF{\"event_id\":\"j1\",\"deal_id\":\"d1\",\"ts\":\"2025-01-15T10:30:00Z\","
	           "\"stage\":\"new\",\"manager\":\"\\u0418\\u0432\\u0430\\u043d\",\"amount\":9990.5,"
	           "\"extra\":{\"x\":[1,2]}}\n"
	           "{\"EVENT_ID\":\"j2\",\"Deal_Id\":42,\"ts\":1736937000,\"stage\":\"won\","
	           "\"amount\":125000,\"manager\":null,\"source\":\"Яндекс\"}\n"
	           "\n"
	           "   \t \n"
	           "{\"event_id\":\"j3\",\"deal_id\":\"d1\",\"ts\":\"2025-01-15\",\"stage\":null}\n"
	           "{\"event_id\":\"j4\",\"deal_id\":\"d1\",\"ts\":\"2025-01-15\",\"stage\":\"new\","
	           "\"source\":{\"utm\":\"ya\"}}\n"
	           "{\"event_id\":\"j5\",\"deal_id\":\"d1\",\"ts\":\"2025-01-15\",\"stage\":\"new\","
	           "\"manager\":[\"a\"]}\n"
	           "{\"event_id\":\"j6\",\"deal_id\":\"d1\",\"ts\":\"2025-01-15\",\"stage\":true}\n"
	           "{\"event_id\":\"j7\",\"deal_id\":\"d1\"\n"
	           "[1,2]\n"
	           "\"j8\"\n"
	           "42\n"
	           "null\n"
	           "{\"event_id\":\"j9\",\"deal_id\":\"d9\",\"ts\":\"2025-01-15 10:30\",\"stage\":\"new\","
	           "\"amount\":\"9 990,50\",\"pipeline\":7}\r\n"
	           "{\"event_id\":\"j10\",\"deal_id\":\"d9\",\"ts\":\"2025-02-30\",\"stage\":\"new\"}\n"
	           "  {\"event_id\":\"j11\",\"deal_id\":\"d9\",\"ts\":\"2025-01-16\",\"stage\":\"won\","
	           "\"amount\":1.5e3}  ");
	import_ok(f, "events.jsonl");
	expect_stats(f, 14, 4, 0, 10);
	EXPECT_REJECTS(f, "events.jsonl:5: stage: missing value",
	               "events.jsonl:6: source: expected a string or a number",
	               "events.jsonl:7: manager: expected a string or a number",
	               "events.jsonl:8: stage: expected a string or a number",
	               "events.jsonl:9: record: malformed JSON",
	               "events.jsonl:10: record: not a JSON object",
	               "events.jsonl:11: record: not a JSON object",
	               "events.jsonl:12: record: not a JSON object",
	               "events.jsonl:13: record: not a JSON object",
	               "events.jsonl:15: ts: cannot read time \"2025-02-30\": day out of range for month");
	expect_query(ALL_COLUMNS,
	             "j1|d1|2025-01-15T10:30:00Z|new|NULL|Иван|NULL|9990.5|NULL|NULL\n"
	             "j11|d9|2025-01-16T00:00:00Z|won|NULL|NULL|NULL|1500.0|NULL|NULL\n"
	             "j2|42|2025-01-15T10:30:00Z|won|NULL|NULL|Яндекс|125000.0|NULL|NULL\n"
	             "j9|d9|2025-01-15T10:30:00Z|new|NULL|NULL|NULL|9990.5|7|NULL\n");
}

/* SQLite hands a JSON number back in its own spelling: 0.00001 as 1.0e-05,
 * 1e21 as 1.0e+21, a whole real as 1736937000.0.  Each is still the number
 * the file wrote. */
static void test_jsonl_numbers_as_sqlite_spells_them(void **state)
{
	fixture *f = *state;

	write_file("events.jsonl",
	           "{\"event_id\":\"n1\",\"deal_id\":\"d1\",\"ts\":1736937000.0,\"stage\":\"new\","
	           "\"amount\":0.00001}\n"
	           "{\"event_id\":\"n2\",\"deal_id\":\"d2\",\"ts\":1736937000,\"stage\":\"new\","
	           "\"amount\":1e15}\n"
	           "{\"event_id\":\"n3\",\"deal_id\":\"d3\",\"ts\":1736937000.5,\"stage\":\"new\"}\n");
	import_ok(f, "events.jsonl");
	expect_stats(f, 3, 2, 0, 1);
	EXPECT_REJECTS(f, "events.jsonl:3: ts: cannot read time \"1736937000.5\": unrecognised time format");
	expect_query("SELECT event_id, ts, amount FROM events ORDER BY event_id",
	             "n1|2025-01-15T10:30:00Z|1.0e-05\n"
	             "n2|2025-01-15T10:30:00Z|1.0e+15\n");
}

/* Amounts in exponent form are numbers too; a dangling exponent is not. */
static void test_amount_exponent(void **state)
{
	fixture *f = *state;

	write_file("sales.csv",
	           "event_id,deal_id,ts,stage,amount\n"
	           "a1,d1,2025-01-15,new,1.5e3\n"
	           "a2,d1,2025-01-15,new,2E-2\n"
	           "a3,d1,2025-01-15,new,1e\n"
	           "a4,d1,2025-01-15,new,e5\n"
	           "a5,d1,2025-01-15,new,1e5x\n");
	import_ok(f, "sales.csv");
	expect_stats(f, 5, 2, 0, 3);
	EXPECT_REJECTS(f, "sales.csv:4: amount: not a number: \"1e\"",
	               "sales.csv:5: amount: not a number: \"e5\"",
	               "sales.csv:6: amount: not a number: \"1e5x\"");
	expect_query("SELECT event_id, amount FROM events ORDER BY event_id", "a1|1500.0\na2|0.02\n");
}

static void test_jsonl_invalid_utf8(void **state)
{
	fixture *f = *state;

	write_file("events.jsonl",
	           "{\"event_id\":\"j1\",\"deal_id\":\"d1\",\"ts\":\"2025-01-15\",\"stage\":\"new\","
	           "\"manager\":\"Ив\xFF\"}\n"
	           "{\"event_id\":\"j2\",\"deal_id\":\"d1\",\"ts\":\"2025-01-15\",\"stage\":\"new\"}\n");
	import_ok(f, "events.jsonl");
	expect_stats(f, 2, 1, 0, 1);
	EXPECT_REJECTS(f, "events.jsonl:1: manager: invalid UTF-8 at byte 5");
}

static void test_jsonl_forced_format(void **state)
{
	fixture *f = *state;
	static const char text[] =
		"{\"event_id\":\"j1\",\"deal_id\":\"d1\",\"ts\":\"2025-01-15\",\"stage\":\"new\"}\n"
		"{\"event_id\":\"j2\",\"deal_id\":\"d1\",\"ts\":\"2025-01-16\",\"stage\":\"won\"}\n";

	write_file("export.txt", text);
	/* By extension a .txt file is CSV, and the first line is no header. */
	assert_int_equal(run_import(f, "export.txt"), SE_EINPUT);
	assert_int_equal(count_events(), 0);
	f->opts.format = SE_INPUT_JSONL;
	import_ok(f, "export.txt");
	expect_stats(f, 2, 2, 0, 0);

	/* .ndjson (any case) is JSON Lines by extension. */
	f->opts.format = SE_INPUT_AUTO;
	write_file("more.NDJSON",
	           "{\"event_id\":\"j3\",\"deal_id\":\"d1\",\"ts\":\"2025-01-17\",\"stage\":\"won\"}\n");
	import_ok(f, "more.NDJSON");
	expect_stats(f, 1, 1, 0, 0);

	/* And a forced CSV reads a .jsonl name as CSV. */
	f->opts.format = SE_INPUT_CSV;
	write_file("odd.jsonl", "event_id,deal_id,ts,stage\nc1,d1,2025-01-15,new\n");
	import_ok(f, "odd.jsonl");
	expect_stats(f, 1, 1, 0, 0);
	assert_int_equal(count_events(), 4);
}

static void test_jsonl_fixture(void **state)
{
	fixture *f = *state;

	use_moscow(f);
	import_ok(f, FIXTURES "bitrix_events.jsonl");
	expect_stats(f, 4, 2, 0, 2);
	EXPECT_REJECTS(f, FIXTURES "bitrix_events.jsonl:4: stage: expected a string or a number",
	               FIXTURES "bitrix_events.jsonl:5: record: malformed JSON");
	expect_query(ALL_COLUMNS,
	             "b24-1|D-1|2025-01-15T07:30:00Z|NEW|NULL|Ольга|NULL|1500.5|NULL|RUB\n"
	             "b24-2|D-1|2025-01-15T10:30:00Z|WON|NEW|NULL|NULL|9990.5|NULL|NULL\n");
}

/* An empty JSON array is a non-object line like [1,2]: "record: not a JSON
 * object", not a row without event_id (regression: [] yields no member to
 * check the top-level type on). */
static void test_jsonl_empty_array_is_not_an_object(void **state)
{
	fixture *f = *state;

	write_file("events.jsonl",
	           "[]\n"
	           "{\"event_id\":\"j1\",\"deal_id\":\"d1\",\"ts\":\"2025-01-15\",\"stage\":\"new\"}\n");
	import_ok(f, "events.jsonl");
	expect_stats(f, 2, 1, 0, 1);
	EXPECT_REJECTS(f, "events.jsonl:1: record: not a JSON object");
}

static void test_jsonl_empty_object_lacks_fields(void **state)
{
	fixture *f = *state;

	write_file("events.jsonl", "{}\n{\"event_id\":\"j1\"}\n");
	import_ok(f, "events.jsonl");
	expect_stats(f, 2, 0, 0, 2);
	EXPECT_REJECTS(f, "events.jsonl:1: event_id: missing value",
	               "events.jsonl:2: deal_id: missing value");
}

/* ---- batches ----------------------------------------------------------------------------- */

static void test_small_batches(void **state)
{
	fixture *f = *state;
	char text[1024];
	size_t off = 0;

	off += (size_t)snprintf(text + off, sizeof text - off, "event_id,deal_id,ts,stage\n");
	for (int i = 1; i <= 10; i++)
		off += (size_t)snprintf(text + off, sizeof text - off, "e%02d,d%d,2025-01-%02d,new\n",
		                        i, i % 4, i);
	write_file("sales.csv", text);
	f->opts.batch_rows = 3;
	import_ok(f, "sales.csv");
	expect_stats(f, 10, 10, 0, 0);
	assert_int_equal(count_events(), 10);
	expect_query("SELECT min(event_id), max(event_id), count(DISTINCT deal_id) FROM events",
	             "e01|e10|4\n");

	/* Mixed with duplicates and rejects, which do not fill a batch. */
	write_file("mixed.csv",
	           "event_id,deal_id,ts,stage\n"
	           "e01,d1,2025-01-01,new\n"
	           "m01,d1,2025-01-01,new\n"
	           "m02,d1,bad,new\n"
	           "m03,d1,2025-01-01,new\n"
	           "e05,d1,2025-01-01,new\n"
	           "m04,d1,2025-01-01,new\n"
	           "m05,d1,2025-01-01,new\n"
	           "m05,d1,2025-01-01,new\n"
	           "m06,d1,2025-01-01,\n"
	           "m07,d1,2025-01-01,new\n");
	import_ok(f, "mixed.csv");
	expect_stats(f, 10, 5, 3, 2);
	assert_int_equal(count_events(), 15);

	/* One row per transaction works too. */
	f->opts.batch_rows = 1;
	write_file("ones.csv", "event_id,deal_id,ts,stage\no1,d1,2025-01-01,new\no2,d1,2025-01-01,new\n");
	import_ok(f, "ones.csv");
	expect_stats(f, 2, 2, 0, 0);
	assert_int_equal(count_events(), 17);
}

/* ---- deal numbering past the lent map ---------------------------------------- */

/* Writes n rows: deal keys come back after short and long gaps (longer than
 * two generations of a tiny map), new ones keep coming.  The keys in order
 * of first appearance go to *order ('\n' after each), and "event|deal" per
 * row, sorted by event id, to *pairs. */
static void write_deal_walk(const char *path, int first_event, int n, int base_deal, char **order,
                            char **pairs)
{
	FILE *csv = fopen(path, "w"), *o, *p;
	size_t olen = 0, plen = 0;
	unsigned seen[2048] = { 0 };
	uint32_t r = 12345u + (uint32_t)first_event;

	assert_non_null(csv);
	assert_non_null(o = open_memstream(order, &olen));
	assert_non_null(p = open_memstream(pairs, &plen));
	fprintf(csv, "event_id,deal_id,ts,stage\n");
	for (int i = 0; i < n; i++) {
		int deal;

		r = r * 1103515245u + 12345u;
		/* Mostly a recent deal, sometimes an old one, sometimes a new one. */
		if ((r >> 16) % 4 == 0)
			deal = base_deal + i / 2;
		else if ((r >> 16) % 4 == 1)
			deal = (int)((r >> 8) % (unsigned)(base_deal + i / 2 + 1));
		else
			deal = base_deal + i / 2 - (int)((r >> 20) % 6);
		if (deal < 0)
			deal = 0;
		fprintf(csv, "e%06d,deal-%04d,%d,new\n", first_event + i, deal, 1700000000 + first_event + i);
		fprintf(p, "e%06d|deal-%04d\n", first_event + i, deal);
		assert_true(deal < 2048);
		if (!seen[deal]++)
			fprintf(o, "deal-%04d\n", deal);
	}
	fclose(csv);
	fclose(o);
	fclose(p);
}

/* Rows whose deal keys are all stored already, each twice: the second
 * import must not add a deal. */
static void deal_walk_case(fixture *f, size_t gen_keys, size_t filter_bytes)
{
	char *order1, *pairs1, *order2, *pairs2, *want, *p;
	size_t len;
	FILE *m;

	se_store_limit_deal_maps(f->st, gen_keys, filter_bytes);
	write_deal_walk("walk1.csv", 0, 1500, 0, &order1, &pairs1);
	import_ok(f, "walk1.csv");
	expect_stats(f, 1500, 1500, 0, 0);
	/* Deals numbered in order of first appearance, each key once, each
	 * event on its own deal. */
	expect_query("SELECT key FROM deal ORDER BY id", order1);
	expect_query("SELECT event_id || '|' || deal_id FROM events ORDER BY event_id", pairs1);
	/* A store holding more deals than the map: old keys and new ones
	 * mixed (first appearances after the ones stored). */
	write_deal_walk("walk2.csv", 100000, 1500, 400, &order2, &pairs2);
	import_ok(f, "walk2.csv");
	expect_stats(f, 1500, 1500, 0, 0);
	m = open_memstream(&want, &len);
	assert_non_null(m);
	fputs(order1, m);
	for (char *line = order2; *line; line = p + 1) {
		p = strchr(line, '\n');
		*p = '\0';
		if (strstr(order1, line) == NULL)
			fprintf(m, "%s\n", line);
	}
	fclose(m);
	expect_query("SELECT key FROM deal ORDER BY id", want);
	/* Numbers reserved for keys that were stored already are not used:
	 * ids stay dense, as one at a time would give them. */
	expect_query("SELECT count(*) = max(id) FROM deal", "1\n");
	free(want);
	m = open_memstream(&want, &len);
	assert_non_null(m);
	fprintf(m, "%s%s", pairs1, pairs2);
	fclose(m);
	expect_query("SELECT event_id || '|' || deal_id FROM events ORDER BY event_id", want);
	/* Again: nothing changes. */
	import_ok(f, "walk2.csv");
	expect_stats(f, 1500, 0, 1500, 0);
	expect_query("SELECT event_id || '|' || deal_id FROM events ORDER BY event_id", want);
	free(want);
	free(order1);
	free(pairs1);
	free(order2);
	free(pairs2);
}

/* A filter of one block: past the first turn every unknown key is a
 * "maybe" that SQLite settles. */
static void test_deal_maps_turn_filter_always_maybe(void **state)
{
	deal_walk_case(*state, 8, 64);
}

/* A roomy filter: most new keys are numbered as certainly new. */
static void test_deal_maps_turn_filter_roomy(void **state)
{
	deal_walk_case(*state, 16, 1 << 16);
}

/* ---- whole files ------------------------------------------------------------------------ */

static void test_empty_and_header_only_files(void **state)
{
	fixture *f = *state;

	write_file("empty.csv", "");
	import_ok(f, "empty.csv");
	expect_stats(f, 0, 0, 0, 0);

	write_file("header.csv", "event_id,deal_id,ts,stage\n");
	import_ok(f, "header.csv");
	expect_stats(f, 0, 0, 0, 0);

	write_file("header-crlf.csv", "\xEF\xBB\xBF" "event_id,deal_id,ts,stage\r\n\r\n");
	import_ok(f, "header-crlf.csv");
	expect_stats(f, 0, 0, 0, 0);

	write_file("empty.jsonl", "");
	import_ok(f, "empty.jsonl");
	expect_stats(f, 0, 0, 0, 0);

	write_file("blank.jsonl", "\n\n  \n");
	import_ok(f, "blank.jsonl");
	expect_stats(f, 0, 0, 0, 0);
	assert_int_equal(count_events(), 0);
}

static void test_nonexistent_file(void **state)
{
	fixture *f = *state;

	assert_int_equal(run_import(f, "missing.csv"), SE_EIO);
	assert_string_equal(f->err.msg, "cannot open missing.csv: No such file or directory");
	expect_stats(f, 0, 0, 0, 0);

	assert_int_equal(run_import(f, "missing.jsonl"), SE_EIO);
	assert_string_equal(f->err.msg, "cannot open missing.jsonl: No such file or directory");
	expect_stats(f, 0, 0, 0, 0);
}

static void test_stdin(void **state)
{
	fixture *f = *state;

	write_file("piped.csv", "event_id,deal_id,ts,stage\ne1,d1,2025-01-15,new\ne2,d1,,new\n");
	assert_non_null(freopen("piped.csv", "r", stdin));
	import_ok(f, "-");
	expect_stats(f, 2, 1, 0, 1);
	EXPECT_REJECTS(f, "<stdin>:3: ts: missing value");

	write_file("piped.jsonl", "{\"event_id\":\"j1\",\"deal_id\":\"d1\",\"ts\":\"x\",\"stage\":\"new\"}\n");
	assert_non_null(freopen("piped.jsonl", "r", stdin));
	f->opts.format = SE_INPUT_JSONL;
	import_ok(f, "-");
	expect_stats(f, 1, 0, 0, 1);
	EXPECT_REJECTS(f, "<stdin>:1: ts: cannot read time \"x\": unrecognised time format");
}

static void test_without_reject_callback(void **state)
{
	fixture *f = *state;

	write_file("sales.csv", "event_id,deal_id,ts,stage\ne1,d1,2025-01-15,new\ne2,d1,,new\n");
	f->opts.on_reject = NULL;
	/* Rejects are still counted. */
	assert_int_equal(se_import_file(f->st, "sales.csv", &f->opts, &f->stats, &f->err), SE_OK);
	expect_stats(f, 2, 1, 0, 1);
	/* NULL options: all defaults. */
	write_file("more.csv", "event_id,deal_id,ts,stage\ne3,d1,2025-01-15,new\ne4,d1,,new\n");
	assert_int_equal(se_import_file(f->st, "more.csv", NULL, &f->stats, &f->err), SE_OK);
	expect_stats(f, 2, 1, 0, 1);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_columns_in_any_order),
		T(test_all_columns),
		T(test_only_required_columns),
		T(test_missing_required_column),
		T(test_duplicate_column),
		T(test_malformed_header),
		T(test_semicolon_detected),
		T(test_tab_detected),
		T(test_forced_delimiter),
		T(test_invalid_delimiter),
		T(test_crlf_and_bom),
		T(test_cyrillic_stored_byte_exact),
		T(test_amocrm_fixture),
		T(test_quoted_fields),
		T(test_wrong_field_count),
		T(test_unterminated_quote_rows_after_survive),
		T(test_open_quote_costs_one_record),
		T(test_nul_and_bad_bytes_by_column),
		T(test_repeated_times),
		T(test_nul_bytes_rejected),
		T(test_amount_beyond_the_maximum),
		T(test_character_after_closing_quote),
		T(test_invalid_utf8),
		T(test_missing_required_value),
		T(test_key_too_long),
		T(test_bad_time),
		T(test_bad_amount),
		T(test_amount_formats),
		T(test_timestamp_formats_in_zone),
		T(test_naive_times_default_to_utc),
		T(test_unix_seconds),
		T(test_same_file_twice),
		T(test_overlapping_files),
		T(test_duplicate_within_file_first_wins),
		T(test_content_keys_dedup),
	T(test_event_ids_beside_content_keys),
	T(test_content_keys_stored_as_bytes),
	T(test_version_1_store_is_upgraded),
	T(test_single_key_index_store_is_upgraded),
	T(test_rejected_rows_are_not_stored),
		T(test_jsonl),
		T(test_jsonl_invalid_utf8),
		T(test_jsonl_numbers_as_sqlite_spells_them),
		T(test_amount_exponent),
		T(test_jsonl_forced_format),
		T(test_jsonl_fixture),
		T(test_jsonl_empty_array_is_not_an_object),
		T(test_jsonl_empty_object_lacks_fields),
		T(test_small_batches),
		T(test_deal_maps_turn_filter_always_maybe),
		T(test_deal_maps_turn_filter_roomy),
		T(test_empty_and_header_only_files),
		T(test_nonexistent_file),
		T(test_stdin),
		T(test_without_reject_callback),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
