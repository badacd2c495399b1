/*
 * test_script.c: loading rules scripts: what a valid script declares, the
 * exact message (file, line and wording) of every way a script can be wrong,
 * the sandbox, require, and the instruction and memory limits.
 *
 * Every script is a fixture in tests/fixtures/scripts/, so the path in each
 * expected message is fixed and the message is compared whole, the way Lua's
 * testes/errors.lua does.  Tests marked "Regression (fixed)" guard messages
 * that once blamed the wrong line or lost the file name.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "rules.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

#ifndef SE_SOURCE_DIR
#define SE_SOURCE_DIR "."
#endif

#define FIXTURES SE_SOURCE_DIR "/tests/fixtures/scripts"
#define LIB_DIR SE_SOURCE_DIR "/scripts/lib"

#define MiB (1u << 20)

/* A limit must stop a script "at once"; valgrind runs everything ~50x slower. */
#define LIMIT_SECONDS (RUNNING_ON_VALGRIND ? 30.0 : 1.0)

typedef struct fixture {
	se_script *sc;
	se_error err;
	double seconds;           /* how long the last load took */
	char path[PATH_MAX];      /* the fixture being loaded */
	char tmp[64];             /* scratch directory, removed by teardown */
	char tmp_sub[256];
	char tmp_file[PATH_MAX];
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof *f);

	if (f == NULL)
		return -1;
	unsetenv("SALESENGINE_TRACEBACK");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;

	se_script_free(f->sc);
	if (f->tmp_file[0] != '\0')
		unlink(f->tmp_file);
	if (f->tmp_sub[0] != '\0')
		rmdir(f->tmp_sub);
	if (f->tmp[0] != '\0')
		rmdir(f->tmp);
	unsetenv("SALESENGINE_TRACEBACK");
	free(f);
	return 0;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Loads the script at an absolute path; the error is left in f->err. */
static int load_path(fixture *f, const char *path, const se_script_limits *limits)
{
	double start = now();
	int rc;

	se_script_free(f->sc);
	f->sc = NULL;
	memset(&f->err, 0, sizeof f->err);
	rc = se_script_load(&f->sc, path, limits, &f->err);
	f->seconds = now() - start;
	return rc;
}

/* Loads tests/fixtures/scripts/<name>. */
static int load(fixture *f, const char *name, const se_script_limits *limits)
{
	snprintf(f->path, sizeof f->path, "%s/%s", FIXTURES, name);
	return load_path(f, f->path, limits);
}

static const se_rules *load_ok(fixture *f, const char *name)
{
	int rc = load(f, name, NULL);

	if (rc != SE_OK)
		print_error("%s: %s\n", name, f->err.msg);
	assert_int_equal(rc, SE_OK);
	assert_non_null(f->sc);
	return se_script_rules(f->sc);
}

/* The whole message first: a failing test then shows both texts. */
static void expect_failure(fixture *f, int rc, int code, const char *message)
{
	assert_string_equal(f->err.msg, message);
	assert_int_equal(f->err.code, code);
	assert_int_equal(rc, code);
	assert_null(f->sc); /* nothing to free: a failed load keeps nothing */
}

static void expect_error(fixture *f, const char *name, int code, const char *message)
{
	expect_failure(f, load(f, name, NULL), code, message);
}

static void expect_limit(fixture *f, const char *name, const se_script_limits *limits,
                         const char *message)
{
	expect_failure(f, load(f, name, limits), SE_ELIMIT, message);
	assert_true(f->seconds < LIMIT_SECONDS);
}

static const se_funnel *funnel_named(const se_rules *r, const char *name)
{
	for (int i = 0; i < r->n_funnels; i++)
		if (strcmp(r->funnels[i].name, name) == 0)
			return &r->funnels[i];
	fail_msg("no funnel '%s'", name);
	return NULL;
}

static int status_class(const se_funnel *fn, const char *name)
{
	int64_t code;

	if (!se_strmap_get(fn->statuses, name, strlen(name), &code))
		return SE_CLASS_UNKNOWN;
	return SE_STATUS_CLASS(code);
}

static void expect_pair(const se_pair *p, int from, int to, se_mode mode, int64_t window,
                        int extra)
{
	assert_int_equal(p->from, from);
	assert_int_equal(p->to, to);
	assert_int_equal(p->mode, mode);
	assert_int_equal(p->window, window);
	assert_int_equal(p->extra, extra);
}

static void expect_stages_(const se_funnel *fn, const char *const *names)
{
	int n = 0;

	while (names[n] != NULL)
		n++;
	assert_int_equal(fn->n_stages, n);
	for (int i = 0; i < n; i++)
		assert_string_equal(fn->stages[i].name, names[i]);
}

#define EXPECT_STAGES(fn, ...) expect_stages_((fn), (const char *const[]){__VA_ARGS__, NULL})

/* ---- a valid script ---------------------------------------------------- */

static void test_valid_settings(void **state)
{
	fixture *f = *state;
	const se_rules *r = load_ok(f, "valid.lua");

	assert_string_equal(r->timezone, "Europe/Moscow");
	assert_string_equal(r->input_timezone, "+03:00");
	assert_string_equal(se_rules_input_timezone(r), "+03:00");
	assert_int_equal(r->mode, SE_MODE_TOUCHED);
	assert_int_equal(r->period, SE_PERIOD_WEEK);
}

static void test_valid_funnels_in_script_order(void **state)
{
	fixture *f = *state;
	const se_rules *r = load_ok(f, "valid.lua");

	assert_int_equal(r->n_funnels, 2);
	assert_string_equal(r->funnels[0].name, "sales");
	assert_string_equal(r->funnels[1].name, "renewals");
}

