/*
 * script.c: the only file that touches a lua_State.
 *
 * Owns: the sandbox (which libraries exist, what is blocked and how it says
 * so, the instruction and memory limits), loading the user's script, the
 * declarative calls it makes (settings{}, funnel{}), and turning what they
 * declare into se_rules.  Every call into Lua goes through protected_call(),
 * whose message handler keeps "script.lua:LINE: message" intact (and adds a
 * traceback only when asked).
 *
 * Never: lets a Lua error escape as a longjmp past C-owned memory: whatever
 * a declaration allocates is attached to the rules object at once, which the
 * caller frees whether the script succeeded or not.
 */
#include "cube.h"
#include "adapter.h"
#include "rules.h"
#include "ruletest.h"
#include "script.h"
#include "timeconv.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef SE_SCRIPT_LIB_DIR
#define SE_SCRIPT_LIB_DIR "scripts/lib"
#endif

#define HOOK_EVERY 1000  /* instructions between limit checks */
#define RULE_MEMORY ((size_t)16 << 20) /* heap growth one rule evaluation may make */

typedef struct sandbox {
	lua_State *L;
	size_t used, limit;
	uint64_t instructions, max_instructions;
	int memory_hit;
	int instructions_hit;
	char where[256];          /* "file:line" of the code running when memory ran out */
	char limit_msg[512];      /* the first limit hit; re-raised past any pcall */
	char files[16][PATH_MAX]; /* scripts loaded so far, to undo Lua's name shortening */
	int n_files;
	char dir[PATH_MAX];       /* the script's directory, for require */
	int loading;              /* declarations are allowed only while loading */
	se_rules *rules;
	const se_report *rep;     /* while metrics and rules run: the numbers they read */
	struct test_run *tests;   /* in a rule test file: the counts */
	int rule_capped;          /* limit is a rule evaluation's RULE_MEMORY cap */
} sandbox;

struct se_script {
	sandbox sb;
	se_rules *rules;
};

static const char sandbox_key = 'S'; /* registry key: its address, not its value */

static sandbox *get_sandbox(lua_State *L)
{
	sandbox *sb;

	lua_rawgetp(L, LUA_REGISTRYINDEX, &sandbox_key);
	sb = lua_touserdata(L, -1);
	lua_pop(L, 1);
	return sb;
}

/* ---- limits ------------------------------------------------------------- */

/* Finds the innermost Lua function on the stack and notes where it is; used
 * when a limit stops the script, so the message can name the line. */
static void note_position(lua_State *L, char *buf, size_t size)
{
	lua_Debug ar;

	for (int level = 0; lua_getstack(L, level, &ar); level++) {
		if (!lua_getinfo(L, "Sl", &ar))
			continue;
		if (ar.currentline > 0) {
			snprintf(buf, size, "%s:%d", ar.short_src, ar.currentline);
			return;
		}
	}
}

static void *limited_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	sandbox *sb = ud;
	size_t old = ptr ? osize : 0;

	if (nsize == 0) {
		free(ptr);
		sb->used -= old;
		return NULL;
	}
	/* Once the limit is hit the call is over: refusing every later growth
	 * keeps Lua's emergency collections from thrashing near the limit. */
	if (nsize > old && (sb->memory_hit || sb->used - old + nsize > sb->limit)) {
		if (!sb->memory_hit && sb->L != NULL)
			note_position(sb->L, sb->where, sizeof sb->where);
		sb->memory_hit = 1;
		return NULL;
	}
	ptr = realloc(ptr, nsize);
	if (ptr != NULL)
		sb->used = sb->used - old + nsize;
	return ptr;
}

/* Raised with the position of the code that was running (ar is the
 * running function; luaL_error would blame its caller). */
static void count_hook(lua_State *L, lua_Debug *ar)
{
	sandbox *sb = get_sandbox(L);

	sb->instructions += HOOK_EVERY;
	if (sb->instructions <= sb->max_instructions)
		return;
	if (!sb->instructions_hit) {
		char at[300] = "";

		if (lua_getinfo(L, "Sl", ar) && ar->currentline > 0)
			snprintf(at, sizeof at, "%s:%d: ", ar->short_src, ar->currentline);
		snprintf(sb->limit_msg, sizeof sb->limit_msg,
		         "%sinstruction limit (%llu) exceeded: endless loop?", at,
		         (unsigned long long)sb->max_instructions);
		sb->instructions_hit = 1;
	}
	lua_pushstring(L, sb->limit_msg);
	lua_error(L);
}

/* pcall and xpcall must not swallow a limit: once one is hit the script is
 * over, so the wrappers re-raise it whatever the inner handler did. */
static int reraise_limit(lua_State *L, sandbox *sb)
{
	if (sb->memory_hit && sb->limit_msg[0] == '\0')
		snprintf(sb->limit_msg, sizeof sb->limit_msg, "%s%smemory limit (%zu bytes) exceeded",
		         sb->where, sb->where[0] ? ": " : "", sb->limit);
	lua_pushstring(L, sb->limit_msg);
	return lua_error(L);
}

static int l_guarded_pcall(lua_State *L)
{
	sandbox *sb = get_sandbox(L);
	int n = lua_gettop(L);

	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, n, LUA_MULTRET); /* the real pcall/xpcall, inside the script's protected call */
	if (sb->instructions_hit || sb->memory_hit)
		return reraise_limit(L, sb);
	return lua_gettop(L);
}

/* ---- protected calls ---------------------------------------------------- */

static int verbose_errors;

static int message_handler(lua_State *L)
{
	const char *msg = lua_tostring(L, 1);

	if (msg == NULL) {
		if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
			return 1;
		msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
	}
	if (verbose_errors)
		luaL_traceback(L, L, msg, 1);
	return 1;
}

/* Lua shortens chunk names longer than LUA_IDSIZE to "..." and their tail;
 * a user needs the whole path, so a message that starts with a shortened
 * name of a file we loaded gets the full name back. */
static void set_script_error(sandbox *sb, se_error *err, int code, const char *msg)
{
	for (int i = 0; i < sb->n_files; i++) {
		const char *full = sb->files[i];
		size_t len = strlen(full), keep = LUA_IDSIZE - 4; /* luaO_chunkid's tail */

		if (len < LUA_IDSIZE || strncmp(msg, "...", 3) != 0)
			continue;
		if (strncmp(msg + 3, full + len - keep, keep) == 0) {
			se_error_set(err, code, "%s%s", full, msg + 3 + keep);
			return;
		}
	}
	se_error_set(err, code, "%s", msg);
}

static void remember_file(sandbox *sb, const char *path)
{
	size_t len = strlen(path);

	if (sb->n_files < (int)(sizeof sb->files / sizeof sb->files[0]) && len < sizeof sb->files[0])
		memcpy(sb->files[sb->n_files++], path, len + 1);
}

/* The one way C calls into Lua: resets the instruction budget, runs under
 * a message handler, and turns a failure into an se_error. */
static int protected_call(sandbox *sb, int nargs, int nresults, se_error *err)
{
	lua_State *L = sb->L;
	int base = lua_gettop(L) - nargs;
	int status, limit_hit;

	lua_pushcfunction(L, message_handler);
	lua_insert(L, base);
	sb->instructions = 0;
	sb->memory_hit = 0;
	sb->instructions_hit = 0;
	sb->where[0] = '\0';
	sb->limit_msg[0] = '\0';
	status = lua_pcall(L, nargs, nresults, base);
	lua_remove(L, base);
	/* The limits bound the call, not what the host does next. */
	limit_hit = sb->memory_hit;
	sb->memory_hit = 0;
	if (status == LUA_OK)
		return SE_OK;
	if (sb->instructions_hit) {
		set_script_error(sb, err, SE_ELIMIT, sb->limit_msg);
	} else if (status == LUA_ERRMEM || limit_hit) {
		char msg[600];

		if (sb->rule_capped)
			snprintf(msg, sizeof msg, "%s%smemory limit of one rule evaluation (%zu MiB) exceeded",
			         sb->where, sb->where[0] ? ": " : "", RULE_MEMORY >> 20);
		else
			snprintf(msg, sizeof msg, "%s%smemory limit (%zu bytes) exceeded", sb->where,
			         sb->where[0] ? ": " : "", sb->limit);
		set_script_error(sb, err, SE_ELIMIT, msg);
	} else {
		set_script_error(sb, err, SE_ESCRIPT, lua_tostring(L, -1) ? lua_tostring(L, -1) : "error");
	}
	lua_pop(L, 1);
	return err ? err->code : SE_ESCRIPT;
}

/* ---- reading declaration tables ------------------------------------------ */

static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[64];

	if (la >= 63 || lb >= 63)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t prev = row[0];

		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t cur = row[j];
			size_t best = prev + (a[i - 1] != b[j - 1]);

			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			prev = cur;
		}
	}
	return row[lb];
}

/* Rejects keys a declaration does not know, suggesting the closest one:
 * a typo must not silently become "no setting". */
static void check_keys(lua_State *L, int t, const char *what, const char *const *allowed,
                       int allow_array)
{
	lua_pushnil(L);
	while (lua_next(L, t) != 0) {
		const char *best = NULL;
		size_t best_d = 3;

		lua_pop(L, 1);
		if (lua_type(L, -1) == LUA_TNUMBER && allow_array)
			continue;
		if (lua_type(L, -1) != LUA_TSTRING)
			luaL_error(L, "%s: unexpected %s key", what, luaL_typename(L, -1));
		for (const char *const *k = allowed; *k; k++) {
			if (strcmp(*k, lua_tostring(L, -1)) == 0) {
				best = NULL;
				best_d = 0;
				break;
			}
			size_t d = edit_distance(*k, lua_tostring(L, -1));
			if (d < best_d) {
				best_d = d;
				best = *k;
			}
		}
		if (best_d == 0)
			continue;
		if (best != NULL)
			luaL_error(L, "%s: unknown key '%s' (did you mean '%s'?)", what, lua_tostring(L, -1), best);
		luaL_error(L, "%s: unknown key '%s'", what, lua_tostring(L, -1));
	}
}

/* Pushes t[key]; returns its type. */
static int field(lua_State *L, int t, const char *key)
{
	return lua_getfield(L, t, key);
}

static const char *opt_string_field(lua_State *L, int t, const char *key, const char *what)
{
	int type = field(L, t, key);
	const char *s = NULL;

	if (type == LUA_TSTRING)
		s = lua_tostring(L, -1);
	else if (type != LUA_TNIL)
		luaL_error(L, "%s: '%s' must be a string, not a %s", what, key, lua_typename(L, type));
	lua_pop(L, 1); /* the string stays alive in the table */
	return s;
}

static char *dup_or_raise(lua_State *L, const char *s)
{
	char *d = strdup(s);

	if (d == NULL)
		luaL_error(L, "out of memory");
	return d;
}

/* ---- settings{} ----------------------------------------------------------- */

static se_mode check_mode(lua_State *L, const char *s, const char *what)
{
	if (strcmp(s, "reached") == 0)
		return SE_MODE_REACHED;
	if (strcmp(s, "touched") == 0)
		return SE_MODE_TOUCHED;
	luaL_error(L, "%s: mode must be \"reached\" or \"touched\", not \"%s\"", what, s);
	return SE_MODE_DEFAULT;
}

static se_period check_period(lua_State *L, const char *s)
{
	static const char *const names[] = { "total", "day", "week", "month", NULL };
	static const se_period values[] = { SE_PERIOD_TOTAL, SE_PERIOD_DAY, SE_PERIOD_WEEK, SE_PERIOD_MONTH };

	for (int i = 0; names[i]; i++)
		if (strcmp(s, names[i]) == 0)
			return values[i];
	luaL_error(L, "settings: period must be total, day, week or month, not \"%s\"", s);
	return SE_PERIOD_DEFAULT;
}

static void check_zone(lua_State *L, const char *name, const char *key)
{
	se_tz *tz = NULL;
	se_error e;

	if (se_tz_open(&tz, name, &e) != SE_OK)
		luaL_error(L, "settings: %s: %s", key, e.msg);
	se_tz_free(tz);
}

static sandbox *declaring(lua_State *L, const char *fn)
{
	sandbox *sb = get_sandbox(L);

	if (!sb->loading)
		luaL_error(L, "%s{} can only be used while the script loads", fn);
	return sb;
}

static int64_t check_window(lua_State *L, int idx, const char *what);

static double check_positive(lua_State *L, const char *key, double min, double max)
{
	lua_Number n;

	if (lua_type(L, -1) != LUA_TNUMBER)
		luaL_error(L, "settings: %s must be a number, not a %s", key, luaL_typename(L, -1));
	n = lua_tonumber(L, -1);
	if (!(n >= min && n <= max))
		luaL_error(L, "settings: %s must be between %g and %g, not %g", key, min, max, n);
	return n;
}

/* spend = { ["source"] = { ["2025-01"] = 120000, ... }, ... } */
static void read_spend_month(lua_State *L, se_rules *r, const char *source)
{
	const char *month;
	int64_t key;
	lua_Number amount = 0;

	if (lua_type(L, -2) != LUA_TSTRING)
		luaL_error(L, "settings: spend['%s']: months are strings like \"2025-01\", not %s", source,
		           luaL_typename(L, -2));
	month = lua_tostring(L, -2);
	if (se_parse_month(month, &key) != SE_OK)
		luaL_error(L, "settings: spend['%s']: \"%s\" is not a month like \"2025-01\"", source, month);
	if (lua_type(L, -1) != LUA_TNUMBER || !((amount = lua_tonumber(L, -1)) >= 0) || amount > 1e15)
		luaL_error(L, "settings: spend['%s']['%s'] must be a non-negative number", source, month);
	if (se_rules_add_spend(r, source, key, llround(amount * 100.0)) != SE_OK)
		luaL_error(L, "out of memory");
}

static void read_spend(lua_State *L, se_rules *r)
{
	int t = lua_absindex(L, -1);

	if (lua_type(L, t) != LUA_TTABLE)
		luaL_error(L, "settings: spend must be a table of sources, not a %s", luaL_typename(L, t));
	lua_pushnil(L);
	while (lua_next(L, t) != 0) {
		const char *source;

		if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TTABLE)
			luaL_error(L, "settings: spend must map source names to tables of months");
		source = lua_tostring(L, -2);
		lua_pushnil(L);
		while (lua_next(L, -2) != 0) {
			read_spend_month(L, r, source);
			lua_pop(L, 1);
		}
		lua_pop(L, 1);
	}
}

static void read_report_settings(lua_State *L, se_rules *r)
{
	if (field(L, 1, "sla") != LUA_TNIL)
		r->sla = check_window(L, -1, "settings: sla");
	lua_pop(L, 1);
	if (field(L, 1, "stale_multiple") != LUA_TNIL)
		r->stale_multiple = check_positive(L, "stale_multiple", 1, 1000);
	lua_pop(L, 1);
	if (field(L, 1, "shrinkage") != LUA_TNIL)
		r->shrinkage = check_positive(L, "shrinkage", 0, 1e6);
	lua_pop(L, 1);
	if (field(L, 1, "horizon") != LUA_TNIL)
		r->horizon = check_window(L, -1, "settings: horizon");
	lua_pop(L, 1);
	if (field(L, 1, "spend") != LUA_TNIL)
		read_spend(L, r);
	lua_pop(L, 1);
}

static int l_settings(lua_State *L)
{
	static const char *const keys[] = { "timezone", "input_timezone", "mode", "period", "sla",
		                            "stale_multiple", "shrinkage", "horizon", "spend", NULL };
	sandbox *sb = declaring(L, "settings");
	se_rules *r = sb->rules;
	const char *s;

	luaL_checktype(L, 1, LUA_TTABLE);
	check_keys(L, 1, "settings", keys, 0);
	if ((s = opt_string_field(L, 1, "timezone", "settings")) != NULL) {
		check_zone(L, s, "timezone");
		free(r->timezone);
		r->timezone = dup_or_raise(L, s);
	}
	if ((s = opt_string_field(L, 1, "input_timezone", "settings")) != NULL) {
		check_zone(L, s, "input_timezone");
		free(r->input_timezone);
		r->input_timezone = dup_or_raise(L, s);
	}
	if ((s = opt_string_field(L, 1, "mode", "settings")) != NULL)
		r->mode = check_mode(L, s, "settings");
	if ((s = opt_string_field(L, 1, "period", "settings")) != NULL)
		r->period = check_period(L, s);
	read_report_settings(L, r);
	return 0;
}

