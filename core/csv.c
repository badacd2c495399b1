/*
 * csv.c: the streaming RFC 4180 reader behind csv.h.
 *
 * Design: bytes come through one fixed read buffer; every field is copied,
 * quotes removed, into a per-record arena as soon as it is scanned, so the
 * buffer can be refilled at any point of a record and only the arena (plus
 * the field table) grows, for the current record and never beyond
 * SE_CSV_MAX_RECORD.  Unquoted fields are found with memchr() against a
 * cached position of the next line end; quoted fields with memchr() for the
 * next quote, counting the line ends they contain.  A record that goes
 * wrong is still read to its end (storing nothing once it is too long), so
 * the next call starts on the next record.
 *
 * A quote that is never closed where it should be would otherwise swallow
 * the lines after it.  So while a quoted field runs across a line end, the
 * raw bytes from the line after the quote's own are kept (the ones a
 * refill moves out of the buffer, in csv->raw).  If that record then goes
 * wrong -- a stray character after the closing quote, the end of input,
 * or a field count other than the header's -- those lines are searched for
 * the first one that is a record by itself (quotes closed on the line, and
 * the header's field count when known), and reading starts again there,
 * from the kept bytes (csv->replay) and then the stream.  This works the
 * same on a pipe as on a file.  A quoted field that ends cleanly with the
 * right field count is kept whole, so legitimate multi-line values are
 * never split.
 */
#include "csv.h"
#include "swar.h"
#include "vec.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

/* The fuzz build reads through a small buffer: cheaper per input, and
 * every refill boundary inside a record gets exercised. */
#ifndef CSV_BUFSIZE
#define CSV_BUFSIZE (256u << 10)
#endif
#define CSV_ARENA_INITIAL 4096u
#define CSV_FIELDS_INITIAL 64u
/* The field table counts towards the record's memory as well: without this,
 * 16 MiB of delimiters would need 16M descriptors (half a gigabyte). */
#define CSV_MAX_FIELDS (SE_CSV_MAX_RECORD / sizeof(se_csv_field))

/* How a field ended. */
enum csv_term {
	TERM_DELIM,        /* a delimiter: another field follows */
	TERM_EOL,          /* LF or CRLF: the record is complete */
	TERM_EOF,          /* end of input: the record is complete */
	TERM_BAD_QUOTE,    /* a stray character after a closing quote */
	TERM_UNTERMINATED, /* end of input inside quotes */
	TERM_SPAN          /* a quote crossing lines ran past SE_CSV_MAX_RECORD */
};

enum csv_overflow {
	OVERFLOW_NONE,
	OVERFLOW_BYTES,
	OVERFLOW_FIELDS
};

struct se_csv {
	FILE *fp;
	int owns_fp;
	char *name;
	int delimiter;

	/* Read buffer: buf[pos, end) is unread; buf[0] is byte buf_off of the input. */
	char *buf;
	size_t pos;
	size_t end;
	long long buf_off;
	int eof;
	/* Index of the next LF at or after pos (end when none is buffered); saves
	 * rescanning a long line for every one of its fields. */
	size_t nl;
	int nl_valid;

	long line;           /* physical line of buf[pos] */
	long long line_off;  /* input offset at which that line starts */

	long long size;
	size_t expect_fields; /* se_csv_expect_fields(); 0: any count */

	/* The current record: field contents, each NUL-terminated, back to back. */
	char *arena;
	size_t arena_len;
	size_t arena_cap;
	se_csv_field *fields;
	size_t nfields;      /* fields seen, including any not stored after an overflow */
	size_t fields_cap;
	size_t field_start;  /* arena offset of the field being read */

	/* The quoted field being read: where it opened. */
	long quote_line;
	long quote_col;
	/* The first quoted field of the record that crossed a line end: where
	 * it opened, and where the line after that one starts (the first place
	 * a fresh record may start if the quote turns out never closed). */
	int rec_crossed;
	long cross_line;
	long cross_col;
	size_t cross_field;
	long long resume_off;
	long resume_line;
	/* Input bytes [resume_off, buf_off) once refills moved them out. */
	char *raw;
	size_t raw_len;
	size_t raw_cap;
	/* Bytes to read again, before the rest of the stream. */
	char *replay;
	size_t replay_pos;
	size_t replay_len;

