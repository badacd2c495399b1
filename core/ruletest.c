/*
 * ruletest.c: one rule test's world: a temporary store, the rules under
 * test, a list of synthetic events released as the virtual clock moves.
 *
 * Events reach the store through the canonical CSV import (a file written
 * per evaluation with the events whose time has come), so a test exercises
 * exactly the path real data takes: dedup, time zones, the history cache.
 */
#include "ruletest.h"
#include "error.h"
#include "timeconv.h"
#include "vec.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct test_event {
	char *deal, *stage, *manager, *source, *pipeline;
	char amount[32];
	int64_t ts;
	int seq;            /* the event's place in the notation, for its id */
	int released;
} test_event;

struct se_ruletest {
	char dir[64];
	char db[96];
	char csv[96];
	se_script *sc;
	se_store *st;
	se_tz *zone;
	test_event *ev;
	size_t n_ev, cap_ev;
	int seq;
	se_report *rep;
	se_alert_run run;
	int have_run;
};

int se_ruletest_start(se_ruletest **out, const char *rules_path, const se_script_limits *limits,
                      se_error *err)
{
	se_ruletest *t = calloc(1, sizeof *t);
	const se_rules *r;
	int rc;

	*out = NULL;
	if (t == NULL)
		return se_error_set(err, SE_ENOMEM, "out of memory");
	snprintf(t->dir, sizeof t->dir, "/tmp/salesengine-test-XXXXXX");
	if (mkdtemp(t->dir) == NULL) {
		rc = se_error_set(err, SE_EIO, "cannot make a temporary directory: %s", strerror(errno));
		t->dir[0] = '\0';
		goto fail;
	}
	snprintf(t->db, sizeof t->db, "%s/test.db", t->dir);
	snprintf(t->csv, sizeof t->csv, "%s/events.csv", t->dir);
	if ((rc = se_script_load(&t->sc, rules_path, limits, err)) != SE_OK)
		goto fail;
	r = se_script_rules(t->sc);
	if ((rc = se_tz_open(&t->zone, r->timezone ? r->timezone : "UTC", err)) != SE_OK ||
	    (rc = se_store_open(&t->st, t->db, 0, err)) != SE_OK)
		goto fail;
	*out = t;
	return SE_OK;
fail:
	se_ruletest_free(t);
	return rc;
}

static void remove_file(const char *dir, const char *name)
{
	char path[160];

	snprintf(path, sizeof path, "%s/%s", dir, name);
	unlink(path);
}

void se_ruletest_free(se_ruletest *t)
{
	if (t == NULL)
		return;
	if (t->have_run)
		se_alerts_free(&t->run);
	se_report_free(t->rep);
	se_store_close(t->st);
	se_script_free(t->sc);
	se_tz_free(t->zone);
	for (size_t i = 0; i < t->n_ev; i++) {
		free(t->ev[i].deal);
		free(t->ev[i].stage);
		free(t->ev[i].manager);
		free(t->ev[i].source);
		free(t->ev[i].pipeline);
	}
	free(t->ev);
	if (t->dir[0] != '\0') {
		static const char *const files[] = { "test.db", "test.db-wal", "test.db-shm",
			                                 "test.db-journal", "events.csv" };

		for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
			remove_file(t->dir, files[i]);
		rmdir(t->dir);
	}
	free(t);
}

/* ---- the virtual clock ----------------------------------------------------------- */

/* "1d12h", "90m", "+2h", "0": seconds; -1 when it is not an offset. */
static int64_t parse_offset(const char *s)
{
	int64_t total = 0;
	int parts = 0;

	if (*s == '+')
		s++;
	if (strcmp(s, "0") == 0)
		return 0;
	while (*s) {
		int64_t n = 0, unit;
		int digits = 0;

		while (isdigit((unsigned char)*s) && digits < 9) {
			n = n * 10 + (*s++ - '0');
			digits++;
		}
		switch (*s++) {
		case 'w': unit = 7 * 86400; break;
		case 'd': unit = 86400; break;
		case 'h': unit = 3600; break;
		case 'm': unit = 60; break;
		case 's': unit = 1; break;
		default: return -1;
		}
		if (digits == 0)
			return -1;
		total += n * unit;
		parts++;
	}
	return parts > 0 ? total : -1;
}

