/*
 * format/write_html.c: one self-contained HTML page for people: the
 * digest, then funnels as SVG charts (the team's and each manager's, with
 * step conversions), a manager x step heatmap (conversion, its interval,
 * growth points), lead handling, sources with spend and ROMI (weak ones
 * marked), pre-sale deals and the forecast by month as a chart, stale
 * deals, and alerts firing.
 *
 * Self-contained: CSS, SVG and a small sorting script inline; no fonts,
 * images, scripts or styles from anywhere (a Content-Security-Policy says
 * so to the browser too); everything reads with JavaScript off.  The
 * layout is one column that fits a 390 px phone (wide tables scroll inside
 * their box) and prints on A4.  Long lists are cut (LIST_CAP rows) with a
 * line that says how many more and points to the CSV report, so the page
 * stays small on a million deals.
 *
 * Every number shown in a table carries its machine value (data-key,
 * data-value on the cell; the row's text fields in data-id), so a test can
 * compare the page with the JSON report.
 *
 * Never: computes a metric; the charts draw the blocks' numbers.
 */
#include "block.h"
#include "i18n.h"
#include "timeconv.h"

#include <math.h>
#include <stdlib.h>

#define LIST_CAP 50        /* rows of a long table */
#define FUNNEL_CAP 24      /* managers' funnel charts */
#define HEATMAP_CAP 60     /* managers in the heatmap */

typedef struct page {
	const se_report *rep;
	const se_blocks *bs;
	const se_write_opts *opts;
	se_lang lang;
	FILE *out;
} page;

static const char *tr(const page *p, const char *s)
{
	return se_tr(p->lang, s);
}

/* Text in an element or a double-quoted attribute. */
static void esc(FILE *out, const char *s)
{
	for (; *s; s++)
		switch (*s) {
		case '&': fputs("&amp;", out); break;
		case '<': fputs("&lt;", out); break;
		case '>': fputs("&gt;", out); break;
		case '"': fputs("&quot;", out); break;
		default: fputc(*s, out);
		}
}

/* A column header for people: the Russian catalog's, else the CSV name
 * with spaces. */
static void header(const page *p, const char *csv)
{
	const char *t = tr(p, csv);

	if (t == csv)
		for (; *csv; csv++)
			fputc(*csv == '_' ? ' ' : *csv, p->out);
	else
		esc(p->out, t);
}

/* ---- cells: text for people, value for machines ------------------------------ */

/* The shown text of a cell. */
static const char *shown(const page *p, const se_col *c, const se_cell *v, char *buf)
{
	if (c->type == SE_T_STR)
		return se_cell_str(v);
	if (v->null && c->type != SE_T_BOOL)
		return "-";
	switch (c->type) {
	case SE_T_INT: return se_fmt_int(p->lang, v->i, buf, SE_FMT_SIZE);
	case SE_T_AMOUNT: return se_fmt_kopecks(p->lang, v->i, buf, SE_FMT_SIZE);
	case SE_T_PCT: return se_fmt_percent(p->lang, (double)se_pct_tenths(v) / 1000.0, buf, SE_FMT_SIZE);
	case SE_T_HOURS: return se_fmt_fixed(p->lang, (double)v->i / 3600.0, 1, buf, SE_FMT_SIZE);
	case SE_T_REAL: return se_fmt_fixed(p->lang, v->d, 2, buf, SE_FMT_SIZE);
	case SE_T_BOOL:
	case SE_T_FLAG: return v->i ? "✔" : "";
	case SE_T_METRIC:
		if (isnan(v->d))
			return "-";
		if (v->i == SE_FORMAT_PERCENT)
			return se_fmt_percent(p->lang, v->d, buf, SE_FMT_SIZE);
		return se_fmt_fixed(p->lang, v->d, 2, buf, SE_FMT_SIZE);
	default: return se_cell_str(v);
	}
}

