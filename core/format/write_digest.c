/*
 * format/write_digest.c: the morning digest, at most 40 lines of plain text
 * a head of sales reads on a phone or pastes into a chat: leads of the last
 * day and week against the ones before, unprocessed leads per manager,
 * growth points, weak sources, the most overdue deals, the forecast, and
 * alerts firing.
 *
 * Every number comes from a block the reports build (leads by day from the
 * caller's daily report, the rest from the report itself), so the digest
 * cannot disagree with the tables it sums up.  Lines are plain UTF-8
 * without tabs, box drawing or alignment by spaces: Telegram and mail
 * clients show them as written.
 *
 * Never: computes a metric; prints more than SE_DIGEST_LINES lines.
 */
#include "block.h"
#include "i18n.h"
#include "timeconv.h"

#include <stdarg.h>
#include <stdlib.h>

#define ITEMS 5          /* at most this many entries in a list section */

typedef struct digest {
	const se_report *rep;
	se_lang lang;
	se_digest_line *lines;
	int n;
	int printed;         /* lines as printed: a blank line opens each later section */
} digest;

static void add(digest *d, int heading, const char *fmt, ...) SE_PRINTF(3, 4);
static void add(digest *d, int heading, const char *fmt, ...)
{
	va_list ap;
	int cost = heading && d->n > 0 ? 2 : 1;

	if (d->printed + cost > SE_DIGEST_LINES)
		return;
	d->printed += cost;
	va_start(ap, fmt);
	vsnprintf(d->lines[d->n].text, sizeof d->lines[d->n].text, fmt, ap);
	va_end(ap);
	d->lines[d->n].heading = heading;
	d->n++;
}

static const char *tr(const digest *d, const char *s)
{
	return se_tr(d->lang, s);
}

/* The blocks of one report (descriptor name) of rep, every funnel the run
 * covers; through the descriptor's builder, as se_report_write builds. */
static int build(const se_report *rep, const char *name, se_blocks *bs)
{
	const se_report_desc *d = se_report_desc_named(name);

	if (d == NULL || !(rep->compute & d->flag))
		return 0;
	for (int f = 0; f < rep->rules->n_funnels; f++)
		if (rep->only_funnel == SE_NONE || f == rep->only_funnel)
			d->build(rep, d, bs, f);
	for (size_t i = 0; i < bs->n; i++)
		if (bs->v[i].failed)
			return SE_ENOMEM;
	return 0;
}

#define cell se_block_cell
#define str se_block_str

/* The label of the last period bucket a block has rows for. */
static const char *last_period(const se_block *b)
{
	return b->rows > 0 && se_block_col(b, "period") >= 0 ? str(b, b->rows - 1, "period") : NULL;
}

static int in_last_period(const se_block *b, size_t r, const char *last)
{
	return last == NULL || strcmp(str(b, r, "period"), last) == 0;
}

static char *pct(const digest *d, const se_cell *c, char *buf)
{
	if (c == NULL || c->null)
		return strcpy(buf, "-");
	return se_fmt_percent(d->lang, (double)se_pct_tenths(c) / 1000.0, buf, SE_FMT_SIZE);
}

static char *money(const digest *d, const se_cell *c, char *buf)
{
	if (c == NULL || c->null)
		return strcpy(buf, "-");
	return se_fmt_kopecks(d->lang, c->i, buf, SE_FMT_SIZE);
}

static char *count(const digest *d, int64_t n, char *buf)
{
	return se_fmt_int(d->lang, n, buf, SE_FMT_SIZE);
}

/* "+33.3%" / "-5.0%" / "" (no base) for now against before. */
static void change(const digest *d, int64_t now, int64_t before, char *buf)
{
	char p[SE_FMT_SIZE];

	if (before <= 0) {
		buf[0] = '\0';
		return;
	}
	se_fmt_percent(d->lang, (double)(now - before) / (double)before, p, sizeof p);
	snprintf(buf, SE_FMT_SIZE + 8, ", %s%s", now >= before ? "+" : "", p);
}

/* Leads of the team in the days [from, to] before as-of's local day
 * (1 = yesterday), summed over funnels, from the daily report's blocks. */