	/* Set once the record outgrows its limits: nothing more is stored. */
	enum csv_overflow overflow;
	long overflow_line;
	size_t overflow_field;

	/* Where a malformed record went wrong. */
	long bad_line;
	long bad_col;
	size_t bad_field;
};

/* ---- input buffer -------------------------------------------------------- */

static long long input_offset(const se_csv *csv, size_t index)
{
	return csv->buf_off + (long long)index;
}

static int input_left(const se_csv *csv)
{
	return !csv->eof || csv->replay_pos < csv->replay_len;
}

static int keep_raw(se_csv *csv, const char *p, size_t n, se_error *err)
{
	if (n > SIZE_MAX - csv->raw_len ||
	    SE_VEC_RESERVE(csv->raw, csv->raw_cap, csv->raw_len + n, CSV_BUFSIZE) != SE_OK)
		return se_error_set(err, SE_ENOMEM, "out of memory reading %s", csv->name);
	memcpy(csv->raw + csv->raw_len, p, n);
	csv->raw_len += n;
	return 0;
}

/* Keeps the unread bytes, moved to the front, and reads more after them:
 * first any bytes to read again, then the stream. */
static int refill(se_csv *csv, se_error *err)
{
	size_t keep = csv->end - csv->pos;
	size_t room;
	size_t got;
	int rc;

	if (csv->rec_crossed && csv->pos > 0) {
		/* The bytes leaving the buffer may be needed to start over. */
		long long from = csv->resume_off - csv->buf_off;

		if (from < 0)
			from = 0;
		if ((size_t)from < csv->pos &&
		    (rc = keep_raw(csv, csv->buf + from, csv->pos - (size_t)from, err)) < 0)
			return rc;
	}
	if (keep > 0 && csv->pos > 0)
		memmove(csv->buf, csv->buf + csv->pos, keep);
	csv->buf_off += (long long)csv->pos;
	csv->pos = 0;
	csv->end = keep;
	csv->nl_valid = 0;
	room = CSV_BUFSIZE - keep;
	if (csv->replay_pos < csv->replay_len) {
		size_t n = csv->replay_len - csv->replay_pos;

		if (n > room)
			n = room;
		memcpy(csv->buf + csv->end, csv->replay + csv->replay_pos, n);
		csv->replay_pos += n;
		csv->end += n;
		room -= n;
		if (csv->replay_pos == csv->replay_len) {
			free(csv->replay);
			csv->replay = NULL;
			csv->replay_pos = csv->replay_len = 0;
		}
	}
	if (csv->eof || room == 0)
		return 0;
	got = fread(csv->buf + csv->end, 1, room, csv->fp);
	csv->end += got;
	if (got < room) {
		if (ferror(csv->fp))
			return se_error_set(err, SE_EIO, "cannot read %s: %s", csv->name,
			                    strerror(errno));
		csv->eof = 1;
	}
	return 0;
}

/* 1 when a byte is readable at pos, 0 at end of input, or a negative code. */
static int have_byte(se_csv *csv, se_error *err)
{
	int rc;

	if (csv->pos < csv->end)
		return 1;
	if (!input_left(csv))
		return 0;
	rc = refill(csv, err);
	if (rc < 0)
		return rc;
	return csv->pos < csv->end;
}

/* Makes two bytes readable at pos when the input has them, for the CRLF and
 * doubled-quote lookaheads; returns how many are readable (0-2) or a code. */
static int have_two(se_csv *csv, se_error *err)
{
	int rc;

	if (csv->end - csv->pos < 2 && input_left(csv)) {
		rc = refill(csv, err);
		if (rc < 0)
			return rc;
	}
	return csv->end - csv->pos >= 2 ? 2 : (int)(csv->end - csv->pos);
}

static size_t next_newline(se_csv *csv)
{
	const char *p;

	if (!csv->nl_valid || csv->nl < csv->pos) {
		p = memchr(csv->buf + csv->pos, '\n', csv->end - csv->pos);
		csv->nl = p != NULL ? (size_t)(p - csv->buf) : csv->end;
		csv->nl_valid = 1;
	}
	return csv->nl;
}

/* Called with pos just past an LF. */
static void start_line(se_csv *csv)
{
	csv->line++;
	csv->line_off = input_offset(csv, csv->pos);
}

static long column(const se_csv *csv)
{
	return (long)(input_offset(csv, csv->pos) - csv->line_off) + 1;
}

