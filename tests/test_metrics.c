/*
 * test_metrics.c: the Lua metrics API, alert rules and rule tests.
 *
 * Three kinds of checks:
 *  - every scope method on a small history whose numbers are worked out
 *    by hand in the comments (docs/METRICS.md is the reference);
 *  - on random histories, the metrics API against the report's own grids
 *    (two independent aggregations of the same per-deal semantics) and a
 *    forecast recomputed here from the presale report's cells;
 *  - the alert state machine (hold, repeat, resolve, min_sample, state kept
 *    across runs), containment of broken rules, and the exact error
 *    messages of rule{} and metric{} declarations.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "alerts.h"
#include "helpers.h"
#include "report.h"
#include "ruletest.h"
#include "script.h"
#include "timeconv.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct fixture {
	char dir[64];
	char db_path[128], csv_path[128], lua_path[128];
	se_store *st;
	se_script *script;
	se_report *rep;
	se_error err;
	char *out;
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof *f);

	if (f == NULL)
		return -1;
	if (scratch_store_open("test_metrics", "se.db", f->dir, sizeof f->dir, f->db_path,
	                       sizeof f->db_path, &f->st) != 0) {
		free(f);
		return -1;
	}
	snprintf(f->csv_path, sizeof f->csv_path, "%s/events.csv", f->dir);
	snprintf(f->lua_path, sizeof f->lua_path, "%s/rules.lua", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;

	se_report_free(f->rep);
	se_script_free(f->script);
	scratch_store_close(&f->st, f->dir);
	free(f->out);
	free(f);
	return 0;
}

static void reject_fails(void *ud, const char *message)
{
	(void)ud;
	fail_msg("row rejected: %s", message);
}

static void import_csv(fixture *f, const char *csv)
{
	se_import_opts o = { .format = SE_INPUT_CSV, .on_reject = reject_fails };
	se_import_stats stats;

	write_file(f->csv_path, csv);
	if (se_import_file(f->st, f->csv_path, &o, &stats, &f->err) != SE_OK)
		fail_msg("import failed: %s", f->err.msg);
}

static void load_script(fixture *f, const char *lua)
{
	se_script_free(f->script);
	f->script = NULL;
	write_file(f->lua_path, lua);
	if (se_script_load(&f->script, f->lua_path, NULL, &f->err) != SE_OK)
		fail_msg("script did not load: %s", f->err.msg);
}

static int64_t utc(const char *text)
{
	int64_t t = 0;
	const char *why = NULL;

	if (se_time_parse(text, strlen(text), NULL, &t, &why) != SE_OK)
		fail_msg("bad time %s: %s", text, why);
	return t;
}

static void build(fixture *f, const char *as_of)
{
	se_report_opts o = { 0 };

	o.as_of = utc(as_of);
	se_report_free(f->rep);
	f->rep = NULL;
	if (se_report_build(&f->rep, f->st, se_script_rules(f->script), &o, &f->err) != SE_OK)
		fail_msg("report: %s", f->err.msg);
}

/* The metrics report as CSV text. */
static const char *metrics_csv(fixture *f)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&buf, &len);

	assert_non_null(mem);
	f->rep->reports = SE_REPORT_METRICS;
	if (se_script_fill_metrics(f->script, f->rep, &f->err) != SE_OK)
		fail_msg("metrics: %s", f->err.msg);
	if (se_report_write(f->rep, mem, SE_OUTPUT_CSV, &f->err) != SE_OK)
		fail_msg("write: %s", f->err.msg);
	fclose(mem);
	free(f->out);
	f->out = buf;
	return buf;
}

static void expect_text(const char *got, const char *want)
{
	if (strcmp(got, want) == 0)
		return;
	for (size_t i = 0;; i++)
		if (got[i] != want[i]) {
			size_t from = i > 80 ? i - 80 : 0;

			fail_msg("differs at byte %zu:\n--- got ...%.200s\n--- want ...%.200s", i, got + from,
			         want + from);
		}
}

/* ---- every scope method, by hand -------------------------------------------------- */

static const char by_hand_script[] =
	"settings { period = 'week' }\n"
	"funnel { name = 'f', stages = { 'A', 'B', { 'C', presale = true }, 'W' },\n"
	"         lost = 'X', nontarget = 'N' }\n"
	"local function second(a, b) return b end\n"
	"local function third(a, b, c) return c end\n"
	"metric { name = 'n_leads', value = function(s) return s:leads() end }\n"
	"metric { name = 'reached_b', value = function(s) return s:reached('B') end }\n"
	"metric { name = 'touched_b', value = function(s) return s:with{ mode = 'touched' }:reached('B') end }\n"
	"metric { name = 'bw_from', value = function(s) return third(s:conversion('B', 'W')) end }\n"
	"metric { name = 'bw_to', value = function(s) return second(s:conversion('B', 'W')) end }\n"
	"metric { name = 'n_won', value = function(s) return (s:won()) end }\n"
	"metric { name = 'n_revenue', format = 'money', value = function(s) return second(s:won()) end }\n"
	"metric { name = 'n_lost', value = function(s) return s:lost() end }\n"
	"metric { name = 'n_nontarget', value = function(s) return s:nontarget() end }\n"
	"metric { name = 'open_now', value = function(s) return (s:open()) end }\n"
	"metric { name = 'n_forecast', format = 'money', value = function(s) return third(s:presale()) end }\n";

/* Weeks: 2025-W02 is Jan 6-12, W03 is Jan 13-19 (UTC).
 * D1 Ann VK:  A W02, B W02, C W02, W Jan 14 (W03), amount 100: won
 * D2 Ann VK:  A W02, X W02: lost (its last event is in W02)
 * D3 Bob Web: A W02, C Jan 9 (skips B: reached B there), 200: open at C
 * D4 Bob VK:  A, B, N all W03: non-target
 * D5 Ann Web: A, B, back to A, W03, 50: open at A
 * D6 Bob Web: A Jan 15, W Jan 16 (skips B and C), 300: won
 * leads by cohort week: W02 D1 D2 D3; W03 D4 D5 D6.
 * reached(B): W02 D1, D3; W03 D4, D5, D6.  touched(B): W02 D1; W03 D4, D5.
 * B -> W (cohort at reached B): W02 D1 won, D3 not (1 of 2); W03 only D6
 * (reached B and W at its one W event: a skip converts) (1 of 3).
 * won, revenue by the week of winning: W03 D1 100 (Ann, VK), D6 300 (Bob, Web).
 * lost at D2's last event (W02), non-target at D4's (W03).
 * Open now (the period does not apply): D3 (Bob, Web), D5 (Ann, Web).
 * forecast: D3's 200 at C x Bob's rate from C = closed deals of Bob that
 * reached C (D6, reached via W) all won = 1/1 -> 200.
 * Rows: a manager or source appears in a week it has any flow in. */