/* ---- funnel{} ------------------------------------------------------------- */

static const char *class_name(int cls)
{
	switch (cls) {
	case SE_CLASS_STAGE: return "a stage";
	case SE_CLASS_LOST: return "lost";
	case SE_CLASS_NONTARGET: return "non-target";
	default: return "unknown";
	}
}

/* Gives a status name its meaning in the funnel; each name means one thing. */
static void declare_status(lua_State *L, se_funnel *f, const char *name, int64_t code)
{
	int64_t old;

	if (name[0] == '\0')
		luaL_error(L, "funnel '%s': empty status name", f->name);
	if (se_strmap_get(f->statuses, name, strlen(name), &old)) {
		if (SE_STATUS_CLASS(old) == SE_CLASS_STAGE && SE_STATUS_CLASS(code) == SE_CLASS_STAGE)
			luaL_error(L, "funnel '%s': status '%s' is declared twice (stages '%s' and '%s')",
			           f->name, name, f->stages[SE_STATUS_STAGE(old)].name,
			           f->stages[SE_STATUS_STAGE(code)].name);
		luaL_error(L, "funnel '%s': status '%s' is declared twice (%s and %s)", f->name, name,
		           class_name(SE_STATUS_CLASS(old)), class_name(SE_STATUS_CLASS(code)));
	}
	if (se_strmap_put(f->statuses, name, strlen(name), code) != SE_OK)
		luaL_error(L, "out of memory");
}

/* Reads a value that may be one string or a list of strings, calling fn for
 * each; what names the key in messages. */
static void each_name(lua_State *L, int idx, const char *what, se_funnel *f,
                      void (*fn)(lua_State *, se_funnel *, const char *, void *), void *ud)
{
	idx = lua_absindex(L, idx);
	if (lua_type(L, idx) == LUA_TSTRING) {
		fn(L, f, lua_tostring(L, idx), ud);
		return;
	}
	if (lua_type(L, idx) != LUA_TTABLE)
		luaL_error(L, "funnel '%s': %s must be a string or a list of strings, not a %s",
		           f->name, what, luaL_typename(L, idx));
	for (lua_Integer i = 1;; i++) {
		int type = lua_rawgeti(L, idx, i);

		if (type == LUA_TNIL) {
			lua_pop(L, 1);
			break;
		}
		if (type != LUA_TSTRING)
			luaL_error(L, "funnel '%s': %s[%I] must be a string, not a %s", f->name, what, i,
			           lua_typename(L, type));
		fn(L, f, lua_tostring(L, -1), ud);
		lua_pop(L, 1);
	}
}

static void add_alias(lua_State *L, se_funnel *f, const char *name, void *ud)
{
	declare_status(L, f, name, SE_STATUS_CODE(SE_CLASS_STAGE, *(int *)ud));
}

static void add_terminal(lua_State *L, se_funnel *f, const char *name, void *ud)
{
	declare_status(L, f, name, SE_STATUS_CODE(*(int *)ud, 0));
}

static void add_pipeline(lua_State *L, se_funnel *f, const char *name, void *ud)
{
	char **np = realloc(f->pipelines, (size_t)(f->n_pipelines + 1) * sizeof *np);

	(void)ud;
	if (np == NULL)
		luaL_error(L, "out of memory");
	f->pipelines = np;
	f->pipelines[f->n_pipelines] = dup_or_raise(L, name);
	f->n_pipelines++;
}

static void read_stage(lua_State *L, se_funnel *f, int item, lua_Integer i)
{
	static const char *const keys[] = { "aliases", "presale", "probability", NULL };
	int s = f->n_stages;
	char what[96];
	const char *name;

	if (s >= SE_MAX_STAGES)
		luaL_error(L, "funnel '%s': more than %d stages", f->name, SE_MAX_STAGES);
	if (lua_type(L, item) == LUA_TSTRING) {
		name = lua_tostring(L, item);
	} else if (lua_type(L, item) == LUA_TTABLE) {
		if (lua_rawgeti(L, item, 1) != LUA_TSTRING)
			luaL_error(L, "funnel '%s': stages[%I] needs its name as the first element", f->name, i);
		name = lua_tostring(L, -1);
		lua_pop(L, 1);
		snprintf(what, sizeof what, "funnel '%s': stage '%s'", f->name, name);
		check_keys(L, item, what, keys, 1);
	} else {
		luaL_error(L, "funnel '%s': stages[%I] must be a string or a table, not a %s", f->name, i,
		           luaL_typename(L, item));
		return;
	}
	f->stages[s].name = dup_or_raise(L, name);
	f->stages[s].probability = -1;
	f->n_stages++;
	declare_status(L, f, name, SE_STATUS_CODE(SE_CLASS_STAGE, s));
	if (lua_type(L, item) != LUA_TTABLE)
		return;
	if (field(L, item, "aliases") != LUA_TNIL)
		each_name(L, -1, "aliases", f, add_alias, &s);
	lua_pop(L, 1);
	if (field(L, item, "presale") != LUA_TNIL) {
		if (!lua_isboolean(L, -1))
			luaL_error(L, "funnel '%s': stage '%s': presale must be true or false", f->name, name);
		f->stages[s].presale = lua_toboolean(L, -1);
	}
	lua_pop(L, 1);
	if (field(L, item, "probability") != LUA_TNIL) {
		lua_Number p = lua_tonumber(L, -1);

		if (lua_type(L, -1) != LUA_TNUMBER || !(p >= 0 && p <= 1))
			luaL_error(L, "funnel '%s': stage '%s': probability must be a number from 0 to 1", f->name, name);
		f->stages[s].probability = p;
	}
	lua_pop(L, 1);
}

static void read_stages(lua_State *L, se_funnel *f)
{
	if (field(L, 1, "stages") != LUA_TTABLE)
		luaL_error(L, "funnel '%s': 'stages' must be a list of stages", f->name);
	for (lua_Integer i = 1;; i++) {
		if (lua_rawgeti(L, -1, i) == LUA_TNIL) {
			lua_pop(L, 1);
			break;
		}
		read_stage(L, f, lua_gettop(L), i);
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
	if (f->n_stages < 2)
		luaL_error(L, "funnel '%s': needs at least two stages", f->name);
}

/* what names the place in messages, funnel included. */
static int stage_or_raise(lua_State *L, se_funnel *f, const char *name, const char *what)
{
	int s = se_funnel_stage_index(f, name);

	if (s < 0)
		luaL_error(L, "%s: '%s' is not a stage of this funnel", what, name);
	return s;
}

/* "90m", "12h", "30d", "2w" -> seconds; 0 when it is not one. */
static int64_t duration_seconds(const char *s)
{
	char *end;
	long n = strtol(s, &end, 10);
	int64_t unit = strcmp(end, "m") == 0   ? 60
	               : strcmp(end, "h") == 0 ? 3600
	               : strcmp(end, "d") == 0 ? 86400
	               : strcmp(end, "w") == 0 ? 7 * 86400
	                                       : 0;

	return end != s && n > 0 && n < 100000 ? n * unit : 0;
}

/* "30d", "12h", "2w", "90m" or a number of days. */
static int64_t check_window(lua_State *L, int idx, const char *what)
{
	if (lua_type(L, idx) == LUA_TNUMBER) {
		lua_Number days = lua_tonumber(L, idx);

		if (!(days > 0 && days < 36500))
			luaL_error(L, "%s: window must be a positive number of days", what);
		return (int64_t)(days * 86400);
	}
	if (lua_type(L, idx) == LUA_TSTRING) {
		const char *s = lua_tostring(L, idx);
		int64_t d = duration_seconds(s);

		if (d > 0)
			return d;
		luaL_error(L, "%s: window \"%s\" is not like \"30d\", \"12h\", \"2w\" or \"90m\"", what, s);
	}
	luaL_error(L, "%s: window must be a string like \"30d\" or a number of days", what);
	return 0;
}

static void read_pair(lua_State *L, se_funnel *f, int item, lua_Integer i)
{
	static const char *const keys[] = { "mode", "window", NULL };
	se_pair p = { .mode = SE_MODE_DEFAULT, .extra = 1 };
	char what[96];
	const char *from, *to, *mode;

	snprintf(what, sizeof what, "funnel '%s': pairs[%d]", f->name, (int)i);
	if (lua_type(L, item) != LUA_TTABLE)
		luaL_error(L, "%s must be a table like { \"from stage\", \"to stage\" }", what);
	check_keys(L, item, what, keys, 1);
	if (lua_rawgeti(L, item, 1) != LUA_TSTRING || lua_rawgeti(L, item, 2) != LUA_TSTRING)
		luaL_error(L, "%s must start with two stage names", what);
	from = lua_tostring(L, -2);
	to = lua_tostring(L, -1);
	p.from = stage_or_raise(L, f, from, what);
	p.to = stage_or_raise(L, f, to, what);
	lua_pop(L, 2);
	if (p.from == p.to)
		luaL_error(L, "%s: '%s' and '%s' are the same stage", what, from, to);
	if (p.from > p.to)
		luaL_error(L, "%s: '%s' must come before '%s' in the funnel", what, from, to);
	if ((mode = opt_string_field(L, item, "mode", what)) != NULL)
		p.mode = check_mode(L, mode, what);
	if (field(L, item, "window") != LUA_TNIL)
		p.window = check_window(L, -1, what);
	lua_pop(L, 1);
	if (se_funnel_add_pair(f, &p) != SE_OK)
		luaL_error(L, "out of memory");
}

static void read_pairs(lua_State *L, se_funnel *f)
{
	int type = field(L, 1, "pairs");

	if (type == LUA_TNIL) {
		lua_pop(L, 1);
		return;
	}
	if (type != LUA_TTABLE)
		luaL_error(L, "funnel '%s': 'pairs' must be a list of pairs", f->name);
	for (lua_Integer i = 1;; i++) {
		if (lua_rawgeti(L, -1, i) == LUA_TNIL) {
			lua_pop(L, 1);
			break;
		}
		read_pair(L, f, lua_gettop(L), i);
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
}

static void read_terminals(lua_State *L, se_funnel *f, const char *key, int cls)
{
	if (field(L, 1, key) != LUA_TNIL)
		each_name(L, -1, key, f, add_terminal, &cls);
	lua_pop(L, 1);
}

static int l_funnel(lua_State *L)
{
	static const char *const keys[] = {
		"name", "stages", "won", "lost", "nontarget", "pipelines", "pairs", NULL
	};
	sandbox *sb = declaring(L, "funnel");
	se_rules *r = sb->rules;
	const char *name, *won;
	se_funnel *f;

	luaL_checktype(L, 1, LUA_TTABLE);
	check_keys(L, 1, "funnel", keys, 0);
	name = opt_string_field(L, 1, "name", "funnel");
	if (name == NULL)
		name = "main";
	for (int i = 0; i < r->n_funnels; i++)
		if (strcmp(r->funnels[i].name, name) == 0)
			luaL_error(L, "funnel '%s' is declared twice", name);
	if (r->n_funnels >= SE_MAX_FUNNELS)
		luaL_error(L, "more than %d funnels", SE_MAX_FUNNELS);
	if ((f = se_rules_add_funnel(r, name)) == NULL)
		luaL_error(L, "out of memory");
	read_stages(L, f);
	won = opt_string_field(L, 1, "won", "funnel");
	if (won != NULL) {
		char what[96];

		snprintf(what, sizeof what, "funnel '%s': won", f->name);
		f->won = stage_or_raise(L, f, won, what);
	} else {
		f->won = f->n_stages - 1;
	}
	if (f->won == 0)
		luaL_error(L, "funnel '%s': won cannot be the first stage", f->name);
	read_terminals(L, f, "lost", SE_CLASS_LOST);
	read_terminals(L, f, "nontarget", SE_CLASS_NONTARGET);
	if (field(L, 1, "pipelines") != LUA_TNIL)
		each_name(L, -1, "pipelines", f, add_pipeline, NULL);
	lua_pop(L, 1);
	if (se_funnel_add_adjacent_pairs(f) != SE_OK)
		luaL_error(L, "out of memory");
	read_pairs(L, f);
	return 0;
}

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
	int nargs = lua_gettop(L) >= 4 ? 4 : 3;

	luaL_checkany(L, 1);
	lua_settop(L, 4);
	lua_pushliteral(L, "t");
	lua_replace(L, 3);
	lua_settop(L, nargs);
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, nargs, LUA_MULTRET); /* inside the script's own protected call */
	return lua_gettop(L);
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

static int file_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
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
		found = file_exists(path);
	}
	if (!found)
		return luaL_error(L, "require: module '%s' not found (looked in %s and %s)", name, sb->dir,
		                  SE_SCRIPT_LIB_DIR);
	remember_file(sb, path);
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
static int l_metric(lua_State *L);
static int l_rule(lua_State *L);
static int l_rules_file(lua_State *L);
static void open_scope_type(lua_State *L);
static int start_sandbox(sandbox *sb, se_rules *rules, const char *path,
                         const se_script_limits *limits, se_error *err);

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
	lua_newtable(L);
	lua_setfield(L, LUA_REGISTRYINDEX, "se.loaded");
	lua_newtable(L);
	lua_setfield(L, LUA_REGISTRYINDEX, "se.loading");
	for (const char *const *fn = (const char *const[]){ "pcall", "xpcall", NULL }; *fn; fn++) {
		lua_getfield(L, g, *fn);
		lua_pushcclosure(L, l_guarded_pcall, 1);
		lua_setfield(L, g, *fn);
	}
	lua_pushcfunction(L, l_require);
	lua_setfield(L, g, "require");
	lua_pushcfunction(L, l_settings);
	lua_setfield(L, g, "settings");
	lua_pushcfunction(L, l_funnel);
	lua_setfield(L, g, "funnel");
	lua_pushcfunction(L, l_metric);
	lua_setfield(L, g, "metric");
	lua_pushcfunction(L, l_rule);
	lua_setfield(L, g, "rule");
	lua_pushcfunction(L, l_rules_file);
	lua_setfield(L, g, "rules_file");
	for (const char *const *list = (const char *const[]){ "se.metric_fns", "se.rule_fns",
	                                                       "se.file_errors", NULL }; *list; list++) {
		lua_newtable(L);
		lua_setfield(L, LUA_REGISTRYINDEX, *list);
	}
	open_scope_type(L);
	/* Reading an undefined global is an error: a typo must not be nil. */
	lua_newtable(L);
	lua_pushcfunction(L, l_strict_index);
	lua_setfield(L, -2, "__index");
	lua_setmetatable(L, g);
	lua_pop(L, 1);
}

/* ---- reading the core's numbers: scopes ------------------------------------ */

/*
 * A scope is a userdata naming a slice of the report: one funnel, one
 * manager or all, one source or all, a range of period buckets and a
 * counting mode.  Its methods read the cube (cube.h); metric{} functions
 * and rule{} conditions receive one.  Data exists only while metrics and
 * rules run (sb->rep), never while the script loads.
 */
#define SCOPE_MT "salesengine.Scope"
#define NO_SUCH_ID (-2) /* a manager or source name the data does not have */

typedef struct lscope {
	int funnel;
	int64_t manager, source;  /* ids, SE_CUBE_ANY, or NO_SUCH_ID */
	int64_t lo, hi;           /* bucket keys, inclusive */
	se_mode mode;             /* SE_MODE_DEFAULT: the report's */
} lscope;