/* A record whose quote crossed a line end may not run on for ever: its
 * raw bytes are kept, and a stray quote must not cost more than a record. */
static int span_exceeded(const se_csv *csv)
{
	return csv->rec_crossed &&
	       input_offset(csv, csv->pos) - csv->resume_off > (long long)SE_CSV_MAX_RECORD;
}

/* ---- record storage ------------------------------------------------------- */

static void start_overflow(se_csv *csv, enum csv_overflow why)
{
	if (csv->overflow != OVERFLOW_NONE)
		return;
	csv->overflow = why;
	csv->overflow_line = csv->line;
	csv->overflow_field = csv->nfields > 0 ? csv->nfields - 1 : 0;
}

static int grow_arena(se_csv *csv, size_t need, se_error *err)
{
	if (se_vec_reserve(&csv->arena, &csv->arena_cap, need, 1, CSV_ARENA_INITIAL,
	                   SE_CSV_MAX_RECORD) != SE_OK)
		return se_error_set(err, SE_ENOMEM, "out of memory reading %s", csv->name);
	return 0;
}

/* Copies field bytes into the arena; once the record is too long it only
 * notes that, so the rest of the record is still scanned (and skipped). */
static int append(se_csv *csv, const char *p, size_t n, se_error *err)
{
	int rc;

	if (csv->overflow != OVERFLOW_NONE)
		return 0;
	if (n > SE_CSV_MAX_RECORD - csv->arena_len) {
		start_overflow(csv, OVERFLOW_BYTES);
		return 0;
	}
	if (n > csv->arena_cap - csv->arena_len) {
		rc = grow_arena(csv, csv->arena_len + n, err);
		if (rc < 0)
			return rc;
	}
	memcpy(csv->arena + csv->arena_len, p, n);
	csv->arena_len += n;
	return 0;
}

static int begin_field(se_csv *csv, se_error *err)
{
	se_csv_field *f;

	csv->nfields++;
	csv->field_start = csv->arena_len;
	if (csv->overflow != OVERFLOW_NONE)
		return 0;
	if (csv->nfields > CSV_MAX_FIELDS) {
		start_overflow(csv, OVERFLOW_FIELDS);
		return 0;
	}
	if (se_vec_reserve(&csv->fields, &csv->fields_cap, csv->nfields, sizeof *csv->fields,
	                   CSV_FIELDS_INITIAL, CSV_MAX_FIELDS) != SE_OK)
		return se_error_set(err, SE_ENOMEM, "out of memory reading %s", csv->name);
	f = &csv->fields[csv->nfields - 1];
	f->ptr = NULL; /* set once the record is complete: the arena may move */
	f->len = 0;
	f->line = csv->line;
	f->col = column(csv);
	return 0;
}

static int end_field(se_csv *csv, se_error *err)
{
	if (csv->overflow != OVERFLOW_NONE)
		return 0;
	csv->fields[csv->nfields - 1].len = csv->arena_len - csv->field_start;
	return append(csv, "", 1, err);
}

/* Drops the CR of a CRLF that ended an unquoted field (it may have been
 * copied before a buffer refill brought in the LF). */
static void drop_trailing_cr(se_csv *csv)
{
	if (csv->overflow == OVERFLOW_NONE && csv->arena_len > csv->field_start &&
	    csv->arena[csv->arena_len - 1] == '\r')
		csv->arena_len--;
}

static void point_fields_into_arena(se_csv *csv)
{
	size_t off = 0;
	size_t i;

	for (i = 0; i < csv->nfields; i++) {
		csv->fields[i].ptr = csv->arena + off;
		off += csv->fields[i].len + 1;
	}
}

/* ---- scanning --------------------------------------------------------------- */

/* An unquoted field runs to the next delimiter or LF; quotes and lone CRs in
 * it are data. */