static void test_valid_stages_won_presale_pipelines(void **state)
{
	fixture *f = *state;
	const se_funnel *fn = funnel_named(load_ok(f, "valid.lua"), "sales");
	static const int presale[] = { 0, 0, 1, 1, 0, 0 };

	EXPECT_STAGES(fn, "Lead", "Qualified", "Demo", "Proposal", "Won", "Onboarded");
	assert_int_equal(fn->won, 4);
	for (int s = 0; s < fn->n_stages; s++)
		assert_int_equal(fn->stages[s].presale, presale[s]);
	assert_int_equal(fn->n_pipelines, 2);
	assert_string_equal(fn->pipelines[0], "B2B");
	assert_string_equal(fn->pipelines[1], "Partners");
}

static void test_valid_status_map(void **state)
{
	fixture *f = *state;
	const se_rules *r = load_ok(f, "valid.lua");
	const se_funnel *fn = funnel_named(r, "sales");

	/* 6 stages, 3 aliases, 2 lost, 1 non-target */
	assert_int_equal(se_strmap_count(fn->statuses), 12);
	assert_int_equal(se_funnel_stage_index(fn, "Lead"), 0);
	assert_int_equal(se_funnel_stage_index(fn, "New lead"), 0);
	assert_int_equal(se_funnel_stage_index(fn, "Inbound"), 0);
	assert_int_equal(se_funnel_stage_index(fn, "Qualified"), 1);
	assert_int_equal(se_funnel_stage_index(fn, "Demo"), 2);
	assert_int_equal(se_funnel_stage_index(fn, "Demo scheduled"), 2);
	assert_int_equal(se_funnel_stage_index(fn, "Won"), 4);
	assert_int_equal(se_funnel_stage_index(fn, "Onboarded"), 5);
	/* lost and non-target statuses are known, but are not stages */
	assert_int_equal(se_funnel_stage_index(fn, "Lost"), -1);
	assert_int_equal(se_funnel_stage_index(fn, "Spam"), -1);
	assert_int_equal(status_class(fn, "Lost"), SE_CLASS_LOST);
	assert_int_equal(status_class(fn, "Rejected"), SE_CLASS_LOST);
	assert_int_equal(status_class(fn, "Spam"), SE_CLASS_NONTARGET);
	assert_int_equal(status_class(fn, "Inbound"), SE_CLASS_STAGE);
	/* names are exact, and each funnel knows only its own */
	assert_int_equal(se_funnel_stage_index(fn, "lead"), -1);
	assert_int_equal(se_funnel_stage_index(fn, "Lead "), -1);
	assert_int_equal(status_class(fn, "Churned"), SE_CLASS_UNKNOWN);
	assert_int_equal(se_funnel_stage_index(fn, "Due"), -1);
}

static void test_valid_pairs_adjacent_then_extra(void **state)
{
	fixture *f = *state;
	const se_funnel *fn = funnel_named(load_ok(f, "valid.lua"), "sales");

	assert_int_equal(fn->n_pairs, 5 + 5);
	for (int s = 0; s < 5; s++)
		expect_pair(&fn->pairs[s], s, s + 1, SE_MODE_DEFAULT, 0, 0);
	expect_pair(&fn->pairs[5], 0, 4, SE_MODE_REACHED, 30 * 86400, 1);  /* "30d" */
	expect_pair(&fn->pairs[6], 1, 3, SE_MODE_DEFAULT, 12 * 3600, 1);   /* "12h" */
	expect_pair(&fn->pairs[7], 2, 5, SE_MODE_TOUCHED, 2 * 86400, 1);   /* 2 (days) */
	expect_pair(&fn->pairs[8], 0, 4, SE_MODE_DEFAULT, 14 * 86400, 1);  /* "2w", by alias */
	expect_pair(&fn->pairs[9], 0, 1, SE_MODE_DEFAULT, 90 * 60, 1);     /* "90m" */
}

static void test_valid_defaults(void **state)
{
	fixture *f = *state;
	const se_funnel *fn = funnel_named(load_ok(f, "valid.lua"), "renewals");

	EXPECT_STAGES(fn, "Due", "Contacted", "Renewed");
	assert_int_equal(fn->won, 2); /* the last stage unless named */
	for (int s = 0; s < fn->n_stages; s++)
		assert_int_equal(fn->stages[s].presale, 0);
	assert_int_equal(fn->n_pipelines, 0);
	assert_int_equal(se_strmap_count(fn->statuses), 4);
	assert_int_equal(status_class(fn, "Churned"), SE_CLASS_LOST);
	assert_int_equal(status_class(fn, "Lost"), SE_CLASS_UNKNOWN);
	assert_int_equal(fn->n_pairs, 2);
	expect_pair(&fn->pairs[0], 0, 1, SE_MODE_DEFAULT, 0, 0);
	expect_pair(&fn->pairs[1], 1, 2, SE_MODE_DEFAULT, 0, 0);
}

static void test_settings_are_optional(void **state)
{
	fixture *f = *state;
	const se_rules *r = load_ok(f, "stdlib_ok.lua");

	assert_null(r->timezone);
	assert_null(r->input_timezone);
	assert_int_equal(r->mode, SE_MODE_DEFAULT);
	assert_int_equal(r->period, SE_PERIOD_DEFAULT);
	assert_string_equal(r->funnels[0].name, "main");
}

/* ---- syntax and runtime errors --------------------------------------------- */

static void test_syntax_error(void **state)
{
	expect_error(*state, "syntax_error.lua", SE_ESCRIPT,
	             FIXTURES "/syntax_error.lua:4: '}' expected (to close '{' at line 2) near 'stages'");
}

