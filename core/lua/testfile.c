/*
 * testfile.c: reading a rule test file.  The file is a script of its own,
 * in the same sandbox as a rules script; each test{} call is checked and
 * copied into an se_test (testfile.h): the rules script it names, the
 * deals, and the evaluations with what each expects.
 *
 * Owns: the checks of test{} tables and their messages.  Never: runs a
 * test or prints; the program's `salesengine test` does both, so this host
 * never calls up into the store, the import or the alerts.
 *
 * Everything copied is attached to the file's se_test_file at once, so an
 * error raised half way through a test{} leaks nothing: the caller frees
 * the whole file, and a test left incomplete is marked so.
 */
#include "host.h"
#include "testfile.h"
#include "vec.h"

const char *const se_test_list_names[SE_TEST_N_LISTS] = { "firing", "pending", "resolved",
	                                                      "failed", "fired", "repeated" };

static char *copy_or_raise(lua_State *L, const char *s)
{
	char *d;

	if (s == NULL)
		return NULL;
	if ((d = strdup(s)) == NULL)
		luaL_error(L, "out of memory");
	return d;
}

static void *zalloc_or_raise(lua_State *L, size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (p == NULL)
		luaL_error(L, "out of memory");
	return p;
}

static double opt_tolerance(lua_State *L, int t)
{
	double tolerance = 1e-9;

	if (lua_getfield(L, t, "tolerance") == LUA_TNUMBER)
		tolerance = lua_tonumber(L, -1);
	lua_pop(L, 1);
	return tolerance;
}

/* An expected alert: every key but value/tolerance is a label that must be
 * equal (partial matching).  Keys keep next()'s order, which is the order a
 * failure prints them in. */
static void read_alert(lua_State *L, int e, se_test_alert *x)
{
	size_t n = 0;

	x->tolerance = opt_tolerance(L, e);
	lua_pushnil(L);
	while (lua_next(L, e) != 0) {
		lua_pop(L, 1);
		n++;
	}
	x->f = zalloc_or_raise(L, n, sizeof *x->f);
	lua_pushnil(L);
	while (lua_next(L, e) != 0 && x->n < n) {
		se_test_field *f = &x->f[x->n++];
		const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
		const char *shown;

		lua_pushvalue(L, -2);
		shown = lua_tostring(L, -1); /* a copy of the key: next() needs the original */
		f->key = copy_or_raise(L, shown ? shown : "(null)");
		lua_pop(L, 1);
		f->shown = copy_or_raise(L, luaL_tolstring(L, -1, NULL));
		lua_pop(L, 1);
		if (key == NULL || strcmp(key, "tolerance") == 0) {
			f->kind = SE_TEST_IGNORED;
		} else if (strcmp(key, "value") == 0) {
			f->kind = SE_TEST_VALUE;
			f->numeric = lua_isnumber(L, -1);
			f->number = f->numeric ? lua_tonumber(L, -1) : 0;
		} else {
			f->kind = SE_TEST_LABEL;
			if (lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER) {
				lua_pushvalue(L, -1);
				f->want = copy_or_raise(L, lua_tostring(L, -1));
				lua_pop(L, 1);
			}
		}
		lua_pop(L, 1);
	}
}

static void read_state_list(lua_State *L, int list, int which, se_test_step *st)
{
	const char *state = se_test_list_names[which];
	lua_Integer n = (lua_Integer)lua_rawlen(L, list);

	st->has_list[which] = 1;
	st->list[which] = zalloc_or_raise(L, (size_t)n, sizeof *st->list[which]);
	for (lua_Integer i = 1; i <= n; i++) {
		if (lua_rawgeti(L, list, i) != LUA_TTABLE)
			luaL_error(L, "test: %s[%d] must be a table like { rule = \"name\", manager = \"...\" }",
			           state, (int)i);
		read_alert(L, lua_gettop(L), &st->list[which][st->n_list[which]++]);
		lua_pop(L, 1);
	}
}