static const se_report *data_report(lua_State *L)
{
	sandbox *sb = get_sandbox(L);

	if (sb->rep == NULL || sb->rep->cube == NULL)
		luaL_error(L, "report data is only available inside metric and rule functions, "
		              "not while the script loads");
	return sb->rep;
}

static lscope *push_scope(lua_State *L, const lscope *s)
{
	lscope *u = lua_newuserdatauv(L, sizeof *u, 0);

	*u = *s;
	luaL_setmetatable(L, SCOPE_MT);
	return u;
}

static se_cube_filter scope_filter(const lscope *s)
{
	se_cube_filter q = { s->funnel, s->manager, s->source, s->lo, s->hi };

	return q;
}

static se_mode scope_mode(const se_report *rep, const lscope *s)
{
	return s->mode != SE_MODE_DEFAULT ? s->mode : rep->mode;
}

static int stage_arg(lua_State *L, const se_report *rep, const lscope *s, int arg)
{
	const char *name = luaL_checkstring(L, arg);
	const se_funnel *f = &rep->rules->funnels[s->funnel];
	int i = se_funnel_stage_index(f, name);

	if (i < 0)
		luaL_error(L, "'%s' is not a stage of funnel '%s'", name, f->name);
	return i;
}

static double money(se_money kopecks)
{
	return (double)kopecks / 100.0;
}

static int64_t name_id(char **names, uint32_t n, const char *name)
{
	for (uint32_t i = 0; i < n; i++)
		if (names[i] != NULL && strcmp(names[i], name) == 0)
			return i;
	return NO_SUCH_ID;
}

static void push_ratio(lua_State *L, int64_t num, int64_t den)
{
	if (den > 0)
		lua_pushnumber(L, (double)num / (double)den);
	else
		lua_pushnil(L);
}

static int l_scope_leads(lua_State *L)
{
	lscope *s = luaL_checkudata(L, 1, SCOPE_MT);
	const se_report *rep = data_report(L);
	se_cube_filter q = scope_filter(s);

	lua_pushinteger(L, se_cube_reached(rep->cube, &q, scope_mode(rep, s), 0));
	return 1;
}

static int l_scope_reached(lua_State *L)
{
	lscope *s = luaL_checkudata(L, 1, SCOPE_MT);
	const se_report *rep = data_report(L);
	int stage = stage_arg(L, rep, s, 2);
	se_cube_filter q = scope_filter(s);

	lua_pushinteger(L, se_cube_reached(rep->cube, &q, scope_mode(rep, s), stage));
	return 1;
}

/* The counted pair for a -> b [, window], or an error that says how to
 * get it. */
static int pair_arg(lua_State *L, const se_report *rep, const lscope *s, int a_arg)
{
	int a = stage_arg(L, rep, s, a_arg), b = stage_arg(L, rep, s, a_arg + 1);
	const char *within = luaL_optstring(L, a_arg + 2, NULL);
	int64_t window = within ? duration_seconds(within) : -1;
	int p;

	if (window == 0)
		luaL_error(L, "conversion window \"%s\" is not like \"90m\", \"12h\", \"30d\" or \"2w\"",
		           within);
	if ((p = se_cube_pair_index(rep->cube, s->funnel, a, b, window)) < 0)
		luaL_error(L, "conversion '%s' -> '%s'%s%s is not counted: add it to pairs{} of funnel "
		              "'%s' (adjacent steps and every stage -> won always are)",
		           lua_tostring(L, a_arg), lua_tostring(L, a_arg + 1), within ? " within " : "",
		           within ? within : "", rep->rules->funnels[s->funnel].name);
	return p;
}

static void scope_conversion(const se_report *rep, const lscope *s, int pair, int64_t *num,
                             int64_t *den)
{
	const se_cube_pair *cp = se_cube_pair_at(rep->cube, s->funnel, pair);
	se_mode mode = s->mode != SE_MODE_DEFAULT ? s->mode
	               : cp->mode != SE_MODE_DEFAULT ? cp->mode : rep->mode;
	se_cube_filter q = scope_filter(s);

	se_cube_conversion(rep->cube, &q, mode, pair, num, den);
}

/* s:conversion(a, b) -> rate or nil, converted, cohort */
static int l_scope_conversion(lua_State *L)
{
	lscope *s = luaL_checkudata(L, 1, SCOPE_MT);
	const se_report *rep = data_report(L);
	int pair = pair_arg(L, rep, s, 2);
	int64_t num, den;

	scope_conversion(rep, s, pair, &num, &den);
	push_ratio(L, num, den);
	lua_pushinteger(L, num);
	lua_pushinteger(L, den);
	return 3;
}

/* s:won() -> deals, revenue */
static int l_scope_won(lua_State *L)
{
	lscope *s = luaL_checkudata(L, 1, SCOPE_MT);
	const se_report *rep = data_report(L);
	se_cube_filter q = scope_filter(s);
	int64_t deals, revenue;

	se_cube_won(rep->cube, &q, scope_mode(rep, s), &deals, &revenue);
	lua_pushinteger(L, deals);
	lua_pushnumber(L, money(revenue));
	return 2;
}

/* s:lost(), s:nontarget(): one count of the cube each. */
static int push_count(lua_State *L, int64_t (*count)(const se_cube *, const se_cube_filter *))
{
	lscope *s = luaL_checkudata(L, 1, SCOPE_MT);
	const se_report *rep = data_report(L);
	se_cube_filter q = scope_filter(s);

	lua_pushinteger(L, count(rep->cube, &q));
	return 1;
}

static int l_scope_lost(lua_State *L)
{
	return push_count(L, se_cube_lost);
}

static int l_scope_nontarget(lua_State *L)
{
	return push_count(L, se_cube_nontarget);
}

/* s:open([stage]) -> deals open now (at stage), their amount */
static int l_scope_open(lua_State *L)
{
	lscope *s = luaL_checkudata(L, 1, SCOPE_MT);
	const se_report *rep = data_report(L);
	int stage = lua_isnoneornil(L, 2) ? -1 : stage_arg(L, rep, s, 2);
	se_cube_filter q = scope_filter(s);
	int64_t deals, amount, no_amount;

	se_cube_open(rep->cube, &q, stage, 0, &deals, &amount, &no_amount);
	lua_pushinteger(L, deals);
	lua_pushnumber(L, money(amount));
	return 2;
}

/* s:presale() -> deals in pre-sale stages now, amount, forecast */
static int l_scope_presale(lua_State *L)
{
	lscope *s = luaL_checkudata(L, 1, SCOPE_MT);
	const se_report *rep = data_report(L);
	se_cube_filter q = scope_filter(s);
	int64_t deals, amount, no_amount, forecast;

	se_cube_open(rep->cube, &q, -1, 1, &deals, &amount, &no_amount);
	if (se_cube_forecast(rep->cube, &q, &forecast) != SE_OK)
		return luaL_error(L, "out of memory");
	lua_pushinteger(L, deals);
	lua_pushnumber(L, money(amount));
	lua_pushnumber(L, money(forecast));
	return 3;
}

static const char *const builtin_metrics[] = {
	"leads", "won", "revenue", "lost", "nontarget", "presale", "presale_amount", "forecast",
	"conversion", NULL
};

static int is_builtin_metric(const char *name)
{
	for (int i = 0; builtin_metrics[i]; i++)
		if (strcmp(builtin_metrics[i], name) == 0)
			return 1;
	return 0;
}

/* A built-in metric's value and the sample it rests on.  conversion needs
 * its pair (pair >= 0). */
static void builtin_value(const se_report *rep, const lscope *s, const char *name, int pair,
                          double *value, int64_t *sample)
{
	se_cube_filter q = scope_filter(s);
	se_mode mode = scope_mode(rep, s);
	int64_t a, b, c;

	*value = NAN;
	*sample = -1;
	if (strcmp(name, "leads") == 0) {
		*sample = se_cube_reached(rep->cube, &q, mode, 0);
		*value = (double)*sample;
	} else if (strcmp(name, "won") == 0 || strcmp(name, "revenue") == 0) {
		se_cube_won(rep->cube, &q, mode, &a, &b);
		*sample = a;
		*value = name[0] == 'w' ? (double)a : money(b);
	} else if (strcmp(name, "lost") == 0) {
		*sample = se_cube_lost(rep->cube, &q);
		*value = (double)*sample;
	} else if (strcmp(name, "nontarget") == 0) {
		*sample = se_cube_nontarget(rep->cube, &q);
		*value = (double)*sample;
	} else if (strcmp(name, "conversion") == 0) {
		scope_conversion(rep, s, pair, &a, &b);
		*sample = b;
		*value = b > 0 ? (double)a / (double)b : NAN;
	} else {
		se_cube_open(rep->cube, &q, -1, 1, &a, &b, &c);
		*sample = a;
		if (strcmp(name, "presale") == 0)
			*value = (double)a;
		else if (strcmp(name, "presale_amount") == 0)
			*value = money(b);
		else if (se_cube_forecast(rep->cube, &q, &c) == SE_OK)
			*value = money(c);
	}
}

/* Pushes the value and sample a metric{} function returns for scope s;
 * raises what it raises (the caller is inside a protected call). */
static void call_metric_fn(lua_State *L, int metric, const lscope *s)
{
	lua_getfield(L, LUA_REGISTRYINDEX, "se.metric_fns");
	lua_rawgeti(L, -1, metric + 1);
	lua_remove(L, -2);
	push_scope(L, s);
	lua_call(L, 1, 2);
	if (!lua_isnil(L, -2) && !lua_isnumber(L, -2)) {
		sandbox *sb = get_sandbox(L);

		luaL_error(L, "metric '%s' returned a %s, not a number or nil",
		           sb->rules->metrics[metric].name, luaL_typename(L, -2));
	}
}

static double value_at(lua_State *L, int idx)
{
	return lua_isnumber(L, idx) ? (double)lua_tonumber(L, idx) : NAN;
}

/* s:metric(name) -> value or nil, sample or nil */
static int l_scope_metric(lua_State *L)
{
	lscope *s = luaL_checkudata(L, 1, SCOPE_MT);
	const char *name = luaL_checkstring(L, 2);
	const se_report *rep = data_report(L);
	int m = se_rules_metric_index(rep->rules, name);

	if (m >= 0) {
		call_metric_fn(L, m, s);
		return 2;
	}
	if (is_builtin_metric(name) && strcmp(name, "conversion") != 0) {
		double v;
		int64_t sample;

		builtin_value(rep, s, name, -1, &v, &sample);
		if (isnan(v))
			lua_pushnil(L);
		else
			lua_pushnumber(L, v);
		lua_pushinteger(L, sample);
		return 2;
	}
	return luaL_error(L, "no metric '%s' (declare it with metric{}, or use s:conversion(a, b))", name);
}

/* ---- the diagnostics (docs/METRICS.md 4f-4j) through report.h's accessors ---- */

/* The one period bucket a diagnostic reads. */
static int64_t scope_bucket(lua_State *L, const se_report *rep, const lscope *s)
{
	if (rep->period == SE_PERIOD_TOTAL)
		return 0;
	if (s->lo != s->hi)
		luaL_error(L, "this reads one period; the scope spans several");
	return s->lo;
}

static uint32_t scope_manager_or_team(const lscope *s)
{
	return s->manager == SE_CUBE_ANY ? SE_ALL : s->manager < 0 ? SE_ALL - 1 : (uint32_t)s->manager;
}

static void set_int(lua_State *L, const char *k, int64_t v)
{
	lua_pushinteger(L, v);
	lua_setfield(L, -2, k);
}

static void set_num(lua_State *L, const char *k, double v)
{
	if (isnan(v))
		return; /* absent: nil */
	lua_pushnumber(L, v);
	lua_setfield(L, -2, k);
}

/* Seconds, or nil when there is no such duration. */
static void set_secs(lua_State *L, const char *k, int64_t v, int have)
{
	if (have && v >= 0)
		set_int(L, k, v);
}

/* s:handling() -> { leads, taken, released, nontarget, unprocessed, waiting,
 * moved, first_move_median, first_move_p90 } for the scope's manager or
 * source (not both) in its period. */
static int l_scope_handling(lua_State *L)
{
	lscope *s = luaL_checkudata(L, 1, SCOPE_MT);
	const se_report *rep = data_report(L);
	int64_t bucket = scope_bucket(L, rep, s);
	se_handling h;
	int rc;

	if (s->manager != SE_CUBE_ANY && s->source != SE_CUBE_ANY)
		return luaL_error(L, "handling() is per manager or per source, not both");
	if (s->source != SE_CUBE_ANY)
		rc = se_report_handling(rep, s->funnel, bucket, SE_DIM_SOURCE,
		                        s->source < 0 ? SE_ALL - 1 : (uint32_t)s->source, &h);
	else
		rc = se_report_handling(rep, s->funnel, bucket, SE_DIM_MANAGER, scope_manager_or_team(s), &h);
	if (rc != SE_OK)
		memset(&h, 0, sizeof h), h.first_move_median = h.first_move_p90 = -1;
	lua_createtable(L, 0, 9);
	set_int(L, "leads", h.leads);
	set_int(L, "taken", h.taken);
	set_int(L, "released", h.released);
	set_int(L, "nontarget", h.nontarget);
	set_int(L, "unprocessed", h.unprocessed);
	set_int(L, "waiting", h.waiting);
	set_int(L, "moved", h.moved);
	set_secs(L, "first_move_median", h.first_move_median, 1);
	set_secs(L, "first_move_p90", h.first_move_p90, 1);
	return 1;
}

/* The funnel's own pair a -> b (adjacent or declared), for diagnostics. */
static int funnel_pair_arg(lua_State *L, const se_report *rep, const lscope *s, int a_arg)
{
	const se_funnel *f = &rep->rules->funnels[s->funnel];
	int a = stage_arg(L, rep, s, a_arg), b = stage_arg(L, rep, s, a_arg + 1), any = -1;

	for (int i = 0; i < f->n_pairs; i++)
		if (f->pairs[i].from == a && f->pairs[i].to == b) {
			if (f->pairs[i].window == 0)
				return i;
			if (any < 0)
				any = i;
		}
	if (any < 0)
		luaL_error(L, "'%s' -> '%s' is not a step of funnel '%s' (an adjacent step or a pair "
		              "in pairs{})", lua_tostring(L, a_arg), lua_tostring(L, a_arg + 1), f->name);
	return any;
}

static uint32_t scope_manager_required(lua_State *L, const lscope *s, const char *what)
{
	if (s->manager == SE_CUBE_ANY)
		luaL_error(L, "%s compares one manager with the others: use it on a manager's scope", what);
	return s->manager < 0 ? SE_ALL - 1 : (uint32_t)s->manager;
}

/* s:step(a, b) -> the manager against the other managers on a step, over
 * the whole range: { from, to, rate, ci_low, ci_high, others_rate, missed,
 * gap_low, gap_high, significant } */
static int l_scope_step(lua_State *L)
{
	lscope *s = luaL_checkudata(L, 1, SCOPE_MT);
	const se_report *rep = data_report(L);
	int pair = funnel_pair_arg(L, rep, s, 2);
	uint32_t m = scope_manager_required(L, s, "step()");
	se_step_diag d;

	if (se_report_step(rep, s->funnel, pair, m, &d) != SE_OK) {
		lua_pushnil(L);
		return 1;
	}
	lua_createtable(L, 0, 10);
	set_int(L, "from", d.from);
	set_int(L, "to", d.to);
	if (d.from > 0) {
		set_num(L, "rate", d.rate);
		set_num(L, "ci_low", d.ci_low);
		set_num(L, "ci_high", d.ci_high);
	}
	if (d.others_rate >= 0) {
		set_num(L, "others_rate", d.others_rate);
		set_num(L, "missed", d.missed);
		set_num(L, "gap_low", d.gap_low);
		set_num(L, "gap_high", d.gap_high);
	}
	set_num(L, "p_value", d.p);       /* nil when not tested */
	set_num(L, "p_adjusted", d.q);
	lua_pushboolean(L, d.significant);
	lua_setfield(L, -2, "significant");
	return 1;
}

