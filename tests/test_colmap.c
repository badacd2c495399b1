/*
 * test_colmap.c: columns{} declarations, header-name matching, binding to
 * a header with its messages, and the content key of events without ids.
 *
 * Field numbers and names are those of import.h, as the importer passes
 * them.  Binding tests build a header as the CSV reader returns it; import
 * tests run se_import_file() with a declaration in a scratch directory and
 * read what was stored back over a plain SQLite connection.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "colmap.h"
#include "helpers.h"
#include "import.h"
#include "store.h"

#include <iconv.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const names[F_COUNT] = {
	"event_id", "deal_id", "ts", "stage", "manager", "source",
	"amount", "from_stage", "pipeline", "currency"
};

static int setup(void **state)
{
	se_colmap *m = NULL;

	if (se_colmap_new(&m) != SE_OK)
		return -1;
	*state = m;
	return 0;
}

static int teardown(void **state)
{
	se_colmap_free(*state);
	return 0;
}

/* A header of up to 16 names. */
typedef struct header {
	se_csv_field f[16];
	size_t n;
} header;

static header make_header(const char *const *cols)
{
	header h;

	memset(&h, 0, sizeof h);
	for (; cols[h.n] != NULL; h.n++) {
		h.f[h.n].ptr = cols[h.n];
		h.f[h.n].len = strlen(cols[h.n]);
	}
	return h;
}

static void test_names_equal(void **state)
{
	static const char *const same[][2] = {
		{ "Сделка", "сделка" },
		{ "  Дата изменения ", "Дата изменения" },
		{ "ДАТА   ИЗМЕНЕНИЯ", "дата изменения" },
		{ "Счёт выставлен", "Счет выставлен" },
		{ "ЁЛКА", "елка" },
		{ "Deal - Title", "deal - title" },
		{ "Бюджет,\xC2\xA0руб.", "бюджет, руб." },
	};
	static const char *const different[][2] = {
		{ "Сделка", "Сделки" },
		{ "Deal - Title", "Deal Title" },
		{ "Дата", "" },
		{ "Бюджет", "Бюджет, руб." },
	};

	(void)state;
	for (size_t i = 0; i < sizeof same / sizeof same[0]; i++)
		if (!se_header_names_equal(same[i][0], strlen(same[i][0]), same[i][1], strlen(same[i][1])))
			fail_msg("'%s' and '%s' should match", same[i][0], same[i][1]);
	for (size_t i = 0; i < sizeof different / sizeof different[0]; i++)
		if (se_header_names_equal(different[i][0], strlen(different[i][0]), different[i][1],
		                          strlen(different[i][1])))
			fail_msg("'%s' and '%s' should differ", different[i][0], different[i][1]);
}

static void test_bind_maps_declared_columns(void **state)
{
	se_colmap *m = *state;
	se_error err = { 0 };
	const char *cols[] = { "Сделка", "Название", "ДАТА ИЗМЕНЕНИЯ", "Новый статус", "stage", NULL };
	header h = make_header(cols);
	int field_of[16];

	assert_int_equal(se_colmap_set_column(m, F_DEAL_ID, "сделка", &err), SE_OK);
	assert_int_equal(se_colmap_set_column(m, F_TS, "Дата изменения", &err), SE_OK);
	assert_int_equal(se_colmap_set_column(m, F_STAGE, "Новый статус", &err), SE_OK);
	assert_int_equal(se_colmap_set_value(m, F_PIPELINE, "Продажи", &err), SE_OK);
	assert_int_equal(se_colmap_bind(m, h.f, h.n, field_of, names, &err), SE_OK);
	assert_int_equal(field_of[0], F_DEAL_ID);
	assert_int_equal(field_of[1], -1);
	assert_int_equal(field_of[2], F_TS);
	assert_int_equal(field_of[3], F_STAGE);
	/* A canonical name is not the declaration's business: the importer's. */
	assert_int_equal(field_of[4], -1);
	assert_true(se_colmap_claims(m, F_PIPELINE));
	assert_true(se_colmap_claims(m, F_STAGE));
	assert_false(se_colmap_claims(m, F_MANAGER));
}

