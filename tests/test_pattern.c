/*
 * test_pattern.c: the sandbox's pattern matcher (core/lua/pattern.c)
 * against Lua's own string library.
 *
 * A plain Lua state keeps the library's find, match, gmatch and gsub and
 * gets the sandbox's beside them; random patterns built from every kind
 * of item (classes, sets, repetitions, captures, %b, %f, back references,
 * anchors, and broken ones) over random subjects must give the same
 * results and the same error messages from both.
 */
#include "lua/host.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

typedef struct fixture {
	sandbox sb;
} fixture;

static int setup(void **state)
{
	fixture *f = calloc(1, sizeof *f);

	if (f == NULL)
		return -1;
	f->sb.L = luaL_newstate();
	if (f->sb.L == NULL)
		return -1;
	/* A budget no comparison reaches: this file checks results only. */
	f->sb.max_instructions = UINT64_MAX / 2;
	f->sb.seconds = 1e9;
	luaL_openlibs(f->sb.L);
	lua_pushlightuserdata(f->sb.L, &f->sb);
	lua_rawsetp(f->sb.L, LUA_REGISTRYINDEX, &se_lua_sandbox_key);
	/* O: the library's functions; N: the sandbox's. */
	lua_getglobal(f->sb.L, "string");
	lua_setglobal(f->sb.L, "O");
	lua_newtable(f->sb.L);
	se_lua_open_patterns(f->sb.L, -1);
	lua_setglobal(f->sb.L, "N");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fixture *f = *state;

	lua_close(f->sb.L);
	free(f);
	return 0;
}

static void run(fixture *f, const char *code)
{
	lua_State *L = f->sb.L;

	if (luaL_loadstring(L, code) != LUA_OK || lua_pcall(L, 0, 0, 0) != LUA_OK)
		fail_msg("%s", lua_tostring(L, -1));
}

static const char harness[] =
	"function pack(...) return { n = select('#', ...), ... } end\n"
	"-- Argument errors name the function as the caller sees it: 'string.find'\n"
	"-- for the library, another name for the copy under test.\n"
	"local function norm(v)\n"
	"  if type(v) == 'string' then return (v:gsub(\"^(bad argument #%d+ to )'[^']*'\", '%1F')) end\n"
	"  return v\n"
	"end\n"
	"local function same(a, b)\n"
	"  if a.n ~= b.n then return false end\n"
	"  for i = 1, a.n do if norm(a[i]) ~= norm(b[i]) then return false end end\n"
	"  return true\n"
	"end\n"
	"local function show(t)\n"
	"  local o = {}\n"
	"  for i = 1, t.n do o[#o + 1] = string.format('%q', t[i]) end\n"
	"  return table.concat(o, ', ')\n"
	"end\n"
	"function check(what, a, b, s, p, x)\n"
	"  if not same(a, b) then\n"
	"    error(string.format('%s(%q, %q, %s): library {%s}, sandbox {%s}', what, s, p,\n"
	"      tostring(x), show(a), show(b)), 0)\n"
	"  end\n"
	"end\n"
	"function all(lib, s, p, init)\n"
	"  local out = { n = 0 }\n"
	"  local ok, err = pcall(function()\n"
	"    for a, b, c in lib.gmatch(s, p, init) do\n"
	"      out[out.n + 1], out[out.n + 2], out[out.n + 3] = a, b, c\n"
	"      out.n = out.n + 3\n"
	"      if out.n > 300 then break end\n"
	"    end\n"
	"  end)\n"
	"  out[out.n + 1] = ok; out[out.n + 2] = err; out.n = out.n + 2\n"
	"  return out\n"
	"end\n";

/* Every function, with every kind of argument, on one pattern and subject. */
static const char compare_one[] =
	"function compare(s, p, init)\n"
	"  check('find', pack(pcall(O.find, s, p, init)), pack(pcall(N.find, s, p, init)), s, p, init)\n"
	"  check('find plain', pack(pcall(O.find, s, p, init, true)), pack(pcall(N.find, s, p, init, true)), s, p, init)\n"
	"  check('match', pack(pcall(O.match, s, p, init)), pack(pcall(N.match, s, p, init)), s, p, init)\n"
	"  check('gmatch', all(O, s, p, init), all(N, s, p, init), s, p, init)\n"
	"  for _, r in ipairs(REPLACEMENTS) do\n"
	"    check('gsub', pack(pcall(O.gsub, s, p, r, init)), pack(pcall(N.gsub, s, p, r, init)), s, p, r)\n"
	"  end\n"
	"end\n"
	"REPLACEMENTS = { '<%0>', '%1|%2', '%%', 'x%', '%x', '', 7,\n"
	"  { a = 'A', ab = false, [1] = 'one' },\n"
	"  function(a, b) if a == 'b' then return false end return b or a end,\n"
	"  function() return {} end }\n";

