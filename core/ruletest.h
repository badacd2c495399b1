/*
 * ruletest.h: the machinery behind `salesengine test`: a throwaway store,
 * the rules script under test, synthetic deal histories on a virtual
 * clock, and evaluations at chosen times.
 *
 * Owns: the temporary directory and database of one test, parsing the
 * compact deal notation (docs/SCRIPTING.md, "Rule tests") into events,
 * importing the events whose time has come through the canonical import,
 * and building the report and alert states as of each evaluation time.
 *
 * Never: touches Lua or reads test files: core/lua/testfile.c reads them
 * into plain C (testfile.h) and the program's cli_test.c compares what is
 * expected with what this reports.
 */
#ifndef SE_RULETEST_H
#define SE_RULETEST_H

#include "alerts.h"

typedef struct se_ruletest se_ruletest;

/* Loads the rules script and opens a fresh store in a temporary directory. */
int se_ruletest_start(se_ruletest **out, const char *rules_path, const se_script_limits *limits,
                      se_error *err);
void se_ruletest_free(se_ruletest *t);

/* "2026-11-02 09:00" (in the rules' zone), or an offset from start such
 * as "0", "90m", "2h", "3d", "1w", "1d12h" when start is given (>= 0). */
int se_ruletest_time(const se_ruletest *t, const char *s, int64_t start, int64_t *out,
                     se_error *err);

/* Adds the deals of the notation, times relative to start. */
int se_ruletest_add_deals(se_ruletest *t, const char *text, int64_t start, se_error *err);

/* Imports every event up to `at`, builds the report as of `at` and
 * evaluates the rules (their state advances, as in a real run). */
int se_ruletest_eval(se_ruletest *t, int64_t at, se_error *err);

/* The alerts of the last evaluation. */
const se_alert_run *se_ruletest_alerts(const se_ruletest *t);

/* A metric's value as of the last evaluation (see se_script_metric_value). */
int se_ruletest_metric(se_ruletest *t, const char *metric, const char *funnel, const char *manager,
                       const char *source, double *value, se_error *err);

#endif
