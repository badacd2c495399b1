/*
 * rules.c: construction, lookup and release of the funnel model.  Checks
 * that need the script's line numbers live in core/lua/; this file only
 * keeps the model consistent.
 */
#include "rules.h"
#include "colmap.h"
#include "import.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

se_rules *se_rules_new(void)
{
	se_rules *r = calloc(1, sizeof(se_rules));

	if (r != NULL) {
		r->shrinkage = -1;
		r->defaults.format = -1;
		r->defaults.language = -1;
	}
	return r;
}

void se_rules_defaults(const se_rules *r, se_script_defaults *out)
{
	*out = r->defaults;
}

int se_spend_add(se_spend **v, size_t *n, const char *source, int64_t month, int64_t kopecks)
{
	se_spend *ns;

	for (size_t i = 0; i < *n; i++)
		if ((*v)[i].month == month && strcmp((*v)[i].source, source) == 0) {
			(*v)[i].kopecks += kopecks;
			return SE_OK;
		}
	if ((ns = realloc(*v, (*n + 1) * sizeof *ns)) == NULL)
		return SE_ENOMEM;
	*v = ns;
	if ((ns[*n].source = strdup(source)) == NULL)
		return SE_ENOMEM;
	ns[*n].month = month;
	ns[*n].kopecks = kopecks;
	(*n)++;
	return SE_OK;
}

int se_rules_add_spend(se_rules *r, const char *source, int64_t month, int64_t kopecks)
{
	return se_spend_add(&r->spend, &r->n_spend, source, month, kopecks);
}

int se_parse_month(const char *s, int64_t *month)
{
	int y = 0, m = 0;

	/* Digits only: sscanf's %d would also take "+1" or " 1". */
	if (s == NULL || strlen(s) != 7 || s[4] != '-')
		return SE_EUSAGE;
	for (int i = 0; i < 7; i++) {
		if (i == 4)
			continue;
		if (!isdigit((unsigned char)s[i]))
			return SE_EUSAGE;
		if (i < 4)
			y = y * 10 + (s[i] - '0');
		else
			m = m * 10 + (s[i] - '0');
	}
	if (m < 1 || m > 12 || y < 1900)
		return SE_EUSAGE;
	*month = (int64_t)y * 12 + (m - 1);
	return SE_OK;
}

int64_t se_rules_sla(const se_rules *r)
{
	return r->sla > 0 ? r->sla : SE_DEFAULT_SLA;
}

double se_rules_stale_multiple(const se_rules *r)
{
	return r->stale_multiple > 0 ? r->stale_multiple : SE_DEFAULT_STALE_MULTIPLE;
}

double se_rules_shrinkage(const se_rules *r)
{
	return r->shrinkage >= 0 ? r->shrinkage : SE_DEFAULT_SHRINKAGE;
}

int64_t se_rules_horizon(const se_rules *r)
{
	return r->horizon > 0 ? r->horizon : SE_DEFAULT_HORIZON;
}

static void free_funnel(se_funnel *f)
{
	free(f->name);
	for (int i = 0; i < f->n_stages; i++)
		free(f->stages[i].name);
	for (int i = 0; i < f->n_pipelines; i++)
		free(f->pipelines[i]);
	free(f->pipelines);
	se_strmap_free(f->statuses);
	free(f->pairs);
}

void se_rules_free(se_rules *r)
{
	if (r == NULL)
		return;
	for (int i = 0; i < r->n_funnels; i++)
		free_funnel(&r->funnels[i]);
	for (int i = 0; i < r->n_metrics; i++) {
		free(r->metrics[i].name);
		free(r->metrics[i].title);
	}
	free(r->metrics);
	for (int i = 0; i < r->n_alerts; i++)
		se_alert_rule_clear(&r->alerts[i]);
	free(r->alerts);
	for (size_t i = 0; i < r->n_spend; i++)
		free(r->spend[i].source);
	free(r->spend);
	free(r->timezone);
	free(r->input_timezone);
	se_colmap_free(r->columns);
	free(r);
}

static void free_strings(char **v, int n)
{
	for (int i = 0; v != NULL && (n < 0 ? v[i] != NULL : i < n); i++)
		free(v[i]);
	free(v);
}

void se_alert_rule_clear(se_alert_rule *a)
{
	free(a->name);
	free(a->where);
	free(a->metric);
	free(a->from);
	free(a->to);
	free(a->severity);
	free_strings(a->label_keys, a->n_labels);
	free_strings(a->label_values, a->n_labels);
	free(a->message);
	free_strings(a->command, -1);
	memset(a, 0, sizeof *a);
}

int se_rules_add_metric(se_rules *r, const se_metric_decl *m)
{
	se_metric_decl *nm = realloc(r->metrics, (size_t)(r->n_metrics + 1) * sizeof *nm);

	if (nm == NULL)
		return SE_ENOMEM;
	r->metrics = nm;
	nm[r->n_metrics++] = *m;
	return SE_OK;
}

int se_rules_add_alert(se_rules *r, const se_alert_rule *a)
{
	se_alert_rule *na = realloc(r->alerts, (size_t)(r->n_alerts + 1) * sizeof *na);

	if (na == NULL)
		return SE_ENOMEM;
	r->alerts = na;
	na[r->n_alerts++] = *a;
	return SE_OK;
}

