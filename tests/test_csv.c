/*
 * test_csv.c: the CSV reader, over fmemopen() streams, temp files and a pipe.
 *
 * The inputs are small and written out in full so each test reads as a
 * specification; the buffer-boundary and large-record tests generate theirs.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "csv.h"
#include "helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The reader's buffer size, for inputs that must cross it; if csv.c changes
 * it these tests still pass, they just stop aiming at the boundary. */
#define READ_BUFFER (256u << 10)

typedef struct fixture {
	FILE *fp;
	se_csv *csv;
	char *data;        /* generated input, freed by teardown */
	char path[64];     /* temp file, removed by teardown */
	se_error err;
	se_csv_record rec;
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof *f);

	if (f == NULL)
		return -1;
	*state = f;
	return 0;
}

static void close_reader(fixture *f)
{
	se_csv_close(f->csv);
	f->csv = NULL;
	if (f->fp != NULL)
		fclose(f->fp);
	f->fp = NULL;
}

static int teardown(void **state)
{
	fixture *f = *state;

	close_reader(f);
	free(f->data);
	if (f->path[0] != '\0')
		unlink(f->path);
	free(f);
	return 0;
}

/* Opens a reader over len bytes of text (which must outlive it). */
static void open_bytes(fixture *f, const char *text, size_t len, int delimiter)
{
	close_reader(f);
	f->fp = fmemopen((void *)text, len, "r");
	assert_non_null(f->fp);
	assert_int_equal(se_csv_open_stream(&f->csv, f->fp, "mem.csv", delimiter, &f->err), 0);
}

static void open_text(fixture *f, const char *text, int delimiter)
{
	open_bytes(f, text, strlen(text), delimiter);
}

static int next(fixture *f)
{
	return se_csv_next(f->csv, &f->rec, &f->err);
}

/* Reads the next record and checks its line and fields (NULL-terminated). */
static void expect_record_(fixture *f, long line, const char *const *fields)
{
	size_t n = 0;

	assert_int_equal(next(f), 1);
	assert_int_equal(f->rec.line, line);
	while (fields[n] != NULL)
		n++;
	assert_int_equal(f->rec.nfields, n);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(f->rec.fields[i].len, strlen(fields[i]));
		assert_string_equal(f->rec.fields[i].ptr, fields[i]);
	}
}

#define EXPECT_RECORD(f, line, ...) \
	expect_record_((f), (line), (const char *const[]){__VA_ARGS__, NULL})

static void expect_malformed(fixture *f, long line, long error_line, size_t error_field,
                             const char *reason)
{
	assert_int_equal(next(f), SE_EINPUT);
	assert_int_equal(f->err.code, SE_EINPUT);
	assert_string_equal(f->err.msg, reason);
	assert_int_equal(f->rec.line, line);
	assert_int_equal(f->rec.error_line, error_line);
	assert_int_equal(f->rec.error_field, error_field);
}

static void expect_end(fixture *f)
{
	assert_int_equal(next(f), 0);
	assert_int_equal(next(f), 0); /* and it stays there */
}

static void expect_field_at(const fixture *f, size_t i, long line, long col)
{
	assert_true(i < f->rec.nfields);
	assert_int_equal(f->rec.fields[i].line, line);
	assert_int_equal(f->rec.fields[i].col, col);
}

static char *xmalloc(size_t n)
{
	char *p = malloc(n);

	assert_non_null(p);
	return p;
}

static uint64_t rng_state = 0x853c49e6748fea9bull;

static unsigned rng(unsigned n)
{
	return test_rng_below(&rng_state, n);
}

/* Lines of random unquoted fields (NULs, Cyrillic, bad bytes, spaces, a CR
 * or a bare quote inside a field, up to 100 fields so the field table
 * grows), LF or CRLF ends, each delimiter: every record is the line split
 * at its delimiters, with each field's column, and the fields lie back to
 * back, each followed by its NUL (csv.h). */