/* s:growth_point() -> from_stage, to_stage of the manager's growth point, or nil */
static int l_scope_growth_point(lua_State *L)
{
	lscope *s = luaL_checkudata(L, 1, SCOPE_MT);
	const se_report *rep = data_report(L);
	const se_funnel *f = &rep->rules->funnels[s->funnel];
	int p = se_report_growth_point(rep, s->funnel, scope_manager_required(L, s, "growth_point()"));

	if (p == SE_NONE || p < 0 || p >= f->n_pairs) {
		lua_pushnil(L);
		return 1;
	}
	lua_pushstring(L, f->stages[f->pairs[p].from].name);
	lua_pushstring(L, f->stages[f->pairs[p].to].name);
	return 2;
}

/* s:style() -> { leads, won, periods, volume, depth, style } (the team's:
 * the managers' medians, style "median") */
static int l_scope_style(lua_State *L)
{
	lscope *s = luaL_checkudata(L, 1, SCOPE_MT);
	const se_report *rep = data_report(L);
	se_style st;

	if (se_report_style(rep, s->funnel, scope_manager_or_team(s), &st) != SE_OK) {
		lua_pushnil(L);
		return 1;
	}
	lua_createtable(L, 0, 6);
	set_int(L, "leads", st.leads);
	set_int(L, "won", st.won);
	set_int(L, "periods", st.periods);
	set_num(L, "volume", st.volume);
	set_num(L, "depth", st.depth);
	lua_pushstring(L, st.style ? st.style : "");
	lua_setfield(L, -2, "style");
	return 1;
}

/* s:velocity(stage) -> { latest_median, latest_p90, total_median, total_p90,
 * stays, open, stale } in seconds, over the range */
static int l_scope_velocity(lua_State *L)
{
	lscope *s = luaL_checkudata(L, 1, SCOPE_MT);
	const se_report *rep = data_report(L);
	int stage = stage_arg(L, rep, s, 2);
	se_velocity v;

	if (se_report_velocity(rep, s->funnel, stage, scope_manager_or_team(s), &v) != SE_OK)
		memset(&v, 0, sizeof v);
	lua_createtable(L, 0, 7);
	set_secs(L, "latest_median", v.latest.p50, v.latest.n > 0);
	set_secs(L, "latest_p90", v.latest.p90, v.latest.n > 0);
	set_secs(L, "total_median", v.total.p50, v.total.n > 0);
	set_secs(L, "total_p90", v.total.p90, v.total.n > 0);
	set_int(L, "stays", v.latest.n);
	set_int(L, "open", v.open);
	set_int(L, "stale", v.stale);
	return 1;
}

/* s:time_to_won() -> median, p90 seconds from the first stage to won, or nil */
static int l_scope_time_to_won(lua_State *L)
{
	lscope *s = luaL_checkudata(L, 1, SCOPE_MT);
	const se_report *rep = data_report(L);
	se_quant q;

	if (se_report_time_to_won(rep, s->funnel, scope_manager_or_team(s), &q) != SE_OK || q.n == 0) {
		lua_pushnil(L);
		return 1;
	}
	lua_pushinteger(L, q.p50);
	lua_pushinteger(L, q.p90);
	return 2;
}

/* s:forecast([stage]) -> { deals, amount, probability, by_probability,
 * rate, by_rate } of the deals open now at pre-sale stages (or one stage) */
static int l_scope_forecast(lua_State *L)
{
	lscope *s = luaL_checkudata(L, 1, SCOPE_MT);
	const se_report *rep = data_report(L);
	int stage = lua_isnoneornil(L, 2) ? -1 : stage_arg(L, rep, s, 2);
	se_forecast fc;

	if (se_report_forecast(rep, s->funnel, stage, scope_manager_or_team(s), &fc) != SE_OK) {
		lua_pushnil(L);
		return 1;
	}
	lua_createtable(L, 0, 6);
	set_int(L, "deals", fc.deals);
	set_num(L, "amount", money(fc.amount));
	if (fc.probability >= 0)
		set_num(L, "probability", fc.probability);
	set_num(L, "by_probability", money(fc.forecast_stage));
	if (stage >= 0)
		set_num(L, "rate", fc.rate.shrunk);
	set_num(L, "by_rate", money(fc.forecast_shrunk));
	set_num(L, "by_time", money(fc.forecast_time));
	return 1;
}

/* s:channel() -> a source's { leads, won, revenue, spend, cpl, cps, romi, z,
 * weak } in the scope's period */
static int l_scope_channel(lua_State *L)
{
	lscope *s = luaL_checkudata(L, 1, SCOPE_MT);
	const se_report *rep = data_report(L);
	int64_t bucket = scope_bucket(L, rep, s);
	se_channel c;

	if (s->source == SE_CUBE_ANY)
		return luaL_error(L, "channel() is about one source: use it on a source's scope");
	if (s->source < 0 || se_report_channel(rep, s->funnel, bucket, (uint32_t)s->source, &c) != SE_OK) {
		lua_pushnil(L);
		return 1;
	}
	lua_createtable(L, 0, 9);
	set_int(L, "leads", c.leads);
	set_int(L, "won", c.won);
	set_num(L, "revenue", money(c.revenue));
	if (c.spend >= 0)
		set_num(L, "spend", money(c.spend));
	if (c.cpl >= 0)
		set_num(L, "cpl", money(c.cpl));
	if (c.cps >= 0)
		set_num(L, "cps", money(c.cps));
	set_num(L, "romi", c.romi);
	set_num(L, "z", c.cmh_z);
	set_num(L, "p_value", c.p);
	set_num(L, "p_adjusted", c.q);
	if (c.untestable != NULL) {
		lua_pushstring(L, c.untestable);
		lua_setfield(L, -2, "not_testable");
	}
	lua_pushboolean(L, c.weak);
	lua_setfield(L, -2, "weak");
	return 1;
}

static lscope *scope_copy(lua_State *L)
{
	lscope *s = luaL_checkudata(L, 1, SCOPE_MT);

	return push_scope(L, s);
}

/* s:prev([n]) -> the same scope n periods earlier (default 1) */
static int l_scope_prev(lua_State *L)
{
	lua_Integer n = luaL_optinteger(L, 2, 1);
	lscope *c;

	luaL_argcheck(L, n >= 0 && n < 100000, 2, "must be between 0 and 99999");
	c = scope_copy(L);
	if (c->lo != INT64_MIN) {
		c->lo -= n;
		c->hi -= n;
	}
	return 1;
}

/* s:team() -> the same period and funnel, every manager and source */
static int l_scope_team(lua_State *L)
{
	lscope *c = scope_copy(L);

	c->manager = c->source = SE_CUBE_ANY;
	return 1;
}

/* s:with{manager=, source=, mode=} -> a narrower (or other) scope; a name
 * of "*" means all. */
static int l_scope_with(lua_State *L)
{
	static const char *const keys[] = { "manager", "source", "mode", NULL };
	const se_report *rep = data_report(L);
	lscope *c;
	const char *v;

	luaL_checkudata(L, 1, SCOPE_MT);
	luaL_checktype(L, 2, LUA_TTABLE);
	check_keys(L, 2, "with", keys, 0);
	c = scope_copy(L);
	if ((v = opt_string_field(L, 2, "manager", "with")) != NULL)
		c->manager = strcmp(v, "*") == 0 ? SE_CUBE_ANY : name_id(rep->managers, rep->n_manager, v);
	if ((v = opt_string_field(L, 2, "source", "with")) != NULL)
		c->source = strcmp(v, "*") == 0 ? SE_CUBE_ANY : name_id(rep->sources, rep->n_source, v);
	if ((v = opt_string_field(L, 2, "mode", "with")) != NULL)
		c->mode = check_mode(L, v, "with");
	return 1;
}

static void push_id_name(lua_State *L, char **names, uint32_t n, int64_t id)
{
	if (id >= 0 && (uint64_t)id < n && names[id] != NULL)
		lua_pushstring(L, names[id]);
	else
		lua_pushnil(L);
}

static void push_period(lua_State *L, const se_report *rep, const lscope *s)
{
	char a[48], b[48];

	if (s->lo == INT64_MIN) {
		lua_pushliteral(L, "all");
		return;
	}
	se_report_bucket_label(rep, s->lo, a, sizeof a);
	if (s->lo == s->hi) {
		lua_pushstring(L, a);
		return;
	}
	se_report_bucket_label(rep, s->hi, b, sizeof b);
	lua_pushfstring(L, "%s..%s", a, b);
}

/* Fields (manager, source, funnel, period, mode) or methods. */
static int l_scope_index(lua_State *L)
{
	lscope *s = luaL_checkudata(L, 1, SCOPE_MT);
	const char *key = luaL_checkstring(L, 2);
	const se_report *rep;

	if (lua_getfield(L, lua_upvalueindex(1), key) != LUA_TNIL)
		return 1;
	rep = data_report(L);
	if (strcmp(key, "manager") == 0)
		push_id_name(L, rep->managers, rep->n_manager, s->manager);
	else if (strcmp(key, "source") == 0)
		push_id_name(L, rep->sources, rep->n_source, s->source);
	else if (strcmp(key, "funnel") == 0)
		lua_pushstring(L, rep->rules->funnels[s->funnel].name);
	else if (strcmp(key, "period") == 0)
		push_period(L, rep, s);
	else if (strcmp(key, "mode") == 0)
		lua_pushstring(L, se_mode_name(scope_mode(rep, s)));
	else
		return luaL_error(L, "scope has no field or method '%s'", key);
	return 1;
}

static int l_scope_tostring(lua_State *L)
{
	lscope *s = luaL_checkudata(L, 1, SCOPE_MT);

	lua_pushfstring(L, "scope(funnel %d, manager %I, source %I, buckets %I..%I)", s->funnel,
	                (lua_Integer)s->manager, (lua_Integer)s->source, (lua_Integer)s->lo,
	                (lua_Integer)s->hi);
	return 1;
}

static void open_scope_type(lua_State *L)
{
	static const luaL_Reg methods[] = {
		{ "leads", l_scope_leads }, { "reached", l_scope_reached },
		{ "conversion", l_scope_conversion }, { "won", l_scope_won },
		{ "lost", l_scope_lost }, { "nontarget", l_scope_nontarget },
		{ "open", l_scope_open }, { "presale", l_scope_presale },
		{ "metric", l_scope_metric }, { "prev", l_scope_prev },
		{ "team", l_scope_team }, { "with", l_scope_with },
		{ "handling", l_scope_handling }, { "step", l_scope_step },
		{ "growth_point", l_scope_growth_point }, { "style", l_scope_style },
		{ "velocity", l_scope_velocity }, { "time_to_won", l_scope_time_to_won },
		{ "forecast", l_scope_forecast }, { "channel", l_scope_channel }, { NULL, NULL }
	};

	luaL_newmetatable(L, SCOPE_MT);
	luaL_newlib(L, methods);
	lua_pushcclosure(L, l_scope_index, 1);
	lua_setfield(L, -2, "__index");
	lua_pushcfunction(L, l_scope_tostring);
	lua_setfield(L, -2, "__tostring");
	lua_pushliteral(L, "salesengine.Scope");
	lua_setfield(L, -2, "__name");
	lua_pop(L, 1);
}

/* ---- metric{} -------------------------------------------------------------- */

static int funnel_index_or_raise(lua_State *L, const se_rules *r, const char *name, const char *what)
{
	for (int i = 0; i < r->n_funnels; i++)
		if (strcmp(r->funnels[i].name, name) == 0)
			return i;
	return luaL_error(L, "%s: no funnel '%s' is declared (declare funnels first)", what, name);
}

/* Keeps fn (at stack index idx) in the registry list `list`, at n + 1. */
static void keep_function(lua_State *L, const char *list, int idx, int n)
{
	idx = lua_absindex(L, idx);
	lua_getfield(L, LUA_REGISTRYINDEX, list);
	lua_pushvalue(L, idx);
	lua_rawseti(L, -2, n + 1);
	lua_pop(L, 1);
}

static int l_metric(lua_State *L)
{
	static const char *const keys[] = { "name", "title", "format", "funnel", "value", NULL };
	static const char *const formats[] = { "number", "percent", "money", NULL };
	sandbox *sb = declaring(L, "metric");
	se_rules *r = sb->rules;
	se_metric_decl m = { NULL, NULL, SE_FORMAT_NUMBER, -1 };
	const char *name, *title, *format, *funnel;

	luaL_checktype(L, 1, LUA_TTABLE);
	check_keys(L, 1, "metric", keys, 0);
	if ((name = opt_string_field(L, 1, "name", "metric")) == NULL || name[0] == '\0')
		return luaL_error(L, "metric: 'name' is required");
	if (se_rules_metric_index(r, name) >= 0 || is_builtin_metric(name))
		return luaL_error(L, "metric '%s' is declared twice (or is a built-in name)", name);
	if (field(L, 1, "value") != LUA_TFUNCTION)
		return luaL_error(L, "metric '%s': 'value' must be a function(s) returning a number",
		                  name);
	title = opt_string_field(L, 1, "title", "metric");
	if ((format = opt_string_field(L, 1, "format", "metric")) != NULL) {
		int i = 0;

		while (formats[i] && strcmp(formats[i], format) != 0)
			i++;
		if (formats[i] == NULL)
			return luaL_error(L, "metric '%s': format must be number, percent or money, not \"%s\"",
			                  name, format);
		m.format = i;
	}
	if ((funnel = opt_string_field(L, 1, "funnel", "metric")) != NULL)
		m.funnel = funnel_index_or_raise(L, r, funnel, "metric");
	keep_function(L, "se.metric_fns", -1, r->n_metrics);
	m.name = strdup(name);
	m.title = title ? strdup(title) : NULL;
	if (m.name == NULL || (title && m.title == NULL) || se_rules_add_metric(r, &m) != SE_OK) {
		free(m.name);
		free(m.title);
		return luaL_error(L, "out of memory");
	}
	return 0;
}

/* ---- rule{} --------------------------------------------------------------------- */

static int64_t check_duration(lua_State *L, const char *rule, const char *key, const char *s)
{
	int64_t d = duration_seconds(s);

	if (d == 0)
		luaL_error(L, "rule '%s': %s \"%s\" is not like \"90m\", \"12h\", \"3d\" or \"2w\"", rule,
		           key, s);
	return d;
}

