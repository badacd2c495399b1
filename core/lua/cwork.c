/*
 * cwork.c: the budget for work Lua's library does in C.
 *
 * The instruction hook runs between VM instructions, so one call of a
 * library function is one instruction however long it takes:
 * table.move({}, 1, 2^62, 1) loops 2^62 times without allocating, and
 * table.insert(t, 1, x) or table.sort(t) on a table whose __len claims
 * 2^62 elements does the same.  Each function here is wrapped: the work
 * its arguments announce (elements to move, shift or compare, bytes to
 * write or scan) is charged to the call's instruction budget before the
 * real function starts, so work that cannot fit is refused at once with
 * the calling line, and work that fits counts like the instructions it
 * replaces.  Functions whose work is bounded by what they build
 * (string.rep, upper, table.concat's buffer) are left to the memory limit
 * and to the allocator's look at the clock (limits.c): a huge string.rep
 * fails as the memory bomb it is.
 *
 * Owns: the cost of each wrapped function.  Never: changes what a function
 * does or its error messages: an argument the real function would refuse
 * costs nothing here and is refused there.
 */
#include "host.h"

typedef uint64_t (*cost_fn)(lua_State *L);

static uint64_t saturating_add(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

static uint64_t saturating_mul(uint64_t a, uint64_t b)
{
	return b != 0 && a > UINT64_MAX / b ? UINT64_MAX : a * b;
}

/* Elements from i to j inclusive (0 when j < i). */
static uint64_t span(lua_Integer i, lua_Integer j)
{
	return j < i ? 0 : saturating_add((uint64_t)j - (uint64_t)i, 1);
}

static int integer_arg(lua_State *L, int idx, lua_Integer *out)
{
	int isnum;

	*out = lua_tointegerx(L, idx, &isnum);
	return isnum;
}

/* #t as the table functions see it (__len included); 0 when t is not a
 * table or its length is not an integer: the real function says so. */
static uint64_t length(lua_State *L, int idx)
{
	lua_Integer n;
	int isnum;

	if (lua_type(L, idx) != LUA_TTABLE)
		return 0;
	lua_len(L, idx);
	n = lua_tointegerx(L, -1, &isnum);
	lua_pop(L, 1);
	return isnum && n > 0 ? (uint64_t)n : 0;
}

/* table.move(a1, f, e, t [, a2]): e - f + 1 elements. */
static uint64_t move_cost(lua_State *L)
{
	lua_Integer f, e;

	if (!integer_arg(L, 2, &f) || !integer_arg(L, 3, &e))
		return 0;
	return span(f, e);
}

/* table.insert and table.remove shift up to #t elements. */
static uint64_t shift_cost(lua_State *L)
{
	return length(L, 1);
}

/* table.sort: about n log2 n comparisons. */
static uint64_t sort_cost(lua_State *L)
{
	uint64_t n = length(L, 1), log = 1;

	for (uint64_t k = n; k > 1; k >>= 1)
		log++;
	return saturating_mul(n, log);
}

/* table.concat(t, sep, i, j) and table.unpack(t, i, j): j - i + 1. */
static uint64_t range_cost(lua_State *L, int i_arg)
{
	lua_Integer i = 1, j;

	if (!lua_isnoneornil(L, i_arg) && !integer_arg(L, i_arg, &i))
		return 0;
	if (lua_isnoneornil(L, i_arg + 1))
		j = (lua_Integer)(length(L, 1) > (uint64_t)LUA_MAXINTEGER ? LUA_MAXINTEGER
		                                                          : (lua_Integer)length(L, 1));
	else if (!integer_arg(L, i_arg + 1, &j))
		return 0;
	return span(i, j);
}

static uint64_t concat_cost(lua_State *L)
{
	return range_cost(L, 3);
}

static uint64_t unpack_cost(lua_State *L)
{
	return range_cost(L, 2);
}

/* utf8.len reads its whole string without building anything: one unit
 * per 16 bytes. */
static uint64_t scan_cost(lua_State *L)
{
	size_t l = 0;

	if (lua_type(L, 1) == LUA_TSTRING)
		lua_tolstring(L, 1, &l);
	return l / 16 + 1;
}

typedef struct guarded {
	const char *lib, *name, *what;
	cost_fn cost;
} guarded;

static const guarded guarded_fns[] = {
	{ "table", "move", "table.move", move_cost },
	{ "table", "insert", "table.insert", shift_cost },
	{ "table", "remove", "table.remove", shift_cost },
	{ "table", "sort", "table.sort", sort_cost },
	{ "table", "concat", "table.concat", concat_cost },
	{ "table", "unpack", "table.unpack", unpack_cost },
	{ "utf8", "len", "utf8.len", scan_cost },
	{ NULL, NULL, NULL, NULL }
};

/* Upvalue 1: a userdata holding the real function; upvalue 2: its row in
 * guarded_fns.  The real function is called directly, not through
 * lua_call, so it runs as the function the script called: its argument
 * errors still name it ("bad argument #1 to 'insert'"). */
static int l_charged(lua_State *L)
{
	lua_CFunction *real = lua_touserdata(L, lua_upvalueindex(1));
	const guarded *g = lua_touserdata(L, lua_upvalueindex(2));
	int n = lua_gettop(L);

	se_lua_charge(L, g->cost(L), g->what);
	lua_settop(L, n);
	return (*real)(L);
}

void se_lua_guard_c_work(lua_State *L, int g)
{
	g = lua_absindex(L, g);
	for (const guarded *f = guarded_fns; f->lib; f++) {
		lua_CFunction real;

		if (lua_getfield(L, g, f->lib) != LUA_TTABLE) {
			lua_pop(L, 1);
			continue;
		}
		lua_getfield(L, -1, f->name);
		real = lua_tocfunction(L, -1);
		lua_pop(L, 1);
		/* Only a library function without upvalues can be called this way. */
		if (real != NULL) {
			*(lua_CFunction *)lua_newuserdatauv(L, sizeof real, 0) = real;
			lua_pushlightuserdata(L, (void *)f);
			lua_pushcclosure(L, l_charged, 2);
			lua_setfield(L, -2, f->name);
		}
		lua_pop(L, 1);
	}
}