static void test_runtime_error_keeps_file_and_line(void **state)
{
	expect_error(*state, "runtime_error.lua", SE_ESCRIPT,
	             FIXTURES "/runtime_error.lua:3: attempt to call a nil value (field 'build')");
}

static void test_undefined_global(void **state)
{
	expect_error(*state, "undefined_global.lua", SE_ESCRIPT,
	             FIXTURES "/undefined_global.lua:2: undefined global 'stagse'");
}

static void test_traceback_only_when_asked(void **state)
{
	fixture *f = *state;

	setenv("SALESENGINE_TRACEBACK", "1", 1);
	expect_error(f, "runtime_error.lua", SE_ESCRIPT,
	             FIXTURES "/runtime_error.lua:3: attempt to call a nil value (field 'build')\n"
	             "stack traceback:\n"
	             "\t" FIXTURES "/runtime_error.lua:3: in main chunk");
	unsetenv("SALESENGINE_TRACEBACK");
	expect_error(f, "runtime_error.lua", SE_ESCRIPT,
	             FIXTURES "/runtime_error.lua:3: attempt to call a nil value (field 'build')");
}

/* Regression (fixed): a script that cannot be read is not a wrong script: SE_EIO
 * ("reading or writing a file"), not SE_ESCRIPT.  The message is right. */
static void test_missing_script(void **state)
{
	expect_error(*state, "no_such_script.lua", SE_EIO,
	             "cannot open " FIXTURES "/no_such_script.lua: No such file or directory");
}

/* Regression (fixed): Lua cuts chunk names to LUA_IDSIZE (60) bytes, so a script in a
 * deep directory is blamed as ".../tail-of-path.lua:1:"; every message should
 * name the script as given, like the "declares no funnel" one does. */
static void test_long_path_is_not_shortened(void **state)
{
	fixture *f = *state;
	char expected[PATH_MAX + 128];
	FILE *fp;

	snprintf(f->tmp, sizeof f->tmp, "/tmp/se-test-script-XXXXXX");
	assert_non_null(mkdtemp(f->tmp));
	snprintf(f->tmp_sub, sizeof f->tmp_sub, "%s/rules-for-the-quarterly-report-of-the-northern-region",
	         f->tmp);
	assert_int_equal(mkdir(f->tmp_sub, 0700), 0);
	snprintf(f->tmp_file, sizeof f->tmp_file, "%s/bad_key.lua", f->tmp_sub);
	fp = fopen(f->tmp_file, "w");
	assert_non_null(fp);
	fputs("funnel { name = \"sales\", stage = { \"Lead\", \"Won\" } }\n", fp);
	assert_int_equal(fclose(fp), 0);

	snprintf(expected, sizeof expected,
	         "%s:1: funnel: unknown key 'stage' (did you mean 'stages'?)", f->tmp_file);
	expect_failure(f, load_path(f, f->tmp_file, NULL), SE_ESCRIPT, expected);
}

/* ---- funnel{} and settings{} --------------------------------------------- */

static void test_unknown_key_with_suggestion(void **state)
{
	expect_error(*state, "bad_key.lua", SE_ESCRIPT,
	             FIXTURES "/bad_key.lua:3: funnel: unknown key 'stage' (did you mean 'stages'?)");
}

static void test_unknown_key_without_close_match(void **state)
{
	expect_error(*state, "unknown_key.lua", SE_ESCRIPT,
	             FIXTURES "/unknown_key.lua:1: funnel: unknown key 'colour'");
}

static void test_unknown_stage_key(void **state)
{
	expect_error(*state, "stage_bad_key.lua", SE_ESCRIPT,
	             FIXTURES "/stage_bad_key.lua:1: funnel 'sales': stage 'Lead': unknown key 'alias'"
	             " (did you mean 'aliases'?)");
}

static void test_unknown_settings_key(void **state)
{
	expect_error(*state, "settings_bad_key.lua", SE_ESCRIPT,
	             FIXTURES "/settings_bad_key.lua:1: settings: unknown key 'timezon'"
	             " (did you mean 'timezone'?)");
}

static void test_funnel_argument_not_table(void **state)
{
	expect_error(*state, "funnel_not_table.lua", SE_ESCRIPT,
	             FIXTURES "/funnel_not_table.lua:1: bad argument #1 to 'funnel'"
	             " (table expected, got string)");
}

static void test_name_not_string(void **state)
{
	expect_error(*state, "name_not_string.lua", SE_ESCRIPT,
	             FIXTURES "/name_not_string.lua:1: funnel: 'name' must be a string, not a number");
}

static void test_stages_not_table(void **state)
{
	expect_error(*state, "stages_not_table.lua", SE_ESCRIPT,
	             FIXTURES "/stages_not_table.lua:1: funnel 'sales': 'stages' must be a list of stages");
}

static void test_stage_wrong_type(void **state)
{
	expect_error(*state, "stage_wrong_type.lua", SE_ESCRIPT,
	             FIXTURES "/stage_wrong_type.lua:1: funnel 'sales': stages[2] must be a string"
	             " or a table, not a number");
}

static void test_presale_not_boolean(void **state)
{
	expect_error(*state, "presale_not_boolean.lua", SE_ESCRIPT,
	             FIXTURES "/presale_not_boolean.lua:1: funnel 'sales': stage 'Demo':"
	             " presale must be true or false");
}

static void test_lost_contains_number(void **state)
{
	expect_error(*state, "lost_number.lua", SE_ESCRIPT,
	             FIXTURES "/lost_number.lua:1: funnel 'sales': lost[2] must be a string, not a number");
}

