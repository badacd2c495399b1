/*
 * test_output.c: the formats on hand-built blocks, and the table of
 * reports.
 *
 * Blocks are made here cell by cell (no store, no script), so each test
 * pins one rule of docs/OUTPUT.md: CSV quoting, JSON escaping, the table's
 * alignment by display width, how a missing value, NaN or infinity looks
 * in each format.  The report handed to the writers is a bare struct with
 * just the fields their headers read.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "format/block.h"
#include "helpers.h"
#include "jsonout.h"
#include "salesengine.h"
#include "timeconv.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct fixture {
	se_rules rules;
	se_metric_decl metric;
	se_report rep;
	se_blocks bs;
	char *text;
	size_t len;
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof *f);
	se_error err = { 0 };

	assert_non_null(f);
	f->rules.funnels[0].name = "sales";
	f->rules.n_funnels = 1;
	f->metric.name = "avg_check";
	f->metric.format = SE_FORMAT_MONEY;
	f->metric.funnel = -1;
	f->rules.metrics = &f->metric;
	f->rules.n_metrics = 1;
	f->rep.rules = &f->rules;
	f->rep.period = SE_PERIOD_TOTAL;
	f->rep.mode = SE_MODE_REACHED;
	f->rep.only_funnel = SE_NONE;
	f->rep.as_of = 1767225600; /* 2026-01-01T00:00:00Z */
	assert_int_equal(se_tz_open(&f->rep.tz, "UTC", &err), SE_OK);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;

	se_blocks_free(&f->bs);
	se_tz_free(f->rep.tz);
	free(f->text);
	free(f);
	return 0;
}

static const se_report_desc *desc(const char *name)
{
	for (size_t i = 0; i < se_n_report_descs; i++)
		if (strcmp(se_report_descs[i].name, name) == 0)
			return &se_report_descs[i];
	fail_msg("no report %s", name);
	return NULL;
}

/* Runs a writer with options into f->text. */
static void write_opts(fixture *f, se_block_writer w, const se_write_opts *opts)
{
	FILE *out;
	se_error err = { 0 };

	free(f->text);
	f->text = NULL;
	out = open_memstream(&f->text, &f->len);
	assert_non_null(out);
	assert_int_equal(w(&f->rep, &f->bs, out, opts, &err), SE_OK);
	assert_int_equal(fclose(out), 0);
}

/* Runs a writer into f->text. */
static void write_with(fixture *f, se_block_writer w)
{
	write_opts(f, w, &(se_write_opts){ 0 });
}

/* The text from the first block title on: the header line carries the
 * version and settings, tested elsewhere. */
static const char *from_blocks(const fixture *f)
{
	const char *p = strstr(f->text, "== ");

	assert_non_null(p);
	return p;
}

static void leads_row(se_block *b, const char *dim, const char *name, int64_t n)
{
	se_cell *r = se_block_row(b);

	assert_non_null(r);
	se_set_str(&r[0], "sales");
	se_set_copy(&r[1], "all");
	se_set_str(&r[2], dim);
	se_set_str(&r[3], name);
	r[4].i = n;
}

/* ---- CSV ---------------------------------------------------------------------- */

static void test_csv_quoting(void **state)
{
	fixture *f = *state;
	se_block *b = se_block_new(&f->bs, desc("leads"), 0, 0);

	f->rep.reports = SE_REPORT_LEADS;
	leads_row(b, "team", "*", 5);
	leads_row(b, "manager", "Smith, John", 1);
	leads_row(b, "manager", "Ann \"the best\"", 1);
	leads_row(b, "manager", "two\nlines", 1);
	leads_row(b, "manager", "cr\rhere", 1);
	leads_row(b, "source", "Яндекс.Директ", 1);
	write_with(f, se_write_csv);
	assert_string_equal(f->text,
	                    "report,funnel,period,dimension,name,leads\n"
	                    "leads,sales,all,team,*,5\n"
	                    "leads,sales,all,manager,\"Smith, John\",1\n"
	                    "leads,sales,all,manager,\"Ann \"\"the best\"\"\",1\n"
	                    "leads,sales,all,manager,\"two\nlines\",1\n"
	                    "leads,sales,all,manager,\"cr\rhere\",1\n"
	                    "leads,sales,all,source,Яндекс.Директ,1\n");
}