static int scan_unquoted(se_csv *csv, enum csv_term *term, se_error *err)
{
	const char *d;
	size_t nl;
	size_t stop;
	int rc;

	for (;;) {
		rc = have_byte(csv, err);
		if (rc < 0)
			return rc;
		if (rc == 0) {
			*term = TERM_EOF;
			return 0;
		}
		nl = next_newline(csv);
		d = memchr(csv->buf + csv->pos, csv->delimiter, nl - csv->pos);
		stop = d != NULL ? (size_t)(d - csv->buf) : nl;
		rc = append(csv, csv->buf + csv->pos, stop - csv->pos, err);
		if (rc < 0)
			return rc;
		if (d != NULL) {
			csv->pos = stop + 1;
			*term = TERM_DELIM;
			return 0;
		}
		if (nl < csv->end) {
			drop_trailing_cr(csv);
			csv->pos = nl + 1;
			start_line(csv);
			*term = TERM_EOL;
			return 0;
		}
		csv->pos = csv->end;
		if (span_exceeded(csv)) {
			*term = TERM_SPAN;
			return 0;
		}
	}
}

/* Counts the LFs of quoted data in buf[from, to), remembering, for the
 * record's first quote to cross one, where the line after the quote's own
 * starts: the first restart point if it is never closed. */
static void count_quoted_lines(se_csv *csv, size_t from, size_t to)
{
	const char *p = csv->buf + from;
	const char *stop = csv->buf + to;

	while (p < stop && (p = memchr(p, '\n', (size_t)(stop - p))) != NULL) {
		p++;
		csv->line++;
		csv->line_off = input_offset(csv, (size_t)(p - csv->buf));
		if (!csv->rec_crossed) {
			csv->rec_crossed = 1;
			csv->cross_line = csv->quote_line;
			csv->cross_col = csv->quote_col;
			csv->cross_field = csv->nfields - 1;
			csv->resume_off = csv->line_off;
			csv->resume_line = csv->line;
			csv->raw_len = 0;
		}
	}
}

/* What may follow a closing quote: a delimiter, a line end or the end. */
static int after_closing_quote(se_csv *csv, enum csv_term *term, se_error *err)
{
	int avail = have_two(csv, err);
	char c;

	if (avail < 0)
		return avail;
	if (avail == 0) {
		*term = TERM_EOF;
		return 0;
	}
	c = csv->buf[csv->pos];
	if (c == csv->delimiter) {
		csv->pos++;
		*term = TERM_DELIM;
	} else if (c == '\n') {
		csv->pos++;
		start_line(csv);
		*term = TERM_EOL;
	} else if (c == '\r' && avail == 2 && csv->buf[csv->pos + 1] == '\n') {
		csv->pos += 2;
		start_line(csv);
		*term = TERM_EOL;
	} else {
		csv->bad_line = csv->line;
		csv->bad_col = column(csv);
		csv->bad_field = csv->nfields - 1;
		*term = TERM_BAD_QUOTE;
	}
	return 0;
}

/* Called with pos on the opening quote. */
static int scan_quoted(se_csv *csv, enum csv_term *term, se_error *err)
{
	const char *q;
	size_t stop;
	int rc;

	csv->quote_line = csv->line;
	csv->quote_col = column(csv);
	csv->pos++;
	for (;;) {
		rc = have_byte(csv, err);
		if (rc < 0)
			return rc;
		if (rc == 0) {
			csv->bad_line = csv->quote_line;
			csv->bad_col = csv->quote_col;
			csv->bad_field = csv->nfields - 1;
			*term = TERM_UNTERMINATED;
			return 0;
		}
		if (span_exceeded(csv)) {
			*term = TERM_SPAN;
			return 0;
		}
		q = memchr(csv->buf + csv->pos, '"', csv->end - csv->pos);
		stop = q != NULL ? (size_t)(q - csv->buf) : csv->end;
		rc = append(csv, csv->buf + csv->pos, stop - csv->pos, err);
		if (rc < 0)
			return rc;
		count_quoted_lines(csv, csv->pos, stop);
		if (q == NULL) {
			csv->pos = csv->end;
			continue;
		}
		csv->pos = stop + 1;
		rc = have_byte(csv, err);
		if (rc < 0)
			return rc;
		if (rc == 0 || csv->buf[csv->pos] != '"')
			return after_closing_quote(csv, term, err);
		/* A doubled quote is one quote of data. */
		rc = append(csv, "\"", 1, err);
		if (rc < 0)
			return rc;
		csv->pos++;
	}
}

static int read_field(se_csv *csv, enum csv_term *term, se_error *err)
{
	int rc = begin_field(csv, err);

	if (rc < 0)
		return rc;
	rc = have_byte(csv, err);
	if (rc < 0)
		return rc;
	if (rc == 0) {
		*term = TERM_EOF;
	} else if (csv->buf[csv->pos] == '"') {
		rc = scan_quoted(csv, term, err);
	} else {
		rc = scan_unquoted(csv, term, err);
	}
	if (rc < 0)
		return rc;
	return end_field(csv, err);
}