/* The machine value of a cell as the JSON report has it; 0 when none. */
static int machine(const se_col *c, const se_cell *v, char *buf, size_t size)
{
	if (c->type == SE_T_STR || c->json == NULL)
		return 0;
	/* JSON's null: a flag without a judgement too (weak of a source the
	 * test cannot judge) */
	if (v->null && c->type != SE_T_BOOL)
		return 0;
	switch (c->type) {
	case SE_T_INT:
	case SE_T_HOURS: snprintf(buf, size, "%lld", (long long)v->i); return 1;
	case SE_T_BOOL:
	case SE_T_FLAG: snprintf(buf, size, "%s", v->i ? "true" : "false"); return 1;
	case SE_T_AMOUNT: se_format_kopecks(v->i, buf, size); return 1;
	case SE_T_REAL: snprintf(buf, size, "%.17g", se_real_rounded(v->d)); return 1;
	case SE_T_PCT:
	case SE_T_METRIC:
		if (isnan(v->d))
			return 0;
		snprintf(buf, size, "%.17g", v->d);
		return 1;
	case SE_T_NUM: snprintf(buf, size, "%s", se_cell_str(v)); return 1;
	default: return 0;
	}
}

/* <tr data-report data-funnel data-id="key=value;..."> from the row's text
 * fields with a JSON key, in column order. */
static void row_open(const page *p, const se_block *b, size_t r, const char *cls)
{
	fprintf(p->out, "<tr%s%s%s data-report=\"%s\" data-funnel=\"", cls ? " class=\"" : "", cls ? cls : "",
	        cls ? "\"" : "", b->desc->name);
	if (b->funnel != SE_NONE)
		esc(p->out, p->rep->rules->funnels[b->funnel].name);
	fputs("\" data-id=\"", p->out);
	if (b->label != NULL && b->desc->flag == SE_REPORT_CONVERSION) {
		fputs("step=", p->out);
		esc(p->out, b->label);
		fputc(';', p->out);
	}
	if (b->desc->flag == SE_REPORT_METRICS) {
		fputs("metric=", p->out);
		esc(p->out, p->rep->rules->metrics[b->pair].name);
		fputc(';', p->out);
	}
	for (int c = 0; c < b->ncols; c++)
		/* a text cell without a value (no not_testable reason) is JSON's
		 * null, no text field of the row */
		if (b->cols[c].type == SE_T_STR && b->cols[c].json != NULL &&
		    !b->cells[r * (size_t)b->ncols + c].null) {
			fprintf(p->out, "%s=", b->cols[c].json);
			esc(p->out, se_cell_str(&b->cells[r * (size_t)b->ncols + c]));
			fputc(';', p->out);
		}
	fputs("\">", p->out);
}

static void td(const page *p, const se_col *c, const se_cell *v, const char *cls)
{
	char buf[SE_FMT_SIZE], m[64];
	int num = c->type != SE_T_STR;

	fprintf(p->out, "<td%s%s%s", num ? " class=\"n" : "", num && cls ? " " : "", num && cls ? cls : "");
	if (num)
		fputc('"', p->out);
	if (machine(c, v, m, sizeof m)) {
		fprintf(p->out, " data-key=\"%s\" data-value=\"", c->json);
		esc(p->out, m);
		fputc('"', p->out);
	}
	fputc('>', p->out);
	esc(p->out, shown(p, c, v, buf));
	fputs("</td>", p->out);
}

/* ---- generic tables ------------------------------------------------------------ */

typedef int (*row_filter)(const se_block *b, size_t r, const void *ud);
/* A CSS class for a row (weak source, growth point), or NULL. */
typedef const char *(*row_class)(const se_block *b, size_t r);

static int is_table_col(const se_col *c)
{
	return (c->where & SE_IN_TABLE) && c->json != NULL;
}

/* One table of the rows of every block of report `name` that pass keep,
 * at most LIST_CAP; returns the rows shown. */