/* A sources row whose numbers have decimals: 12.5% and 1234.50. */
static void sources_row(se_block *b, const char *name)
{
	se_cell *r = se_block_row(b);

	assert_non_null(r);
	se_set_str(&r[0], "sales");
	se_set_copy(&r[1], "all");
	se_set_str(&r[2], "source");
	se_set_str(&r[3], name);
	r[4].i = 8;
	r[5].i = 1;
	se_set_count_ratio(&r[6], 1, 8);
	se_set_money(&r[7], 123450);
}

/* Excel in Russian: a BOM, ';', CRLF, and a decimal comma that makes a
 * number quoted only when the separator is a comma too; the mark changes
 * before the field is looked at, so a '.' separator quotes names only. */
static void test_csv_excel_variants(void **state)
{
	fixture *f = *state;
	se_block *b = se_block_new(&f->bs, desc("sources"), 0, 0);

	f->rep.reports = SE_REPORT_SOURCES;
	sources_row(b, "Яндекс.Директ");
	write_opts(f, se_write_csv, &(se_write_opts){ .excel = 1, .language = 1 });
	assert_string_equal(f->text,
	                    "\xef\xbb\xbfreport;funnel;period;dimension;name;leads;won;conversion_pct;revenue\r\n"
	                    "sources;sales;all;source;Яндекс.Директ;8;1;12,5;1234,50\r\n");
	write_opts(f, se_write_csv, &(se_write_opts){ .excel = 1, .language = 1, .delimiter = ',' });
	assert_string_equal(f->text,
	                    "\xef\xbb\xbfreport,funnel,period,dimension,name,leads,won,conversion_pct,revenue\r\n"
	                    "sources,sales,all,source,Яндекс.Директ,8,1,\"12,5\",\"1234,50\"\r\n");
	write_opts(f, se_write_csv, &(se_write_opts){ .excel = 1, .language = 1, .delimiter = '.' });
	assert_string_equal(f->text,
	                    "\xef\xbb\xbfreport.funnel.period.dimension.name.leads.won.conversion_pct.revenue\r\n"
	                    "sources.sales.all.source.\"Яндекс.Директ\".8.1.12,5.1234,50\r\n");
	write_opts(f, se_write_csv, &(se_write_opts){ .excel = 1, .language = 0, .delimiter = '\t' });
	assert_string_equal(f->text,
	                    "\xef\xbb\xbfreport\tfunnel\tperiod\tdimension\tname\tleads\twon\tconversion_pct\trevenue\r\n"
	                    "sources\tsales\tall\tsource\tЯндекс.Директ\t8\t1\t12.5\t1234.50\r\n");
}

/* A name as RFC 4180 quotes it, written at out: the reference the
 * writer's output is held to.  Returns the end of what it wrote. */
static char *quoted_at(char *out, const char *s)
{
	int quote = strpbrk(s, ",\"\r\n") != NULL;

	if (quote)
		*out++ = '"';
	for (; *s; s++) {
		if (*s == '"')
			*out++ = '"';
		*out++ = *s;
	}
	if (quote)
		*out++ = '"';
	return out;
}

/* Names of every length up to past the writer's 64 KiB of gathered
 * output, made of bytes that need quoting and bytes that do not: the
 * text is what quoting each field on its own gives, wherever a field
 * falls against the writer's chunks. */