int se_ruletest_time(const se_ruletest *t, const char *s, int64_t start, int64_t *out,
                     se_error *err)
{
	int64_t off = parse_offset(s);
	const char *why = NULL;

	if (off >= 0 && start >= 0) {
		*out = start + off;
		return SE_OK;
	}
	if (se_time_parse(s, strlen(s), t->zone, out, &why) != SE_OK || strlen(s) < 8)
		return se_error_set(err, SE_EINPUT, "time \"%s\" is neither like \"2026-11-02 09:00\" nor an "
		                    "offset like \"3d\" or \"1d12h\"%s%s", s, why ? ": " : "", why ? why : "");
	return SE_OK;
}

/* ---- the deal notation --------------------------------------------------------------- */

/* Next token of a line: a word, or "quoted words"; NULL at the end. */
static char *next_token(char **p)
{
	char *s = *p, *tok;

	while (*s == ' ' || *s == '\t')
		s++;
	if (*s == '\0')
		return NULL;
	if (*s == '"') {
		tok = ++s;
		while (*s && *s != '"')
			s++;
	} else {
		tok = s;
		while (*s && *s != ' ' && *s != '\t')
			s++;
	}
	if (*s)
		*s++ = '\0';
	*p = s;
	return tok;
}

static char *trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

static int add_event(se_ruletest *t, const char *deal, const char *manager, const char *source,
                     const char *amount, const char *pipeline, const char *stage, int64_t ts)
{
	test_event *e;

	if (SE_VEC_RESERVE(t->ev, t->cap_ev, t->n_ev + 1, 64) != SE_OK)
		return SE_ENOMEM;
	e = &t->ev[t->n_ev];
	memset(e, 0, sizeof *e);
	e->deal = strdup(deal);
	e->stage = strdup(stage);
	e->manager = strdup(manager);
	e->source = strdup(strcmp(source, "-") == 0 ? "" : source);
	e->pipeline = strdup(pipeline ? pipeline : "");
	snprintf(e->amount, sizeof e->amount, "%s", amount ? amount : "");
	e->ts = ts;
	e->seq = ++t->seq;
	t->n_ev++;
	if (!e->deal || !e->stage || !e->manager || !e->source || !e->pipeline)
		return SE_ENOMEM;
	return SE_OK;
}

/* "DEAL MANAGER SOURCE [AMOUNT] [@PIPELINE] | OFFSET STAGE | OFFSET STAGE ..." */
static int parse_deal_line(se_ruletest *t, char *line, int64_t start, int lineno, se_error *err)
{
	char *head = line, *bar = strchr(line, '|'), *p, *deal, *manager, *source, *amount, *extra;
	char *pipeline = NULL;
	int steps = 0;

	if (bar == NULL)
		return se_error_set(err, SE_EINPUT, "deals line %d: no '|': want \"DEAL MANAGER SOURCE "
		                    "[AMOUNT] | OFFSET STAGE | ...\"", lineno);
	*bar = '\0';
	p = head;
	deal = next_token(&p);
	manager = next_token(&p);
	source = next_token(&p);
	amount = next_token(&p);
	if (amount != NULL && amount[0] == '@') {
		pipeline = amount + 1;
		amount = NULL;
	}
	extra = next_token(&p);
	if (extra != NULL && extra[0] == '@' && pipeline == NULL) {
		pipeline = extra + 1;
		extra = next_token(&p);
	}
	if (source == NULL || extra != NULL)
		return se_error_set(err, SE_EINPUT, "deals line %d: want DEAL MANAGER SOURCE [AMOUNT] "
		                    "[@PIPELINE] before the first '|' (quote names with spaces; '-' for no "
		                    "source)", lineno);
	if (amount != NULL && strtod(amount, &extra) == 0 && extra == amount)
		return se_error_set(err, SE_EINPUT, "deals line %d: amount '%s' is not a number", lineno,
		                    amount);
	for (char *seg = bar + 1; seg != NULL; steps++) {
		char *next = strchr(seg, '|'), *q, *off, *stage;
		int64_t delta, ts;

		if (next != NULL)
			*next++ = '\0';
		q = seg;
		off = next_token(&q);
		stage = trim(q);
		if (stage[0] == '"' && strlen(stage) >= 2 && stage[strlen(stage) - 1] == '"') {
			stage[strlen(stage) - 1] = '\0'; /* quotes are optional here */
			stage++;
		}
		if (off == NULL || *stage == '\0')
			return se_error_set(err, SE_EINPUT, "deals line %d: step %d wants \"OFFSET STAGE\"",
			                    lineno, steps + 1);
		if ((delta = parse_offset(off)) < 0)
			return se_error_set(err, SE_EINPUT, "deals line %d: '%s' is not an offset like 0, 90m, "
			                    "2h, 3d, 1w or 1d12h", lineno, off);
		ts = start + delta;
		if (add_event(t, deal, manager, source, amount, pipeline, stage, ts) != SE_OK)
			return se_error_set(err, SE_ENOMEM, "out of memory");
		seg = next;
	}
	return SE_OK;
}

