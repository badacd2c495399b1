/*
 * test_rules.c: the funnel model as plain C data (core/rules.h): funnels
 * and their status names, adjacent and extra pairs, metrics and alert
 * rules owned once added, spend rows that add up per source and month,
 * month parsing, the effective settings and what --check prints.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int setup(void **state)
{
	*state = se_rules_new();
	return *state == NULL ? -1 : 0;
}

static int teardown(void **state)
{
	se_rules_free(*state);
	return 0;
}

/* A funnel "sales": Lead, Quote (pre-sale), Won; "New lead" an alias of
 * Lead; Lost and Spam not stages. */
static se_funnel *sales_funnel(se_rules *r)
{
	static const char *const names[] = { "Lead", "Quote", "Won" };
	se_funnel *f = se_rules_add_funnel(r, "sales");

	assert_non_null(f);
	for (int i = 0; i < 3; i++) {
		f->stages[i].name = strdup(names[i]);
		f->stages[i].probability = -1;
		assert_int_equal(se_strmap_put(f->statuses, names[i], strlen(names[i]),
		                               SE_STATUS_CODE(SE_CLASS_STAGE, i)), SE_OK);
	}
	f->n_stages = 3;
	f->won = 2;
	f->stages[1].presale = 1;
	assert_int_equal(se_strmap_put(f->statuses, "New lead", 8, SE_STATUS_CODE(SE_CLASS_STAGE, 0)), SE_OK);
	assert_int_equal(se_strmap_put(f->statuses, "Lost", 4, SE_STATUS_CODE(SE_CLASS_LOST, 0)), SE_OK);
	assert_int_equal(se_strmap_put(f->statuses, "Spam", 4, SE_STATUS_CODE(SE_CLASS_NONTARGET, 0)), SE_OK);
	return f;
}

static void test_status_codes_pack_class_and_stage(void **state)
{
	int64_t code = SE_STATUS_CODE(SE_CLASS_LOST, 63);

	(void)state;
	assert_int_equal(SE_STATUS_CLASS(code), SE_CLASS_LOST);
	assert_int_equal(SE_STATUS_STAGE(code), 63);
	assert_int_equal(SE_STATUS_CLASS(SE_STATUS_CODE(SE_CLASS_STAGE, 0xFFFF)), SE_CLASS_STAGE);
	assert_int_equal(SE_STATUS_STAGE(SE_STATUS_CODE(SE_CLASS_NONTARGET, 0xFFFF)), 0xFFFF);
}

static void test_stage_index_by_name_and_alias(void **state)
{
	se_funnel *f = sales_funnel(*state);

	assert_int_equal(se_funnel_stage_index(f, "Lead"), 0);
	assert_int_equal(se_funnel_stage_index(f, "New lead"), 0);
	assert_int_equal(se_funnel_stage_index(f, "Won"), 2);
	/* Known statuses that are not stages, and unknown ones, have no index. */
	assert_int_equal(se_funnel_stage_index(f, "Lost"), -1);
	assert_int_equal(se_funnel_stage_index(f, "Spam"), -1);
	assert_int_equal(se_funnel_stage_index(f, "won"), -1);
	assert_int_equal(se_funnel_stage_index(f, ""), -1);
}

static void test_adjacent_pairs_come_first(void **state)
{
	se_funnel *f = sales_funnel(*state);
	se_pair extra = { .from = 0, .to = 2, .mode = SE_MODE_TOUCHED, .window = 86400, .extra = 1 };

	assert_int_equal(se_funnel_add_adjacent_pairs(f), SE_OK);
	assert_int_equal(se_funnel_add_pair(f, &extra), SE_OK);
	assert_int_equal(f->n_pairs, 3);
	assert_int_equal(f->pairs[0].from, 0);
	assert_int_equal(f->pairs[0].to, 1);
	assert_int_equal(f->pairs[1].from, 1);
	assert_int_equal(f->pairs[1].to, 2);
	assert_int_equal(f->pairs[0].mode, SE_MODE_DEFAULT);
	assert_int_equal(f->pairs[1].extra, 0);
	assert_int_equal(f->pairs[2].from, 0);
	assert_int_equal(f->pairs[2].to, 2);
	assert_int_equal(f->pairs[2].mode, SE_MODE_TOUCHED);
	assert_int_equal(f->pairs[2].window, 86400);
	assert_int_equal(f->pairs[2].extra, 1);
}