static void test_random_unquoted_lines(void **state)
{
	fixture *f = *state;
	static const int delimiters[] = { ',', ';', '\t' };
	enum { LINES = 3000 };
	size_t cap = (size_t)LINES * 100 * 24, len = 0;
	size_t *starts = calloc((size_t)LINES * 101, sizeof *starts);
	unsigned *counts = calloc(LINES, sizeof *counts);

	assert_non_null(starts);
	assert_non_null(counts);
	f->data = xmalloc(cap);
	for (int d = 0; d < 3; d++) {
		int delim = delimiters[d];

		len = 0;
		for (int l = 0; l < LINES; l++) {
			size_t line_start = len;
			unsigned nf = rng(4) == 0 ? 1 + rng(100) : 1 + rng(9);
			int quotes = rng(8) == 0; /* most lines take the reader's fast path */

			counts[l] = nf;
			for (unsigned k = 0; k < nf; k++) {
				unsigned flen = rng(12) == 0 ? 0 : rng(20);

				if (k > 0)
					f->data[len++] = (char)delim;
				starts[(size_t)l * 101 + k] = len - line_start;
				if (nf == 1 && flen == 0)
					flen = 1; /* an empty line is no record */
				for (unsigned c = 0; c < flen; c++) {
					static const char alphabet[] = "abcXYZ0189 .\0\xFF";
					unsigned r = rng(20);

					if (r == 0 && quotes && c > 0 && c + 1 < flen)
						f->data[len++] = '"';
					else if (r == 1 && c + 1 < flen)
						f->data[len++] = '\r';
					else if (r < 5 && c + 1 < flen) {
						memcpy(f->data + len, "\xD0\x96", 2);
						len += 2;
						c++;
					} else
						f->data[len++] = alphabet[rng(sizeof alphabet - 1)];
				}
			}
			starts[(size_t)l * 101 + nf] = len - line_start; /* the end */
			if (rng(3) == 0)
				f->data[len++] = '\r';
			f->data[len++] = '\n';
		}
		open_bytes(f, f->data, len, delim);
		len = 0;
		for (int l = 0; l < LINES; l++) {
			const size_t *st = &starts[(size_t)l * 101];
			size_t line_start = len;

			assert_int_equal(next(f), 1);
			assert_int_equal(f->rec.line, l + 1);
			assert_int_equal(f->rec.nfields, counts[l]);
			for (unsigned k = 0; k < counts[l]; k++) {
				const se_csv_field *fl = &f->rec.fields[k];
				size_t flen = st[k + 1] - st[k] - (k + 1 < counts[l] ? 1 : 0);

				assert_int_equal(fl->len, flen);
				assert_memory_equal(fl->ptr, f->data + line_start + st[k], flen);
				assert_int_equal(fl->ptr[flen], '\0');
				assert_int_equal(fl->line, l + 1);
				assert_int_equal(fl->col, (long)st[k] + 1);
				if (k + 1 < counts[l])
					assert_ptr_equal(fl[1].ptr, fl->ptr + flen + 1);
			}
			len = line_start + st[counts[l]];
			if (f->data[len] == '\r')
				len++;
			len++;
		}
		expect_end(f);
	}
	free(starts);
	free(counts);
}

/* ---- basic syntax ---------------------------------------------------------- */

static void test_simple_records(void **state)
{
	fixture *f = *state;

	static const char text[] = "id,name,amount\n1,Ann,10.5\n2,Bob,7\n";

	open_text(f, text, 0);
	assert_int_equal(se_csv_delimiter(f->csv), ',');
	assert_string_equal(se_csv_name(f->csv), "mem.csv");
	EXPECT_RECORD(f, 1, "id", "name", "amount");
	expect_field_at(f, 0, 1, 1);
	expect_field_at(f, 1, 1, 4);
	expect_field_at(f, 2, 1, 9);
	EXPECT_RECORD(f, 2, "1", "Ann", "10.5");
	EXPECT_RECORD(f, 3, "2", "Bob", "7");
	expect_end(f);
	assert_int_equal(se_csv_offset(f->csv), (long long)strlen(text));
	assert_int_equal(se_csv_size(f->csv), 0); /* not a regular file */
}

static void test_quoted_fields(void **state)
{
	fixture *f = *state;

	open_text(f,
	          "\"a,b\",\"say \"\"hi\"\"\",\"\"\n"
	          "\"two\nlines\",\"crlf\r\ninside\",plain\n"
	          "\"\"\"\",x\n",
	          0);
	EXPECT_RECORD(f, 1, "a,b", "say \"hi\"", "");
	EXPECT_RECORD(f, 2, "two\nlines", "crlf\r\ninside", "plain");
	EXPECT_RECORD(f, 5, "\"", "x");
	expect_end(f);
}

static void test_crlf_line_ends(void **state)
{
	fixture *f = *state;

	open_text(f, "a,b\r\n\"q\"\r\nc,\r\n", 0);
	EXPECT_RECORD(f, 1, "a", "b");
	EXPECT_RECORD(f, 2, "q");
	EXPECT_RECORD(f, 3, "c", "");
	expect_end(f);
}