/* Skips empty lines (LF or CRLF alone) between records; 1 when a record
 * starts at pos, 0 at end of input. */
static int skip_blank_lines(se_csv *csv, se_error *err)
{
	int avail;

	for (;;) {
		avail = have_two(csv, err);
		if (avail <= 0)
			return avail;
		if (csv->buf[csv->pos] == '\n') {
			csv->pos++;
		} else if (csv->buf[csv->pos] == '\r' && avail == 2 &&
		           csv->buf[csv->pos + 1] == '\n') {
			csv->pos += 2;
		} else {
			return 1;
		}
		start_line(csv);
	}
}

/* After a stray character following a closing quote the rest of the physical
 * line is dropped, quotes and all: the record cannot be trusted past it. */
static int skip_rest_of_line(se_csv *csv, se_error *err)
{
	size_t nl;
	int rc;

	for (;;) {
		rc = have_byte(csv, err);
		if (rc <= 0)
			return rc;
		nl = next_newline(csv);
		if (nl < csv->end) {
			csv->pos = nl + 1;
			start_line(csv);
			return 0;
		}
		csv->pos = csv->end;
	}
}

/* 1 when p[0, n) -- one line, without its LF -- is a record by itself: its
 * quotes close on the line, each closing quote is followed by a delimiter
 * or the line end, and it has the expected number of fields (any, when
 * expect is 0).  An empty line is not a record. */
static int line_is_record(const char *p, size_t n, int delimiter, size_t expect)
{
	size_t fields = 1;
	size_t i = 0;

	if (n > 0 && p[n - 1] == '\r')
		n--;
	if (n == 0)
		return 0;
	for (;;) {
		const char *d;

		if (i < n && p[i] == '"') {
			for (i++;; i++) {
				if (i >= n)
					return 0;
				if (p[i] != '"')
					continue;
				if (i + 1 < n && p[i + 1] == '"') {
					i++;
					continue;
				}
				break;
			}
			i++;
			if (i == n)
				break;
			if (p[i] != delimiter)
				return 0;
			i++;
			fields++;
			continue;
		}
		d = i < n ? memchr(p + i, delimiter, n - i) : NULL;
		if (d == NULL)
			break;
		i = (size_t)(d - p) + 1;
		fields++;
	}
	return expect == 0 || fields == expect;
}

/* The record's quote crossed a line end and the record went wrong: looks
 * for the first line after the quote's own that is a record by itself,
 * among the lines that start before the place the reader reached.  When
 * there is one, reading goes on from it (1); else nothing changes (0). */
static int restart_after_open_quote(se_csv *csv, se_error *err)
{
	long long from = csv->resume_off - csv->buf_off;
	size_t in_buf, reached, left, len, start, lines = 0;
	char *region;

	if (from < 0)
		from = 0;
	in_buf = csv->end - (size_t)from;
	reached = csv->raw_len + (csv->pos - (size_t)from);
	left = csv->replay_len - csv->replay_pos;
	len = csv->raw_len + in_buf;
	if ((region = malloc(len + left + 1)) == NULL)
		return se_error_set(err, SE_ENOMEM, "out of memory reading %s", csv->name);
	/* raw and replay are NULL until first used: memcpy from NULL is
	 * undefined even for no bytes. */
	if (csv->raw_len > 0)
		memcpy(region, csv->raw, csv->raw_len);
	memcpy(region + csv->raw_len, csv->buf + from, in_buf);
	if (left > 0)
		memcpy(region + len, csv->replay + csv->replay_pos, left);
	for (start = 0; start < reached; lines++) {
		const char *nl = memchr(region + start, '\n', len - start);
		size_t stop = nl != NULL ? (size_t)(nl - region) : len;

		/* A line cut by the buffer's end is complete only at the input's. */
		if (nl == NULL && input_left(csv))
			break;
		if (line_is_record(region + start, stop - start, csv->delimiter, csv->expect_fields)) {
			memmove(region, region + start, len + left - start);
			free(csv->replay);
			csv->replay = region;
			csv->replay_pos = 0;
			csv->replay_len = len + left - start;
			csv->buf_off = csv->resume_off + (long long)start;
			csv->pos = csv->end = 0;
			csv->nl_valid = 0;
			csv->line = csv->resume_line + (long)lines;
			csv->line_off = csv->buf_off;
			return 1;
		}
		start = stop + 1;
	}
	free(region);
	return 0;
}

