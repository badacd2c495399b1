/*
 * sandbox.c: what a script can reach, and loading one.
 *
 * Owns: the libraries a script gets (base, table, string, math, utf8),
 * the blocked ones and the message naming what was blocked, require()
 * from the script's folder and the bundled scripts/lib, strict globals,
 * starting a state with the limits, and se_script_load/se_script_free.
 * Never: lets a script reach the file system, the process or bytecode.
 */
#include "host.h"

/* ---- the sandbox ------------------------------------------------------------ */

static int l_blocked(lua_State *L)
{
	return luaL_error(L, "%s is not available in salesengine scripts (sandbox)",
	                  lua_tostring(L, lua_upvalueindex(1)));
}

/* __index of a blocked library table: any field use names what was tried. */
static int l_blocked_field(lua_State *L)
{
	const char *lib = lua_tostring(L, lua_upvalueindex(1));
	const char *key = lua_tostring(L, 2);

	return luaL_error(L, "%s.%s is not available in salesengine scripts (sandbox)", lib,
	                  key ? key : "?");
}

static void set_blocked(lua_State *L, int t, const char *name, const char *shown)
{
	lua_pushstring(L, shown);
	lua_pushcclosure(L, l_blocked, 1);
	lua_setfield(L, t, name);
}

/* Leaves on the stack a table whose every field raises "lib.key is not
 * available", with the allowed functions copied in from src (or none). */
static void push_guarded_lib(lua_State *L, const char *lib, const char *const *allowed, int src)
{
	lua_newtable(L);
	for (const char *const *k = allowed; k && *k; k++) {
		lua_getfield(L, src, *k);
		lua_setfield(L, -2, *k);
	}
	lua_newtable(L);
	lua_pushstring(L, lib);
	lua_pushcclosure(L, l_blocked_field, 1);
	lua_setfield(L, -2, "__index");
	lua_setmetatable(L, -2);
}

static int l_strict_index(lua_State *L)
{
	return luaL_error(L, "undefined global '%s'", lua_tostring(L, 2) ? lua_tostring(L, 2) : "?");
}

/* load() without bytecode: binary chunks bypass the VM's checks.  The
 * real load is upvalue 1; an env argument is passed on only if given, since
 * an explicit nil would leave the chunk without globals. */
static int l_load_text(lua_State *L)
{
	sandbox *sb = get_sandbox(L);
	int nargs = lua_gettop(L) >= 4 ? 4 : 3;

	if (se_lua_exhausted(sb))
		return se_lua_reraise_limit(L, sb);
	luaL_checkany(L, 1);
	lua_settop(L, 4);
	lua_pushliteral(L, "t");
	lua_replace(L, 3);
	lua_settop(L, nargs);
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, nargs, LUA_MULTRET); /* inside the script's own protected call */
	/* A reader function that hit a limit: load() returns the error as a
	 * value, but the limit is final. */
	if (se_lua_exhausted(sb))
		return se_lua_reraise_limit(L, sb);
	return lua_gettop(L);
}

/* print() writes to the host's callback, never to stdout: a report on
 * stdout (--format json) must stay what it says it is. */
static int l_print(lua_State *L)
{
	sandbox *sb = get_sandbox(L);
	int n = lua_gettop(L);
	luaL_Buffer b;
	const char *text;
	size_t len;

	luaL_buffinit(L, &b);
	for (int i = 1; i <= n; i++) {
		if (i > 1)
			luaL_addchar(&b, '\t');
		luaL_tolstring(L, i, NULL);
		luaL_addvalue(&b);
	}
	luaL_addchar(&b, '\n');
	luaL_pushresult(&b);
	text = lua_tolstring(L, -1, &len);
	if (sb->on_print != NULL)
		sb->on_print(sb->print_ud, text, len);
	return 0;
}

/* setmetatable() without __gc: Lua runs finalizers with its debug hooks
 * off, so no instruction or time limit could stop one (a finalizer that
 * loops would hang the program, even while the state closes).  The real
 * setmetatable is upvalue 1. */