static int pick_name(const char *s, const char *const *names)
{
	for (int i = 0; names[i]; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

/* The strings of a rule, read and checked before anything is allocated,
 * so a mistake raises with nothing to free. */
typedef struct rule_text {
	const char *name, *metric, *from, *to, *severity, *message, *funnel;
	int n_labels, n_command;
} rule_text;

static void check_rule_strings(lua_State *L, int t, rule_text *rt)
{
	const char *what = "rule";

	if ((rt->name = opt_string_field(L, t, "name", what)) == NULL || rt->name[0] == '\0')
		luaL_error(L, "rule: 'name' is required");
	rt->metric = opt_string_field(L, t, "metric", what);
	rt->from = opt_string_field(L, t, "from", what);
	rt->to = opt_string_field(L, t, "to", what);
	rt->severity = opt_string_field(L, t, "severity", what);
	rt->message = opt_string_field(L, t, "message", what);
	rt->funnel = opt_string_field(L, t, "funnel", what);
	if (field(L, t, "labels") != LUA_TNIL) {
		if (!lua_istable(L, -1))
			luaL_error(L, "rule '%s': labels must be a table of name = value", rt->name);
		lua_pushnil(L);
		while (lua_next(L, -2) != 0) {
			if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
				luaL_error(L, "rule '%s': labels must map strings to strings", rt->name);
			rt->n_labels++;
			lua_pop(L, 1);
		}
	}
	lua_pop(L, 1);
	if (field(L, t, "command") != LUA_TNIL) {
		if (!lua_istable(L, -1) || (rt->n_command = (int)lua_rawlen(L, -1)) == 0)
			luaL_error(L, "rule '%s': command must be a list of strings (program, then arguments; "
			              "no shell)", rt->name);
		for (int i = 1; i <= rt->n_command; i++) {
			if (lua_rawgeti(L, -1, i) != LUA_TSTRING)
				luaL_error(L, "rule '%s': command[%d] must be a string", rt->name, i);
			lua_pop(L, 1);
		}
	}
	lua_pop(L, 1);
}

static void check_rule_condition(lua_State *L, int t, const rule_text *rt)
{
	int has_when = field(L, t, "when") != LUA_TNIL;

	if (has_when && !lua_isfunction(L, -1))
		luaL_error(L, "rule '%s': 'when' must be a function(s)", rt->name);
	lua_pop(L, 1);
	if (has_when == (rt->metric != NULL))
		luaL_error(L, "rule '%s': give either metric = ... with op and threshold, or when = "
		              "function(s)", rt->name);
	if (rt->metric != NULL) {
		if (field(L, t, "threshold") != LUA_TNUMBER)
			luaL_error(L, "rule '%s': metric rules need a numeric threshold", rt->name);
		lua_pop(L, 1);
	}
	if (rt->metric != NULL && strcmp(rt->metric, "conversion") == 0 && (!rt->from || !rt->to))
		luaL_error(L, "rule '%s': metric \"conversion\" needs from = and to = stages", rt->name);
	if (field(L, t, "sample") != LUA_TNIL && !lua_isfunction(L, -1))
		luaL_error(L, "rule '%s': 'sample' must be a function(s) returning a count", rt->name);
	lua_pop(L, 1);
}

static char **copy_string_list(lua_State *L, int t, int n, int keys)
{
	char **v = calloc((size_t)n + 1, sizeof *v);
	int i = 0;

	if (v == NULL)
		return NULL;
	lua_pushnil(L);
	while (i < n && lua_next(L, t) != 0) {
		v[i++] = strdup(lua_tostring(L, keys ? -2 : -1));
		lua_pop(L, 1);
	}
	if (i == n && n > 0)
		lua_pop(L, 1); /* the key lua_next was not asked to finish */
	return v;
}

static int copy_rule_strings(lua_State *L, int t, const rule_text *rt, se_alert_rule *a)
{
	int ok;

	a->name = strdup(rt->name);
	a->metric = rt->metric ? strdup(rt->metric) : NULL;
	a->from = rt->from ? strdup(rt->from) : NULL;
	a->to = rt->to ? strdup(rt->to) : NULL;
	a->severity = strdup(rt->severity ? rt->severity : "warning");
	a->message = rt->message ? strdup(rt->message) : NULL;
	ok = a->name && a->severity && (!rt->metric || a->metric) && (!rt->from || a->from) &&
	     (!rt->to || a->to) && (!rt->message || a->message);
	if (rt->n_labels > 0) {
		field(L, t, "labels");
		a->label_keys = copy_string_list(L, lua_gettop(L), rt->n_labels, 1);
		a->label_values = copy_string_list(L, lua_gettop(L), rt->n_labels, 0);
		lua_pop(L, 1);
		a->n_labels = rt->n_labels;
		for (int i = 0; ok && i < rt->n_labels; i++)
			ok = a->label_keys && a->label_values && a->label_keys[i] && a->label_values[i];
		ok = ok && a->label_keys && a->label_values;
	}
	if (rt->n_command > 0) {
		field(L, t, "command");
		if ((a->command = calloc((size_t)rt->n_command + 1, sizeof *a->command)) != NULL)
			for (int i = 0; i < rt->n_command; i++) {
				lua_rawgeti(L, -1, i + 1);
				a->command[i] = strdup(lua_tostring(L, -1));
				ok = ok && a->command[i];
				lua_pop(L, 1);
			}
		ok = ok && a->command;
		lua_pop(L, 1);
	}
	return ok ? SE_OK : SE_ENOMEM;
}

static void read_rule_numbers(lua_State *L, int t, const rule_text *rt, se_alert_rule *a)
{
	static const char *const scopes[] = { "team", "manager", "source", "funnel", NULL };
	static const char *const windows[] = { "current", "previous", "all", NULL };
	static const char *const ops[] = { "<", "<=", ">", ">=", "==", "~=", NULL };
	const char *s;
	int type;

	if ((s = opt_string_field(L, t, "scope", "rule")) != NULL && (a->scope = pick_name(s, scopes)) < 0)
		luaL_error(L, "rule '%s': scope must be team, manager, source or funnel, not \"%s\"",
		           rt->name, s);
	if ((s = opt_string_field(L, t, "window", "rule")) != NULL &&
	    (a->window = pick_name(s, windows)) < 0)
		luaL_error(L, "rule '%s': window must be current, previous or all, not \"%s\"", rt->name, s);
	if ((s = opt_string_field(L, t, "op", "rule")) != NULL && (a->op = pick_name(s, ops)) < 0)
		luaL_error(L, "rule '%s': op must be one of < <= > >= == ~=, not \"%s\"", rt->name, s);
	if ((s = opt_string_field(L, t, "mode", "rule")) != NULL)
		a->mode = check_mode(L, s, "rule");
	if (field(L, t, "threshold") == LUA_TNUMBER) {
		a->threshold = lua_tonumber(L, -1);
		a->has_threshold = 1;
	}
	lua_pop(L, 1);
	if ((type = field(L, t, "min_sample")) != LUA_TNIL &&
	    (!lua_isinteger(L, -1) || (a->min_sample = lua_tointeger(L, -1)) < 0))
		luaL_error(L, "rule '%s': min_sample must be a whole number >= 0", rt->name);
	lua_pop(L, 1);
	a->hold_runs = 1;
	for (const char *const *k = (const char *const[]){ "hold", "for", NULL }; *k; k++) {
		type = field(L, t, *k);
		if (type == LUA_TSTRING)
			a->hold_seconds = check_duration(L, rt->name, *k, lua_tostring(L, -1));
		else if (type == LUA_TNUMBER && lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 1 &&
		         lua_tointeger(L, -1) <= 100000)
			a->hold_runs = (int)lua_tointeger(L, -1);
		else if (type != LUA_TNIL)
			luaL_error(L, "rule '%s': %s must be a number of runs (>= 1) or a duration like \"2h\"",
			           rt->name, *k);
		lua_pop(L, 1);
	}
	if ((s = opt_string_field(L, t, "repeat_every", "rule")) != NULL)
		a->repeat_seconds = check_duration(L, rt->name, "repeat_every", s);
	a->within = -1;
	if ((s = opt_string_field(L, t, "within", "rule")) != NULL)
		a->within = check_duration(L, rt->name, "within", s);
	a->format = -1;
	if ((s = opt_string_field(L, t, "format", "rule")) != NULL &&
	    (a->format = pick_name(s, (const char *const[]){ "number", "percent", "money", NULL })) < 0)
		luaL_error(L, "rule '%s': format must be number, percent or money, not \"%s\"", rt->name, s);
}

static int l_rule(lua_State *L)
{
	static const char *const keys[] = {
		"name", "scope", "funnel", "window", "metric", "from", "to", "within", "mode", "op",
		"threshold", "when", "sample", "min_sample", "hold", "for", "repeat_every", "severity",
		"labels", "message", "format", "command", NULL
	};
	sandbox *sb = declaring(L, "rule");
	se_rules *r = sb->rules;
	se_alert_rule a;
	rule_text rt = { 0 };

	luaL_checktype(L, 1, LUA_TTABLE);
	check_keys(L, 1, "rule", keys, 0);
	memset(&a, 0, sizeof a);
	a.funnel = -1;
	check_rule_strings(L, 1, &rt);
	for (int i = 0; i < r->n_alerts; i++)
		if (strcmp(r->alerts[i].name, rt.name) == 0)
			return luaL_error(L, "rule '%s' is declared twice (first at %s)", rt.name,
			                  r->alerts[i].where);
	check_rule_condition(L, 1, &rt);
	read_rule_numbers(L, 1, &rt, &a);
	if (rt.funnel != NULL)
		a.funnel = funnel_index_or_raise(L, r, rt.funnel, "rule");
	/* The condition functions, kept by the rule's index: {when, sample}. */
	lua_createtable(L, 0, 2);
	field(L, 1, "when");
	lua_setfield(L, -2, "when");
	field(L, 1, "sample");
	lua_setfield(L, -2, "sample");
	keep_function(L, "se.rule_fns", -1, r->n_alerts);
	lua_pop(L, 1);
	luaL_where(L, 1);
	a.where = strdup(lua_tostring(L, -1));
	lua_pop(L, 1);
	if (a.where != NULL) {
		size_t n = strlen(a.where); /* luaL_where ends with ": " */

		if (n >= 2)
			a.where[n - 2] = '\0';
	}
	if (a.where == NULL || copy_rule_strings(L, 1, &rt, &a) != SE_OK ||
	    se_rules_add_alert(r, &a) != SE_OK) {
		se_alert_rule_clear(&a);
		return luaL_error(L, "out of memory");
	}
	return 0;
}

/* After the script loaded: every metric a rule names exists, and
 * conversion stages exist in some funnel the rule covers. */
static int check_rule_references(se_rules *r, se_error *err)
{
	for (int i = 0; i < r->n_alerts; i++) {
		const se_alert_rule *a = &r->alerts[i];
		int found = 0;

		if (a->metric == NULL)
			continue;
		if (!is_builtin_metric(a->metric) && se_rules_metric_index(r, a->metric) < 0)
			return se_error_set(err, SE_ESCRIPT, "%s: rule '%s': no metric '%s' (built-in: leads, "
			                    "won, revenue, lost, nontarget, presale, presale_amount, forecast, "
			                    "conversion; or declare it with metric{})", a->where, a->name, a->metric);
		if (strcmp(a->metric, "conversion") != 0)
			continue;
		for (int f = 0; f < r->n_funnels && !found; f++) {
			int x, y;

			if (a->funnel >= 0 && f != a->funnel)
				continue;
			x = se_funnel_stage_index(&r->funnels[f], a->from);
			y = se_funnel_stage_index(&r->funnels[f], a->to);
			found = x >= 0 && y > x;
			for (int p = 0; found && a->within > 0 && p <= r->funnels[f].n_pairs; p++) {
				const se_pair *pr = &r->funnels[f].pairs[p];

				if (p == r->funnels[f].n_pairs)
					return se_error_set(err, SE_ESCRIPT, "%s: rule '%s': no pair '%s' -> '%s' with "
					                    "that window in funnel '%s': declare it in pairs{}",
					                    a->where, a->name, a->from, a->to, r->funnels[f].name);
				if (pr->from == x && pr->to == y && pr->window == a->within)
					break;
			}
		}
		if (!found)
			return se_error_set(err, SE_ESCRIPT, "%s: rule '%s': '%s' -> '%s' is not a forward "
			                    "step of any funnel it covers", a->where, a->name, a->from, a->to);
	}
	return SE_OK;
}

/* rules_file("alerts/team.lua"): loads more rule{} and metric{}
 * declarations from a file beside the script.  A file that does not
 * compile or raises while loading is reported when the rules run, and
 * the other rules still run: one broken file does not silence them all. */
static int l_rules_file(lua_State *L)
{
	sandbox *sb = declaring(L, "rules_file");
	const char *name = luaL_checkstring(L, 1);
	char path[PATH_MAX + 260];
	int status;

	if (name[0] == '/' || strstr(name, "..") != NULL)
		return luaL_error(L, "rules_file: '%s' must be a path inside the script's directory", name);
	snprintf(path, sizeof path, "%s/%s", sb->dir, name);
	if (!file_exists(path))
		return luaL_error(L, "rules_file: cannot open %s", path);
	remember_file(sb, path);
	status = luaL_loadfilex(L, path, "t");
	if (status == LUA_OK) {
		lua_pushcfunction(L, message_handler);
		lua_insert(L, -2);
		status = lua_pcall(L, 0, 0, -2);
		lua_remove(L, -2);
	}
	if (status != LUA_OK) {
		if (sb->instructions_hit || sb->memory_hit)
			return reraise_limit(L, sb);
		lua_getfield(L, LUA_REGISTRYINDEX, "se.file_errors");
		lua_pushvalue(L, -2);
		lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
		lua_pop(L, 2);
	}
	return 0;
}

/* ---- running metrics and rules over a report ---------------------------------- */

/* The bucket range a rule's window covers, as of the report's "now". */
static void window_range(const se_report *rep, int window, int64_t *lo, int64_t *hi)
{
	int64_t now = se_report_bucket(rep, rep->as_of);

	if (window == SE_WINDOW_ALL || rep->period == SE_PERIOD_TOTAL) {
		*lo = INT64_MIN + 1; /* INT64_MIN is the cube's state key */
		*hi = INT64_MAX;
		return;
	}
	*lo = *hi = window == SE_WINDOW_PREVIOUS ? now - 1 : now;
}

static int l_run_metric(lua_State *L)
{
	int m = (int)lua_tointeger(L, 1);
	lscope s = *(const lscope *)lua_touserdata(L, 2);

	call_metric_fn(L, m, &s);
	return 2;
}

/* Runs metric m for scope s from C: value (NAN for nil) and sample (-1
 * when the function gave none). */
static int run_metric(se_script *sc, int m, const lscope *s, double *value, int64_t *sample,
                      se_error *err)
{
	lua_State *L = sc->sb.L;
	int rc;

	lua_pushcfunction(L, l_run_metric);
	lua_pushinteger(L, m);
	lua_pushlightuserdata(L, (void *)s);
	if ((rc = protected_call(&sc->sb, 2, 2, err)) != SE_OK) {
		se_error_prefix(err, "metric '%s'", sc->rules->metrics[m].name);
		return rc;
	}
	*value = value_at(L, -2);
	*sample = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : -1;
	lua_pop(L, 2);
	return SE_OK;
}

/* Which managers and sources have flows in each bucket of the table. */
static unsigned char *presence(const se_report *rep, int f, const se_metric_table *t, size_t width,
                               int by_source)
{
	unsigned char *seen = calloc((size_t)t->nb * width, 1);
	size_t n = se_cube_n_cells(rep->cube);

	if (seen == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		int funnel;
		int64_t bucket;
		uint32_t manager, source;

		se_cube_cell_key(rep->cube, i, &funnel, &bucket, &manager, &source);
		if (funnel != f || bucket == SE_CUBE_STATE_BUCKET || bucket < t->lo || bucket >= t->lo + t->nb)
			continue;
		seen[(size_t)(bucket - t->lo) * width + (by_source ? source : manager)] = 1;
	}
	return seen;
}

/* One metric over one funnel: per bucket the team, then every manager and
 * every source with data in that bucket. */
static int fill_metric_table(se_script *sc, se_report *rep, int f, int m, se_error *err)
{
	se_metric_table *t = &rep->metric_tables[f * sc->rules->n_metrics + m];
	size_t wm = rep->n_manager + 1, ws = rep->n_source + 1;
	unsigned char *mgr = presence(rep, f, t, wm, 0), *src = presence(rep, f, t, ws, 1);
	int rc = SE_OK;

	if ((mgr == NULL || src == NULL) && t->nb > 0)
		rc = se_error_set(err, SE_ENOMEM, "out of memory");
	for (int64_t k = 0; k < t->nb && rc == SE_OK; k++) {
		lscope s = { f, SE_CUBE_ANY, SE_CUBE_ANY, t->lo + k, t->lo + k, SE_MODE_DEFAULT };
		int64_t sample;
		int any = 0;

		for (size_t i = 0; i < wm && !any; i++)
			any = mgr[(size_t)k * wm + i];
		if (!any)
			continue;
		rc = run_metric(sc, m, &s, &t->by_manager[(size_t)k * wm + rep->n_manager], &sample, err);
		for (uint32_t id = 0; id < rep->n_manager && rc == SE_OK; id++) {
			if (!mgr[(size_t)k * wm + id])
				continue;
			s.manager = id;
			rc = run_metric(sc, m, &s, &t->by_manager[(size_t)k * wm + id], &sample, err);
		}
		s.manager = SE_CUBE_ANY;
		for (uint32_t id = 0; id < rep->n_source && rc == SE_OK; id++) {
			if (!src[(size_t)k * ws + id])
				continue;
			s.source = id;
			rc = run_metric(sc, m, &s, &t->by_source[(size_t)k * ws + id], &sample, err);
		}
		/* The team value belongs in both tables. */
		t->by_source[(size_t)k * ws + rep->n_source] = t->by_manager[(size_t)k * wm + rep->n_manager];
	}
	free(mgr);
	free(src);
	return rc;
}

int se_script_fill_metrics(se_script *sc, se_report *rep, se_error *err)
{
	const se_rules *r = sc->rules;
	int rc = SE_OK;

	if (r->n_metrics == 0 || rep->cube == NULL || !(rep->reports & SE_REPORT_METRICS))
		return SE_OK;
	if ((rc = se_report_alloc_metric_tables(rep, err)) != SE_OK)
		return rc;
	sc->sb.rep = rep;
	for (int f = 0; f < r->n_funnels && rc == SE_OK; f++) {
		if (rep->only_funnel != SE_NONE && f != rep->only_funnel)
			continue;
		for (int m = 0; m < r->n_metrics && rc == SE_OK; m++) {
			if (r->metrics[m].funnel >= 0 && r->metrics[m].funnel != f)
				continue;
			rc = fill_metric_table(sc, rep, f, m, err);
		}
	}
	sc->sb.rep = NULL;
	return rc;
}

static int compare(double v, int op, double threshold)
{
	switch (op) {
	case SE_CMP_LT: return v < threshold;
	case SE_CMP_LE: return v <= threshold;
	case SE_CMP_GT: return v > threshold;
	case SE_CMP_GE: return v >= threshold;
	case SE_CMP_EQ: return v == threshold;
	default: return v != threshold;
	}
}

/* The value of a rule's metric in scope s; pushes nothing. */
static void rule_metric(lua_State *L, const se_report *rep, const se_alert_rule *a, const lscope *s,
                        double *v, int64_t *sample)
{
	int m = se_rules_metric_index(rep->rules, a->metric), pair = -1;

	if (m >= 0) {
		call_metric_fn(L, m, s);
		*v = value_at(L, -2);
		*sample = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : -1;
		lua_pop(L, 2);
		return;
	}
	if (strcmp(a->metric, "conversion") == 0) {
		const se_funnel *f = &rep->rules->funnels[s->funnel];

		pair = se_cube_pair_index(rep->cube, s->funnel, se_funnel_stage_index(f, a->from),
		                          se_funnel_stage_index(f, a->to), a->within);
		if (pair < 0)
			luaL_error(L, "%s: conversion '%s' -> '%s'%s is not counted: add it to pairs{} of "
			              "funnel '%s'", a->where, a->from, a->to, a->within > 0 ? " (within)" : "",
			           f->name);
	}
	builtin_value(rep, s, a->metric, pair, v, sample);
}

/* l_eval_rule(index, scope) -> verdict (true, false or nil), value, sample.
 * Runs inside one protected call, so the rule's whole evaluation shares
 * one instruction budget. */
static int l_eval_rule(lua_State *L)
{
	sandbox *sb = get_sandbox(L);
	int ri = (int)lua_tointeger(L, 1);
	lscope s = *(const lscope *)lua_touserdata(L, 2);
	const se_report *rep = data_report(L);
	const se_alert_rule *a = &sb->rules->alerts[ri];
	double v = NAN;
	int64_t sample = -1;
	int verdict = -1;

	lua_getfield(L, LUA_REGISTRYINDEX, "se.rule_fns");
	lua_rawgeti(L, -1, ri + 1);
	lua_replace(L, 3);
	lua_settop(L, 3);
	if (a->metric != NULL) {
		rule_metric(L, rep, a, &s, &v, &sample);
		if (!isnan(v))
			verdict = compare(v, a->op, a->threshold);
	} else {
		lua_getfield(L, 3, "when");
		push_scope(L, &s);
		lua_call(L, 1, 3);
		if (lua_isboolean(L, -3)) {
			verdict = lua_toboolean(L, -3);
			v = value_at(L, -2);
			sample = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : -1;
		} else if (lua_isnumber(L, -3)) {
			if (!a->has_threshold)
				return luaL_error(L, "rule '%s': when returned a number but the rule has no "
				                     "threshold (return true/false, or add op and threshold)", a->name);
			v = lua_tonumber(L, -3);
			verdict = compare(v, a->op, a->threshold);
			sample = lua_isinteger(L, -2) ? lua_tointeger(L, -2) : -1;
		} else if (!lua_isnil(L, -3)) {
			return luaL_error(L, "rule '%s': when returned a %s (want true/false, a number or nil)",
			                  a->name, luaL_typename(L, -3));
		}
		lua_settop(L, 3);
	}
	if (lua_getfield(L, 3, "sample") == LUA_TFUNCTION) {
		push_scope(L, &s);
		lua_call(L, 1, 1);
		if (!lua_isinteger(L, -1))
			return luaL_error(L, "rule '%s': sample returned a %s, not a whole number", a->name,
			                  luaL_typename(L, -1));
		sample = lua_tointeger(L, -1);
	}
	if (verdict < 0)
		lua_pushnil(L);
	else
		lua_pushboolean(L, verdict);
	lua_pushnumber(L, v);
	lua_pushinteger(L, sample);
	return 3;
}

typedef struct results {
	se_rule_result *v;
	size_t n, cap;
} results;

static se_rule_result *add_result(results *rs)
{
	if (rs->n == rs->cap) {
		size_t cap = rs->cap ? rs->cap * 2 : 32;
		se_rule_result *nv = realloc(rs->v, cap * sizeof *nv);

		if (nv == NULL)
			return NULL;
		rs->v = nv;
		rs->cap = cap;
	}
	memset(&rs->v[rs->n], 0, sizeof rs->v[0]);
	return &rs->v[rs->n++];
}

/* Evaluates rule ri in scope s into res; SE_ENOMEM only. */
static void eval_one(se_script *sc, int ri, const lscope *s, se_rule_result *res)
{
	const se_alert_rule *a = &sc->rules->alerts[ri];
	lua_State *L = sc->sb.L;
	se_error e;

	res->rule = ri;
	res->funnel = s->funnel;
	res->manager = s->manager;
	res->source = s->source;
	res->value = NAN;
	res->sample = -1;
	size_t limit = sc->sb.limit;
	int rc;

	/* Nothing that allocates outside the protected call: the scope goes
	 * in as a light pointer and becomes a userdata inside. */
	lua_pushcfunction(L, l_eval_rule);
	lua_pushinteger(L, ri);
	lua_pushlightuserdata(L, (void *)s);
	/* One rule may grow the heap by RULE_MEMORY at most: a memory bomb is
	 * stopped early, and leaves room for the rules after it. */
	if (sc->sb.used + RULE_MEMORY < limit) {
		sc->sb.limit = sc->sb.used + RULE_MEMORY;
		sc->sb.rule_capped = 1;
	}
	rc = protected_call(&sc->sb, 2, 3, &e);
	sc->sb.limit = limit;
	sc->sb.rule_capped = 0;
	if (rc != SE_OK) {
		res->status = SE_RULE_FAILED;
		snprintf(res->message, sizeof res->message, "rule '%s' (%s): %s", a->name, a->where, e.msg);
		lua_gc(L, LUA_GCCOLLECT); /* what a memory bomb left is garbage now */
		return;
	}
	res->value = value_at(L, -2);
	res->sample = lua_tointeger(L, -1);
	if (lua_isnil(L, -3))
		res->status = SE_RULE_UNKNOWN;
	else
		res->status = lua_toboolean(L, -3) ? SE_RULE_HOLDS : SE_RULE_CLEAR;
	lua_pop(L, 3);
	if (res->status == SE_RULE_UNKNOWN || a->min_sample == 0)
		return;
	if (res->sample < 0) {
		res->status = SE_RULE_FAILED;
		snprintf(res->message, sizeof res->message, "rule '%s' (%s): min_sample is set but the "
		         "condition gives no sample size (return it as a second value, or add sample = "
		         "function(s))", a->name, a->where);
	} else if (res->sample < a->min_sample) {
		res->status = SE_RULE_UNKNOWN;
	}
}

/* Managers (or sources) to evaluate a per-manager rule for: those with
 * flows in the window, or with deals open now. */
static int scope_has_data(const se_report *rep, const lscope *s)
{
	se_cube_filter q = scope_filter(s);
	int64_t deals, amount, none;

	if (se_cube_reached(rep->cube, &q, SE_MODE_REACHED, 0) > 0 || se_cube_lost(rep->cube, &q) > 0 ||
	    se_cube_nontarget(rep->cube, &q) > 0)
		return 1;
	for (int st = 0; st < rep->rules->funnels[s->funnel].n_stages; st++)
		if (se_cube_reached(rep->cube, &q, SE_MODE_REACHED, st) > 0)
			return 1;
	se_cube_open(rep->cube, &q, -1, 0, &deals, &amount, &none);
	return deals > 0;
}

static int rule_covers(const se_report *rep, const se_alert_rule *a, int f)
{
	const se_funnel *fn = &rep->rules->funnels[f];

	if ((a->funnel >= 0 && a->funnel != f) || (rep->only_funnel != SE_NONE && f != rep->only_funnel))
		return 0;
	if (a->metric != NULL && strcmp(a->metric, "conversion") == 0)
		return se_funnel_stage_index(fn, a->from) >= 0 && se_funnel_stage_index(fn, a->to) >= 0;
	return 1;
}

/* Every scope of rule ri; stops at its first failure (one message per
 * broken rule, not one per manager). */
static int eval_rule(se_script *sc, const se_report *rep, int ri, results *rs)
{
	const se_alert_rule *a = &sc->rules->alerts[ri];

	for (int f = 0; f < sc->rules->n_funnels; f++) {
		lscope s = { f, SE_CUBE_ANY, SE_CUBE_ANY, 0, 0, a->mode };
		uint32_t n = a->scope == SE_SCOPE_MANAGER ? rep->n_manager
		             : a->scope == SE_SCOPE_SOURCE ? rep->n_source : 1;

		if (!rule_covers(rep, a, f))
			continue;
		window_range(rep, a->window, &s.lo, &s.hi);
		for (uint32_t id = 0; id < n; id++) {
			se_rule_result *res;

			if (a->scope == SE_SCOPE_MANAGER)
				s.manager = id;
			else if (a->scope == SE_SCOPE_SOURCE)
				s.source = id;
			if (n > 1 && !scope_has_data(rep, &s))
				continue;
			if ((res = add_result(rs)) == NULL)
				return SE_ENOMEM;
			eval_one(sc, ri, &s, res);
			if (res->status == SE_RULE_FAILED)
				return SE_OK;
		}
	}
	return SE_OK;
}

/* rules_file()s that failed to load, as failed results. */
static int add_file_errors(se_script *sc, results *rs)
{
	lua_State *L = sc->sb.L;
	lua_Integer n;

	lua_getfield(L, LUA_REGISTRYINDEX, "se.file_errors");
	n = (lua_Integer)lua_rawlen(L, -1);
	for (lua_Integer i = 1; i <= n; i++) {
		se_rule_result *res = add_result(rs);
		se_error e;

		if (res == NULL) {
			lua_pop(L, 1);
			return SE_ENOMEM;
		}
		lua_rawgeti(L, -1, i);
		set_script_error(&sc->sb, &e, SE_ESCRIPT, lua_tostring(L, -1) ? lua_tostring(L, -1) : "?");
		lua_pop(L, 1);
		res->rule = res->funnel = -1;
		res->manager = res->source = SE_CUBE_ANY;
		res->status = SE_RULE_FAILED;
		res->value = NAN;
		res->sample = -1;
		snprintf(res->message, sizeof res->message, "rules file: %s (its rules are not loaded)", e.msg);
	}
	lua_pop(L, 1);
	return SE_OK;
}

int se_script_eval_rules(se_script *sc, const se_report *rep, se_rule_result **out, size_t *n,
                         se_error *err)
{
	results rs = { NULL, 0, 0 };
	int rc = add_file_errors(sc, &rs);

	*out = NULL;
	*n = 0;
	sc->sb.rep = rep;
	for (int i = 0; i < sc->rules->n_alerts && rc == SE_OK && rep->cube != NULL; i++)
		rc = eval_rule(sc, rep, i, &rs);
	sc->sb.rep = NULL;
	if (rc != SE_OK) {
		free(rs.v);
		return se_error_set(err, SE_ENOMEM, "out of memory evaluating rules");
	}
	*out = rs.v;
	*n = rs.n;
	return SE_OK;
}

int se_script_metric_value(se_script *sc, const se_report *rep, const char *metric,
                           const char *funnel, const char *manager, const char *source,
                           double *value, se_error *err)
{
	lscope s = { 0, SE_CUBE_ANY, SE_CUBE_ANY, 0, 0, SE_MODE_DEFAULT };
	int m = se_rules_metric_index(sc->rules, metric);
	int64_t sample;
	int rc;

	*value = NAN;
	if (rep->cube == NULL)
		return se_error_set(err, SE_ERR, "the report was built without metrics");
	if (funnel != NULL) {
		for (s.funnel = 0; s.funnel < sc->rules->n_funnels; s.funnel++)
			if (strcmp(sc->rules->funnels[s.funnel].name, funnel) == 0)
				break;
		if (s.funnel == sc->rules->n_funnels)
			return se_error_set(err, SE_EUSAGE, "no funnel '%s'", funnel);
	}
	if (manager != NULL)
		s.manager = name_id(rep->managers, rep->n_manager, manager);
	if (source != NULL)
		s.source = name_id(rep->sources, rep->n_source, source);
	window_range(rep, SE_WINDOW_CURRENT, &s.lo, &s.hi);
	if (m < 0) {
		if (!is_builtin_metric(metric) || strcmp(metric, "conversion") == 0)
			return se_error_set(err, SE_EUSAGE, "no metric '%s'", metric);
		builtin_value(rep, &s, metric, -1, value, &sample);
		return SE_OK;
	}
	sc->sb.rep = rep;
	rc = run_metric(sc, m, &s, value, &sample, err);
	sc->sb.rep = NULL;
	return rc;
}

/* ---- import adapters ---------------------------------------------------------- */

/*
 * An adapter (scripts/importers/<crm>.lua, docs/IMPORTERS.md) is a module
 * run in its own sandbox, with the same libraries, blocked calls and
 * limits as a rules script (the limits apply per call: per record), but
 * without settings{} and funnel{}.  It returns a table:
 *   name, records, timezone   strings, all optional
 *   start(ctx), finish(emit, ctx)   optional, once per input file
 *   record(rec, emit, ctx)    required, once per input record
 * emit{...} hands one canonical event to adapter.c; ctx carries the file,
 * the record number, the snapshot time and the state functions.  A host
 * failure inside emit or ctx.state_* (the store) is kept in host_err and
 * the call is stopped with an error, so the caller can tell it from the
 * adapter's own mistakes.
 */
struct se_adapter {
	sandbox sb;                /* first: get_sandbox() gives the adapter */
	se_adapter_host host;
	int module_ref, ctx_ref, emit_ref;
	char name[128];
	char *records, *timezone;
	int host_failed;
	se_error host_err;
};

static void script_dir(const char *path, char *dir, size_t size);

static se_adapter *get_adapter(lua_State *L)
{
	return (se_adapter *)get_sandbox(L);
}

static int host_failure(lua_State *L, se_adapter *a, const se_error *e)
{
	a->host_failed = 1;
	a->host_err = *e;
	return luaL_error(L, "%s", e->msg);
}

/* A value of emit{} as text: what the canonical import would read. */
static const char *emit_value(lua_State *L, int idx, const char *key, char *buf, size_t size,
                              size_t *len)
{
	if (lua_type(L, idx) == LUA_TSTRING)
		return lua_tolstring(L, idx, len);
	if (lua_type(L, idx) == LUA_TNUMBER) {
		if (lua_isinteger(L, idx)) {
			snprintf(buf, size, "%lld", (long long)lua_tointeger(L, idx));
		} else {
			lua_Number x = lua_tonumber(L, idx);

			/* Whole floats (unix seconds from arithmetic) print without ".0". */
			if (x == (lua_Number)(long long)x && x > -9e15 && x < 9e15)
				snprintf(buf, size, "%lld", (long long)x);
			else
				snprintf(buf, size, "%.15g", (double)x);
		}
		*len = strlen(buf);
		return buf;
	}
	luaL_error(L, "emit: '%s' must be a string or a number, not a %s", key, luaL_typename(L, idx));
	return NULL;
}

/* emit{event_id=, deal_id=, ts=, stage=, ...}: true if the event was
 * accepted, false if it was rejected (and reported). */
static int l_emit(lua_State *L)
{
	se_adapter *a = get_adapter(L);
	const char *names[F_COUNT + 1];
	char bufs[F_COUNT][64];
	row_text row;
	int accepted = 0;
	se_error e;

	luaL_checktype(L, 1, LUA_TTABLE);
	for (int f = 0; f < F_COUNT; f++)
		names[f] = se_rows_field_name(f);
	names[F_COUNT] = NULL;
	check_keys(L, 1, "emit", names, 0);
	memset(&row, 0, sizeof row);
	lua_getfield(L, lua_upvalueindex(1), "record");
	row.line = lua_isinteger(L, -1) ? (long)lua_tointeger(L, -1) : -1;
	lua_pop(L, 1);
	for (int f = 0; f < F_COUNT; f++) {
		/* The values stay on the stack until the host has them. */
		if (lua_getfield(L, 1, names[f]) == LUA_TNIL)
			continue;
		row.ptr[f] = emit_value(L, -1, names[f], bufs[f], sizeof bufs[f], &row.len[f]);
	}
	if (a->host.emit(a->host.ud, &row, &accepted, &e) != SE_OK)
		return host_failure(L, a, &e);
	lua_pushboolean(L, accepted);
	return 1;
}

static int l_state_get(lua_State *L)
{
	se_adapter *a = get_adapter(L);
	size_t len, vlen;
	const char *key = luaL_checklstring(L, 1, &len), *value;
	se_error e;

	if (a->host.state_get(a->host.ud, key, len, &value, &vlen, &e) != SE_OK)
		return host_failure(L, a, &e);
	if (value == NULL)
		lua_pushnil(L);
	else
		lua_pushlstring(L, value, vlen);
	return 1;
}

/* ctx.state_set(key, value): value a string or a number; nil deletes. */
static int l_state_set(lua_State *L)
{
	se_adapter *a = get_adapter(L);
	size_t len, vlen = 0;
	const char *key = luaL_checklstring(L, 1, &len), *value = NULL;
	se_error e;

	if (!lua_isnoneornil(L, 2))
		value = luaL_checklstring(L, 2, &vlen);
	if (a->host.state_set(a->host.ud, key, len, value, vlen, &e) != SE_OK)
		return host_failure(L, a, &e);
	return 0;
}

static int collect_key(void *ud, const char *key, size_t len)
{
	lua_State *L = ud;

	lua_pushlstring(L, key, len);
	lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
	return SE_OK;
}

/* ctx.state_keys(prefix): the stored keys that start with prefix, sorted. */
static int l_state_keys(lua_State *L)
{
	se_adapter *a = get_adapter(L);
	size_t len;
	const char *prefix = luaL_optlstring(L, 1, "", &len);
	se_error e;

	lua_newtable(L);
	if (a->host.state_keys(a->host.ud, prefix, len, collect_key, L, &e) != SE_OK)
		return host_failure(L, a, &e);
	return 1;
}

static int adapter_fail(se_adapter *a, int rc, se_error *err)
{
	if (a->host_failed) {
		a->host_failed = 0;
		*err = a->host_err;
		return err->code;
	}
	return rc;
}

/* Reads the module's table (on top of the stack) into a. */
static int adapter_declarations(se_adapter *a, const char *path, se_error *err)
{
	lua_State *L = a->sb.L;
	static const char *const strings[] = { "name", "records", "timezone", NULL };
	static const char *const functions[] = { "start", "record", "finish", NULL };
	char *values[3] = { NULL, NULL, NULL };

	if (!lua_istable(L, -1))
		return se_error_set(err, SE_ESCRIPT, "%s: an adapter must return a table with a function record(rec, emit, ctx)", path);
	for (int i = 0; strings[i]; i++) {
		int type = lua_getfield(L, -1, strings[i]);

		if (type == LUA_TSTRING && (values[i] = strdup(lua_tostring(L, -1))) == NULL) {
			lua_pop(L, 1);
			for (int j = 0; j < i; j++)
				free(values[j]);
			return se_error_set(err, SE_ENOMEM, "out of memory");
		}
		lua_pop(L, 1);
		if (type != LUA_TSTRING && type != LUA_TNIL) {
			for (int j = 0; j < i; j++)
				free(values[j]);
			return se_error_set(err, SE_ESCRIPT, "%s: the adapter's '%s' must be a string, not a %s", path, strings[i], lua_typename(L, type));
		}
	}
	if (values[0] != NULL) {
		snprintf(a->name, sizeof a->name, "%s", values[0]);
		free(values[0]);
	}
	a->records = values[1];
	a->timezone = values[2];
	for (int i = 0; functions[i]; i++) {
		int type = lua_getfield(L, -1, functions[i]);

		lua_pop(L, 1);
		if (type != LUA_TFUNCTION && (type != LUA_TNIL || i == 1))
			return se_error_set(err, SE_ESCRIPT, "%s: the adapter's '%s' must be a function, not a %s", path, functions[i], lua_typename(L, type));
	}
	return SE_OK;
}

int se_adapter_load(se_adapter **out, const char *path, const se_script_limits *limits,
                    const se_adapter_host *host, se_error *err)
{
	se_adapter *a;
	lua_State *L;
	const char *base = strrchr(path, '/');
	int rc;

	*out = NULL;
	if ((a = calloc(1, sizeof *a)) == NULL)
		return se_error_set(err, SE_ENOMEM, "out of memory");
	a->host = *host;
	a->module_ref = a->ctx_ref = a->emit_ref = LUA_NOREF;
	snprintf(a->name, sizeof a->name, "%.*s", (int)strcspn(base ? base + 1 : path, "."), base ? base + 1 : path);
	if ((rc = start_sandbox(&a->sb, NULL, path, limits, err)) != SE_OK) {
		se_adapter_free(a);
		return rc;
	}
	L = a->sb.L;
	/* Declarations belong to rules scripts: in an adapter they are undefined. */
	lua_pushglobaltable(L);
	for (const char *const *d = (const char *const[]){ "settings", "funnel", "metric", "rule",
	                                                   "rules_file", NULL }; *d; d++) {
		lua_pushnil(L);
		lua_setfield(L, -2, *d);
	}
	lua_pop(L, 1);
	remember_file(&a->sb, path);
	if (luaL_loadfilex(L, path, "t") != LUA_OK) {
		set_script_error(&a->sb, err, lua_status(L) == LUA_ERRMEM ? SE_ELIMIT : SE_ESCRIPT,
		                 lua_tostring(L, -1) ? lua_tostring(L, -1) : "cannot load");
		se_adapter_free(a);
		return err ? err->code : SE_ESCRIPT;
	}
	if ((rc = protected_call(&a->sb, 0, 1, err)) != SE_OK ||
	    (rc = adapter_declarations(a, path, err)) != SE_OK) {
		se_adapter_free(a);
		return rc;
	}
	a->module_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_newtable(L); /* ctx */
	lua_pushcfunction(L, l_state_get);
	lua_setfield(L, -2, "state_get");
	lua_pushcfunction(L, l_state_set);
	lua_setfield(L, -2, "state_set");
	lua_pushcfunction(L, l_state_keys);
	lua_setfield(L, -2, "state_keys");
	lua_pushvalue(L, -1);
	lua_pushcclosure(L, l_emit, 1); /* reads ctx.record for messages */
	a->emit_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	a->ctx_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	*out = a;
	return SE_OK;
}

void se_adapter_free(se_adapter *a)
{
	if (a == NULL)
		return;
	if (a->sb.L != NULL)
		lua_close(a->sb.L);
	free(a->records);
	free(a->timezone);
	free(a);
}

const char *se_adapter_name(const se_adapter *a)
{
	return a->name;
}

const char *se_adapter_records(const se_adapter *a)
{
	return a->records;
}

const char *se_adapter_timezone(const se_adapter *a)
{
	return a->timezone;
}

/* Sets ctx[key] to the value on top of the stack (popped). */
static void set_ctx(se_adapter *a, const char *key)
{
	lua_State *L = a->sb.L;

	lua_rawgeti(L, LUA_REGISTRYINDEX, a->ctx_ref);
	lua_insert(L, -2);
	lua_setfield(L, -2, key);
	lua_pop(L, 1);
}

/* Between calls the stack is empty, and these few pushes cannot exceed the
 * memory limit by much; a failure to allocate is reported, not raised. */
int se_adapter_set_file(se_adapter *a, const char *file, int input, int inputs, int64_t snapshot,
                        se_error *err)
{
	lua_State *L = a->sb.L;

	if (!lua_checkstack(L, 4))
		return se_error_set(err, SE_ENOMEM, "out of memory");
	lua_pushstring(L, file);
	set_ctx(a, "file");
	lua_pushinteger(L, input);
	set_ctx(a, "input");
	lua_pushinteger(L, inputs);
	set_ctx(a, "inputs");
	if (snapshot == SE_NO_SNAPSHOT)
		lua_pushnil(L);
	else
		lua_pushinteger(L, (lua_Integer)snapshot);
	set_ctx(a, "snapshot_time");
	lua_pushnil(L);
	set_ctx(a, "record");
	return SE_OK;
}

/* Pushes module[fn]; 0 (nothing pushed) when the module has none. */
static int push_hook(se_adapter *a, const char *fn)
{
	lua_State *L = a->sb.L;

	lua_rawgeti(L, LUA_REGISTRYINDEX, a->module_ref);
	if (lua_getfield(L, -1, fn) != LUA_TFUNCTION) {
		lua_pop(L, 2);
		return 0;
	}
	lua_remove(L, -2);
	return 1;
}

/* A host failure is fatal even if the adapter caught its error (pcall). */
static int call_hook(se_adapter *a, int nargs, se_error *err)
{
	int rc = protected_call(&a->sb, nargs, 0, err);

	return rc == SE_OK && !a->host_failed ? SE_OK : adapter_fail(a, rc == SE_OK ? SE_ERR : rc, err);
}

int se_adapter_start(se_adapter *a, se_error *err)
{
	if (!push_hook(a, "start"))
		return SE_OK;
	lua_rawgeti(a->sb.L, LUA_REGISTRYINDEX, a->ctx_ref);
	return call_hook(a, 1, err);
}

int se_adapter_finish(se_adapter *a, se_error *err)
{
	lua_pushnil(a->sb.L);
	set_ctx(a, "record");
	if (!push_hook(a, "finish"))
		return SE_OK;
	lua_rawgeti(a->sb.L, LUA_REGISTRYINDEX, a->emit_ref);
	lua_rawgeti(a->sb.L, LUA_REGISTRYINDEX, a->ctx_ref);
	return call_hook(a, 2, err);
}

/* JSON values become Lua values: objects tables with string keys, arrays
 * sequences from 1, null nil, integers integers.  Runs inside the call's
 * protection (an allocation failure raises). */
static void push_json(lua_State *L, const json_t *v, int depth)
{
	if (depth > 64)
		luaL_error(L, "record nested deeper than 64 levels");
	luaL_checkstack(L, 3, "record too deep");
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		const char *key;
		size_t key_len;
		json_t *item;

		lua_createtable(L, 0, (int)json_object_size(v));
		json_object_keylen_foreach((json_t *)v, key, key_len, item) {
			if (json_is_null(item))
				continue;
			lua_pushlstring(L, key, key_len);
			push_json(L, item, depth + 1);
			lua_rawset(L, -3);
		}
		break;
	}
	case JSON_ARRAY:
		lua_createtable(L, (int)json_array_size(v), 0);
		for (size_t i = 0; i < json_array_size(v); i++) {
			push_json(L, json_array_get(v, i), depth + 1);
			lua_rawseti(L, -2, (lua_Integer)i + 1);
		}
		break;
	case JSON_STRING: lua_pushlstring(L, json_string_value(v), json_string_length(v)); break;
	case JSON_INTEGER: lua_pushinteger(L, (lua_Integer)json_integer_value(v)); break;
	case JSON_REAL: lua_pushnumber(L, json_real_value(v)); break;
	case JSON_TRUE: lua_pushboolean(L, 1); break;
	case JSON_FALSE: lua_pushboolean(L, 0); break;
	default: lua_pushnil(L); break;
	}
}

