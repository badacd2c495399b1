/*
 * adapter_host.c: the Lua half of import adapters (docs/IMPORTERS.md).
 *
 * Owns: loading an adapter module in its own sandbox, the emit{} and
 * ctx.state_* functions it is handed, and turning JSON and CSV records
 * into Lua tables.  Never: checks or stores an event itself; what emit{}
 * receives goes to adapter.c through se_adapter_host, the canonical
 * import's checks and batches.
 */
#include "host.h"

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

			/* Whole floats (unix seconds from arithmetic) print without
			 * ".0".  The range first: casting a float outside long
			 * long's (1e124, a NaN) is undefined. */
			if (x > -9e15 && x < 9e15 && x == (lua_Number)(long long)x)
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
	se_lua_check_keys(L, 1, "emit", names, 0);
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
	if ((rc = se_lua_start_sandbox(&a->sb, NULL, path, limits, err)) != SE_OK) {
		se_adapter_free(a);
		return rc;
	}
	L = a->sb.L;
	/* Declarations belong to rules scripts: in an adapter they are undefined. */
	lua_pushglobaltable(L);
	for (const char *const *d = (const char *const[]){ "settings", "funnel", "metric", "rule",
	                                                   "rules_file", "columns", NULL }; *d; d++) {
		lua_pushnil(L);
		lua_setfield(L, -2, *d);
	}
	lua_pop(L, 1);
	se_lua_remember_file(&a->sb, path);
	if (luaL_loadfilex(L, path, "t") != LUA_OK) {
		se_lua_set_script_error(&a->sb, err, lua_status(L) == LUA_ERRMEM ? SE_ELIMIT : SE_ESCRIPT,
		                 lua_tostring(L, -1) ? lua_tostring(L, -1) : "cannot load");
		se_adapter_free(a);
		return err ? err->code : SE_ESCRIPT;
	}
	if ((rc = se_lua_protected_call(&a->sb, 0, 1, err)) != SE_OK ||
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
	int rc = se_lua_protected_call(&a->sb, nargs, 0, err);

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