static void test_csv_fields_of_any_length(void **state)
{
	fixture *f = *state;
	static const char alphabet[] = { 'a', 'b', ',', '"', '\r', '\n', ';', ' ', '\xd0', '\xaf' };
	enum { ROWS = 400, LONG = 70000 };
	se_block *b = se_block_new(&f->bs, desc("leads"), 0, 0);
	char **names = calloc(ROWS, sizeof *names);
	size_t total = 64;
	char *want, *w;
	uint64_t rng = 0x5eed0c5f;

	assert_non_null(names);
	f->rep.reports = SE_REPORT_LEADS;
	for (int i = 0; i < ROWS; i++) {
		/* mostly short, some long, three longer than the chunk itself */
		size_t len = i % 150 == 7 ? LONG : i % 10 == 3 ? test_rng_below(&rng, 3000) : test_rng_below(&rng, 40);
		int plain = i % 2 == 0;

		names[i] = malloc(len + 1);
		assert_non_null(names[i]);
		for (size_t k = 0; k < len; k++)
			names[i][k] = alphabet[test_rng_below(&rng, plain ? 2 : sizeof alphabet)];
		names[i][len] = '\0';
		leads_row(b, "manager", names[i], i);
		total += 2 * len + 64;
	}
	want = malloc(total);
	assert_non_null(want);
	w = want + sprintf(want, "report,funnel,period,dimension,name,leads\n");
	for (int i = 0; i < ROWS; i++) {
		w += sprintf(w, "leads,sales,all,manager,");
		w = quoted_at(w, names[i]);
		w += sprintf(w, ",%d\n", i);
	}
	*w = '\0';
	write_with(f, se_write_csv);
	assert_int_equal(f->len, strlen(want));
	assert_true(memcmp(f->text, want, f->len) == 0);
	for (int i = 0; i < ROWS; i++)
		free(names[i]);
	free(names);
	free(want);
}

/* One header per report, a blank line between reports, none after the
 * last; a report with no rows still has its header. */
static void test_csv_one_header_per_report(void **state)
{
	fixture *f = *state;
	se_block *b;
	se_cell *r;

	f->rep.reports = SE_REPORT_LEADS | SE_REPORT_UNKNOWN;
	leads_row(se_block_new(&f->bs, desc("leads"), 0, 0), "team", "*", 1);
	b = se_block_new(&f->bs, desc("unknown"), SE_NONE, 0);
	r = se_block_row(b);
	se_set_str(&r[0], "Archived");
	r[1].i = 3;
	r[2].i = 2;
	se_set_str(&r[3], "D-7");
	se_block_new(&f->bs, desc("time_to_won"), 0, 0);
	write_with(f, se_write_csv);
	assert_string_equal(f->text,
	                    "report,funnel,period,dimension,name,leads\n"
	                    "leads,sales,all,team,*,1\n"
	                    "\n"
	                    "report,status,events,deals,example_deal\n"
	                    "unknown,Archived,3,2,D-7\n"
	                    "\n"
	                    "report,funnel,dimension,name,won,median_h,p90_h\n");
}

/* ---- cells: every type, with and without a value ------------------------------ */

static const char *text_of(se_ctype type, const se_cell *v, int table)
{
	static char buf[64];
	se_col c = { "x", "x", type, SE_IN_ALL };

	return se_cell_text(&c, v, buf, sizeof buf, table);
}