static int report_overflow(se_csv *csv, se_csv_record *rec, se_error *err)
{
	rec->error_line = csv->overflow_line;
	rec->error_field = csv->overflow_field;
	if (csv->overflow == OVERFLOW_FIELDS)
		return se_error_set(err, SE_EINPUT, "record has more than %zu fields",
		                    (size_t)CSV_MAX_FIELDS);
	return se_error_set(err, SE_EINPUT, "record longer than %u MiB",
	                    (unsigned)(SE_CSV_MAX_RECORD >> 20));
}

static int report_bad_record(se_csv *csv, se_csv_record *rec, enum csv_term term,
                             se_error *err)
{
	int rc;

	if (csv->rec_crossed) {
		/* A quote that crossed a line end, in a record that went wrong:
		 * the quote is the likely cause, whatever broke first. */
		rc = restart_after_open_quote(csv, err);
		if (rc < 0)
			return rc;
		if (rc == 1) {
			rec->error_line = csv->cross_line;
			rec->error_col = csv->cross_col;
			rec->error_field = csv->cross_field;
			return se_error_set(err, SE_EINPUT, "unterminated quote");
		}
	}
	if (term == TERM_SPAN) {
		/* No line to start again from: the record is dropped to the end
		 * of the line the reader stopped on. */
		start_overflow(csv, OVERFLOW_BYTES);
		if ((rc = skip_rest_of_line(csv, err)) < 0)
			return rc;
		return report_overflow(csv, rec, err);
	}
	if (term == TERM_UNTERMINATED) {
		/* Takes precedence over an overflow: it is what caused it. */
		rec->error_line = csv->bad_line;
		rec->error_col = csv->bad_col;
		rec->error_field = csv->bad_field;
		return se_error_set(err, SE_EINPUT, "unterminated quote");
	}
	if (term == TERM_BAD_QUOTE) {
		rc = skip_rest_of_line(csv, err);
		if (rc < 0)
			return rc;
		if (csv->overflow == OVERFLOW_NONE) {
			rec->error_line = csv->bad_line;
			rec->error_col = csv->bad_col;
			rec->error_field = csv->bad_field;
			return se_error_set(err, SE_EINPUT,
			                    "unexpected character after closing quote");
		}
	}
	return report_overflow(csv, rec, err);
}

/* ---- delimiter detection ------------------------------------------------------ */

static int is_candidate(char c)
{
	return c == ',' || c == ';' || c == '\t';
}

/* Counts the candidates outside quotes in the first record found in p[0, n)
 * (as much of it as the first buffer holds).  A quote opens a quoted field
 * only at the start of a line or after a candidate, as the parser would. */
static int detect_delimiter(const char *p, size_t n)
{
	size_t counts[3] = {0, 0, 0};
	size_t start = 0;
	size_t i;
	int in_quotes = 0;
	char c;

	/* Blank lines before the header are skipped by the reader too. */
	while (start < n && (p[start] == '\n' ||
	                     (p[start] == '\r' && start + 1 < n && p[start + 1] == '\n')))
		start += p[start] == '\n' ? 1 : 2;
	for (i = start; i < n; i++) {
		c = p[i];
		if (in_quotes) {
			if (c == '"') {
				if (i + 1 < n && p[i + 1] == '"')
					i++;
				else
					in_quotes = 0;
			}
		} else if (c == '\n') {
			break;
		} else if (c == '"') {
			in_quotes = i == start || is_candidate(p[i - 1]);
		} else if (c == ',') {
			counts[0]++;
		} else if (c == ';') {
			counts[1]++;
		} else if (c == '\t') {
			counts[2]++;
		}
	}
	if (counts[1] > counts[0] && counts[1] > counts[2])
		return ';';
	if (counts[2] > counts[0] && counts[2] > counts[1])
		return '\t';
	return ',';
}

/* ---- public ------------------------------------------------------------------- */

static long long regular_file_size(FILE *fp)
{
	struct stat st;
	int fd = fileno(fp);

	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		return 0;
	return (long long)st.st_size;
}