static void test_cr_inside_unquoted_field_is_data(void **state)
{
	fixture *f = *state;

	open_text(f, "a\rb,c\r\r\nd\n", 0);
	EXPECT_RECORD(f, 1, "a\rb", "c\r");
	EXPECT_RECORD(f, 2, "d");
	expect_end(f);
}

static void test_bare_quote_in_unquoted_field(void **state)
{
	fixture *f = *state;

	open_text(f, "ab\"c,d\"e\",5\" screen\n", 0);
	EXPECT_RECORD(f, 1, "ab\"c", "d\"e\"", "5\" screen");
	expect_end(f);
}

static void test_no_trailing_newline(void **state)
{
	fixture *f = *state;

	open_text(f, "a,b\nc,d", 0);
	EXPECT_RECORD(f, 1, "a", "b");
	EXPECT_RECORD(f, 2, "c", "d");
	expect_end(f);

	open_text(f, "a,\"quoted end\"", 0);
	EXPECT_RECORD(f, 1, "a", "quoted end");
	expect_end(f);
}

static void test_bom_is_skipped(void **state)
{
	fixture *f = *state;

	open_text(f, "\xEF\xBB\xBFid;name\n1;x\n", 0);
	assert_int_equal(se_csv_delimiter(f->csv), ';');
	EXPECT_RECORD(f, 1, "id", "name");
	expect_field_at(f, 0, 1, 1);
	expect_field_at(f, 1, 1, 4);
	EXPECT_RECORD(f, 2, "1", "x");
	expect_end(f);

	/* Only at the very start: elsewhere it is data. */
	open_text(f, "a\n\xEF\xBB\xBF" "b\n", 0);
	EXPECT_RECORD(f, 1, "a");
	EXPECT_RECORD(f, 2, "\xEF\xBB\xBF" "b");
	expect_end(f);
}

static void test_blank_lines_are_skipped_but_counted(void **state)
{
	fixture *f = *state;

	open_text(f, "\n\na,b\n\n\r\nc,d\n\n", 0);
	EXPECT_RECORD(f, 3, "a", "b");
	EXPECT_RECORD(f, 6, "c", "d");
	expect_field_at(f, 1, 6, 3);
	expect_end(f);
}

static void test_field_positions_after_multiline_field(void **state)
{
	fixture *f = *state;

	open_text(f, "id,\"multi\nline\",x\n\"a\r\nb\r\nc\",y,z\nlast\n", 0);
	EXPECT_RECORD(f, 1, "id", "multi\nline", "x");
	expect_field_at(f, 0, 1, 1);
	expect_field_at(f, 1, 1, 4);
	expect_field_at(f, 2, 2, 7);
	EXPECT_RECORD(f, 3, "a\r\nb\r\nc", "y", "z");
	expect_field_at(f, 1, 5, 4);
	expect_field_at(f, 2, 5, 6);
	EXPECT_RECORD(f, 6, "last");
	expect_end(f);
}

static void test_empty_fields(void **state)
{
	fixture *f = *state;

	open_text(f, "a,b,\n,,\n,x\n\"\",\"\"\n", 0);
	EXPECT_RECORD(f, 1, "a", "b", "");
	EXPECT_RECORD(f, 2, "", "", "");
	expect_field_at(f, 2, 2, 3);
	EXPECT_RECORD(f, 3, "", "x");
	EXPECT_RECORD(f, 4, "", "");
	expect_end(f);

	/* A trailing delimiter at the very end of input still opens a field. */
	open_text(f, "a,b,", 0);
	EXPECT_RECORD(f, 1, "a", "b", "");
	expect_end(f);
}

static void test_header_only(void **state)
{
	fixture *f = *state;

	open_text(f, "event_id,deal_id,status\n", 0);
	EXPECT_RECORD(f, 1, "event_id", "deal_id", "status");
	expect_end(f);

	open_text(f, "event_id\tdeal_id", 0);
	assert_int_equal(se_csv_delimiter(f->csv), '\t');
	EXPECT_RECORD(f, 1, "event_id", "deal_id");
	expect_end(f);
}

static void test_empty_input(void **state)
{
	fixture *f = *state;

	open_bytes(f, "", 0, 0);
	assert_int_equal(se_csv_delimiter(f->csv), ',');
	expect_end(f);
	assert_int_equal(se_csv_offset(f->csv), 0);

	open_text(f, "\n\r\n\n", 0);
	expect_end(f);
}