/* metrics = { { "name", manager = ..., source = ..., funnel = ..., value = ... }, ... } */
static void read_metrics(lua_State *L, int list, se_test_step *st)
{
	lua_Integer n = (lua_Integer)lua_rawlen(L, list);

	st->metrics = zalloc_or_raise(L, (size_t)n, sizeof *st->metrics);
	for (lua_Integer i = 1; i <= n; i++) {
		se_test_metric *m = &st->metrics[st->n_metrics++];
		int item;

		if (lua_rawgeti(L, list, i) != LUA_TTABLE)
			luaL_error(L, "test: metrics[%d] must be a table like { \"name\", value = 0.5 }", (int)i);
		item = lua_gettop(L);
		lua_rawgeti(L, item, 1);
		m->name = copy_or_raise(L, lua_tostring(L, -1));
		m->funnel = copy_or_raise(L, se_lua_opt_string_field(L, item, "funnel", "test metrics"));
		m->manager = copy_or_raise(L, se_lua_opt_string_field(L, item, "manager", "test metrics"));
		m->source = copy_or_raise(L, se_lua_opt_string_field(L, item, "source", "test metrics"));
		m->tolerance = opt_tolerance(L, item);
		if (m->name == NULL)
			luaL_error(L, "test: metrics[%d] needs the metric's name first", (int)i);
		if (lua_getfield(L, item, "value") == LUA_TNIL)
			m->want_nil = 1;
		else if (!lua_isnumber(L, -1))
			luaL_error(L, "test: metrics[%d]: value must be a number or nil", (int)i);
		else
			m->want = lua_tonumber(L, -1);
		lua_settop(L, item - 1);
	}
}

static void read_step(lua_State *L, int step, se_test_step *st)
{
	st->at = copy_or_raise(L, se_lua_opt_string_field(L, step, "at", "test step"));
	if (st->at == NULL)
		luaL_error(L, "test: every step needs at = \"3d\" (offset from start) or a date");
	for (int s = 0; s < SE_TEST_N_LISTS; s++) {
		if (lua_getfield(L, step, se_test_list_names[s]) == LUA_TTABLE)
			read_state_list(L, lua_gettop(L), s, st);
		else if (!lua_isnil(L, -1))
			luaL_error(L, "test: %s must be a list of expected alerts", se_test_list_names[s]);
		lua_pop(L, 1);
	}
	if (lua_getfield(L, step, "metrics") == LUA_TTABLE)
		read_metrics(L, lua_gettop(L), st);
	lua_pop(L, 1);
}

/* The test being read, re-fetched after every call that could run Lua
 * (a metamethod may not call test{} again: see reading below). */
static se_test *add_test(lua_State *L, se_test_file *tf)
{
	if (SE_VEC_RESERVE(tf->tests, tf->cap, tf->n + 1, 8) != SE_OK)
		luaL_error(L, "out of memory");
	memset(&tf->tests[tf->n], 0, sizeof tf->tests[tf->n]);
	return &tf->tests[tf->n++];
}

