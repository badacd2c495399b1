/*
 * cli_test.c: the command `salesengine test FILE...`: runs rule tests and
 * prints what failed.
 *
 * Linked into the executable only, not into the core library, for two
 * reasons: it prints (the library never does), and it sits above both
 * halves of a rule test: the Lua host reads the file into plain C
 * (testfile.h) and ruletest.h runs each test through the store, the import
 * and the alerts.  Kept here, neither half calls the other, so no arrow
 * points back into the Lua host.
 */
#include "cli_test.h"
#include "ruletest.h"
#include "testfile.h"
#include "timeconv.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct test_run {
	int passed, failed;
	se_script_limits limits;
} test_run;

/* print() in a test file or in the rules under test: stderr, beside the
 * diagnostics; stdout holds the results. */
static void print_script_output(void *ud, const char *text, size_t len)
{
	(void)ud;
	fwrite(text, 1, len, stderr);
}

/* Is alert a in the state a list of that name checks? */
static int in_state(const se_alert *a, int list)
{
	if (list == SE_TEST_FAILED)
		return a->status == SE_RULE_FAILED;
	if (a->status == SE_RULE_FAILED)
		return 0;
	if (list == SE_TEST_RESOLVED)
		return a->announce == SE_ANNOUNCE_RESOLVED;
	if (list == SE_TEST_FIRED)
		return a->announce == SE_ANNOUNCE_FIRING;
	if (list == SE_TEST_REPEATED)
		return a->announce == SE_ANNOUNCE_REPEAT;
	return strcmp(a->state, se_test_list_names[list]) == 0;
}

static int close_enough(double got, double want, double tolerance)
{
	return fabs(got - want) <= tolerance * (fabs(want) > 1 ? fabs(want) : 1);
}

static int expectation_matches(const se_test_alert *x, const se_alert *a)
{
	for (size_t i = 0; i < x->n; i++) {
		const se_test_field *f = &x->f[i];

		if (f->kind == SE_TEST_VALUE) {
			if (!f->numeric || !close_enough(a->value, f->number, x->tolerance))
				return 0;
		} else if (f->kind == SE_TEST_LABEL) {
			const char *got = se_alert_label(a, f->key);

			if (f->want == NULL || got == NULL || strcmp(f->want, got) != 0)
				return 0;
		}
	}
	return 1;
}

static void print_expectation(const se_test_alert *x)
{
	printf("    {");
	for (size_t i = 0; i < x->n; i++)
		printf("%s%s=%s", i == 0 ? "" : ", ", x->f[i].key, x->f[i].shown);
	printf("}\n");
}

static void print_alert(const se_alert *a)
{
	printf("    {rule=%s", a->rule ? a->rule->name : "(rules file)");
	if (a->funnel)
		printf(", funnel=%s", a->funnel);
	if (a->manager)
		printf(", manager=%s", a->manager);
	if (a->source)
		printf(", source=%s", a->source);
	for (int i = 0; a->rule && i < a->rule->n_labels; i++)
		printf(", %s=%s", a->rule->label_keys[i], a->rule->label_values[i]);
	if (!isnan(a->value))
		printf(", value=%.6g", a->value);
	printf("}%s%s\n", a->status == SE_RULE_FAILED ? ": " : "",
	       a->status == SE_RULE_FAILED ? a->message : "");
}

/* Compares one state list with the alerts; prints the diff and returns 0
 * when they differ.  -1: out of memory. */
static int check_state_list(const se_test_step *st, int list, const se_alert_run *run,
                            const char *header)
{
	size_t n = st->n_list[list];
	unsigned char *used = calloc(run->n + 1, 1);
	int ok = 1, n_actual = 0;

	if (used == NULL)
		return -1;
	for (size_t i = 0; i < run->n; i++)
		n_actual += in_state(&run->v[i], list);
	for (size_t i = 0; i < n; i++) {
		int found = 0;

		for (size_t j = 0; j < run->n && !found; j++)
			if (!used[j] && in_state(&run->v[j], list) &&
			    expectation_matches(&st->list[list][i], &run->v[j]))
				used[j] = found = 1;
		ok = ok && found;
	}
	if (!ok || n != (size_t)n_actual) {
		ok = 0;
		printf("%s: %s\n  expected:\n", header, se_test_list_names[list]);
		if (n == 0)
			printf("    (none)\n");
		for (size_t i = 0; i < n; i++)
			print_expectation(&st->list[list][i]);
		printf("  got:\n");
		if (n_actual == 0)
			printf("    (none)\n");
		for (size_t j = 0; j < run->n; j++)
			if (in_state(&run->v[j], list))
				print_alert(&run->v[j]);
	}
	free(used);
	return ok;
}

