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

typedef struct csv_style {
	char sep;
	char decimal;          /* '.', or ',' for Excel in Russian */
	const char *eol;
} csv_style;

static void write_csv_field(FILE *out, const char *s, const csv_style *st)
{
	const char special[] = { st->sep, '"', '\r', '\n', '\0' };

	if (strpbrk(s, special) == NULL) {
		fputs(s, out);
		return;
	}
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', out);
		fputc(*s, out);
	}
	fputc('"', out);
}

int se_write_csv(const se_report *rep, se_blocks *bs, FILE *out, const se_write_opts *opts,
                 se_error *err)
{
	const se_report_desc *last = NULL;
	se_block_iter it = SE_BLOCK_ITER_INIT;
	const se_block *b;
	int ru = opts->excel && opts->language == 1;
	csv_style st = { opts->delimiter ? (char)opts->delimiter : ru ? ';' : ',', ru ? ',' : '.',
		         opts->excel ? "\r\n" : "\n" };

	(void)rep;
	(void)err;
	if (opts->excel)
		fputs("\xef\xbb\xbf", out);
	while ((b = se_blocks_next(bs, &it)) != NULL) {
		char buf[64];

		if (b->desc != last) {
			if (last != NULL)
				fputs(st.eol, out);
			fputs("report", out);
			for (int c = 0; c < b->ncols; c++)
				if (b->cols[c].where & SE_IN_CSV)
					fprintf(out, "%c%s", st.sep, b->cols[c].csv);
			fputs(st.eol, out);
			last = b->desc;
		}
		for (size_t r = 0; r < b->rows; r++) {
			const se_cell *row = &b->cells[r * (size_t)b->ncols];
			const char *text, *dot;
			char num[64];

			fputs(b->desc->name, out);
			for (int c = 0; c < b->ncols; c++) {
				if (!(b->cols[c].where & SE_IN_CSV))
					continue;
				fputc(st.sep, out);
				text = se_cell_text(&b->cols[c], &row[c], buf, sizeof buf, 0);
				if (st.decimal != '.' && b->cols[c].type != SE_T_STR && (dot = strchr(text, '.'))) {
					/* a number's text: only its decimal mark changes */
					snprintf(num, sizeof num, "%s", text);
					num[dot - text] = st.decimal;
					text = num;
				}
				write_csv_field(out, text, &st);
			}
			fputs(st.eol, out);
		}
	}
	return SE_OK;
}