static int64_t leads_days(const se_report *daily, const se_blocks *bs, int from, int to)
{
	int64_t today = se_report_bucket(daily, daily->as_of), sum = 0;

	for (int k = from; k <= to; k++) {
		char label[32];

		se_report_bucket_label(daily, today - k, label, sizeof label);
		for (size_t i = 0; i < bs->n; i++)
			for (size_t r = 0; r < bs->v[i].rows; r++)
				if (strcmp(str(&bs->v[i], r, "dimension"), "team") == 0 &&
				    strcmp(str(&bs->v[i], r, "period"), label) == 0)
					sum += cell(&bs->v[i], r, "leads")->i;
	}
	return sum;
}

static int section_leads(digest *d, const se_report *daily)
{
	se_blocks bs = { 0 };
	char a[SE_FMT_SIZE], b[SE_FMT_SIZE], c1[SE_FMT_SIZE], c2[SE_FMT_SIZE], ch1[SE_FMT_SIZE + 8],
	     ch2[SE_FMT_SIZE + 8];
	int64_t day, prev_day, week, prev_week;
	int rc;

	if (daily == NULL || daily->period != SE_PERIOD_DAY)
		return 0;
	if ((rc = build(daily, "leads", &bs)) != 0) {
		se_blocks_free(&bs);
		return rc;
	}
	day = leads_days(daily, &bs, 1, 1);
	prev_day = leads_days(daily, &bs, 2, 2);
	week = leads_days(daily, &bs, 1, 7);
	prev_week = leads_days(daily, &bs, 8, 14);
	se_blocks_free(&bs);
	change(d, day, prev_day, ch1);
	change(d, week, prev_week, ch2);
	add(d, 1, "%s", tr(d, "Leads"));
	add(d, 0, "%s: %s (%s %s%s)", tr(d, "yesterday"), count(d, day, a), tr(d, "the day before"),
	    count(d, prev_day, b), ch1);
	add(d, 0, "%s: %s (%s %s%s)", tr(d, "last 7 days"), count(d, week, c1), tr(d, "the 7 before"),
	    count(d, prev_week, c2), ch2);
	return 0;
}

/* Managers with unprocessed leads in the last period, most first. */
typedef struct named {
	const char *name;
	int64_t n;
} named;

static int by_count_desc(const void *a, const void *b)
{
	const named *x = a, *y = b;

	return x->n != y->n ? (x->n < y->n ? 1 : -1) : strcmp(x->name, y->name);
}

static int section_unprocessed(digest *d)
{
	se_blocks bs = { 0 };
	named v[ITEMS * 40];
	size_t n = 0;
	int64_t total = 0;
	char line[400] = "", num[SE_FMT_SIZE];
	int rc;

	if ((rc = build(d->rep, "handling", &bs)) != 0 || bs.n == 0) {
		se_blocks_free(&bs);
		return rc;
	}
	for (size_t i = 0; i < bs.n; i++) {
		const se_block *b = &bs.v[i];
		const char *last = last_period(b);

		for (size_t r = 0; r < b->rows && n < sizeof v / sizeof v[0]; r++) {
			int64_t u = cell(b, r, "unprocessed")->i;

			if (!in_last_period(b, r, last) || u <= 0)
				continue;
			if (strcmp(str(b, r, "dimension"), "team") == 0)
				total += u;
			else if (strcmp(str(b, r, "dimension"), "manager") == 0)
				v[n++] = (named){ str(b, r, "name"), u };
		}
	}
	qsort(v, n, sizeof v[0], by_count_desc);
	add(d, 1, "%s: %s", tr(d, "Unprocessed leads"), count(d, total, num));
	for (size_t i = 0; i < n && i < 8; i++) {
		size_t len = strlen(line);

		snprintf(line + len, sizeof line - len, "%s%s %s", i ? ", " : "", v[i].name,
		         count(d, v[i].n, num));
	}
	if (n > 8) {
		size_t len = strlen(line);

		snprintf(line + len, sizeof line - len, ", ... (+%zu)", n - 8);
	}
	if (n > 0)
		add(d, 0, "%s", line);
	se_blocks_free(&bs);
	return 0;
}