static void test_stage_name_missing(void **state)
{
	expect_error(*state, "stage_no_name.lua", SE_ESCRIPT,
	             FIXTURES "/stage_no_name.lua:1: funnel 'sales': stages[2] needs its name"
	             " as the first element");
}

/* Regression (fixed): the funnel's name is said twice ("funnel 'sales': funnel 'sales':
 * pairs[1]: ..."): stage_or_raise() prefixes a `what` that already has it. */
static void test_pair_names_undefined_stage(void **state)
{
	expect_error(*state, "pair_undefined_stage.lua", SE_ESCRIPT,
	             FIXTURES "/pair_undefined_stage.lua:1: funnel 'sales': pairs[1]: 'Signed'"
	             " is not a stage of this funnel");
}

static void test_pair_in_wrong_order(void **state)
{
	expect_error(*state, "pair_wrong_order.lua", SE_ESCRIPT,
	             FIXTURES "/pair_wrong_order.lua:1: funnel 'sales': pairs[1]: 'Won' must come"
	             " before 'Lead' in the funnel");
}

/* Regression (fixed): a pair from a stage to its own alias is told "'Lead' must come
 * before 'Inbound' in the funnel", which no reordering can satisfy. */
static void test_pair_from_stage_to_itself(void **state)
{
	expect_error(*state, "pair_same_stage.lua", SE_ESCRIPT,
	             FIXTURES "/pair_same_stage.lua:1: funnel 'sales': pairs[1]: 'Lead' and 'Inbound'"
	             " are the same stage");
}

static void test_pair_not_table(void **state)
{
	expect_error(*state, "pair_not_table.lua", SE_ESCRIPT,
	             FIXTURES "/pair_not_table.lua:1: funnel 'sales': pairs[1] must be a table like"
	             " { \"from stage\", \"to stage\" }");
}

static void test_status_declared_as_stage_and_lost(void **state)
{
	expect_error(*state, "status_twice.lua", SE_ESCRIPT,
	             FIXTURES "/status_twice.lua:1: funnel 'sales': status 'Closed' is declared twice"
	             " (a stage and lost)");
}

static void test_alias_declared_for_two_stages(void **state)
{
	expect_error(*state, "alias_twice.lua", SE_ESCRIPT,
	             FIXTURES "/alias_twice.lua:1: funnel 'sales': status 'New' is declared twice"
	             " (stages 'Lead' and 'Demo')");
}

static void test_funnel_declared_twice(void **state)
{
	expect_error(*state, "funnel_twice.lua", SE_ESCRIPT,
	             FIXTURES "/funnel_twice.lua:3: funnel 'sales' is declared twice");
}

static void test_no_funnel(void **state)
{
	expect_error(*state, "no_funnel.lua", SE_ESCRIPT,
	             FIXTURES "/no_funnel.lua: declares no funnel"
	             " (add funnel { name = ..., stages = {...} })");
}

static void test_fewer_than_two_stages(void **state)
{
	expect_error(*state, "one_stage.lua", SE_ESCRIPT,
	             FIXTURES "/one_stage.lua:1: funnel 'sales': needs at least two stages");
}

static void test_won_is_first_stage(void **state)
{
	expect_error(*state, "won_first.lua", SE_ESCRIPT,
	             FIXTURES "/won_first.lua:1: funnel 'sales': won cannot be the first stage");
}

static void test_won_is_not_a_stage(void **state)
{
	expect_error(*state, "won_unknown.lua", SE_ESCRIPT,
	             FIXTURES "/won_unknown.lua:1: funnel 'sales': won: 'Signed' is not a stage"
	             " of this funnel");
}

/* Regression (fixed): the window message does not say which pair (the mode message
 * does: "pairs[1]: mode must be ..."), and the line is the funnel's, so with
 * several windows the user cannot tell which one is wrong. */
static void test_bad_window(void **state)
{
	expect_error(*state, "bad_window.lua", SE_ESCRIPT,
	             FIXTURES "/bad_window.lua:1: funnel 'sales': pairs[2]: window \"30days\" is not"
	             " like \"30d\", \"12h\", \"2w\" or \"90m\"");
}

static void test_bad_pair_mode(void **state)
{
	expect_error(*state, "bad_mode.lua", SE_ESCRIPT,
	             FIXTURES "/bad_mode.lua:1: funnel 'sales': pairs[1]: mode must be \"reached\""
	             " or \"touched\", not \"fast\"");
}

static void test_bad_settings_mode(void **state)
{
	expect_error(*state, "bad_settings_mode.lua", SE_ESCRIPT,
	             FIXTURES "/bad_settings_mode.lua:1: settings: mode must be \"reached\""
	             " or \"touched\", not \"all\"");
}

static void test_bad_period(void **state)
{
	expect_error(*state, "bad_period.lua", SE_ESCRIPT,
	             FIXTURES "/bad_period.lua:1: settings: period must be total, day, week or month,"
	             " not \"year\"");
}

static void test_unknown_time_zone(void **state)
{
	expect_error(*state, "bad_timezone.lua", SE_ESCRIPT,
	             FIXTURES "/bad_timezone.lua:2: settings: timezone: unknown time zone"
	             " 'Mars/Olympus_Mons'");
}

/* ---- the sandbox ------------------------------------------------------------ */

static void test_os_execute_blocked(void **state)
{
	static const char marker[] = "/tmp/salesengine-sandbox-escaped";
	struct stat st;

	unlink(marker);
	expect_error(*state, "os_execute.lua", SE_ESCRIPT,
	             FIXTURES "/os_execute.lua:2: os.execute is not available in salesengine scripts"
	             " (sandbox)");
	assert_int_not_equal(stat(marker, &st), 0);
}