static void test_later_setting_replaces(void **state)
{
	se_colmap *m = *state;
	se_error err = { 0 };
	size_t len = 0;

	assert_int_equal(se_colmap_set_column(m, F_SOURCE, "Источник", &err), SE_OK);
	assert_int_equal(se_colmap_set_value(m, F_SOURCE, "Авито", &err), SE_OK);
	assert_null(se_colmap_column(m, F_SOURCE));
	assert_string_equal(se_colmap_value(m, F_SOURCE, &len), "Авито");
	assert_int_equal(len, strlen("Авито"));
	assert_int_equal(se_colmap_set_column(m, F_SOURCE, "UTM", &err), SE_OK);
	assert_null(se_colmap_value(m, F_SOURCE, &len));
	assert_string_equal(se_colmap_column(m, F_SOURCE), "UTM");
	assert_int_equal(se_colmap_set_column(m, F_SOURCE, "  ", &err), SE_EUSAGE);
	assert_string_equal(err.msg, "the column name is empty");
}

static void test_bind_missing_suggests_closest(void **state)
{
	se_colmap *m = *state;
	se_error err = { 0 };
	const char *cols[] = { "ID", "Название сделки", "Бюджет, руб.", "Ответственный", NULL };
	header h = make_header(cols);
	int field_of[16];

	assert_int_equal(se_colmap_set_column(m, F_DEAL_ID, "ID", &err), SE_OK);
	assert_int_equal(se_colmap_set_column(m, F_MANAGER, "Ответственнный", &err), SE_OK);
	assert_int_equal(se_colmap_bind(m, h.f, h.n, field_of, names, &err), SE_EINPUT);
	assert_string_equal(err.msg, "header has no column \"Ответственнный\" (columns{} manager);"
	                             " did you mean \"Ответственный\"?");
	/* One name inside the other is close too. */
	assert_int_equal(se_colmap_set_column(m, F_MANAGER, "Ответственный", &err), SE_OK);
	assert_int_equal(se_colmap_set_column(m, F_AMOUNT, "Бюджет", &err), SE_OK);
	assert_int_equal(se_colmap_bind(m, h.f, h.n, field_of, names, &err), SE_EINPUT);
	assert_string_equal(err.msg, "header has no column \"Бюджет\" (columns{} amount);"
	                             " did you mean \"Бюджет, руб.\"?");
}

static void test_bind_missing_lists_header(void **state)
{
	se_colmap *m = *state;
	se_error err = { 0 };
	const char *cols[] = { "ID", "Название сделки", "Этап", NULL };
	header h = make_header(cols);
	int field_of[16];

	assert_int_equal(se_colmap_set_column(m, F_TS, "Дата изменения", &err), SE_OK);
	assert_int_equal(se_colmap_bind(m, h.f, h.n, field_of, names, &err), SE_EINPUT);
	assert_string_equal(err.msg, "header has no column \"Дата изменения\" (columns{} ts);"
	                             " it has \"ID\", \"Название сделки\", \"Этап\"");
}

static void test_bind_twice(void **state)
{
	se_colmap *m = *state;
	se_error err = { 0 };
	const char *cols[] = { "Этап", "ID", "ЭТАП ", NULL };
	header h = make_header(cols);
	int field_of[16];

	assert_int_equal(se_colmap_set_column(m, F_STAGE, "Этап", &err), SE_OK);
	assert_int_equal(se_colmap_bind(m, h.f, h.n, field_of, names, &err), SE_EINPUT);
	assert_string_equal(err.msg, "column \"Этап\" (columns{} stage) appears twice in the header");
}

static void test_ts_format(void **state)
{
	se_colmap *m = *state;
	se_error err = { 0 };

	assert_null(se_colmap_ts_layout(m));
	assert_int_equal(se_colmap_set_ts_format(m, "DD.MM.YY", &err), SE_EUSAGE);
	assert_string_equal(err.msg, "ts_format \"DD.MM.YY\": the year is YYYY (four digits)");
	assert_null(se_colmap_ts_layout(m));
	assert_int_equal(se_colmap_set_ts_format(m, "DD.MM.YYYY HH:MM", &err), SE_OK);
	assert_non_null(se_colmap_ts_layout(m));
	assert_string_equal(se_colmap_ts_format(m), "DD.MM.YYYY HH:MM");
}