static void test_cell_text(void **state)
{
	se_cell v;

	(void)state;
	memset(&v, 0, sizeof v);
	se_set_count_ratio(&v, 1, 16); /* 6.25%: halves up, exactly, never 6.2 */
	assert_string_equal(text_of(SE_T_PCT, &v, 0), "6.3");
	se_set_count_ratio(&v, 3, 0); /* no denominator: no value */
	assert_string_equal(text_of(SE_T_PCT, &v, 0), "");
	assert_string_equal(text_of(SE_T_PCT, &v, 1), "-");
	se_set_ratio(&v, -0.5, 1);
	assert_string_equal(text_of(SE_T_PCT, &v, 0), "-50.0");
	se_set_ratio(&v, -1, 400); /* -0.25%: below one tenth, still signed */
	assert_string_equal(text_of(SE_T_PCT, &v, 0), "-0.3");
	se_set_ratio(&v, 0, 1);
	assert_string_equal(text_of(SE_T_PCT, &v, 1), "0.0");

	memset(&v, 0, sizeof v);
	assert_string_equal(text_of(SE_T_INT, &v, 0), "0");
	v.i = -42;
	assert_string_equal(text_of(SE_T_INT, &v, 1), "-42");
	v.i = INT64_MAX;
	assert_string_equal(text_of(SE_T_INT, &v, 0), "9223372036854775807");
	v.i = INT64_MIN;
	assert_string_equal(text_of(SE_T_INT, &v, 0), "-9223372036854775808");

	memset(&v, 0, sizeof v);
	v.i = -12345; /* kopecks */
	assert_string_equal(text_of(SE_T_AMOUNT, &v, 0), "-123.45");
	v.i = INT64_MIN;
	assert_string_equal(text_of(SE_T_AMOUNT, &v, 0), "-92233720368547758.08");
	se_set_money(&v, -1); /* spend unknown */
	assert_string_equal(text_of(SE_T_AMOUNT, &v, 0), "");
	assert_string_equal(text_of(SE_T_AMOUNT, &v, 1), "-");

	se_set_hours(&v, 5400, 1); /* 1.5 h */
	assert_string_equal(text_of(SE_T_HOURS, &v, 0), "1.5");
	se_set_hours(&v, 179, 1); /* 0.0497 h: tenths, halves up */
	assert_string_equal(text_of(SE_T_HOURS, &v, 0), "0.0");
	se_set_hours(&v, 180, 1);
	assert_string_equal(text_of(SE_T_HOURS, &v, 0), "0.1");
	se_set_hours(&v, -181, 1); /* -0.0503 h */
	assert_string_equal(text_of(SE_T_HOURS, &v, 0), "-0.1");
	se_set_hours(&v, -180, 1); /* -0.05 h: halves up, to zero */
	assert_string_equal(text_of(SE_T_HOURS, &v, 0), "0.0");
	se_set_hours(&v, 0, 0);
	assert_string_equal(text_of(SE_T_HOURS, &v, 1), "-");

	se_set_real(&v, 2.0 / 3.0, 0);
	assert_string_equal(text_of(SE_T_REAL, &v, 0), "0.67");
	se_set_real(&v, NAN, 1);
	assert_string_equal(text_of(SE_T_REAL, &v, 1), "-");

	memset(&v, 0, sizeof v);
	v.i = 1;
	assert_string_equal(text_of(SE_T_FLAG, &v, 0), "1");
	assert_string_equal(text_of(SE_T_FLAG, &v, 1), "yes");
	assert_string_equal(text_of(SE_T_BOOL, &v, 1), "open");
	v.i = 0;
	assert_string_equal(text_of(SE_T_FLAG, &v, 1), "");
	assert_string_equal(text_of(SE_T_BOOL, &v, 0), "0");
}

/* A copied label is cut where snprintf cut it, at the cell's 39 bytes, and
 * a cell's own text copies onto itself unchanged. */
static void test_cell_copy(void **state)
{
	static const char label[] = "a label of more than forty bytes, cut short";
	se_cell v;

	(void)state;
	memset(&v, 0, sizeof v);
	se_set_copy(&v, "2025-07");
	assert_string_equal(se_cell_str(&v), "2025-07");
	se_set_copy(&v, se_cell_str(&v));
	assert_string_equal(se_cell_str(&v), "2025-07");
	se_set_copy(&v, "");
	assert_string_equal(se_cell_str(&v), "");
	se_set_copy(&v, label);
	assert_int_equal(strlen(se_cell_str(&v)), sizeof v.buf - 1);
	assert_true(memcmp(se_cell_str(&v), label, sizeof v.buf - 1) == 0);
}