static int open_reader(se_csv **out, FILE *fp, int owns_fp, const char *name,
                       int delimiter, se_error *err)
{
	se_csv *csv = NULL;
	int rc;

	csv = calloc(1, sizeof *csv);
	if (csv == NULL) {
		if (owns_fp)
			fclose(fp);
		return se_error_set(err, SE_ENOMEM, "out of memory opening %s", name);
	}
	csv->fp = fp;
	csv->owns_fp = owns_fp;
	csv->name = strdup(name);
	/* 8 more: the plain-line scan reads whole words up to 7 bytes past
	 * the last byte it looks at. */
	csv->buf = malloc(CSV_BUFSIZE + 8);
	csv->arena = malloc(CSV_ARENA_INITIAL);
	csv->fields = malloc(CSV_FIELDS_INITIAL * sizeof *csv->fields);
	if (csv->name == NULL || csv->buf == NULL || csv->arena == NULL ||
	    csv->fields == NULL) {
		rc = se_error_set(err, SE_ENOMEM, "out of memory opening %s", name);
		goto fail;
	}
	csv->arena_cap = CSV_ARENA_INITIAL;
	csv->fields_cap = CSV_FIELDS_INITIAL;
	csv->line = 1;
	csv->size = regular_file_size(fp);

	rc = refill(csv, err);
	if (rc < 0)
		goto fail;
	if (csv->end >= 3 && memcmp(csv->buf, "\xEF\xBB\xBF", 3) == 0) {
		csv->pos = 3;
		csv->line_off = 3; /* columns count from after the BOM */
	}
	csv->delimiter = delimiter != 0 ? delimiter
	                                : detect_delimiter(csv->buf + csv->pos,
	                                                   csv->end - csv->pos);
	*out = csv;
	return 0;
fail:
	se_csv_close(csv);
	return rc;
}

static int valid_delimiter(int delimiter)
{
	return delimiter == 0 || delimiter == ',' || delimiter == ';' || delimiter == '\t';
}

int se_csv_open(se_csv **out, const char *path, int delimiter, se_error *err)
{
	FILE *fp;

	*out = NULL;
	if (!valid_delimiter(delimiter))
		return se_error_set(err, SE_EUSAGE, "invalid CSV delimiter (use ',', ';' or tab)");
	if (strcmp(path, "-") == 0)
		return open_reader(out, stdin, 0, "<stdin>", delimiter, err);
	fp = fopen(path, "rb");
	if (fp == NULL)
		return se_error_set(err, SE_EIO, "cannot open %s: %s", path, strerror(errno));
	return open_reader(out, fp, 1, path, delimiter, err);
}

int se_csv_open_stream(se_csv **out, FILE *fp, const char *name, int delimiter,
                       se_error *err)
{
	*out = NULL;
	if (!valid_delimiter(delimiter))
		return se_error_set(err, SE_EUSAGE, "invalid CSV delimiter (use ',', ';' or tab)");
	return open_reader(out, fp, 0, name != NULL ? name : "<stream>", delimiter, err);
}

/* The common record: one line, all in the buffer, without a quote.  It is
 * copied to the arena in one piece and cut at the delimiters there, where
 * the general scan copies field by field; the result is the same (the
 * general scan also drops a CR before the LF).  One pass over the line,
 * eight bytes at a time, finds the delimiters and any quote together; it
 * reads the read buffer, not the fresh copy (loads of bytes just stored
 * by a wider copy wait for it).  0 when the line is not of that kind
 * (nothing consumed), 1 when the record is read, or a code. */