static const char by_hand_csv[] =
	"event_id,deal_id,ts,stage,manager,source,amount\n"
	"1,D1,2025-01-06T10:00:00Z,A,Ann,VK,\n"
	"2,D1,2025-01-07T10:00:00Z,B,Ann,,\n"
	"3,D1,2025-01-08T10:00:00Z,C,Ann,,100\n"
	"4,D1,2025-01-14T10:00:00Z,W,Ann,,100\n"
	"5,D2,2025-01-06T11:00:00Z,A,Ann,VK,\n"
	"6,D2,2025-01-07T11:00:00Z,X,Ann,,\n"
	"7,D3,2025-01-07T12:00:00Z,A,Bob,Web,\n"
	"8,D3,2025-01-09T12:00:00Z,C,Bob,,200\n"
	"9,D4,2025-01-13T10:00:00Z,A,Bob,VK,\n"
	"10,D4,2025-01-14T10:00:00Z,B,Bob,,\n"
	"11,D4,2025-01-15T10:00:00Z,N,Bob,,\n"
	"12,D5,2025-01-14T10:00:00Z,A,Ann,Web,\n"
	"13,D5,2025-01-15T10:00:00Z,B,Ann,,50\n"
	"14,D5,2025-01-16T10:00:00Z,A,Ann,,\n"
	"15,D6,2025-01-15T10:00:00Z,A,Bob,Web,\n"
	"16,D6,2025-01-16T10:00:00Z,W,Bob,,300\n";

static const char by_hand_expected[] =
	"report,funnel,metric,period,dimension,name,value\n"
	"metrics,f,n_leads,2025-W02,team,*,3\n"
	"metrics,f,n_leads,2025-W02,manager,Ann,2\n"
	"metrics,f,n_leads,2025-W02,manager,Bob,1\n"
	"metrics,f,n_leads,2025-W02,source,VK,2\n"
	"metrics,f,n_leads,2025-W02,source,Web,1\n"
	"metrics,f,n_leads,2025-W03,team,*,3\n"
	"metrics,f,n_leads,2025-W03,manager,Ann,1\n"
	"metrics,f,n_leads,2025-W03,manager,Bob,2\n"
	"metrics,f,n_leads,2025-W03,source,VK,1\n"
	"metrics,f,n_leads,2025-W03,source,Web,2\n"
	"metrics,f,reached_b,2025-W02,team,*,2\n"
	"metrics,f,reached_b,2025-W02,manager,Ann,1\n"
	"metrics,f,reached_b,2025-W02,manager,Bob,1\n"
	"metrics,f,reached_b,2025-W02,source,VK,1\n"
	"metrics,f,reached_b,2025-W02,source,Web,1\n"
	"metrics,f,reached_b,2025-W03,team,*,3\n"
	"metrics,f,reached_b,2025-W03,manager,Ann,1\n"
	"metrics,f,reached_b,2025-W03,manager,Bob,2\n"
	"metrics,f,reached_b,2025-W03,source,VK,1\n"
	"metrics,f,reached_b,2025-W03,source,Web,2\n"
	"metrics,f,touched_b,2025-W02,team,*,1\n"
	"metrics,f,touched_b,2025-W02,manager,Ann,1\n"
	"metrics,f,touched_b,2025-W02,manager,Bob,0\n"
	"metrics,f,touched_b,2025-W02,source,VK,1\n"
	"metrics,f,touched_b,2025-W02,source,Web,0\n"
	"metrics,f,touched_b,2025-W03,team,*,2\n"
	"metrics,f,touched_b,2025-W03,manager,Ann,1\n"
	"metrics,f,touched_b,2025-W03,manager,Bob,1\n"
	"metrics,f,touched_b,2025-W03,source,VK,1\n"
	"metrics,f,touched_b,2025-W03,source,Web,1\n"
	"metrics,f,bw_from,2025-W02,team,*,2\n"
	"metrics,f,bw_from,2025-W02,manager,Ann,1\n"
	"metrics,f,bw_from,2025-W02,manager,Bob,1\n"
	"metrics,f,bw_from,2025-W02,source,VK,1\n"
	"metrics,f,bw_from,2025-W02,source,Web,1\n"
	"metrics,f,bw_from,2025-W03,team,*,3\n"
	"metrics,f,bw_from,2025-W03,manager,Ann,1\n"
	"metrics,f,bw_from,2025-W03,manager,Bob,2\n"
	"metrics,f,bw_from,2025-W03,source,VK,1\n"
	"metrics,f,bw_from,2025-W03,source,Web,2\n"
	"metrics,f,bw_to,2025-W02,team,*,1\n"
	"metrics,f,bw_to,2025-W02,manager,Ann,1\n"
	"metrics,f,bw_to,2025-W02,manager,Bob,0\n"
	"metrics,f,bw_to,2025-W02,source,VK,1\n"
	"metrics,f,bw_to,2025-W02,source,Web,0\n"
	"metrics,f,bw_to,2025-W03,team,*,1\n"
	"metrics,f,bw_to,2025-W03,manager,Ann,0\n"
	"metrics,f,bw_to,2025-W03,manager,Bob,1\n"
	"metrics,f,bw_to,2025-W03,source,VK,0\n"
	"metrics,f,bw_to,2025-W03,source,Web,1\n"
	"metrics,f,n_won,2025-W02,team,*,0\n"
	"metrics,f,n_won,2025-W02,manager,Ann,0\n"
	"metrics,f,n_won,2025-W02,manager,Bob,0\n"
	"metrics,f,n_won,2025-W02,source,VK,0\n"
	"metrics,f,n_won,2025-W02,source,Web,0\n"
	"metrics,f,n_won,2025-W03,team,*,2\n"
	"metrics,f,n_won,2025-W03,manager,Ann,1\n"
	"metrics,f,n_won,2025-W03,manager,Bob,1\n"
	"metrics,f,n_won,2025-W03,source,VK,1\n"
	"metrics,f,n_won,2025-W03,source,Web,1\n"
	"metrics,f,n_revenue,2025-W02,team,*,0.00\n"
	"metrics,f,n_revenue,2025-W02,manager,Ann,0.00\n"
	"metrics,f,n_revenue,2025-W02,manager,Bob,0.00\n"
	"metrics,f,n_revenue,2025-W02,source,VK,0.00\n"
	"metrics,f,n_revenue,2025-W02,source,Web,0.00\n"
	"metrics,f,n_revenue,2025-W03,team,*,400.00\n"
	"metrics,f,n_revenue,2025-W03,manager,Ann,100.00\n"
	"metrics,f,n_revenue,2025-W03,manager,Bob,300.00\n"
	"metrics,f,n_revenue,2025-W03,source,VK,100.00\n"
	"metrics,f,n_revenue,2025-W03,source,Web,300.00\n"
	"metrics,f,n_lost,2025-W02,team,*,1\n"
	"metrics,f,n_lost,2025-W02,manager,Ann,1\n"
	"metrics,f,n_lost,2025-W02,manager,Bob,0\n"
	"metrics,f,n_lost,2025-W02,source,VK,1\n"
	"metrics,f,n_lost,2025-W02,source,Web,0\n"
	"metrics,f,n_lost,2025-W03,team,*,0\n"
	"metrics,f,n_lost,2025-W03,manager,Ann,0\n"
	"metrics,f,n_lost,2025-W03,manager,Bob,0\n"
	"metrics,f,n_lost,2025-W03,source,VK,0\n"
	"metrics,f,n_lost,2025-W03,source,Web,0\n"
	"metrics,f,n_nontarget,2025-W02,team,*,0\n"
	"metrics,f,n_nontarget,2025-W02,manager,Ann,0\n"
	"metrics,f,n_nontarget,2025-W02,manager,Bob,0\n"
	"metrics,f,n_nontarget,2025-W02,source,VK,0\n"
	"metrics,f,n_nontarget,2025-W02,source,Web,0\n"
	"metrics,f,n_nontarget,2025-W03,team,*,1\n"
	"metrics,f,n_nontarget,2025-W03,manager,Ann,0\n"
	"metrics,f,n_nontarget,2025-W03,manager,Bob,1\n"
	"metrics,f,n_nontarget,2025-W03,source,VK,1\n"
	"metrics,f,n_nontarget,2025-W03,source,Web,0\n"
	"metrics,f,open_now,2025-W02,team,*,2\n"
	"metrics,f,open_now,2025-W02,manager,Ann,1\n"
	"metrics,f,open_now,2025-W02,manager,Bob,1\n"
	"metrics,f,open_now,2025-W02,source,VK,0\n"
	"metrics,f,open_now,2025-W02,source,Web,2\n"
	"metrics,f,open_now,2025-W03,team,*,2\n"
	"metrics,f,open_now,2025-W03,manager,Ann,1\n"
	"metrics,f,open_now,2025-W03,manager,Bob,1\n"
	"metrics,f,open_now,2025-W03,source,VK,0\n"
	"metrics,f,open_now,2025-W03,source,Web,2\n"
	"metrics,f,n_forecast,2025-W02,team,*,200.00\n"
	"metrics,f,n_forecast,2025-W02,manager,Ann,0.00\n"
	"metrics,f,n_forecast,2025-W02,manager,Bob,200.00\n"
	"metrics,f,n_forecast,2025-W02,source,VK,0.00\n"
	"metrics,f,n_forecast,2025-W02,source,Web,200.00\n"
	"metrics,f,n_forecast,2025-W03,team,*,200.00\n"
	"metrics,f,n_forecast,2025-W03,manager,Ann,0.00\n"
	"metrics,f,n_forecast,2025-W03,manager,Bob,200.00\n"
	"metrics,f,n_forecast,2025-W03,source,VK,0.00\n"
	"metrics,f,n_forecast,2025-W03,source,Web,200.00\n"
