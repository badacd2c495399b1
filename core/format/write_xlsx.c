/*
 * format/write_xlsx.c: blocks as an Excel workbook (libxlsxwriter), one
 * sheet per report.
 *
 * A sheet has the CSV columns (headers in the run's language), numbers
 * stored as numbers (percentages as ratios with a 0.0% format, money with
 * two decimals and digit groups, hours with one decimal), a frozen header
 * row, an autofilter, columns as wide as their longest text (counted in
 * characters, so Cyrillic fits), and growth points and weak sources
 * highlighted.  Excel applies its own locale's separators when it shows
 * the numbers, so the workbook itself is the same for every language but
 * its words.
 *
 * libxlsxwriter writes to a file name, not a stream: the workbook goes to
 * a temporary file first and is then copied to the output stream.
 *
 * The library is loaded (dlopen) by the first workbook, not linked: with
 * minizip it costs every run about 4 ms of CPU to map and relocate, and
 * only --format xlsx uses it.  The soname is the ABI the headers describe.
 *
 * Never: stores a number as text, or changes a value beyond those units.
 */
#include "block.h"
#include "dynlib.h"
#include "i18n.h"
#include "utf8.h"

#include <math.h>
#include <stdlib.h>
#include <unistd.h>
#include <xlsxwriter.h>

#define XLSX_SONAME "libxlsxwriter.so.4"

/* The libxlsxwriter functions used here, resolved once by load_xlsx(),
 * with the headers' own prototypes. */
static struct {
	__typeof__(workbook_new) *workbook_new;
	__typeof__(workbook_close) *workbook_close;
	__typeof__(workbook_add_worksheet) *workbook_add_worksheet;
	__typeof__(workbook_add_format) *workbook_add_format;
	__typeof__(format_set_bold) *format_set_bold;
	__typeof__(format_set_bg_color) *format_set_bg_color;
	__typeof__(format_set_bottom) *format_set_bottom;
	__typeof__(format_set_num_format) *format_set_num_format;
	__typeof__(worksheet_write_string) *worksheet_write_string;
	__typeof__(worksheet_write_blank) *worksheet_write_blank;
	__typeof__(worksheet_write_number) *worksheet_write_number;
	__typeof__(worksheet_set_column) *worksheet_set_column;
	__typeof__(worksheet_freeze_panes) *worksheet_freeze_panes;
	__typeof__(worksheet_autofilter) *worksheet_autofilter;
	__typeof__(lxw_strerror) *lxw_strerror;
} xl;

static se_dynlib xlsx_lib = SE_DYNLIB_INIT(XLSX_SONAME);

static const se_dynlib_sym xlsx_syms[] = {
	{ "workbook_new", &xl.workbook_new },
	{ "workbook_close", &xl.workbook_close },
	{ "workbook_add_worksheet", &xl.workbook_add_worksheet },
	{ "workbook_add_format", &xl.workbook_add_format },
	{ "format_set_bold", &xl.format_set_bold },
	{ "format_set_bg_color", &xl.format_set_bg_color },
	{ "format_set_bottom", &xl.format_set_bottom },
	{ "format_set_num_format", &xl.format_set_num_format },
	{ "worksheet_write_string", &xl.worksheet_write_string },
	{ "worksheet_write_blank", &xl.worksheet_write_blank },
	{ "worksheet_write_number", &xl.worksheet_write_number },
	{ "worksheet_set_column", &xl.worksheet_set_column },
	{ "worksheet_freeze_panes", &xl.worksheet_freeze_panes },
	{ "worksheet_autofilter", &xl.worksheet_autofilter },
	{ "lxw_strerror", &xl.lxw_strerror },
};

/* Loads libxlsxwriter, once per process. */
static int load_xlsx(se_error *err)
{
	if (!se_dynlib_load(&xlsx_lib, xlsx_syms, sizeof xlsx_syms / sizeof xlsx_syms[0]))
		return se_error_set(err, SE_ERR, "xlsx: cannot load %s", xlsx_lib.why);
	return SE_OK;
}

enum { F_TEXT, F_INT, F_MONEY, F_PCT, F_HOURS, F_REAL, F_COUNT };