static void test_os_exit_blocked(void **state)
{
	expect_error(*state, "os_exit.lua", SE_ESCRIPT,
	             FIXTURES "/os_exit.lua:2: os.exit is not available in salesengine scripts (sandbox)");
}

static void test_os_getenv_blocked(void **state)
{
	expect_error(*state, "os_getenv.lua", SE_ESCRIPT,
	             FIXTURES "/os_getenv.lua:1: os.getenv is not available in salesengine scripts"
	             " (sandbox)");
}

static void test_io_open_blocked(void **state)
{
	expect_error(*state, "io_open.lua", SE_ESCRIPT,
	             FIXTURES "/io_open.lua:3: io.open is not available in salesengine scripts (sandbox)");
}

static void test_io_write_blocked(void **state)
{
	expect_error(*state, "io_write.lua", SE_ESCRIPT,
	             FIXTURES "/io_write.lua:2: io.write is not available in salesengine scripts (sandbox)");
}

static void test_dofile_blocked(void **state)
{
	expect_error(*state, "dofile.lua", SE_ESCRIPT,
	             FIXTURES "/dofile.lua:1: dofile is not available in salesengine scripts (sandbox)");
}

static void test_loadfile_blocked(void **state)
{
	expect_error(*state, "loadfile.lua", SE_ESCRIPT,
	             FIXTURES "/loadfile.lua:1: loadfile is not available in salesengine scripts (sandbox)");
}

static void test_string_dump_blocked(void **state)
{
	expect_error(*state, "string_dump.lua", SE_ESCRIPT,
	             FIXTURES "/string_dump.lua:1: string.dump is not available in salesengine scripts"
	             " (sandbox)");
}

/* Strings share the string table as their metatable's __index. */
static void test_string_dump_blocked_as_method(void **state)
{
	expect_error(*state, "string_method_dump.lua", SE_ESCRIPT,
	             FIXTURES "/string_method_dump.lua:2: string.dump is not available in salesengine"
	             " scripts (sandbox)");
}

static void test_debug_getinfo_blocked(void **state)
{
	expect_error(*state, "debug_getinfo.lua", SE_ESCRIPT,
	             FIXTURES "/debug_getinfo.lua:2: debug.getinfo is not available in salesengine"
	             " scripts (sandbox)");
}

static void test_package_loadlib_blocked(void **state)
{
	expect_error(*state, "package_loadlib.lua", SE_ESCRIPT,
	             FIXTURES "/package_loadlib.lua:1: package.loadlib is not available in salesengine"
	             " scripts (sandbox)");
}

static void test_collectgarbage_blocked(void **state)
{
	expect_error(*state, "collectgarbage.lua", SE_ESCRIPT,
	             FIXTURES "/collectgarbage.lua:1: collectgarbage is not available in salesengine"
	             " scripts (sandbox)");
}

static void test_coroutines_not_opened(void **state)
{
	expect_error(*state, "coroutine.lua", SE_ESCRIPT,
	             FIXTURES "/coroutine.lua:2: undefined global 'coroutine'");
}

/* The fixture hands load() a bytecode header ("\27Lua", version 5.4) and
 * raises the refusal itself, so the message carries its line. */
static void test_load_refuses_binary_chunk(void **state)
{
	expect_error(*state, "load_binary.lua", SE_ESCRIPT,
	             FIXTURES "/load_binary.lua:4: attempt to load a binary chunk (mode is 't')");
}

static void test_load_refuses_binary_chunk_in_mode_b(void **state)
{
	expect_error(*state, "load_binary_mode_b.lua", SE_ESCRIPT,
	             FIXTURES "/load_binary_mode_b.lua:4: attempt to load a binary chunk (mode is 't')");
}

static void test_loaded_text_runs_in_the_sandbox(void **state)
{
	expect_error(*state, "load_text_sandboxed.lua", SE_ESCRIPT,
	             "inner:1: os.execute is not available in salesengine scripts (sandbox)");
}

static void test_harmless_libraries_work(void **state)
{
	fixture *f = *state;
	const se_rules *r = load_ok(f, "stdlib_ok.lua");

	assert_int_equal(r->n_funnels, 1);
	EXPECT_STAGES(&r->funnels[0], "Lead", "Qualified", "Won");
}

/* ---- require -------------------------------------------------------------- */

static void test_require_module_beside_script(void **state)
{
	fixture *f = *state;
	const se_rules *r = load_ok(f, "req/main.lua");
	const se_funnel *fn;

	/* the module declared while it was required, before the script's own */
	assert_int_equal(r->n_funnels, 2);
	assert_string_equal(r->funnels[0].name, "renewals");
	assert_string_equal(r->funnels[1].name, "sales");
	fn = &r->funnels[1];
	EXPECT_STAGES(fn, "Lead", "Demo", "Won");            /* from names.lua */
	assert_int_equal(status_class(fn, "Churned"), SE_CLASS_LOST); /* from sub/util.lua */
	/* names.lua counted its loads and main.lua asserted 1 */
}

static void test_require_error_blames_module(void **state)
{
	expect_error(*state, "req/main_bad_module.lua", SE_ESCRIPT,
	             FIXTURES "/req/bad_declare.lua:3: funnel 'renewals': needs at least two stages");
}

static void test_require_syntax_error_in_module(void **state)
{
	expect_error(*state, "req/main_syntax_module.lua", SE_ESCRIPT,
	             FIXTURES "/req/broken.lua:2: '}' expected near '\"Won\"'");
}