;

static void test_scope_methods_by_hand(void **state)
{
	fixture *f = *state;

	load_script(f, by_hand_script);
	import_csv(f, by_hand_csv);
	build(f, "2025-02-01T00:00:00Z");
	expect_text(metrics_csv(f), by_hand_expected);
}

/* The current-period value that rules and `salesengine test` read. */
static double value_of(fixture *f, const char *metric, const char *manager, const char *source)
{
	double v;

	if (se_script_metric_value(f->script, f->rep, metric, NULL, manager, source, &v, &f->err) != SE_OK)
		fail_msg("metric %s: %s", metric, f->err.msg);
	return v;
}

static void test_current_period_and_prev(void **state)
{
	fixture *f = *state;

	char script[4096];

	snprintf(script, sizeof script, "%s%s", by_hand_script,
	         "metric { name = 'leads_before', value = function(s) return s:prev():leads() end }\n"
	         "metric { name = 'team_leads', value = function(s) return s:team():leads() end }\n"
	         "metric { name = 'via_metric', value = function(s) return s:metric('leads') * 10 end }\n"
	         "metric { name = 'period', value = function(s) return #s.period end }\n");
	load_script(f, script);
	import_csv(f, by_hand_csv);
	build(f, "2025-01-15T00:00:00Z"); /* in W03 */
	assert_true(value_of(f, "leads", NULL, NULL) == 3);
	assert_true(value_of(f, "leads", "Bob", NULL) == 2);
	assert_true(value_of(f, "leads", "Bob", "Web") == 1);
	assert_true(value_of(f, "leads", "Nobody", NULL) == 0);
	assert_true(value_of(f, "leads_before", "Ann", NULL) == 2);   /* W02 */
	assert_true(value_of(f, "team_leads", "Ann", "VK") == 3);     /* W03, everyone */
	assert_true(value_of(f, "via_metric", "Ann", NULL) == 10);
	assert_true(value_of(f, "period", NULL, NULL) == 8);          /* "2025-W03" */
	assert_true(value_of(f, "won", NULL, NULL) == 2);             /* built-in name too */
	build(f, "2025-01-08T00:00:00Z"); /* in W02: D1's win is in W03 */
	assert_true(value_of(f, "won", NULL, NULL) == 0);
}

/* ---- random histories: the API against the report's grids -------------------------- */

static uint64_t rng_state;

static unsigned rnd(unsigned n)
{
	rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
	return (unsigned)((rng_state >> 33) % n);
}

static const char random_script[] =
	"funnel { name = 'f', stages = { 'S0', 'S1', { 'S2', presale = true },\n"
	"         { 'S3', presale = true }, 'S4' }, lost = 'L', nontarget = 'N',\n"
	"         pairs = { { 'S1', 'S3', mode = 'touched' } } }\n"
	"local function from(a, b) return function(s) return select(3, s:conversion(a, b)) end end\n"
	"local function to(a, b) return function(s) return select(2, s:conversion(a, b)) end end\n"
	"local st = { 'S0', 'S1', 'S2', 'S3', 'S4' }\n"
	"for i = 1, 4 do\n"
	"  metric { name = 'from' .. i, value = from(st[i], st[i + 1]) }\n"
	"  metric { name = 'to' .. i, value = to(st[i], st[i + 1]) }\n"
	"end\n"
	"metric { name = 'from5', value = from('S1', 'S3') }\n"
	"metric { name = 'to5', value = to('S1', 'S3') }\n"
	"metric { name = 'presale_amt', value = function(s) return select(2, s:presale()) end }\n";

static char *random_history(unsigned seed, int deals)
{
	static const char *const managers[] = { "Анна", "Борис", "Вера", "Глеб" };
	static const char *const sources[] = { "VK", "Яндекс", "Сайт" };
	size_t cap = (size_t)deals * 400 + 100, len = 0;
	char *csv = malloc(cap);
	int ev = 0;

	assert_non_null(csv);
	rng_state = seed;
	len += (size_t)snprintf(csv, cap, "event_id,deal_id,ts,stage,manager,source,amount\n");
	for (int d = 0; d < deals; d++) {
		int64_t t = utc("2025-01-01T00:00:00Z") + rnd(60 * 86400);
		int stage = 0, steps = 1 + (int)rnd(6);
		const char *m = managers[rnd(4)], *src = sources[rnd(3)];

		for (int k = 0; k < steps; k++) {
			char ts[32], name[8];
			unsigned r = rnd(10);

			se_time_format_utc(t, ts, sizeof ts);
			if (k > 0 && r == 0)
				snprintf(name, sizeof name, "L");
			else if (k > 0 && r == 1)
				snprintf(name, sizeof name, "N");
			else
				snprintf(name, sizeof name, "S%d", stage);
			len += (size_t)snprintf(csv + len, cap - len, "e%d,D%d,%s,%s,%s,%s,%u\n", ++ev, d, ts,
			                        name, k == steps - 1 ? m : managers[rnd(4)], k == 0 ? src : "",
			                        100 * (1 + rnd(50)));
			if (name[0] != 'S')
				break;
			stage = r < 5 ? stage + 1 + (int)rnd(2) : r < 7 ? stage - 1 : stage; /* skips, back moves */
			stage = stage < 0 ? 0 : stage > 4 ? 4 : stage;
			t += 3600 + rnd(10 * 86400);
		}
	}
	return csv;
}