static int l_test(lua_State *L)
{
	static const char *const keys[] = { "name", "rules", "start", "deals", "steps", NULL };
	static const char *const step_keys[] = { "at", "firing", "pending", "resolved", "failed",
		                                     "fired", "repeated", "metrics", NULL };
	sandbox *sb = get_sandbox(L);
	se_test_file *tf = sb->tests;
	const char *name, *rules, *start, *deals;
	char path[PATH_MAX + 260];
	se_error e;
	se_test *t;
	lua_Integer n_steps;

	if (tf == NULL)
		return luaL_error(L, "test{} belongs in a rule test file (salesengine test FILE)");
	if (sb->reading_test)
		return luaL_error(L, "test{} cannot be called while another test{} is read");
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_settop(L, 1);
	se_lua_check_keys(L, 1, "test", keys, 0);
	name = se_lua_opt_string_field(L, 1, "name", "test");
	rules = se_lua_opt_string_field(L, 1, "rules", "test");
	start = se_lua_opt_string_field(L, 1, "start", "test");
	deals = se_lua_opt_string_field(L, 1, "deals", "test");
	if (name == NULL || rules == NULL || start == NULL)
		return luaL_error(L, "test: name, rules and start are required");
	if (se_lua_field(L, 1, "steps") != LUA_TTABLE)
		return luaL_error(L, "test '%s': steps must be a list of { at = ..., firing = {...} }", name);
	n_steps = (lua_Integer)lua_rawlen(L, 2);
	for (lua_Integer i = 1; i <= n_steps; i++) {
		if (lua_rawgeti(L, 2, i) != LUA_TTABLE)
			return luaL_error(L, "test '%s': steps[%d] must be a table", name, (int)i);
		se_lua_check_keys(L, lua_gettop(L), "test step", step_keys, 0);
		lua_pop(L, 1);
	}
	snprintf(path, sizeof path, "%s%s%s", rules[0] == '/' ? "" : sb->dir, rules[0] == '/' ? "" : "/",
	         rules);
	sb->reading_test = 1;
	t = add_test(L, tf);
	t->name = copy_or_raise(L, name);
	t->rules = copy_or_raise(L, path);
	t->start = copy_or_raise(L, start);
	t->deals = copy_or_raise(L, deals);
	luaL_where(L, 1);
	t->where = copy_or_raise(L, lua_tostring(L, -1));
	se_lua_set_script_error(sb, &e, SE_ESCRIPT, lua_tostring(L, -1));
	t->where_full = copy_or_raise(L, e.msg);
	lua_pop(L, 1);
	t->steps = zalloc_or_raise(L, (size_t)n_steps, sizeof *t->steps);
	for (lua_Integer i = 1; i <= n_steps; i++) {
		lua_rawgeti(L, 2, i);
		read_step(L, lua_gettop(L), &t->steps[t->n_steps++]);
		lua_pop(L, 1);
	}
	t->complete = 1;
	sb->reading_test = 0;
	return 0;
}

static void free_step(se_test_step *st)
{
	for (int s = 0; s < SE_TEST_N_LISTS; s++) {
		for (size_t i = 0; i < st->n_list[s]; i++) {
			se_test_alert *x = &st->list[s][i];

			for (size_t j = 0; j < x->n; j++) {
				free(x->f[j].key);
				free(x->f[j].shown);
				free(x->f[j].want);
			}
			free(x->f);
		}
		free(st->list[s]);
	}
	for (size_t i = 0; i < st->n_metrics; i++) {
		free(st->metrics[i].name);
		free(st->metrics[i].funnel);
		free(st->metrics[i].manager);
		free(st->metrics[i].source);
	}
	free(st->metrics);
	free(st->at);
}

void se_test_file_free(se_test_file *tf)
{
	if (tf == NULL)
		return;
	for (size_t i = 0; i < tf->n; i++) {
		se_test *t = &tf->tests[i];

		for (size_t j = 0; j < t->n_steps; j++)
			free_step(&t->steps[j]);
		free(t->steps);
		free(t->name);
		free(t->rules);
		free(t->start);
		free(t->deals);
		free(t->where);
		free(t->where_full);
	}
	free(tf->tests);
	free(tf);
}

int se_script_read_tests(const char *path, const se_script_limits *limits, se_test_file **out,
                         se_error *err)
{
	se_script *sc = calloc(1, sizeof *sc);
	se_test_file *tf = calloc(1, sizeof *tf);
	int rc;

	*out = NULL;
	if (sc == NULL || tf == NULL || (sc->rules = se_rules_new()) == NULL) {
		free(sc);
		free(tf);
		return se_error_set(err, SE_ENOMEM, "out of memory");
	}
	*out = tf;
	if ((rc = se_lua_start_sandbox(&sc->sb, sc->rules, path, limits, err)) == SE_OK) {
		lua_State *L = sc->sb.L;

		sc->sb.tests = tf;
		lua_pushcfunction(L, l_test);
		lua_setglobal(L, "test");
		se_lua_remember_file(&sc->sb, path);
		if (luaL_loadfilex(L, path, "t") != LUA_OK) {
			se_lua_set_script_error(&sc->sb, err, SE_ESCRIPT, lua_tostring(L, -1));
			rc = SE_ESCRIPT;
		} else {
			sc->sb.loading = 1;
			rc = se_lua_protected_call(&sc->sb, 0, 0, err);
		}
	}
	/* A file that declares no test proves nothing: say so, and fail. */
	if (rc == SE_OK && tf->n == 0)
		rc = se_error_set(err, SE_ESCRIPT, "%s: declares no test{}", path);
	se_script_free(sc);
	return rc;
}