static void test_one_stage_has_no_pairs(void **state)
{
	se_funnel *f = se_rules_add_funnel(*state, "tiny");

	assert_non_null(f);
	f->n_stages = 1;
	f->stages[0].name = strdup("Only");
	assert_int_equal(se_funnel_add_adjacent_pairs(f), SE_OK);
	assert_int_equal(f->n_pairs, 0);
}

static void test_funnel_limit(void **state)
{
	se_rules *r = *state;
	char name[16];

	for (int i = 0; i < SE_MAX_FUNNELS; i++) {
		snprintf(name, sizeof name, "f%d", i);
		assert_non_null(se_rules_add_funnel(r, name));
	}
	assert_null(se_rules_add_funnel(r, "one too many"));
	assert_int_equal(r->n_funnels, SE_MAX_FUNNELS);
	assert_string_equal(r->funnels[SE_MAX_FUNNELS - 1].name, "f31");
}

/* Added metrics and rules belong to the rules from then on (freed by
 * se_rules_free: the sanitizer and valgrind runs see any leak). */
static void test_metrics_and_alerts(void **state)
{
	se_rules *r = *state;
	se_metric_decl m = { .name = strdup("avg_check"), .title = strdup("average"), .funnel = -1 };
	se_metric_decl m2 = { .name = strdup("rate"), .title = NULL, .funnel = 0 };
	se_alert_rule a = { 0 };

	assert_int_equal(se_rules_add_metric(r, &m), SE_OK);
	assert_int_equal(se_rules_add_metric(r, &m2), SE_OK);
	assert_int_equal(se_rules_metric_index(r, "rate"), 1);
	assert_int_equal(se_rules_metric_index(r, "avg_check"), 0);
	assert_int_equal(se_rules_metric_index(r, "avg"), -1);

	a.name = strdup("slow_quotes");
	a.where = strdup("rules.lua:12");
	a.metric = strdup("conversion");
	a.n_labels = 1;
	a.label_keys = calloc(1, sizeof *a.label_keys);
	a.label_values = calloc(1, sizeof *a.label_values);
	a.label_keys[0] = strdup("team");
	a.label_values[0] = strdup("b2b");
	a.command = calloc(3, sizeof *a.command);
	a.command[0] = strdup("notify");
	a.command[1] = strdup("{manager}");
	a.scope = SE_SCOPE_MANAGER;
	assert_int_equal(se_rules_add_alert(r, &a), SE_OK);
	assert_int_equal(se_rules_alert_count(r), 1);
	assert_string_equal(r->alerts[0].label_values[0], "b2b");
	assert_string_equal(r->alerts[0].command[1], "{manager}");
}

static void test_alert_rule_clear_zeroes(void **state)
{
	se_alert_rule a = { 0 };

	(void)state;
	a.name = strdup("x");
	a.severity = strdup("page");
	a.hold_runs = 3;
	se_alert_rule_clear(&a);
	assert_null(a.name);
	assert_null(a.severity);
	assert_int_equal(a.hold_runs, 0);
	se_alert_rule_clear(&a); /* clearing twice is harmless */
}

static void test_spend_adds_up_per_source_and_month(void **state)
{
	se_rules *r = *state;
	char source[] = "VK";

	assert_int_equal(se_rules_add_spend(r, source, 2025 * 12, 100000), SE_OK);
	source[0] = 'X'; /* the rules keep their own copy */
	assert_int_equal(se_rules_add_spend(r, "Яндекс", 2025 * 12, 50), SE_OK);
	assert_int_equal(se_rules_add_spend(r, "VK", 2025 * 12 + 1, 7), SE_OK);
	assert_int_equal(se_rules_add_spend(r, "VK", 2025 * 12, 23), SE_OK);
	assert_int_equal(r->n_spend, 3);
	assert_string_equal(r->spend[0].source, "VK");
	assert_true(r->spend[0].month == 2025 * 12 && r->spend[0].kopecks == 100023);
	assert_string_equal(r->spend[1].source, "Яндекс");
	assert_true(r->spend[1].kopecks == 50);
	assert_true(r->spend[2].month == 2025 * 12 + 1 && r->spend[2].kopecks == 7);
}