static int64_t grid_count(const se_grid *g, int64_t key, uint32_t col)
{
	const int64_t *n = se_grid_at(g, key, col);

	return n ? *n : 0;
}

static void test_api_agrees_with_report_grids(void **state)
{
	fixture *f = *state;

	load_script(f, random_script);
	for (unsigned seed = 1; seed <= 3; seed++) {
		char *csv = random_history(seed, 400);

		import_csv(f, csv);
		free(csv);
	}
	build(f, "2025-06-01T00:00:00Z");
	const se_report *rep = f->rep;
	const se_funnel_agg *a = &rep->agg[0];

	for (uint32_t m = 0; m < rep->n_manager; m++) {
		const char *name = rep->managers[m];
		int64_t amount = 0;

		if (name == NULL)
			continue;
		assert_true(value_of(f, "leads", name, NULL) == (double)grid_count(&a->leads_by_manager, 0, m));
		for (int p = 0; p < 5; p++) {
			const se_pair_cell *c = se_grid_at(&a->pairs[p], 0, m);
			char from[8], to[8];

			snprintf(from, sizeof from, "from%d", p + 1);
			snprintf(to, sizeof to, "to%d", p + 1);
			assert_true(value_of(f, from, name, NULL) == (double)(c ? c->from : 0));
			assert_true(value_of(f, to, name, NULL) == (double)(c ? c->to : 0));
		}
		for (int s = 0; s < 5; s++)
			amount += a->presale[(size_t)s * rep->n_manager + m].amount;
		assert_true(fabs(value_of(f, "presale_amt", name, NULL) - (double)amount / 100.0) < 1e-6);
	}
	for (uint32_t s = 0; s < rep->n_source; s++)
		if (rep->sources[s] != NULL)
			assert_true(value_of(f, "leads", NULL, rep->sources[s]) ==
			            (double)grid_count(&a->leads_by_source, 0, s));
}

/* The team forecast recomputed from the presale report's cells, as
 * docs/METRICS.md 4c says: per manager and stage, amount x the manager's
 * rate (else the team's), rounded to the kopeck once. */
static void test_forecast_matches_presale_cells(void **state)
{
	fixture *f = *state;
	int64_t want = 0;

	load_script(f, random_script);
	{
		char *csv = random_history(7, 600);

		import_csv(f, csv);
		free(csv);
	}
	build(f, "2025-06-01T00:00:00Z");
	const se_report *rep = f->rep;
	const se_funnel_agg *a = &rep->agg[0];

	for (int s = 0; s < 5; s++) {
		int64_t team_won = 0, team_closed = 0;

		if (!se_script_rules(f->script)->funnels[0].stages[s].presale)
			continue;
		for (uint32_t m = 0; m < rep->n_manager; m++) {
			team_won += a->rates[(size_t)s * rep->n_manager + m].won;
			team_closed += a->rates[(size_t)s * rep->n_manager + m].closed;
		}
		for (uint32_t m = 0; m < rep->n_manager; m++) {
			const se_presale_cell *c = &a->presale[(size_t)s * rep->n_manager + m];
			const se_rate_cell *r = &a->rates[(size_t)s * rep->n_manager + m];
			int64_t won = r->closed > 0 ? r->won : team_won, closed = r->closed > 0 ? r->closed : team_closed;

			if (c->amount != 0 && closed > 0)
				want += (c->amount * won * 2 + closed) / (2 * closed); /* halves up, amounts >= 0 */
		}
	}
	assert_true(want > 0);
	assert_true(fabs(value_of(f, "forecast", NULL, NULL) - (double)want / 100.0) < 1e-6);
}

/* ---- the diagnostics through Lua: the same numbers as report.h's accessors ------------ */

static const char diag_script[] =
	"funnel { name = 'f', stages = { 'S0', 'S1', { 'S2', presale = true, probability = 0.4 },\n"
	"         { 'S3', presale = true }, 'S4' }, lost = 'L', nontarget = 'N' }\n"
	"settings { sla = '2h', spend = { VK = { ['2025-01'] = 5000 } } }\n"
	"local function nz(x) return x or -1 end\n"
	"metric { name = 'taken', value = function(s) return s:handling().taken end }\n"
	"metric { name = 'unprocessed', value = function(s) return s:handling().unprocessed end }\n"
	"metric { name = 'fm_median', value = function(s) return nz(s:handling().first_move_median) end }\n"
	"metric { name = 'v_total_p90', value = function(s) return nz(s:velocity('S1').total_p90) end }\n"
	"metric { name = 'v_open', value = function(s) return s:velocity('S1').open end }\n"
	"metric { name = 'ttw', value = function(s) return nz(s:time_to_won()) end }\n"
	"metric { name = 'fc_rate', value = function(s) return s:forecast().by_rate end }\n"
	"metric { name = 'fc_prob', value = function(s) return s:forecast('S2').by_probability end }\n"
	"metric { name = 'step_to', value = function(s) return s:step('S0', 'S1').to end }\n"
	"metric { name = 'ch_leads', value = function(s) return s:channel().leads end }\n"
	"metric { name = 'ch_spend', value = function(s) return s:channel().spend or -1 end }\n"
	"metric { name = 'fc_time', value = function(s) return s:forecast().by_time end }\n"
	"metric { name = 'step_q', value = function(s) return nz(s:step('S0', 'S1').p_adjusted) end }\n"
	"metric { name = 'ch_p', value = function(s) return nz(s:channel().p_value) end }\n";

