/*
 * pattern.c: Lua patterns (string.find, match, gmatch, gsub) for the
 * sandbox, with every step of the matcher counted.
 *
 * Why not Lua's own: its matcher backtracks inside one C call, where the
 * instruction hook never runs, so string.find(("a"):rep(200000),
 * ".-.-.-.-.-b") or the trim idiom ("^%s*(.-)%s*$") over a long blank
 * string ran for minutes.  Here each step (an item tried at a position, a
 * character scanned) is charged to the call's budget (limits.c), so such a
 * pattern stops at the instruction or time limit, named with the line that
 * called it, like an endless loop.
 *
 * Owns: the pattern language of the Lua 5.4 manual (section 6.4.1):
 * classes, sets, the four repetitions, captures and position captures, %b,
 * %f and back references, with Lua's results and error messages (checked
 * against the library's own in tests/test_pattern.c).  Never: keeps C
 * memory across a call that can raise: the state lives on the C stack.
 */
#include "host.h"

#include <ctype.h>

#define MAX_CAPTURES 32   /* as LUA_MAXCAPTURES */
#define MAX_DEPTH 200     /* nested items before "pattern too complex", as Lua */
#define CHARGE_EVERY 4096 /* steps between charges to the budget */
#define CAP_OPEN (-1)
#define CAP_POSITION (-2)

typedef struct matcher {
	lua_State *L;
	const char *what;               /* "string.find": named when the budget runs out */
	const char *subj, *subj_end;    /* the whole subject, whatever the start */
	const char *pat_end;
	int depth;                      /* nesting left before "pattern too complex" */
	int ncap;
	struct {
		const char *start;
		ptrdiff_t len;                /* CAP_OPEN, CAP_POSITION or a length */
	} cap[MAX_CAPTURES];
	uint64_t steps;                 /* counted, not yet charged */
} matcher;

static void count_steps(matcher *m, uint64_t n)
{
	m->steps += n;
	if (m->steps >= CHARGE_EVERY) {
		uint64_t s = m->steps;

		m->steps = 0;
		se_lua_charge(m->L, s, m->what);
	}
}

static void settle(matcher *m)
{
	uint64_t s = m->steps;

	m->steps = 0;
	if (s > 0)
		se_lua_charge(m->L, s, m->what);
}

static void start(matcher *m, lua_State *L, const char *what, const char *s, size_t ls,
                  const char *p, size_t lp)
{
	m->L = L;
	m->what = what;
	m->subj = s;
	m->subj_end = s + ls;
	m->pat_end = p + lp;
	m->steps = 0;
	/* Entering with the budget spent raises at once. */
	se_lua_charge(L, 1, what);
}

static void restart(matcher *m)
{
	m->ncap = 0;
	m->depth = MAX_DEPTH;
}

static int uc(char c)
{
	return (unsigned char)c;
}

/* %a, %d, ... (upper case: the complement); any other character stands
 * for itself. */
static int in_class(int c, int cl)
{
	int r;

	switch (tolower(cl)) {
	case 'a': r = isalpha(c); break;
	case 'c': r = iscntrl(c); break;
	case 'd': r = isdigit(c); break;
	case 'g': r = isgraph(c); break;
	case 'l': r = islower(c); break;
	case 'p': r = ispunct(c); break;
	case 's': r = isspace(c); break;
	case 'u': r = isupper(c); break;
	case 'w': r = isalnum(c); break;
	case 'x': r = isxdigit(c); break;
	case 'z': r = c == 0; break; /* deprecated, still in 5.4 */
	default: return cl == c;
	}
	if (isupper(cl))
		r = !r;
	return r != 0;
}

/* p points just past a '['; returns the ']' that closes the set (its
 * first character belongs to the set even when it is ']'). */
static const char *set_close(matcher *m, const char *p)
{
	if (p < m->pat_end && *p == '^')
		p++;
	for (;;) {
		if (p >= m->pat_end)
			luaL_error(m->L, "malformed pattern (missing ']')");
		if (*p++ == '%' && p < m->pat_end)
			p++;
		if (p < m->pat_end && *p == ']')
			return p;
	}
}

