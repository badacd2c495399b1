/*
 * test_report.c: aggregation through the real store, compared as whole CSV.
 *
 * Each test writes a small event file and a rules script into a temp
 * directory, imports the file into a fresh SQLite store, builds the report
 * and compares everything se_report_write() prints with a string worked out
 * by hand from docs/METRICS.md and docs/OUTPUT.md.  The comments next to the
 * data say how each number comes about, so a failure can be judged against
 * the docs rather than against the code.
 *
 * Where the docs were silent or the program disagreed, the comment says
 * which way it was settled.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "cube.h"
#include "format/block.h"
#include "helpers.h"
#include "report.h"
#include "salesengine.h"
#include "timeconv.h"

#include <sqlite3.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct fixture {
	char dir[64];
	char db_path[128], csv_path[128], lua_path[128];
	se_store *st;
	se_script *script;
	const se_rules *rules;
	se_report *rep;
	se_error err;
	se_import_stats stats;
	char *out;           /* the last report text */
	char *saved[2];      /* earlier texts a test compares with */
	sqlite3 *json_db;    /* in-memory, for reading JSON output */
} fixture;

static int64_t utc(const char *text)
{
	int64_t t = 0;
	const char *why = NULL;

	if (se_time_parse(text, strlen(text), NULL, &t, &why) != SE_OK)
		fail_msg("bad time %s: %s", text, why);
	return t;
}

/* "now" for every report unless a test says otherwise. */
#define AS_OF "2026-01-01T00:00:00Z"

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof *f);

	if (f == NULL)
		return -1;
	if (scratch_store_open("test_report", "se.db", f->dir, sizeof f->dir, f->db_path,
	                       sizeof f->db_path, &f->st) != 0) {
		free(f);
		return -1;
	}
	snprintf(f->csv_path, sizeof f->csv_path, "%s/events.csv", f->dir);
	snprintf(f->lua_path, sizeof f->lua_path, "%s/rules.lua", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;

	se_report_free(f->rep);
	se_script_free(f->script);
	scratch_store_close(&f->st, f->dir);
	if (f->json_db != NULL)
		sqlite3_close(f->json_db);
	free(f->out);
	free(f->saved[0]);
	free(f->saved[1]);
	free(f);
	return 0;
}

static void reject_fails(void *ud, const char *message)
{
	(void)ud;
	fail_msg("row rejected: %s", message);
}

/* Imports CSV text; every row must be stored (or be a duplicate). */
static void import_csv(fixture *f, const char *csv)
{
	se_import_opts o = { .format = SE_INPUT_CSV, .on_reject = reject_fails };

	write_file(f->csv_path, csv);
	memset(&f->stats, 0, sizeof f->stats);
	if (se_import_file(f->st, f->csv_path, &o, &f->stats, &f->err) != SE_OK)
		fail_msg("import failed: %s", f->err.msg);
	assert_int_equal(f->stats.rejected, 0);
}

static void load_script(fixture *f, const char *lua)
{
	se_script_free(f->script);
	f->script = NULL;
	write_file(f->lua_path, lua);
	if (se_script_load(&f->script, f->lua_path, NULL, &f->err) != SE_OK)
		fail_msg("script did not load: %s", f->err.msg);
	f->rules = se_script_rules(f->script);
}

static se_report_opts default_opts(void)
{
	se_report_opts o;

	memset(&o, 0, sizeof o);
	o.as_of = utc(AS_OF);
	return o;
}

/* A built report as text (the caller frees it). */
static char *write_text(const se_report *rep, se_output format)
{
	char *text = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&text, &len);
	se_error err;

	assert_non_null(mem);
	memset(&err, 0, sizeof err);
	if (se_report_write(rep, mem, format, &err) != SE_OK)
		fail_msg("writing the report failed: %s", err.msg);
	assert_int_equal(fclose(mem), 0);
	assert_int_equal(strlen(text), len);
	return text;
}

static const char *render(fixture *f, const se_report_opts *opts, se_output format)
{
	se_report_free(f->rep);
	f->rep = NULL;
	if (se_report_build(&f->rep, f->st, f->rules, opts, &f->err) != SE_OK)
		fail_msg("report failed: %s", f->err.msg);
	free(f->out);
	f->out = write_text(f->rep, format);
	return f->out;
}

/* Compares whole texts; on a mismatch shows the first line that differs
 * and both texts in full. */
static void expect_text(const char *got, const char *want)
{
	const char *g = got, *w = want;
	int line = 1;

	if (strcmp(got, want) == 0)
		return;
	for (;;) {
		size_t gl = strcspn(g, "\n"), wl = strcspn(w, "\n");

		if (gl != wl || memcmp(g, w, gl) != 0 || g[gl] != w[wl])
			break;
		g += gl + 1;
		w += wl + 1;
		line++;
	}
	fprintf(stderr, "--- got ---\n%s--- want ---\n%s---\n", got, want);
	fail_msg("output differs at line %d:\n  got:  %.*s\n  want: %.*s", line, (int)strcspn(g, "\n"),
	         g, (int)strcspn(w, "\n"), w);
}

static void expect_csv(fixture *f, const se_report_opts *opts, const char *want)
{
	expect_text(render(f, opts, SE_OUTPUT_CSV), want);
}

/* JSON: valid as a whole, and the value at path has this type and text
 * (as SQLite's json_type / json_extract give them). */