static void test_diagnostics_from_lua(void **state)
{
	fixture *f = *state;

	load_script(f, diag_script);
	{
		char *csv = random_history(11, 500);

		import_csv(f, csv);
		free(csv);
	}
	build(f, "2025-06-01T00:00:00Z");
	/* Built for the script, the report computes the diagnostics on the
	 * first call that reads one; read here straight, they are asked for. */
	assert_int_equal(se_report_want_insights(f->rep, &f->err), SE_OK);
	const se_report *rep = f->rep;
	se_handling h;
	se_velocity v;
	se_quant q;
	se_forecast fc;
	se_step_diag d;
	se_channel c;
	int tested = 0;

	assert_int_equal(se_report_handling(rep, 0, 0, SE_DIM_MANAGER, SE_ALL, &h), SE_OK);
	assert_true(h.leads > 0 && h.taken > 0 && h.unprocessed + h.waiting > 0);
	assert_true(value_of(f, "taken", NULL, NULL) == (double)h.taken);
	assert_true(value_of(f, "unprocessed", NULL, NULL) == (double)h.unprocessed);
	assert_true(value_of(f, "fm_median", NULL, NULL) == (double)h.first_move_median);
	for (uint32_t m = 0; m < rep->n_manager; m++) {
		const char *name = rep->managers[m];

		if (name == NULL)
			continue;
		assert_int_equal(se_report_handling(rep, 0, 0, SE_DIM_MANAGER, m, &h), SE_OK);
		assert_true(value_of(f, "taken", name, NULL) == (double)h.taken);
		assert_int_equal(se_report_velocity(rep, 0, 1, m, &v), SE_OK);
		assert_true(value_of(f, "v_total_p90", name, NULL) == (v.total.n ? (double)v.total.p90 : -1));
		assert_true(value_of(f, "v_open", name, NULL) == (double)v.open);
		assert_int_equal(se_report_time_to_won(rep, 0, m, &q), SE_OK);
		assert_true(value_of(f, "ttw", name, NULL) == (q.n ? (double)q.p50 : -1));
		assert_int_equal(se_report_forecast(rep, 0, -1, m, &fc), SE_OK);
		assert_true(fabs(value_of(f, "fc_rate", name, NULL) - (double)fc.forecast_shrunk / 100) < 1e-6);
		assert_true(fabs(value_of(f, "fc_time", name, NULL) - (double)fc.forecast_time / 100) < 1e-6);
		assert_int_equal(se_report_forecast(rep, 0, 2, m, &fc), SE_OK);
		assert_true(fabs(value_of(f, "fc_prob", name, NULL) - (double)fc.forecast_stage / 100) < 1e-6);
		assert_int_equal(se_report_step(rep, 0, 0, m, &d), SE_OK);
		assert_true(value_of(f, "step_to", name, NULL) == (double)d.to);
		assert_true(value_of(f, "step_q", name, NULL) == (d.tested ? d.q : -1));
		tested += d.tested;
	}
	for (uint32_t src = 0; src < rep->n_source; src++) {
		if (rep->sources[src] == NULL)
			continue;
		assert_int_equal(se_report_handling(rep, 0, 0, SE_DIM_SOURCE, src, &h), SE_OK);
		assert_true(value_of(f, "taken", NULL, rep->sources[src]) == (double)h.taken);
		assert_int_equal(se_report_channel(rep, 0, 0, src, &c), SE_OK);
		assert_true(value_of(f, "ch_leads", NULL, rep->sources[src]) == (double)c.leads);
		assert_true(value_of(f, "ch_spend", NULL, rep->sources[src]) ==
		            (c.spend >= 0 ? (double)c.spend / 100 : -1));
		assert_true(value_of(f, "ch_p", NULL, rep->sources[src]) == (isnan(c.p) ? -1 : c.p));
		tested += !isnan(c.p);
	}
	assert_true(tested >= 2); /* some steps and sources are tested: their p-values are compared */
	/* A manager-only question on the team scope says so. */
	f->rep->reports = SE_REPORT_METRICS;
	{
		se_error e;
		double x;

		assert_int_equal(se_script_metric_value(f->script, f->rep, "step_to", NULL, NULL, NULL, &x, &e),
		                 SE_ESCRIPT);
		assert_non_null(strstr(e.msg, "step() compares one manager with the others"));
		assert_int_equal(se_script_metric_value(f->script, f->rep, "ch_leads", NULL, "Анна", NULL, &x, &e),
		                 SE_ESCRIPT);
		assert_non_null(strstr(e.msg, "channel() is about one source"));
	}
}

/* The diagnostics are computed only when a metric or rule reads one: a
 * script of cube metrics leaves them out, and one that reads them gets the
 * numbers an eager build (a printed diagnostic report) gives. */
static void test_diagnostics_only_when_read(void **state)
{
	fixture *f = *state;
	char *lazy, *eager;

	{
		char *csv = random_history(12, 400);

		import_csv(f, csv);
		free(csv);
	}
	load_script(f, "funnel { name = 'f', stages = { 'S0', 'S1', 'S2', 'S3', 'S4' } }\n"
	               "settings { period = 'month' }\n"
	               "metric { name = 'l', value = function(s) return s:leads() end }\n");
	build(f, "2025-06-01T00:00:00Z");
	assert_int_equal(f->rep->compute & SE_REPORT_HANDLING, 0);
	lazy = strdup(metrics_csv(f));
	assert_int_equal(f->rep->compute & SE_REPORT_HANDLING, 0); /* still not computed */
	free(lazy);

	se_report_free(f->rep); /* before the rules it reads */
	f->rep = NULL;
	load_script(f, "funnel { name = 'f', stages = { 'S0', 'S1', { 'S2', presale = true, probability = 0.4 },\n"
	               "         { 'S3', presale = true }, 'S4' }, lost = 'L', nontarget = 'N' }\n"
	               "settings { sla = '2h', period = 'month' }\n"
	               "local function nz(x) return x or -1 end\n"
	               "metric { name = 'l', value = function(s) return s:leads() end }\n"
	               "metric { name = 'taken', value = function(s) return s:handling().taken end }\n"
	               "metric { name = 'v_open', value = function(s) return s:velocity('S1').open end }\n"
	               "metric { name = 'ttw', value = function(s) return nz(s:time_to_won()) end }\n"
	               "metric { name = 'fc', value = function(s) return s:forecast().by_time end }\n");
	build(f, "2025-06-01T00:00:00Z");
	assert_int_equal(f->rep->compute & SE_REPORT_HANDLING, 0);
	lazy = strdup(metrics_csv(f));
	assert_int_not_equal(f->rep->compute & SE_REPORT_HANDLING, 0); /* the first read built them */
	{
		se_report_opts o = { 0 };

		o.as_of = utc("2025-06-01T00:00:00Z");
		o.reports = SE_REPORT_HANDLING | SE_REPORT_METRICS;
		se_report_free(f->rep);
		f->rep = NULL;
		assert_int_equal(se_report_build(&f->rep, f->st, se_script_rules(f->script), &o, &f->err), SE_OK);
		assert_int_not_equal(f->rep->compute & SE_REPORT_VELOCITY, 0); /* eager */
	}
	eager = strdup(metrics_csv(f));
	assert_non_null(lazy);
	assert_non_null(eager);
	assert_true(strlen(lazy) > 200);
	assert_string_equal(lazy, eager);
	free(lazy);
	free(eager);
}

/* ---- alerts: the state machine through the rule-test machinery ---------------------- */