/* Is c in the set from '[' at p to ']' at close? */
static int in_set(int c, const char *p, const char *close)
{
	int found = 1;

	p++;
	if (*p == '^') {
		found = 0;
		p++;
	}
	while (p < close) {
		if (*p == '%') {
			if (in_class(c, uc(p[1])))
				return found;
			p += 2;
		} else if (p[1] == '-' && p + 2 < close) {
			if (uc(p[0]) <= c && c <= uc(p[2]))
				return found;
			p += 3;
		} else {
			if (uc(*p) == c)
				return found;
			p++;
		}
	}
	return !found;
}

/* The end of the single-character item at p ('.', %x, [set], a char). */
static const char *item_end(matcher *m, const char *p)
{
	if (*p == '%') {
		if (p + 1 >= m->pat_end)
			luaL_error(m->L, "malformed pattern (ends with '%%')");
		return p + 2;
	}
	if (*p == '[')
		return set_close(m, p + 1) + 1;
	return p + 1;
}

/* Does the subject character at s (s < subj_end) match the item p..ep? */
static int item_matches(const char *s, const char *p, const char *ep)
{
	int c = uc(*s);

	switch (*p) {
	case '.': return 1;
	case '%': return in_class(c, uc(p[1]));
	case '[': return in_set(c, p, ep - 1);
	default: return uc(*p) == c;
	}
}

static const char *match(matcher *m, const char *s, const char *p);

/* item* and item+: the longest run first, then shorter ones. */
static const char *greedy(matcher *m, const char *s, const char *p, const char *ep)
{
	ptrdiff_t n = 0;

	while (s + n < m->subj_end && item_matches(s + n, p, ep))
		n++;
	count_steps(m, (uint64_t)n);
	for (; n >= 0; n--) {
		const char *r = match(m, s + n, ep + 1);

		if (r != NULL)
			return r;
	}
	return NULL;
}

/* item-: the shortest run first. */
static const char *lazy(matcher *m, const char *s, const char *p, const char *ep)
{
	for (;;) {
		const char *r = match(m, s, ep + 1);

		if (r != NULL)
			return r;
		if (s < m->subj_end && item_matches(s, p, ep))
			s++;
		else
			return NULL;
	}
}

static const char *open_capture(matcher *m, const char *s, const char *p, ptrdiff_t kind)
{
	const char *r;

	if (m->ncap >= MAX_CAPTURES)
		luaL_error(m->L, "too many captures");
	m->cap[m->ncap].start = s;
	m->cap[m->ncap].len = kind;
	m->ncap++;
	if ((r = match(m, s, p)) == NULL)
		m->ncap--;
	return r;
}

static const char *close_capture(matcher *m, const char *s, const char *p)
{
	const char *r;
	int l = m->ncap - 1;

	while (l >= 0 && m->cap[l].len != CAP_OPEN)
		l--;
	if (l < 0)
		luaL_error(m->L, "invalid pattern capture");
	m->cap[l].len = s - m->cap[l].start;
	if ((r = match(m, s, p)) == NULL)
		m->cap[l].len = CAP_OPEN;
	return r;
}

/* %bxy at p (p points at x). */
static const char *balanced(matcher *m, const char *s, const char *p)
{
	int open = 1;

	if (p + 1 >= m->pat_end)
		luaL_error(m->L, "malformed pattern (missing arguments to '%%b')");
	if (s >= m->subj_end || *s != p[0])
		return NULL;
	for (const char *q = s + 1; q < m->subj_end; q++) {
		count_steps(m, 1);
		if (*q == p[1]) {
			if (--open == 0)
				return q + 1;
		} else if (*q == p[0]) {
			open++;
		}
	}
	return NULL;
}

/* %1..%9 at p: the text of a closed capture again. */
static const char *back_reference(matcher *m, const char *s, int digit)
{
	int l = digit - '1';
	ptrdiff_t len;

	if (l < 0 || l >= m->ncap || m->cap[l].len == CAP_OPEN)
		luaL_error(m->L, "invalid capture index %%%d", l + 1);
	len = m->cap[l].len;
	if (len < 0 || m->subj_end - s < len || memcmp(m->cap[l].start, s, (size_t)len) != 0)
		return NULL; /* a position capture never matches text */
	count_steps(m, (uint64_t)len);
	return s + len;
}

