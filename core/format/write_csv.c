/*
 * format/write_csv.c: blocks as CSV, one header line per report and a
 * blank line between reports; the first column names the report.
 *
 * Never: changes a value: a field with a comma, quote or line break is
 * quoted (RFC 4180), everything else is written as it is.
 */
#include "block.h"

static void write_csv_field(FILE *out, const char *s)
{
	if (strpbrk(s, ",\"\r\n") == NULL) {
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

int se_write_csv(const se_report *rep, const se_blocks *bs, FILE *out, const se_write_opts *opts,
                 se_error *err)
{
	const se_report_desc *last = NULL;

	(void)rep;
	(void)opts;
	(void)err;
	for (size_t i = 0; i < bs->n; i++) {
		const se_block *b = &bs->v[i];
		char buf[64];

		if (b->desc != last) {
			if (last != NULL)
				fputc('\n', out);
			fputs("report", out);
			for (int c = 0; c < b->ncols; c++)
				if (b->cols[c].where & SE_IN_CSV)
					fprintf(out, ",%s", b->cols[c].csv);
			fputc('\n', out);
			last = b->desc;
		}
		for (size_t r = 0; r < b->rows; r++) {
			const se_cell *row = &b->cells[r * (size_t)b->ncols];

			fputs(b->desc->name, out);
			for (int c = 0; c < b->ncols; c++) {
				if (!(b->cols[c].where & SE_IN_CSV))
					continue;
				fputc(',', out);
				write_csv_field(out, se_cell_text(&b->cols[c], &row[c], buf, sizeof buf, 0));
			}
			fputc('\n', out);
		}
	}
	return SE_OK;
}