static void test_fixed_cases(void **state)
{
	fixture *f = *state;

	run(f, harness);
	run(f, compare_one);
	run(f,
	    "local cases = {\n"
	    "  { 'hello world', 'o w' }, { 'hello', 'l+' }, { 'hello', 'l*' }, { 'hello', 'l-o' },\n"
	    "  { 'hello', '^h?e' }, { 'hello', 'o$' }, { 'a$b', 'a$b' }, { 'f(a(b)c)d', '%b()' },\n"
	    "  { 'THE (quick) fox', '%f[%a]%a+' }, { 'abcabc', '(a)(b)(c)%1%2%3' },\n"
	    "  { 'key = value', '(%w+)%s*=%s*(%w+)' }, { '  trim  ', '^%s*(.-)%s*$' },\n"
	    "  { 'abc', '()b()' }, { 'x', '[]]' }, { ']', '[]]' }, { 'a-z', '[a%-z]+' },\n"
	    "  { 'a^b', '[%^^]' }, { 'abc', '[^%a]' }, { '\\0a\\0', '%z' }, { 'a\\0b', 'a\\0b' },\n"
	    "  { 'abc', '%' }, { 'abc', '[a' }, { 'abc', '[^' }, { 'abc', '%f' }, { 'abc', '%fa' },\n"
	    "  { 'abc', '%b' }, { 'abc', '%ba' }, { 'abc', '(a' }, { 'abc', 'a)' }, { 'abc', '%1' },\n"
	    "  { 'abc', '(a%1)' }, { 'abc', '(a%0)' }, { 'abc', '(()a)%2' },\n"
	    "  { ('a'):rep(40), ('(a)'):rep(33) }, { ('a'):rep(300), ('a?'):rep(210) },\n"
	    "  { '', '' }, { '', '^$' }, { 'abc', '' }, { 'aaa', 'a-' }, { 'aaa', '.-$' },\n"
	    "  { 'x = 1, y = 2', '(%w+) = (%w+)' }, { 'ab', '^' }, { 'a.b', '.' }, { '%', '%%' },\n"
	    "}\n"
	    "for _, c in ipairs(cases) do\n"
	    "  for _, init in ipairs({ 1, 2, -1, -100, 0, 100, 3.0 }) do compare(c[1], c[2], init) end\n"
	    "  compare(c[1], c[2])\n"
	    "end\n"
	    "check('init', pack(pcall(O.find, 'abc', 'b', 1.5)), pack(pcall(N.find, 'abc', 'b', 1.5)), 'abc', 'b')\n"
	    "check('gsub n', pack(pcall(O.gsub, 'aaa', 'a', 'b', 2)), pack(pcall(N.gsub, 'aaa', 'a', 'b', 2)), 'aaa', 'a')\n"
	    "check('gsub bad', pack(pcall(O.gsub, 'aaa', 'a', true)), pack(pcall(N.gsub, 'aaa', 'a', true)), 'aaa', 'a')\n");
}

/* The random comparison: items of every kind, including broken ones. */
static void test_random_patterns(void **state)
{
	fixture *f = *state;

	run(f, harness);
	run(f, compare_one);
	run(f,
	    "local items = { 'a', 'b', ' ', '.', '%a', '%d', '%s', '%S', '%w', '%p', '%x', '%u',\n"
	    "  '[ab]', '[^a]', '[a-c]', '[%d%s]', '[]a]', '[^]]', '*', '+', '-', '?', '(', ')', '()',\n"
	    "  '^', '$', '%b()', '%bab', '%f[%w]', '%f[^a]', '%1', '%2', '%', '[', ']', '%.', '%(' }\n"
	    "local letters = 'aab (1)\\n.%'\n"
	    "math.randomseed(20261207)\n"
	    "for _ = 1, 25000 do\n"
	    "  local p = {}\n"
	    "  for i = 1, math.random(0, 6) do p[i] = items[math.random(#items)] end\n"
	    "  local s = {}\n"
	    "  for i = 1, math.random(0, 10) do\n"
	    "    local k = math.random(#letters); s[i] = letters:sub(k, k)\n"
	    "  end\n"
	    "  local inits = { false, 1, 2, -1, -4, 0, 12 }\n"
	    "  local init = inits[math.random(#inits)] or nil\n"
	    "  compare(table.concat(s), table.concat(p), init)\n"
	    "end\n");
}

/* A broken copy would fail above; this proves the comparison can fail:
 * a find that differs from the library's is caught. */
static void test_comparison_catches_a_difference(void **state)
{
	fixture *f = *state;
	lua_State *L = f->sb.L;

	run(f, harness);
	run(f, compare_one);
	run(f, "N.find = function() return 1, 1 end");
	assert_int_not_equal(luaL_loadstring(L, "compare('abc', 'b')"), -1);
	assert_int_not_equal(lua_pcall(L, 0, 0, 0), LUA_OK);
	assert_non_null(strstr(lua_tostring(L, -1), "find(\"abc\", \"b\""));
}

#define TEST(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(test_fixed_cases),
		TEST(test_random_patterns),
		TEST(test_comparison_catches_a_difference),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