/* The end of the match of pattern p at subject position s, or NULL. */
static const char *match(matcher *m, const char *s, const char *p)
{
	if (m->depth-- == 0)
		luaL_error(m->L, "pattern too complex");
	for (;;) {
		const char *ep;
		int ok;

		count_steps(m, 1);
		if (p == m->pat_end)
			break;
		switch (*p) {
		case '(':
			if (p + 1 < m->pat_end && p[1] == ')')
				s = open_capture(m, s, p + 2, CAP_POSITION);
			else
				s = open_capture(m, s, p + 1, CAP_OPEN);
			goto out;
		case ')':
			s = close_capture(m, s, p + 1);
			goto out;
		case '$':
			if (p + 1 == m->pat_end) {
				if (s != m->subj_end)
					s = NULL;
				goto out;
			}
			break; /* a '$' elsewhere is itself */
		case '%':
			if (p + 1 >= m->pat_end)
				break; /* item_end says what is wrong */
			if (p[1] == 'b') {
				if ((s = balanced(m, s, p + 2)) == NULL)
					goto out;
				p += 4;
				continue;
			}
			if (p[1] == 'f') {
				int prev, cur;

				p += 2;
				if (p >= m->pat_end || *p != '[')
					luaL_error(m->L, "missing '[' after '%%f' in pattern");
				ep = set_close(m, p + 1) + 1;
				prev = s == m->subj ? '\0' : uc(s[-1]);
				cur = s < m->subj_end ? uc(*s) : '\0';
				if (in_set(prev, p, ep - 1) || !in_set(cur, p, ep - 1)) {
					s = NULL;
					goto out;
				}
				p = ep;
				continue;
			}
			if (isdigit(uc(p[1]))) {
				if ((s = back_reference(m, s, uc(p[1]))) == NULL)
					goto out;
				p += 2;
				continue;
			}
			break;
		default:
			break;
		}
		/* A single-character item, perhaps repeated. */
		ep = item_end(m, p);
		ok = s < m->subj_end && item_matches(s, p, ep);
		if (ep < m->pat_end) {
			const char *r;

			switch (*ep) {
			case '?':
				if (ok && (r = match(m, s + 1, ep + 1)) != NULL) {
					s = r;
					goto out;
				}
				p = ep + 1;
				continue;
			case '+':
				s = ok ? greedy(m, s + 1, p, ep) : NULL;
				goto out;
			case '*':
				s = greedy(m, s, p, ep);
				goto out;
			case '-':
				s = lazy(m, s, p, ep);
				goto out;
			default:
				break;
			}
		}
		if (!ok) {
			s = NULL;
			goto out;
		}
		s++;
		p = ep;
	}
out:
	m->depth++;
	return s;
}

/* ---- results -------------------------------------------------------------- */

/* Capture i (or the whole match s..e when there are none); pushes a
 * position capture's number and returns CAP_POSITION, else returns the
 * length with *text set. */
static ptrdiff_t get_capture(matcher *m, int i, const char *s, const char *e, const char **text)
{
	if (i >= m->ncap) {
		if (i != 0)
			luaL_error(m->L, "invalid capture index %%%d", i + 1);
		*text = s;
		return e - s;
	}
	*text = m->cap[i].start;
	if (m->cap[i].len == CAP_OPEN)
		luaL_error(m->L, "unfinished capture");
	if (m->cap[i].len == CAP_POSITION)
		lua_pushinteger(m->L, (m->cap[i].start - m->subj) + 1);
	return m->cap[i].len;
}

static void push_capture(matcher *m, int i, const char *s, const char *e)
{
	const char *text;
	ptrdiff_t len = get_capture(m, i, s, e, &text);

	if (len != CAP_POSITION)
		lua_pushlstring(m->L, text, (size_t)len);
}

