/*
 * limits.c: the ground every Lua call stands on: the memory allocator with
 * its budget, the instruction hook, pcall/xpcall that cannot swallow a
 * limit, and the one protected call through which C calls into Lua.
 *
 * Owns: the limit messages ("file:line: instruction limit ... exceeded")
 * and restoring the full path of a file Lua shortened in a message.
 * Never: calls up into the declarations or the evaluation; everything
 * else in core/lua/ builds on this file.
 */
#include "host.h"

#include <time.h>

const char se_lua_sandbox_key = 'S'; /* its address is the key, not its value */

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

static double monotonic_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* After the first limit every instruction goes through the hook, which
 * raises again: a handler or a loop around a caught error gets one step. */
static void make_final(lua_State *L)
{
	lua_sethook(L, se_lua_count_hook, LUA_MASKCOUNT, 1);
}

static void set_time_hit(sandbox *sb, const char *at, const char *what)
{
	if (se_lua_exhausted(sb))
		return;
	snprintf(sb->limit_msg, sizeof sb->limit_msg, "%s%stime limit (%g s) exceeded%s%s", at,
	         at[0] ? ": " : "", sb->seconds, what ? " in " : "", what ? what : "");
	sb->time_hit = 1;
}

static int past_deadline(const sandbox *sb)
{
	return sb->deadline > 0 && monotonic_now() > sb->deadline;
}

void *se_lua_limited_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	sandbox *sb = ud;
	size_t old = ptr ? osize : 0;

	if (nsize == 0) {
		free(ptr);
		sb->used -= old;
		return NULL;
	}
	/* C functions that build strings or tables allocate: reading the clock
	 * here now and then stops one that runs past the deadline.  Lua turns
	 * the refusal into a memory error; the call reports the time limit. */
	if (nsize > old && sb->deadline > 0 && !se_lua_exhausted(sb) &&
	    (++sb->allocs >= 1024 || nsize - old >= 65536)) {
		sb->allocs = 0;
		if (past_deadline(sb)) {
			char at[256] = "";

			if (sb->L != NULL)
				note_position(sb->L, at, sizeof at);
			set_time_hit(sb, at, NULL);
		}
	}
	/* Once a limit is hit the call is over: refusing every later growth
	 * keeps Lua's emergency collections from thrashing near the limit. */
	if (nsize > old && (se_lua_exhausted(sb) || sb->used - old + nsize > sb->limit)) {
		if (!se_lua_exhausted(sb) && sb->L != NULL)
			note_position(sb->L, sb->where, sizeof sb->where);
		if (!sb->time_hit && !sb->instructions_hit)
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
void se_lua_count_hook(lua_State *L, lua_Debug *ar)
{
	sandbox *sb = get_sandbox(L);
	char at[300] = "";

	if (!se_lua_exhausted(sb)) {
		sb->instructions += HOOK_EVERY;
		if (sb->instructions <= sb->max_instructions && !past_deadline(sb))
			return;
		if (lua_getinfo(L, "Sl", ar) && ar->currentline > 0)
			snprintf(at, sizeof at, "%s:%d", ar->short_src, ar->currentline);
		if (sb->instructions > sb->max_instructions) {
			snprintf(sb->limit_msg, sizeof sb->limit_msg,
			         "%s%sinstruction limit (%llu) exceeded: endless loop?", at, at[0] ? ": " : "",
			         (unsigned long long)sb->max_instructions);
			sb->instructions_hit = 1;
		} else {
			set_time_hit(sb, at, NULL);
		}
		make_final(L);
	}
	se_lua_reraise_limit(L, sb);
}

/* Charged work between two looks at the clock: well under a millisecond. */
#define CLOCK_EVERY 100000

void se_lua_charge(lua_State *L, uint64_t cost, const char *what)
{
	sandbox *sb = get_sandbox(L);
	char at[256] = "";
	int late = 0;

	if (!se_lua_exhausted(sb)) {
		uint64_t left = sb->instructions < sb->max_instructions
		                    ? sb->max_instructions - sb->instructions : 0;

		if (cost <= left) {
			sb->instructions += cost;
			sb->unclocked += cost;
			if (sb->unclocked < CLOCK_EVERY)
				return;
			sb->unclocked = 0;
			if (!(late = past_deadline(sb)))
				return;
		}
		note_position(L, at, sizeof at);
		if (!late) {
			snprintf(sb->limit_msg, sizeof sb->limit_msg, "%s%sinstruction limit (%llu) exceeded in %s",
			         at, at[0] ? ": " : "", (unsigned long long)sb->max_instructions, what);
			sb->instructions_hit = 1;
		} else {
			set_time_hit(sb, at, what);
		}
		make_final(L);
	}
	se_lua_reraise_limit(L, sb);
}

/* pcall and xpcall must not swallow a limit: once one is hit the script is
 * over, so the wrappers re-raise it whatever the inner handler did. */
int se_lua_reraise_limit(lua_State *L, sandbox *sb)
{
	if (sb->memory_hit && sb->limit_msg[0] == '\0')
		snprintf(sb->limit_msg, sizeof sb->limit_msg, "%s%smemory limit (%zu bytes) exceeded",
		         sb->where, sb->where[0] ? ": " : "", sb->limit);
	make_final(L);
	lua_pushstring(L, sb->limit_msg);
	return lua_error(L);
}

int se_lua_guarded_pcall(lua_State *L)
{
	sandbox *sb = get_sandbox(L);
	int n = lua_gettop(L);

	if (se_lua_exhausted(sb))
		return se_lua_reraise_limit(L, sb);
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, n, LUA_MULTRET); /* the real pcall/xpcall, inside the script's protected call */
	if (se_lua_exhausted(sb))
		return se_lua_reraise_limit(L, sb);
	return lua_gettop(L);
}