static int read_plain_line(se_csv *csv, se_error *err)
{
	size_t nl = next_newline(csv), len, start = 0, n = 0;
	const char *line = csv->buf + csv->pos;
	char *a;
	int rc;

	if (nl >= csv->end)
		return 0;
	len = nl - csv->pos;
	if (len + 1 > SE_CSV_MAX_RECORD)
		return 0;
	if (len + 1 > csv->arena_cap && (rc = grow_arena(csv, len + 1, err)) < 0)
		return rc;
	a = csv->arena;
	memcpy(a, line, len);
	if (len > 0 && line[len - 1] == '\r')
		len--;
	/* Words may run up to 7 bytes past the line: the buffer has that
	 * much room after its end (see open_reader). */
	for (size_t base = 0;; base += 8) {
		uint64_t w = se_swar_load(line + base);
		uint64_t hits = se_swar_equal(w, (unsigned char)csv->delimiter) | se_swar_equal(w, '"');
		size_t at;

		if (len - base < 8) /* the line ends in this word */
			hits = (hits & (((uint64_t)1 << (8 * (len - base))) - 1)) | (uint64_t)0x80 << (8 * (len - base));
		for (; hits != 0; hits &= hits - 1) {
			se_csv_field *f;

			at = base + (size_t)__builtin_ctzll(hits) / 8;
			if (at < len && line[at] == '"')
				return 0;
			if (++n > CSV_MAX_FIELDS)
				return 0;
			if (n > csv->fields_cap &&
			    se_vec_reserve(&csv->fields, &csv->fields_cap, n, sizeof *csv->fields, CSV_FIELDS_INITIAL,
			                   CSV_MAX_FIELDS) != SE_OK)
				return se_error_set(err, SE_ENOMEM, "out of memory reading %s", csv->name);
			f = &csv->fields[n - 1];
			f->ptr = a + start;
			f->len = at - start;
			f->line = csv->line;
			f->col = (long)(input_offset(csv, csv->pos + start) - csv->line_off) + 1;
			a[at] = '\0';
			start = at + 1;
			if (at == len)
				break;
		}
		if (len - base < 8)
			break;
	}
	csv->nfields = n;
	csv->arena_len = len + 1;
	csv->pos = nl + 1;
	start_line(csv);
	return 1;
}

int se_csv_next(se_csv *csv, se_csv_record *rec, se_error *err)
{
	enum csv_term term;
	int rc;

	rec->fields = NULL;
	rec->nfields = 0;
	rec->line = csv->line;
	rec->error_line = 0;
	rec->error_col = 0;
	rec->error_field = 0;
	rc = skip_blank_lines(csv, err);
	if (rc <= 0)
		return rc;
	rec->line = csv->line;
	csv->nfields = 0;
	csv->arena_len = 0;
	csv->overflow = OVERFLOW_NONE;
	csv->rec_crossed = 0;
	csv->raw_len = 0;
	if ((rc = read_plain_line(csv, err)) != 0) {
		if (rc < 0)
			return rc;
		rec->fields = csv->fields;
		rec->nfields = csv->nfields;
		return 1;
	}
	csv->nfields = 0;
	csv->arena_len = 0;
	do {
		rc = read_field(csv, &term, err);
		if (rc < 0)
			return rc;
	} while (term == TERM_DELIM);
	if (term == TERM_BAD_QUOTE || term == TERM_UNTERMINATED || term == TERM_SPAN ||
	    csv->overflow != OVERFLOW_NONE)
		return report_bad_record(csv, rec, term, err);
	if (csv->rec_crossed && csv->expect_fields != 0 && csv->nfields != csv->expect_fields) {
		/* Closed cleanly, but not a record of the header's shape: a quote
		 * opened by mistake and closed by the next one.  Else the record
		 * goes out as it is, for the caller to reject by its count. */
		if ((rc = restart_after_open_quote(csv, err)) < 0)
			return rc;
		if (rc == 1) {
			rec->error_line = csv->cross_line;
			rec->error_col = csv->cross_col;
			rec->error_field = csv->cross_field;
			return se_error_set(err, SE_EINPUT, "unterminated quote");
		}
	}
	point_fields_into_arena(csv);
	rec->fields = csv->fields;
	rec->nfields = csv->nfields;
	return 1;
}

void se_csv_expect_fields(se_csv *csv, size_t n)
{
	csv->expect_fields = n;
}

int se_csv_delimiter(const se_csv *csv)
{
	return csv->delimiter;
}

const char *se_csv_name(const se_csv *csv)
{
	return csv->name;
}

long long se_csv_offset(const se_csv *csv)
{
	return input_offset(csv, csv->pos);
}

long long se_csv_size(const se_csv *csv)
{
	return csv->size;
}

void se_csv_close(se_csv *csv)
{
	if (csv == NULL)
		return;
	if (csv->owns_fp && csv->fp != NULL)
		fclose(csv->fp);
	free(csv->name);
	free(csv->buf);
	free(csv->arena);
	free(csv->fields);
	free(csv->raw);
	free(csv->replay);
	free(csv);
}