static void test_require_missing_module(void **state)
{
	expect_error(*state, "require_missing.lua", SE_ESCRIPT,
	             FIXTURES "/require_missing.lua:2: require: module 'os' not found (looked in "
	             FIXTURES " and " LIB_DIR ")");
}

static void test_require_parent_directory(void **state)
{
	expect_error(*state, "require_parent.lua", SE_ESCRIPT,
	             FIXTURES "/require_parent.lua:1: require: bad module name '../valid'");
}

static void test_require_double_dot(void **state)
{
	expect_error(*state, "require_dotdot.lua", SE_ESCRIPT,
	             FIXTURES "/require_dotdot.lua:1: require: bad module name 'req..helper'");
}

static void test_require_absolute_path(void **state)
{
	expect_error(*state, "require_absolute.lua", SE_ESCRIPT,
	             FIXTURES "/require_absolute.lua:1: require: bad module name '/etc/passwd'");
}

/* Regression (fixed): two modules requiring each other recurse until Lua gives up
 * with a bare "C stack overflow", naming neither a file nor a module. */
static void test_require_cycle(void **state)
{
	expect_error(*state, "req/main_cycle.lua", SE_ESCRIPT,
	             FIXTURES "/req/cycle_b.lua:1: require: module 'cycle_a' requires itself"
	             " (cycle_a -> cycle_b -> cycle_a)");
}

/* ---- limits --------------------------------------------------------------- */

static const se_script_limits few_instructions = { .instructions = 100000 };
static const se_script_limits little_memory = { .memory = 8 * MiB };

/* The limit itself works; the exact messages are checked (and disagreed
 * with) below. */
static void test_instruction_limit_stops_endless_loop(void **state)
{
	fixture *f = *state;
	static const char tail[] = "instruction limit (100000) exceeded: endless loop?";
	size_t len;

	assert_int_equal(load(f, "endless_loop.lua", &few_instructions), SE_ELIMIT);
	assert_int_equal(f->err.code, SE_ELIMIT);
	assert_null(f->sc);
	assert_true(f->seconds < LIMIT_SECONDS);
	len = strlen(f->err.msg);
	assert_true(len >= strlen(tail));
	assert_string_equal(f->err.msg + len - strlen(tail), tail);
}

/* Regression (fixed): the hook raises with luaL_error(), which blames the caller of
 * the running function; the main chunk has none, so the message has no
 * file:line at all ("instruction limit (100000) exceeded: endless loop?"). */
static void test_instruction_limit_names_line(void **state)
{
	expect_limit(*state, "endless_loop.lua", &few_instructions,
	             FIXTURES "/endless_loop.lua:2: instruction limit (100000) exceeded: endless loop?");
}

/* Regression (fixed): the loop is on line 2 but line 5 (the call of spin()) is
 * blamed, for the same reason. */
static void test_instruction_limit_names_loop_not_caller(void **state)
{
	expect_limit(*state, "spin_in_function.lua", &few_instructions,
	             FIXTURES "/spin_in_function.lua:2: instruction limit (100000) exceeded:"
	             " endless loop?");
}

/* Regression (fixed): pcall() catches the limit's error and the script runs on; the
 * hook fires again only after HOOK_EVERY more instructions, i.e. inside the
 * next pcall, so `while true do pcall(spin) end` never stops.  The fixture
 * gives up after three catches and raises a plain error instead (which is
 * then reported as SE_ELIMIT with no file:line). */
static void test_instruction_limit_survives_pcall(void **state)
{
	expect_limit(*state, "pcall_escape.lua", &few_instructions,
	             FIXTURES "/pcall_escape.lua:4: instruction limit (100000) exceeded: endless loop?");
}

static void test_memory_limit_growing_table(void **state)
{
	expect_limit(*state, "memory_table.lua", &little_memory,
	             FIXTURES "/memory_table.lua:2: memory limit (8388608 bytes) exceeded");
}

static void test_memory_limit_one_huge_string(void **state)
{
	expect_limit(*state, "memory_rep.lua", &little_memory,
	             FIXTURES "/memory_rep.lua:2: memory limit (8388608 bytes) exceeded");
}

/* A limit is final: pcall cannot catch the memory error and carry on (the
 * later mistake on line 4 is never reached), and the message still blames
 * the line that ran out. */
static void test_caught_memory_error_does_not_mask_later_error(void **state)
{
	expect_limit(*state, "memory_then_error.lua", NULL,
	             FIXTURES "/memory_then_error.lua:2: memory limit (67108864 bytes) exceeded");
}

/* A script that stays under its limits is unaffected by them. */
static void test_limits_allow_normal_script(void **state)
{
	fixture *f = *state;
	static const se_script_limits tight = { .instructions = 100000, .memory = 8 * MiB };

	assert_int_equal(load(f, "valid.lua", &tight), SE_OK);
	assert_int_equal(se_script_rules(f->sc)->n_funnels, 2);
}

/* ---- failed loads keep nothing --------------------------------------------- */

/* Every kind of failure, in one state after another: under valgrind or ASan
 * any leak from an error path shows up here. */