static void test_content_key(void **state)
{
	char a[SE_CONTENT_KEY_LEN + 1], b[SE_CONTENT_KEY_LEN + 1];

	(void)state;
	se_content_key("1001", 4, 1796105700, "Новая заявка", strlen("Новая заявка"), a);
	assert_int_equal(strlen(a), SE_CONTENT_KEY_LEN);
	assert_memory_equal(a, "content:", 8);
	/* Stable: a key stored by one version must be made again by the next,
	 * or re-imports would double every event. */
	assert_string_equal(a, "content:a941a0089776e3dd5f1a1630a3da61a4");
	se_content_key("1001", 4, 1796105700, "Новая заявка", strlen("Новая заявка"), b);
	assert_string_equal(a, b);
	se_content_key("1001", 4, 1796105701, "Новая заявка", strlen("Новая заявка"), b);
	assert_string_not_equal(a, b);
	se_content_key("1002", 4, 1796105700, "Новая заявка", strlen("Новая заявка"), b);
	assert_string_not_equal(a, b);
	/* Where deal ends and stage begins is part of the content. */
	se_content_key("a|b", 3, 0, "c", 1, a);
	se_content_key("a", 1, 0, "b|c", 3, b);
	assert_string_not_equal(a, b);
}

/* The content key as first written: a generic 128-bit multiply per byte.
 * The library's halves and its two rows at a time must agree with it
 * bit for bit (the keys are stored). */
__extension__ typedef unsigned __int128 ref_u128;

static ref_u128 ref_fnv(ref_u128 h, const unsigned char *p, size_t len)
{
	const ref_u128 prime = ((ref_u128)1 << 88) + 0x13B;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= prime;
	}
	return h;
}

static ref_u128 ref_fnv_u64(ref_u128 h, uint64_t v)
{
	unsigned char b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(v >> (8 * i));
	return ref_fnv(h, b, 8);
}

static void ref_content_key(const char *deal, size_t deal_len, int64_t ts, const char *stage,
                            size_t stage_len, char *out)
{
	ref_u128 h = ((ref_u128)0x6c62272e07bb0142u << 64) | 0x62b821756295c58du;

	h = ref_fnv_u64(h, deal_len);
	h = ref_fnv(h, (const unsigned char *)deal, deal_len);
	h = ref_fnv_u64(h, (uint64_t)ts);
	h = ref_fnv_u64(h, stage_len);
	h = ref_fnv(h, (const unsigned char *)stage, stage_len);
	snprintf(out, SE_CONTENT_KEY_LEN + 1, "content:%016llx%016llx", (unsigned long long)(h >> 64),
	         (unsigned long long)h);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	return test_rng_next(&rng_state);
}

#define KEY_ROWS 700

/* Lengths 0..64 mostly, some past a lane's bytes (hashed alone), batches
 * of every size from none to many, so the lanes start, refill and end in
 * every order. */