static const char alert_script[] =
	"settings { period = 'week' }\n"
	"funnel { name = 'f', stages = { 'A', 'B', 'W' }, lost = 'X' }\n"
	"rule { name = 'slow', scope = 'manager', metric = 'conversion', from = 'A', to = 'B',\n"
	"       op = '<', threshold = 0.5, min_sample = 2, hold = 2, repeat_every = '2d',\n"
	"       labels = { team = 'north' }, message = '{manager} {value} {threshold} {team}' }\n"
	"rule { name = 'any_lost', when = function(s) local n = s:lost() return n > 0, n, n end,\n"
	"       hold = '1d' }\n";

typedef struct world {
	se_ruletest *t;
	int64_t t0;
	const se_script_limits *limits; /* NULL: the defaults */
} world;

static void world_start(fixture *f, world *w, const char *script, const char *deals)
{
	write_file(f->lua_path, script);
	if (se_ruletest_start(&w->t, f->lua_path, w->limits, &f->err) != SE_OK)
		fail_msg("start: %s", f->err.msg);
	w->t0 = utc("2025-01-06T09:00:00Z"); /* a Monday */
	if (se_ruletest_add_deals(w->t, deals, w->t0, &f->err) != SE_OK)
		fail_msg("deals: %s", f->err.msg);
}

static void eval_at(fixture *f, world *w, const char *offset)
{
	int64_t at;

	if (se_ruletest_time(w->t, offset, w->t0, &at, &f->err) != SE_OK ||
	    se_ruletest_eval(w->t, at, &f->err) != SE_OK)
		fail_msg("eval at %s: %s", offset, f->err.msg);
}

/* The alert of rule `rule` for manager (NULL: the team's), or NULL. */
static const se_alert *find_alert(world *w, const char *rule, const char *manager)
{
	const se_alert_run *run = se_ruletest_alerts(w->t);

	for (size_t i = 0; i < run->n; i++) {
		const se_alert *a = &run->v[i];

		if (a->rule && strcmp(a->rule->name, rule) == 0 &&
		    (manager == NULL ? a->manager == NULL : a->manager && strcmp(a->manager, manager) == 0))
			return a;
	}
	return NULL;
}

static void expect_alert(world *w, const char *rule, const char *manager, const char *state,
                         int announce)
{
	const se_alert *a = find_alert(w, rule, manager);

	if (a == NULL)
		fail_msg("no alert %s for %s", rule, manager ? manager : "the team");
	if (strcmp(a->state, state) != 0 || a->announce != announce)
		fail_msg("%s/%s: state '%s' announce %d, want '%s' %d", rule, manager ? manager : "team",
		         a->state, a->announce, state, announce);
}

static void test_hold_fire_repeat_resolve(void **state)
{
	fixture *f = *state;
	world w = { 0 };

	/* Ann: two leads, neither moves on by 6h (0 of 2 < 0.5); on day 3 both
	 * have moved (2 of 2).  Bob: one lead only, under min_sample. */
	world_start(f, &w, alert_script,
	            "D1 Ann VK | 0 A | 3d B\n"
	            "D2 Ann VK | 1h A | 3d B\n"
	            "D3 Bob VK | 0 A\n");
	eval_at(f, &w, "2h");
	expect_alert(&w, "slow", "Ann", "pending", SE_ANNOUNCE_NONE);  /* holds once, hold = 2 */
	expect_alert(&w, "slow", "Bob", "", SE_ANNOUNCE_NONE);         /* 1 < min_sample: silent */
	assert_int_equal(find_alert(&w, "slow", "Bob")->status, SE_RULE_UNKNOWN);
	eval_at(f, &w, "3h");
	expect_alert(&w, "slow", "Ann", "firing", SE_ANNOUNCE_FIRING);
	{
		const se_alert *a = find_alert(&w, "slow", "Ann");

		assert_string_equal(a->message, "Ann 0.0% 50.0% north");
		assert_string_equal(se_alert_label(a, "team"), "north");
		assert_int_equal(a->sample, 2);
	}
	eval_at(f, &w, "4h");
	expect_alert(&w, "slow", "Ann", "firing", SE_ANNOUNCE_NONE);   /* announced once */
	eval_at(f, &w, "2d4h");
	expect_alert(&w, "slow", "Ann", "firing", SE_ANNOUNCE_REPEAT); /* repeat_every 2d */
	eval_at(f, &w, "2d5h");
	expect_alert(&w, "slow", "Ann", "firing", SE_ANNOUNCE_NONE);
	eval_at(f, &w, "3d2h");
	expect_alert(&w, "slow", "Ann", "resolved", SE_ANNOUNCE_RESOLVED);
	eval_at(f, &w, "3d3h");
	expect_alert(&w, "slow", "Ann", "", SE_ANNOUNCE_NONE);         /* resolved once */
	se_ruletest_free(w.t);
}

static void test_hold_as_duration(void **state)
{
	fixture *f = *state;
	world w = { 0 };

	world_start(f, &w, alert_script, "D1 Ann VK | 0 A | 1h X\n");
	eval_at(f, &w, "2h");
	expect_alert(&w, "any_lost", NULL, "pending", SE_ANNOUNCE_NONE);
	eval_at(f, &w, "20h");
	expect_alert(&w, "any_lost", NULL, "pending", SE_ANNOUNCE_NONE); /* 18h < 1d */
	eval_at(f, &w, "1d2h");
	expect_alert(&w, "any_lost", NULL, "firing", SE_ANNOUNCE_FIRING);
	assert_true(find_alert(&w, "any_lost", NULL)->value == 1);
	se_ruletest_free(w.t);
}

/* A pending alert that stops holding goes back to nothing, silently. */
static void test_pending_clears_silently(void **state)
{
	fixture *f = *state;
	world w = { 0 };

	world_start(f, &w, alert_script, "D1 Ann VK | 0 A | 3h B\nD2 Ann VK | 0 A | 3h B\n");
	eval_at(f, &w, "1h");
	expect_alert(&w, "slow", "Ann", "pending", SE_ANNOUNCE_NONE);
	eval_at(f, &w, "4h");
	expect_alert(&w, "slow", "Ann", "", SE_ANNOUNCE_NONE);
	assert_int_equal(find_alert(&w, "slow", "Ann")->status, SE_RULE_CLEAR);
	se_ruletest_free(w.t);
}

/* The state is in the database: a second process (a new script and store
 * handle) continues where the first stopped. */
static void test_state_survives_processes(void **state)
{
	fixture *f = *state;
	se_alert_opts o = { .format = SE_OUTPUT_TABLE };
	se_alert_summary sum;
	char *text = NULL;
	size_t len = 0;
	FILE *out;

	load_script(f, alert_script);
	import_csv(f, "event_id,deal_id,ts,stage,manager,source\n"
	              "1,D1,2025-01-06T09:00:00Z,A,Ann,VK\n2,D2,2025-01-06T10:00:00Z,A,Ann,VK\n");
	for (int run = 1; run <= 4; run++) {
		se_report_free(f->rep); /* it points into the rules */
		f->rep = NULL;
		se_script_free(f->script);
		f->script = NULL;
		se_store_close(f->st);
		assert_int_equal(se_store_open(&f->st, f->db_path, 0, &f->err), SE_OK);
		assert_int_equal(se_script_load(&f->script, f->lua_path, NULL, &f->err), SE_OK);
		build(f, "2025-01-06T12:00:00Z");
		out = open_memstream(&text, &len);
		if (se_alerts_run(f->script, f->st, f->rep, &o, out, &sum, &f->err) != SE_OK)
			fail_msg("alerts: %s", f->err.msg);
		fclose(out);
		/* runs 1: pending; 2: fires (announced); 3 and 4: firing, quiet */
		assert_int_equal(sum.firing, run >= 2);
		assert_int_equal(sum.fired, run == 2);
		assert_int_equal(sum.pending, run == 1);
		if (run == 2)
			assert_string_equal(text, "FIRING   [warning] slow (f, manager Ann): Ann 0.0% 50.0% north\n");
		else
			assert_string_equal(text, "");
		free(text);
		text = NULL;
	}
}