static int check_metrics(const se_test_step *st, se_ruletest *t, const char *header)
{
	int ok = 1;

	for (size_t i = 0; i < st->n_metrics; i++) {
		const se_test_metric *m = &st->metrics[i];
		double got;
		se_error e;

		if (se_ruletest_metric(t, m->name, m->funnel, m->manager, m->source, &got, &e) != SE_OK) {
			printf("%s: metric %s: %s\n", header, m->name, e.msg);
			ok = 0;
		} else if (m->want_nil) {
			if (!isnan(got)) {
				printf("%s: metric %s%s%s%s%s: expected nil, got %.6g\n", header, m->name,
				       m->manager ? " manager=" : "", m->manager ? m->manager : "",
				       m->source ? " source=" : "", m->source ? m->source : "", got);
				ok = 0;
			}
		} else if (isnan(got) || !close_enough(got, m->want, m->tolerance)) {
			printf("%s: metric %s%s%s%s%s: expected %.6g, got %.6g\n", header, m->name,
			       m->manager ? " manager=" : "", m->manager ? m->manager : "",
			       m->source ? " source=" : "", m->source ? m->source : "", m->want, got);
			ok = 0;
		}
	}
	return ok;
}

/* 1: as expected, 0: a difference (printed), <0: the file must stop (err). */
static int run_step(const se_test *test, const se_test_step *st, se_ruletest *t, int64_t start,
                    const char *header_base, se_error *err)
{
	char header[600], when[32];
	int64_t t_at;
	se_error e;
	int ok = 1;

	if (se_ruletest_time(t, st->at, start, &t_at, &e) != SE_OK)
		return se_error_set(err, SE_ESCRIPT, "%stest: %s", test->where_full, e.msg);
	se_time_format_utc(t_at, when, sizeof when);
	snprintf(header, sizeof header, "%s at %s (%s)", header_base, st->at, when);
	if (se_ruletest_eval(t, t_at, &e) != SE_OK) {
		printf("%s: %s\n", header, e.msg);
		return 0;
	}
	for (int s = 0; s < SE_TEST_N_LISTS; s++) {
		int r;

		if (!st->has_list[s])
			continue;
		if ((r = check_state_list(st, s, se_ruletest_alerts(t), header)) < 0)
			return se_error_set(err, SE_ENOMEM, "%sout of memory", test->where_full);
		ok &= r;
	}
	ok &= check_metrics(st, t, header);
	return ok;
}

/* SE_OK when the test ran (passed or not); an error stops the file. */
static int run_test(const se_test *test, const se_script_limits *limits, test_run *tr,
                    se_error *err)
{
	char header[512];
	se_ruletest *t = NULL;
	int64_t t0;
	se_error e;
	int ok = 1, rc = SE_OK;

	snprintf(header, sizeof header, "FAIL %stest '%s'", test->where, test->name);
	if (se_ruletest_start(&t, test->rules, limits, &e) != SE_OK ||
	    se_ruletest_time(t, test->start, -1, &t0, &e) != SE_OK ||
	    (test->deals != NULL && se_ruletest_add_deals(t, test->deals, t0, &e) != SE_OK)) {
		printf("%s: %s\n", header, e.msg);
		tr->failed++;
		se_ruletest_free(t);
		return SE_OK;
	}
	for (size_t i = 0; i < test->n_steps; i++) {
		int r = run_step(test, &test->steps[i], t, t0, header, err);

		if (r < 0) {
			rc = r;
			goto out;
		}
		ok &= r;
	}
	if (ok) {
		tr->passed++;
		printf("ok   %s\n", test->name);
	} else {
		tr->failed++;
	}
out:
	se_ruletest_free(t);
	return rc;
}

static void run_test_file(const char *path, test_run *tr)
{
	se_test_file *tf = NULL;
	se_error err;
	int rc = se_script_read_tests(path, &tr->limits, &tf, &err);

	/* The tests read before an error ran before it, as the file says. */
	for (size_t i = 0; tf != NULL && i < tf->n && tf->tests[i].complete; i++) {
		se_error run_err;

		if (run_test(&tf->tests[i], &tr->limits, tr, &run_err) != SE_OK) {
			err = run_err;
			rc = run_err.code;
			break;
		}
	}
	if (rc != SE_OK) {
		fprintf(stderr, "salesengine: %s\n", err.msg);
		tr->failed++;
	}
	se_test_file_free(tf);
}

int se_cli_test_main(int argc, char **argv)
{
	test_run tr;

	memset(&tr, 0, sizeof tr);
	tr.limits.on_print = print_script_output;
	if (argc < 2) {
		fprintf(stderr, "Usage: salesengine test RULES_TEST.lua...\n");
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			printf("Usage: salesengine test RULES_TEST.lua...\n"
			       "Runs rule tests: synthetic deals on a virtual clock, alerts expected at given\n"
			       "times (docs/SCRIPTING.md, \"Rule tests\").  Exit status 0 when all pass.\n");
			return 0;
		}
	}
	for (int i = 1; i < argc; i++)
		run_test_file(argv[i], &tr);
	printf("%d passed, %d failed\n", tr.passed, tr.failed);
	fflush(stdout);
	return tr.failed > 0 ? 1 : 0;
}