static void test_failed_loads_free_everything(void **state)
{
	fixture *f = *state;
	static const char *const scripts[] = {
		"syntax_error.lua", "bad_key.lua", "pair_undefined_stage.lua", "status_twice.lua",
		"bad_timezone.lua", "no_funnel.lua", "req/main_bad_module.lua", "req/main_cycle.lua",
		"os_execute.lua", "lost_number.lua", "bad_window.lua", "funnel_twice.lua",
	};

	for (size_t i = 0; i < sizeof scripts / sizeof scripts[0]; i++) {
		assert_int_equal(load(f, scripts[i], NULL), SE_ESCRIPT);
		assert_null(f->sc);
	}
	assert_int_equal(load(f, "memory_rep.lua", &little_memory), SE_ELIMIT);
	assert_null(f->sc);
	assert_int_equal(load(f, "endless_loop.lua", &few_instructions), SE_ELIMIT);
	assert_null(f->sc);
	assert_int_equal(load(f, "memory_table.lua", &little_memory), SE_ELIMIT);
	assert_null(f->sc);
}

/* ---- work done in C, limits that cannot be swallowed ----------------------- */

/* Writes text as a script of its own in a scratch directory and loads it. */
static int load_text(fixture *f, const char *text, const se_script_limits *limits)
{
	FILE *fp;

	if (f->tmp[0] == '\0') {
		snprintf(f->tmp, sizeof f->tmp, "/tmp/se-test-script-XXXXXX");
		assert_non_null(mkdtemp(f->tmp));
	}
	snprintf(f->tmp_file, sizeof f->tmp_file, "%s/s.lua", f->tmp);
	fp = fopen(f->tmp_file, "w");
	assert_non_null(fp);
	fputs("funnel { name = 'f', stages = { 'A', 'B' } }\n", fp);
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
	return load_path(f, f->tmp_file, limits);
}

/* The script's line 2 (line 1 declares the funnel) stops with tail, in
 * well under the 5 s a user would wait. */
static void expect_stopped(fixture *f, const char *text, const se_script_limits *limits,
                           const char *tail)
{
	char want[PATH_MAX + 200];
	int rc = load_text(f, text, limits);

	snprintf(want, sizeof want, "%s:2: %s", f->tmp_file, tail);
	expect_failure(f, rc, SE_ELIMIT, want);
	assert_true(f->seconds < 5.0);
}

/* A tenth of the default budget keeps sanitizer builds quick too. */
static const se_script_limits tenth = { .instructions = 5000000 };

/* Backtracking inside one string.find: minutes in Lua's own matcher; here
 * its steps count as instructions. */
static void test_limit_stops_backtracking_find(void **state)
{
	expect_stopped(*state, "string.find(string.rep('a', 200000), '.-.-.-.-.-b')\n", &tenth,
	               "instruction limit (5000000) exceeded in string.find");
}

/* The everyday trim idiom over a long blank string is quadratic. */
static void test_limit_stops_trim_idiom(void **state)
{
	expect_stopped(*state,
	               "local s = ('a' .. string.rep(' ', 60000) .. 'b'):match('^%s*(.-)%s*$')\n", &tenth,
	               "instruction limit (5000000) exceeded in string.match");
}

static void test_limit_stops_gmatch_and_gsub(void **state)
{
	expect_stopped(*state,
	               "for w in string.rep('a', 100000):gmatch('.-.-b') do end\n", &few_instructions,
	               "instruction limit (100000) exceeded in string.gmatch");
	expect_stopped(*state, "local s = string.rep('a', 100000):gsub('.-.-b', 'x')\n",
	               &few_instructions, "instruction limit (100000) exceeded in string.gsub");
}

/* 2^62 elements moved without allocating anything: refused before it
 * starts, since the work cannot fit the budget. */
static void test_limit_stops_table_move(void **state)
{
	expect_stopped(*state, "table.move({}, 1, 2^62, 1)\n", NULL,
	               "instruction limit (50000000) exceeded in table.move");
}

/* A length that lies: table.insert would shift 2^62 elements. */
static void test_limit_stops_insert_with_lying_length(void **state)
{
	expect_stopped(*state,
	               "table.insert(setmetatable({}, { __len = function() return 2^62 end }), 1, 'x')\n",
	               NULL, "instruction limit (50000000) exceeded in table.insert");
}

/* Work that is neither instructions nor pattern steps (each upper() copies
 * a megabyte) meets the clock. */
static void test_time_limit_stops_work_in_c(void **state)
{
	static const se_script_limits quick = { .seconds = 0.3 };

	expect_stopped(*state,
	               "local s = string.rep('a', 1 << 20) while true do local t = s:upper() end\n",
	               &quick, "time limit (0.3 s) exceeded");
}

/* load() with a reader function returns the reader's error as a value;
 * a limit hit there still ends the script (line 3 is never reached). */
static void test_load_cannot_swallow_the_limit(void **state)
{
	expect_stopped(*state, "load(function() while true do end end)\nerror('not reached')\n",
	               &few_instructions, "instruction limit (100000) exceeded: endless loop?");
	expect_stopped(*state, "while true do load(function() while true do end end) end\n",
	               &few_instructions, "instruction limit (100000) exceeded: endless loop?");
}

/* A message handler that loops gets one step after the limit. */
static void test_xpcall_handler_cannot_swallow_the_limit(void **state)
{
	expect_stopped(*state,
	               "xpcall(function() while true do end end, function() while true do end end)\n"
	               "error('not reached')\n",
	               &few_instructions, "instruction limit (100000) exceeded: endless loop?");
	expect_stopped(*state,
	               "pcall(string.find, string.rep('a', 200000), '.-.-.-.-.-b')\nerror('not reached')\n",
	               &tenth, "instruction limit (5000000) exceeded in string.find");
}