static void test_metric_values(void **state)
{
	se_cell v;

	(void)state;
	memset(&v, 0, sizeof v);
	v.i = SE_FORMAT_NUMBER;
	v.d = 12.5;
	assert_string_equal(text_of(SE_T_METRIC, &v, 0), "12.5");
	v.d = 3.0;
	assert_string_equal(text_of(SE_T_METRIC, &v, 0), "3");
	v.i = SE_FORMAT_PERCENT;
	v.d = 0.0625;
	assert_string_equal(text_of(SE_T_METRIC, &v, 1), "6.3%");
	assert_string_equal(text_of(SE_T_METRIC, &v, 0), "6.3");
	v.d = -0.004;
	assert_string_equal(text_of(SE_T_METRIC, &v, 1), "-0.4%");
	assert_string_equal(text_of(SE_T_METRIC, &v, 0), "-0.4");
	v.i = SE_FORMAT_MONEY;
	v.d = 1234.5;
	assert_string_equal(text_of(SE_T_METRIC, &v, 0), "1234.50");
	v.d = NAN;
	assert_string_equal(text_of(SE_T_METRIC, &v, 0), "");
	assert_string_equal(text_of(SE_T_METRIC, &v, 1), "-");
	v.d = INFINITY;
	assert_string_equal(text_of(SE_T_METRIC, &v, 0), "");
	assert_string_equal(text_of(SE_T_METRIC, &v, 1), "-");
	v.d = -INFINITY;
	assert_string_equal(text_of(SE_T_METRIC, &v, 1), "-");
}

/* ---- JSON ---------------------------------------------------------------------- */

static char *json_string_of(const char *s)
{
	char *text = NULL;
	size_t len;
	FILE *out = open_memstream(&text, &len);

	assert_non_null(out);
	se_json_string(out, s);
	fclose(out);
	return text;
}

static void test_json_string_escapes(void **state)
{
	char *t;

	(void)state;
	t = json_string_of("a\"b\\c\nd\te\rf\x01g\x1b[31mh\x7fi Анна");
	assert_string_equal(t, "\"a\\\"b\\\\c\\nd\\te\\rf\\u0001g\\u001b[31mh\x7fi Анна\"");
	free(t);
	t = json_string_of("");
	assert_string_equal(t, "\"\"");
	free(t);
}

static void test_json_numbers(void **state)
{
	char *text = NULL;
	size_t len;
	FILE *out = open_memstream(&text, &len);

	(void)state;
	se_json_number(out, 0.1);
	fputc(' ', out);
	se_json_number(out, 1.0 / 3.0);
	fputc(' ', out);
	se_json_number(out, 1e21);
	fputc(' ', out);
	se_json_number(out, -2.5);
	fclose(out);
	assert_string_equal(text, "0.1 0.33333333333333331 1e+21 -2.5");
	free(text);
}

/* A metrics block: each block an object with its own rows; NaN and
 * infinity are null; strings escaped. */
static void test_json_writer(void **state)
{
	fixture *f = *state;
	se_block *b = se_block_new(&f->bs, desc("metrics"), 0, 0);
	const char *vals[] = { "team", "manager", "manager" };
	const char *names[] = { "*", "Ann \"A\"", "Bob\n" };
	double d[] = { 10.25, NAN, INFINITY };

	f->rep.reports = SE_REPORT_METRICS;
	for (int i = 0; i < 3; i++) {
		se_cell *r = se_block_row(b);

		se_set_str(&r[0], "sales");
		se_set_str(&r[1], "avg_check");
		se_set_copy(&r[2], "all");
		se_set_str(&r[3], vals[i]);
		se_set_str(&r[4], names[i]);
		r[5].d = d[i];
		r[5].null = isnan(d[i]);
		r[5].i = SE_FORMAT_MONEY;
	}
	write_with(f, se_write_json);
	assert_non_null(strstr(f->text,
	                       "\"metrics\": [\n"
	                       "        {\"name\": \"avg_check\", \"title\": \"avg_check\", \"format\": \"money\", "
	                       "\"rows\": [\n"
	                       "          {\"period\": \"all\", \"dimension\": \"team\", \"name\": \"*\", \"value\": 10.25},\n"
	                       "          {\"period\": \"all\", \"dimension\": \"manager\", \"name\": \"Ann \\\"A\\\"\", "
	                       "\"value\": null},\n"
	                       "          {\"period\": \"all\", \"dimension\": \"manager\", \"name\": \"Bob\\n\", "
	                       "\"value\": null}\n"
	                       "        ]}\n"
	                       "      ]"));
	/* the document closes with the reports of the whole store */
	assert_non_null(strstr(f->text, "\n  ],\n  \"unknown\": []\n}\n"));
}