static int l_setmetatable(lua_State *L)
{
	if (lua_type(L, 2) == LUA_TTABLE) {
		lua_pushliteral(L, "__gc");
		if (lua_rawget(L, 2) != LUA_TNIL)
			return luaL_error(L, "setmetatable: __gc finalizers are not available in salesengine "
			                     "scripts (sandbox)");
		lua_pop(L, 1);
	}
	lua_settop(L, 2);
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, 2, 1);
	return 1;
}

static int valid_module_name(const char *name)
{
	if (name[0] == '\0' || name[0] == '.')
		return 0;
	for (const char *p = name; *p; p++) {
		char c = *p;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || (c == '.' && p[1] != '.' && p[1] != '\0')))
			return 0;
	}
	return 1;
}

/* Raises "module 'a' requires itself (a -> b -> a)" when name is already
 * being loaded further up; the stack of loading names is a registry list. */
static void check_require_cycle(lua_State *L, const char *name)
{
	luaL_Buffer chain;
	lua_Integer n, from = 0;

	lua_getfield(L, LUA_REGISTRYINDEX, "se.loading");
	n = (lua_Integer)lua_rawlen(L, -1);
	for (lua_Integer i = 1; i <= n && from == 0; i++) {
		lua_rawgeti(L, -1, i);
		if (strcmp(lua_tostring(L, -1), name) == 0)
			from = i;
		lua_pop(L, 1);
	}
	if (from == 0) {
		lua_pop(L, 1);
		return;
	}
	luaL_buffinit(L, &chain);
	for (lua_Integer i = from; i <= n; i++) {
		lua_rawgeti(L, -2, i);
		luaL_addvalue(&chain);
		luaL_addstring(&chain, " -> ");
	}
	luaL_addstring(&chain, name);
	luaL_pushresult(&chain);
	luaL_error(L, "require: module '%s' requires itself (%s)", name, lua_tostring(L, -1));
}

static void push_loading(lua_State *L, const char *name, int push)
{
	lua_getfield(L, LUA_REGISTRYINDEX, "se.loading");
	if (push) {
		lua_pushstring(L, name);
		lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
	} else {
		lua_pushnil(L);
		lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2));
	}
	lua_pop(L, 1);
}

/* require(name): only modules beside the script or in the bundled library,
 * loaded as text into the sandbox's own globals, each once. */
static int l_require(lua_State *L)
{
	sandbox *sb = get_sandbox(L);
	const char *name = luaL_checkstring(L, 1);
	const char *dirs[2] = { sb->dir, SE_SCRIPT_LIB_DIR };
	char rel[256], path[PATH_MAX + 260];
	int found = 0;

	if (!valid_module_name(name) || strlen(name) >= sizeof rel - 5)
		return luaL_error(L, "require: bad module name '%s'", name);
	lua_getfield(L, LUA_REGISTRYINDEX, "se.loaded");
	if (lua_getfield(L, -1, name) != LUA_TNIL)
		return 1;
	lua_pop(L, 1);
	check_require_cycle(L, name);
	snprintf(rel, sizeof rel, "%s", name);
	for (char *p = rel; *p; p++)
		if (*p == '.')
			*p = '/';
	for (int i = 0; i < 2 && !found; i++) {
		snprintf(path, sizeof path, "%s/%s.lua", dirs[i], rel);
		found = se_lua_file_exists(path);
	}
	if (!found)
		return luaL_error(L, "require: module '%s' not found (looked in %s and %s)", name, sb->dir,
		                  SE_SCRIPT_LIB_DIR);
	se_lua_remember_file(sb, path);
	if (luaL_loadfilex(L, path, "t") != LUA_OK)
		return lua_error(L);
	push_loading(L, name, 1);
	lua_pushstring(L, name);
	lua_call(L, 1, 1); /* inside the script's own protected call */
	push_loading(L, name, 0);
	if (lua_isnil(L, -1)) {
		lua_pop(L, 1);
		lua_pushboolean(L, 1);
	}
	lua_pushvalue(L, -1);
	lua_setfield(L, -3, name);
	return 1;
}