/* The record's table is built inside the protected call too: a record too
 * large for the memory limit is a limit hit, not a crash. */
static int l_call_json_record(lua_State *L)
{
	const json_t *rec = lua_touserdata(L, 2);

	lua_settop(L, 1);
	push_json(L, rec, 0);
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_pushvalue(L, lua_upvalueindex(2));
	lua_call(L, 3, 0); /* inside protected_call */
	return 0;
}

static int record_call(se_adapter *a, long n, lua_CFunction build, void *data, se_error *err)
{
	lua_State *L = a->sb.L;

	lua_pushinteger(L, n);
	set_ctx(a, "record");
	lua_rawgeti(L, LUA_REGISTRYINDEX, a->emit_ref);
	lua_rawgeti(L, LUA_REGISTRYINDEX, a->ctx_ref);
	lua_pushcclosure(L, build, 2);
	if (!push_hook(a, "record")) {
		lua_pop(L, 1);
		return se_error_set(err, SE_ESCRIPT, "the adapter has no record function");
	}
	lua_pushlightuserdata(L, data);
	return call_hook(a, 2, err);
}

int se_adapter_json_record(se_adapter *a, long n, const json_t *rec, se_error *err)
{
	return record_call(a, n, l_call_json_record, (void *)rec, err);
}