/* s == NULL: no whole-match capture (find pushes positions instead). */
static int push_captures(matcher *m, const char *s, const char *e)
{
	int n = (m->ncap == 0 && s != NULL) ? 1 : m->ncap;

	luaL_checkstack(m->L, n, "too many captures");
	for (int i = 0; i < n; i++)
		push_capture(m, i, s, e);
	return n;
}

/* ---- the library functions ------------------------------------------------ */

/* string.find and friends count positions from 1; negative from the end. */
static size_t start_index(lua_Integer pos, size_t len)
{
	if (pos > 0)
		return (size_t)pos;
	if (pos == 0 || pos < -(lua_Integer)len)
		return 1;
	return len + (size_t)pos + 1;
}

static int has_specials(const char *p, size_t lp)
{
	for (size_t i = 0; i < lp; i++)
		if (p[i] != '\0' && strchr("^$*+?.([%-", p[i]) != NULL)
			return 1;
	return 0;
}

static int find_or_match(lua_State *L, int find)
{
	size_t ls, lp;
	const char *s = luaL_checklstring(L, 1, &ls);
	const char *p = luaL_checklstring(L, 2, &lp);
	size_t init = start_index(luaL_optinteger(L, 3, 1), ls) - 1;
	const char *what = find ? "string.find" : "string.match";
	matcher m;

	start(&m, L, what, s, ls, p, lp);
	if (init > ls) {
		lua_pushnil(L);
		return 1;
	}
	if (find && (lua_toboolean(L, 4) || !has_specials(p, lp))) {
		/* A plain search: memmem is linear, whatever the texts. */
		const char *at = memmem(s + init, ls - init, p, lp);

		se_lua_charge(L, ls - init, what);
		if (at != NULL) {
			lua_pushinteger(L, (at - s) + 1);
			lua_pushinteger(L, (lua_Integer)((size_t)(at - s) + lp));
			return 2;
		}
	} else {
		int anchored = lp > 0 && p[0] == '^';
		const char *from = s + init;

		if (anchored) {
			p++;
			lp--;
		}
		do {
			const char *e;

			restart(&m);
			if ((e = match(&m, from, p)) != NULL) {
				settle(&m);
				if (find) {
					lua_pushinteger(L, (from - s) + 1);
					lua_pushinteger(L, e - s);
					return push_captures(&m, NULL, NULL) + 2;
				}
				return push_captures(&m, from, e);
			}
		} while (from++ < m.subj_end && !anchored);
		settle(&m);
	}
	lua_pushnil(L);
	return 1;
}

static int l_find(lua_State *L)
{
	return find_or_match(L, 1);
}

static int l_match(lua_State *L)
{
	return find_or_match(L, 0);
}

/* gmatch's place between calls of its iterator. */
typedef struct gmatch_state {
	size_t pos;         /* where the next search starts */
	size_t last;        /* end of the last match; SIZE_MAX: none yet */
} gmatch_state;

static int gmatch_next(lua_State *L)
{
	size_t ls, lp;
	const char *s = lua_tolstring(L, lua_upvalueindex(1), &ls);
	const char *p = lua_tolstring(L, lua_upvalueindex(2), &lp);
	gmatch_state *g = lua_touserdata(L, lua_upvalueindex(3));
	matcher m;

	start(&m, L, "string.gmatch", s, ls, p, lp);
	for (const char *from = s + g->pos; from <= m.subj_end; from++) {
		const char *e;

		restart(&m);
		if ((e = match(&m, from, p)) != NULL && (size_t)(e - s) != g->last) {
			g->pos = g->last = (size_t)(e - s);
			settle(&m);
			return push_captures(&m, from, e);
		}
	}
	settle(&m);
	g->pos = ls + 1;
	return 0;
}

static int l_gmatch(lua_State *L)
{
	size_t ls;
	gmatch_state *g;
	size_t init;

	luaL_checklstring(L, 1, &ls);
	luaL_checkstring(L, 2);
	init = start_index(luaL_optinteger(L, 3, 1), ls) - 1;
	lua_settop(L, 2);
	g = lua_newuserdatauv(L, sizeof *g, 0);
	g->pos = init > ls ? ls + 1 : init;
	g->last = SIZE_MAX;
	lua_pushcclosure(L, gmatch_next, 3);
	return 1;
}

