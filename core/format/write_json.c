/*
 * format/write_json.c: blocks as one JSON document: the run's settings, a
 * summary, then per funnel one array per asked report (blocks with a
 * json_head hook become objects with their own "rows"), and the reports of
 * the whole store (unknown statuses) at the end.
 *
 * Never: rounds a number differently from CSV, beyond whole seconds for
 * durations and ratios as numbers (0.25, not "25.0").
 */
#include "block.h"
#include "jsonout.h"
#include "timeconv.h"

#include <math.h>

static void json_cell(FILE *out, const se_col *c, const se_cell *v)
{
	if (v->null && (c->type == SE_T_AMOUNT || c->type == SE_T_INT || c->type == SE_T_FLAG || c->type == SE_T_STR)) {
		fputs("null", out);
		return;
	}
	switch (c->type) {
	case SE_T_STR:
		se_json_string(out, se_cell_str(v));
		return;
	case SE_T_INT:
		fprintf(out, "%lld", (long long)v->i);
		return;
	case SE_T_AMOUNT: {
		char buf[64];

		se_format_kopecks(v->i, buf, sizeof buf);
		fputs(buf, out);
		return;
	}
	case SE_T_PCT:
		if (v->null)
			fputs("null", out);
		else
			se_json_number(out, v->d);
		return;
	case SE_T_BOOL:
	case SE_T_FLAG:
		fputs(v->i ? "true" : "false", out);
		return;
	case SE_T_HOURS:
		if (v->null)
			fputs("null", out);
		else
			fprintf(out, "%lld", (long long)v->i);
		return;
	case SE_T_REAL:
		if (v->null)
			fputs("null", out);
		else
			se_json_number(out, se_real_rounded(v->d));
		return;
	case SE_T_NUM:
		fputs(v->null ? "null" : se_cell_str(v), out);
		return;
	case SE_T_METRIC:
		if (v->null || !isfinite(v->d))
			fputs("null", out);
		else
			se_json_number(out, v->d);
		return;
	}
}

static void json_rows(const se_block *b, FILE *out, int *first, const char *indent)
{
	for (size_t r = 0; r < b->rows; r++) {
		const se_cell *row = &b->cells[r * (size_t)b->ncols];
		int firstcol = 1;

		fprintf(out, "%s\n%s{", *first ? "" : ",", indent);
		*first = 0;
		for (int c = 0; c < b->ncols; c++) {
			if (b->cols[c].json == NULL)
				continue;
			fprintf(out, "%s\"%s\": ", firstcol ? "" : ", ", b->cols[c].json);
			firstcol = 0;
			json_cell(out, &b->cols[c], &row[c]);
		}
		fputc('}', out);
	}
}

/* One report's array for funnel f. */
static void json_report(const se_report *rep, se_blocks *bs, int f, const se_report_desc *d, FILE *out)
{
	int first = 1;

	fprintf(out, ",\n      \"%s\": [", d->name);
	if (se_blocks_select(bs, d, f) != SE_OK)
		return; /* output.c reports it */
	for (size_t i = 0; i < bs->n; i++) {
		const se_block *b = &bs->v[i];
		int firstrow = 1;

		if (b->desc != d || b->funnel != f)
			continue;
		if (d->json_head == NULL) {
			json_rows(b, out, &first, "        ");
			continue;
		}
		fprintf(out, "%s\n        {", first ? "" : ",");
		first = 0;
		d->json_head(rep, b, out);
		fputs(", \"rows\": [", out);
		json_rows(b, out, &firstrow, "          ");
		fputs(firstrow ? "]}" : "\n        ]}", out);
	}
	fputs(first ? "]" : "\n      ]", out);
}

static void json_opt_string(FILE *out, const char *s)
{
	if (s == NULL)
		fputs("null", out);
	else
		se_json_string(out, s);
}

int se_write_json(const se_report *rep, se_blocks *bs, FILE *out, const se_write_opts *opts,
                  se_error *err)
{
	char asof[32];
	int first = 1;

	(void)opts;
	(void)err;
	se_time_format_utc(rep->as_of, asof, sizeof asof);
	fprintf(out, "{\n  \"salesengine\": \"%s\",\n  \"as_of\": \"%s\",\n  \"timezone\": ", SE_VERSION, asof);
	se_json_string(out, se_tz_name(rep->tz));
	fprintf(out, ",\n  \"period\": \"%s\",\n  \"from\": ", se_period_name(rep->period));
	json_opt_string(out, rep->from);
	fputs(", \"to\": ", out);
	json_opt_string(out, rep->to);
	fprintf(out, ",\n  \"summary\": {\"deals\": %lld, \"events\": %lld, \"deals_unmatched\": %lld, "
	        "\"unknown_events\": %lld},\n  \"funnels\": [",
	        (long long)rep->deals, (long long)rep->events, (long long)rep->deals_unmatched,
	        (long long)rep->unknown_events);
	for (int f = 0; f < rep->rules->n_funnels; f++) {
		const se_funnel *fn = &rep->rules->funnels[f];

		if (rep->only_funnel != SE_NONE && f != rep->only_funnel)
			continue;
		fprintf(out, "%s\n    {\n      \"name\": ", first ? "" : ",");
		first = 0;
		se_json_string(out, fn->name);
		fputs(",\n      \"stages\": [", out);
		for (int s = 0; s < fn->n_stages; s++) {
			if (s)
				fputs(", ", out);
			se_json_string(out, fn->stages[s].name);
		}
		fputc(']', out);
		for (size_t k = 0; k < se_n_report_descs; k++) {
			const se_report_desc *d = &se_report_descs[k];

			if (d->per_funnel && (rep->reports & d->flag) && (d->json_present == NULL || d->json_present(rep)))
				json_report(rep, bs, f, d, out);
		}
		fputs("\n    }", out);
	}
	fputs(first ? "]" : "\n  ]", out);
	/* reports of the whole store: always present, as an array of rows */
	for (size_t k = 0; k < se_n_report_descs; k++) {
		const se_report_desc *d = &se_report_descs[k];

		if (d->per_funnel)
			continue;
		fprintf(out, ",\n  \"%s\": [", d->name);
		first = 1;
		if (se_blocks_select(bs, d, SE_NONE) != SE_OK)
			break; /* output.c reports it */
		for (size_t i = 0; i < bs->n; i++)
			if (bs->v[i].desc == d)
				json_rows(&bs->v[i], out, &first, "    ");
		fputs(first ? "]" : "\n  ]", out);
	}
	fputs("\n}\n", out);
	return SE_OK;
}