typedef struct csv_row {
	const se_csv_field *names, *values;
	size_t n;
} csv_row;

/* A CSV row becomes a table of header name -> value; empty cells are nil. */
static int l_call_csv_record(lua_State *L)
{
	const csv_row *r = lua_touserdata(L, 2);

	lua_settop(L, 1);
	lua_createtable(L, 0, (int)r->n);
	for (size_t i = 0; i < r->n; i++) {
		if (r->values[i].len == 0)
			continue;
		lua_pushlstring(L, r->names[i].ptr, r->names[i].len);
		lua_pushlstring(L, r->values[i].ptr, r->values[i].len);
		lua_rawset(L, -3);
	}
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_pushvalue(L, lua_upvalueindex(2));
	lua_call(L, 3, 0); /* inside protected_call */
	return 0;
}

int se_adapter_csv_record(se_adapter *a, long line, const se_csv_field *names,
                          const se_csv_field *values, size_t n, se_error *err)
{
	csv_row r = { names, values, n };

	return record_call(a, line, l_call_csv_record, &r, err);
}

/* ---- loading ---------------------------------------------------------------- */

static void script_dir(const char *path, char *dir, size_t size)
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
	remember_file(&sc->sb, path);
	if (luaL_loadfilex(L, path, "t") != LUA_OK) {
		set_script_error(&sc->sb, err, lua_status(L) == LUA_ERRMEM ? SE_ELIMIT : SE_ESCRIPT,
		                 lua_tostring(L, -1));
		lua_pop(L, 1);
		return err ? err->code : SE_ESCRIPT;
	}
	sc->sb.loading = 1;
	rc = protected_call(&sc->sb, 0, 0, err);
	sc->sb.loading = 0;
	if (rc != SE_OK)
		return rc;
	if (sc->rules->n_funnels == 0)
		return se_error_set(err, SE_ESCRIPT, "%s: declares no funnel (add funnel { name = ..., stages = {...} })", path);
	return check_rule_references(sc->rules, err);
}