static void test_content_keys_match_reference(void **state)
{
	static char text[KEY_ROWS][2][400];
	static char got[KEY_ROWS][SE_CONTENT_KEY_LEN + 1], want[KEY_ROWS][SE_CONTENT_KEY_LEN + 1];
	static se_content_row rows[KEY_ROWS];

	(void)state;
	for (int round = 0; round < 40; round++) {
		size_t n = round < 8 ? (size_t)round : 1 + rng() % KEY_ROWS;

		for (size_t i = 0; i < n; i++) {
			size_t len[2];

			for (int k = 0; k < 2; k++) {
				len[k] = rng() % 10 == 0 ? 150 + rng() % 250 : rng() % 65;
				for (size_t j = 0; j < len[k]; j++)
					text[i][k][j] = (char)(rng() % 4 == 0 ? 0x80 | rng() : 'a' + rng() % 26);
			}
			rows[i] = (se_content_row){ text[i][0], len[0], (int64_t)rng(), text[i][1], len[1], got[i] };
			if (rng() % 7 == 0 && i > 0) /* equal lengths: both lanes end on one byte */
				rows[i].stage_len = rows[i].deal_len = rows[i - 1].deal_len < 150 ? rows[i - 1].deal_len : 3;
			ref_content_key(rows[i].deal, rows[i].deal_len, rows[i].ts, rows[i].stage, rows[i].stage_len,
			                want[i]);
			memset(got[i], '?', sizeof got[i]);
		}
		se_content_keys(rows, n);
		for (size_t i = 0; i < n; i++) {
			assert_int_equal(got[i][SE_CONTENT_KEY_LEN], '?'); /* no NUL past the key */
			got[i][SE_CONTENT_KEY_LEN] = '\0';
			char one[SE_CONTENT_KEY_LEN + 1];

			assert_string_equal(got[i], want[i]);
			se_content_key(rows[i].deal, rows[i].deal_len, rows[i].ts, rows[i].stage, rows[i].stage_len,
			               one);
			assert_string_equal(one, want[i]);
		}
	}
}

/* ---- through the import ------------------------------------------------------ */

typedef struct import_fixture {
	char dir[64];
	char *old_cwd;
	se_store *st;
	se_colmap *map;
	se_import_opts opts;
	se_import_stats stats;
	se_error err;
	char rejects[8][256];
	int n_rejects;
} import_fixture;

static void collect(void *ud, const char *msg)
{
	import_fixture *f = ud;

	if (f->n_rejects < 8)
		snprintf(f->rejects[f->n_rejects], sizeof f->rejects[0], "%s", msg);
	f->n_rejects++;
}

static int import_setup(void **state)
{
	import_fixture *f = calloc(1, sizeof *f);

	if (f == NULL)
		return -1;
	*state = f;
	strcpy(f->dir, "/tmp/test_colmap_XXXXXX");
	if (mkdtemp(f->dir) == NULL || (f->old_cwd = getcwd(NULL, 0)) == NULL || chdir(f->dir) != 0)
		return -1;
	if (se_store_open(&f->st, "events.db", 0, &f->err) != SE_OK || se_colmap_new(&f->map) != SE_OK)
		return -1;
	f->opts.columns = f->map;
	f->opts.on_reject = collect;
	f->opts.ud = f;
	return 0;
}

static int import_teardown(void **state)
{
	import_fixture *f = *state;

	se_store_close(f->st);
	se_colmap_free(f->map);
	unlink("events.db");
	unlink("events.db-wal");
	unlink("events.db-shm");
	unlink("export.csv");
	if (chdir(f->old_cwd) != 0)
		return -1;
	rmdir(f->dir);
	free(f->old_cwd);
	free(f);
	return 0;
}

/* Writes text (UTF-8) to export.csv in encoding. */
static void write_export(const char *text, const char *encoding)
{
	FILE *fp = fopen("export.csv", "wb");
	char out[4096], *dst = out, *src = (char *)text;
	size_t left = strlen(text), room = sizeof out;
	iconv_t cd = iconv_open(encoding, "UTF-8");

	assert_non_null(fp);
	assert_true(cd != (iconv_t)-1);
	assert_true(iconv(cd, &src, &left, &dst, &room) != (size_t)-1);
	iconv_close(cd);
	assert_int_equal(fwrite(out, 1, (size_t)(dst - out), fp), (size_t)(dst - out));
	assert_int_equal(fclose(fp), 0);
}

static int import(import_fixture *f)
{
	int rc;

	f->n_rejects = 0;
	rc = se_import_file(f->st, "export.csv", &f->opts, &f->stats, &f->err);
	assert_int_equal(f->stats.read, f->stats.imported + f->stats.duplicates + f->stats.rejected);
	assert_int_equal(f->stats.rejected, f->n_rejects);
	return rc;
}