/* ---- protected calls ---------------------------------------------------- */

int se_lua_verbose_errors;

int se_lua_message_handler(lua_State *L)
{
	const char *msg = lua_tostring(L, 1);

	if (msg == NULL) {
		char at[256] = "";

		if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
			return 1;
		/* error({}) gets no position from error(): name the line that
		 * raised it, as a string error would. */
		note_position(L, at, sizeof at);
		msg = lua_pushfstring(L, "%s%s(error object is a %s value)", at, at[0] ? ": " : "",
		                      luaL_typename(L, 1));
	}
	if (se_lua_verbose_errors)
		luaL_traceback(L, L, msg, 1);
	return 1;
}

/* Lua shortens chunk names longer than LUA_IDSIZE to "..." and their tail;
 * a user needs the whole path, so a message that starts with a shortened
 * name of a file we loaded gets the full name back. */
void se_lua_set_script_error(sandbox *sb, se_error *err, int code, const char *msg)
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

void se_lua_remember_file(sandbox *sb, const char *path)
{
	size_t len = strlen(path);

	if (sb->n_files < (int)(sizeof sb->files / sizeof sb->files[0]) && len < sizeof sb->files[0])
		memcpy(sb->files[sb->n_files++], path, len + 1);
}

/* The one way C calls into Lua: resets the instruction budget, runs under
 * a message handler, and turns a failure into an se_error. */
int se_lua_protected_call(sandbox *sb, int nargs, int nresults, se_error *err)
{
	lua_State *L = sb->L;
	int base = lua_gettop(L) - nargs;
	int status, limit_hit;

	lua_pushcfunction(L, se_lua_message_handler);
	lua_insert(L, base);
	sb->instructions = 0;
	sb->memory_hit = 0;
	sb->instructions_hit = 0;
	sb->time_hit = 0;
	sb->where[0] = '\0';
	sb->limit_msg[0] = '\0';
	sb->allocs = 0;
	sb->unclocked = 0;
	sb->deadline = monotonic_now() + sb->seconds;
	lua_sethook(L, se_lua_count_hook, LUA_MASKCOUNT, HOOK_EVERY);
	status = lua_pcall(L, nargs, nresults, base);
	lua_remove(L, base);
	/* The limits bound the call, not what the host does next. */
	sb->deadline = 0;
	limit_hit = sb->memory_hit;
	sb->memory_hit = 0;
	if (status == LUA_OK) {
		if (!sb->instructions_hit && !sb->time_hit && !limit_hit)
			return SE_OK;
		/* A limit the script got past (where Lua itself swallows errors)
		 * still fails the call. */
		lua_settop(L, base - 1);
		lua_pushnil(L);
	}
	if (sb->instructions_hit || sb->time_hit) {
		se_lua_set_script_error(sb, err, SE_ELIMIT, sb->limit_msg);
	} else if (status == LUA_ERRMEM || limit_hit) {
		char msg[600];

		if (sb->rule_capped)
			snprintf(msg, sizeof msg, "%s%smemory limit of one rule evaluation (%zu MiB) exceeded",
			         sb->where, sb->where[0] ? ": " : "", RULE_MEMORY >> 20);
		else
			snprintf(msg, sizeof msg, "%s%smemory limit (%zu bytes) exceeded", sb->where,
			         sb->where[0] ? ": " : "", sb->limit);
		se_lua_set_script_error(sb, err, SE_ELIMIT, msg);
	} else {
		se_lua_set_script_error(sb, err, SE_ESCRIPT, lua_tostring(L, -1) ? lua_tostring(L, -1) : "error");
	}
	lua_pop(L, 1);
	return err ? err->code : SE_ESCRIPT;
}

