/*
 * host.h: the private header of the Lua host (core/lua/).  The files of this
 * folder are the only ones in the program that touch a lua_State; the rest
 * of the core sees plain C through script.h, adapter.h and salesengine.h.
 *
 * One concern per file:
 *   limits.c        the memory allocator, the instruction hook, the clock,
 *                   the one protected call every C->Lua call goes through
 *   pattern.c       Lua patterns (find, match, gmatch, gsub) with a step
 *                   count, so backtracking cannot outrun the budget
 *   cwork.c         the budget charged for table and string functions
 *   sandbox.c       which libraries exist and what is blocked, require(),
 *                   starting a state, loading a rules script
 *   declare.c       reading declaration tables, settings{}, funnel{}
 *   rule.c          metric{}, rule{}, rules_file()
 *   scope.c         the Scope userdata: the report's numbers seen from Lua
 *   eval.c          running metrics and rules over a built report
 *   adapter_host.c  the Lua half of import adapters
 *   testfile.c      reading a rule test file (test{}) into plain C
 *
 * Never: a Lua error escapes as a longjmp past C-owned memory, and nothing
 * here prints: messages travel back in se_error.
 */
#ifndef SE_LUA_HOST_H
#define SE_LUA_HOST_H

#include "adapter.h"
#include "cube.h"
#include "money.h"
#include "rules.h"
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
	double seconds;           /* wall-clock budget of one call */
	double deadline;          /* CLOCK_MONOTONIC seconds; 0 outside a call */
	unsigned allocs;          /* allocations since the clock was last read */
	uint64_t unclocked;       /* work charged by C functions since then */
	int memory_hit;
	int instructions_hit;
	int time_hit;
	char where[256];          /* "file:line" of the code running when memory ran out */
	char limit_msg[512];      /* the first limit hit; re-raised past any pcall */
	char files[16][PATH_MAX]; /* scripts loaded so far, to undo Lua's name shortening */
	int n_files;
	char dir[PATH_MAX];       /* the script's directory, for require */
	int loading;              /* declarations are allowed only while loading */
	se_rules *rules;
	const se_report *rep;     /* while metrics and rules run: the numbers they read */
	struct se_test_file *tests; /* in a rule test file: what test{} declares */
	int reading_test;         /* inside test{}: a metamethod may not call it again */
	int rule_capped;          /* limit is a rule evaluation's RULE_MEMORY cap */
	void (*on_print)(void *ud, const char *text, size_t len);
	void *print_ud;
} sandbox;

struct se_script {
	sandbox sb;
	se_rules *rules;
};

/* The sandbox lives in the registry under this variable's address. */
extern const char se_lua_sandbox_key;
/* SALESENGINE_TRACEBACK: a traceback after every script error. */
extern int se_lua_verbose_errors;

static inline sandbox *get_sandbox(lua_State *L)
{
	sandbox *sb;

	lua_rawgetp(L, LUA_REGISTRYINDEX, &se_lua_sandbox_key);
	sb = lua_touserdata(L, -1);
	lua_pop(L, 1);
	return sb;
}

/* ---- limits.c ---- */
void *se_lua_limited_alloc(void *ud, void *ptr, size_t osize, size_t nsize);
void se_lua_count_hook(lua_State *L, lua_Debug *ar);
/* A limit was hit in this call: from now on every Lua step and every
 * guarded C function raises again, so nothing can swallow it. */
static inline int se_lua_exhausted(const sandbox *sb)
{
	return sb->instructions_hit || sb->memory_hit || sb->time_hit;
}
int se_lua_reraise_limit(lua_State *L, sandbox *sb);
/* Work a C function is about to do (or has done), in instruction units:
 * counted against the instruction budget, with the clock checked; raises
 * the limit, naming the calling line and `what`, once either is spent. */
void se_lua_charge(lua_State *L, uint64_t cost, const char *what);
int se_lua_guarded_pcall(lua_State *L);
int se_lua_message_handler(lua_State *L);
/* Restores the full path of a loaded file that Lua shortened in msg. */
void se_lua_set_script_error(sandbox *sb, se_error *err, int code, const char *msg);
void se_lua_remember_file(sandbox *sb, const char *path);
/* The one way C calls into Lua: fresh budget, message handler, se_error. */
int se_lua_protected_call(sandbox *sb, int nargs, int nresults, se_error *err);

/* ---- sandbox.c ---- */
static inline int se_lua_file_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

void se_lua_script_dir(const char *path, char *dir, size_t size);
/* A fresh state with the sandbox's libraries, guards and limits. */
int se_lua_start_sandbox(sandbox *sb, se_rules *rules, const char *path,
                         const se_script_limits *limits, se_error *err);

/* ---- pattern.c ---- */
/* Replaces find, match, gmatch and gsub in the string table at index t by
 * a matcher whose steps count against the budget. */
void se_lua_open_patterns(lua_State *L, int t);

/* ---- cwork.c ---- */
/* Wraps the library functions whose C work is not bounded by memory
 * (table.move, insert, remove, sort, concat, unpack, utf8.len) so that
 * work is charged to the budget before it starts.  g: the globals. */
void se_lua_guard_c_work(lua_State *L, int g);

/* ---- declare.c ---- */
void se_lua_check_keys(lua_State *L, int t, const char *what, const char *const *allowed,
                       int allow_array);
/* Pushes t[key]; returns its type. */
int se_lua_field(lua_State *L, int t, const char *key);
const char *se_lua_opt_string_field(lua_State *L, int t, const char *key, const char *what);
se_mode se_lua_check_mode(lua_State *L, const char *s, const char *what);
sandbox *se_lua_declaring(lua_State *L, const char *fn);
int64_t se_lua_duration_seconds(const char *s);
/* How far apart two names are once case, ё/е and spaces are set aside
 * (0: the same name written differently). */
size_t se_lua_name_distance(const char *want, const char *have);
/* The name closest to `name` among n names (each a char * at i * stride
 * bytes from names), within two edits after folding; NULL when none. */
const char *se_lua_closest_name(const char *name, const char *const *names, size_t n,
                                size_t stride);
int se_lua_settings(lua_State *L);
int se_lua_funnel(lua_State *L);

/* ---- rule.c ---- */
int se_lua_metric(lua_State *L);
int se_lua_rule(lua_State *L);
int se_lua_rules_file(lua_State *L);
int se_lua_check_rule_references(se_rules *r, se_error *err);

/* ---- scope.c ---- */
#define SCOPE_MT "salesengine.Scope"
#define NO_SUCH_ID (-2) /* a manager or source name the data does not have */

typedef struct lscope {
	int funnel;
	int64_t manager, source;  /* ids, SE_CUBE_ANY, or NO_SUCH_ID */
	int64_t lo, hi;           /* bucket keys, inclusive */
	se_mode mode;             /* SE_MODE_DEFAULT: the report's */
} lscope;

void se_lua_open_scope_type(lua_State *L);
const se_report *se_lua_data_report(lua_State *L);
lscope *se_lua_push_scope(lua_State *L, const lscope *s);
se_cube_filter se_lua_scope_filter(const lscope *s);
double se_lua_money(se_money kopecks);
int64_t se_lua_name_id(char **names, uint32_t n, const char *name);
int se_lua_is_builtin_metric(const char *name);
void se_lua_builtin_value(const se_report *rep, const lscope *s, const char *name, int pair,
                          double *value, int64_t *sample);
void se_lua_call_metric_fn(lua_State *L, int metric, const lscope *s);
double se_lua_value_at(lua_State *L, int idx);

#endif