static void expect_json(fixture *f, const char *path, const char *type, const char *text)
{
	sqlite3_stmt *s = NULL;
	const char *t, *v;

	if (f->json_db == NULL)
		assert_int_equal(sqlite3_open(":memory:", &f->json_db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(f->json_db,
	                                    "SELECT json_valid(?1), json_type(?1, ?2), "
	                                    "CAST(json_extract(?1, ?2) AS TEXT)",
	                                    -1, &s, NULL),
	                 SQLITE_OK);
	sqlite3_bind_text(s, 1, f->out, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, path, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(s, 0), 1);
	t = (const char *)sqlite3_column_text(s, 1);
	v = (const char *)sqlite3_column_text(s, 2);
	if (t == NULL || strcmp(t, type) != 0 || (text != NULL && (v == NULL || strcmp(v, text) != 0))) {
		char msg[512];

		snprintf(msg, sizeof msg, "%s: got %s %s, expected %s %s", path, t ? t : "(missing)",
		         v ? v : "NULL", type, text ? text : "");
		sqlite3_finalize(s);
		fail_msg("%s", msg);
	}
	sqlite3_finalize(s);
}

/* JSON: valid, and nothing at path. */
static void expect_json_missing(fixture *f, const char *path)
{
	sqlite3_stmt *s = NULL;

	if (f->json_db == NULL)
		assert_int_equal(sqlite3_open(":memory:", &f->json_db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(f->json_db, "SELECT json_valid(?1), json_type(?1, ?2)", -1, &s, NULL),
	                 SQLITE_OK);
	sqlite3_bind_text(s, 1, f->out, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, path, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(s, 0), 1);
	if (sqlite3_column_type(s, 1) != SQLITE_NULL) {
		sqlite3_finalize(s);
		fail_msg("%s: present, expected nothing", path);
	}
	sqlite3_finalize(s);
}

/* ---- a shared funnel and data set --------------------------------------------- */

#define CSV_HEADER "event_id,deal_id,ts,stage,manager,source,amount\n"

static const char sales_script[] =
	"settings { timezone = 'UTC' }\n"
	"funnel {\n"
	"  name = 'sales',\n"
	"  stages = { { 'Lead', aliases = { 'New' } }, 'Qual', { 'Offer', presale = true }, 'Paid' },\n"
	"  lost = 'Lost',\n"
	"  nontarget = 'Spam',\n"
	"  pairs = { { 'Lead', 'Paid' } },\n"
	"}\n";

/*
 * D1 Ann/Yandex  Lead -> Qual -> Offer -> Paid (amount 100): won.
 * D2 Bob/Google  Lead -> Offer (skips Qual) -> Lost; manager Ann on its first
 *                event, Bob later: the latest manager counts, so Bob.
 * D3 Ann/-       created as Spam: a lead in reached mode only.
 * D4 -/Yandex    New (alias of Lead) -> Qual, open.
 * D5 Bob/Google  enters at Qual: a lead in reached mode only.
 */
static const char five_deals_csv[] =
	CSV_HEADER
	"d1-1,D1,2025-01-10T10:00:00Z,Lead,Ann,Yandex,\n"
	"d1-2,D1,2025-01-11T10:00:00Z,Qual,Ann,,\n"
	"d1-3,D1,2025-01-12T10:00:00Z,Offer,Ann,,\n"
	"d1-4,D1,2025-01-13T10:00:00Z,Paid,Ann,,100\n"
	"d2-1,D2,2025-01-10T11:00:00Z,Lead,Ann,Google,\n"
	"d2-2,D2,2025-01-12T11:00:00Z,Offer,Bob,,\n"
	"d2-3,D2,2025-01-14T11:00:00Z,Lost,,,\n"
	"d3-1,D3,2025-01-11T09:00:00Z,Spam,Ann,,\n"
	"d4-1,D4,2025-01-15T09:00:00Z,New,,Yandex,\n"
	"d4-2,D4,2025-01-16T09:00:00Z,Qual,,,\n"
	"d5-1,D5,2025-01-17T09:00:00Z,Qual,Bob,Google,\n";

/* The five deals in reached mode, period total, all reports.
 *
 * leads: all five (D3 by its first event, D5 by reaching Lead at Qual);
 *   managers (none)=D4, Ann=D1,D3, Bob=D2,D5; sources (none)=D3,
 *   Google=D2,D5, Yandex=D1,D4.
 * Lead -> Qual: 5 from; reached Qual: D1, D2 (at Offer), D4, D5 = 4.
 * Qual -> Offer: reached Qual: D1, D2, D4, D5; reached Offer: D1, D2.
 * Offer -> Paid: D1, D2; D1 won.
 * Lead -> Paid (extra pair): 5 from, D1 won.
 * presale: no deal is open at Offer: header only.
 * sources: 5 leads, D1 won with 100.
 * unknown: every status is known: header only. */
static const char five_deals_reached[] =
	"report,funnel,period,dimension,name,leads\n"
	"leads,sales,all,team,*,5\n"
	"leads,sales,all,manager,(none),1\n"
	"leads,sales,all,manager,Ann,2\n"
	"leads,sales,all,manager,Bob,2\n"
	"leads,sales,all,source,(none),1\n"
	"leads,sales,all,source,Google,2\n"
	"leads,sales,all,source,Yandex,2\n"
	"\n"
	"report,funnel,pair,mode,period,dimension,name,from_stage,to_stage,reached_from,reached_to,conversion_pct,window_open\n"
	"conversion,sales,Lead -> Qual,reached,all,team,*,Lead,Qual,5,4,80.0,0\n"
	"conversion,sales,Lead -> Qual,reached,all,manager,(none),Lead,Qual,1,1,100.0,0\n"
	"conversion,sales,Lead -> Qual,reached,all,manager,Ann,Lead,Qual,2,1,50.0,0\n"
	"conversion,sales,Lead -> Qual,reached,all,manager,Bob,Lead,Qual,2,2,100.0,0\n"
	"conversion,sales,Qual -> Offer,reached,all,team,*,Qual,Offer,4,2,50.0,0\n"
	"conversion,sales,Qual -> Offer,reached,all,manager,(none),Qual,Offer,1,0,0.0,0\n"
	"conversion,sales,Qual -> Offer,reached,all,manager,Ann,Qual,Offer,1,1,100.0,0\n"
	"conversion,sales,Qual -> Offer,reached,all,manager,Bob,Qual,Offer,2,1,50.0,0\n"
	"conversion,sales,Offer -> Paid,reached,all,team,*,Offer,Paid,2,1,50.0,0\n"
	"conversion,sales,Offer -> Paid,reached,all,manager,Ann,Offer,Paid,1,1,100.0,0\n"
	"conversion,sales,Offer -> Paid,reached,all,manager,Bob,Offer,Paid,1,0,0.0,0\n"
	"conversion,sales,Lead -> Paid,reached,all,team,*,Lead,Paid,5,1,20.0,0\n"
	"conversion,sales,Lead -> Paid,reached,all,manager,(none),Lead,Paid,1,0,0.0,0\n"
	"conversion,sales,Lead -> Paid,reached,all,manager,Ann,Lead,Paid,2,1,50.0,0\n"
	"conversion,sales,Lead -> Paid,reached,all,manager,Bob,Lead,Paid,2,0,0.0,0\n"
	"\n"
	"report,funnel,stage,dimension,name,deals,amount,win_rate_pct,win_rate_basis,forecast,no_amount\n"
	"\n"
	"report,funnel,period,dimension,name,leads,won,conversion_pct,revenue\n"
	"sources,sales,all,team,*,5,1,20.0,100.00\n"
	"sources,sales,all,source,(none),1,0,0.0,0.00\n"
	"sources,sales,all,source,Google,2,0,0.0,0.00\n"
	"sources,sales,all,source,Yandex,2,1,50.0,100.00\n"
	"\n"
	"report,status,events,deals,example_deal\n";

/* The same deals in touched mode (leads, conversion, sources).
 *
 * leads: touched Lead: D1, D2, D4 (alias); not D3 (only Spam) nor D5.
 * Lead -> Qual: D1, D2, D4; a Qual event after: D1, D4 -> 2 of 3.
 * Qual -> Offer: touched Qual: D1, D4, D5; Offer after: D1 -> 1 of 3.
 * Offer -> Paid: D1, D2; D1 -> 1 of 2.
 * Lead -> Paid: D1, D2, D4; D1 -> 1 of 3.
 * sources: 3 leads, D1 won. */
static const char five_deals_touched[] =
	"report,funnel,period,dimension,name,leads\n"
	"leads,sales,all,team,*,3\n"
	"leads,sales,all,manager,(none),1\n"
	"leads,sales,all,manager,Ann,1\n"
	"leads,sales,all,manager,Bob,1\n"
	"leads,sales,all,source,Google,1\n"
	"leads,sales,all,source,Yandex,2\n"
	"\n"
	"report,funnel,pair,mode,period,dimension,name,from_stage,to_stage,reached_from,reached_to,conversion_pct,window_open\n"
	"conversion,sales,Lead -> Qual,touched,all,team,*,Lead,Qual,3,2,66.7,0\n"
	"conversion,sales,Lead -> Qual,touched,all,manager,(none),Lead,Qual,1,1,100.0,0\n"
	"conversion,sales,Lead -> Qual,touched,all,manager,Ann,Lead,Qual,1,1,100.0,0\n"
	"conversion,sales,Lead -> Qual,touched,all,manager,Bob,Lead,Qual,1,0,0.0,0\n"
	"conversion,sales,Qual -> Offer,touched,all,team,*,Qual,Offer,3,1,33.3,0\n"
	"conversion,sales,Qual -> Offer,touched,all,manager,(none),Qual,Offer,1,0,0.0,0\n"
	"conversion,sales,Qual -> Offer,touched,all,manager,Ann,Qual,Offer,1,1,100.0,0\n"
	"conversion,sales,Qual -> Offer,touched,all,manager,Bob,Qual,Offer,1,0,0.0,0\n"
	"conversion,sales,Offer -> Paid,touched,all,team,*,Offer,Paid,2,1,50.0,0\n"
	"conversion,sales,Offer -> Paid,touched,all,manager,Ann,Offer,Paid,1,1,100.0,0\n"
	"conversion,sales,Offer -> Paid,touched,all,manager,Bob,Offer,Paid,1,0,0.0,0\n"
	"conversion,sales,Lead -> Paid,touched,all,team,*,Lead,Paid,3,1,33.3,0\n"
	"conversion,sales,Lead -> Paid,touched,all,manager,(none),Lead,Paid,1,0,0.0,0\n"
	"conversion,sales,Lead -> Paid,touched,all,manager,Ann,Lead,Paid,1,1,100.0,0\n"
	"conversion,sales,Lead -> Paid,touched,all,manager,Bob,Lead,Paid,1,0,0.0,0\n"
	"\n"
	"report,funnel,period,dimension,name,leads,won,conversion_pct,revenue\n"
	"sources,sales,all,team,*,3,1,33.3,100.00\n"
	"sources,sales,all,source,Google,1,0,0.0,0.00\n"
	"sources,sales,all,source,Yandex,2,1,50.0,100.00\n";

/* The adjacent pairs of five_deals_reached, without the extra pair. */
#define FIVE_DEALS_ADJACENT_REACHED(mode)                                                                      \
	"report,funnel,pair,mode,period,dimension,name,from_stage,to_stage,reached_from,reached_to,conversion_pct,window_open\n" \
	"conversion,sales,Lead -> Qual," mode ",all,team,*,Lead,Qual,5,4,80.0,0\n"                              \
	"conversion,sales,Lead -> Qual," mode ",all,manager,(none),Lead,Qual,1,1,100.0,0\n"                     \
	"conversion,sales,Lead -> Qual," mode ",all,manager,Ann,Lead,Qual,2,1,50.0,0\n"                         \
	"conversion,sales,Lead -> Qual," mode ",all,manager,Bob,Lead,Qual,2,2,100.0,0\n"                        \
	"conversion,sales,Qual -> Offer," mode ",all,team,*,Qual,Offer,4,2,50.0,0\n"                            \
	"conversion,sales,Qual -> Offer," mode ",all,manager,(none),Qual,Offer,1,0,0.0,0\n"                     \
	"conversion,sales,Qual -> Offer," mode ",all,manager,Ann,Qual,Offer,1,1,100.0,0\n"                      \
	"conversion,sales,Qual -> Offer," mode ",all,manager,Bob,Qual,Offer,2,1,50.0,0\n"                       \
	"conversion,sales,Offer -> Paid," mode ",all,team,*,Offer,Paid,2,1,50.0,0\n"                            \
	"conversion,sales,Offer -> Paid," mode ",all,manager,Ann,Offer,Paid,1,1,100.0,0\n"                      \
	"conversion,sales,Offer -> Paid," mode ",all,manager,Bob,Offer,Paid,1,0,0.0,0\n"

/* ---- leads, conversion, sources, modes ---------------------------------------------- */

static void test_all_reports_reached_total(void **state)
{
	fixture *f = *state;
	se_report_opts o = default_opts();

	load_script(f, sales_script);
	import_csv(f, five_deals_csv);
	assert_int_equal(f->stats.read, 11);
	assert_int_equal(f->stats.imported, 11);
	expect_csv(f, &o, five_deals_reached);
}

/* settings{mode = "touched"} applies to leads, pairs and sources. */
static void test_touched_mode_from_settings(void **state)
{
	fixture *f = *state;
	se_report_opts o = default_opts();

	load_script(f, "settings { mode = 'touched' }\n"
	               "funnel {\n"
	               "  name = 'sales',\n"
	               "  stages = { { 'Lead', aliases = { 'New' } }, 'Qual', { 'Offer', presale = true }, 'Paid' },\n"
	               "  lost = 'Lost', nontarget = 'Spam',\n"
	               "  pairs = { { 'Lead', 'Paid' } },\n"
	               "}\n");
	import_csv(f, five_deals_csv);
	o.reports = SE_REPORT_LEADS | SE_REPORT_CONVERSION | SE_REPORT_SOURCES;
	expect_csv(f, &o, five_deals_touched);
}

/* opts.mode (--mode) overrides the script. */
static void test_touched_mode_from_options(void **state)
{
	fixture *f = *state;
	se_report_opts o = default_opts();

	load_script(f, sales_script);
	import_csv(f, five_deals_csv);
	o.reports = SE_REPORT_LEADS | SE_REPORT_CONVERSION | SE_REPORT_SOURCES;
	o.mode = SE_MODE_TOUCHED;
	expect_csv(f, &o, five_deals_touched);
	/* And back: reached given explicitly is the default. */
	o.reports = 0;
	o.mode = SE_MODE_REACHED;
	expect_csv(f, &o, five_deals_reached);
}

/* A pair's own mode beats the script's; --mode beats both. */
static void test_per_pair_mode(void **state)
{
	fixture *f = *state;
	se_report_opts o = default_opts();

	load_script(f, "funnel {\n"
	               "  name = 'sales',\n"
	               "  stages = { { 'Lead', aliases = { 'New' } }, 'Qual', { 'Offer', presale = true }, 'Paid' },\n"
	               "  lost = 'Lost', nontarget = 'Spam',\n"
	               "  pairs = { { 'Lead', 'Paid', mode = 'touched' } },\n"
	               "}\n");
	import_csv(f, five_deals_csv);
	o.reports = SE_REPORT_CONVERSION;
	/* Adjacent pairs reached (the default); Lead -> Paid touched: cohort
	 * touched(Lead) = D1, D2, D4; D1 paid after it. */
	expect_csv(f, &o,
	           FIVE_DEALS_ADJACENT_REACHED("reached")
	           "conversion,sales,Lead -> Paid,touched,all,team,*,Lead,Paid,3,1,33.3,0\n"
	           "conversion,sales,Lead -> Paid,touched,all,manager,(none),Lead,Paid,1,0,0.0,0\n"
	           "conversion,sales,Lead -> Paid,touched,all,manager,Ann,Lead,Paid,1,1,100.0,0\n"
	           "conversion,sales,Lead -> Paid,touched,all,manager,Bob,Lead,Paid,1,0,0.0,0\n");
	/* --mode reached overrides the pair. */
	o.mode = SE_MODE_REACHED;
	expect_csv(f, &o,
	           FIVE_DEALS_ADJACENT_REACHED("reached")
	           "conversion,sales,Lead -> Paid,reached,all,team,*,Lead,Paid,5,1,20.0,0\n"
	           "conversion,sales,Lead -> Paid,reached,all,manager,(none),Lead,Paid,1,0,0.0,0\n"
	           "conversion,sales,Lead -> Paid,reached,all,manager,Ann,Lead,Paid,2,1,50.0,0\n"
	           "conversion,sales,Lead -> Paid,reached,all,manager,Bob,Lead,Paid,2,0,0.0,0\n");
}

/* settings touched, but a pair says reached: that pair is reached, and the
 * report mode (leads) stays touched. */
static void test_pair_mode_reached_in_touched_script(void **state)
{
	fixture *f = *state;
	se_report_opts o = default_opts();

	load_script(f, "settings { mode = 'touched' }\n"
	               "funnel {\n"
	               "  name = 'sales',\n"
	               "  stages = { { 'Lead', aliases = { 'New' } }, 'Qual', { 'Offer', presale = true }, 'Paid' },\n"
	               "  lost = 'Lost', nontarget = 'Spam',\n"
	               "  pairs = { { 'Lead', 'Paid', mode = 'reached' } },\n"
	               "}\n");
	import_csv(f, five_deals_csv);
	o.reports = SE_REPORT_LEADS | SE_REPORT_CONVERSION;
	expect_csv(f, &o,
	           "report,funnel,period,dimension,name,leads\n"
	           "leads,sales,all,team,*,3\n"
	           "leads,sales,all,manager,(none),1\n"
	           "leads,sales,all,manager,Ann,1\n"
	           "leads,sales,all,manager,Bob,1\n"
	           "leads,sales,all,source,Google,1\n"
	           "leads,sales,all,source,Yandex,2\n"
	           "\n"
	           "report,funnel,pair,mode,period,dimension,name,from_stage,to_stage,reached_from,reached_to,conversion_pct,window_open\n"
	           "conversion,sales,Lead -> Qual,touched,all,team,*,Lead,Qual,3,2,66.7,0\n"
	           "conversion,sales,Lead -> Qual,touched,all,manager,(none),Lead,Qual,1,1,100.0,0\n"
	           "conversion,sales,Lead -> Qual,touched,all,manager,Ann,Lead,Qual,1,1,100.0,0\n"
	           "conversion,sales,Lead -> Qual,touched,all,manager,Bob,Lead,Qual,1,0,0.0,0\n"
	           "conversion,sales,Qual -> Offer,touched,all,team,*,Qual,Offer,3,1,33.3,0\n"
	           "conversion,sales,Qual -> Offer,touched,all,manager,(none),Qual,Offer,1,0,0.0,0\n"
	           "conversion,sales,Qual -> Offer,touched,all,manager,Ann,Qual,Offer,1,1,100.0,0\n"
	           "conversion,sales,Qual -> Offer,touched,all,manager,Bob,Qual,Offer,1,0,0.0,0\n"
	           "conversion,sales,Offer -> Paid,touched,all,team,*,Offer,Paid,2,1,50.0,0\n"
	           "conversion,sales,Offer -> Paid,touched,all,manager,Ann,Offer,Paid,1,1,100.0,0\n"
	           "conversion,sales,Offer -> Paid,touched,all,manager,Bob,Offer,Paid,1,0,0.0,0\n"
	           "conversion,sales,Lead -> Paid,reached,all,team,*,Lead,Paid,5,1,20.0,0\n"
	           "conversion,sales,Lead -> Paid,reached,all,manager,(none),Lead,Paid,1,0,0.0,0\n"
	           "conversion,sales,Lead -> Paid,reached,all,manager,Ann,Lead,Paid,2,1,50.0,0\n"
	           "conversion,sales,Lead -> Paid,reached,all,manager,Bob,Lead,Paid,2,0,0.0,0\n");
}

/* Names that need RFC 4180 quoting, and byte-wise name order (upper case
 * before lower case before Cyrillic). */
static void test_csv_quoting_and_name_order(void **state)
{
	fixture *f = *state;
	se_report_opts o = default_opts();

	load_script(f, sales_script);
	import_csv(f, CSV_HEADER
	              "q1,Q1,2025-01-05T10:00:00Z,Lead,\"Smith, John\",\"Say \"\"hi\"\"\",\n"
	              "q2,Q2,2025-01-05T10:00:00Z,Lead,Анна,Яндекс,\n"
	              "q3,Q3,2025-01-05T10:00:00Z,Lead,bob,b,\n"
	              "q4,Q4,2025-01-05T10:00:00Z,Lead,Zed,Z,\n");
	o.reports = SE_REPORT_LEADS;
	expect_csv(f, &o,
	           "report,funnel,period,dimension,name,leads\n"
	           "leads,sales,all,team,*,4\n"
	           "leads,sales,all,manager,\"Smith, John\",1\n"
	           "leads,sales,all,manager,Zed,1\n"
	           "leads,sales,all,manager,bob,1\n"
	           "leads,sales,all,manager,Анна,1\n"
	           "leads,sales,all,source,\"Say \"\"hi\"\"\",1\n"
	           "leads,sales,all,source,Z,1\n"
	           "leads,sales,all,source,b,1\n"
	           "leads,sales,all,source,Яндекс,1\n");
}

/* ---- buckets ------------------------------------------------------------------- */

/*
 * Lead events, Moscow is UTC+3 all year:
 *   W3 2021-01-03 12:00Z Bob/mail  Sunday          -> 2020-W53
 *   W8 2024-12-29 12:00Z Ann/web   Sunday          -> 2024-W52
 *   W2 2024-12-30 12:00Z Ann/web   Monday          -> 2025-W01
 *   W4 2025-01-05 20:59:59Z Bob/web  Sun 23:59:59 local -> 2025-W01
 *   W1 2025-01-05 21:30Z Ann/web   Mon 00:30 local -> 2025-W02 (UTC: W01)
 *   W5 2026-12-31 12:00Z Ann/web   Thursday        -> 2026-W53
 *   W6 2027-01-03 12:00Z Ann/web   Sunday          -> 2026-W53
 *   W7 2027-01-04 12:00Z Ann/web   Monday          -> 2027-W01
 */
static const char weeks_csv[] =
	CSV_HEADER
	"w1,W1,2025-01-05T21:30:00Z,Lead,Ann,web,\n"
	"w2,W2,2024-12-30T12:00:00Z,Lead,Ann,web,\n"
	"w3,W3,2021-01-03T12:00:00Z,Lead,Bob,mail,\n"
	"w4,W4,2025-01-05T20:59:59Z,Lead,Bob,web,\n"
	"w5,W5,2026-12-31T12:00:00Z,Lead,Ann,web,\n"
	"w6,W6,2027-01-03T12:00:00Z,Lead,Ann,web,\n"
	"w7,W7,2027-01-04T12:00:00Z,Lead,Ann,web,\n"
	"w8,W8,2024-12-29T12:00:00Z,Lead,Ann,web,\n";

static void test_iso_weeks_in_report_zone(void **state)
{
	fixture *f = *state;
	se_report_opts o = default_opts();

	load_script(f, "settings { timezone = 'Europe/Moscow', period = 'week' }\n"
	               "funnel { name = 'sales', stages = { 'Lead', 'Qual', 'Paid' } }\n");
	import_csv(f, weeks_csv);
	o.reports = SE_REPORT_LEADS;
	expect_csv(f, &o,
	           "report,funnel,period,dimension,name,leads\n"
	           "leads,sales,2020-W53,team,*,1\n"
	           "leads,sales,2020-W53,manager,Bob,1\n"
	           "leads,sales,2020-W53,source,mail,1\n"
	           "leads,sales,2024-W52,team,*,1\n"
	           "leads,sales,2024-W52,manager,Ann,1\n"
	           "leads,sales,2024-W52,source,web,1\n"
	           "leads,sales,2025-W01,team,*,2\n"
	           "leads,sales,2025-W01,manager,Ann,1\n"
	           "leads,sales,2025-W01,manager,Bob,1\n"
	           "leads,sales,2025-W01,source,web,2\n"
	           "leads,sales,2025-W02,team,*,1\n"
	           "leads,sales,2025-W02,manager,Ann,1\n"
	           "leads,sales,2025-W02,source,web,1\n"
	           "leads,sales,2026-W53,team,*,2\n"
	           "leads,sales,2026-W53,manager,Ann,2\n"
	           "leads,sales,2026-W53,source,web,2\n"
	           "leads,sales,2027-W01,team,*,1\n"
	           "leads,sales,2027-W01,manager,Ann,1\n"
	           "leads,sales,2027-W01,source,web,1\n");

	/* --tz UTC: W1 is still Sunday, so 2025-W01 has three leads. */
	o.timezone = "UTC";
	expect_csv(f, &o,
	           "report,funnel,period,dimension,name,leads\n"
	           "leads,sales,2020-W53,team,*,1\n"
	           "leads,sales,2020-W53,manager,Bob,1\n"
	           "leads,sales,2020-W53,source,mail,1\n"
	           "leads,sales,2024-W52,team,*,1\n"
	           "leads,sales,2024-W52,manager,Ann,1\n"
	           "leads,sales,2024-W52,source,web,1\n"
	           "leads,sales,2025-W01,team,*,3\n"
	           "leads,sales,2025-W01,manager,Ann,2\n"
	           "leads,sales,2025-W01,manager,Bob,1\n"
	           "leads,sales,2025-W01,source,web,3\n"
	           "leads,sales,2026-W53,team,*,2\n"
	           "leads,sales,2026-W53,manager,Ann,2\n"
	           "leads,sales,2026-W53,source,web,2\n"
	           "leads,sales,2027-W01,team,*,1\n"
	           "leads,sales,2027-W01,manager,Ann,1\n"
	           "leads,sales,2027-W01,source,web,1\n");
}

/*
 * M2 2025-01-31 20:00Z  Moscow Jan 31 23:00  -> 2025-01 / 2025-01-31
 * M1 2025-01-31 22:00Z  Moscow Feb 1 01:00   -> 2025-02 / 2025-02-01
 * M3 2025-03-15 10:00Z                       -> 2025-03 / 2025-03-15
 * (UTC puts M1 on 2025-01-31 too.)  Empty buckets between are not printed.
 */
static void test_month_and_day_periods(void **state)
{
	fixture *f = *state;
	se_report_opts o = default_opts();

	load_script(f, "settings { timezone = 'Europe/Moscow', period = 'month' }\n"
	               "funnel { name = 'sales', stages = { 'Lead', 'Qual', 'Paid' } }\n");
	import_csv(f, CSV_HEADER
	              "m1,M1,2025-01-31T22:00:00Z,Lead,Ann,web,\n"
	              "m2,M2,2025-01-31T20:00:00Z,Lead,Ann,web,\n"
	              "m3,M3,2025-03-15T10:00:00Z,Lead,Bob,web,\n");
	o.reports = SE_REPORT_LEADS;
	expect_csv(f, &o,
	           "report,funnel,period,dimension,name,leads\n"
	           "leads,sales,2025-01,team,*,1\n"
	           "leads,sales,2025-01,manager,Ann,1\n"
	           "leads,sales,2025-01,source,web,1\n"
	           "leads,sales,2025-02,team,*,1\n"
	           "leads,sales,2025-02,manager,Ann,1\n"
	           "leads,sales,2025-02,source,web,1\n"
	           "leads,sales,2025-03,team,*,1\n"
	           "leads,sales,2025-03,manager,Bob,1\n"
	           "leads,sales,2025-03,source,web,1\n");
	o.period = SE_PERIOD_DAY;
	expect_csv(f, &o,
	           "report,funnel,period,dimension,name,leads\n"
	           "leads,sales,2025-01-31,team,*,1\n"
	           "leads,sales,2025-01-31,manager,Ann,1\n"
	           "leads,sales,2025-01-31,source,web,1\n"
	           "leads,sales,2025-02-01,team,*,1\n"
	           "leads,sales,2025-02-01,manager,Ann,1\n"
	           "leads,sales,2025-02-01,source,web,1\n"
	           "leads,sales,2025-03-15,team,*,1\n"
	           "leads,sales,2025-03-15,manager,Bob,1\n"
	           "leads,sales,2025-03-15,source,web,1\n");
	o.period = SE_PERIOD_MONTH;
	o.timezone = "UTC";
	expect_csv(f, &o,
	           "report,funnel,period,dimension,name,leads\n"
	           "leads,sales,2025-01,team,*,2\n"
	           "leads,sales,2025-01,manager,Ann,2\n"
	           "leads,sales,2025-01,source,web,2\n"
	           "leads,sales,2025-03,team,*,1\n"
	           "leads,sales,2025-03,manager,Bob,1\n"
	           "leads,sales,2025-03,source,web,1\n");
	o.period = SE_PERIOD_TOTAL;
	expect_csv(f, &o,
	           "report,funnel,period,dimension,name,leads\n"
	           "leads,sales,all,team,*,3\n"
	           "leads,sales,all,manager,Ann,2\n"
	           "leads,sales,all,manager,Bob,1\n"
	           "leads,sales,all,source,web,3\n");
}

/* ---- --from / --to ---------------------------------------------------------------- */

/*
 * Moscow local days, --from 2025-02-01 --to 2025-02-28 (inclusive):
 *   A Lead 2025-01-31T20:59:59Z = Jan 31 23:59:59 local: out;
 *     its Qual 2025-02-05 is in: it is the Qual -> Offer cohort event.
 *   B Lead 2025-01-31T21:00:00Z = Feb 1 00:00 local: in; its Qual on
 *     Mar 5 is out of range but still converts (the range filters cohorts).
 *   C Lead 2025-02-28T20:59:59Z = Feb 28 23:59:59 local: in.
 *   D Lead 2025-02-28T21:00:00Z = Mar 1 00:00 local: out.
 * Lead -> Qual: B, C from; B converts.  Qual -> Offer: A only (B's Qual is
 * out).  Offer -> Paid: nobody.  Lead -> Paid: B, C, none converts.
 */
static const char range_csv[] =
	CSV_HEADER
	"a1,A,2025-01-31T20:59:59Z,Lead,Ann,web,\n"
	"a2,A,2025-02-05T10:00:00Z,Qual,Ann,,\n"
	"b1,B,2025-01-31T21:00:00Z,Lead,Ann,web,\n"
	"b2,B,2025-03-05T10:00:00Z,Qual,Ann,,\n"
	"c1,C,2025-02-28T20:59:59Z,Lead,Bob,web,\n"
	"d1,D,2025-02-28T21:00:00Z,Lead,Bob,web,\n";

static void test_from_to_local_days(void **state)
{
	fixture *f = *state;
	se_report_opts o = default_opts();

	load_script(f, "settings { timezone = 'Europe/Moscow' }\n"
	               "funnel {\n"
	               "  name = 'sales', stages = { 'Lead', 'Qual', 'Offer', 'Paid' },\n"
	               "  pairs = { { 'Lead', 'Paid' } },\n"
	               "}\n");
	import_csv(f, range_csv);
	o.reports = SE_REPORT_LEADS | SE_REPORT_CONVERSION;
	o.from = "2025-02-01";
	o.to = "2025-02-28";
	expect_csv(f, &o,
	           "report,funnel,period,dimension,name,leads\n"
	           "leads,sales,2025-02-01..2025-02-28,team,*,2\n"
	           "leads,sales,2025-02-01..2025-02-28,manager,Ann,1\n"
	           "leads,sales,2025-02-01..2025-02-28,manager,Bob,1\n"
	           "leads,sales,2025-02-01..2025-02-28,source,web,2\n"
	           "\n"
	           "report,funnel,pair,mode,period,dimension,name,from_stage,to_stage,reached_from,reached_to,conversion_pct,window_open\n"
	           "conversion,sales,Lead -> Qual,reached,2025-02-01..2025-02-28,team,*,Lead,Qual,2,1,50.0,0\n"
	           "conversion,sales,Lead -> Qual,reached,2025-02-01..2025-02-28,manager,Ann,Lead,Qual,1,1,100.0,0\n"
	           "conversion,sales,Lead -> Qual,reached,2025-02-01..2025-02-28,manager,Bob,Lead,Qual,1,0,0.0,0\n"
	           "conversion,sales,Qual -> Offer,reached,2025-02-01..2025-02-28,team,*,Qual,Offer,1,0,0.0,0\n"
	           "conversion,sales,Qual -> Offer,reached,2025-02-01..2025-02-28,manager,Ann,Qual,Offer,1,0,0.0,0\n"
	           "conversion,sales,Lead -> Paid,reached,2025-02-01..2025-02-28,team,*,Lead,Paid,2,0,0.0,0\n"
	           "conversion,sales,Lead -> Paid,reached,2025-02-01..2025-02-28,manager,Ann,Lead,Paid,1,0,0.0,0\n"
	           "conversion,sales,Lead -> Paid,reached,2025-02-01..2025-02-28,manager,Bob,Lead,Paid,1,0,0.0,0\n");

	/* Day buckets inside the range. */
	o.reports = SE_REPORT_LEADS;
	o.period = SE_PERIOD_DAY;
	expect_csv(f, &o,
	           "report,funnel,period,dimension,name,leads\n"
	           "leads,sales,2025-02-01,team,*,1\n"
	           "leads,sales,2025-02-01,manager,Ann,1\n"
	           "leads,sales,2025-02-01,source,web,1\n"
	           "leads,sales,2025-02-28,team,*,1\n"
	           "leads,sales,2025-02-28,manager,Bob,1\n"
	           "leads,sales,2025-02-28,source,web,1\n");

	/* The same dates in UTC: C and D are in, A and B out. */
	o.period = SE_PERIOD_TOTAL;
	o.timezone = "UTC";
	expect_csv(f, &o,
	           "report,funnel,period,dimension,name,leads\n"
	           "leads,sales,2025-02-01..2025-02-28,team,*,2\n"
	           "leads,sales,2025-02-01..2025-02-28,manager,Bob,2\n"
	           "leads,sales,2025-02-01..2025-02-28,source,web,2\n");

	/* A one-day range. */
	o.timezone = NULL;
	o.from = o.to = "2025-02-28";
	expect_csv(f, &o,
	           "report,funnel,period,dimension,name,leads\n"
	           "leads,sales,2025-02-28..2025-02-28,team,*,1\n"
	           "leads,sales,2025-02-28..2025-02-28,manager,Bob,1\n"
	           "leads,sales,2025-02-28..2025-02-28,source,web,1\n");
	/* the import's day-first form reads the same, and labels print ISO */
	o.from = "28.02.2025";
	o.to = "2025-02-28";
	expect_csv(f, &o,
	           "report,funnel,period,dimension,name,leads\n"
	           "leads,sales,2025-02-28..2025-02-28,team,*,1\n"
	           "leads,sales,2025-02-28..2025-02-28,manager,Bob,1\n"
	           "leads,sales,2025-02-28..2025-02-28,source,web,1\n");
}

static void expect_build_error(fixture *f, const se_report_opts *o, int code, const char *msg)
{
	se_report *rep = (se_report *)f;

	memset(&f->err, 0, sizeof f->err);
	assert_int_equal(se_report_build(&rep, f->st, f->rules, o, &f->err), code);
	assert_null(rep);
	assert_int_equal(f->err.code, code);
	if (msg != NULL)
		assert_string_equal(f->err.msg, msg);
}

static void test_bad_ranges(void **state)
{
	fixture *f = *state;
	se_report_opts o = default_opts();

	load_script(f, sales_script);
	import_csv(f, range_csv);
	o.from = "2025-02-30";
	expect_build_error(f, &o, SE_EUSAGE, "--from: \"2025-02-30\" is not a date like 2025-01-31 or 31.01.2025");
	o.from = "2025-2-1";
	expect_build_error(f, &o, SE_EUSAGE, NULL);
	o.from = "30.02.2025";
	expect_build_error(f, &o, SE_EUSAGE, NULL);
	o.from = "1.02.2025";
	expect_build_error(f, &o, SE_EUSAGE, NULL);
	o.from = "01-02.2025";
	expect_build_error(f, &o, SE_EUSAGE, NULL);
	o.from = NULL;
	o.to = "2025-02-01x";
	expect_build_error(f, &o, SE_EUSAGE, NULL);
	o.from = "2025-03-01";
	o.to = "2025-02-28";
	expect_build_error(f, &o, SE_EUSAGE, "--from 2025-03-01 is after --to 2025-02-28");
	o.from = o.to = NULL;
	o.timezone = "Mars/Olympus";
	expect_build_error(f, &o, SE_EUSAGE, "--tz: unknown time zone 'Mars/Olympus'");
}

/* ---- windows --------------------------------------------------------------------------- */

/*
 * Lead -> Offer within 7 days, weekly buckets in UTC:
 *   X1 Ann: Lead Mon 2025-01-06 10:00, Offer exactly 7 days later: converts.
 *   X2 Bob: Lead Wed 2025-01-08 10:00, Offer 7 days and 1 second later: no.
 * Both cohorts are in 2025-W02 (Jan 6-12); in reached mode both reached
 * Qual at their Offer event (2025-W03).
 */
static const char window_script[] =
	"settings { period = 'week' }\n"
	"funnel {\n"
	"  name = 'sales', stages = { 'Lead', 'Qual', 'Offer', 'Paid' },\n"
	"  pairs = { { 'Lead', 'Offer', window = '7d' } },\n"
	"}\n";

static const char window_csv[] =
	CSV_HEADER
	"x1-1,X1,2025-01-06T10:00:00Z,Lead,Ann,web,\n"
	"x1-2,X1,2025-01-13T10:00:00Z,Offer,Ann,,\n"
	"x2-1,X2,2025-01-08T10:00:00Z,Lead,Bob,web,\n"
	"x2-2,X2,2025-01-15T10:00:01Z,Offer,Bob,,\n";

#define WINDOW_ADJACENT                                                                                      \
	"report,funnel,pair,mode,period,dimension,name,from_stage,to_stage,reached_from,reached_to,conversion_pct,window_open\n" \
	"conversion,sales,Lead -> Qual,reached,2025-W02,team,*,Lead,Qual,2,2,100.0,0\n"                              \
	"conversion,sales,Lead -> Qual,reached,2025-W02,manager,Ann,Lead,Qual,1,1,100.0,0\n"                         \
	"conversion,sales,Lead -> Qual,reached,2025-W02,manager,Bob,Lead,Qual,1,1,100.0,0\n"                         \
	"conversion,sales,Qual -> Offer,reached,2025-W03,team,*,Qual,Offer,2,2,100.0,0\n"                            \
	"conversion,sales,Qual -> Offer,reached,2025-W03,manager,Ann,Qual,Offer,1,1,100.0,0\n"                       \
	"conversion,sales,Qual -> Offer,reached,2025-W03,manager,Bob,Qual,Offer,1,1,100.0,0\n"                       \
	"conversion,sales,Offer -> Paid,reached,2025-W03,team,*,Offer,Paid,2,0,0.0,0\n"                              \
	"conversion,sales,Offer -> Paid,reached,2025-W03,manager,Ann,Offer,Paid,1,0,0.0,0\n"                         \
	"conversion,sales,Offer -> Paid,reached,2025-W03,manager,Bob,Offer,Paid,1,0,0.0,0\n"

#define WINDOW_PAIR(open)                                                                   \
	"conversion,sales,Lead -> Offer,reached,2025-W02,team,*,Lead,Offer,2,1,50.0," open "\n"        \
	"conversion,sales,Lead -> Offer,reached,2025-W02,manager,Ann,Lead,Offer,1,1,100.0," open "\n"  \
	"conversion,sales,Lead -> Offer,reached,2025-W02,manager,Bob,Lead,Offer,1,0,0.0," open "\n"

/* window_open of the Lead -> Offer rows (team, Ann, Bob) at as_of. */
static void expect_window_flags(fixture *f, se_report_opts *o, const char *as_of, const char *team,
                                const char *ann, const char *bob)
{
	o->as_of = utc(as_of);
	render(f, o, SE_OUTPUT_JSON);
	expect_json(f, "$.funnels[0].conversion[3].rows[0].name", "text", "*");
	expect_json(f, "$.funnels[0].conversion[3].rows[0].window_open", team, NULL);
	expect_json(f, "$.funnels[0].conversion[3].rows[1].name", "text", "Ann");
	expect_json(f, "$.funnels[0].conversion[3].rows[1].window_open", ann, NULL);
	expect_json(f, "$.funnels[0].conversion[3].rows[2].name", "text", "Bob");
	expect_json(f, "$.funnels[0].conversion[3].rows[2].window_open", bob, NULL);
	/* Pairs without a window are never flagged. */
	expect_json(f, "$.funnels[0].conversion[0].window_days", "null", NULL);
	expect_json(f, "$.funnels[0].conversion[0].rows[0].window_open", "false", NULL);
	expect_json(f, "$.funnels[0].conversion[0].rows[1].window_open", "false", NULL);
}

/* METRICS.md 4b: window_open is true for a row in which some deal's cohort
 * event is less than W before as_of.  Cohorts: X1 (Ann) 2025-01-06 10:00,
 * X2 (Bob) 2025-01-08 10:00, W = 7 days; the team row holds both. */
static void test_window_limit_and_open_flag(void **state)
{
	fixture *f = *state;
	se_report_opts o = default_opts();

	load_script(f, window_script);
	import_csv(f, window_csv);
	o.reports = SE_REPORT_CONVERSION;

	/* Counts: X1 at exactly +7d converts, X2 at +7d+1s does not. */
	render(f, &o, SE_OUTPUT_JSON);
	expect_json(f, "$.funnels[0].conversion[3].from", "text", "Lead");
	expect_json(f, "$.funnels[0].conversion[3].to", "text", "Offer");
	expect_json(f, "$.funnels[0].conversion[3].window_days", "integer", "7");
	expect_json(f, "$.funnels[0].conversion[3].rows[0].period", "text", "2025-W02");
	expect_json(f, "$.funnels[0].conversion[3].rows[0].reached_from", "integer", "2");
	expect_json(f, "$.funnels[0].conversion[3].rows[0].reached_to", "integer", "1");
	expect_json(f, "$.funnels[0].conversion[3].rows[1].reached_to", "integer", "1");
	expect_json(f, "$.funnels[0].conversion[3].rows[2].reached_to", "integer", "0");
	expect_json_missing(f, "$.funnels[0].conversion[3].rows[3]");

	expect_window_flags(f, &o, "2025-01-10T00:00:00Z", "true", "true", "true");
	/* X1's cohort is W - 1s before as_of: still open. */
	expect_window_flags(f, &o, "2025-01-13T09:59:59Z", "true", "true", "true");
	/* Exactly W: not "less than W" any more; Ann's row closes, the team
	 * row stays open for X2. */
	expect_window_flags(f, &o, "2025-01-13T10:00:00Z", "true", "false", "true");
	expect_window_flags(f, &o, "2025-01-15T09:59:59Z", "true", "false", "true");
	expect_window_flags(f, &o, "2025-01-15T10:00:00Z", "false", "false", "false");
	expect_window_flags(f, &o, AS_OF, "false", "false", "false");
}

/* The same rule with --period total and --to: only the Lead cohorts (Jan 6,
 * Jan 8) are inside the range, the Qual and Offer cohorts (Jan 13, 15) not. */
static void test_window_open_total_with_to(void **state)
{
	fixture *f = *state;
	se_report_opts o = default_opts();

	load_script(f, window_script);
	import_csv(f, window_csv);
	o.reports = SE_REPORT_CONVERSION;
	o.period = SE_PERIOD_TOTAL;
	o.to = "2025-01-12";
	expect_window_flags(f, &o, "2025-01-14T00:00:00Z", "true", "false", "true");
	expect_json(f, "$.funnels[0].conversion[3].rows[0].period", "text", "..2025-01-12");
	expect_json(f, "$.funnels[0].conversion[1].rows", "array", "[]");
	expect_json(f, "$.funnels[0].conversion[2].rows", "array", "[]");
}

/* A pair with a window is labelled "Lead -> Offer within 7d" in CSV
 * (OUTPUT.md), so it stays apart from a plain pair of the same stages; the
 * JSON has from, to and window_days instead.  Numbers as in
 * test_window_limit_and_open_flag, as_of 2025-01-10 (every row open). */
static void test_windowed_pair_label_csv(void **state)
{
	fixture *f = *state;
	se_report_opts o = default_opts();

	load_script(f, window_script);
	import_csv(f, window_csv);
	o.reports = SE_REPORT_CONVERSION;
	o.as_of = utc("2025-01-10T00:00:00Z");
	expect_csv(f, &o, WINDOW_ADJACENT
	           "conversion,sales,Lead -> Offer within 7d,reached,2025-W02,team,*,Lead,Offer,2,1,50.0,1\n"
	           "conversion,sales,Lead -> Offer within 7d,reached,2025-W02,manager,Ann,Lead,Offer,1,1,100.0,1\n"
	           "conversion,sales,Lead -> Offer within 7d,reached,2025-W02,manager,Bob,Lead,Offer,1,0,0.0,1\n");
}

/* ---- presale ----------------------------------------------------------------------------- */

static const char presale_script[] =
	"funnel {\n"
	"  name = 'sales',\n"
	"  stages = { 'Lead', { 'Offer', presale = true }, { 'Invoice', presale = true }, 'Paid' },\n"
	"  lost = 'Lost', nontarget = 'Spam',\n"
	"}\n";

/*
 * Closed deals (reached mode), for the win rates:
 *   a1 Ann  Lead, Offer, Paid        won; reached Offer and Invoice
 *   a2 Ann  Lead, Offer, Lost        reached Offer
 *   a3 Ann  Lead, Invoice, Lost      reached Offer (skipped) and Invoice
 *   b1 Bob  Lead, Offer, Spam        reached Offer
 * Ann: Offer 1 won of 3, Invoice 1 of 2.  Bob: Offer 0 of 1, Invoice none.
 * Team: Offer 1 of 4 (25%), Invoice 1 of 2 (50%).
 *
 * Open deals:
 *   o1 Ann  at Offer, amount 900 then 1000 (latest counts), then Offer
 *           again without an amount: 1000
 *   o2 Ann  at Offer, 500
 *   o8 Ann  Offer, Lost, Offer again (reopened): open at Offer, 50
 *   o3 Bob  at Offer, 200
 *   o5 Carl at Offer, no amount
 *   o4 Bob  at Invoice, 400
 *   o9 Bob  Invoice and Lost at the same second; "o9-10" sorts before
 *           "o9-9", so Lost comes first and the deal is open at Invoice, 100
 *   o6 -    at Invoice, 100
 *   o7 Ann  at Lead (not a pre-sale stage), 5000
 *
 * Offer:  Ann 3 deals 1550, rate 1/3 (manager), forecast 516.67;
 *         Bob 1 deal 200, rate 0 (manager: 0 of 1), forecast 0;
 *         Carl 1 deal, no amount, team rate 25%, forecast 0;
 *         team 5 deals 1750, forecast 516.67, rate 516.67/1750 = 29.5%.
 * Invoice: (none) 1 deal 100 and Bob 2 deals 500, both at the team rate
 *         50%: forecasts 50 and 250; team 3 deals 600, 300, 50%.
 * `*`:    (none) 100/50 (50%); Ann 1550/516.67 (33.3%); Bob 700/250
 *         (35.7%); Carl 0/0 (no rate); team 8 deals 2350, 816.67 (34.8%).
 */
static const char presale_csv[] =
	CSV_HEADER
	"a1-1,a1,2025-01-01T10:00:00Z,Lead,Ann,,\n"
	"a1-2,a1,2025-01-02T10:00:00Z,Offer,Ann,,\n"
	"a1-3,a1,2025-01-03T10:00:00Z,Paid,Ann,,1000\n"
	"a2-1,a2,2025-01-01T10:00:00Z,Lead,Ann,,\n"
	"a2-2,a2,2025-01-02T10:00:00Z,Offer,Ann,,\n"
	"a2-3,a2,2025-01-03T10:00:00Z,Lost,Ann,,\n"
	"a3-1,a3,2025-01-01T10:00:00Z,Lead,Ann,,\n"
	"a3-2,a3,2025-01-02T10:00:00Z,Invoice,Ann,,\n"
	"a3-3,a3,2025-01-03T10:00:00Z,Lost,Ann,,\n"
	"b1-1,b1,2025-01-01T10:00:00Z,Lead,Bob,,\n"
	"b1-2,b1,2025-01-02T10:00:00Z,Offer,Bob,,\n"
	"b1-3,b1,2025-01-03T10:00:00Z,Spam,Bob,,\n"
	"o1-1,o1,2025-01-01T10:00:00Z,Lead,Ann,,900\n"
	"o1-2,o1,2025-01-02T10:00:00Z,Offer,Ann,,1000\n"
	"o1-3,o1,2025-01-03T10:00:00Z,Offer,Ann,,\n"
	"o2-1,o2,2025-01-01T10:00:00Z,Lead,Ann,,\n"
	"o2-2,o2,2025-01-02T10:00:00Z,Offer,Ann,,500\n"
	"o8-1,o8,2025-01-01T10:00:00Z,Offer,Ann,,\n"
	"o8-2,o8,2025-01-02T10:00:00Z,Lost,Ann,,\n"
	"o8-3,o8,2025-01-03T10:00:00Z,Offer,Ann,,50\n"
	"o3-1,o3,2025-01-01T10:00:00Z,Lead,Bob,,\n"
	"o3-2,o3,2025-01-02T10:00:00Z,Offer,Bob,,200\n"
	"o5-1,o5,2025-01-01T10:00:00Z,Lead,Carl,,\n"
	"o5-2,o5,2025-01-02T10:00:00Z,Offer,Carl,,\n"
	"o4-1,o4,2025-01-01T10:00:00Z,Lead,Bob,,\n"
	"o4-2,o4,2025-01-02T10:00:00Z,Invoice,Bob,,400\n"
	"o9-1,o9,2025-01-01T10:00:00Z,Lead,Bob,,\n"
	"o9-9,o9,2025-01-05T10:00:00Z,Invoice,Bob,,100\n"
	"o9-10,o9,2025-01-05T10:00:00Z,Lost,Bob,,\n"
	"o6-1,o6,2025-01-01T10:00:00Z,Lead,,,\n"
	"o6-2,o6,2025-01-02T10:00:00Z,Invoice,,,100\n"
	"o7-1,o7,2025-01-01T10:00:00Z,Lead,Ann,,5000\n";

static void test_presale_rates_and_forecast(void **state)
{
	fixture *f = *state;
	se_report_opts o = default_opts();

	load_script(f, presale_script);
	import_csv(f, presale_csv);
	o.reports = SE_REPORT_PRESALE;
	expect_csv(f, &o,
	           "report,funnel,stage,dimension,name,deals,amount,win_rate_pct,win_rate_basis,forecast,no_amount\n"
	           "presale,sales,Offer,team,*,5,1750.00,29.5,mixed,516.67,1\n"
	           "presale,sales,Offer,manager,Ann,3,1550.00,33.3,manager,516.67,0\n"
	           "presale,sales,Offer,manager,Bob,1,200.00,0.0,manager,0.00,0\n"
	           "presale,sales,Offer,manager,Carl,1,0.00,25.0,team,0.00,1\n"
	           "presale,sales,Invoice,team,*,3,600.00,50.0,team,300.00,0\n"
	           "presale,sales,Invoice,manager,(none),1,100.00,50.0,team,50.00,0\n"
	           "presale,sales,Invoice,manager,Bob,2,500.00,50.0,team,250.00,0\n"
	           "presale,sales,*,team,*,8,2350.00,34.8,mixed,816.67,1\n"
	           "presale,sales,*,manager,(none),1,100.00,50.0,team,50.00,0\n"
	           "presale,sales,*,manager,Ann,3,1550.00,33.3,manager,516.67,0\n"
	           "presale,sales,*,manager,Bob,3,700.00,35.7,mixed,250.00,0\n"
	           "presale,sales,*,manager,Carl,1,0.00,,team,0.00,1\n");

	/* JSON: the rate's numerator and denominator, null for no rate. */
	render(f, &o, SE_OUTPUT_JSON);
	expect_json(f, "$.funnels[0].presale[1].name", "text", "Ann");
	expect_json(f, "$.funnels[0].presale[1].stage", "text", "Offer");
	expect_json(f, "$.funnels[0].presale[1].win_rate_won", "integer", "1");
	expect_json(f, "$.funnels[0].presale[1].win_rate_closed", "integer", "3");
	expect_json(f, "$.funnels[0].presale[1].forecast", "real", "516.67");
	expect_json(f, "$.funnels[0].presale[1].amount", "real", "1550.0");
	expect_json(f, "$.funnels[0].presale[3].win_rate_basis", "text", "team");
	expect_json(f, "$.funnels[0].presale[3].win_rate_won", "integer", "1");
	expect_json(f, "$.funnels[0].presale[3].win_rate_closed", "integer", "4");
	expect_json(f, "$.funnels[0].presale[3].win_rate", "real", "0.25");
	expect_json(f, "$.funnels[0].presale[3].no_amount", "integer", "1");
	expect_json(f, "$.funnels[0].presale[11].name", "text", "Carl");
	expect_json(f, "$.funnels[0].presale[11].stage", "text", "*");
	expect_json(f, "$.funnels[0].presale[11].win_rate", "null", NULL);
	expect_json_missing(f, "$.funnels[0].presale[12]");
}

/*
 * Touched mode: only deals that were actually at Offer count for its rate.
 *   x1 Ann  Lead, Lost         closed, never at Offer
 *   y1 Bob  Lead, Paid         won, skipped Offer
 *   o1 Ann  Lead, Offer (300)  open
 * Touched: nobody closed from Offer: rate 0, basis none.  Reached (--mode):
 * y1 reached Offer: Bob 1 of 1; Ann has none, so the team's 100%.
 */
static void test_presale_basis_none_and_mode(void **state)
{
	fixture *f = *state;
	se_report_opts o = default_opts();

	load_script(f, "settings { mode = 'touched' }\n"
	               "funnel {\n"
	               "  name = 'sales', stages = { 'Lead', { 'Offer', presale = true }, 'Paid' },\n"
	               "  lost = 'Lost',\n"
	               "}\n");
	import_csv(f, CSV_HEADER
	              "x1-1,x1,2025-01-01T10:00:00Z,Lead,Ann,,\n"
	              "x1-2,x1,2025-01-02T10:00:00Z,Lost,Ann,,\n"
	              "y1-1,y1,2025-01-01T10:00:00Z,Lead,Bob,,\n"
	              "y1-2,y1,2025-01-02T10:00:00Z,Paid,Bob,,700\n"
	              "o1-1,o1,2025-01-01T10:00:00Z,Lead,Ann,,\n"
	              "o1-2,o1,2025-01-02T10:00:00Z,Offer,Ann,,300\n");
	o.reports = SE_REPORT_PRESALE;
	expect_csv(f, &o,
	           "report,funnel,stage,dimension,name,deals,amount,win_rate_pct,win_rate_basis,forecast,no_amount\n"
	           "presale,sales,Offer,team,*,1,300.00,0.0,none,0.00,0\n"
	           "presale,sales,Offer,manager,Ann,1,300.00,0.0,none,0.00,0\n"
	           "presale,sales,*,team,*,1,300.00,0.0,none,0.00,0\n"
	           "presale,sales,*,manager,Ann,1,300.00,0.0,none,0.00,0\n");
	o.mode = SE_MODE_REACHED;
	expect_csv(f, &o,
	           "report,funnel,stage,dimension,name,deals,amount,win_rate_pct,win_rate_basis,forecast,no_amount\n"
	           "presale,sales,Offer,team,*,1,300.00,100.0,team,300.00,0\n"
	           "presale,sales,Offer,manager,Ann,1,300.00,100.0,team,300.00,0\n"
	           "presale,sales,*,team,*,1,300.00,100.0,team,300.00,0\n"
	           "presale,sales,*,manager,Ann,1,300.00,100.0,team,300.00,0\n");
}

/* ---- sources ------------------------------------------------------------------------------ */

/*
 * Monthly, UTC; source = the earliest event's that has one:
 *   s1 Yandex  Lead Jan 5, Paid (100)              won
 *   s2 Yandex  Lead Jan 7 (50)                     open: no revenue
 *   s3 Google  Lead Jan 8 (70), Lost               no revenue
 *   s4 Google  Lead Feb 3 (150), Paid Feb 10 (200) won in the Feb cohort: 200
 *   s5 Yandex  Lead Jan 31, Paid Feb 2 (30)        Jan cohort, won: 30
 *   s6 Google  Lead Jan 5 (no source), Qual with Google
 *   s7 -       Lead Jan 10, Paid, no amount        won, revenue 0
 *   s8 Yandex  Lead Yandex Jan 12, Qual with Google: Yandex
 *   s9 Yandex  Lead Jan 14, Paid (1000), Lost      it was won: 1000
 * Jan: 8 leads, won s1 s5 s7 s9; Yandex 5 leads (s1 s2 s5 s8 s9), 3 won,
 * 1130; Google 2 (s3 s6), 0; (none) 1 (s7), 1 won, 0.  Feb: s4.
 */
static void test_sources_revenue_of_won_cohort(void **state)
{
	fixture *f = *state;
	se_report_opts o = default_opts();

	load_script(f, "settings { period = 'month' }\n"
	               "funnel { name = 'sales', stages = { 'Lead', 'Qual', 'Paid' }, lost = 'Lost' }\n");
	import_csv(f, CSV_HEADER
	              "s1-1,s1,2025-01-05T10:00:00Z,Lead,Ann,Yandex,\n"
	              "s1-2,s1,2025-01-06T10:00:00Z,Paid,Ann,,100\n"
	              "s2-1,s2,2025-01-07T10:00:00Z,Lead,Ann,Yandex,50\n"
	              "s3-1,s3,2025-01-08T10:00:00Z,Lead,Ann,Google,70\n"
	              "s3-2,s3,2025-01-09T10:00:00Z,Lost,Ann,,\n"
	              "s4-1,s4,2025-02-03T10:00:00Z,Lead,Ann,Google,150\n"
	              "s4-2,s4,2025-02-10T10:00:00Z,Paid,Ann,,200\n"
	              "s5-1,s5,2025-01-31T12:00:00Z,Lead,Ann,Yandex,\n"
	              "s5-2,s5,2025-02-02T10:00:00Z,Paid,Ann,,30\n"
	              "s6-1,s6,2025-01-05T10:00:00Z,Lead,Ann,,\n"
	              "s6-2,s6,2025-01-06T10:00:00Z,Qual,Ann,Google,\n"
	              "s7-1,s7,2025-01-10T10:00:00Z,Lead,Ann,,\n"
	              "s7-2,s7,2025-01-11T10:00:00Z,Paid,Ann,,\n"
	              "s8-1,s8,2025-01-12T10:00:00Z,Lead,Ann,Yandex,\n"
	              "s8-2,s8,2025-01-13T10:00:00Z,Qual,Ann,Google,\n"
	              "s9-1,s9,2025-01-14T10:00:00Z,Lead,Ann,Yandex,\n"
	              "s9-2,s9,2025-01-15T10:00:00Z,Paid,Ann,,1000\n"
	              "s9-3,s9,2025-01-16T10:00:00Z,Lost,Ann,,\n");
	o.reports = SE_REPORT_SOURCES;
	expect_csv(f, &o,
	           "report,funnel,period,dimension,name,leads,won,conversion_pct,revenue\n"
	           "sources,sales,2025-01,team,*,8,4,50.0,1130.00\n"
	           "sources,sales,2025-01,source,(none),1,1,100.0,0.00\n"
	           "sources,sales,2025-01,source,Google,2,0,0.0,0.00\n"
	           "sources,sales,2025-01,source,Yandex,5,3,60.0,1130.00\n"
	           "sources,sales,2025-02,team,*,1,1,100.0,200.00\n"
	           "sources,sales,2025-02,source,Google,1,1,100.0,200.00\n");
}

/* ---- unknown statuses, several funnels ------------------------------------------------------ */

/*
 *   U1  Lead, Archived, Qual, Archived
 *   U2  Archived, Archived               (no event resolves: unmatched)
 *   U3  Lead, "Call, scheduled" x2
 *   U4  Draft                            (unmatched)
 * Archived: 4 events in 2 deals (U1 first); "Call, scheduled" 2 in U3;
 * Draft 1 in U4.  Leads: U1 and U3 only.
 */
static void test_unknown_statuses(void **state)
{
	fixture *f = *state;
	se_report_opts o = default_opts();

	load_script(f, "funnel { name = 'sales', stages = { 'Lead', 'Qual', 'Paid' } }\n");
	import_csv(f, CSV_HEADER
	              "u1-1,U1,2025-01-01T10:00:00Z,Lead,,,\n"
	              "u1-2,U1,2025-01-02T10:00:00Z,Archived,,,\n"
	              "u1-3,U1,2025-01-03T10:00:00Z,Qual,,,\n"
	              "u1-4,U1,2025-01-04T10:00:00Z,Archived,,,\n"
	              "u2-1,U2,2025-01-01T10:00:00Z,Archived,,,\n"
	              "u2-2,U2,2025-01-02T10:00:00Z, Archived ,,,\n"
	              "u3-1,U3,2025-01-01T10:00:00Z,Lead,,,\n"
	              "u3-2,U3,2025-01-02T10:00:00Z,\"Call, scheduled\",,,\n"
	              "u3-3,U3,2025-01-03T10:00:00Z,\"Call, scheduled\",,,\n"
	              "u4-1,U4,2025-01-01T10:00:00Z,Draft,,,\n");
	o.reports = SE_REPORT_LEADS | SE_REPORT_UNKNOWN;
	expect_csv(f, &o,
	           "report,funnel,period,dimension,name,leads\n"
	           "leads,sales,all,team,*,2\n"
	           "leads,sales,all,manager,(none),2\n"
	           "leads,sales,all,source,(none),2\n"
	           "\n"
	           "report,status,events,deals,example_deal\n"
	           "unknown,Archived,4,2,U1\n"
	           "unknown,\"Call, scheduled\",2,1,U3\n"
	           "unknown,Draft,1,1,U4\n");

	render(f, &o, SE_OUTPUT_JSON);
	expect_json(f, "$.summary.deals", "integer", "4");
	expect_json(f, "$.summary.events", "integer", "10");
	expect_json(f, "$.summary.deals_unmatched", "integer", "2");
	expect_json(f, "$.summary.unknown_events", "integer", "7");
	expect_json(f, "$.unknown[0].status", "text", "Archived");
	expect_json(f, "$.unknown[0].events", "integer", "4");
	expect_json(f, "$.unknown[0].deals", "integer", "2");
	expect_json(f, "$.unknown[0].example_deal", "text", "U1");
	expect_json(f, "$.unknown[1].status", "text", "Call, scheduled");
	expect_json(f, "$.unknown[2].example_deal", "text", "U4");
}

/* Sums of every cell of an int64 grid's field. */
static int64_t grid_total(const se_grid *g, size_t field)
{
	int64_t sum = 0;

	for (int64_t k = g->lo; k < g->lo + g->nb; k++)
		for (size_t c = 0; c < g->width; c++)
			sum += ((const int64_t *)se_grid_at(g, k, c))[field];
	return sum;
}

/*
 * The pass's second thread counts whole chunks into a report of its own
 * and se_aggregate_merge adds it in.  Two reports of the same deals merged
 * must hold every count twice (the cube's too), a pair cell's latest
 * cohort the later of the two, and an unknown status's example the lower
 * deal number, the deal the single pass would have met first.
 */
static void test_merge_adds_two_halves(void **state)
{
	fixture *f = *state;
	se_report_opts o = default_opts();
	se_report *other = NULL;
	se_cube_filter q = { 0, SE_CUBE_ANY, SE_CUBE_ANY, INT64_MIN, INT64_MAX };
	se_funnel_agg *a;
	se_pair_cell *pc = NULL;
	int64_t leads, won, from, to, latest, reached, example, open, amount, no_amount;
	uint32_t archived = 0;
	int lp = -1;

	load_script(f, "funnel { name = 'sales', stages = { 'Lead', 'Qual', 'Paid' }, pairs = { { 'Lead', 'Paid' } } }\n"
	               "metric { name = 'n', value = function(s) return s:reached('Lead') end }\n");
	import_csv(f, CSV_HEADER
	              "m1-1,M1,2025-01-01T10:00:00Z,Lead,Ann,Ads,\n"
	              "m1-2,M1,2025-01-02T10:00:00Z,Archived,Ann,,\n"
	              "m1-3,M1,2025-01-03T10:00:00Z,Paid,Ann,,250\n"
	              "m2-1,M2,2025-02-01T10:00:00Z,Lead,Bob,Web,\n"
	              "m2-2,M2,2025-02-05T10:00:00Z,Archived,Bob,,\n"
	              "m3-1,M3,2025-02-03T10:00:00Z,Qual,Bob,Ads,40\n");
	o.reports = SE_REPORT_LEADS | SE_REPORT_CONVERSION | SE_REPORT_UNKNOWN;
	o.period = SE_PERIOD_MONTH;
	render(f, &o, SE_OUTPUT_CSV);
	assert_int_equal(se_report_build(&other, f->st, f->rules, &o, &f->err), SE_OK);
	assert_non_null(f->rep->cube);
	a = &f->rep->agg[0];
	for (int p = 0; p < f->rules->funnels[0].n_pairs; p++)
		if (f->rules->funnels[0].pairs[p].from == 0 && f->rules->funnels[0].pairs[p].to == 2)
			lp = p;
	assert_true(lp >= 0);
	for (uint32_t s = 0; s < f->rep->n_status; s++)
		if (f->rep->statuses[s] != NULL && strcmp(f->rep->statuses[s], "Archived") == 0)
			archived = s;
	assert_true(archived != 0);
	leads = grid_total(&a->leads_by_manager, 0);
	won = grid_total(&a->sources, 1);
	from = grid_total(&a->pairs[lp], 0);
	to = grid_total(&a->pairs[lp], 1);
	assert_int_equal(leads, 3);
	assert_int_equal(won, 1);
	assert_int_equal(from, 3); /* reached mode: M3 reached Lead by entering at Qual */
	assert_int_equal(to, 1);     /* M1 */
	for (int64_t k = a->pairs[lp].lo; k < a->pairs[lp].lo + a->pairs[lp].nb; k++)
		for (uint32_t m = 0; m < f->rep->n_manager; m++) {
			se_pair_cell *c = se_grid_at(&a->pairs[lp], k, m);

			if (c->from > 0 && (pc == NULL || c->last_cohort > pc->last_cohort))
				pc = c;
		}
	assert_non_null(pc);
	latest = pc->last_cohort;
	assert_int_equal(latest, utc("2025-02-03T10:00:00Z"));
	reached = se_cube_reached(f->rep->cube, &q, SE_MODE_REACHED, 0);
	assert_int_equal(reached, 3);
	se_cube_open(f->rep->cube, &q, -1, 0, &open, &amount, &no_amount);
	assert_int_equal(open, 2);      /* M2 at Lead (Archived is unknown), M3 at Qual */
	assert_int_equal(amount, 4000);
	assert_int_equal(no_amount, 1);
	example = f->rep->unknown[archived].example_deal;
	assert_int_equal(f->rep->unknown[archived].events, 2);
	assert_int_equal(f->rep->unknown[archived].deals, 2);

	/* The other half met its deals first, the later cohort last. */
	f->rep->unknown[archived].example_deal = example + 7;
	pc->last_cohort = latest - 1;
	assert_int_equal(se_aggregate_merge(f->rep, other), SE_OK);
	assert_int_equal(grid_total(&a->leads_by_manager, 0), 2 * leads);
	assert_int_equal(grid_total(&a->leads_by_source, 0), 2 * leads);
	assert_int_equal(grid_total(&a->sources, 1), 2 * won);
	assert_int_equal(grid_total(&a->sources, 2), 2 * 25000);
	assert_int_equal(grid_total(&a->pairs[lp], 0), 2 * from);
	assert_int_equal(grid_total(&a->pairs[lp], 1), 2 * to);
	assert_int_equal(pc->last_cohort, latest);
	assert_int_equal(f->rep->deals, 6);
	assert_int_equal(f->rep->events, 12);
	assert_int_equal(f->rep->unknown_events, 4);
	assert_int_equal(f->rep->unknown[archived].events, 4);
	assert_int_equal(f->rep->unknown[archived].deals, 4);
	assert_int_equal(f->rep->unknown[archived].example_deal, example);
	assert_int_equal(se_cube_reached(f->rep->cube, &q, SE_MODE_REACHED, 0), 2 * reached);
	se_cube_open(f->rep->cube, &q, -1, 0, &open, &amount, &no_amount);
	assert_int_equal(open, 4);
	assert_int_equal(amount, 8000);
	assert_int_equal(no_amount, 2);
	se_report_free(other);
}

/*
 * With every diagnostic, the pass's first thread evaluates some chunks
 * and hands the worker the rest whole (their foundation into the
 * worker's report, merged after); which ones follows the load.  The
 * numbers must not depend on it: all of a multi-chunk store's reports,
 * and the cube, come out the same with every chunk evaluated first,
 * every chunk handed over whole, and the two in turn.
 */
static void test_split_changes_nothing(void **state)
{
	static const char *stages[] = { "Lead", "Qual", "Offer", "Paid", "Lost", "Spam", "Archived" };
	static const char *managers[] = { "Ann", "Bob", "Cid", "Dan", "" };
	static const char *sources[] = { "Ads", "Web", "Call", "" };
	static const int splits[] = { SE_SPLIT_WHOLE, SE_SPLIT_TURNS, SE_SPLIT_LOAD };
	fixture *f = *state;
	se_report_opts o = default_opts();
	se_cube_filter q = { 0, SE_CUBE_ANY, SE_CUBE_ANY, INT64_MIN, INT64_MAX };
	size_t cap = 16u << 20, len = 0;
	char *csv = malloc(cap);
	uint64_t seed = 42;
	int64_t reached, open, amount, no_amount;
	/* 3.5 chunks of deals: every split has chunks on both threads */
	int deals = 3 * (int)SE_CHUNK_DEALS + 2000;

	assert_non_null(csv);
	load_script(f, "settings { timezone = 'UTC' }\n"
	               "funnel { name = 'sales', stages = { 'Lead', 'Qual', { 'Offer', presale = true }, 'Paid' },\n"
	               "  lost = 'Lost', nontarget = 'Spam', pairs = { { 'Lead', 'Offer' }, { 'Qual', 'Paid' } } }\n"
	               "metric { name = 'n', value = function(s) return s:reached('Lead') end }\n");
	len += (size_t)snprintf(csv, cap, CSV_HEADER);
	for (int d = 0; d < deals; d++) {
		int n = 1 + (int)((seed = seed * 6364136223846793005u + 1442695040888963407u) >> 61);
		int64_t t = utc("2025-01-01T00:00:00Z") + (int64_t)((seed >> 20) % (360 * 86400));
		const char *m = managers[(seed >> 40) % 5], *src = sources[(seed >> 45) % 4];

		for (int k = 0; k < n; k++) {
			char ts[32];
			struct tm tm;
			int64_t amt;

			seed = seed * 6364136223846793005u + 1442695040888963407u;
			t += (int64_t)((seed >> 33) % (20 * 86400));
			assert_non_null(gmtime_r(&(time_t){ (time_t)t }, &tm));
			strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
			/* some negative: refunds (sums of kopecks are 128-bit) */
			amt = (seed >> 50) % 3 == 0 ? (int64_t)((seed >> 20) % 100000) - 20000 : INT64_MIN;
			len += (size_t)snprintf(csv + len, cap - len, "e%d-%d,D%d,%s,%s,%s,%s,", d, k, d, ts,
			                        stages[(seed >> 56) % 7], m, src);
			if (amt != INT64_MIN)
				len += (size_t)snprintf(csv + len, cap - len, "%lld", (long long)amt);
			csv[len++] = '\n';
			assert_true(len + 256 < cap);
		}
	}
	csv[len] = '\0';
	import_csv(f, csv);
	free(csv);
	o.recount = 1;
	o.period = SE_PERIOD_MONTH;
	/* every report, and a mix without the forecasts (with the script's
	 * metric, what metrics may read is counted too) */
	for (int r = 0; r < 2; r++) {
		o.reports = r == 0 ? SE_REPORT_ALL : SE_REPORT_LEADS | SE_REPORT_HANDLING;
		/* every chunk evaluated by the first thread: the reference */
		se_report_free(f->rep);
		f->rep = NULL;
		assert_int_equal(se_report_build_split(&f->rep, f->st, f->rules, &o, SE_SPLIT_KEPT, &f->err), SE_OK);
		assert_int_equal(f->rep->deals, deals);
		free(f->saved[0]);
		f->saved[0] = write_text(f->rep, SE_OUTPUT_CSV);
		reached = se_cube_reached(f->rep->cube, &q, SE_MODE_REACHED, 0);
		se_cube_open(f->rep->cube, &q, -1, 0, &open, &amount, &no_amount);
		assert_true(reached > 0 && open > 0);
		for (size_t i = 0; i < sizeof splits / sizeof splits[0]; i++) {
			int64_t o2, a2, n2;

			se_report_free(f->rep);
			f->rep = NULL;
			assert_int_equal(se_report_build_split(&f->rep, f->st, f->rules, &o, splits[i], &f->err), SE_OK);
			free(f->out);
			f->out = write_text(f->rep, SE_OUTPUT_CSV);
			expect_text(f->out, f->saved[0]);
			assert_int_equal(se_cube_reached(f->rep->cube, &q, SE_MODE_REACHED, 0), reached);
			se_cube_open(f->rep->cube, &q, -1, 0, &o2, &a2, &n2);
			assert_int_equal(o2, open);
			assert_int_equal(a2, amount);
			assert_int_equal(n2, no_amount);
		}
	}

	/* The foundation reports through the per-chunk counts a run keeps
	 * (the first run keeps them, the second reads them back): the same
	 * as counted afresh, the amounts' sums too. */
	o.reports = SE_REPORT_LEADS | SE_REPORT_CONVERSION | SE_REPORT_PRESALE | SE_REPORT_SOURCES;
	free(f->saved[1]);
	f->saved[1] = strdup(render(f, &o, SE_OUTPUT_CSV));
	o.recount = 0;
	expect_text(render(f, &o, SE_OUTPUT_CSV), f->saved[1]);
	expect_text(render(f, &o, SE_OUTPUT_CSV), f->saved[1]);
}

static const char two_funnels_script[] =
	"funnel { name = 'sales', stages = { 'Lead', 'Qual', 'Paid' }, lost = 'Lost' }\n"
	"funnel { name = 'support', stages = { 'Ticket', 'Solved' } }\n";

/*
 *   S1 Ann  Lead, Qual, Ticket    sales; Ticket unknown in sales
 *   T1 Bob  Ticket, Lead, Solved  support; Lead unknown in support
 *   T2 Bob  Ticket                support
 */
static const char two_funnels_csv[] =
	CSV_HEADER
	"s1-1,S1,2025-01-05T10:00:00Z,Lead,Ann,,\n"
	"s1-2,S1,2025-01-06T10:00:00Z,Qual,Ann,,\n"
	"s1-3,S1,2025-01-07T10:00:00Z,Ticket,Ann,,\n"
	"t1-1,T1,2025-01-05T10:00:00Z,Ticket,Bob,,\n"
	"t1-2,T1,2025-01-06T10:00:00Z,Lead,Bob,,\n"
	"t1-3,T1,2025-01-07T10:00:00Z,Solved,Bob,,\n"
	"t2-1,T2,2025-01-08T10:00:00Z,Ticket,Bob,,\n";

#define SUPPORT_LEADS                                 \
	"leads,support,all,team,*,2\n"                    \
	"leads,support,all,manager,Bob,2\n"               \
	"leads,support,all,source,(none),2\n"

#define SUPPORT_CONVERSION                                                                         \
	"conversion,support,Ticket -> Solved,reached,all,team,*,Ticket,Solved,2,1,50.0,0\n"            \
	"conversion,support,Ticket -> Solved,reached,all,manager,Bob,Ticket,Solved,2,1,50.0,0\n"

#define TWO_FUNNELS_UNKNOWN                  \
	"report,status,events,deals,example_deal\n" \
	"unknown,Lead,1,1,T1\n"                  \
	"unknown,Ticket,1,1,S1\n"

static void test_two_funnels_in_script_order(void **state)
{
	fixture *f = *state;
	se_report_opts o = default_opts();

	load_script(f, two_funnels_script);
	import_csv(f, two_funnels_csv);
	o.reports = SE_REPORT_LEADS | SE_REPORT_CONVERSION | SE_REPORT_UNKNOWN;
	expect_csv(f, &o,
	           "report,funnel,period,dimension,name,leads\n"
	           "leads,sales,all,team,*,1\n"
	           "leads,sales,all,manager,Ann,1\n"
	           "leads,sales,all,source,(none),1\n"
	           SUPPORT_LEADS
	           "\n"
	           "report,funnel,pair,mode,period,dimension,name,from_stage,to_stage,reached_from,reached_to,conversion_pct,window_open\n"
	           "conversion,sales,Lead -> Qual,reached,all,team,*,Lead,Qual,1,1,100.0,0\n"
	           "conversion,sales,Lead -> Qual,reached,all,manager,Ann,Lead,Qual,1,1,100.0,0\n"
	           "conversion,sales,Qual -> Paid,reached,all,team,*,Qual,Paid,1,0,0.0,0\n"
	           "conversion,sales,Qual -> Paid,reached,all,manager,Ann,Qual,Paid,1,0,0.0,0\n"
	           SUPPORT_CONVERSION
	           "\n"
	           TWO_FUNNELS_UNKNOWN);
}

/* The text of every cell of a block, row after row, for comparing two
 * builds of it. */
static char *block_text(const se_block *b)
{
	char *text = NULL, buf[64];
	size_t len = 0;
	FILE *mem = open_memstream(&text, &len);

	assert_non_null(mem);
	fprintf(mem, "%s/%d/%d/%zu:", b->desc->name, b->funnel, b->pair, b->rows);
	for (size_t r = 0; r < b->rows; r++)
		for (int c = 0; c < b->ncols; c++)
			fprintf(mem, "%s|", se_cell_text(&b->cols[c], &b->cells[r * (size_t)b->ncols + c], buf,
			                                 sizeof buf, 0));
	assert_int_equal(fclose(mem), 0);
	return text;
}

/*
 * The streaming writers read a lazy set, built one report and funnel at a
 * time: it must give the very blocks, in the same order, that building
 * every report at once gives; and a report picked out of it (JSON's way)
 * only that report's blocks of that funnel, none for a report the set
 * leaves out.
 */
static void test_lazy_blocks_as_built_whole(void **state)
{
	fixture *f = *state;
	se_report_opts o = default_opts();
	se_blocks whole = { 0 }, lazy;
	se_block_iter it = SE_BLOCK_ITER_INIT;
	const se_block *b;
	size_t n = 0;
	const se_report_desc *conv = NULL, *sources = NULL;

	load_script(f, two_funnels_script);
	import_csv(f, two_funnels_csv);
	o.reports = SE_REPORT_LEADS | SE_REPORT_CONVERSION | SE_REPORT_UNKNOWN | SE_REPORT_SOURCES;
	render(f, &o, SE_OUTPUT_CSV);
	assert_int_equal(se_blocks_build_mask(f->rep, SE_REPORT_CONVERSION | SE_REPORT_UNKNOWN | SE_REPORT_LEADS, &whole),
	                 SE_OK);
	se_blocks_lazy(&lazy, f->rep, SE_REPORT_CONVERSION | SE_REPORT_UNKNOWN | SE_REPORT_LEADS);
	while ((b = se_blocks_next(&lazy, &it)) != NULL) {
		char *got = block_text(b), *want;

		assert_true(n < whole.n);
		want = block_text(&whole.v[n++]);
		assert_string_equal(got, want);
		free(got);
		free(want);
	}
	assert_false(lazy.failed);
	assert_int_equal(n, whole.n);
	assert_true(n > 4); /* leads and pairs of two funnels, unknown */

	for (size_t k = 0; k < se_n_report_descs; k++) {
		if (se_report_descs[k].flag == SE_REPORT_CONVERSION)
			conv = &se_report_descs[k];
		if (se_report_descs[k].flag == SE_REPORT_SOURCES)
			sources = &se_report_descs[k]; /* in the report, not in the set */
	}
	assert_non_null(conv);
	assert_non_null(sources);
	assert_int_equal(se_blocks_select(&lazy, conv, 1), SE_OK);
	assert_int_equal(lazy.n, 1); /* support's one pair */
	assert_ptr_equal(lazy.v[0].desc, conv);
	assert_int_equal(lazy.v[0].funnel, 1);
	assert_int_equal(lazy.v[0].rows, 2);
	assert_int_equal(se_blocks_select(&lazy, sources, 0), SE_OK);
	assert_int_equal(lazy.n, 0);
	se_blocks_free(&lazy);
	se_blocks_free(&whole);
}

static void test_only_funnel(void **state)
{
	fixture *f = *state;
	se_report_opts o = default_opts();

	load_script(f, two_funnels_script);
	import_csv(f, two_funnels_csv);
	o.reports = SE_REPORT_LEADS | SE_REPORT_CONVERSION | SE_REPORT_UNKNOWN;
	o.funnel = "support";
	expect_csv(f, &o,
	           "report,funnel,period,dimension,name,leads\n"
	           SUPPORT_LEADS
	           "\n"
	           "report,funnel,pair,mode,period,dimension,name,from_stage,to_stage,reached_from,reached_to,conversion_pct,window_open\n"
	           SUPPORT_CONVERSION
	           "\n"
	           TWO_FUNNELS_UNKNOWN);

	render(f, &o, SE_OUTPUT_JSON);
	expect_json(f, "$.funnels[0].name", "text", "support");
	expect_json_missing(f, "$.funnels[1]");

	o.funnel = "nope";
	expect_build_error(f, &o, SE_EUSAGE, "--funnel: the script has no funnel named 'nope'");
	o.funnel = "Sales"; /* names are case-sensitive */
	expect_build_error(f, &o, SE_EUSAGE, "--funnel: the script has no funnel named 'Sales'");
}

/* An event whose status its deal's funnel knows, but whose pipeline that
 * funnel does not list, does not resolve, so it is counted under unknown
 * statuses (METRICS.md 4e) rather than silently dropped.
 *   b2b (pipelines = {B2B}): Lead, Paid;  retail: Lead, Paid.
 *   P1: Lead (pipeline B2B), then Paid (pipeline Retail). */
static void test_pipeline_mismatch_is_an_unknown_status(void **state)
{
	fixture *f = *state;
	se_report_opts o = default_opts();

	load_script(f, "funnel { name = 'b2b', stages = { 'Lead', 'Paid' }, pipelines = { 'B2B' } }\n"
	               "funnel { name = 'retail', stages = { 'Lead', 'Paid' } }\n");
	import_csv(f, "event_id,deal_id,ts,stage,pipeline\n"
	              "p1-1,P1,2025-01-05T10:00:00Z,Lead,B2B\n"
	              "p1-2,P1,2025-01-06T10:00:00Z,Paid,Retail\n");
	o.reports = SE_REPORT_UNKNOWN;
	expect_csv(f, &o, "report,status,events,deals,example_deal\n"
	                  "unknown,Paid,1,1,P1\n");
}

/* Pipelines through the store: a deal in a pipeline b2b does not list goes
 * to retail; one without a pipeline, to the first funnel. */
static void test_pipelines_choose_the_funnel(void **state)
{
	fixture *f = *state;
	se_report_opts o = default_opts();

	load_script(f, "funnel { name = 'b2b', stages = { 'Lead', 'Paid' }, pipelines = { 'B2B' } }\n"
	               "funnel { name = 'retail', stages = { 'Lead', 'Paid' } }\n");
	import_csv(f, "event_id,deal_id,ts,stage,manager,pipeline\n"
	              "p1-1,P1,2025-01-05T10:00:00Z,Lead,Ann,B2B\n"
	              "p2-1,P2,2025-01-05T10:00:00Z,Lead,Bob,Retail\n"
	              "p2-2,P2,2025-01-06T10:00:00Z,Paid,Bob,Retail\n"
	              "p3-1,P3,2025-01-05T10:00:00Z,Lead,Carl,\n");
	o.reports = SE_REPORT_CONVERSION;
	expect_csv(f, &o,
	           "report,funnel,pair,mode,period,dimension,name,from_stage,to_stage,reached_from,reached_to,conversion_pct,window_open\n"
	           "conversion,b2b,Lead -> Paid,reached,all,team,*,Lead,Paid,2,0,0.0,0\n"
	           "conversion,b2b,Lead -> Paid,reached,all,manager,Ann,Lead,Paid,1,0,0.0,0\n"
	           "conversion,b2b,Lead -> Paid,reached,all,manager,Carl,Lead,Paid,1,0,0.0,0\n"
	           "conversion,retail,Lead -> Paid,reached,all,team,*,Lead,Paid,1,1,100.0,0\n"
	           "conversion,retail,Lead -> Paid,reached,all,manager,Bob,Lead,Paid,1,1,100.0,0\n");
}

/* The CSV `pair` column is "FROM -> TO" (docs/OUTPUT.md).  Regression: it
 * used to be read from a buffer on build_conversion()'s stack after that
 * function returned, and printed garbage ("P6L", "@6L"); ASan with
 * detect_stack_use_after_return=1 reported it in write_csv_field. */
static void test_conversion_pair_column(void **state)
{
	fixture *f = *state;
	se_report_opts o = default_opts();

	load_script(f, "funnel { name = 'sales', stages = { 'Lead', 'Qual' } }\n");
	import_csv(f, CSV_HEADER
	              "e1,D1,2025-01-05T10:00:00Z,Lead,,,\n"
	              "e2,D1,2025-01-06T10:00:00Z,Qual,,,\n");
	o.reports = SE_REPORT_CONVERSION;
	expect_csv(f, &o,
	           "report,funnel,pair,mode,period,dimension,name,from_stage,to_stage,reached_from,reached_to,conversion_pct,window_open\n"
	           "conversion,sales,Lead -> Qual,reached,all,team,*,Lead,Qual,1,1,100.0,0\n"
	           "conversion,sales,Lead -> Qual,reached,all,manager,(none),Lead,Qual,1,1,100.0,0\n");
}

/* METRICS.md 2 defines "a deal that reached the won stage is won"; 4c's
 * win rate is "of the manager's closed deals ... the share that were won".
 * A deal that was paid and then lost is closed and was won, so it counts
 * as won (tests/bench/reference.sql reads it the same way).
 *   c1 Ann  Lead, Offer, Paid, Lost    closed, reached Paid: won
 *   c2 Ann  Lead, Offer, Lost          closed, not won
 *   o1 Ann  Lead, Offer (100)          open at Offer
 * Ann's rate from Offer: 1 of 2 = 50%, forecast 50.00. */
static void test_presale_rate_counts_deals_that_reached_won(void **state)
{
	fixture *f = *state;
	se_report_opts o = default_opts();

	load_script(f, "funnel {\n"
	               "  name = 'sales', stages = { 'Lead', { 'Offer', presale = true }, 'Paid' },\n"
	               "  lost = 'Lost',\n"
	               "}\n");
	import_csv(f, CSV_HEADER
	              "c1-1,c1,2025-01-01T10:00:00Z,Lead,Ann,,\n"
	              "c1-2,c1,2025-01-02T10:00:00Z,Offer,Ann,,\n"
	              "c1-3,c1,2025-01-03T10:00:00Z,Paid,Ann,,\n"
	              "c1-4,c1,2025-01-04T10:00:00Z,Lost,Ann,,\n"
	              "c2-1,c2,2025-01-01T10:00:00Z,Lead,Ann,,\n"
	              "c2-2,c2,2025-01-02T10:00:00Z,Offer,Ann,,\n"
	              "c2-3,c2,2025-01-03T10:00:00Z,Lost,Ann,,\n"
	              "o1-1,o1,2025-01-01T10:00:00Z,Lead,Ann,,\n"
	              "o1-2,o1,2025-01-02T10:00:00Z,Offer,Ann,,100\n");
	o.reports = SE_REPORT_PRESALE | SE_REPORT_SOURCES;
	/* sources: 3 leads, c1 won (it reached Paid): both readings agree. */
	expect_csv(f, &o,
	           "report,funnel,stage,dimension,name,deals,amount,win_rate_pct,win_rate_basis,forecast,no_amount\n"
	           "presale,sales,Offer,team,*,1,100.00,50.0,manager,50.00,0\n"
	           "presale,sales,Offer,manager,Ann,1,100.00,50.0,manager,50.00,0\n"
	           "presale,sales,*,team,*,1,100.00,50.0,manager,50.00,0\n"
	           "presale,sales,*,manager,Ann,1,100.00,50.0,manager,50.00,0\n"
	           "\n"
	           "report,funnel,period,dimension,name,leads,won,conversion_pct,revenue\n"
	           "sources,sales,all,team,*,3,1,33.3,0.00\n"
	           "sources,sales,all,source,(none),3,1,33.3,0.00\n");
}

/* Local days follow daylight saving time (Europe/Berlin, CET/CEST):
 *   b1 2025-03-29 23:30Z = Mar 30 00:30 CET   -> 2025-03-30
 *   b2 2025-03-30 21:30Z = Mar 30 23:30 CEST  -> 2025-03-30
 *   b3 2025-03-30 22:30Z = Mar 31 00:30 CEST  -> 2025-03-31
 *   b4 2025-10-25 22:30Z = Oct 26 00:30 CEST  -> 2025-10-26
 *   b5 2025-10-26 22:30Z = Oct 26 23:30 CET   -> 2025-10-26
 * --from 2025-03-31 starts at 2025-03-30 22:00Z, --to 2025-10-26 ends at
 * 2025-10-26 23:00Z: b3, b4, b5. */
static void test_day_buckets_across_dst(void **state)
{
	fixture *f = *state;
	se_report_opts o = default_opts();

	load_script(f, "settings { timezone = 'Europe/Berlin', period = 'day' }\n"
	               "funnel { name = 'sales', stages = { 'Lead', 'Paid' } }\n");
	import_csv(f, CSV_HEADER
	              "b1,B1,2025-03-29T23:30:00Z,Lead,Ann,,\n"
	              "b2,B2,2025-03-30T21:30:00Z,Lead,Ann,,\n"
	              "b3,B3,2025-03-30T22:30:00Z,Lead,Ann,,\n"
	              "b4,B4,2025-10-25T22:30:00Z,Lead,Ann,,\n"
	              "b5,B5,2025-10-26T22:30:00Z,Lead,Ann,,\n");
	o.reports = SE_REPORT_LEADS;
	expect_csv(f, &o,
	           "report,funnel,period,dimension,name,leads\n"
	           "leads,sales,2025-03-30,team,*,2\n"
	           "leads,sales,2025-03-30,manager,Ann,2\n"
	           "leads,sales,2025-03-30,source,(none),2\n"
	           "leads,sales,2025-03-31,team,*,1\n"
	           "leads,sales,2025-03-31,manager,Ann,1\n"
	           "leads,sales,2025-03-31,source,(none),1\n"
	           "leads,sales,2025-10-26,team,*,2\n"
	           "leads,sales,2025-10-26,manager,Ann,2\n"
	           "leads,sales,2025-10-26,source,(none),2\n");
	o.period = SE_PERIOD_TOTAL;
	o.from = "2025-03-31";
	o.to = "2025-10-26";
	expect_csv(f, &o,
	           "report,funnel,period,dimension,name,leads\n"
	           "leads,sales,2025-03-31..2025-10-26,team,*,3\n"
	           "leads,sales,2025-03-31..2025-10-26,manager,Ann,3\n"
	           "leads,sales,2025-03-31..2025-10-26,source,(none),3\n");
}

/* More deals than one history chunk holds (4096), and a second import that
 * adds events to a deal in each chunk: both chunks are repacked.
 *   D00001..D04200 Lead, managers M0, M1, M2 in turn (1400 each);
 *   then Qual for D00001 (M0) and D04200 (M2).
 * Lead -> Qual: 2 of 4200 = 0.05% -> 0.0; per manager 1 of 1400 = 0.07%. */
static void test_many_deals_across_chunks(void **state)
{
	fixture *f = *state;
	se_report_opts o = default_opts();
	size_t cap = 64 + 4200 * 64, len = 0;
	char *csv = malloc(cap);

	assert_non_null(csv);
	len += (size_t)snprintf(csv + len, cap - len, CSV_HEADER);
	for (int i = 0; i < 4200; i++)
		len += (size_t)snprintf(csv + len, cap - len, "l%d,D%05d,2025-01-05T10:00:00Z,Lead,M%d,,\n", i,
		                        i + 1, i % 3);
	load_script(f, "funnel { name = 'sales', stages = { 'Lead', 'Qual', 'Paid' } }\n");
	import_csv(f, csv);
	free(csv);
	assert_int_equal(f->stats.imported, 4200);
	o.reports = SE_REPORT_LEADS | SE_REPORT_CONVERSION;
	render(f, &o, SE_OUTPUT_CSV); /* builds the cache */
	import_csv(f, CSV_HEADER
	              "q1,D00001,2025-01-06T10:00:00Z,Qual,,,\n"
	              "q2,D04200,2025-01-06T10:00:00Z,Qual,,,\n");
	expect_csv(f, &o,
	           "report,funnel,period,dimension,name,leads\n"
	           "leads,sales,all,team,*,4200\n"
	           "leads,sales,all,manager,M0,1400\n"
	           "leads,sales,all,manager,M1,1400\n"
	           "leads,sales,all,manager,M2,1400\n"
	           "leads,sales,all,source,(none),4200\n"
	           "\n"
	           "report,funnel,pair,mode,period,dimension,name,from_stage,to_stage,reached_from,reached_to,conversion_pct,window_open\n"
	           "conversion,sales,Lead -> Qual,reached,all,team,*,Lead,Qual,4200,2,0.0,0\n"
	           "conversion,sales,Lead -> Qual,reached,all,manager,M0,Lead,Qual,1400,1,0.1,0\n"
	           "conversion,sales,Lead -> Qual,reached,all,manager,M1,Lead,Qual,1400,0,0.0,0\n"
	           "conversion,sales,Lead -> Qual,reached,all,manager,M2,Lead,Qual,1400,1,0.1,0\n"
	           "conversion,sales,Qual -> Paid,reached,all,team,*,Qual,Paid,2,0,0.0,0\n"
	           "conversion,sales,Qual -> Paid,reached,all,manager,M0,Qual,Paid,1,0,0.0,0\n"
	           "conversion,sales,Qual -> Paid,reached,all,manager,M2,Qual,Paid,1,0,0.0,0\n");
	render(f, &o, SE_OUTPUT_JSON);
	expect_json(f, "$.summary.deals", "integer", "4200");
	expect_json(f, "$.summary.events", "integer", "4202");
}

/* The backtest's time-aware forecast sees the same open deals as its
 * stage forecast at every cut.  Enough deals (over THREAD_MIN_SPELLS
 * spells) for the estimates to run on two threads, each cut's stages
 * split between them: every half's open deals must count, once. */
static void test_backtest_time_deals_each_cut(void **state)
{
	fixture *f = *state;
	se_report_opts o = default_opts();
	size_t cap = 64 + 3000 * 4 * 72, len = 0;
	char *csv = malloc(cap);
	int64_t day0 = utc("2024-01-01T09:00:00Z");

	assert_non_null(csv);
	len += (size_t)snprintf(csv + len, cap - len, CSV_HEADER);
	for (int i = 0; i < 3000; i++) {
		int64_t t = day0 + (int64_t)(i % 700) * 86400 + i;
		const char *stage[] = { "Lead", "Offer", "Invoice", i % 3 == 0 ? "Paid" : "Lost" };
		/* a third stop at Offer, a sixth at Invoice: open at the cuts after */
		int steps = i % 6 == 1 ? 2 : i % 6 == 2 ? 3 : 4;

		for (int k = 0; k < steps; k++) {
			char ts[32];

			se_time_format_utc(t + (int64_t)k * (5 + i % 40) * 86400, ts, sizeof ts);
			len += (size_t)snprintf(csv + len, cap - len, "e%d-%d,D%05d,%s,%s,M%d,,%d\n", i, k, i, ts,
			                        stage[k], i % 4, 100 + i % 50);
		}
	}
	load_script(f, presale_script);
	import_csv(f, csv);
	free(csv);
	o.reports = SE_REPORT_BACKTEST;
	render(f, &o, SE_OUTPUT_CSV);
	assert_int_equal(f->rep->agg[0].in.n_cuts, SE_BACKTEST_CUTS);
	for (int c = 0; c < SE_BACKTEST_CUTS; c++) {
		se_backtest b;

		assert_int_equal(se_report_backtest(f->rep, 0, c, &b), SE_OK);
		assert_true(b.deals > 0);
		assert_int_equal(b.time_deals, b.deals);
	}
}

/* No events at all: every block is its header alone. */
static void test_empty_store(void **state)
{
	fixture *f = *state;
	se_report_opts o = default_opts();

	load_script(f, sales_script);
	expect_csv(f, &o,
	           "report,funnel,period,dimension,name,leads\n"
	           "\n"
	           "report,funnel,pair,mode,period,dimension,name,from_stage,to_stage,reached_from,reached_to,conversion_pct,window_open\n"
	           "\n"
	           "report,funnel,stage,dimension,name,deals,amount,win_rate_pct,win_rate_basis,forecast,no_amount\n"
	           "\n"
	           "report,funnel,period,dimension,name,leads,won,conversion_pct,revenue\n"
	           "\n"
	           "report,status,events,deals,example_deal\n");
	render(f, &o, SE_OUTPUT_JSON);
	expect_json(f, "$.summary.deals", "integer", "0");
	expect_json(f, "$.summary.events", "integer", "0");
	expect_json(f, "$.funnels[0].leads", "array", "[]");
	expect_json(f, "$.funnels[0].conversion[3].rows", "array", "[]");
	expect_json(f, "$.unknown", "array", "[]");
}

/* ---- repeatability and JSON --------------------------------------------------------------- */

static void test_reimport_is_byte_identical(void **state)
{
	fixture *f = *state;
	se_report_opts o = default_opts();

	load_script(f, sales_script);
	import_csv(f, five_deals_csv);
	f->saved[0] = strdup(render(f, &o, SE_OUTPUT_CSV));
	f->saved[1] = strdup(render(f, &o, SE_OUTPUT_JSON));
	assert_non_null(f->saved[0]);
	assert_non_null(f->saved[1]);

	import_csv(f, five_deals_csv);
	assert_int_equal(f->stats.read, 11);
	assert_int_equal(f->stats.imported, 0);
	assert_int_equal(f->stats.duplicates, 11);
	expect_text(render(f, &o, SE_OUTPUT_CSV), f->saved[0]);
	expect_text(render(f, &o, SE_OUTPUT_JSON), f->saved[1]);
	expect_text(f->saved[0], five_deals_reached);

	/* A store reopened from disk, read-only, gives the same report too. */
	se_report_free(f->rep);
	f->rep = NULL;
	se_store_close(f->st);
	f->st = NULL;
	assert_int_equal(se_store_open(&f->st, f->db_path, SE_STORE_READONLY, &f->err), SE_OK);
	expect_text(render(f, &o, SE_OUTPUT_CSV), f->saved[0]);
}

/* Importing in two parts, a deal's events split across them, is the same
 * as importing it all at once: the history cache is repacked. */
static void test_incremental_import(void **state)
{
	fixture *f = *state;
	se_report_opts o = default_opts();
	static const char part1[] =
		CSV_HEADER
		"d1-1,D1,2025-01-10T10:00:00Z,Lead,Ann,Yandex,\n"
		"d2-1,D2,2025-01-10T11:00:00Z,Lead,Ann,Google,\n"
		"d3-1,D3,2025-01-11T09:00:00Z,Spam,Ann,,\n"
		"d1-3,D1,2025-01-12T10:00:00Z,Offer,Ann,,\n";

	load_script(f, sales_script);
	import_csv(f, part1);
	render(f, &o, SE_OUTPUT_CSV);
	import_csv(f, five_deals_csv); /* the rest, and part1 again */
	assert_int_equal(f->stats.imported, 7);
	assert_int_equal(f->stats.duplicates, 4);
	expect_csv(f, &o, five_deals_reached);
}

static void test_json_output(void **state)
{
	fixture *f = *state;
	se_report_opts o = default_opts();
	const char *json;

	load_script(f, sales_script);
	import_csv(f, five_deals_csv);
	json = render(f, &o, SE_OUTPUT_JSON);
	assert_non_null(strstr(json, "\"salesengine\": \"0.1.0\""));
	assert_non_null(strstr(json, "\"as_of\": \"2026-01-01T00:00:00Z\""));
	assert_non_null(strstr(json, "\"reached_from\": 5, \"reached_to\": 4, \"rate\": 0.8"));
	assert_non_null(strstr(json, "\"window_open\": false"));
	expect_json(f, "$.salesengine", "text", "0.1.0");
	expect_json(f, "$.timezone", "text", "UTC");
	expect_json(f, "$.period", "text", "total");
	expect_json(f, "$.from", "null", NULL);
	expect_json(f, "$.to", "null", NULL);
	expect_json(f, "$.summary.deals", "integer", "5");
	expect_json(f, "$.summary.events", "integer", "11");
	expect_json(f, "$.summary.deals_unmatched", "integer", "0");
	expect_json(f, "$.summary.unknown_events", "integer", "0");
	expect_json(f, "$.funnels[0].name", "text", "sales");
	expect_json(f, "$.funnels[0].stages", "array", "[\"Lead\",\"Qual\",\"Offer\",\"Paid\"]");
	expect_json(f, "$.funnels[0].leads[0].period", "text", "all");
	expect_json(f, "$.funnels[0].leads[0].dimension", "text", "team");
	expect_json(f, "$.funnels[0].leads[0].name", "text", "*");
	expect_json(f, "$.funnels[0].leads[0].leads", "integer", "5");
	expect_json(f, "$.funnels[0].leads[6].dimension", "text", "source");
	expect_json(f, "$.funnels[0].leads[6].name", "text", "Yandex");
	expect_json(f, "$.funnels[0].conversion[0].mode", "text", "reached");
	expect_json(f, "$.funnels[0].conversion[0].rows[0].reached_from", "integer", "5");
	expect_json(f, "$.funnels[0].conversion[0].rows[0].reached_to", "integer", "4");
	expect_json(f, "$.funnels[0].conversion[0].rows[0].rate", "real", "0.8");
	expect_json(f, "$.funnels[0].conversion[3].from", "text", "Lead");
	expect_json(f, "$.funnels[0].conversion[3].to", "text", "Paid");
	expect_json(f, "$.funnels[0].conversion[3].rows[2].name", "text", "Ann");
	expect_json(f, "$.funnels[0].conversion[3].rows[2].rate", "real", "0.5");
	expect_json(f, "$.funnels[0].conversion[2].rows[2].rate", "integer", "0");
	expect_json(f, "$.funnels[0].presale", "array", "[]");
	expect_json(f, "$.funnels[0].sources[0].leads", "integer", "5");
	expect_json(f, "$.funnels[0].sources[0].won", "integer", "1");
	expect_json(f, "$.funnels[0].sources[0].rate", "real", "0.2");
	expect_json(f, "$.funnels[0].sources[0].revenue", "real", "100.0");
	expect_json(f, "$.unknown", "array", "[]");

	/* The table carries the same numbers (a smoke check of the format). */
	json = render(f, &o, SE_OUTPUT_TABLE);
	assert_non_null(strstr(json, "salesengine 0.1.0: 5 deals, 11 events; period total; zone UTC; as of 2026-01-01T00:00:00Z\n"));
	assert_non_null(strstr(json, "== sales: conversion Lead -> Paid (reached) ==\n"));
	assert_non_null(strstr(json, "== sales: pre-sale deals now, with forecast ==\n(no data)\n"));

	/* from / to as given. */
	o.from = "2025-01-01";
	o.to = "2025-01-31";
	render(f, &o, SE_OUTPUT_JSON);
	expect_json(f, "$.from", "text", "2025-01-01");
	expect_json(f, "$.to", "text", "2025-01-31");
	expect_json(f, "$.funnels[0].leads[0].period", "text", "2025-01-01..2025-01-31");
}


/* ---- diagnostic reports (docs/METRICS.md 4f-4j) --------------------------------- */

/* Lead handling and velocity of the five deals (reached, total, default
 * SLA 24 h, stale multiple 3, as of 2026-01-01).
 *
 * First moves: D1 Lead -> Qual after 24 h (taken); D2 Lead -> Offer after
 * 48 h (taken, Bob); D3's lead event is Spam itself (non-target, 0 h); D4
 * New -> Qual 24 h (taken, no manager); D5's lead event is Qual (taken, 0 h).
 * Team {0, 0, 24, 24, 48}: median rank ceil(2.5) = 3 -> 24 h, p90 rank
 * ceil(4.5) = 5 -> 48 h.  Ann {0, 24}: 0 and 24 (rank 1, rank 2).
 *
 * Stays: Lead: D1 24 h (Ann), D2 48 h (Bob), D4 24 h; Qual: D1 24 h, D4 and
 * D5 are still there (open, not counted as stays); Offer: D1 24 h, D2 48 h.
 * Stale: Qual's median is 24 h, D4 and D5 have been there since January:
 * both stale; D4 (since 01-16 09:00) 8391 h, D5 8367 h.  Time to won: D1,
 * 72 h. */
static void test_handling_and_velocity(void **state)
{
	fixture *f = *state;
	se_report_opts o = default_opts();

	import_csv(f, five_deals_csv);
	load_script(f, sales_script);
	o.reports = SE_REPORT_HANDLING | SE_REPORT_VELOCITY;
	expect_csv(f, &o,
	           "report,funnel,period,dimension,name,leads,taken,released,nontarget,unprocessed,waiting,"
	           "first_move_median_h,first_move_p90_h\n"
	           "handling,sales,all,team,*,5,4,0,1,0,0,24.0,48.0\n"
	           "handling,sales,all,manager,(none),1,1,0,0,0,0,24.0,24.0\n"
	           "handling,sales,all,manager,Ann,2,1,0,1,0,0,0.0,24.0\n"
	           "handling,sales,all,manager,Bob,2,2,0,0,0,0,0.0,48.0\n"
	           "handling,sales,all,source,(none),1,0,0,1,0,0,0.0,0.0\n"
	           "handling,sales,all,source,Google,2,2,0,0,0,0,0.0,48.0\n"
	           "handling,sales,all,source,Yandex,2,2,0,0,0,0,24.0,24.0\n"
	           "\n"
	           "report,funnel,stage,dimension,name,deals,stay_median_h,stay_p90_h,total_median_h,"
	           "total_p90_h,open,stale\n"
	           "velocity,sales,Lead,team,*,3,24.0,48.0,24.0,48.0,0,0\n"
	           "velocity,sales,Lead,manager,(none),1,24.0,24.0,24.0,24.0,0,0\n"
	           "velocity,sales,Lead,manager,Ann,1,24.0,24.0,24.0,24.0,0,0\n"
	           "velocity,sales,Lead,manager,Bob,1,48.0,48.0,48.0,48.0,0,0\n"
	           "velocity,sales,Qual,team,*,1,24.0,24.0,24.0,24.0,2,2\n"
	           "velocity,sales,Qual,manager,(none),0,,,,,1,1\n"
	           "velocity,sales,Qual,manager,Ann,1,24.0,24.0,24.0,24.0,0,0\n"
	           "velocity,sales,Qual,manager,Bob,0,,,,,1,1\n"
	           "velocity,sales,Offer,team,*,2,24.0,48.0,24.0,48.0,0,0\n"
	           "velocity,sales,Offer,manager,Ann,1,24.0,24.0,24.0,24.0,0,0\n"
	           "velocity,sales,Offer,manager,Bob,1,48.0,48.0,48.0,48.0,0,0\n"
	           "\n"
	           "report,funnel,dimension,name,won,median_h,p90_h\n"
	           "time_to_won,sales,team,*,1,72.0,72.0\n"
	           "time_to_won,sales,manager,Ann,1,72.0,72.0\n"
	           "\n"
	           "report,funnel,deal,stage,manager,age_h,stage_median_h,ratio\n"
	           "stale,sales,D4,Qual,(none),8391.0,24.0,349.62\n"
	           "stale,sales,D5,Qual,Bob,8367.0,24.0,348.62\n");
}

/* The SLA decides unprocessed against waiting (sla = "2h", as of
 * 2025-01-17T09:00): D6, a lead since 08:00, has waited 1 h (waiting); D7,
 * since the day before, 25 h (unprocessed); D8 was lost from the first
 * stage after 1.5 h (released, its first move). */
static void test_handling_sla(void **state)
{
	fixture *f = *state;
	se_report_opts o = default_opts();
	se_handling h;

	import_csv(f, CSV_HEADER
	           "d6-1,D6,2025-01-17T08:00:00Z,Lead,Ann,Yandex,\n"
	           "d7-1,D7,2025-01-16T08:00:00Z,Lead,Ann,Yandex,\n"
	           "d8-1,D8,2025-01-16T08:00:00Z,Lead,Bob,Yandex,\n"
	           "d8-2,D8,2025-01-16T09:30:00Z,Lost,Bob,,\n");
	load_script(f, "settings { sla = '2h' }\n"
	               "funnel { name = 'sales', stages = { 'Lead', 'Qual', 'Paid' }, lost = 'Lost' }\n");
	o.reports = SE_REPORT_HANDLING;
	o.as_of = utc("2025-01-17T09:00:00Z");
	render(f, &o, SE_OUTPUT_CSV);
	assert_int_equal(se_report_handling(f->rep, 0, 0, SE_DIM_MANAGER, SE_ALL, &h), SE_OK);
	assert_int_equal(h.leads, 3);
	assert_int_equal(h.waiting, 1);
	assert_int_equal(h.unprocessed, 1);
	assert_int_equal(h.released, 1);
	assert_int_equal(h.moved, 1);
	assert_int_equal(h.first_move_median, 5400);
	assert_int_equal(h.first_move_p90, 5400);
	assert_int_equal(se_report_handling(f->rep, 0, 0, SE_DIM_SOURCE, 99, &h), SE_ERR);
	assert_non_null(strstr(f->out, "handling,sales,all,manager,Ann,2,0,0,0,1,1,,\n"));
	assert_non_null(strstr(f->out, "handling,sales,all,manager,Bob,1,0,1,0,0,0,1.5,1.5\n"));
}

/* Managers against the rest: Ann 2 of 40 leads qualified, Bob 30 of 60,
 * Cat 1 of 2.  Ann against Bob + Cat (31 of 62 = .5): Newcombe upper bound
 * -.283: significant, and her growth point; missed (.5 - .05) * 40 =
 * 18.  Cat (1 of 2) against 32 of 100: not significant, a sample of 2.
 * Bob against 3 of 42: significant, but above: no growth point. */
static void test_diagnostics_flags(void **state)
{
	fixture *f = *state;
	se_report_opts o = default_opts();
	static const struct { const char *name; int leads, qualified; } team[] = {
		{ "Ann", 40, 2 }, { "Bob", 60, 30 }, { "Cat", 2, 1 }
	};
	char *csv = malloc(64 * 1024);
	size_t len = 0;
	se_step_diag d;
	int n = 0;

	assert_non_null(csv);
	len += (size_t)snprintf(csv + len, 64 * 1024 - len, CSV_HEADER);
	for (int m = 0; m < 3; m++)
		for (int i = 0; i < team[m].leads; i++, n++) {
			len += (size_t)snprintf(csv + len, 64 * 1024 - len,
			                        "e%d-1,D%d,2025-01-10T10:00:00Z,Lead,%s,Web,\n", n, n, team[m].name);
			if (i < team[m].qualified)
				len += (size_t)snprintf(csv + len, 64 * 1024 - len,
				                        "e%d-2,D%d,2025-01-11T10:00:00Z,Qual,%s,,\n", n, n, team[m].name);
		}
	import_csv(f, csv);
	free(csv);
	load_script(f, sales_script);
	o.reports = SE_REPORT_DIAGNOSTICS;
	render(f, &o, SE_OUTPUT_CSV);
	/* manager ids: names are numbered as first seen, 0 is "none" */
	assert_string_equal(f->rep->managers[1], "Ann");
	assert_string_equal(f->rep->managers[3], "Cat");
	assert_int_equal(se_report_step(f->rep, 0, 0, 1, &d), SE_OK);
	assert_int_equal(d.from, 40);
	assert_int_equal(d.to, 2);
	assert_int_equal(d.others_from, 62);
	assert_int_equal(d.others_to, 31);
	assert_true(d.significant);
	assert_true(d.gap_high < 0);
	assert_true(d.missed > 17.999 && d.missed < 18.001);
	assert_int_equal(se_report_growth_point(f->rep, 0, 1), 0);
	assert_int_equal(se_report_step(f->rep, 0, 0, 3, &d), SE_OK);
	assert_false(d.significant);
	assert_false(d.tested);
	assert_true(isnan(d.p) && isnan(d.q));
	assert_int_equal(se_report_growth_point(f->rep, 0, 3), SE_NONE);
	assert_int_equal(se_report_step(f->rep, 0, 0, 2, &d), SE_OK);
	assert_true(d.significant);
	assert_int_equal(se_report_growth_point(f->rep, 0, 2), SE_NONE);
	/* Wilson(2, 40) = [.01382, .16504], Wilson(31, 62) = [.37923, .62077];
	 * Newcombe: -.45 -+ sqrt(.03618^2 + .12077^2) = -.5761 and
	 * -.45 + sqrt(.11504^2 + .12077^2) = -.2832 */
	/* p: pooled two-proportion test, Ann z = -4.7430 (p = 2.10533e-06),
	 * Bob z = 4.5535 (p = 5.27693e-06); Cat (2 deals) is below the
	 * minimum sample and Lead -> Paid has no variation (nobody paid), so
	 * neither is in the family, m = 2: BH gives Ann
	 * 2 x 2.10533e-06 / 1 = 4.21066e-06 and Bob 2 x 5.27693e-06 / 2. */
	assert_non_null(strstr(f->out, "diagnostics,sales,Lead -> Qual,manager,Ann,40,2,5.0,1.4,16.5,50.0,-57.6,-28.3,18.00,"
	                               "2.10533e-06,4.21066e-06,1,1\n"));
	assert_non_null(strstr(f->out, "diagnostics,sales,Lead -> Qual,manager,Bob,60,30,50.0,"));
	assert_non_null(strstr(f->out, ",5.27693e-06,5.27693e-06,1,0\n"));
	assert_non_null(strstr(f->out, "diagnostics,sales,Lead -> Qual,manager,Cat,2,1,50.0,"));
	assert_non_null(strstr(f->out, "diagnostics,sales,Lead -> Qual,team,*,102,33,32.4,"));
	/* style: volume = leads per period (1 period), depth = won / leads: no
	 * deal won, so depth 0 for all and everyone is at the median depth;
	 * median leads (nearest rank 2 of {2, 40, 60}) = 40. */
	assert_non_null(strstr(f->out, "style,sales,manager,Ann,40,0,1,40.00,0.0,volume+depth\n"));
	assert_non_null(strstr(f->out, "style,sales,manager,Cat,2,0,1,2.00,0.0,depth\n"));
	assert_non_null(strstr(f->out, "style,sales,team,*,102,0,1,40.00,0.0,median\n"));
}

/* The newcomer: 1 of 6 leads qualified against the team's 63 of 100.
 * Alone the test says p = .024, but 6 deals are below the minimum sample:
 * no p-value, no flag, no growth point. */
static void test_diagnostics_newcomer(void **state)
{
	fixture *f = *state;
	se_report_opts o = default_opts();
	static const struct { const char *name; int leads, qualified; } team[] = {
		{ "Ann", 50, 32 }, { "Bob", 50, 31 }, { "Neo", 6, 1 }
	};
	char *csv = malloc(64 * 1024);
	size_t len = 0;
	se_step_diag d;
	int n = 0;

	assert_non_null(csv);
	len += (size_t)snprintf(csv + len, 64 * 1024 - len, CSV_HEADER);
	for (int m = 0; m < 3; m++)
		for (int i = 0; i < team[m].leads; i++, n++) {
			len += (size_t)snprintf(csv + len, 64 * 1024 - len,
			                        "e%d-1,D%d,2025-01-10T10:00:00Z,Lead,%s,Web,\n", n, n, team[m].name);
			if (i < team[m].qualified)
				len += (size_t)snprintf(csv + len, 64 * 1024 - len,
				                        "e%d-2,D%d,2025-01-11T10:00:00Z,Qual,%s,,\n", n, n, team[m].name);
		}
	import_csv(f, csv);
	free(csv);
	load_script(f, sales_script);
	o.reports = SE_REPORT_DIAGNOSTICS;
	render(f, &o, SE_OUTPUT_CSV);
	assert_string_equal(f->rep->managers[3], "Neo");
	assert_int_equal(se_report_step(f->rep, 0, 0, 3, &d), SE_OK);
	assert_int_equal(d.from, 6);
	assert_int_equal(d.others_to, 63);
	assert_false(d.tested);
	assert_false(d.significant);
	assert_int_equal(se_report_growth_point(f->rep, 0, 3), SE_NONE);
	assert_non_null(strstr(f->out, "diagnostics,sales,Lead -> Qual,manager,Neo,6,1,16.7,"));
	assert_non_null(strstr(f->out, ",,,0,0\n"));
	/* Ann and Bob are tested (and equal) */
	assert_int_equal(se_report_step(f->rep, 0, 0, 1, &d), SE_OK);
	assert_true(d.tested);
	assert_false(d.significant);
}

/* Forecast: Offer is pre-sale with probability .3.  Closed from Offer: Ann
 * 3 (2 won), Cat 7 (1 won): team 3 of 10 = .3.  Open at Offer now: Ann's
 * deal of 1000 and Bob's of 2000.
 *   stage probability: 300.00 + 600.00 = 900.00;
 *   shrunk, k = 10: Ann (2 + 10 * .3) / (3 + 10) = 5/13 -> 384.615 -> 384.62;
 *   Bob has no closed deal: the team's .3 -> 600.00; team 984.62. */
static void test_forecast_shrinkage(void **state)
{
	fixture *f = *state;
	se_report_opts o = default_opts();
	char csv[8192];
	size_t len = 0;
	se_forecast fc;
	static const struct { const char *mgr; int won; } closed[] = {
		{ "Ann", 1 }, { "Ann", 1 }, { "Ann", 0 }, { "Cat", 1 }, { "Cat", 0 }, { "Cat", 0 }, { "Cat", 0 },
		{ "Cat", 0 }, { "Cat", 0 }, { "Cat", 0 }
	};

	len += (size_t)snprintf(csv + len, sizeof csv - len, CSV_HEADER);
	for (int i = 0; i < 10; i++)
		len += (size_t)snprintf(csv + len, sizeof csv - len,
		                        "c%d-1,C%d,2025-01-10T10:00:00Z,Lead,%s,Web,\n"
		                        "c%d-2,C%d,2025-01-12T10:00:00Z,Offer,%s,,\n"
		                        "c%d-3,C%d,2025-01-20T10:00:00Z,%s,%s,,500\n",
		                        i, i, closed[i].mgr, i, i, closed[i].mgr, i, i,
		                        closed[i].won ? "Paid" : "Lost", closed[i].mgr);
	len += (size_t)snprintf(csv + len, sizeof csv - len,
	                        "o1-1,O1,2025-02-01T10:00:00Z,Offer,Ann,Web,1000\n"
	                        "o2-1,O2,2025-02-01T10:00:00Z,Offer,Bob,Web,2000\n");
	import_csv(f, csv);
	load_script(f, "funnel { name = 'sales', stages = { 'Lead', { 'Offer', presale = true, "
	               "probability = 0.3 }, 'Paid' }, lost = 'Lost' }\n");
	o.reports = SE_REPORT_FORECAST;
	o.as_of = utc("2025-02-02T00:00:00Z");
	expect_csv(f, &o,
	           "report,funnel,stage,dimension,name,deals,amount,probability_pct,forecast_stage,won,closed,"
	           "team_rate_pct,shrunk_rate_pct,forecast_shrunk,forecast_time\n"
	           /* time-aware: the 10 stays at Offer all ended after 8 days,
	            * 3 of them won; the open deals have been there 14 hours, so
	            * (CIF(14 h + 30 d) - CIF(14 h)) / S(14 h) = .3 / 1, times the
	            * manager's shrunk rate over the team's (Ann .3846 / .3) */
	           "forecast,sales,Offer,team,*,2,3000.00,30.0,900.00,3,10,,32.8,984.62,984.62\n"
	           "forecast,sales,Offer,manager,Ann,1,1000.00,30.0,300.00,2,3,30.0,38.5,384.62,384.62\n"
	           "forecast,sales,Offer,manager,Bob,1,2000.00,30.0,600.00,0,0,30.0,30.0,600.00,600.00\n"
	           "forecast,sales,*,team,*,2,3000.00,,900.00,0,0,,32.8,984.62,984.62\n"
	           "\n"
	           /* time to close from Offer: the 3 won deals, 8 days each;
	            * both deals reached Offer on 02-01: 02-09, month 2025-02
	            * (the time-aware one too: every win came 8 days in) */
	           "report,funnel,month,deals,amount,forecast_stage,forecast_shrunk,forecast_time\n"
	           "forecast_month,sales,2025-02,2,3000.00,900.00,984.62,984.62\n");
	assert_int_equal(se_report_forecast(f->rep, 0, 1, 1, &fc), SE_OK);
	assert_true(fc.rate.shrunk > 5.0 / 13 - 1e-9 && fc.rate.shrunk < 5.0 / 13 + 1e-9);
	assert_int_equal(se_report_forecast(f->rep, 0, 0, SE_ALL, &fc), SE_ERR); /* not pre-sale */
	/* JSON carries the same numbers */
	render(f, &o, SE_OUTPUT_JSON);
	expect_json(f, "$.funnels[0].forecast[1].forecast_shrunk", "real", "384.62");
	expect_json(f, "$.funnels[0].forecast[1].forecast_time", "real", "384.62");
	expect_json(f, "$.funnels[0].forecast[1].shrunk_rate", "real", NULL);
}

/* A deal long past the time stays at its stage usually last counts for
 * little: every history at Offer ended within 8 days; a deal there for 20
 * days is judged against the stays still there at 14 days (none), so
 * nothing is expected of it within the horizon, while the shrunk win rate
 * still expects a third of it. */
static void test_forecast_time_stalled(void **state)
{
	fixture *f = *state;
	se_report_opts o = default_opts();
	char csv[8192];
	size_t len = 0;
	se_forecast fc;

	len += (size_t)snprintf(csv + len, sizeof csv - len, CSV_HEADER);
	for (int i = 0; i < 9; i++)
		len += (size_t)snprintf(csv + len, sizeof csv - len,
		                        "c%d-1,C%d,2025-01-02T10:00:00Z,Offer,Ann,Web,\n"
		                        "c%d-2,C%d,2025-01-0%dT10:00:00Z,%s,Ann,,300\n",
		                        i, i, i, i, 3 + i % 6, i % 3 == 0 ? "Paid" : "Lost");
	len += (size_t)snprintf(csv + len, sizeof csv - len,
	                        "o1-1,O1,2025-01-12T10:00:00Z,Offer,Ann,Web,1000\n"
	                        "o2-1,O2,2025-02-01T09:00:00Z,Offer,Ann,Web,2000\n");
	import_csv(f, csv);
	load_script(f, "funnel { name = 'sales', stages = { { 'Offer', presale = true }, 'Paid' }, lost = 'Lost' }\n");
	o.reports = SE_REPORT_FORECAST;
	o.as_of = utc("2025-02-01T10:00:00Z");
	render(f, &o, SE_OUTPUT_CSV);
	assert_int_equal(se_report_forecast(f->rep, 0, 0, SE_ALL, &fc), SE_OK);
	assert_int_equal(fc.deals, 2);
	/* O2 (an hour in): the 9 closed histories and O1 (still running, so
	 * censored at 20 days) are at risk, 3 won by day 8: CIF = 3/10, and
	 * .3 of 2000 (Ann's own rate is the team's) = 600.00; O1: 0 */
	assert_int_equal(fc.forecast_time, 60000);
	assert_int_equal(fc.forecast_shrunk, 100000);
	/* a 2-day horizon: of the 3 wins, the two that came a day into their
	 * stays fall within (1 h, 2 d + 1 h]: .2 of 2000 (the report goes
	 * first: it points into the rules the new script replaces) */
	se_report_free(f->rep);
	f->rep = NULL;
	load_script(f, "settings { horizon = '2d' }\n"
	               "funnel { name = 'sales', stages = { { 'Offer', presale = true }, 'Paid' }, lost = 'Lost' }\n");
	render(f, &o, SE_OUTPUT_CSV);
	assert_int_equal(se_report_forecast(f->rep, 0, 0, SE_ALL, &fc), SE_OK);
	assert_int_equal(fc.forecast_time, 40000);
}

/* Spend and the within-manager test.  Ann handles X and Y leads: X 2 of
 * 20 won, Y 10 of 20; Bob: X 0 of 20, Y 8 of 20 (test_stats' CMH case
 * with every count doubled, so 40 leads of X are compared within managers,
 * above the minimum of 30; Z's one lead sits in Ann's stratum with the
 * others): X z = -4.0211, p = 5.79381e-05; Y z = 4.1709, p = 3.03388e-05;
 * BH over the two: Y 2 x 3.03388e-05 / 1 = 6.06776e-05, X 2 x p / 2 =
 * 5.79381e-05, and the running minimum gives both 5.79381e-05: X is weak.  Spend January: X 1000, Y 2000 (script), plus
 * 500 for Y from a CSV file.  X: revenue 2 x 100, CPL 1000/40 = 25, CPS
 * 1000/2, ROMI (200 - 1000) / 1000 = -80%.  Z has leads and no spend row:
 * its spend, CPL, CPS and ROMI are empty, not 0; it has one lead, too few
 * to test. */
static void test_channels_spend(void **state)
{
	fixture *f = *state;
	se_report_opts o = default_opts();
	char *csv = malloc(64 * 1024), spend_path[160];
	size_t len = 0;
	se_channel ch;
	int n = 0;
	static const struct { const char *mgr, *src; int won; } cells[] = {
		{ "Ann", "X", 2 }, { "Ann", "Y", 10 }, { "Bob", "X", 0 }, { "Bob", "Y", 8 }
	};

	assert_non_null(csv);
	len += (size_t)snprintf(csv + len, 64 * 1024 - len, CSV_HEADER);
	for (int c = 0; c < 4; c++)
		for (int i = 0; i < 20; i++, n++) {
			len += (size_t)snprintf(csv + len, 64 * 1024 - len, "e%d-1,D%d,2025-01-10T10:00:00Z,Lead,%s,%s,100\n",
			                        n, n, cells[c].mgr, cells[c].src);
			if (i < cells[c].won)
				len += (size_t)snprintf(csv + len, 64 * 1024 - len,
				                        "e%d-2,D%d,2025-01-20T10:00:00Z,Paid,%s,,\n", n, n, cells[c].mgr);
		}
	len += (size_t)snprintf(csv + len, 64 * 1024 - len, "z-1,DZ,2025-01-10T10:00:00Z,Lead,Ann,Z,100\n");
	import_csv(f, csv);
	free(csv);
	snprintf(spend_path, sizeof spend_path, "%s/spend.csv", f->dir);
	write_file(spend_path, "source,month,amount\nY,2025-01,500\n");
	load_script(f, "settings { period = 'month', spend = { X = { ['2025-01'] = 1000 }, Y = { ['2025-01'] = 2000 } } }\n"
	               "funnel { name = 'sales', stages = { 'Lead', 'Qual', 'Paid' } }\n");
	o.reports = SE_REPORT_CHANNELS;
	o.spend_csv = spend_path;
	render(f, &o, SE_OUTPUT_CSV);
	assert_non_null(strstr(f->out, "channels,sales,2025-01,team,*,81,20,24.7,2000.00,3500.00,43.21,175.00,-42.9,,,,,\n"));
	assert_non_null(strstr(f->out, "channels,sales,2025-01,source,X,40,2,5.0,200.00,1000.00,25.00,500.00,-80.0,-4.02,"
	                               "5.79381e-05,5.79381e-05,1,\n"));
	assert_non_null(strstr(f->out, "channels,sales,2025-01,source,Y,40,18,45.0,1800.00,2500.00,62.50,138.89,-28.0,4.17,"
	                               "3.03388e-05,5.79381e-05,0,\n"));
	assert_non_null(strstr(f->out, "channels,sales,2025-01,source,Z,1,0,0.0,0.00,,,,,,,,,too few leads compared within managers\n"));
	assert_non_null(strstr(f->out, "source_steps,sales,Lead -> Qual,2025-01,source,X,40,2,5.0\n"));
	assert_int_equal(se_report_channel(f->rep, 0, se_report_bucket(f->rep, utc("2025-01-10T10:00:00Z")), 1, &ch),
	                 SE_OK);
	assert_true(ch.weak);
	assert_int_equal(ch.spend, 100000);
	assert_true(ch.q < 0.05 && ch.untestable == NULL);
	/* JSON: absent spend and an untested source are null, with the reason */
	render(f, &o, SE_OUTPUT_JSON);
	expect_json(f, "$.funnels[0].channels[3].name", "text", "Z");
	expect_json(f, "$.funnels[0].channels[3].spend", "null", NULL);
	expect_json(f, "$.funnels[0].channels[3].cpl", "null", NULL);
	expect_json(f, "$.funnels[0].channels[3].within_manager_z", "null", NULL);
	expect_json(f, "$.funnels[0].channels[3].p_value", "null", NULL);
	expect_json(f, "$.funnels[0].channels[3].weak", "null", NULL);
	expect_json(f, "$.funnels[0].channels[3].not_testable", "text", "too few leads compared within managers");
	expect_json(f, "$.funnels[0].channels[1].p_adjusted", "real", "5.79381e-05");
	/* weeks have no monthly spend: empty columns */
	o.period = SE_PERIOD_WEEK;
	render(f, &o, SE_OUTPUT_CSV);
	unlink(spend_path);
	assert_non_null(strstr(f->out, "channels,sales,2025-W02,source,X,40,2,5.0,200.00,,,,,-4.02,5.79381e-05,5.79381e-05,1,\n"));
}

/* A bad spend file names its line. */
static void test_spend_csv_errors(void **state)
{
	fixture *f = *state;
	se_report_opts o = default_opts();
	char spend_path[160];

	import_csv(f, five_deals_csv);
	load_script(f, sales_script);
	snprintf(spend_path, sizeof spend_path, "%s/spend.csv", f->dir);
	write_file(spend_path, "source,month,amount\nX,2025-1,5\n");
	o.reports = SE_REPORT_CHANNELS;
	o.spend_csv = spend_path;
	assert_int_equal(se_report_build(&f->rep, f->st, f->rules, &o, &f->err), SE_EINPUT);
	unlink(spend_path);
	assert_non_null(strstr(f->err.msg, "spend.csv:2: month: \"2025-1\" is not like 2025-01"));
}

/* Compare, weeks: Ann has 2 leads in W02 (1 qualified) and 4 in W03 (3
 * qualified), Bob 1 in W03 (not qualified).  W03 against W02 for the team:
 * leads 5 vs 2, change 3 (+150%); Lead -> Qual 3/5 = 60.0% vs 1/2 = 50.0%:
 * +10.0 points, +20% relative.  W02 against W01: nothing before, so the
 * relative change is empty.  Ann's W03 row: leads 4 vs 2. */
static void test_compare_weeks(void **state)
{
	fixture *f = *state;
	se_report_opts o = default_opts();

	import_csv(f, CSV_HEADER
	           "a1,A1,2025-01-06T10:00:00Z,Lead,Ann,Web,\n"
	           "a2,A1,2025-01-07T10:00:00Z,Qual,Ann,,\n"
	           "b1,A2,2025-01-07T10:00:00Z,Lead,Ann,Web,\n"
	           "c1,A3,2025-01-13T10:00:00Z,Lead,Ann,Web,\n"
	           "c2,A3,2025-01-14T10:00:00Z,Qual,Ann,,\n"
	           "d1,A4,2025-01-13T10:00:00Z,Lead,Ann,Web,\n"
	           "d2,A4,2025-01-14T10:00:00Z,Qual,Ann,,\n"
	           "e1,A5,2025-01-14T10:00:00Z,Lead,Ann,Web,\n"
	           "e2,A5,2025-01-15T10:00:00Z,Qual,Ann,,\n"
	           "f1,A6,2025-01-15T10:00:00Z,Lead,Ann,Web,\n"
	           "g1,B1,2025-01-15T10:00:00Z,Lead,Bob,Web,\n");
	load_script(f, "funnel { name = 'sales', stages = { 'Lead', 'Qual', 'Paid' } }\n");
	o.reports = SE_REPORT_COMPARE;
	o.period = SE_PERIOD_WEEK;
	render(f, &o, SE_OUTPUT_CSV);
	assert_non_null(strstr(f->out, "compare,sales,2025-W03,2025-W02,team,*,leads,5,2,3,150.0\n"));
	assert_non_null(strstr(f->out, "compare,sales,2025-W03,2025-W02,team,*,Lead -> Qual,60.0,50.0,10.0,20.0\n"));
	assert_non_null(strstr(f->out, "compare,sales,2025-W02,2025-W01,team,*,leads,2,0,2,\n"));
	assert_non_null(strstr(f->out, "compare,sales,2025-W03,2025-W02,manager,Ann,leads,4,2,2,100.0\n"));
	assert_non_null(strstr(f->out, "compare,sales,2025-W03,2025-W02,manager,Bob,Lead -> Qual,0.0,,,\n"));
	assert_int_equal(se_report_leads(f->rep, 0, se_report_bucket(f->rep, utc("2025-01-13T10:00:00Z")),
	                                 SE_DIM_MANAGER, SE_ALL), 5);
	render(f, &o, SE_OUTPUT_JSON);
	expect_json(f, "$.funnels[0].compare[0].value", "integer", "2");
	/* total has no previous period: no rows */
	o.period = SE_PERIOD_TOTAL;
	render(f, &o, SE_OUTPUT_CSV);
	expect_text(f->out, "report,funnel,period,previous,dimension,name,metric,value,previous_value,change,change_pct\n");
}

/* JSON strings are escaped: quotes, backslashes, control characters. */
static void test_json_escapes(void **state)
{
	fixture *f = *state;
	se_report_opts o = default_opts();

	load_script(f, sales_script);
	import_csv(f, CSV_HEADER "e1,E1,2025-01-05T10:00:00Z,Lead,\"A \"\"q\"\" \\\\ b\tc\",Ян,\n");
	o.reports = SE_REPORT_LEADS;
	render(f, &o, SE_OUTPUT_JSON);
	expect_json(f, "$.funnels[0].leads[1].name", "text", "A \"q\" \\\\ b\tc");
	expect_json(f, "$.funnels[0].leads[2].name", "text", "Ян");
}

/* Sums of money are exact beyond 64 bits: two won deals of 6e16 each are
 * 12e18 kopecks, more than INT64_MAX; so is the pre-sale amount of two
 * open deals of 6e16 and its forecast (a rate of 1: every closed deal from
 * Offer was won). */
/* Amounts stop at 10^15 roubles a row (import.c), but a hundred of them
 * already add up to 10^19 kopecks, past int64: the sums must stay exact. */
static void test_money_sums_exact(void **state)
{
	fixture *f = *state;
	se_report_opts o = default_opts();
	size_t cap = 200 * 3 * 80 + sizeof CSV_HEADER, len;
	char *csv = malloc(cap);
	const char *out;

	assert_non_null(csv);
	len = (size_t)snprintf(csv, cap, "%s", CSV_HEADER);
	for (int d = 0; d < 200; d++) {
		len += (size_t)snprintf(csv + len, cap - len,
		                        "l%d,D%d,2025-01-10T10:00:00Z,Lead,Ann,Web,1000000000000000\n"
		                        "o%d,D%d,2025-01-11T10:00:00Z,Offer,Ann,Web,1000000000000000\n",
		                        d, d, d, d);
		if (d < 100)
			len += (size_t)snprintf(csv + len, cap - len,
			                        "p%d,D%d,2025-01-12T10:00:00Z,Paid,Ann,Web,1000000000000000\n", d, d);
		assert_true(len < cap);
	}
	load_script(f, sales_script);
	import_csv(f, csv);
	free(csv);
	o.reports = SE_REPORT_SOURCES | SE_REPORT_PRESALE;
	out = render(f, &o, SE_OUTPUT_CSV);
	expect_text(out,
	            "report,funnel,stage,dimension,name,deals,amount,win_rate_pct,win_rate_basis,forecast,no_amount\n"
	            "presale,sales,Offer,team,*,100,100000000000000000.00,100.0,manager,100000000000000000.00,0\n"
	            "presale,sales,Offer,manager,Ann,100,100000000000000000.00,100.0,manager,100000000000000000.00,0\n"
	            "presale,sales,*,team,*,100,100000000000000000.00,100.0,manager,100000000000000000.00,0\n"
	            "presale,sales,*,manager,Ann,100,100000000000000000.00,100.0,manager,100000000000000000.00,0\n"
	            "\n"
	            "report,funnel,period,dimension,name,leads,won,conversion_pct,revenue\n"
	            "sources,sales,all,team,*,200,100,50.0,100000000000000000.00\n"
	            "sources,sales,all,source,Web,200,100,50.0,100000000000000000.00\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_all_reports_reached_total, setup, teardown),
		cmocka_unit_test_setup_teardown(test_touched_mode_from_settings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_touched_mode_from_options, setup, teardown),
		cmocka_unit_test_setup_teardown(test_per_pair_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pair_mode_reached_in_touched_script, setup, teardown),
		cmocka_unit_test_setup_teardown(test_csv_quoting_and_name_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_iso_weeks_in_report_zone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_month_and_day_periods, setup, teardown),
		cmocka_unit_test_setup_teardown(test_from_to_local_days, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_ranges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_window_limit_and_open_flag, setup, teardown),
		cmocka_unit_test_setup_teardown(test_window_open_total_with_to, setup, teardown),
		cmocka_unit_test_setup_teardown(test_windowed_pair_label_csv, setup, teardown),
		cmocka_unit_test_setup_teardown(test_presale_rates_and_forecast, setup, teardown),
		cmocka_unit_test_setup_teardown(test_presale_basis_none_and_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sources_revenue_of_won_cohort, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_statuses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_merge_adds_two_halves, setup, teardown),
		cmocka_unit_test_setup_teardown(test_split_changes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lazy_blocks_as_built_whole, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_funnels_in_script_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_only_funnel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pipeline_mismatch_is_an_unknown_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pipelines_choose_the_funnel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conversion_pair_column, setup, teardown),
		cmocka_unit_test_setup_teardown(test_presale_rate_counts_deals_that_reached_won, setup, teardown),
		cmocka_unit_test_setup_teardown(test_day_buckets_across_dst, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_store, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_deals_across_chunks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backtest_time_deals_each_cut, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reimport_is_byte_identical, setup, teardown),
		cmocka_unit_test_setup_teardown(test_incremental_import, setup, teardown),
		cmocka_unit_test_setup_teardown(test_json_output, setup, teardown),
		cmocka_unit_test_setup_teardown(test_json_escapes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_handling_and_velocity, setup, teardown),
		cmocka_unit_test_setup_teardown(test_handling_sla, setup, teardown),
		cmocka_unit_test_setup_teardown(test_diagnostics_flags, setup, teardown),
		cmocka_unit_test_setup_teardown(test_diagnostics_newcomer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forecast_shrinkage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forecast_time_stalled, setup, teardown),
		cmocka_unit_test_setup_teardown(test_channels_spend, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spend_csv_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_compare_weeks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_money_sums_exact, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