static void open_allowed_libs(lua_State *L)
{
	static const luaL_Reg libs[] = {
		{ LUA_GNAME, luaopen_base }, { LUA_TABLIBNAME, luaopen_table },
		{ LUA_STRLIBNAME, luaopen_string }, { LUA_MATHLIBNAME, luaopen_math },
		{ LUA_UTF8LIBNAME, luaopen_utf8 }, { NULL, NULL }
	};

	for (const luaL_Reg *lib = libs; lib->func; lib++) {
		luaL_requiref(L, lib->name, lib->func, 1);
		lua_pop(L, 1);
	}
}

/* Declarations and the scope type, defined with the metrics API below. */

static void install_guards(lua_State *L)
{
	static const char *const os_allowed[] = { "time", "date", "clock", NULL };
	static const char *const blocked_libs[] = { "io", "debug", "package", NULL };
	int g;

	lua_pushglobaltable(L);
	g = lua_gettop(L);
	/* os: a fresh table with the three harmless functions only. */
	luaL_requiref(L, LUA_OSLIBNAME, luaopen_os, 0);
	push_guarded_lib(L, "os", os_allowed, lua_gettop(L));
	lua_setfield(L, g, "os");
	lua_pop(L, 1);
	for (const char *const *lib = blocked_libs; *lib; lib++) {
		push_guarded_lib(L, *lib, NULL, 0);
		lua_setfield(L, g, *lib);
	}
	set_blocked(L, g, "dofile", "dofile");
	set_blocked(L, g, "loadfile", "loadfile");
	set_blocked(L, g, "collectgarbage", "collectgarbage");
	lua_getfield(L, g, "string");
	set_blocked(L, lua_gettop(L), "dump", "string.dump");
	lua_pop(L, 1);
	lua_getfield(L, g, "load");
	lua_pushcclosure(L, l_load_text, 1);
	lua_setfield(L, g, "load");
	lua_pushcfunction(L, l_print);
	lua_setfield(L, g, "print");
	lua_getfield(L, g, "setmetatable");
	lua_pushcclosure(L, l_setmetatable, 1);
	lua_setfield(L, g, "setmetatable");
	/* Pattern matching and the table functions whose work is not bounded
	 * by memory run under the budget (pattern.c, cwork.c). */
	lua_getfield(L, g, "string");
	se_lua_open_patterns(L, lua_gettop(L));
	lua_pop(L, 1);
	se_lua_guard_c_work(L, g);
	lua_newtable(L);
	lua_setfield(L, LUA_REGISTRYINDEX, "se.loaded");
	lua_newtable(L);
	lua_setfield(L, LUA_REGISTRYINDEX, "se.loading");
	for (const char *const *fn = (const char *const[]){ "pcall", "xpcall", NULL }; *fn; fn++) {
		lua_getfield(L, g, *fn);
		lua_pushcclosure(L, se_lua_guarded_pcall, 1);
		lua_setfield(L, g, *fn);
	}
	lua_pushcfunction(L, l_require);
	lua_setfield(L, g, "require");
	lua_pushcfunction(L, se_lua_settings);
	lua_setfield(L, g, "settings");
	lua_pushcfunction(L, se_lua_funnel);
	lua_setfield(L, g, "funnel");
	lua_pushcfunction(L, se_lua_metric);
	lua_setfield(L, g, "metric");
	lua_pushcfunction(L, se_lua_rule);
	lua_setfield(L, g, "rule");
	lua_pushcfunction(L, se_lua_rules_file);
	lua_setfield(L, g, "rules_file");
	for (const char *const *list = (const char *const[]){ "se.metric_fns", "se.rule_fns",
	                                                       "se.file_errors", NULL }; *list; list++) {
		lua_newtable(L);
		lua_setfield(L, LUA_REGISTRYINDEX, *list);
	}
	se_lua_open_scope_type(L);
	/* Reading an undefined global is an error: a typo must not be nil. */
	lua_newtable(L);
	lua_pushcfunction(L, l_strict_index);
	lua_setfield(L, -2, "__index");
	lua_setmetatable(L, g);
	lua_pop(L, 1);
}


/* ---- loading ---------------------------------------------------------------- */

void se_lua_script_dir(const char *path, char *dir, size_t size)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		snprintf(dir, size, ".");
	else if (slash == path)
		snprintf(dir, size, "/");
	else
		snprintf(dir, size, "%.*s", (int)(slash - path), path);
}