static size_t table(const page *p, const char *name, row_filter keep, const void *ud, row_class cls)
{
	const se_block *first = NULL;
	size_t shown_rows = 0, total = 0;

	for (size_t i = 0; i < p->bs->n; i++) {
		const se_block *b = &p->bs->v[i];

		if (strcmp(b->desc->name, name) != 0)
			continue;
		for (size_t r = 0; r < b->rows; r++) {
			if (keep && !keep(b, r, ud))
				continue;
			if (first == NULL) {
				first = b;
				fputs("<div class=\"scroll\"><table class=\"sortable\"><thead><tr>", p->out);
				if (p->rep->rules->n_funnels > 1)
					fprintf(p->out, "<th>%s</th>", tr(p, "funnel"));
				for (int c = 0; c < b->ncols; c++)
					if (is_table_col(&b->cols[c])) {
						fputs("<th>", p->out);
						header(p, b->cols[c].csv);
						fputs("</th>", p->out);
					}
				fputs("</tr></thead><tbody>\n", p->out);
			}
			total++;
			if (shown_rows >= LIST_CAP)
				continue;
			shown_rows++;
			row_open(p, b, r, cls ? cls(b, r) : NULL);
			if (p->rep->rules->n_funnels > 1) {
				fputs("<td>", p->out);
				esc(p->out, b->funnel != SE_NONE ? p->rep->rules->funnels[b->funnel].name : "");
				fputs("</td>", p->out);
			}
			for (int c = 0; c < b->ncols; c++)
				if (is_table_col(&b->cols[c]))
					td(p, &b->cols[c], &b->cells[r * (size_t)b->ncols + c], NULL);
			fputs("</tr>\n", p->out);
		}
	}
	if (first == NULL) {
		fprintf(p->out, "<p class=\"muted\">%s</p>\n", tr(p, "none"));
		return 0;
	}
	fputs("</tbody></table></div>\n", p->out);
	if (total > shown_rows) {
		char more[128];

		snprintf(more, sizeof more, tr(p, "%d more: see the CSV report"), (int)(total - shown_rows));
		fprintf(p->out, "<p class=\"more\">%s (<code>--format csv --report %s</code>)</p>\n", more,
		        first->desc->option);
	}
	return shown_rows;
}

/* Rows of the last period bucket a block has (all rows when it has no
 * period column). */
static int last_period_row(const se_block *b, size_t r, const void *ud)
{
	(void)ud;
	if (se_block_col(b, "period") < 0 || b->rows == 0)
		return 1;
	return strcmp(se_block_str(b, r, "period"), se_block_str(b, b->rows - 1, "period")) == 0;
}

static const char *weak_class(const se_block *b, size_t r)
{
	const se_cell *w = se_block_cell(b, r, "weak");

	return w && w->i ? "weak" : NULL;
}

/* ---- funnels: horizontal bars, a step's conversion between them -------------------- */

typedef struct step_row {
	const char *name;        /* manager, or "*" */
	const se_block *b;
	size_t r;
} step_row;

/* The diagnostics rows of one funnel and name (dimension team or manager)
 * for the adjacent steps, in funnel order; a step without a row ends the
 * list (the funnel chart needs them all). */
static int funnel_rows(const page *p, int funnel, const char *dim, const char *name, step_row *rows,
                       int max)
{
	const se_funnel *fn = &p->rep->rules->funnels[funnel];
	int n = 0;

	for (int k = 0; k + 1 < fn->n_stages && n < max; k++) {
		char step[512];
		int found = 0;

		snprintf(step, sizeof step, "%s -> %s", fn->stages[k].name, fn->stages[k + 1].name);
		for (size_t i = 0; i < p->bs->n && !found; i++) {
			const se_block *b = &p->bs->v[i];

			if (b->funnel != funnel || strcmp(b->desc->name, "diagnostics") != 0)
				continue;
			for (size_t r = 0; r < b->rows && !found; r++)
				if (strcmp(se_block_str(b, r, "step"), step) == 0 &&
				    strcmp(se_block_str(b, r, "dimension"), dim) == 0 &&
				    strcmp(se_block_str(b, r, "name"), name) == 0) {
					rows[n++] = (step_row){ name, b, r };
					found = 1;
				}
		}
		if (!found)
			break;
	}
	return n;
}