/* A replacement string: %0 the match, %1..%9 captures, %% a percent. */
static void add_template(matcher *m, luaL_Buffer *b, const char *s, const char *e)
{
	size_t l;
	const char *t = lua_tolstring(m->L, 3, &l);
	const char *pct;

	while ((pct = memchr(t, '%', l)) != NULL) {
		luaL_addlstring(b, t, (size_t)(pct - t));
		pct++;
		if (*pct == '%') {
			luaL_addchar(b, '%');
		} else if (*pct == '0') {
			luaL_addlstring(b, s, (size_t)(e - s));
		} else if (isdigit(uc(*pct))) {
			const char *text;
			ptrdiff_t len = get_capture(m, *pct - '1', s, e, &text);

			if (len == CAP_POSITION)
				luaL_addvalue(b);
			else
				luaL_addlstring(b, text, (size_t)len);
		} else {
			luaL_error(m->L, "invalid use of '%%' in replacement string");
		}
		l -= (size_t)(pct + 1 - t);
		t = pct + 1;
	}
	luaL_addlstring(b, t, l);
}

/* Adds the replacement of the match s..e; returns whether it changed
 * anything (a false or nil from a function or table keeps the match). */
static int add_replacement(matcher *m, luaL_Buffer *b, const char *s, const char *e, int type)
{
	lua_State *L = m->L;

	if (type == LUA_TFUNCTION) {
		int n;

		lua_pushvalue(L, 3);
		n = push_captures(m, s, e);
		lua_call(L, n, 1);
	} else if (type == LUA_TTABLE) {
		push_capture(m, 0, s, e);
		lua_gettable(L, 3);
	} else {
		add_template(m, b, s, e);
		return 1;
	}
	if (!lua_toboolean(L, -1)) {
		lua_pop(L, 1);
		luaL_addlstring(b, s, (size_t)(e - s));
		return 0;
	}
	if (!lua_isstring(L, -1))
		return luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
	luaL_addvalue(b);
	return 1;
}

static int l_gsub(lua_State *L)
{
	size_t ls, lp;
	const char *s = luaL_checklstring(L, 1, &ls);
	const char *p = luaL_checklstring(L, 2, &lp);
	const char *from = s, *last = NULL;
	int type = lua_type(L, 3);
	lua_Integer max = luaL_optinteger(L, 4, (lua_Integer)ls + 1), n = 0;
	int anchored = lp > 0 && p[0] == '^', changed = 0;
	matcher m;
	luaL_Buffer b;

	luaL_argexpected(L, type == LUA_TNUMBER || type == LUA_TSTRING || type == LUA_TFUNCTION ||
	                        type == LUA_TTABLE, 3, "string/function/table");
	start(&m, L, "string.gsub", s, ls, p, lp);
	luaL_buffinit(L, &b);
	if (anchored) {
		p++;
		lp--;
	}
	while (n < max) {
		const char *e;

		restart(&m);
		if ((e = match(&m, from, p)) != NULL && e != last) {
			n++;
			settle(&m); /* a replacement function runs under the same budget */
			changed |= add_replacement(&m, &b, from, e, type);
			from = last = e;
		} else if (from < m.subj_end) {
			luaL_addchar(&b, *from++);
		} else {
			break;
		}
		if (anchored)
			break;
	}
	settle(&m);
	if (!changed) {
		lua_pushvalue(L, 1);
	} else {
		luaL_addlstring(&b, from, (size_t)(m.subj_end - from));
		luaL_pushresult(&b);
	}
	lua_pushinteger(L, n);
	return 2;
}

void se_lua_open_patterns(lua_State *L, int t)
{
	static const luaL_Reg fns[] = {
		{ "find", l_find }, { "match", l_match }, { "gmatch", l_gmatch }, { "gsub", l_gsub },
		{ NULL, NULL }
	};

	t = lua_absindex(L, t);
	for (const luaL_Reg *f = fns; f->name; f++) {
		lua_pushcfunction(L, f->func);
		lua_setfield(L, t, f->name);
	}
}