int se_ruletest_add_deals(se_ruletest *t, const char *text, int64_t start, se_error *err)
{
	char *copy = strdup(text), *save = NULL;
	int lineno = 0, rc = SE_OK;

	if (copy == NULL)
		return se_error_set(err, SE_ENOMEM, "out of memory");
	for (char *line = copy; line != NULL && rc == SE_OK;) {
		char *nl = strchr(line, '\n'), *l;

		if (nl != NULL)
			*nl = '\0';
		lineno++;
		l = trim(line);
		if (*l != '\0' && *l != '#')
			rc = parse_deal_line(t, l, start, lineno, err);
		line = nl ? nl + 1 : NULL;
	}
	(void)save;
	free(copy);
	return rc;
}

/* ---- evaluating ------------------------------------------------------------------------ */

static void csv_field(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

/* Writes the events due by `at` that are not in the store yet. */
static int write_due(se_ruletest *t, int64_t at, int *n, se_error *err)
{
	FILE *f = fopen(t->csv, "w");

	*n = 0;
	if (f == NULL)
		return se_error_set(err, SE_EIO, "%s: %s", t->csv, strerror(errno));
	fputs("event_id,deal_id,ts,stage,manager,source,amount,pipeline\n", f);
	for (size_t i = 0; i < t->n_ev; i++) {
		test_event *e = &t->ev[i];
		char ts[32];

		if (e->released || e->ts > at)
			continue;
		e->released = 1;
		se_time_format_utc(e->ts, ts, sizeof ts);
		fprintf(f, "e%d,", e->seq);
		csv_field(f, e->deal);
		fprintf(f, ",%s,", ts);
		csv_field(f, e->stage);
		fputc(',', f);
		csv_field(f, e->manager);
		fputc(',', f);
		csv_field(f, e->source);
		fprintf(f, ",%s,", e->amount);
		csv_field(f, e->pipeline);
		fputc('\n', f);
		(*n)++;
	}
	if (fclose(f) != 0)
		return se_error_set(err, SE_EIO, "%s: %s", t->csv, strerror(errno));
	return SE_OK;
}

static void note_reject(void *ud, const char *msg)
{
	se_error *first = ud;

	if (first->msg[0] == '\0')
		se_error_set(first, SE_EINPUT, "%s", msg);
}

int se_ruletest_eval(se_ruletest *t, int64_t at, se_error *err)
{
	se_report_opts ro;
	se_import_stats stats;
	se_error reject;
	int n, rc;

	if ((rc = write_due(t, at, &n, err)) != SE_OK)
		return rc;
	if (n > 0) {
		se_import_opts io;

		memset(&io, 0, sizeof io);
		io.format = SE_INPUT_CSV;
		io.delimiter = ',';
		io.on_reject = note_reject;
		io.ud = &reject;

		memset(&reject, 0, sizeof reject);
		if ((rc = se_import_file(t->st, t->csv, &io, &stats, err)) != SE_OK)
			return rc;
		if (stats.rejected > 0)
			return se_error_set(err, SE_EINPUT, "an event of the test was rejected: %s", reject.msg);
	}
	se_report_free(t->rep);
	t->rep = NULL;
	if (t->have_run)
		se_alerts_free(&t->run);
	t->have_run = 0;
	memset(&ro, 0, sizeof ro);
	ro.as_of = at;
	if ((rc = se_report_build(&t->rep, t->st, se_script_rules(t->sc), &ro, err)) != SE_OK)
		return rc;
	if ((rc = se_alerts_evaluate(t->sc, t->st, t->rep, &t->run, err)) != SE_OK)
		return rc;
	t->have_run = 1;
	return SE_OK;
}

const se_alert_run *se_ruletest_alerts(const se_ruletest *t)
{
	return t->have_run ? &t->run : NULL;
}

int se_ruletest_metric(se_ruletest *t, const char *metric, const char *funnel, const char *manager,
                       const char *source, double *value, se_error *err)
{
	if (t->rep == NULL)
		return se_error_set(err, SE_EUSAGE, "no evaluation yet");
	return se_script_metric_value(t->sc, t->rep, metric, funnel, manager, source, value, err);
}