typedef struct book {
	lxw_workbook *wb;
	lxw_format *header;
	lxw_format *fmt[2][F_COUNT];   /* [highlighted][kind] */
	se_lang lang;
	char used[64][96];             /* sheet names so far */
	int n_used;
} book;

static void make_formats(book *k)
{
	static const char *const num[F_COUNT] = { NULL, "#,##0", "#,##0.00", "0.0%", "0.0", "0.00" };

	k->header = xl.workbook_add_format(k->wb);
	xl.format_set_bold(k->header);
	xl.format_set_bg_color(k->header, 0xE3E8EF);
	xl.format_set_bottom(k->header, LXW_BORDER_THIN);
	for (int h = 0; h < 2; h++)
		for (int f = 0; f < F_COUNT; f++) {
			lxw_format *x = xl.workbook_add_format(k->wb);

			if (num[f])
				xl.format_set_num_format(x, num[f]);
			if (h)
				xl.format_set_bg_color(x, 0xFDE2E2);
			k->fmt[h][f] = x;
		}
}

/* A sheet name: at most 31 characters, none of []:*?/\, unique. */
static void sheet_name(book *k, const se_report_desc *d, char *buf, size_t size)
{
	int n = 0;

	const char *t = se_tr(k->lang, d->name);
	size_t len = 0, chars = 0;

	for (const char *s = t; *s && len + 4 < size && chars < 28; s++) {
		if (strchr("[]:*?/\\", *s))
			continue;
		buf[len++] = *s;
		if ((*s & 0xC0) != 0x80)
			chars++;
	}
	buf[len] = '\0';
	for (int i = 0; i < k->n_used; i++)
		if (strncmp(k->used[i], buf, len) == 0)
			n++;
	if (n > 0)
		snprintf(buf + len, size - len, " %d", n + 1);
	if (k->n_used < 64)
		snprintf(k->used[k->n_used++], sizeof k->used[0], "%s", buf);
}

static double display_width(const char *s)
{
	return (double)se_utf8_width(s, strlen(s));
}

/* One report's blocks [from, to) as one sheet. */
static int write_sheet(book *k, const se_report *rep, const se_blocks *bs, size_t from, size_t to)
{
	const se_block *first = &bs->v[from];
	double width[64] = { 0 };
	int growth = -1, weak = -1, ncol = 0, col_of[64];
	lxw_row_t row = 1;
	char name[96];
	lxw_worksheet *ws;

	sheet_name(k, first->desc, name, sizeof name);
	if ((ws = xl.workbook_add_worksheet(k->wb, name)) == NULL)
		return SE_ENOMEM;
	for (int c = 0; c < first->ncols && c < 64; c++) {
		const char *h;

		col_of[c] = -1;
		if (!(first->cols[c].where & SE_IN_CSV))
			continue;
		h = se_tr(k->lang, first->cols[c].csv);
		col_of[c] = ncol;
		xl.worksheet_write_string(ws, 0, (lxw_col_t)ncol, h, k->header);
		width[ncol] = display_width(h) + 3; /* room for the filter button */
		ncol++;
	}
	growth = se_block_col(first, "growth_point");
	weak = se_block_col(first, "weak");
	for (size_t i = from; i < to; i++) {
		const se_block *b = &bs->v[i];

		for (size_t r = 0; r < b->rows; r++, row++) {
			const se_cell *cells = &b->cells[r * (size_t)b->ncols];
			int hl = (growth >= 0 && cells[growth].i) || (weak >= 0 && cells[weak].i);

			for (int c = 0; c < b->ncols && c < 64; c++) {
				const se_col *col = &b->cols[c];
				const se_cell *v = &cells[c];
				lxw_col_t x = (lxw_col_t)col_of[c];
				char text[64];
				double w = 0;

				if (col_of[c] < 0)
					continue;
				if (col->type == SE_T_STR) {
					const char *s = se_cell_str(v);

					xl.worksheet_write_string(ws, row, x, s, k->fmt[hl][F_TEXT]);
					w = display_width(s);
				} else if (v->null && col->type != SE_T_BOOL) {
					/* no value, as JSON's null: an absent spend, the weak
					 * flag of a source the test cannot judge */
					xl.worksheet_write_blank(ws, row, x, k->fmt[hl][F_TEXT]);
				} else {
					double d = 0;
					int f = F_REAL;

					switch (col->type) {
					case SE_T_INT: d = (double)v->i; f = F_INT; break;
					case SE_T_FLAG:
					case SE_T_BOOL: d = (double)(v->i != 0); f = F_INT; break;
					case SE_T_AMOUNT: d = (double)v->i / 100.0; f = F_MONEY; break;
					case SE_T_PCT: d = v->d; f = F_PCT; break;
					case SE_T_HOURS: d = (double)v->i / 3600.0; f = F_HOURS; break;
					case SE_T_REAL: d = se_real_rounded(v->d); break;
					case SE_T_NUM: d = strtod(se_cell_str(v), NULL); break;
					case SE_T_METRIC:
						d = v->d;
						f = v->i == SE_FORMAT_PERCENT ? F_PCT : v->i == SE_FORMAT_MONEY ? F_MONEY : F_REAL;
						break;
					default: break;
					}
					if (isnan(d) || isinf(d)) {
						xl.worksheet_write_blank(ws, row, x, k->fmt[hl][F_TEXT]);
					} else {
						xl.worksheet_write_number(ws, row, x, d, k->fmt[hl][f]);
						snprintf(text, sizeof text, f == F_PCT ? "%.1f%%" : "%.2f", f == F_PCT ? d * 100 : d);
						w = (double)strlen(text) + (fabs(d) >= 1000 ? 1 + log10(fabs(d)) / 3 : 0);
					}
				}
				if (w + 2 > width[x])
					width[x] = w + 2;
			}
		}
	}
	for (int c = 0; c < ncol; c++)
		xl.worksheet_set_column(ws, (lxw_col_t)c, (lxw_col_t)c, width[c] > 60 ? 60 : width[c], NULL);
	xl.worksheet_freeze_panes(ws, 1, 0);
	if (ncol > 0)
		xl.worksheet_autofilter(ws, 0, 0, row > 1 ? row - 1 : 1, (lxw_col_t)(ncol - 1));
	(void)rep;
	return SE_OK;
}