static void test_parse_month(void **state)
{
	static const char *const bad[] = { "2025-13", "2025-00", "2025-1", "2025-001", "1899-12",
		                           "2025/01", "2025-01x", "2025-+1", "2025- 1", "+025-01",
		                           " 2025-1", "202501", "", "abcd-ef", NULL };
	int64_t month = -1;

	(void)state;
	assert_int_equal(se_parse_month("2025-01", &month), SE_OK);
	assert_true(month == 2025 * 12);
	assert_int_equal(se_parse_month("1900-12", &month), SE_OK);
	assert_true(month == 1900 * 12 + 11);
	for (int i = 0; bad[i] != NULL; i++) {
		month = -7;
		if (se_parse_month(bad[i], &month) != SE_EUSAGE)
			fail_msg("'%s' was taken for a month", bad[i]);
		assert_true(month == -7);
	}
	assert_int_equal(se_parse_month(NULL, &month), SE_EUSAGE);
}

static void test_effective_settings(void **state)
{
	se_rules *r = *state;

	assert_true(se_rules_sla(r) == SE_DEFAULT_SLA);
	assert_true(se_rules_stale_multiple(r) == SE_DEFAULT_STALE_MULTIPLE);
	assert_true(se_rules_shrinkage(r) == SE_DEFAULT_SHRINKAGE);
	r->sla = 7200;
	r->stale_multiple = 2.5;
	r->shrinkage = 0; /* no shrinkage is a setting, not "unset" */
	assert_true(se_rules_sla(r) == 7200);
	assert_true(se_rules_stale_multiple(r) == 2.5);
	assert_true(se_rules_shrinkage(r) == 0);
	assert_string_equal(se_mode_name(SE_MODE_TOUCHED), "touched");
	assert_string_equal(se_mode_name(SE_MODE_REACHED), "reached");
	assert_string_equal(se_period_name(SE_PERIOD_WEEK), "week");
	assert_string_equal(se_period_name(SE_PERIOD_MONTH), "month");
	assert_string_equal(se_period_name(SE_PERIOD_DAY), "day");
	assert_string_equal(se_period_name(SE_PERIOD_TOTAL), "total");
}

static void test_describe(void **state)
{
	se_rules *r = *state;
	se_funnel *f = sales_funnel(r);
	se_pair extra = { .from = 0, .to = 2, .extra = 1 };
	se_metric_decl m = { .name = strdup("avg_check") };
	se_alert_rule a = { .name = strdup("slow"), .where = strdup("r.lua:3"), .scope = SE_SCOPE_SOURCE };
	char *text = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&text, &size);

	assert_non_null(out);
	assert_int_equal(se_funnel_add_adjacent_pairs(f), SE_OK);
	assert_int_equal(se_funnel_add_pair(f, &extra), SE_OK);
	assert_int_equal(se_rules_add_metric(r, &m), SE_OK);
	assert_int_equal(se_rules_add_alert(r, &a), SE_OK);
	assert_int_equal(se_rules_add_spend(r, "VK", 2025 * 12, 1), SE_OK);
	r->timezone = strdup("Europe/Moscow");
	r->period = SE_PERIOD_WEEK;
	r->sla = 5400;
	se_rules_describe(r, out);
	assert_int_equal(fclose(out), 0);
	assert_string_equal(text,
	        "funnel sales: 3 stages (won: Won, 1 pre-sale), 6 status names, 3 pairs (1 extra)\n"
	        "metric avg_check\n"
	        "rule slow (r.lua:3): scope source, when function\n"
	        "diagnostics: SLA 90 min, stale over 3 x the stage median, shrinkage k = 10, 1 spend row\n"
	        "timezone Europe/Moscow, input timezone UTC, mode reached, period week\n");
	free(text);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_codes_pack_class_and_stage),
		T(test_stage_index_by_name_and_alias),
		T(test_adjacent_pairs_come_first),
		T(test_one_stage_has_no_pairs),
		T(test_funnel_limit),
		T(test_metrics_and_alerts),
		cmocka_unit_test(test_alert_rule_clear_zeroes),
		T(test_spend_adds_up_per_source_and_month),
		cmocka_unit_test(test_parse_month),
		T(test_effective_settings),
		T(test_describe),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