static void expect_counts(const import_fixture *f, int64_t read, int64_t imported, int64_t dups,
                          int64_t rejected)
{
	assert_int_equal(f->stats.read, read);
	assert_int_equal(f->stats.imported, imported);
	assert_int_equal(f->stats.duplicates, dups);
	assert_int_equal(f->stats.rejected, rejected);
}

/* The rows of sql over a plain connection, '|' between columns. */
static void expect_rows(const char *sql, const char *want)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *stmt = NULL;
	char got[4096] = "";
	size_t used = 0;

	assert_int_equal(sqlite3_open_v2("events.db", &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
	while (sqlite3_step(stmt) == SQLITE_ROW) {
		for (int c = 0; c < sqlite3_column_count(stmt); c++) {
			const char *v = (const char *)sqlite3_column_text(stmt, c);

			used += (size_t)snprintf(got + used, sizeof got - used, "%s%s", c ? "|" : "",
			                         v ? v : "NULL");
		}
		used += (size_t)snprintf(got + used, sizeof got - used, "\n");
	}
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	assert_string_equal(got, want);
}

/* A Russian UI export, as columns{} of docs/IMPORTERS.md maps it. */
static void declare_ru(import_fixture *f)
{
	se_error err = { 0 };

	assert_int_equal(se_colmap_set_column(f->map, F_DEAL_ID, "Сделка", &err), SE_OK);
	assert_int_equal(se_colmap_set_column(f->map, F_TS, "Дата изменения", &err), SE_OK);
	assert_int_equal(se_colmap_set_column(f->map, F_STAGE, "Новый статус", &err), SE_OK);
	assert_int_equal(se_colmap_set_column(f->map, F_MANAGER, "Ответственный", &err), SE_OK);
	assert_int_equal(se_colmap_set_column(f->map, F_AMOUNT, "Бюджет, руб.", &err), SE_OK);
	assert_int_equal(se_colmap_set_value(f->map, F_PIPELINE, "Продажи", &err), SE_OK);
	assert_int_equal(se_colmap_set_ts_format(f->map, "DD.MM.YYYY HH:MM", &err), SE_OK);
}

#define RU_HEADER "Сделка;Название;Дата изменения;Новый статус;Ответственный;\"Бюджет, руб.\"\n"

static void test_import_cp1251_export(void **state)
{
	import_fixture *f = *state;

	declare_ru(f);
	f->opts.encoding = "cp1251";
	write_export(RU_HEADER
	             "1001;Окна;01.12.2026 09:15;Новая заявка;Иванов;125 000,50\n"
	             "1001;Окна;02.12.2026 14:00;Счёт выставлен;Иванов;125 000,50\n"
	             /* the same row again: one event */
	             "1001;Окна;02.12.2026 14:00;Счёт выставлен;Иванов;125 000,50\n"
	             "1002;Двери;01.12.2026 10:00;Новая заявка;Петрова;\n",
	             "CP1251");
	f->opts.zone = NULL;
	assert_int_equal(import(f), SE_OK);
	expect_counts(f, 4, 3, 1, 0);
	expect_rows("SELECT deal_id, ts, stage, manager, amount, pipeline FROM events ORDER BY ts",
	            "1001|2026-12-01T09:15:00Z|Новая заявка|Иванов|125000.5|Продажи\n"
	            "1002|2026-12-01T10:00:00Z|Новая заявка|Петрова|NULL|Продажи\n"
	            "1001|2026-12-02T14:00:00Z|Счёт выставлен|Иванов|125000.5|Продажи\n");
	expect_rows("SELECT count(*) FROM events WHERE event_id LIKE 'content:%' AND length(event_id) = 40",
	            "3\n");
	/* Again: nothing new. */
	assert_int_equal(import(f), SE_OK);
	expect_counts(f, 4, 0, 4, 0);
	expect_rows("SELECT count(*) FROM events", "3\n");
}

static void test_import_missing_column(void **state)
{
	import_fixture *f = *state;

	declare_ru(f);
	assert_int_equal(se_colmap_set_column(f->map, F_SOURCE, "Источник сделки", &f->err), SE_OK);
	write_export("Сделка;Дата изменения;Новый статус;Ответственный;Бюджет, руб.;Источник\n"
	             "1001;01.12.2026 09:15;Новая заявка;Иванов;1;Авито\n", "UTF-8");
	assert_int_equal(import(f), SE_EINPUT);
	assert_string_equal(f->err.msg, "export.csv:1: header has no column \"Источник сделки\""
	                                " (columns{} source); did you mean \"Источник\"?");
	expect_counts(f, 0, 0, 0, 0);
}

static void test_import_bad_time_for_format(void **state)
{
	import_fixture *f = *state;

	declare_ru(f);
	write_export(RU_HEADER
	             "1001;Окна;2026-12-01 09:15;Новая заявка;Иванов;1\n"
	             "1001;Окна;01.12.2026 09:15;Новая заявка;Иванов;1\n", "UTF-8");
	assert_int_equal(import(f), SE_OK);
	expect_counts(f, 2, 1, 0, 1);
	assert_string_equal(f->rejects[0], "export.csv:2: ts: cannot read time \"2026-12-01 09:15\":"
	                                   " unrecognised time format");
}

/* Fields columns{} leaves alone are still found by their own names, and a
 * fixed value fills every row. */
static void test_import_canonical_rest_and_fixed(void **state)
{
	import_fixture *f = *state;
	se_error err = { 0 };

	assert_int_equal(se_colmap_set_column(f->map, F_STAGE, "Этап", &err), SE_OK);
	assert_int_equal(se_colmap_set_value(f->map, F_SOURCE, "Авито", &err), SE_OK);
	write_export("event_id,deal_id,ts,Этап,source\n"
	             "e1,d1,2025-01-15,new,ignored\n", "UTF-8");
	assert_int_equal(import(f), SE_OK);
	expect_counts(f, 1, 1, 0, 0);
	expect_rows("SELECT event_id, deal_id, stage, source FROM events", "e1|d1|new|Авито\n");
}

/* Not cp1251 after all: a byte cp1251 does not have stops the read. */
static void test_import_byte_outside_encoding(void **state)
{
	import_fixture *f = *state;
	FILE *fp = fopen("export.csv", "wb");

	assert_non_null(fp);
	fputs("deal_id,ts,stage\nd1,2025-01-15,\x98\n", fp);
	assert_int_equal(fclose(fp), 0);
	f->opts.columns = NULL;
	f->opts.encoding = "cp1251";
	assert_int_equal(import(f), SE_EINPUT);
	assert_string_equal(f->err.msg, "export.csv: byte 32 is not valid cp1251 (is --encoding right?)");
}

/* An unterminated quote in a converted file: the reader goes back to the
 * line after it (the stream seeks by converting again) and the rows after
 * it survive. */
static void test_import_converted_quote_recovery(void **state)
{
	import_fixture *f = *state;

	f->opts.columns = NULL;
	f->opts.encoding = "cp1251";
	write_export("deal_id;ts;stage\n"
	             "d1;2025-01-15;\"Новая\n"
	             "d2;2025-01-16;Встреча\n"
	             "d3;2025-01-17;Счёт\n", "CP1251");
	assert_int_equal(import(f), SE_OK);
	expect_counts(f, 3, 2, 0, 1);
	expect_rows("SELECT deal_id, stage FROM events ORDER BY deal_id", "d2|Встреча\nd3|Счёт\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_equal),
		cmocka_unit_test_setup_teardown(test_bind_maps_declared_columns, setup, teardown),
		cmocka_unit_test_setup_teardown(test_later_setting_replaces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bind_missing_suggests_closest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bind_missing_lists_header, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bind_twice, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ts_format, setup, teardown),
		cmocka_unit_test(test_content_key),
		cmocka_unit_test(test_content_keys_match_reference),
#define T(name) cmocka_unit_test_setup_teardown(name, import_setup, import_teardown)
		T(test_import_cp1251_export),
		T(test_import_missing_column),
		T(test_import_bad_time_for_format),
		T(test_import_canonical_rest_and_fixed),
		T(test_import_byte_outside_encoding),
		T(test_import_converted_quote_recovery),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
