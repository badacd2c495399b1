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
#include "rules.h"
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
	if (nsize > old && sb->used - old + nsize > sb->limit) {
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
	int status;

	lua_pushcfunction(L, message_handler);
	lua_insert(L, base);
	sb->instructions = 0;
	sb->memory_hit = 0;
	sb->instructions_hit = 0;
	sb->where[0] = '\0';
	sb->limit_msg[0] = '\0';
	status = lua_pcall(L, nargs, nresults, base);
	lua_remove(L, base);
	if (status == LUA_OK)
		return SE_OK;
	if (sb->instructions_hit) {
		set_script_error(sb, err, SE_ELIMIT, sb->limit_msg);
	} else if (status == LUA_ERRMEM || sb->memory_hit) {
		char msg[600];

		snprintf(msg, sizeof msg, "%s%smemory limit (%zu bytes) exceeded",
		         sb->where, sb->where[0] ? ": " : "", sb->limit);
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
	if (field(L, 1, "spend") != LUA_TNIL)
		read_spend(L, r);
	lua_pop(L, 1);
}

static int l_settings(lua_State *L)
{
	static const char *const keys[] = { "timezone", "input_timezone", "mode", "period", "sla",
		                            "stale_multiple", "shrinkage", "spend", NULL };
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
		char *end;
		long n = strtol(s, &end, 10);
		int64_t unit = 0;

		if (strcmp(end, "m") == 0)
			unit = 60;
		else if (strcmp(end, "h") == 0)
			unit = 3600;
		else if (strcmp(end, "d") == 0)
			unit = 86400;
		else if (strcmp(end, "w") == 0)
			unit = 7 * 86400;
		if (unit != 0 && end != s && n > 0 && n < 100000)
			return n * unit;
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
	/* Reading an undefined global is an error: a typo must not be nil. */
	lua_newtable(L);
	lua_pushcfunction(L, l_strict_index);
	lua_setfield(L, -2, "__index");
	lua_setmetatable(L, g);
	lua_pop(L, 1);
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
	sc->sb.rules = sc->rules;
	sc->sb.limit = limits && limits->memory ? limits->memory : SE_SCRIPT_DEFAULT_MEMORY;
	sc->sb.max_instructions = limits && limits->instructions ? limits->instructions
	                                                       : SE_SCRIPT_DEFAULT_INSTRUCTIONS;
	script_dir(path, sc->sb.dir, sizeof sc->sb.dir);
	verbose_errors = getenv("SALESENGINE_TRACEBACK") != NULL;
	sc->sb.L = lua_newstate(limited_alloc, &sc->sb);
	if (sc->sb.L == NULL) {
		se_script_free(sc);
		return se_error_set(err, SE_ENOMEM, "out of memory starting Lua");
	}
	lua_pushlightuserdata(sc->sb.L, &sc->sb);
	lua_rawsetp(sc->sb.L, LUA_REGISTRYINDEX, &sandbox_key);
	lua_sethook(sc->sb.L, count_hook, LUA_MASKCOUNT, HOOK_EVERY);
	open_allowed_libs(sc->sb.L);
	install_guards(sc->sb.L);
	if ((rc = run_script(sc, path, err)) != SE_OK) {
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