/* ---- delimiters --------------------------------------------------------------- */

static void test_detects_semicolon(void **state)
{
	fixture *f = *state;

	open_text(f, "id;name;note\n1;\"a;b\";x,y\n", 0);
	assert_int_equal(se_csv_delimiter(f->csv), ';');
	EXPECT_RECORD(f, 1, "id", "name", "note");
	EXPECT_RECORD(f, 2, "1", "a;b", "x,y");
	expect_end(f);
}

static void test_detects_comma(void **state)
{
	fixture *f = *state;

	/* Delimiters inside quotes do not count. */
	open_text(f, "\"a;b;c;d\",e,f\n", 0);
	assert_int_equal(se_csv_delimiter(f->csv), ',');
	EXPECT_RECORD(f, 1, "a;b;c;d", "e", "f");
	expect_end(f);

	/* Only the first record counts. */
	open_text(f, "a,b\nc;d;e;f\n", 0);
	assert_int_equal(se_csv_delimiter(f->csv), ',');
}

static void test_detects_tab(void **state)
{
	fixture *f = *state;

	open_text(f, "\n\"x,y,z\"\tb\tc,d\n1\t2\t3\n", 0);
	assert_int_equal(se_csv_delimiter(f->csv), '\t');
	EXPECT_RECORD(f, 2, "x,y,z", "b", "c,d");
	EXPECT_RECORD(f, 3, "1", "2", "3");
	expect_end(f);
}

static void test_detection_defaults_to_comma(void **state)
{
	fixture *f = *state;

	open_text(f, "a;b,c\n", 0); /* a tie */
	assert_int_equal(se_csv_delimiter(f->csv), ',');
	open_text(f, "a;b\tc\n", 0);
	assert_int_equal(se_csv_delimiter(f->csv), ',');
	open_text(f, "single\n", 0); /* none */
	assert_int_equal(se_csv_delimiter(f->csv), ',');
	/* A quote that opens mid-field is data, so it hides nothing. */
	open_text(f, "a\"b;c;d\n", 0);
	assert_int_equal(se_csv_delimiter(f->csv), ';');
}

static void test_forced_delimiter(void **state)
{
	fixture *f = *state;

	open_text(f, "a,b;c,d\n1,2;3\n", ';');
	assert_int_equal(se_csv_delimiter(f->csv), ';');
	EXPECT_RECORD(f, 1, "a,b", "c,d");
	EXPECT_RECORD(f, 2, "1,2", "3");
	expect_end(f);

	open_text(f, "a;b;c\n", ',');
	EXPECT_RECORD(f, 1, "a;b;c");
	expect_end(f);
}

static void test_invalid_delimiter(void **state)
{
	fixture *f = *state;
	se_csv *csv = (se_csv *)f;

	f->fp = fmemopen((void *)"a|b\n", 4, "r");
	assert_non_null(f->fp);
	assert_int_equal(se_csv_open_stream(&csv, f->fp, "mem.csv", '|', &f->err), SE_EUSAGE);
	assert_null(csv);
	assert_int_equal(f->err.code, SE_EUSAGE);
}

/* ---- malformed records --------------------------------------------------------- */

static void test_char_after_closing_quote(void **state)
{
	fixture *f = *state;

	open_text(f,
	          "a,b\n"
	          "\"x\"y,z\n"
	          "c,d\n"
	          "1,\"multi\nline\"junk,\"never closed\n"
	          "e,f\n"
	          "\"cr\"\rx\n"
	          "g,h\n",
	          0);
	EXPECT_RECORD(f, 1, "a", "b");
	expect_malformed(f, 2, 2, 0, "unexpected character after closing quote");
	EXPECT_RECORD(f, 3, "c", "d");
	/* The rest of the offending line is dropped, quotes and all. */
	expect_malformed(f, 4, 5, 1, "unexpected character after closing quote");
	EXPECT_RECORD(f, 6, "e", "f");
	expect_malformed(f, 7, 7, 0, "unexpected character after closing quote");
	EXPECT_RECORD(f, 8, "g", "h");
	expect_end(f);
}