/* A fresh Lua state with the sandbox's libraries, guards and limits, for
 * the script at path (whose directory require() and rules_file() use). */
static int start_sandbox(sandbox *sb, se_rules *rules, const char *path,
                         const se_script_limits *limits, se_error *err)
{
	sb->rules = rules;
	sb->limit = limits && limits->memory ? limits->memory : SE_SCRIPT_DEFAULT_MEMORY;
	sb->max_instructions = limits && limits->instructions ? limits->instructions
	                                                    : SE_SCRIPT_DEFAULT_INSTRUCTIONS;
	script_dir(path, sb->dir, sizeof sb->dir);
	verbose_errors = getenv("SALESENGINE_TRACEBACK") != NULL;
	sb->L = lua_newstate(limited_alloc, sb);
	if (sb->L == NULL)
		return se_error_set(err, SE_ENOMEM, "out of memory starting Lua");
	lua_pushlightuserdata(sb->L, sb);
	lua_rawsetp(sb->L, LUA_REGISTRYINDEX, &sandbox_key);
	lua_sethook(sb->L, count_hook, LUA_MASKCOUNT, HOOK_EVERY);
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
	if ((rc = start_sandbox(&sc->sb, sc->rules, path, limits, err)) != SE_OK ||
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

/* ---- rule tests: test{} ------------------------------------------------------------ */

/*
 * A rule test file is a script of its own, in the same sandbox, whose
 * test{} calls each run one test at once: a fresh store, the rules script
 * it names, the deals it describes, and evaluations at the times it
 * lists, each compared with what it expects.  Failures print a readable
 * diff; the counts decide the exit status.
 */
#define RULETEST_MT "salesengine.RuleTest"

typedef struct test_run {
	int passed, failed;
	se_script_limits limits;
} test_run;

static int l_ruletest_gc(lua_State *L)
{
	se_ruletest **box = luaL_checkudata(L, 1, RULETEST_MT);

	se_ruletest_free(*box);
	*box = NULL;
	return 0;
}

static const char *const state_lists[] = { "firing", "pending", "resolved", "failed", "fired",
	                                        "repeated", NULL };

/* Is alert a in the state a list of that name checks? */
static int in_state(const se_alert *a, const char *list)
{
	if (strcmp(list, "failed") == 0)
		return a->status == SE_RULE_FAILED;
	if (a->status == SE_RULE_FAILED)
		return 0;
	if (strcmp(list, "resolved") == 0)
		return a->announce == SE_ANNOUNCE_RESOLVED;
	if (strcmp(list, "fired") == 0)
		return a->announce == SE_ANNOUNCE_FIRING;
	if (strcmp(list, "repeated") == 0)
		return a->announce == SE_ANNOUNCE_REPEAT;
	return strcmp(a->state, list) == 0;
}

static int close_enough(double got, double want, double tolerance)
{
	return fabs(got - want) <= tolerance * (fabs(want) > 1 ? fabs(want) : 1);
}

/* Does the expectation at table index e match alert a?  Every key but
 * value/tolerance is a label that must be equal (partial matching). */
static int expectation_matches(lua_State *L, int e, const se_alert *a)
{
	double tolerance = 1e-9;

	if (lua_getfield(L, e, "tolerance") == LUA_TNUMBER)
		tolerance = lua_tonumber(L, -1);
	lua_pop(L, 1);
	lua_pushnil(L);
	while (lua_next(L, e) != 0) {
		const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
		int ok = 1;

		if (key == NULL || strcmp(key, "tolerance") == 0) {
			/* not a label */
		} else if (strcmp(key, "value") == 0) {
			ok = lua_isnumber(L, -1) && close_enough(a->value, lua_tonumber(L, -1), tolerance);
		} else {
			const char *want = lua_tostring(L, -1), *got = se_alert_label(a, key);

			ok = want != NULL && got != NULL && strcmp(want, got) == 0;
		}
		lua_pop(L, 1);
		if (!ok) {
			lua_pop(L, 1);
			return 0;
		}
	}
	return 1;
}

static void print_expectation(lua_State *L, int e)
{
	int first = 1;

	printf("    {");
	lua_pushnil(L);
	while (lua_next(L, e) != 0) {
		const char *key, *value;

		lua_pushvalue(L, -2);
		key = lua_tostring(L, -1); /* a copy of the key: lua_next needs the original */
		value = luaL_tolstring(L, -2, NULL);
		printf("%s%s=%s", first ? "" : ", ", key, value);
		lua_pop(L, 3);
		first = 0;
	}
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

/* Compares one state list (the table at index list) with the alerts;
 * prints the diff and returns 0 when they differ. */
static int check_state_list(lua_State *L, int list, const char *state, const se_alert_run *run,
                            const char *header)
{
	lua_Integer n = (lua_Integer)lua_rawlen(L, list);
	unsigned char *used = calloc(run->n + 1, 1);
	int ok = 1, n_actual = 0;

	if (used == NULL)
		luaL_error(L, "out of memory");
	for (size_t i = 0; i < run->n; i++)
		n_actual += in_state(&run->v[i], state);
	for (lua_Integer i = 1; i <= n; i++) {
		int found = 0;

		if (lua_rawgeti(L, list, i) != LUA_TTABLE) {
			free(used);
			luaL_error(L, "test: %s[%d] must be a table like { rule = \"name\", manager = \"...\" }",
			           state, (int)i);
		}
		for (size_t j = 0; j < run->n && !found; j++)
			if (!used[j] && in_state(&run->v[j], state) &&
			    expectation_matches(L, lua_gettop(L), &run->v[j]))
				used[j] = found = 1;
		lua_pop(L, 1);
		ok = ok && found;
	}
	if (!ok || n != n_actual) {
		ok = 0;
		printf("%s: %s\n  expected:\n", header, state);
		if (n == 0)
			printf("    (none)\n");
		for (lua_Integer i = 1; i <= n; i++) {
			lua_rawgeti(L, list, i);
			print_expectation(L, lua_gettop(L));
			lua_pop(L, 1);
		}
		printf("  got:\n");
		if (n_actual == 0)
			printf("    (none)\n");
		for (size_t j = 0; j < run->n; j++)
			if (in_state(&run->v[j], state))
				print_alert(&run->v[j]);
	}
	free(used);
	return ok;
}

/* metrics = { { "name", manager = ..., source = ..., funnel = ..., value = ... }, ... } */
static int check_metrics(lua_State *L, int list, se_ruletest *t, const char *header)
{
	lua_Integer n = (lua_Integer)lua_rawlen(L, list);
	int ok = 1;

	for (lua_Integer i = 1; i <= n; i++) {
		const char *name, *funnel, *manager, *source;
		double got, want, tolerance = 1e-9;
		se_error e;
		int item;

		if (lua_rawgeti(L, list, i) != LUA_TTABLE)
			luaL_error(L, "test: metrics[%d] must be a table like { \"name\", value = 0.5 }", (int)i);
		item = lua_gettop(L);
		lua_rawgeti(L, item, 1);
		name = lua_tostring(L, -1);
		funnel = opt_string_field(L, item, "funnel", "test metrics");
		manager = opt_string_field(L, item, "manager", "test metrics");
		source = opt_string_field(L, item, "source", "test metrics");
		if (lua_getfield(L, item, "tolerance") == LUA_TNUMBER)
			tolerance = lua_tonumber(L, -1);
		lua_pop(L, 1);
		if (name == NULL)
			luaL_error(L, "test: metrics[%d] needs the metric's name first", (int)i);
		if (se_ruletest_metric(t, name, funnel, manager, source, &got, &e) != SE_OK) {
			printf("%s: metric %s: %s\n", header, name, e.msg);
			ok = 0;
		} else if (lua_getfield(L, item, "value") == LUA_TNIL) {
			if (!isnan(got)) {
				printf("%s: metric %s%s%s%s%s: expected nil, got %.6g\n", header, name,
				       manager ? " manager=" : "", manager ? manager : "", source ? " source=" : "",
				       source ? source : "", got);
				ok = 0;
			}
		} else if (!lua_isnumber(L, -1)) {
			luaL_error(L, "test: metrics[%d]: value must be a number or nil", (int)i);
		} else if (want = lua_tonumber(L, -1), isnan(got) || !close_enough(got, want, tolerance)) {
			printf("%s: metric %s%s%s%s%s: expected %.6g, got %.6g\n", header, name,
			       manager ? " manager=" : "", manager ? manager : "", source ? " source=" : "",
			       source ? source : "", want, got);
			ok = 0;
		}
		lua_settop(L, item - 1);
	}
	return ok;
}

static int run_step(lua_State *L, int step, se_ruletest *t, int64_t start, const char *header_base)
{
	char header[600], when[32];
	const char *at = opt_string_field(L, step, "at", "test step");
	int64_t t_at;
	se_error e;
	int ok = 1;

	if (at == NULL)
		luaL_error(L, "test: every step needs at = \"3d\" (offset from start) or a date");
	if (se_ruletest_time(t, at, start, &t_at, &e) != SE_OK)
		luaL_error(L, "test: %s", e.msg);
	se_time_format_utc(t_at, when, sizeof when);
	snprintf(header, sizeof header, "%s at %s (%s)", header_base, at, when);
	if (se_ruletest_eval(t, t_at, &e) != SE_OK) {
		printf("%s: %s\n", header, e.msg);
		return 0;
	}
	for (const char *const *s = state_lists; *s; s++) {
		if (lua_getfield(L, step, *s) == LUA_TTABLE)
			ok &= check_state_list(L, lua_gettop(L), *s, se_ruletest_alerts(t), header);
		else if (!lua_isnil(L, -1))
			luaL_error(L, "test: %s must be a list of expected alerts", *s);
		lua_pop(L, 1);
	}
	if (lua_getfield(L, step, "metrics") == LUA_TTABLE)
		ok &= check_metrics(L, lua_gettop(L), t, header);
	lua_pop(L, 1);
	return ok;
}

static int l_test(lua_State *L)
{
	static const char *const keys[] = { "name", "rules", "start", "deals", "steps", NULL };
	static const char *const step_keys[] = { "at", "firing", "pending", "resolved", "failed",
		                                     "fired", "repeated", "metrics", NULL };
	sandbox *sb = get_sandbox(L);
	test_run *tr = sb->tests;
	const char *name, *rules, *start, *deals;
	char path[PATH_MAX + 260], header[512], where[300];
	se_ruletest **box;
	int64_t t0;
	se_error e;
	int ok = 1;

	if (tr == NULL)
		return luaL_error(L, "test{} belongs in a rule test file (salesengine test FILE)");
	luaL_checktype(L, 1, LUA_TTABLE);
	check_keys(L, 1, "test", keys, 0);
	name = opt_string_field(L, 1, "name", "test");
	rules = opt_string_field(L, 1, "rules", "test");
	start = opt_string_field(L, 1, "start", "test");
	deals = opt_string_field(L, 1, "deals", "test");
	if (name == NULL || rules == NULL || start == NULL)
		return luaL_error(L, "test: name, rules and start are required");
	if (field(L, 1, "steps") != LUA_TTABLE)
		return luaL_error(L, "test '%s': steps must be a list of { at = ..., firing = {...} }", name);
	for (lua_Integer i = 1; i <= (lua_Integer)lua_rawlen(L, -1); i++) {
		if (lua_rawgeti(L, -1, i) != LUA_TTABLE)
			return luaL_error(L, "test '%s': steps[%d] must be a table", name, (int)i);
		check_keys(L, lua_gettop(L), "test step", step_keys, 0);
		lua_pop(L, 1);
	}
	luaL_where(L, 1);
	snprintf(where, sizeof where, "%s", lua_tostring(L, -1));
	lua_pop(L, 1);
	snprintf(header, sizeof header, "FAIL %stest '%s'", where, name);
	snprintf(path, sizeof path, "%s%s%s", rules[0] == '/' ? "" : sb->dir, rules[0] == '/' ? "" : "/",
	         rules);
	/* The test's world lives in a userdata, so an error below frees it. */
	box = lua_newuserdatauv(L, sizeof *box, 0);
	*box = NULL;
	luaL_setmetatable(L, RULETEST_MT);
	if (se_ruletest_start(box, path, &tr->limits, &e) != SE_OK ||
	    se_ruletest_time(*box, start, -1, &t0, &e) != SE_OK ||
	    (deals != NULL && se_ruletest_add_deals(*box, deals, t0, &e) != SE_OK)) {
		printf("%s: %s\n", header, e.msg);
		tr->failed++;
		return 0;
	}
	for (lua_Integer i = 1; i <= (lua_Integer)lua_rawlen(L, 2); i++) {
		lua_rawgeti(L, 2, i);
		ok &= run_step(L, lua_gettop(L), *box, t0, header);
		lua_pop(L, 1);
	}
	se_ruletest_free(*box);
	*box = NULL;
	if (ok) {
		tr->passed++;
		printf("ok   %s\n", name);
	} else {
		tr->failed++;
	}
	return 0;
}

static int run_test_file(const char *path, test_run *tr)
{
	se_script *sc = calloc(1, sizeof *sc);
	int ran = tr->passed + tr->failed;
	se_error err;
	int rc;

	if (sc == NULL || (sc->rules = se_rules_new()) == NULL) {
		free(sc);
		fprintf(stderr, "salesengine: out of memory\n");
		return SE_ENOMEM;
	}
	if ((rc = start_sandbox(&sc->sb, sc->rules, path, &tr->limits, &err)) == SE_OK) {
		lua_State *L = sc->sb.L;

		sc->sb.tests = tr;
		luaL_newmetatable(L, RULETEST_MT);
		lua_pushcfunction(L, l_ruletest_gc);
		lua_setfield(L, -2, "__gc");
		lua_pop(L, 1);
		lua_pushcfunction(L, l_test);
		lua_setglobal(L, "test");
		remember_file(&sc->sb, path);
		if (luaL_loadfilex(L, path, "t") != LUA_OK) {
			set_script_error(&sc->sb, &err, SE_ESCRIPT, lua_tostring(L, -1));
			rc = SE_ESCRIPT;
		} else {
			sc->sb.loading = 1;
			rc = protected_call(&sc->sb, 0, 0, &err);
		}
	}
	/* A file that declares no test proves nothing: say so, and fail. */
	if (rc == SE_OK && tr->passed + tr->failed == ran)
		rc = se_error_set(&err, SE_ESCRIPT, "%s: declares no test{}", path);
	if (rc != SE_OK) {
		fprintf(stderr, "salesengine: %s\n", err.msg);
		tr->failed++;
	}
	se_script_free(sc);
	return rc;
}

int se_rule_tests_main(int argc, char **argv)
{
	test_run tr;

	memset(&tr, 0, sizeof tr);
	if (argc < 2) {
		fprintf(stderr, "Usage: salesengine test RULES_TEST.lua...\n");
		return 2;
	}
	verbose_errors = getenv("SALESENGINE_TRACEBACK") != NULL;
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

int se_script_failed_files(se_script *sc, se_error *first)
{
	lua_State *L = sc->sb.L;
	int n;

	lua_getfield(L, LUA_REGISTRYINDEX, "se.file_errors");
	n = (int)lua_rawlen(L, -1);
	if (n > 0 && first != NULL) {
		lua_rawgeti(L, -1, 1);
		set_script_error(&sc->sb, first, SE_ESCRIPT, lua_tostring(L, -1) ? lua_tostring(L, -1) : "?");
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
	return n;
}