static int section_growth(digest *d)
{
	se_blocks bs = { 0 };
	int shown = 0, rc;

	if ((rc = build(d->rep, "diagnostics", &bs)) != 0 || bs.n == 0) {
		se_blocks_free(&bs);
		return rc;
	}
	add(d, 1, "%s", tr(d, "Growth points"));
	for (size_t i = 0; i < bs.n; i++) {
		const se_block *b = &bs.v[i];

		for (size_t r = 0; r < b->rows; r++) {
			char rate[SE_FMT_SIZE], others[SE_FMT_SIZE], missed[SE_FMT_SIZE];

			if (cell(b, r, "growth_point")->i == 0)
				continue;
			if (shown++ >= 6)
				continue;
			se_fmt_fixed(d->lang, cell(b, r, "missed")->d, 1, missed, sizeof missed);
			add(d, 0, "%s: %s, %s %s %s %s (%s %s)", str(b, r, "name"), str(b, r, "step"),
			    pct(d, cell(b, r, "conversion_pct"), rate), tr(d, "vs"),
			    pct(d, cell(b, r, "others_pct"), others), tr(d, "for the others"),
			    tr(d, "missed deals"), missed);
		}
	}
	if (shown == 0)
		add(d, 0, "%s", tr(d, "none"));
	else if (shown > 6)
		add(d, 0, tr(d, "%d more: see the CSV report"), shown - 6);
	se_blocks_free(&bs);
	return 0;
}

static int section_weak(digest *d)
{
	se_blocks bs = { 0 };
	int shown = 0, rc;
	char line[400] = "";

	if ((rc = build(d->rep, "channels", &bs)) != 0 || bs.n == 0) {
		se_blocks_free(&bs);
		return rc;
	}
	for (size_t i = 0; i < bs.n; i++) {
		const se_block *b = &bs.v[i];
		const char *last = last_period(b);

		for (size_t r = 0; r < b->rows; r++) {
			char romi[SE_FMT_SIZE];
			size_t len = strlen(line);

			if (!in_last_period(b, r, last) || cell(b, r, "weak")->i == 0)
				continue;
			if (shown++ >= 6)
				continue;
			snprintf(line + len, sizeof line - len, "%s%s (ROMI %s)", len ? ", " : "", str(b, r, "name"),
			         pct(d, cell(b, r, "romi_pct"), romi));
		}
	}
	add(d, 1, "%s: %s", tr(d, "Weak sources"), shown ? line : tr(d, "none"));
	se_blocks_free(&bs);
	return 0;
}

static int section_stale(digest *d)
{
	se_blocks bs = { 0 };
	int shown = 0, total = 0, rc;

	if ((rc = build(d->rep, "stale", &bs)) != 0 || bs.n == 0) {
		se_blocks_free(&bs);
		return rc;
	}
	for (size_t i = 0; i < bs.n; i++)
		total += (int)bs.v[i].rows;
	add(d, 1, "%s: %d, %s", tr(d, "Stale deals"), total, tr(d, "most overdue first"));
	/* each block is most overdue first; with one funnel the first rows are the answer */
	for (size_t i = 0; i < bs.n; i++) {
		const se_block *b = &bs.v[i];

		for (size_t r = 0; r < b->rows && shown < ITEMS; r++, shown++) {
			char days[SE_FMT_SIZE], ratio[SE_FMT_SIZE];

			se_fmt_fixed(d->lang, (double)cell(b, r, "age_h")->i / 86400.0, 0, days, sizeof days);
			se_fmt_fixed(d->lang, cell(b, r, "ratio")->d, 1, ratio, sizeof ratio);
			add(d, 0, "%s, %s, %s: %s %s (%s x %s)", str(b, r, "deal"), str(b, r, "manager"),
			    str(b, r, "stage"), days, tr(d, "days"), ratio, tr(d, "the median"));
		}
	}
	se_blocks_free(&bs);
	return 0;
}