static void test_unterminated_quote_resumes_on_next_line(void **state)
{
	fixture *f = *state;

	open_text(f,
	          "h1,h2\n"
	          "a,b\n"
	          "c,\"oops\n"
	          "d,e\n"
	          "\n"
	          "f,g\n",
	          0);
	EXPECT_RECORD(f, 1, "h1", "h2");
	EXPECT_RECORD(f, 2, "a", "b");
	expect_malformed(f, 3, 3, 1, "unterminated quote");
	EXPECT_RECORD(f, 4, "d", "e");
	expect_field_at(f, 1, 4, 3);
	EXPECT_RECORD(f, 6, "f", "g");
	expect_end(f);
}

static void test_unterminated_quote_on_last_line(void **state)
{
	fixture *f = *state;

	open_text(f, "a,b\nc,\"open", 0);
	EXPECT_RECORD(f, 1, "a", "b");
	expect_malformed(f, 2, 2, 1, "unterminated quote");
	expect_end(f);
}

/* Opens text as a pipe, the way stdin comes: nothing can be re-read. */
static void open_pipe(fixture *f, const char *text, int delimiter)
{
	int fds[2];
	size_t len = strlen(text);

	assert_int_equal(pipe(fds), 0);
	assert_int_equal(write(fds[1], text, len), (ssize_t)len);
	close(fds[1]);
	f->fp = fdopen(fds[0], "r");
	assert_non_null(f->fp);
	assert_int_equal(se_csv_open_stream(&f->csv, f->fp, "pipe", delimiter, &f->err), 0);
}

static void test_unterminated_quote_in_a_pipe_resumes(void **state)
{
	fixture *f = *state;

	open_pipe(f, "a,b\n\"open\nc,d\ne,f\n", 0);
	EXPECT_RECORD(f, 1, "a", "b");
	expect_malformed(f, 2, 2, 0, "unterminated quote");
	EXPECT_RECORD(f, 3, "c", "d");
	EXPECT_RECORD(f, 4, "e", "f");
	expect_end(f);
}

/* The reported case: an unclosed quote on line 2 and a stray one on line 5.
 * The quote of line 2 closes at line 5's, and the stray character after it
 * shows the record is wrong: line 2 alone is the bad record, reported at
 * its quote, and lines 3 to 6 are records again.  The same from a pipe. */
static const char two_quotes[] =
	"event_id,deal_id,ts,stage,manager\n"
	"e1,d1,2025-01-01,lead,\"Ann\n"
	"e2,d2,2025-01-01,lead,Bob\n"
	"e3,d3,2025-01-01,lead,Cy\n"
	"e4,d4,2025-01-01,lead,TV 55\"x\n"
	"e5,d5,2025-01-01,lead,Dee\n";

static void expect_two_quotes_records(fixture *f)
{
	EXPECT_RECORD(f, 1, "event_id", "deal_id", "ts", "stage", "manager");
	se_csv_expect_fields(f->csv, 5);
	expect_malformed(f, 2, 2, 4, "unterminated quote");
	assert_int_equal(f->rec.error_col, 23);
	EXPECT_RECORD(f, 3, "e2", "d2", "2025-01-01", "lead", "Bob");
	EXPECT_RECORD(f, 4, "e3", "d3", "2025-01-01", "lead", "Cy");
	EXPECT_RECORD(f, 5, "e4", "d4", "2025-01-01", "lead", "TV 55\"x");
	EXPECT_RECORD(f, 6, "e5", "d5", "2025-01-01", "lead", "Dee");
	expect_end(f);
}

static void test_open_quote_costs_one_record(void **state)
{
	fixture *f = *state;

	open_text(f, two_quotes, 0);
	expect_two_quotes_records(f);
}

static void test_open_quote_costs_one_record_in_a_pipe(void **state)
{
	fixture *f = *state;

	open_pipe(f, two_quotes, 0);
	expect_two_quotes_records(f);
}

/* Legitimate values across lines stay whole, even when a line inside one
 * looks like a record: its record ends cleanly with the header's count. */
static void test_multiline_values_stay_whole(void **state)
{
	fixture *f = *state;

	open_pipe(f,
	          "id,note,n\n"
	          "1,\"first line\nsecond, with \"\"quotes\"\"\n\",x\n"
	          "2,\"a,b,c\nd,e,f\",y\n"
	          "3,\"\",z\n",
	          0);
	EXPECT_RECORD(f, 1, "id", "note", "n");
	se_csv_expect_fields(f->csv, 3);
	EXPECT_RECORD(f, 2, "1", "first line\nsecond, with \"quotes\"\n", "x");
	EXPECT_RECORD(f, 5, "2", "a,b,c\nd,e,f", "y");
	EXPECT_RECORD(f, 7, "3", "", "z");
	expect_end(f);
}

