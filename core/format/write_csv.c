/*
 * format/write_csv.c: blocks as CSV, one header line per report and a
 * blank line between reports; the first column names the report.
 *
 * For Excel (--excel): a UTF-8 byte order mark (without it Excel reads the
 * file as the system's ANSI code page and Cyrillic turns to mojibake) and
 * CRLF line ends; in Russian, ';' between fields and a decimal comma, which
 * is what Excel with Russian regional settings expects on a double click.
 * --delimiter sets the separator of plain CSV and of Excel CSV alike.
 *
 * Never: changes a value beyond its decimal mark: a field with the
 * separator, a quote or a line break is quoted (RFC 4180), everything else
 * is written as it is.
 */
#include "block.h"

#include <stdlib.h>

/* Output gathers here and goes to the stream in large writes: a call into
 * stdio per field and per quoted byte, and the stream's 4 KiB buffer (a
 * write(2) each), were most of the time spent writing a big report. */
#define CSV_CHUNK 65536

typedef struct csv_out {
	FILE *out;
	size_t n;
	char b[CSV_CHUNK];
} csv_out;

/* What a byte means to a field: part of it, a byte that makes it quoted,
 * or its end, so the scan takes one look per byte (and one more at a
 * byte that is not plain). */
enum { CSV_PLAIN, CSV_SPECIAL, CSV_END };

typedef struct csv_style {
	char sep;
	char decimal;          /* '.', or ',' for Excel in Russian */
	const char *eol;
	unsigned char kind[256];
} csv_style;

static void csv_flush(csv_out *o)
{
	if (o->n > 0)
		fwrite(o->b, 1, o->n, o->out);
	o->n = 0;
}

static void csv_put(csv_out *o, const char *s, size_t len)
{
	if (len > sizeof o->b - o->n) {
		csv_flush(o);
		if (len > sizeof o->b) {
			fwrite(s, 1, len, o->out);
			return;
		}
	}
	memcpy(o->b + o->n, s, len);
	o->n += len;
}

/* The separator, then s: as it is, or in quotes with its quotes doubled
 * when it holds the separator, a quote or a line break (RFC 4180). */
static void write_csv_field(csv_out *o, const char *s, const csv_style *st)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t len = 0;
	int quote = 0;
	char *q;

	for (;;) {
		while (st->kind[u[len]] == CSV_PLAIN)
			len++;
		if (u[len] == '\0')
			break;
		quote = 1;
		len++;
	}
	/* the worst case, every byte a quote, must fit the chunk */
	if (2 * len + 3 > sizeof o->b - o->n) {
		csv_flush(o);
		if (2 * len + 3 > sizeof o->b) {
			csv_put(o, &st->sep, 1);
			if (!quote) {
				csv_put(o, s, len);
				return;
			}
			csv_put(o, "\"", 1);
			for (size_t i = 0; i < len; i++) {
				if (s[i] == '"')
					csv_put(o, "\"", 1);
				csv_put(o, s + i, 1);
			}
			csv_put(o, "\"", 1);
			return;
		}
	}
	q = o->b + o->n;
	*q++ = st->sep;
	if (!quote) {
		memcpy(q, s, len);
		q += len;
	} else {
		*q++ = '"';
		for (size_t i = 0; i < len; i++) {
			if (s[i] == '"')
				*q++ = '"';
			*q++ = s[i];
		}
		*q++ = '"';
	}
	o->n = (size_t)(q - o->b);
}

static void csv_puts(csv_out *o, const char *s)
{
	csv_put(o, s, strlen(s));
}

int se_write_csv(const se_report *rep, se_blocks *bs, FILE *out, const se_write_opts *opts,
                 se_error *err)
{
	const se_report_desc *last = NULL;
	se_block_iter it = SE_BLOCK_ITER_INIT;
	const se_block *b;
	int ru = opts->excel && opts->language == 1;
	csv_style st = { opts->delimiter ? (char)opts->delimiter : ru ? ';' : ',', ru ? ',' : '.',
		         opts->excel ? "\r\n" : "\n", { 0 } };
	csv_out *o;

	(void)rep;
	if ((o = malloc(sizeof *o)) == NULL)
		return se_error_set(err, SE_ENOMEM, "out of memory writing CSV");
	o->out = out;
	o->n = 0;
	st.kind[(unsigned char)st.sep] = CSV_SPECIAL;
	st.kind['"'] = st.kind['\r'] = st.kind['\n'] = CSV_SPECIAL;
	st.kind[0] = CSV_END;
	if (opts->excel)
		csv_puts(o, "\xef\xbb\xbf");
	while ((b = se_blocks_next(bs, &it)) != NULL) {
		char buf[64];

		if (b->desc != last) {
			if (last != NULL)
				csv_puts(o, st.eol);
			csv_puts(o, "report");
			for (int c = 0; c < b->ncols; c++)
				if (b->cols[c].where & SE_IN_CSV) {
					csv_put(o, &st.sep, 1);
					csv_puts(o, b->cols[c].csv);
				}
			csv_puts(o, st.eol);
			last = b->desc;
		}
		for (size_t r = 0; r < b->rows; r++) {
			const se_cell *row = &b->cells[r * (size_t)b->ncols];
			const char *text, *dot;
			char num[64];

			csv_puts(o, b->desc->name);
			for (int c = 0; c < b->ncols; c++) {
				if (!(b->cols[c].where & SE_IN_CSV))
					continue;
				text = se_cell_text(&b->cols[c], &row[c], buf, sizeof buf, 0);
				if (st.decimal != '.' && b->cols[c].type != SE_T_STR && (dot = strchr(text, '.'))) {
					/* a number's text: only its decimal mark changes */
					snprintf(num, sizeof num, "%s", text);
					num[dot - text] = st.decimal;
					text = num;
				}
				write_csv_field(o, text, &st);
			}
			csv_puts(o, st.eol);
		}
	}
	csv_flush(o);
	free(o);
	return SE_OK;
}
