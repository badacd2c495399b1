/*
 * testfile.h: a rule test file (docs/SCRIPTING.md, "Rule tests") read into
 * plain C.  The Lua host (core/lua/testfile.c) runs the file in the sandbox
 * and turns each test{} into an se_test; the program's `salesengine test`
 * (core/cli_test.c) runs them through ruletest.h and prints the result.
 *
 * Reading never runs a test: the Lua host stays below the store, the import
 * and the alerts instead of calling them from a declaration.
 */
#ifndef SE_TESTFILE_H
#define SE_TESTFILE_H

#include "salesengine.h"

#include <stddef.h>

/* The alert-state lists a step may check, in the order they are checked. */
enum { SE_TEST_FIRING, SE_TEST_PENDING, SE_TEST_RESOLVED, SE_TEST_FAILED, SE_TEST_FIRED,
       SE_TEST_REPEATED, SE_TEST_N_LISTS };
extern const char *const se_test_list_names[SE_TEST_N_LISTS];

enum se_test_field_kind {
	SE_TEST_IGNORED = 0, /* a key that is not a label: tolerance, or not a string */
	SE_TEST_VALUE,       /* value = number: compared within the tolerance */
	SE_TEST_LABEL        /* any other key: the alert's label must be equal */
};

/* One key of an expected alert, in the order Lua's next() gave it. */
typedef struct se_test_field {
	char *key;           /* as printed */
	char *shown;         /* the value as printed (tostring) */
	int kind;            /* enum se_test_field_kind */
	int numeric;         /* SE_TEST_VALUE: the value converts to a number */
	double number;
	char *want;          /* SE_TEST_LABEL: NULL when not a string or number */
} se_test_field;

typedef struct se_test_alert {
	double tolerance;
	se_test_field *f;
	size_t n;
} se_test_alert;

/* { "name", funnel = ..., manager = ..., source = ..., value = ..., tolerance = ... } */
typedef struct se_test_metric {
	char *name, *funnel, *manager, *source;
	double tolerance;
	int want_nil;        /* value = nil: the metric must have no value */
	double want;
} se_test_metric;

typedef struct se_test_step {
	char *at;
	int has_list[SE_TEST_N_LISTS];
	se_test_alert *list[SE_TEST_N_LISTS];
	size_t n_list[SE_TEST_N_LISTS];
	se_test_metric *metrics;
	size_t n_metrics;
} se_test_step;

typedef struct se_test {
	char *name, *rules, *start, *deals; /* rules: the path, resolved against the file's folder */
	char *where;         /* "file:line: " of the test{} call, as Lua shortens it */
	char *where_full;    /* the same with the file's whole path, for error messages */
	se_test_step *steps;
	size_t n_steps;
	int complete;        /* 0: reading stopped inside this test{}; never run it */
} se_test;

typedef struct se_test_file {
	se_test *tests;
	size_t n, cap;
} se_test_file;

/* Runs the test file at path in the sandbox and returns what its test{}
 * calls declare.  On failure *out still holds the tests read before the
 * error (they ran before it in the file's order) and err says why. */
int se_script_read_tests(const char *path, const se_script_limits *limits, se_test_file **out,
                         se_error *err);
void se_test_file_free(se_test_file *tf);

#endif