int se_rules_metric_index(const se_rules *r, const char *name)
{
	for (int i = 0; i < r->n_metrics; i++)
		if (strcmp(r->metrics[i].name, name) == 0)
			return i;
	return -1;
}

se_funnel *se_rules_add_funnel(se_rules *r, const char *name)
{
	se_funnel *f;

	if (r->n_funnels >= SE_MAX_FUNNELS)
		return NULL;
	f = &r->funnels[r->n_funnels];
	memset(f, 0, sizeof *f);
	f->name = strdup(name);
	f->statuses = se_strmap_new();
	if (f->name == NULL || f->statuses == NULL) {
		free_funnel(f);
		memset(f, 0, sizeof *f);
		return NULL;
	}
	r->n_funnels++;
	return f;
}

int se_funnel_stage_index(const se_funnel *f, const char *name)
{
	int64_t code;

	if (!se_strmap_get(f->statuses, name, strlen(name), &code))
		return -1;
	if (SE_STATUS_CLASS(code) != SE_CLASS_STAGE)
		return -1;
	return SE_STATUS_STAGE(code);
}

int se_funnel_add_pair(se_funnel *f, const se_pair *p)
{
	se_pair *np = realloc(f->pairs, (size_t)(f->n_pairs + 1) * sizeof *np);

	if (np == NULL)
		return SE_ENOMEM;
	f->pairs = np;
	f->pairs[f->n_pairs++] = *p;
	return SE_OK;
}

int se_funnel_add_adjacent_pairs(se_funnel *f)
{
	for (int s = 0; s + 1 < f->n_stages; s++) {
		se_pair p = { .from = s, .to = s + 1, .mode = SE_MODE_DEFAULT };
		int rc = se_funnel_add_pair(f, &p);

		if (rc != SE_OK)
			return rc;
	}
	return SE_OK;
}

const char *se_rules_input_timezone(const se_rules *r)
{
	return r->input_timezone;
}

const se_colmap *se_rules_columns(const se_rules *r)
{
	return r->columns;
}

const char *se_mode_name(se_mode m)
{
	return m == SE_MODE_TOUCHED ? "touched" : "reached";
}

const char *se_period_name(se_period p)
{
	switch (p) {
	case SE_PERIOD_DAY: return "day";
	case SE_PERIOD_WEEK: return "week";
	case SE_PERIOD_MONTH: return "month";
	default: return "total";
	}
}

/* "columns: deal_id = "Сделка", ts = "Дата" (DD.MM.YYYY HH:MM), pipeline := "Продажи"" */
static void describe_columns(const se_colmap *m, FILE *out)
{
	const char *sep = "";

	fprintf(out, "columns:");
	for (int f = 0; f < F_COUNT; f++) {
		const char *v;
		size_t len;

		if ((v = se_colmap_column(m, f)) != NULL)
			fprintf(out, "%s %s = \"%s\"", sep, se_rows_field_name(f), v);
		else if ((v = se_colmap_value(m, f, &len)) != NULL)
			fprintf(out, "%s %s := \"%s\"", sep, se_rows_field_name(f), v);
		else
			continue;
		if (f == F_TS && se_colmap_ts_format(m) != NULL)
			fprintf(out, " (%s)", se_colmap_ts_format(m));
		sep = ",";
	}
	fprintf(out, "\n");
}

void se_rules_describe(const se_rules *r, FILE *out)
{
	for (int i = 0; i < r->n_funnels; i++) {
		const se_funnel *f = &r->funnels[i];
		int presale = 0, extra = 0;

		for (int s = 0; s < f->n_stages; s++)
			presale += f->stages[s].presale;
		for (int p = 0; p < f->n_pairs; p++)
			extra += f->pairs[p].extra;
		fprintf(out, "funnel %s: %d stages (won: %s, %d pre-sale), %zu status names, %d pairs (%d extra)\n",
		        f->name, f->n_stages, f->stages[f->won].name, presale,
		        se_strmap_count(f->statuses), f->n_pairs, extra);
	}
	for (int i = 0; i < r->n_metrics; i++)
		fprintf(out, "metric %s\n", r->metrics[i].name);
	for (int i = 0; i < r->n_alerts; i++)
		fprintf(out, "rule %s (%s): scope %s, %s\n", r->alerts[i].name, r->alerts[i].where,
		        (const char *const[]){ "team", "manager", "source", "funnel" }[r->alerts[i].scope],
		        r->alerts[i].metric ? r->alerts[i].metric : "when function");
	fprintf(out, "diagnostics: SLA %lld min, stale over %g x the stage median, shrinkage k = %g, "
	        "%zu spend row%s\n", (long long)(se_rules_sla(r) / 60), se_rules_stale_multiple(r),
	        se_rules_shrinkage(r), r->n_spend, r->n_spend == 1 ? "" : "s");
	fprintf(out, "timezone %s, input timezone %s, mode %s, period %s\n",
	        r->timezone ? r->timezone : "UTC", r->input_timezone ? r->input_timezone : "UTC",
	        se_mode_name(r->mode), se_period_name(r->period));
	if (r->columns != NULL)
		describe_columns(r->columns, out);
}

int se_rules_alert_count(const se_rules *rules)
{
	return rules->n_alerts;
}