/* ---- containment ----------------------------------------------------------------- */

static void test_broken_rules_fail_alone(void **state)
{
	fixture *f = *state;
	world w = { 0 };
	static const char *const broken[][2] = {
		{ "loop", "rules.lua:3: instruction limit (50000000) exceeded: endless loop?" },
		{ "bomb", "rules.lua:4: memory limit of one rule evaluation (16 MiB) exceeded" },
		{ "exec", "rules.lua:5: os.execute is not available in salesengine scripts (sandbox)" },
		{ "typo", "rules.lua:6: scope has no field or method 'leeds'" },
		{ "badtype", "rule 'badtype': when returned a string (want true/false, a number or nil)" },
	};
	char more[160];

	snprintf(more, sizeof more, "%s/more.lua", f->dir);
	write_file(more, "rule { name = 'syntax', when = function(s) return s:leads() > end }\n");
	world_start(f, &w,
	            "funnel { name = 'f', stages = { 'A', 'B' } }\n"
	            "rule { name = 'good', metric = 'leads', op = '>', threshold = 0 }\n"
	            "rule { name = 'loop', when = function(s) while true do end end }\n"
	            "rule { name = 'bomb', when = function(s) local t = {} for i = 1, 1e9 do t[i] = ('x'):rep(64) .. i end end }\n"
	            "rule { name = 'exec', when = function(s) return os.execute('true') end }\n"
	            "rule { name = 'typo', when = function(s) return s:leeds() > 0 end }\n"
	            "rule { name = 'badtype', when = function(s) return 'yes' end }\n"
	            "rule { name = 'good2', when = function(s) return true end }\n"
	            "rules_file 'more.lua'\n",
	            "D1 Ann VK | 0 A\n");
	eval_at(f, &w, "1h");
	expect_alert(&w, "good", NULL, "firing", SE_ANNOUNCE_FIRING);
	expect_alert(&w, "good2", NULL, "firing", SE_ANNOUNCE_FIRING);
	for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++) {
		const se_alert *a = find_alert(&w, broken[i][0], NULL);

		assert_non_null(a);
		assert_int_equal(a->status, SE_RULE_FAILED);
		if (strstr(a->message, broken[i][1]) == NULL || strstr(a->message, broken[i][0]) == NULL)
			fail_msg("message for %s: %s", broken[i][0], a->message);
	}
	{
		const se_alert_run *run = se_ruletest_alerts(w.t);
		int file_failures = 0;

		for (size_t i = 0; i < run->n; i++)
			if (run->v[i].rule == NULL) {
				file_failures++;
				assert_non_null(strstr(run->v[i].message, "more.lua:1: unexpected symbol near 'end'"));
			}
		assert_int_equal(file_failures, 1);
	}
	se_ruletest_free(w.t);
}

/* Work spent inside C (pattern backtracking, a huge table.move), a limit a
 * rule tries to swallow, a finalizer: each of these rules fails alone,
 * named with its line, within the budget, and the rules after them run. */
static void test_c_work_in_rules_fails_alone(void **state)
{
	fixture *f = *state;
	/* A tenth of the default budget: the same stops, quick in a sanitizer
	 * build too (the defaults are shown by the e2e tests). */
	static const se_script_limits budget = { .instructions = 5000000 };
	world w = { .limits = &budget };
	static const char *const broken[][2] = {
		{ "find", "rules.lua:3: instruction limit (5000000) exceeded in string.find" },
		{ "move", "rules.lua:4: instruction limit (5000000) exceeded in table.move" },
		{ "trim", "rules.lua:5: instruction limit (5000000) exceeded in string.match" },
		{ "load", "rules.lua:6: instruction limit (5000000) exceeded: endless loop?" },
		{ "handler", "rules.lua:7: instruction limit (5000000) exceeded: endless loop?" },
		{ "gc", "rules.lua:8: setmetatable: __gc finalizers are not available" },
		{ "scope_gc", "rules.lua:9: attempt to index a string value" },
		{ "slow_metric", "rules.lua:10: instruction limit (5000000) exceeded in string.find" },
	};
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	world_start(f, &w,
	            "funnel { name = 'f', stages = { 'A', 'B' } }\n"
	            "rule { name = 'good', metric = 'leads', op = '>', threshold = 0 }\n"
	            "rule { name = 'find', when = function(s) return string.find(string.rep('a', 200000), '.-.-.-.-.-b') end }\n"
	            "rule { name = 'move', when = function(s) table.move({}, 1, 2^62, 1) end }\n"
	            "rule { name = 'trim', when = function(s) return ('a' .. string.rep(' ', 60000) .. 'b'):match('^%s*(.-)%s*$') == 'a' end }\n"
	            "rule { name = 'load', when = function(s) while true do load(function() while true do end end) end end }\n"
	            "rule { name = 'handler', when = function(s) return xpcall(error, function() while true do end end) end }\n"
	            "rule { name = 'gc', when = function(s) setmetatable({}, { __gc = function() while true do end end }) end }\n"
	            "rule { name = 'scope_gc', when = function(s) getmetatable(s).__gc = function() while true do end end end }\n"
	            "metric { name = 'slow', value = function(s) return #string.find(string.rep('a', 200000), '.-.-.-.-.-b') end }\n"
	            "rule { name = 'slow_metric', metric = 'slow', op = '>', threshold = 0 }\n"
	            "rule { name = 'good2', when = function(s) return true end }\n",
	            "D1 Ann VK | 0 A\n");
	eval_at(f, &w, "1h");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	expect_alert(&w, "good", NULL, "firing", SE_ANNOUNCE_FIRING);
	expect_alert(&w, "good2", NULL, "firing", SE_ANNOUNCE_FIRING);
	for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++) {
		const se_alert *a = find_alert(&w, broken[i][0], NULL);

		assert_non_null(a);
		assert_int_equal(a->status, SE_RULE_FAILED);
		if (strstr(a->message, broken[i][1]) == NULL)
			fail_msg("message for %s: %s", broken[i][0], a->message);
	}
	/* Eight budgets of 5 million steps, in far less than a minute. */
	assert_true((double)(t1.tv_sec - t0.tv_sec) < 30.0);
	se_ruletest_free(w.t);
}

/* ---- declaration errors ---------------------------------------------------------- */

