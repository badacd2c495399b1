/*
 * format/write_prometheus.c: blocks in the Prometheus text exposition
 * format (version 0.0.4), for node_exporter's textfile collector.
 *
 * Every number of a report becomes a gauge sample: the metric is named
 * salesengine_<report>_<JSON key> (percentages as ratios with _ratio, hours
 * as seconds with _seconds, money in currency units), and the row's text
 * becomes labels: funnel, manager or source (from the dimension and name
 * columns), step (a conversion's pair), and the report's own text columns
 * (period, stage, month, ...).  Samples of one metric are written together
 * under one HELP and TYPE line, as the format requires.  A cell without a
 * value has no sample (Prometheus reads absence, not NaN, as "unknown").
 *
 * Never: changes a value beyond those unit conversions.
 */
#include "block.h"

#include <math.h>
#include <stdlib.h>

static int numeric(se_ctype t)
{
	return t != SE_T_STR;
}

/* A label value with \, " and line feeds escaped. */
static void label_value(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', out);
		if (*s == '\n') {
			fputs("\\n", out);
			continue;
		}
		fputc(*s, out);
	}
	fputc('"', out);
}

/* The metric name of a column: salesengine_<report>_<key>[_ratio|_seconds]. */
static void metric_name(const se_report_desc *d, const se_col *c, char *buf, size_t size)
{
	size_t n = strlen(c->json);

	if (c->type == SE_T_HOURS && n > 2 && strcmp(c->json + n - 2, "_s") == 0)
		snprintf(buf, size, "salesengine_%s_%.*s_seconds", d->name, (int)(n - 2), c->json);
	else if (c->type == SE_T_PCT)
		snprintf(buf, size, "salesengine_%s_%s_ratio", d->name, c->json);
	else
		snprintf(buf, size, "salesengine_%s_%s", d->name, c->json);
	/* report and key names are [a-z0-9_] already; keep it so */
	for (char *p = buf; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
			*p = '_';
}

/* The value of a numeric cell; 0 when it has none. */
static int cell_value(const se_col *c, const se_cell *v, double *out)
{
	char *end;

	if (v->null)
		return 0;
	switch (c->type) {
	case SE_T_INT:
	case SE_T_BOOL:
	case SE_T_FLAG:
	case SE_T_HOURS:
		*out = (double)v->i;
		return 1;
	case SE_T_AMOUNT:
		*out = (double)v->i / 100.0;
		return 1;
	case SE_T_REAL:
		*out = se_real_rounded(v->d);
		return !isnan(v->d);
	case SE_T_PCT:
	case SE_T_METRIC:
		*out = v->d;
		return !isnan(v->d);
	case SE_T_NUM:
		*out = strtod(v->buf, &end);
		return end != v->buf && !isnan(*out);
	default:
		return 0;
	}
}

static void write_labels(const se_report *rep, const se_block *b, const se_cell *row, FILE *out)
{
	const char *dimension = NULL;
	int first = 1;

#define LABEL(k, v) \
	do { \
		fprintf(out, "%s%s=", first ? "{" : ",", k); \
		label_value(out, v); \
		first = 0; \
	} while (0)

	if (b->funnel != SE_NONE)
		LABEL("funnel", rep->rules->funnels[b->funnel].name);
	if (b->label != NULL)
		LABEL("step", b->label);
	if (b->desc->flag == SE_REPORT_METRICS)
		LABEL("metric", rep->rules->metrics[b->pair].name);
	for (int c = 0; c < b->ncols; c++) {
		const se_col *col = &b->cols[c];
		const char *v;

		/* a text cell without a value (the backtest's data_ends when the
		 * data reach past the horizon) is no label, as JSON's null is no text */
		if (col->type != SE_T_STR || col->json == NULL || row[c].null)
			continue;
		v = se_cell_str(&row[c]);
		if (strcmp(col->json, "dimension") == 0) {
			dimension = v;
			continue;
		}
		if (strcmp(col->json, "name") == 0) {
			if (dimension != NULL && (strcmp(dimension, "manager") == 0 || strcmp(dimension, "source") == 0))
				LABEL(dimension, v);
			continue;
		}
		/* the diagnostics' "step" and the source steps' "pair" name a step */
		LABEL(strcmp(col->json, "pair") == 0 ? "step" : col->json, v);
	}
	fputs(first ? "" : "}", out);
#undef LABEL
}

int se_write_prometheus(const se_report *rep, se_blocks *bs, FILE *out,
                        const se_write_opts *opts, se_error *err)
{
	(void)opts;
	(void)err;
	fputs("# HELP salesengine_report_as_of_timestamp_seconds The report's \"now\" (--as-of).\n"
	      "# TYPE salesengine_report_as_of_timestamp_seconds gauge\n", out);
	fprintf(out, "salesengine_report_as_of_timestamp_seconds %lld\n", (long long)rep->as_of);
	fputs("# HELP salesengine_store_deals Deals in the store.\n"
	      "# TYPE salesengine_store_deals gauge\n", out);
	fprintf(out, "salesengine_store_deals %lld\n", (long long)rep->deals);
	fputs("# HELP salesengine_store_events Events in the store.\n"
	      "# TYPE salesengine_store_events gauge\n", out);
	fprintf(out, "salesengine_store_events %lld\n", (long long)rep->events);
	/* blocks of one report are adjacent: [i, j) */
	for (size_t i = 0, j; i < bs->n; i = j) {
		const se_block *first = &bs->v[i];

		for (j = i + 1; j < bs->n && bs->v[j].desc == first->desc; j++)
			;
		for (int c = 0; c < first->ncols; c++) {
			const se_col *col = &first->cols[c];
			char name[160];

			if (!numeric(col->type) || col->json == NULL)
				continue;
			metric_name(first->desc, col, name, sizeof name);
			fprintf(out, "# HELP %s salesengine report %s, column %s.\n# TYPE %s gauge\n", name,
			        first->desc->name, col->csv, name);
			for (size_t k = i; k < j; k++) {
				const se_block *b = &bs->v[k];

				for (size_t r = 0; r < b->rows; r++) {
					const se_cell *row = &b->cells[r * (size_t)b->ncols];
					double v;

					if (!cell_value(col, &row[c], &v))
						continue;
					fputs(name, out);
					write_labels(rep, b, row, out);
					if (v == floor(v) && fabs(v) < 1e15)
						fprintf(out, " %.0f\n", v);
					else
						fprintf(out, " %.17g\n", v);
				}
			}
		}
	}
	return SE_OK;
}