static int run_script(se_script *sc, const char *path, se_error *err)
{
	lua_State *L = sc->sb.L;
	FILE *fp = fopen(path, "r");
	int rc;

	if (fp == NULL)
		return se_error_set(err, SE_EIO, "cannot open %s: %s", path, strerror(errno));
	fclose(fp);
	se_lua_remember_file(&sc->sb, path);
	if (luaL_loadfilex(L, path, "t") != LUA_OK) {
		se_lua_set_script_error(&sc->sb, err, lua_status(L) == LUA_ERRMEM ? SE_ELIMIT : SE_ESCRIPT,
		                 lua_tostring(L, -1));
		lua_pop(L, 1);
		return err ? err->code : SE_ESCRIPT;
	}
	sc->sb.loading = 1;
	rc = se_lua_protected_call(&sc->sb, 0, 0, err);
	sc->sb.loading = 0;
	if (rc != SE_OK)
		return rc;
	if (sc->rules->n_funnels == 0)
		return se_error_set(err, SE_ESCRIPT, "%s: declares no funnel (add funnel { name = ..., stages = {...} })", path);
	return se_lua_check_rule_references(sc->rules, err);
}

/* A fresh Lua state with the sandbox's libraries, guards and limits, for
 * the script at path (whose directory require() and rules_file() use). */
int se_lua_start_sandbox(sandbox *sb, se_rules *rules, const char *path,
                         const se_script_limits *limits, se_error *err)
{
	sb->rules = rules;
	sb->limit = limits && limits->memory ? limits->memory : SE_SCRIPT_DEFAULT_MEMORY;
	sb->seconds = limits && limits->seconds > 0 ? limits->seconds : SE_SCRIPT_DEFAULT_SECONDS;
	sb->on_print = limits ? limits->on_print : NULL;
	sb->print_ud = limits ? limits->print_ud : NULL;
	sb->max_instructions = limits && limits->instructions ? limits->instructions
	                                                    : SE_SCRIPT_DEFAULT_INSTRUCTIONS;
	se_lua_script_dir(path, sb->dir, sizeof sb->dir);
	se_lua_verbose_errors = getenv("SALESENGINE_TRACEBACK") != NULL;
	sb->L = lua_newstate(se_lua_limited_alloc, sb);
	if (sb->L == NULL)
		return se_error_set(err, SE_ENOMEM, "out of memory starting Lua");
	lua_pushlightuserdata(sb->L, sb);
	lua_rawsetp(sb->L, LUA_REGISTRYINDEX, &se_lua_sandbox_key);
	open_allowed_libs(sb->L);
	install_guards(sb->L);
	return SE_OK;
}

int se_script_load(se_script **out, const char *path, const se_script_limits *limits, se_error *err)
{
	se_script *sc;
	int rc;

	*out = NULL;
	if ((sc = calloc(1, sizeof *sc)) == NULL || (sc->rules = se_rules_new()) == NULL) {
		free(sc);
		return se_error_set(err, SE_ENOMEM, "out of memory");
	}
	if ((rc = se_lua_start_sandbox(&sc->sb, sc->rules, path, limits, err)) != SE_OK ||
	    (rc = run_script(sc, path, err)) != SE_OK) {
		se_script_free(sc);
		return rc;
	}
	*out = sc;
	return SE_OK;
}

const se_rules *se_script_rules(const se_script *sc)
{
	return sc->rules;
}

void se_script_free(se_script *sc)
{
	if (sc == NULL)
		return;
	if (sc->sb.L != NULL)
		lua_close(sc->sb.L);
	se_rules_free(sc->rules);
	free(sc);
}


int se_script_failed_files(se_script *sc, se_error *first)
{
	lua_State *L = sc->sb.L;
	int n;

	lua_getfield(L, LUA_REGISTRYINDEX, "se.file_errors");
	n = (int)lua_rawlen(L, -1);
	if (n > 0 && first != NULL) {
		lua_rawgeti(L, -1, 1);
		se_lua_set_script_error(&sc->sb, first, SE_ESCRIPT, lua_tostring(L, -1) ? lua_tostring(L, -1) : "?");
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
	return n;
}
