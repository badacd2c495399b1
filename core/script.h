/*
 * script.h: what the rest of the core asks of the script besides its rules:
 * the values of its metric{} functions and the verdicts of its rule{}
 * conditions over a built report.  The Lua host (core/lua/) owns the
 * lua_State; callers see plain C results.
 */
#ifndef SE_SCRIPT_H
#define SE_SCRIPT_H

#include "report.h"

enum se_rule_status {
	SE_RULE_CLEAR = 0,   /* the condition does not hold */
	SE_RULE_HOLDS,       /* the condition holds */
	SE_RULE_UNKNOWN,     /* no value, or a sample below min_sample: stay silent */
	SE_RULE_FAILED       /* the rule raised, hit a limit or returned nonsense */
};

/* One rule in one scope (one funnel; one manager, one source or all). */
typedef struct se_rule_result {
	int rule;            /* index in rules->alerts; -1: a rules_file() that failed to load */
	int funnel;          /* -1 when the failure is not about one funnel */
	int64_t manager;     /* id, or -1 for all */
	int64_t source;      /* id, or -1 for all */
	int status;          /* enum se_rule_status */
	double value;        /* NAN when none */
	int64_t sample;      /* -1 when unknown */
	char message[1600];   /* SE_RULE_FAILED: "rule 'x': file:line: why" */
} se_rule_result;

/* Evaluates every rule{} against rep (which must have been built with the
 * same rules).  Each evaluation runs under the script's limits; a failing
 * rule yields one SE_RULE_FAILED result and the others still run.  *out
 * is malloc'd.  Errors only for out-of-memory. */
int se_script_eval_rules(se_script *sc, const se_report *rep, se_rule_result **out, size_t *n,
                         se_error *err);

/* The value of a metric (a metric{} name or a built-in, see
 * docs/SCRIPTING.md) for one funnel, manager and source (names; NULL for
 * all), over the bucket holding rep->as_of (whole range when total). */
int se_script_metric_value(se_script *sc, const se_report *rep, const char *metric,
                           const char *funnel, const char *manager, const char *source,
                           double *value, se_error *err);

/* For --check: every metric and rule evaluated once per funnel (team
 * scope) over rep, which may hold no data at all; *out holds only the
 * failures, "rule 'x' (file:line): file:line: why" or "metric 'x':
 * file:line: why".  Errors only for out-of-memory. */
int se_script_check(se_script *sc, const se_report *rep, se_rule_result **out, size_t *n,
                    se_error *err);

#endif