/* Finalizers run with Lua's hooks off, where no limit reaches: refused. */
static void test_gc_finalizers_refused(void **state)
{
	fixture *f = *state;
	char want[PATH_MAX + 200];
	int rc = load_text(f, "setmetatable({}, { __gc = function() while true do end end })\n", NULL);

	snprintf(want, sizeof want,
	         "%s:2: setmetatable: __gc finalizers are not available in salesengine scripts (sandbox)",
	         f->tmp_file);
	expect_failure(f, rc, SE_ESCRIPT, want);
	/* Metatables without __gc still work. */
	assert_int_equal(load_text(f, "assert(getmetatable(setmetatable({}, { __index = {} })))\n", NULL),
	                 SE_OK);
}

/* error({}) has no text of its own: the line that raised it is named. */
static void test_error_object_names_line(void **state)
{
	fixture *f = *state;
	char want[PATH_MAX + 200];
	int rc = load_text(f, "error({})\n", NULL);

	snprintf(want, sizeof want, "%s:2: (error object is a table value)", f->tmp_file);
	expect_failure(f, rc, SE_ESCRIPT, want);
}

static void collect_print(void *ud, const char *text, size_t len)
{
	char *out = ud;
	size_t used = strlen(out);

	if (used + len < 256) {
		memcpy(out + used, text, len);
		out[used + len] = '\0';
	}
}

/* print() goes to the host's callback, as Lua would format it; without
 * one it is dropped (the library never writes to stdout). */
static void test_print_goes_to_the_callback(void **state)
{
	fixture *f = *state;
	char out[256] = "";
	se_script_limits with_print = { .on_print = collect_print, .print_ud = out };

	assert_int_equal(load_text(f, "print('a', 1, nil, true)\nprint()\n", &with_print), SE_OK);
	assert_string_equal(out, "a\t1\tnil\ttrue\n\n");
	assert_int_equal(load_text(f, "print('dropped')\n", NULL), SE_OK);
}

#define TEST(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(test_valid_settings),
		TEST(test_valid_funnels_in_script_order),
		TEST(test_valid_stages_won_presale_pipelines),
		TEST(test_valid_status_map),
		TEST(test_valid_pairs_adjacent_then_extra),
		TEST(test_valid_defaults),
		TEST(test_settings_are_optional),
		TEST(test_syntax_error),
		TEST(test_runtime_error_keeps_file_and_line),
		TEST(test_undefined_global),
		TEST(test_traceback_only_when_asked),
		TEST(test_missing_script),
		TEST(test_long_path_is_not_shortened),
		TEST(test_unknown_key_with_suggestion),
		TEST(test_unknown_key_without_close_match),
		TEST(test_unknown_stage_key),
		TEST(test_unknown_settings_key),
		TEST(test_funnel_argument_not_table),
		TEST(test_name_not_string),
		TEST(test_stages_not_table),
		TEST(test_stage_wrong_type),
		TEST(test_presale_not_boolean),
		TEST(test_lost_contains_number),
		TEST(test_stage_name_missing),
		TEST(test_pair_names_undefined_stage),
		TEST(test_pair_in_wrong_order),
		TEST(test_pair_from_stage_to_itself),
		TEST(test_pair_not_table),
		TEST(test_status_declared_as_stage_and_lost),
		TEST(test_alias_declared_for_two_stages),
		TEST(test_funnel_declared_twice),
		TEST(test_no_funnel),
		TEST(test_fewer_than_two_stages),
		TEST(test_won_is_first_stage),
		TEST(test_won_is_not_a_stage),
		TEST(test_bad_window),
		TEST(test_bad_pair_mode),
		TEST(test_bad_settings_mode),
		TEST(test_bad_period),
		TEST(test_unknown_time_zone),
		TEST(test_os_execute_blocked),
		TEST(test_os_exit_blocked),
		TEST(test_os_getenv_blocked),
		TEST(test_io_open_blocked),
		TEST(test_io_write_blocked),
		TEST(test_dofile_blocked),
		TEST(test_loadfile_blocked),
		TEST(test_string_dump_blocked),
		TEST(test_string_dump_blocked_as_method),
		TEST(test_debug_getinfo_blocked),
		TEST(test_package_loadlib_blocked),
		TEST(test_collectgarbage_blocked),
		TEST(test_coroutines_not_opened),
		TEST(test_load_refuses_binary_chunk),
		TEST(test_load_refuses_binary_chunk_in_mode_b),
		TEST(test_loaded_text_runs_in_the_sandbox),
		TEST(test_harmless_libraries_work),
		TEST(test_require_module_beside_script),
		TEST(test_require_error_blames_module),
		TEST(test_require_syntax_error_in_module),
		TEST(test_require_missing_module),
		TEST(test_require_parent_directory),
		TEST(test_require_double_dot),
		TEST(test_require_absolute_path),
		TEST(test_require_cycle),
		TEST(test_instruction_limit_stops_endless_loop),
		TEST(test_instruction_limit_names_line),
		TEST(test_instruction_limit_names_loop_not_caller),
		TEST(test_instruction_limit_survives_pcall),
		TEST(test_memory_limit_growing_table),
		TEST(test_memory_limit_one_huge_string),
		TEST(test_caught_memory_error_does_not_mask_later_error),
		TEST(test_limits_allow_normal_script),
		TEST(test_failed_loads_free_everything),
		TEST(test_limit_stops_backtracking_find),
		TEST(test_limit_stops_trim_idiom),
		TEST(test_limit_stops_gmatch_and_gsub),
		TEST(test_limit_stops_table_move),
		TEST(test_limit_stops_insert_with_lying_length),
		TEST(test_time_limit_stops_work_in_c),
		TEST(test_load_cannot_swallow_the_limit),
		TEST(test_xpcall_handler_cannot_swallow_the_limit),
		TEST(test_gc_finalizers_refused),
		TEST(test_error_object_names_line),
		TEST(test_print_goes_to_the_callback),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