/* A quote opened by mistake that the next quote closes cleanly: the record
 * has the wrong field count, so the lines it swallowed come back. */
static void test_wrong_count_after_crossing_restarts(void **state)
{
	fixture *f = *state;

	open_text(f,
	          "a,b,c\n"
	          "1,\"x,2\n"
	          "3,4,5\n"
	          "6,\"q\",7\n",
	          0);
	EXPECT_RECORD(f, 1, "a", "b", "c");
	se_csv_expect_fields(f->csv, 3);
	expect_malformed(f, 2, 2, 1, "unterminated quote");
	EXPECT_RECORD(f, 3, "3", "4", "5");
	EXPECT_RECORD(f, 4, "6", "q", "7");
	expect_end(f);
}

/* Starting again reads kept bytes; a second open quote inside them starts
 * again inside those, across buffer refills (large lines). */
static void test_restart_inside_kept_bytes(void **state)
{
	fixture *f = *state;
	size_t line = 100000, n = 0;
	char *p = f->data = xmalloc(8 * line + 256);

	n += (size_t)sprintf(p + n, "h,v\n1,\"open\n");
	for (int r = 0; r < 3; r++) {
		n += (size_t)sprintf(p + n, "%d,", r + 2);
		memset(p + n, 'a' + r, line);
		n += line;
		p[n++] = '\n';
	}
	n += (size_t)sprintf(p + n, "9,\"again\n10,ok\n11,x\"y\n12,end\n");
	open_bytes(f, p, n, 0);
	EXPECT_RECORD(f, 1, "h", "v");
	se_csv_expect_fields(f->csv, 2);
	expect_malformed(f, 2, 2, 1, "unterminated quote");
	for (int r = 0; r < 3; r++) {
		assert_int_equal(next(f), 1);
		assert_int_equal(f->rec.line, 3 + r);
		assert_int_equal(f->rec.fields[1].len, line);
		assert_int_equal(f->rec.fields[1].ptr[line - 1], 'a' + r);
	}
	expect_malformed(f, 6, 6, 1, "unterminated quote");
	EXPECT_RECORD(f, 7, "10", "ok");
	EXPECT_RECORD(f, 8, "11", "x\"y");
	EXPECT_RECORD(f, 9, "12", "end");
	expect_end(f);
}

static void test_record_over_the_limit(void **state)
{
	fixture *f = *state;
	size_t big = SE_CSV_MAX_RECORD + 100;
	static const char tail[] = "\nok,1\n\"q\",\"";
	char *p;

	/* An unquoted one, then a quoted one with the line end inside.  The
	 * first is skipped to its real end.  The second went wrong after its
	 * quote crossed a line end, so the quote is blamed and reading starts
	 * again on the next line that is a record by itself (line 4, itself
	 * too long). */
	f->data = p = xmalloc(4 + big + sizeof tail + big + 64);
	memcpy(p, "id,", 3);
	p += 3;
	memset(p, 'x', big);
	p += big;
	memcpy(p, tail, sizeof tail - 1);
	p += sizeof tail - 1;
	memset(p, 'y', big);
	p[10] = '\n';
	p += big;
	memcpy(p, "\",z\nlast\n", 9);
	p += 9;
	open_bytes(f, f->data, (size_t)(p - f->data), 0);
	expect_malformed(f, 1, 1, 1, "record longer than 16 MiB");
	EXPECT_RECORD(f, 2, "ok", "1");
	expect_malformed(f, 3, 3, 1, "unterminated quote");
	assert_int_equal(f->rec.error_col, 5);
	expect_malformed(f, 4, 4, 0, "record longer than 16 MiB");
	EXPECT_RECORD(f, 5, "last");
	expect_end(f);
}

static void test_too_many_fields(void **state)
{
	fixture *f = *state;
	size_t n = 600000;
	char *p;

	f->data = p = xmalloc(n + 16);
	memset(p, ',', n);
	memcpy(p + n, "\na,b\n", 5);
	open_bytes(f, f->data, n + 5, ',');
	assert_int_equal(next(f), SE_EINPUT);
	assert_string_equal(f->err.msg, "record has more than 524288 fields");
	assert_int_equal(f->rec.error_line, 1);
	EXPECT_RECORD(f, 2, "a", "b");
	expect_end(f);
}