/* Null percentages, amounts and durations are JSON null, not 0. */
static void test_json_nulls(void **state)
{
	fixture *f = *state;
	se_block *b = se_block_new(&f->bs, desc("stale"), 0, 0);
	se_cell *r = se_block_row(b);

	f->rep.reports = SE_REPORT_VELOCITY;
	se_set_str(&r[0], "sales");
	se_set_str(&r[1], "D-1");
	se_set_str(&r[2], "Offer");
	se_set_str(&r[3], "Ann");
	se_set_hours(&r[4], 7200, 1);
	se_set_hours(&r[5], 0, 0);
	se_set_real(&r[6], 0, 1);
	write_with(f, se_write_json);
	assert_non_null(strstr(f->text, "\"stale\": [\n        {\"deal\": \"D-1\", \"stage\": \"Offer\", "
	                                "\"manager\": \"Ann\", \"age_s\": 7200, \"stage_median_s\": null, "
	                                "\"ratio\": null}\n      ]"));
}

/* ---- table ----------------------------------------------------------------------- */

/* Columns are as wide as their widest text in display columns: Cyrillic
 * letters one each, CJK two; numbers right, text left, no trailing blanks. */
static void test_table_alignment(void **state)
{
	fixture *f = *state;
	se_block *b = se_block_new(&f->bs, desc("leads"), 0, 0);

	f->rep.reports = SE_REPORT_LEADS;
	leads_row(b, "team", "*", 1234);
	leads_row(b, "manager", "Анна Петрова", 7);
	leads_row(b, "manager", "Bob", 1200);
	leads_row(b, "source", "微信", 27);
	write_with(f, se_write_table);
	assert_string_equal(from_blocks(f),
	                    "== sales: leads at the first stage (reached) ==\n"
	                    "period  dimension  name          leads\n"
	                    "all     team       *              1234\n"
	                    "all     manager    Анна Петрова      7\n"
	                    "all     manager    Bob            1200\n"
	                    "all     source     微信             27\n"
	                    "\n");
}

/* Control characters in names are shown, not obeyed: a newline cannot
 * start a forged row, an escape sequence cannot reach the terminal.  The
 * columns align on the escaped text.  (CSV and JSON keep the exact bytes,
 * quoted or escaped by their own rules: test_csv_quoting, test_json_*.) */
static void test_table_control_characters(void **state)
{
	fixture *f = *state;
	se_block *b = se_block_new(&f->bs, desc("leads"), 0, 0);

	f->rep.reports = SE_REPORT_LEADS;
	leads_row(b, "manager", "Ann\nRESOLVED [warning] x", 1);
	leads_row(b, "manager", "\x1b[31mred\x1b[0m", 2);
	leads_row(b, "manager", "tab\there\r", 3);
	leads_row(b, "manager", "del\x7f \xc2\x9b" "2J Анна", 4);
	write_with(f, se_write_table);
	assert_string_equal(from_blocks(f),
	                    "== sales: leads at the first stage (reached) ==\n"
	                    "period  dimension  name                       leads\n"
	                    "all     manager    Ann\\nRESOLVED [warning] x      1\n"
	                    "all     manager    \\x1b[31mred\\x1b[0m             2\n"
	                    "all     manager    tab\\there\\r                    3\n"
	                    "all     manager    del\\x7f \\u009b2J Анна          4\n"
	                    "\n");
}

