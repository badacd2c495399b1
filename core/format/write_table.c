/*
 * format/write_table.c: blocks as aligned text tables for a terminal,
 * under a header line with the run's settings.
 *
 * Widths are display columns (UTF-8: a Cyrillic letter is one column, a
 * CJK character two), numbers align right, text left; no line ends in
 * spaces.  Never: changes a number's text from what CSV prints, beyond
 * "-" for no value and words for flags.
 */
#include "block.h"
#include "i18n.h"
#include "timeconv.h"
#include "utf8.h"

#include <stdlib.h>

static void pad(FILE *out, size_t n)
{
	while (n-- > 0)
		fputc(' ', out);
}

void se_block_title(const se_report *rep, const se_block *b, char *buf, size_t size)
{
	const se_report_desc *d = b->desc;

	if (d->title_fn != NULL)
		d->title_fn(rep, b, buf, size);
	else if (b->funnel != SE_NONE)
		snprintf(buf, size, "%s: %s", rep->rules->funnels[b->funnel].name, d->title);
	else
		snprintf(buf, size, "%s", d->title);
}

/* Columns a table prints; reports have up to 18 (channels). */
#define TABLE_MAX_COLS 24

/* Words of the table in the run's language (English: the text itself). */
static const char *words(const se_write_opts *o, const char *s)
{
	return se_tr(o->language == SE_LANG_RU ? SE_LANG_RU : SE_LANG_EN, s);
}

/* A cell's text: as CSV prints it in English; in Russian, numbers for
 * people (digit groups, decimal comma, ₽ after money). */
static const char *cell_text(const se_write_opts *o, const se_col *c, const se_cell *v, char *buf,
                             size_t size)
{
	if (o->language != SE_LANG_RU || c->type == SE_T_STR || c->type == SE_T_BOOL ||
	    c->type == SE_T_FLAG || c->type == SE_T_NUM || c->type == SE_T_METRIC ||
	    (v->null && c->type != SE_T_INT))
		return se_cell_text(c, v, buf, size, 1);
	switch (c->type) {
	case SE_T_INT: return se_fmt_int(SE_LANG_RU, v->i, buf, size);
	case SE_T_AMOUNT: return se_fmt_kopecks(SE_LANG_RU, v->i, buf, size);
	case SE_T_PCT: return se_fmt_fixed(SE_LANG_RU, (double)se_pct_tenths(v) / 10.0, 1, buf, size);
	case SE_T_HOURS: return se_fmt_fixed(SE_LANG_RU, (double)v->i / 3600.0, 1, buf, size);
	case SE_T_REAL: return se_fmt_fixed(SE_LANG_RU, v->d, 2, buf, size);
	default: return se_cell_text(c, v, buf, size, 1);
	}
}

static void write_table_block(const se_report *rep, const se_block *b, FILE *out, const se_write_opts *o)
{
	size_t width[TABLE_MAX_COLS] = { 0 }, cap = 0;
	char title[512], buf[64], *scratch = NULL;

	if (b->desc->title_fn == NULL && b->funnel != SE_NONE)
		snprintf(title, sizeof title, "%s: %s", rep->rules->funnels[b->funnel].name, words(o, b->desc->title));
	else if (b->desc->title_fn == NULL)
		snprintf(title, sizeof title, "%s", words(o, b->desc->title));
	else
		se_block_title(rep, b, title, sizeof title);
	fprintf(out, "== %s ==\n", se_utf8_visible(title, &scratch, &cap));
	if (b->rows == 0) {
		fprintf(out, "%s\n\n", words(o, b->desc->empty ? b->desc->empty : "(no data)"));
		free(scratch);
		return;
	}
	for (int c = 0; c < b->ncols && c < TABLE_MAX_COLS; c++)
		if (b->cols[c].where & SE_IN_TABLE)
			width[c] = se_utf8_width(words(o, b->cols[c].csv), strlen(words(o, b->cols[c].csv)));
	for (size_t r = 0; r < b->rows; r++)
		for (int c = 0; c < b->ncols && c < TABLE_MAX_COLS; c++) {
			const char *t;
			size_t w;

			if (!(b->cols[c].where & SE_IN_TABLE))
				continue;
			t = cell_text(o, &b->cols[c], &b->cells[r * (size_t)b->ncols + c], buf, sizeof buf);
			t = se_utf8_visible(t, &scratch, &cap);
			w = se_utf8_width(t, strlen(t));
			if (w > width[c])
				width[c] = w;
		}
	for (size_t r = 0; r <= b->rows; r++) {
		size_t owed = 0; /* spaces not written yet: none trail a line */

		for (int c = 0; c < b->ncols && c < TABLE_MAX_COLS; c++) {
			const char *t;
			size_t w;
			int right = b->cols[c].type != SE_T_STR && b->cols[c].type != SE_T_BOOL;

			if (!(b->cols[c].where & SE_IN_TABLE))
				continue;
			t = r == 0 ? words(o, b->cols[c].csv)
			           : cell_text(o, &b->cols[c], &b->cells[(r - 1) * (size_t)b->ncols + c], buf, sizeof buf);
			t = se_utf8_visible(t, &scratch, &cap);
			w = se_utf8_width(t, strlen(t));
			if (right)
				owed += width[c] - w;
			if (*t != '\0') {
				pad(out, owed);
				fputs(t, out);
				owed = 0;
			}
			owed += (right ? 0 : width[c] - w) + 2;
		}
		fputc('\n', out);
	}
	fputc('\n', out);
	free(scratch);
}

int se_write_table(const se_report *rep, se_blocks *bs, FILE *out, const se_write_opts *opts,
                   se_error *err)
{
	se_block_iter it = SE_BLOCK_ITER_INIT;
	const se_block *b;
	char asof[32];

	if (opts->digest == 2)
		return se_write_digest(rep, out, opts, err);
	se_time_format_utc(rep->as_of, asof, sizeof asof);
	fprintf(out, "salesengine %s: %lld deals, %lld events; period %s; zone %s; ", SE_VERSION,
	        (long long)rep->deals, (long long)rep->events, se_period_name(rep->period), se_tz_name(rep->tz));
	if (rep->from || rep->to)
		fprintf(out, "from %s to %s; ", rep->from ? rep->from : "the start", rep->to ? rep->to : "now");
	fprintf(out, "as of %s\n\n", asof);
	if (opts->digest) {
		int rc = se_write_digest(rep, out, opts, err);

		if (rc != SE_OK)
			return rc;
		fputc('\n', out);
	}
	while ((b = se_blocks_next(bs, &it)) != NULL)
		write_table_block(rep, b, out, opts);
	if (rep->deals_unmatched > 0)
		fprintf(out, "%lld deals have no status any funnel knows: they are in no report above.\n",
		        (long long)rep->deals_unmatched);
	if (rep->amounts_over_max > 0)
		fprintf(out, "%lld deals have an amount over %.0f: it is in no sum above (as no amount).\n",
		        (long long)rep->amounts_over_max, SE_AMOUNT_MAX);
	return SE_OK;
}