/* ---- buffers and bytes ------------------------------------------------------------ */

static void test_large_record_across_refills(void **state)
{
	fixture *f = *state;
	size_t nquoted = (3u << 20) / 2, nplain = 1200000;
	char *expect = xmalloc(nquoted);
	size_t elen = 0, i;
	char *p;

	/* Quoted data with doubled quotes and line ends mixed in. */
	f->data = p = xmalloc(2 * nquoted + nplain + 64);
	*p++ = '"';
	for (i = 0; elen < nquoted; i++) {
		char c = (char)('a' + i % 26);

		if (i % 1000 == 999)
			c = '"';
		else if (i % 5003 == 5002)
			c = '\n';
		expect[elen++] = c;
		*p++ = c;
		if (c == '"')
			*p++ = '"';
	}
	memcpy(p, "\",", 2);
	p += 2;
	for (i = 0; i < nplain; i++)
		*p++ = (char)('0' + i % 10);
	memcpy(p, "\nend\n", 5);
	p += 5;
	open_bytes(f, f->data, (size_t)(p - f->data), ',');
	assert_int_equal(next(f), 1);
	assert_int_equal(f->rec.nfields, 2);
	assert_int_equal(f->rec.fields[0].len, nquoted);
	assert_memory_equal(f->rec.fields[0].ptr, expect, nquoted);
	assert_int_equal(f->rec.fields[1].len, nplain);
	for (i = 0; i < nplain; i++)
		assert_true(f->rec.fields[1].ptr[i] == (char)('0' + i % 10));
	assert_int_equal(f->rec.fields[1].ptr[nplain], '\0');
	long lines = 1;
	for (i = 0; i < nquoted; i++)
		lines += expect[i] == '\n';
	assert_true(lines > 100);
	assert_int_equal(f->rec.fields[1].line, lines);
	EXPECT_RECORD(f, lines + 1, "end");
	expect_end(f);
	free(expect);
}

/* Puts each byte of a tricky record on the read buffer's edge in turn. */
static void test_record_crossing_buffer_boundary(void **state)
{
	fixture *f = *state;
	static const char tricky[] = "\"a\"\"b\",\"c\r\nd\",e\r\n\r\n\"\"\"\"\r\nf,g\r\n";
	size_t tlen = sizeof tricky - 1;
	size_t total = READ_BUFFER + tlen + 8;

	f->data = xmalloc(total);
	for (size_t k = 1; k <= tlen; k++) {
		/* A first line that ends k bytes before the buffer does. */
		size_t first = READ_BUFFER - k;

		memset(f->data, 'x', first - 2);
		memcpy(f->data + first - 2, "\r\n", 2);
		memcpy(f->data + first, tricky, tlen);
		open_bytes(f, f->data, first + tlen, ',');
		assert_int_equal(next(f), 1);
		assert_int_equal(f->rec.fields[0].len, first - 2);
		EXPECT_RECORD(f, 2, "a\"b", "c\r\nd", "e");
		expect_field_at(f, 2, 3, 4);
		EXPECT_RECORD(f, 5, "\"");
		EXPECT_RECORD(f, 6, "f", "g");
		expect_end(f);
		assert_int_equal(se_csv_offset(f->csv), (long long)(first + tlen));
	}
}

static void test_cyrillic_passes_through(void **state)
{
	fixture *f = *state;

	open_text(f,
	          "сделка;менеджер;статус\n"
	          "42;\"Иванов; Пётр\";Закрыта успешно\n",
	          0);
	assert_int_equal(se_csv_delimiter(f->csv), ';');
	EXPECT_RECORD(f, 1, "сделка", "менеджер", "статус");
	EXPECT_RECORD(f, 2, "42", "Иванов; Пётр", "Закрыта успешно");
	/* Columns are byte columns. */
	expect_field_at(f, 2, 2, 1 + 3 + strlen("\"Иванов; Пётр\";"));
	expect_end(f);
}

static void test_nul_bytes_keep_their_length(void **state)
{
	fixture *f = *state;
	static const char text[] = "a\0b,\"c\0\"\"d\"\n\0,x\n";

	open_bytes(f, text, sizeof text - 1, ',');
	assert_int_equal(next(f), 1);
	assert_int_equal(f->rec.nfields, 2);
	assert_int_equal(f->rec.fields[0].len, 3);
	assert_memory_equal(f->rec.fields[0].ptr, "a\0b", 4);
	assert_int_equal(f->rec.fields[1].len, 4);
	assert_memory_equal(f->rec.fields[1].ptr, "c\0\"d", 5);
	assert_int_equal(next(f), 1);
	assert_int_equal(f->rec.line, 2);
	assert_int_equal(f->rec.fields[0].len, 1);
	assert_int_equal(f->rec.fields[0].ptr[0], '\0');
	assert_string_equal(f->rec.fields[1].ptr, "x");
	expect_end(f);
}