static void expect_load_error(fixture *f, const char *lua, const char *msg)
{
	se_script *sc = NULL;
	char want[600];

	write_file(f->lua_path, lua);
	if (se_script_load(&sc, f->lua_path, NULL, &f->err) == SE_OK) {
		se_script_free(sc);
		fail_msg("loaded: %s", lua);
	}
	assert_null(sc);
	snprintf(want, sizeof want, "%s/rules.lua:%s", f->dir, msg);
	assert_string_equal(f->err.msg, want);
}

#define FUNNEL "funnel { name = 'f', stages = { 'A', 'B', 'W' } }\n"

static void test_declaration_errors(void **state)
{
	fixture *f = *state;

	expect_load_error(f, FUNNEL "rule { name = 'r', metric = 'leads', treshold = 1 }\n",
	                  "2: rule: unknown key 'treshold' (did you mean 'threshold'?)");
	expect_load_error(f, FUNNEL "rule { name = 'r', metric = 'leads' }\n",
	                  "2: rule 'r': metric rules need a numeric threshold");
	expect_load_error(f, FUNNEL "rule { name = 'r' }\n",
	                  "2: rule 'r': give either metric = ... with op and threshold, or when = function(s)");
	expect_load_error(f, FUNNEL "rule { name = 'r', metric = 'leads', threshold = 1, op = '=<' }\n",
	                  "2: rule 'r': op must be one of < <= > >= == ~=, not \"=<\"");
	expect_load_error(f, FUNNEL "rule { name = 'r', metric = 'leads', threshold = 1, hold = '3x' }\n",
	                  "2: rule 'r': hold \"3x\" is not like \"90m\", \"12h\", \"3d\" or \"2w\"");
	expect_load_error(f, FUNNEL "rule { name = 'r', metric = 'leads', threshold = 1, scope = 'boss' }\n",
	                  "2: rule 'r': scope must be team, manager, source or funnel, not \"boss\"");
	{
		char msg[300];

		snprintf(msg, sizeof msg, "3: rule 'r' is declared twice (first at %s/rules.lua:2)", f->dir);
		expect_load_error(f, FUNNEL "rule { name = 'r', metric = 'leads', threshold = 1 }\n"
		                  "rule { name = 'r', metric = 'won', threshold = 1 }\n", msg);
	}
	expect_load_error(f, FUNNEL "rule { name = 'r', metric = 'quality', threshold = 1 }\n",
	                  "2: rule 'r': no metric 'quality' (built-in: leads, won, revenue, lost, "
	                  "nontarget, presale, presale_amount, forecast, conversion; or declare it with metric{})");
	expect_load_error(f, FUNNEL "rule { name = 'r', metric = 'conversion', from = 'B', to = 'A', threshold = 1 }\n",
	                  "2: rule 'r': 'B' -> 'A' is not a forward step of any funnel it covers");
	expect_load_error(f, FUNNEL "rule { name = 'r', metric = 'leads', threshold = 1, command = 'rm -rf /' }\n",
	                  "2: rule 'r': command must be a list of strings (program, then arguments; no shell)");
	expect_load_error(f, FUNNEL "metric { name = 'm', value = 3 }\n",
	                  "2: metric 'm': 'value' must be a function(s) returning a number");
	expect_load_error(f, FUNNEL "metric { name = 'won', value = function() end }\n",
	                  "2: metric 'won' is declared twice (or is a built-in name)");
	expect_load_error(f, FUNNEL "metric { name = 'm', format = 'pct', value = function() end }\n",
	                  "2: metric 'm': format must be number, percent or money, not \"pct\"");
	expect_load_error(f, "metric { name = 'm', funnel = 'f', value = function() end }\n" FUNNEL,
	                  "1: metric: no funnel 'f' is declared (declare funnels first)");
}

/* A metric that raises stops the report and names itself and its line. */
static void test_metric_error_names_metric(void **state)
{
	fixture *f = *state;
	char want[300];

	load_script(f, FUNNEL "metric { name = 'ratio', value = function(s)\n"
	               "  return s:conversion('W', 'A') end }\n");
	import_csv(f, "event_id,deal_id,ts,stage\n1,D1,2025-01-06T09:00:00Z,A\n");
	build(f, "2025-02-01T00:00:00Z");
	f->rep->reports = SE_REPORT_METRICS;
	assert_int_equal(se_script_fill_metrics(f->script, f->rep, &f->err), SE_ESCRIPT);
	snprintf(want, sizeof want, "metric 'ratio': %s/rules.lua:3: 'W' -> 'A' ...", f->dir);
	if (strstr(f->err.msg, "metric 'ratio': ") != f->err.msg ||
	    strstr(f->err.msg, "/rules.lua:3: conversion 'W' -> 'A' is not counted") == NULL)
		fail_msg("got: %s", f->err.msg);
}

/* --check's early run: on no data at all, each rule and metric runs once;
 * names that do not exist fail with the name meant (case, ё/е, spaces
 * aside), names that exist pass, a metric is checked on its own. */
static void test_check_runs_everything_once(void **state)
{
	fixture *f = *state;
	se_rule_result *res = NULL;
	size_t n = 0;
	static const char *const want[] = {
		"rules.lua:3: no metric 'leeds' (did you mean 'leads'?)",
		"rules.lua:5: 'a' is not a stage of funnel 'f' (did you mean 'A'?)",
		"rules.lua:6: 'Счет' is not a stage of funnel 'f' (did you mean 'Счёт'?)",
	};

	load_script(f, "funnel { name = 'f', stages = { 'A', 'Счёт', 'W' } }\n"
	               "metric { name = 'fine', value = function(s) return s:leads() end }\n"
	               "metric { name = 'typo', value = function(s) return s:metric('leeds') end }\n"
	               "rule { name = 'ok', metric = 'fine', op = '>', threshold = 1 }\n"
	               "rule { name = 'case', scope = 'manager', when = function(s) return s:reached('a') > 0 end }\n"
	               "rule { name = 'yo', when = function(s) return s:reached('Счет') > 0 end }\n");
	build(f, "2025-02-01T00:00:00Z");
	assert_int_equal(se_script_check(f->script, f->rep, &res, &n, &f->err), SE_OK);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(res[i].status, SE_RULE_FAILED);
		if (strstr(res[i].message, want[i]) == NULL)
			fail_msg("failure %zu: %s", i, res[i].message);
	}
	free(res);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_scope_methods_by_hand, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_runs_everything_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_current_period_and_prev, setup, teardown),
		cmocka_unit_test_setup_teardown(test_api_agrees_with_report_grids, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forecast_matches_presale_cells, setup, teardown),
		cmocka_unit_test_setup_teardown(test_diagnostics_from_lua, setup, teardown),
		cmocka_unit_test_setup_teardown(test_diagnostics_only_when_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hold_fire_repeat_resolve, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hold_as_duration, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pending_clears_silently, setup, teardown),
		cmocka_unit_test_setup_teardown(test_state_survives_processes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_broken_rules_fail_alone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_c_work_in_rules_fails_alone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_declaration_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_metric_error_names_metric, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