static void funnel_svg(const page *p, int funnel, const char *dim, const char *name, const char *title)
{
	const se_funnel *fn = &p->rep->rules->funnels[funnel];
	step_row rows[64];
	int n = funnel_rows(p, funnel, dim, name, rows, 64);
	int64_t top;
	int h = 26, gap = 20, w = 520, label_w = 190;
	int height;

	if (n == 0)
		return;
	top = se_block_cell(rows[0].b, rows[0].r, "reached_from")->i;
	height = (n + 1) * h + n * gap + 8;
	fprintf(p->out, "<figure class=\"funnel%s\"><figcaption>", strcmp(dim, "team") == 0 ? " big" : "");
	esc(p->out, title);
	fprintf(p->out, "</figcaption><svg viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"", w, height);
	esc(p->out, title);
	fputs("\">", p->out);
	for (int k = 0; k <= n; k++) {
		const se_cell *c = k < n ? se_block_cell(rows[k].b, rows[k].r, "reached_from")
		                         : se_block_cell(rows[n - 1].b, rows[n - 1].r, "reached_to");
		double frac = top > 0 ? (double)c->i / (double)top : 0;
		int y = k * (h + gap) + 4, bw = (int)lround(frac * (w - label_w - 100));
		char num[SE_FMT_SIZE];
		/* the stage the bar stands for: a step's first stage, the last step's second */
		const char *stage = k < fn->n_stages ? fn->stages[k].name : "";

		fprintf(p->out, "<text x=\"%d\" y=\"%d\" class=\"sl\">", label_w - 8, y + h / 2 + 6);
		esc(p->out, stage);
		fprintf(p->out, "</text><rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" rx=\"3\" class=\"bar\"/>",
		        label_w, y, bw > 1 ? bw : 1, h);
		fprintf(p->out, "<text x=\"%d\" y=\"%d\" class=\"bv\">%s</text>", label_w + (bw > 1 ? bw : 1) + 6,
		        y + h / 2 + 6, se_fmt_int(p->lang, c->i, num, sizeof num));
		if (k < n) {
			const se_cell *rate = se_block_cell(rows[k].b, rows[k].r, "conversion_pct");
			const se_cell *gp = se_block_cell(rows[k].b, rows[k].r, "growth_point");
			char pc[SE_FMT_SIZE];

			fprintf(p->out, "<text x=\"%d\" y=\"%d\" class=\"st%s\">↓ %s%s</text>", label_w + 8,
			        y + h + gap - 4, gp && gp->i ? " gp" : "",
			        rate->null ? "-" : se_fmt_percent(p->lang, (double)se_pct_tenths(rate) / 1000.0, pc, sizeof pc),
			        gp && gp->i ? (p->lang == SE_LANG_RU ? "  ★ точка роста" : "  ★ growth point") : "");
		}
	}
	fputs("</svg></figure>\n", p->out);
}

/* Manager names of a funnel's diagnostics, in the report's order: the rows
 * of the first step (every manager has one row per step), so a store with
 * thousands of managers is read once, not compared name by name. */
static int managers_of(const page *p, int funnel, const char **names, int max)
{
	const se_funnel *fn = &p->rep->rules->funnels[funnel];
	char step[512];
	int n = 0;

	if (fn->n_stages < 2)
		return 0;
	snprintf(step, sizeof step, "%s -> %s", fn->stages[0].name, fn->stages[1].name);
	for (size_t i = 0; i < p->bs->n; i++) {
		const se_block *b = &p->bs->v[i];

		if (b->funnel != funnel || strcmp(b->desc->name, "diagnostics") != 0)
			continue;
		for (size_t r = 0; r < b->rows; r++)
			if (strcmp(se_block_str(b, r, "dimension"), "manager") == 0 &&
			    strcmp(se_block_str(b, r, "step"), step) == 0) {
				if (n < max)
					names[n] = se_block_str(b, r, "name");
				n++;
			}
	}
	return n; /* all of them; names holds the first max */
}

static void section_funnels(const page *p)
{
	for (int f = 0; f < p->rep->rules->n_funnels; f++) {
		const se_funnel *fn = &p->rep->rules->funnels[f];
		const char **names = malloc(4096 * sizeof *names);
		step_row any[1];
		char title[256];
		int n;

		if (names == NULL || funnel_rows(p, f, "team", "*", any, 1) == 0) {
			free(names);
			continue;
		}
		fprintf(p->out, "<section id=\"funnel-%d\"><h2>%s: ", f, tr(p, "Funnel"));
		esc(p->out, fn->name);
		fputs("</h2>\n", p->out);
		funnel_svg(p, f, "team", "*", tr(p, "Team funnel"));
		n = managers_of(p, f, names, 4096);
		fputs("<div class=\"grid\">\n", p->out);
		for (int m = 0; m < n && m < FUNNEL_CAP; m++) {
			snprintf(title, sizeof title, "%s", names[m]);
			funnel_svg(p, f, "manager", names[m], title);
		}
		fputs("</div>\n", p->out);
		if (n > FUNNEL_CAP) {
			char more[128];

			snprintf(more, sizeof more, tr(p, "%d more: see the CSV report"), n - FUNNEL_CAP);
			fprintf(p->out, "<p class=\"more\">%s (<code>--format csv --report diagnostics</code>)</p>\n", more);
		}
		fputs("</section>\n", p->out);
		free(names);
	}
}

/* ---- heatmap: managers x steps ------------------------------------------------------ */

static void heat_cell(const page *p, const se_block *b, size_t r, double team_rate)
{
	const char *step = se_block_str(b, r, "step");
	const se_cell *rate = se_block_cell(b, r, "conversion_pct");
	const se_cell *lo = se_block_cell(b, r, "ci_low_pct"), *hi = se_block_cell(b, r, "ci_high_pct");
	const se_cell *gp = se_block_cell(b, r, "growth_point");
	char a[SE_FMT_SIZE], l[SE_FMT_SIZE], h[SE_FMT_SIZE], m[64];
	/* colour: the manager's rate against the team's, -50% red .. +50% green */
	double rel = team_rate > 0 && !rate->null ? rate->d / team_rate - 1.0 : 0;
	int hue = rel < 0 ? 0 : 130;
	int light = 97 - (int)lround(fmin(fabs(rel), 0.5) * 2 * 30);

	fprintf(p->out, "<td class=\"hm%s\" style=\"background:hsl(%d,60%%,%d%%)\"", gp->i ? " gp" : "", hue,
	        light);
	fputs(" data-step=\"", p->out);
	esc(p->out, step);
	fputc('"', p->out);
	if (machine(&b->cols[se_block_col(b, "conversion_pct")], rate, m, sizeof m))
		fprintf(p->out, " data-key=\"rate\" data-value=\"%s\"", m);
	fputc('>', p->out);
	if (rate->null) {
		fputs("-</td>", p->out);
		return;
	}
	fprintf(p->out, "<b>%s</b>%s<br><small>%s–%s</small></td>",
	        se_fmt_percent(p->lang, (double)se_pct_tenths(rate) / 1000.0, a, sizeof a), gp->i ? " ★" : "",
	        lo->null ? "-" : se_fmt_percent(p->lang, (double)se_pct_tenths(lo) / 1000.0, l, sizeof l),
	        hi->null ? "-" : se_fmt_percent(p->lang, (double)se_pct_tenths(hi) / 1000.0, h, sizeof h));
}

static void section_heatmap(const page *p)
{
	for (int f = 0; f < p->rep->rules->n_funnels; f++) {
		const char **names = malloc(4096 * sizeof *names);
		step_row team[64];
		int steps = funnel_rows(p, f, "team", "*", team, 64);
		int n = names ? managers_of(p, f, names, 4096) : 0;

		if (steps == 0 || n == 0) {
			free(names);
			continue;
		}
		fprintf(p->out, "<section id=\"heatmap-%d\"><h2>%s: ", f, tr(p, "Managers by step"));
		esc(p->out, p->rep->rules->funnels[f].name);
		fprintf(p->out, "</h2>\n<p class=\"muted\">%s</p>\n", p->lang == SE_LANG_RU
		        ? "Конверсия шага и её 95% интервал; цвет — против команды; ★ — точка роста."
		        : "Step conversion with its 95% interval; colour: against the team; ★ growth point.");
		fputs("<div class=\"scroll\"><table class=\"heat sortable\"><thead><tr><th>", p->out);
		header(p, "manager");
		fputs("</th>", p->out);
		for (int s = 0; s < steps; s++) {
			fputs("<th>", p->out);
			esc(p->out, se_block_str(team[s].b, team[s].r, "step"));
			fputs("</th>", p->out);
		}
		fputs("</tr></thead><tbody>\n", p->out);
		for (int m = -1; m < n && m < HEATMAP_CAP; m++) {
			step_row rows[64];
			const char *name = m < 0 ? "*" : names[m];
			int k = funnel_rows(p, f, m < 0 ? "team" : "manager", name, rows, 64);

			fprintf(p->out, "<tr%s data-report=\"diagnostics\" data-funnel=\"", m < 0 ? " class=\"team\"" : "");
			esc(p->out, p->rep->rules->funnels[f].name);
			fprintf(p->out, "\" data-id=\"dimension=%s;name=", m < 0 ? "team" : "manager");
			esc(p->out, name);
			fputs(";\"><th>", p->out);
			esc(p->out, m < 0 ? tr(p, "team") : name);
			fputs("</th>", p->out);
			for (int s = 0; s < steps; s++) {
				int found = -1;

				for (int j = 0; j < k && found < 0; j++)
					if (strcmp(se_block_str(rows[j].b, rows[j].r, "step"),
					           se_block_str(team[s].b, team[s].r, "step")) == 0)
						found = j;
				if (found < 0) {
					fputs("<td class=\"hm\">-</td>", p->out);
					continue;
				}
				/* the step in data-step, so the test can find the JSON row */
				heat_cell(p, rows[found].b, rows[found].r,
				          se_block_cell(team[s].b, team[s].r, "conversion_pct")->d);
			}
			fputs("</tr>\n", p->out);
		}
		fputs("</tbody></table></div>\n", p->out);
		if (n > HEATMAP_CAP) {
			char more[128];

			snprintf(more, sizeof more, tr(p, "%d more: see the CSV report"), n - HEATMAP_CAP);
			fprintf(p->out, "<p class=\"more\">%s (<code>--format csv --report diagnostics</code>)</p>\n", more);
		}
		fputs("</section>\n", p->out);
		free(names);
	}
}

/* ---- forecast by month: bars ----------------------------------------------------------- */

static void section_forecast_chart(const page *p)
{
	for (size_t i = 0; i < p->bs->n; i++) {
		const se_block *b = &p->bs->v[i];
		int64_t max = 0;
		size_t n = b->rows < 24 ? b->rows : 24;
		int w = 640, h = 220, left = 10, bottom = 40, slot;

		if (strcmp(b->desc->name, "forecast_month") != 0 || b->rows == 0)
			continue;
		for (size_t r = 0; r < n; r++) {
			int64_t a = se_block_cell(b, r, "amount")->i;

			if (a > max)
				max = a;
		}
		if (max <= 0)
			continue;
		slot = (w - left * 2) / (int)n;
		fputs("<figure class=\"chart\"><figcaption>", p->out);
		esc(p->out, tr(p, "Forecast by month"));
		if (p->rep->rules->n_funnels > 1) {
			fputs(": ", p->out);
			esc(p->out, p->rep->rules->funnels[b->funnel].name);
		}
		fprintf(p->out, "</figcaption><svg viewBox=\"0 0 %d %d\" role=\"img\">", w, h);
		for (size_t r = 0; r < n; r++) {
			/* the time-aware forecast (won within the horizon) beside the
			 * stage and win-rate ones, which say "some day" */
			static const char *const series[] = { "amount", "forecast_stage", "forecast_shrunk",
			                                      "forecast_time" };
			int x = left + (int)r * slot;

			for (int s = 0; s < 4; s++) {
				const se_cell *c = se_block_cell(b, r, series[s]);
				int64_t v = c == NULL || c->null ? 0 : c->i;
				int bh = (int)lround((double)v / (double)max * (h - bottom - 20));
				int bw = (slot - 8) / 4;

				if (c == NULL || c->null)
					continue;

				fprintf(p->out, "<rect class=\"s%d\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\"><title>", s,
				        x + 4 + s * bw, h - bottom - bh, bw > 1 ? bw - 1 : 1, bh);
				{
					char m[SE_FMT_SIZE];

					header(p, series[s]);
					fprintf(p->out, ": %s</title></rect>", se_fmt_kopecks(p->lang, v, m, sizeof m));
				}
			}
			fprintf(p->out, "<text x=\"%d\" y=\"%d\" class=\"ax\">", x + slot / 2, h - bottom + 16);
			esc(p->out, se_block_str(b, r, "month"));
			fputs("</text>", p->out);
		}
		fprintf(p->out, "</svg><p class=\"legend\"><span class=\"k s0\"></span>");
		header(p, "amount");
		fputs(" <span class=\"k s1\"></span>", p->out);
		header(p, "forecast_stage");
		fputs(" <span class=\"k s2\"></span>", p->out);
		header(p, "forecast_shrunk");
		if (se_block_col(b, "forecast_time") >= 0) {
			fputs(" <span class=\"k s3\"></span>", p->out);
			header(p, "forecast_time");
		}
		fputs("</p></figure>\n", p->out);
	}
}

/* ---- the page -------------------------------------------------------------------------- */

static int team_row(const se_block *b, size_t r, const void *ud)
{
	(void)ud;
	return strcmp(se_block_str(b, r, "dimension"), "team") == 0;
}

static int has(const page *p, const char *name)
{
	for (size_t i = 0; i < p->bs->n; i++)
		if (strcmp(p->bs->v[i].desc->name, name) == 0)
			return 1;
	return 0;
}

static void h2(const page *p, const char *id, const char *title)
{
	fprintf(p->out, "<section id=\"%s\"><h2>%s</h2>\n", id, tr(p, title));
}

static const char css[] =
	"*{box-sizing:border-box}"
	"body{margin:0 auto;max-width:1200px;padding:12px;font:15px/1.45 system-ui,-apple-system,"
	"'Segoe UI',Roboto,Arial,sans-serif;color:#1d2430;background:#fff}"
	"h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.2em;margin:1.4em 0 .5em;border-bottom:2px solid #e3e8ef;"
	"padding-bottom:.2em}section{margin-bottom:1em}"
	".muted,.more{color:#5b6575;font-size:.9em}.more code{font-size:.9em}"
	".digest{background:#f5f8fc;border:1px solid #dbe3ee;border-radius:8px;padding:10px 14px;"
	"white-space:pre-wrap;overflow-wrap:anywhere;font-size:.95em}.digest b{display:block;margin-top:.5em}"
	".scroll{overflow-x:auto;-webkit-overflow-scrolling:touch;max-width:100%}"
	"table{border-collapse:collapse;font-size:.88em;margin:.3em 0}"
	"th,td{padding:4px 8px;border-bottom:1px solid #e6eaf0;text-align:left;white-space:nowrap}"
	"th{background:#f3f5f8;position:sticky;top:0;cursor:pointer}td.n{text-align:right;font-variant-numeric:tabular-nums}"
	"tr.weak td{background:#fdecec}tr.weak td:first-child{box-shadow:inset 3px 0 #d33}"
	"tr.team td,tr.team th{font-weight:600}"
	"td.hm{text-align:center;min-width:96px}td.hm small{color:#444}td.gp{outline:2px solid #c0392b;outline-offset:-2px}"
	"figure{margin:.5em 0}figcaption{font-weight:600;margin-bottom:.2em}"
	"svg{width:100%;height:auto;display:block}.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:8px 18px}"
	"figure.big{max-width:640px}"
	".bar{fill:#4a7fd4}.sl{font-size:17px;text-anchor:end;fill:#1d2430}.bv{font-size:17px;fill:#1d2430}"
	".st{font-size:16px;fill:#5b6575}.st.gp{fill:#c0392b;font-weight:700}"
	".s0{fill:#b8c7de;background:#b8c7de}.s1{fill:#4a7fd4;background:#4a7fd4}.s2{fill:#2e9d6a;background:#2e9d6a}"
	".s3{fill:#e08a1e;background:#e08a1e}"
	".ax{font-size:11px;text-anchor:middle;fill:#5b6575}.k{display:inline-block;width:.9em;height:.9em;"
	"vertical-align:middle;margin:0 .2em 0 .8em}"
	"ul.alerts li{margin:.2em 0}footer{margin-top:2em;color:#8a93a3;font-size:.8em}"
	"@media (max-width:600px){body{padding:8px;font-size:14px}.grid{grid-template-columns:1fr}"
	"th,td{padding:3px 5px}}"
	"@page{size:A4;margin:12mm}"
	"@media print{body{max-width:none;padding:0;font-size:10pt}.scroll{overflow:visible}"
	"th{position:static}section,figure,tr{break-inside:avoid}h2{break-after:avoid}"
	".grid{grid-template-columns:1fr 1fr}}";

/* Click a header to sort its table; the page reads the same without it. */
static const char script[] =
	"document.querySelectorAll('table.sortable th').forEach(function(th){"
	"th.addEventListener('click',function(){var t=th.closest('table'),b=t.tBodies[0],"
	"i=Array.prototype.indexOf.call(th.parentNode.children,th),d=th.dataset.dir==='a'?-1:1;"
	"th.dataset.dir=d>0?'a':'d';var v=function(r){var c=r.children[i];if(!c)return'';"
	"var x=c.getAttribute('data-value');return x!==null&&x!==''&&!isNaN(+x)?+x:c.textContent};"
	"Array.prototype.slice.call(b.rows).sort(function(a,c){var x=v(a),y=v(c);"
	"return(typeof x==='number'&&typeof y==='number'?x-y:String(x).localeCompare(String(y)))*d})"
	".forEach(function(r){b.appendChild(r)})})});";

int se_write_html(const se_report *rep, se_blocks *bs, FILE *out, const se_write_opts *opts,
                  se_error *err)
{
	page p = { rep, bs, opts, opts->language == SE_LANG_RU ? SE_LANG_RU : SE_LANG_EN, out };
	se_digest_line lines[SE_DIGEST_LINES];
	char asof[32];
	int n = 0;

	se_time_format_utc(rep->as_of, asof, sizeof asof);
	fprintf(out, "<!DOCTYPE html>\n<html lang=\"%s\"><head><meta charset=\"utf-8\">\n", se_lang_name(p.lang));
	/* the browser enforces what the page promises: nothing from outside */
	fputs("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
	      "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\n"
	      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>", out);
	esc(out, tr(&p, "Sales report"));
	fprintf(out, " %s</title>\n<style>%s</style></head><body>\n<header><h1>", asof, css);
	esc(out, tr(&p, "Sales report"));
	fprintf(out, "</h1><p class=\"muted\">%s %s (UTC) · %s · %lld deals, %lld events</p></header>\n",
	        tr(&p, "as of"), asof, se_tz_name(rep->tz), (long long)rep->deals, (long long)rep->events);

	if (opts->digest) {
		if (se_digest_lines(rep, opts, lines, &n) != 0)
			return se_error_set(err, SE_ENOMEM, "out of memory writing the digest");
		fputs("<section id=\"digest\"><div class=\"digest\">", out);
		for (int i = 1; i < n; i++) {
			fputs(lines[i].heading ? "<b>" : "", out);
			esc(out, lines[i].text);
			fputs(lines[i].heading ? "</b>" : "\n", out);
		}
		fputs("</div></section>\n", out);
	}
	if (has(&p, "diagnostics")) {
		section_funnels(&p);
		section_heatmap(&p);
	} else if (has(&p, "conversion")) {
		h2(&p, "conversion", "Conversion");
		table(&p, "conversion", team_row, NULL, NULL);
		fputs("</section>\n", out);
	}
	if (has(&p, "handling")) {
		h2(&p, "handling", "Lead handling");
		table(&p, "handling", last_period_row, NULL, NULL);
		fputs("</section>\n", out);
	}
	if (has(&p, "channels")) {
		h2(&p, "sources", "Sources");
		table(&p, "channels", last_period_row, NULL, weak_class);
		fputs("</section>\n", out);
	} else if (has(&p, "sources")) {
		h2(&p, "sources", "Sources");
		table(&p, "sources", last_period_row, NULL, NULL);
		fputs("</section>\n", out);
	}
	if (has(&p, "presale") || has(&p, "forecast_month")) {
		h2(&p, "presale", "Pre-sale deals");
		if (has(&p, "presale"))
			table(&p, "presale", team_row, NULL, NULL);
		section_forecast_chart(&p);
		if (has(&p, "forecast_month"))
			table(&p, "forecast_month", NULL, NULL, NULL);
		fputs("</section>\n", out);
	}
	if (has(&p, "stale")) {
		h2(&p, "stale", "Stale deals");
		table(&p, "stale", NULL, NULL, NULL);
		fputs("</section>\n", out);
	}
	if (has(&p, "leads")) {
		h2(&p, "leads", "Leads");
		table(&p, "leads", team_row, NULL, NULL);
		fputs("</section>\n", out);
	}
	if (has(&p, "metrics")) {
		h2(&p, "metrics", "Metrics");
		table(&p, "metrics", team_row, NULL, NULL);
		fputs("</section>\n", out);
	}
	h2(&p, "alerts", "Alerts firing");
	if (opts->n_firing == 0)
		fprintf(out, "<p class=\"muted\">%s</p>\n", tr(&p, "no alerts firing"));
	else {
		fputs("<ul class=\"alerts\">", out);
		for (size_t i = 0; i < opts->n_firing && i < LIST_CAP; i++) {
			char since[32];

			se_time_format_utc(opts->firing[i].since, since, sizeof since);
			fputs("<li><b>", out);
			esc(out, opts->firing[i].rule);
			fputs("</b> ", out);
			esc(out, opts->firing[i].scope);
			fprintf(out, " · %s %s</li>", tr(&p, "since"), since);
		}
		fputs("</ul>\n", out);
	}
	fputs("</section>\n", out);
	fprintf(out, "<footer>%s %s</footer>\n<script>%s</script>\n</body></html>\n",
	        tr(&p, "Generated by salesengine"), SE_VERSION, script);
	return SE_OK;
}