static void test_table_empty_and_header(void **state)
{
	fixture *f = *state;

	f->rep.reports = SE_REPORT_LEADS | SE_REPORT_UNKNOWN;
	f->rep.deals = 3;
	f->rep.events = 9;
	se_block_new(&f->bs, desc("leads"), 0, 0);
	se_block_new(&f->bs, desc("unknown"), SE_NONE, 0);
	write_with(f, se_write_table);
	assert_string_equal(f->text,
	                    "salesengine " SE_VERSION ": 3 deals, 9 events; period total; zone UTC; "
	                    "as of 2026-01-01T00:00:00Z\n\n"
	                    "== sales: leads at the first stage (reached) ==\n"
	                    "(no data)\n\n"
	                    "== statuses no funnel knows ==\n"
	                    "(none: every status is known)\n\n");
}

/* ---- the table of reports ----------------------------------------------------------- */

static void test_report_names(void **state)
{
	unsigned bit, all = 0;
	char list[512] = "";

	(void)state;
	for (size_t i = 0; se_report_option(i) != NULL; i++) {
		assert_int_equal(se_report_flag(se_report_option(i), &bit), SE_OK);
		assert_int_not_equal(bit, 0);
		assert_int_equal(all & bit, 0); /* each option its own bit */
		all |= bit;
		snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? "," : "", se_report_option(i));
	}
	/* the documented names, in the documented order */
	assert_string_equal(list, "leads,conversion,presale,sources,unknown,handling,diagnostics,velocity,"
	                          "forecast,backtest,channels,compare,metrics");
	assert_int_equal(all, SE_REPORT_ALL);
	assert_int_equal(se_report_flag("all", &bit), SE_OK);
	assert_int_equal(bit, SE_REPORT_ALL);
	assert_int_equal(se_report_flag("velocity", &bit), SE_OK);
	assert_int_equal(bit, SE_REPORT_VELOCITY);
	assert_int_equal(se_report_flag("nope", &bit), SE_EUSAGE);
	assert_int_equal(se_report_flag("", &bit), SE_EUSAGE);
	assert_int_equal(se_report_flag("Leads", &bit), SE_EUSAGE);
	assert_int_equal(se_report_flag("time_to_won", &bit), SE_EUSAGE); /* a block, not an option */
}

/* Every row is complete, and no two reports share a name. */
static void test_descriptor_rows(void **state)
{
	(void)state;
	assert_true(se_n_report_descs > 0);
	for (size_t i = 0; i < se_n_report_descs; i++) {
		const se_report_desc *d = &se_report_descs[i];

		assert_non_null(d->name);
		assert_non_null(d->option);
		assert_non_null(d->build);
		assert_non_null(d->cols);
		assert_true(d->ncols > 0 && d->ncols <= 24); /* the table writer's column limit */
		assert_true(d->title != NULL || d->title_fn != NULL);
		assert_int_equal(d->flag & (d->flag - 1), 0); /* one bit */
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(d->name, se_report_descs[j].name);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_csv_quoting, setup, teardown),
		cmocka_unit_test_setup_teardown(test_csv_one_header_per_report, setup, teardown),
		cmocka_unit_test_setup_teardown(test_csv_excel_variants, setup, teardown),
		cmocka_unit_test_setup_teardown(test_csv_fields_of_any_length, setup, teardown),
		cmocka_unit_test(test_cell_text),
		cmocka_unit_test(test_cell_copy),
		cmocka_unit_test(test_metric_values),
		cmocka_unit_test(test_json_string_escapes),
		cmocka_unit_test(test_json_numbers),
		cmocka_unit_test_setup_teardown(test_json_writer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_json_nulls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_table_alignment, setup, teardown),
		cmocka_unit_test_setup_teardown(test_table_control_characters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_table_empty_and_header, setup, teardown),
		cmocka_unit_test(test_report_names),
		cmocka_unit_test(test_descriptor_rows),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