/* ---- files ------------------------------------------------------------------------ */

static void write_temp_file(fixture *f, const char *text)
{
	int fd;
	size_t len = strlen(text);

	strcpy(f->path, "/tmp/test_csv_XXXXXX");
	fd = mkstemp(f->path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
}

static void test_open_path(void **state)
{
	fixture *f = *state;
	static const char text[] = "a;b\n1;2\n";

	write_temp_file(f, text);
	assert_int_equal(se_csv_open(&f->csv, f->path, 0, &f->err), 0);
	assert_string_equal(se_csv_name(f->csv), f->path);
	assert_int_equal(se_csv_size(f->csv), (long long)strlen(text));
	assert_int_equal(se_csv_delimiter(f->csv), ';');
	EXPECT_RECORD(f, 1, "a", "b");
	EXPECT_RECORD(f, 2, "1", "2");
	expect_end(f);
	assert_int_equal(se_csv_offset(f->csv), se_csv_size(f->csv));
}

static void test_open_path_unterminated_quote_resumes(void **state)
{
	fixture *f = *state;

	write_temp_file(f, "h\n\"stray\nok\n");
	assert_int_equal(se_csv_open(&f->csv, f->path, 0, &f->err), 0);
	EXPECT_RECORD(f, 1, "h");
	expect_malformed(f, 2, 2, 0, "unterminated quote");
	EXPECT_RECORD(f, 3, "ok");
	expect_end(f);
}

static void test_open_stdin(void **state)
{
	fixture *f = *state;

	write_temp_file(f, "x,y\n");
	assert_non_null(freopen(f->path, "r", stdin));
	assert_int_equal(se_csv_open(&f->csv, "-", 0, &f->err), 0);
	assert_string_equal(se_csv_name(f->csv), "<stdin>");
	EXPECT_RECORD(f, 1, "x", "y");
	expect_end(f);
}

static void test_cannot_open(void **state)
{
	fixture *f = *state;
	se_csv *csv = (se_csv *)f;

	assert_int_equal(se_csv_open(&csv, "/nonexistent-dir/sales.csv", 0, &f->err), SE_EIO);
	assert_null(csv);
	assert_int_equal(f->err.code, SE_EIO);
	assert_string_equal(f->err.msg,
	                    "cannot open /nonexistent-dir/sales.csv: No such file or directory");
}

static void test_read_error(void **state)
{
	fixture *f = *state;
	se_csv *csv = (se_csv *)f;

	/* A directory opens but cannot be read. */
	assert_int_equal(se_csv_open(&csv, "/tmp", 0, &f->err), SE_EIO);
	assert_null(csv);
	assert_string_equal(f->err.msg, "cannot read /tmp: Is a directory");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_simple_records, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quoted_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crlf_line_ends, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cr_inside_unquoted_field_is_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bare_quote_in_unquoted_field, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_trailing_newline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bom_is_skipped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blank_lines_are_skipped_but_counted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_field_positions_after_multiline_field, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_header_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_detects_semicolon, setup, teardown),
		cmocka_unit_test_setup_teardown(test_detects_comma, setup, teardown),
		cmocka_unit_test_setup_teardown(test_detects_tab, setup, teardown),
		cmocka_unit_test_setup_teardown(test_detection_defaults_to_comma, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forced_delimiter, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_delimiter, setup, teardown),
		cmocka_unit_test_setup_teardown(test_char_after_closing_quote, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unterminated_quote_resumes_on_next_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unterminated_quote_on_last_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unterminated_quote_in_a_pipe_resumes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_quote_costs_one_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_quote_costs_one_record_in_a_pipe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_multiline_values_stay_whole, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_count_after_crossing_restarts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_inside_kept_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_record_over_the_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_many_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_large_record_across_refills, setup, teardown),
		cmocka_unit_test_setup_teardown(test_record_crossing_buffer_boundary, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cyrillic_passes_through, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nul_bytes_keep_their_length, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_path_unterminated_quote_resumes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_stdin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cannot_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random_unquoted_lines, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