static int section_forecast(digest *d)
{
	se_blocks bs = { 0 }, months = { 0 };
	int rc;

	if ((rc = build(d->rep, "forecast", &bs)) != 0 || bs.n == 0 ||
	    (rc = build(d->rep, "forecast_month", &months)) != 0) {
		se_blocks_free(&bs);
		se_blocks_free(&months);
		return rc;
	}
	int before;

	add(d, 1, "%s", tr(d, "Forecast"));
	before = d->n;
	for (size_t i = 0; i < bs.n; i++) {
		const se_block *b = &bs.v[i];

		for (size_t r = 0; r < b->rows; r++) {
			char n[SE_FMT_SIZE], amount[SE_FMT_SIZE], fs[SE_FMT_SIZE], fw[SE_FMT_SIZE];

			if (strcmp(str(b, r, "stage"), "*") != 0 || strcmp(str(b, r, "dimension"), "team") != 0)
				continue;
			add(d, 0, "%s%s%s %s, %s %s; %s %s, %s %s",
			    bs.n > 1 ? d->rep->rules->funnels[b->funnel].name : "", bs.n > 1 ? ": " : "",
			    count(d, cell(b, r, "deals")->i, n), tr(d, "open pre-sale deals"), tr(d, "amount"),
			    money(d, cell(b, r, "amount"), amount), tr(d, "by stage probability"),
			    money(d, cell(b, r, "forecast_stage"), fs), tr(d, "by win rate"),
			    money(d, cell(b, r, "forecast_shrunk"), fw));
			/* The time-aware forecast: what the open deals are expected
			 * to win within the horizon, given how long each has been
			 * at its stage (docs/METRICS.md). */
			add(d, 0, "%s %lld %s: %s", tr(d, "won within"), (long long)(d->rep->horizon / 86400),
			    tr(d, "days, by time at the stage"), money(d, cell(b, r, "forecast_time"), fw));
		}
	}
	for (size_t i = 0; i < months.n; i++) {
		const se_block *b = &months.v[i];
		char line[400] = "";

		for (size_t r = 0; r < b->rows && r < 4; r++) {
			char fw[SE_FMT_SIZE];
			size_t len = strlen(line);

			snprintf(line + len, sizeof line - len, "%s%s %s", r ? ", " : "", str(b, r, "month"),
			         money(d, cell(b, r, "forecast_shrunk"), fw));
		}
		if (line[0])
			add(d, 0, "%s: %s", tr(d, "by close month"), line);
	}
	if (d->n == before)
		add(d, 0, "%s", tr(d, "none"));
	se_blocks_free(&bs);
	se_blocks_free(&months);
	return 0;
}

static void section_alerts(digest *d, const se_write_opts *o)
{
	add(d, 1, "%s: %zu", tr(d, "Alerts firing"), o->n_firing);
	for (size_t i = 0; i < o->n_firing && i < ITEMS; i++) {
		char since[32];

		se_time_format_utc(o->firing[i].since, since, sizeof since);
		add(d, 0, "%s (%s) %s %.10s", o->firing[i].rule, o->firing[i].scope, tr(d, "since"), since);
	}
	if (o->n_firing > ITEMS)
		add(d, 0, tr(d, "%d more: see the CSV report"), (int)(o->n_firing - ITEMS));
}

int se_digest_lines(const se_report *rep, const se_write_opts *opts, se_digest_line *lines, int *n)
{
	digest d = { rep, opts->language == SE_LANG_RU ? SE_LANG_RU : SE_LANG_EN, lines, 0, 0 };
	char asof[32];
	int rc = 0;

	se_time_format_utc(rep->as_of, asof, sizeof asof);
	add(&d, 1, "%s, %s %s (UTC), %s", tr(&d, "Digest"), tr(&d, "as of"), asof, se_tz_name(rep->tz));
	/* the most a section adds, blank line included: leads 4, unprocessed 3,
	 * growth points 9, weak sources 2, stale deals 7, forecast 4 (one
	 * funnel), alerts 8: 38 with the title line.  add() stops at 40, so
	 * several funnels lose the alerts' tail rather than the limit. */
	if (rc == 0)
		rc = section_leads(&d, opts->daily);
	if (rc == 0)
		rc = section_unprocessed(&d);
	if (rc == 0)
		rc = section_growth(&d);
	if (rc == 0)
		rc = section_weak(&d);
	if (rc == 0)
		rc = section_stale(&d);
	if (rc == 0)
		rc = section_forecast(&d);
	if (rc == 0)
		section_alerts(&d, opts);
	*n = d.n;
	return rc;
}

int se_write_digest(const se_report *rep, FILE *out, const se_write_opts *opts, se_error *err)
{
	se_digest_line lines[SE_DIGEST_LINES];
	int n = 0;

	if (se_digest_lines(rep, opts, lines, &n) != 0)
		return se_error_set(err, SE_ENOMEM, "out of memory writing the digest");
	for (int i = 0; i < n; i++)
		fprintf(out, "%s%s\n", i > 0 && lines[i].heading ? "\n" : "", lines[i].text);
	return SE_OK;
}