int se_write_xlsx(const se_report *rep, se_blocks *bs, FILE *out, const se_write_opts *opts,
                  se_error *err)
{
	const char *dir = getenv("TMPDIR");
	char path[4096];
	book k;
	lxw_error e;
	FILE *in;
	char buf[65536];
	size_t n;
	int fd, rc = SE_OK;

	if ((rc = load_xlsx(err)) != SE_OK)
		return rc;
	memset(&k, 0, sizeof k);
	k.lang = opts->language == SE_LANG_RU ? SE_LANG_RU : SE_LANG_EN;
	snprintf(path, sizeof path, "%s/salesengine-XXXXXX", dir && *dir ? dir : "/tmp");
	if ((fd = mkstemp(path)) < 0)
		return se_error_set(err, SE_EIO, "xlsx: cannot create a temporary file in %s", dir ? dir : "/tmp");
	close(fd);
	if ((k.wb = xl.workbook_new(path)) == NULL) {
		remove(path);
		return se_error_set(err, SE_ENOMEM, "xlsx: cannot start a workbook");
	}
	make_formats(&k);
	for (size_t i = 0, j; i < bs->n && rc == SE_OK; i = j) {
		for (j = i + 1; j < bs->n && bs->v[j].desc == bs->v[i].desc; j++)
			;
		rc = write_sheet(&k, rep, bs, i, j);
	}
	if (bs->n == 0)
		xl.workbook_add_worksheet(k.wb, NULL);
	if ((e = xl.workbook_close(k.wb)) != LXW_NO_ERROR && rc == SE_OK)
		rc = se_error_set(err, SE_EIO, "xlsx: %s", xl.lxw_strerror(e));
	else if (rc != SE_OK)
		se_error_set(err, rc, "xlsx: out of memory");
	if (rc == SE_OK && (in = fopen(path, "rb")) != NULL) {
		while ((n = fread(buf, 1, sizeof buf, in)) > 0)
			if (fwrite(buf, 1, n, out) != n) {
				rc = se_error_set(err, SE_EIO, "writing the workbook failed");
				break;
			}
		fclose(in);
	} else if (rc == SE_OK) {
		rc = se_error_set(err, SE_EIO, "xlsx: cannot read back %s", path);
	}
	remove(path);
	return rc;
}
