/*
 * declare.c: reading declaration tables, and the declarations that shape
 * the data: settings{}, funnel{} and columns{}.
 *
 * Owns: the helpers every declaration uses (unknown keys with "did you
 * mean", typed fields, modes, durations) and turning settings{},
 * funnel{} and columns{} into se_rules.  Never: keeps a C allocation across a call that
 * can raise: whatever it allocates is attached to the rules at once, which
 * the caller frees whether the script succeeded or not.
 */
#include "host.h"
#include "colmap.h"
#include "import.h"
#include "utf8.h"


/* ---- reading declaration tables ------------------------------------------ */

/* A name as a user might mean it: folded (se_utf8_fold()), spaces
 * dropped; at most SE_EDIT_MAX + 1 code points, enough to tell "too long". */
static size_t folded_name(const char *s, uint32_t *out)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + strlen(s);
	size_t n = 0;

	while (p < end && n <= SE_EDIT_MAX) {
		uint32_t c = se_utf8_fold(se_utf8_next(&p, end));

		if (c != ' ')
			out[n++] = c;
	}
	return n;
}

size_t se_lua_name_distance(const char *want, const char *have)
{
	uint32_t a[SE_EDIT_MAX + 1], b[SE_EDIT_MAX + 1];
	size_t na = folded_name(want, a), nb = folded_name(have, b);

	return se_edit_distance(a, na, b, nb);
}

/* Distance between names as written (keys of a declaration table). */
static size_t key_distance(const char *want, const char *have)
{
	uint32_t a[SE_EDIT_MAX + 1], b[SE_EDIT_MAX + 1];
	const unsigned char *p = (const unsigned char *)want, *pend = p + strlen(want);
	const unsigned char *q = (const unsigned char *)have, *qend = q + strlen(have);
	size_t na = 0, nb = 0;

	while (p < pend && na <= SE_EDIT_MAX)
		a[na++] = se_utf8_next(&p, pend);
	while (q < qend && nb <= SE_EDIT_MAX)
		b[nb++] = se_utf8_next(&q, qend);
	return se_edit_distance(a, na, b, nb);
}

const char *se_lua_closest_name(const char *name, const char *const *names, size_t n,
                                size_t stride)
{
	const char *best = NULL;
	size_t best_d = 3; /* two edits at most, or the same name folded */

	for (size_t i = 0; i < n; i++) {
		const char *cand = *(const char *const *)((const char *)names + i * stride);
		size_t d;

		if (cand == NULL || strcmp(cand, name) == 0)
			continue;
		if ((d = se_lua_name_distance(name, cand)) < best_d) {
			best_d = d;
			best = cand;
		}
	}
	return best;
}

/* Rejects keys a declaration does not know, suggesting the closest one:
 * a typo must not silently become "no setting". */
void se_lua_check_keys(lua_State *L, int t, const char *what, const char *const *allowed,
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
			size_t d = key_distance(*k, lua_tostring(L, -1));
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
int se_lua_field(lua_State *L, int t, const char *key)
{
	return lua_getfield(L, t, key);
}

const char *se_lua_opt_string_field(lua_State *L, int t, const char *key, const char *what)
{
	int type = se_lua_field(L, t, key);
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

se_mode se_lua_check_mode(lua_State *L, const char *s, const char *what)
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

sandbox *se_lua_declaring(lua_State *L, const char *fn)
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
	if (se_lua_field(L, 1, "sla") != LUA_TNIL)
		r->sla = check_window(L, -1, "settings: sla");
	lua_pop(L, 1);
	if (se_lua_field(L, 1, "stale_multiple") != LUA_TNIL)
		r->stale_multiple = check_positive(L, "stale_multiple", 1, 1000);
	lua_pop(L, 1);
	if (se_lua_field(L, 1, "shrinkage") != LUA_TNIL)
		r->shrinkage = check_positive(L, "shrinkage", 0, 1e6);
	lua_pop(L, 1);
	if (se_lua_field(L, 1, "horizon") != LUA_TNIL)
		r->horizon = check_window(L, -1, "settings: horizon");
	lua_pop(L, 1);
	if (se_lua_field(L, 1, "spend") != LUA_TNIL)
		read_spend(L, r);
	lua_pop(L, 1);
}

/* settings{ reports = { "digest", "handling" } } (or "digest,handling"):
 * each name one --report takes. */
static void read_reports(lua_State *L, se_rules *r)
{
	int t = lua_getfield(L, 1, "reports");
	char buf[512];

	if (t == LUA_TNIL) {
		lua_pop(L, 1);
		return;
	}
	if (t == LUA_TSTRING) {
		snprintf(buf, sizeof buf, "%s", lua_tostring(L, -1));
	} else if (t == LUA_TTABLE) {
		size_t len = 0;

		buf[0] = '\0';
		for (lua_Integer i = 1; lua_rawgeti(L, -1, i) != LUA_TNIL; i++) {
			if (lua_type(L, -1) != LUA_TSTRING)
				luaL_error(L, "settings: reports[%d] must be a report name, not a %s", (int)i,
				           luaL_typename(L, -1));
			len += (size_t)snprintf(buf + len, len < sizeof buf ? sizeof buf - len : 0, "%s%s",
			                        i > 1 ? "," : "", lua_tostring(L, -1));
			lua_pop(L, 1);
		}
		lua_pop(L, 1);
	} else {
		luaL_error(L, "settings: reports must be a list of report names, not a %s", luaL_typename(L, -1));
	}
	lua_pop(L, 1);
	r->defaults.reports = 0;
	r->defaults.digest = 0;
	for (char *save = NULL, *tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
		unsigned bit;

		if (strcmp(tok, "digest") == 0)
			r->defaults.digest = 1;
		else if (se_report_flag(tok, &bit) == SE_OK)
			r->defaults.reports |= bit;
		else
			luaL_error(L, "settings: reports: no report is called \"%s\" (see --help for the names)", tok);
	}
	if (r->defaults.reports == 0 && !r->defaults.digest)
		luaL_error(L, "settings: reports is empty");
}

static void read_output_settings(lua_State *L, se_rules *r)
{
	static const char *const formats[] = { "table", "csv", "json", "prometheus", "html", "xlsx", NULL };
	const char *s;

	read_reports(L, r);
	if ((s = se_lua_opt_string_field(L, 1, "format", "settings")) != NULL) {
		int i = 0;

		while (formats[i] && strcmp(formats[i], s) != 0)
			i++;
		if (formats[i] == NULL)
			luaL_error(L, "settings: format must be table, csv, json, prometheus, html or xlsx, not \"%s\"", s);
		r->defaults.format = i;
	}
	if ((s = se_lua_opt_string_field(L, 1, "language", "settings")) != NULL) {
		if (strcmp(s, "ru") == 0)
			r->defaults.language = 1;
		else if (strcmp(s, "en") == 0)
			r->defaults.language = 0;
		else
			luaL_error(L, "settings: language must be \"ru\" or \"en\", not \"%s\"", s);
	}
}

int se_lua_settings(lua_State *L)
{
	static const char *const keys[] = { "timezone", "input_timezone", "mode", "period", "sla",
		                            "stale_multiple", "shrinkage", "horizon", "spend", "reports",
		                            "format", "language", NULL };
	sandbox *sb = se_lua_declaring(L, "settings");
	se_rules *r = sb->rules;
	const char *s;

	luaL_checktype(L, 1, LUA_TTABLE);
	se_lua_check_keys(L, 1, "settings", keys, 0);
	if ((s = se_lua_opt_string_field(L, 1, "timezone", "settings")) != NULL) {
		check_zone(L, s, "timezone");
		free(r->timezone);
		r->timezone = dup_or_raise(L, s);
	}
	if ((s = se_lua_opt_string_field(L, 1, "input_timezone", "settings")) != NULL) {
		check_zone(L, s, "input_timezone");
		free(r->input_timezone);
		r->input_timezone = dup_or_raise(L, s);
	}
	if ((s = se_lua_opt_string_field(L, 1, "mode", "settings")) != NULL)
		r->mode = se_lua_check_mode(L, s, "settings");
	if ((s = se_lua_opt_string_field(L, 1, "period", "settings")) != NULL)
		r->period = check_period(L, s);
	read_report_settings(L, r);
	read_output_settings(L, r);
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
		se_lua_check_keys(L, item, what, keys, 1);
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
	if (se_lua_field(L, item, "aliases") != LUA_TNIL)
		each_name(L, -1, "aliases", f, add_alias, &s);
	lua_pop(L, 1);
	if (se_lua_field(L, item, "presale") != LUA_TNIL) {
		if (!lua_isboolean(L, -1))
			luaL_error(L, "funnel '%s': stage '%s': presale must be true or false", f->name, name);
		f->stages[s].presale = lua_toboolean(L, -1);
	}
	lua_pop(L, 1);
	if (se_lua_field(L, item, "probability") != LUA_TNIL) {
		lua_Number p = lua_tonumber(L, -1);

		if (lua_type(L, -1) != LUA_TNUMBER || !(p >= 0 && p <= 1))
			luaL_error(L, "funnel '%s': stage '%s': probability must be a number from 0 to 1", f->name, name);
		f->stages[s].probability = p;
	}
	lua_pop(L, 1);
}

static void read_stages(lua_State *L, se_funnel *f)
{
	if (se_lua_field(L, 1, "stages") != LUA_TTABLE)
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
int64_t se_lua_duration_seconds(const char *s)
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
		int64_t d = se_lua_duration_seconds(s);

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
	se_lua_check_keys(L, item, what, keys, 1);
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
	if ((mode = se_lua_opt_string_field(L, item, "mode", what)) != NULL)
		p.mode = se_lua_check_mode(L, mode, what);
	if (se_lua_field(L, item, "window") != LUA_TNIL)
		p.window = check_window(L, -1, what);
	lua_pop(L, 1);
	if (se_funnel_add_pair(f, &p) != SE_OK)
		luaL_error(L, "out of memory");
}

static void read_pairs(lua_State *L, se_funnel *f)
{
	int type = se_lua_field(L, 1, "pairs");

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
	if (se_lua_field(L, 1, key) != LUA_TNIL)
		each_name(L, -1, key, f, add_terminal, &cls);
	lua_pop(L, 1);
}

int se_lua_funnel(lua_State *L)
{
	static const char *const keys[] = {
		"name", "stages", "won", "lost", "nontarget", "pipelines", "pairs", NULL
	};
	sandbox *sb = se_lua_declaring(L, "funnel");
	se_rules *r = sb->rules;
	const char *name, *won;
	se_funnel *f;

	luaL_checktype(L, 1, LUA_TTABLE);
	se_lua_check_keys(L, 1, "funnel", keys, 0);
	name = se_lua_opt_string_field(L, 1, "name", "funnel");
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
	won = se_lua_opt_string_field(L, 1, "won", "funnel");
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
	if (se_lua_field(L, 1, "pipelines") != LUA_TNIL)
		each_name(L, -1, "pipelines", f, add_pipeline, NULL);
	lua_pop(L, 1);
	if (se_funnel_add_adjacent_pairs(f) != SE_OK)
		luaL_error(L, "out of memory");
	read_pairs(L, f);
	return 0;
}


/* ---- columns{} ------------------------------------------------------------ */

/*
 * columns { deal_id = "Сделка", ts = "Дата изменения", ts_format = "DD.MM.YYYY HH:MM",
 *           pipeline = { value = "Продажи" } }
 * A canonical field is the export's column (a string, or { column = ... })
 * or a value for every row ({ value = ... }).  Several columns{} add up,
 * a later one replacing the fields it names, so a bundled mapping can be
 * adjusted: columns(require "columns.amocrm"); columns { pipeline = ... }.
 */
/* The value on top of the stack: a column name, { column = ... } or
 * { value = ... }. */
static void declare_column(lua_State *L, se_colmap *m, const char *key)
{
	static const char *const keys[] = { "column", "value", NULL };
	int f = se_rows_field(key, strlen(key));
	int t = lua_gettop(L);
	const char *column = NULL, *value = NULL;
	se_error err = { 0 };
	int other, rc;

	if (lua_type(L, t) == LUA_TSTRING) {
		column = lua_tostring(L, t);
	} else if (lua_type(L, t) == LUA_TTABLE) {
		char what[64];

		snprintf(what, sizeof what, "columns: %s", key);
		se_lua_check_keys(L, t, what, keys, 0);
		column = se_lua_opt_string_field(L, t, "column", what);
		/* Stays on the stack (a number turned into its text) until stored. */
		if (lua_getfield(L, t, "value") == LUA_TNUMBER || lua_type(L, -1) == LUA_TSTRING)
			value = lua_tostring(L, -1);
		else if (!lua_isnil(L, -1))
			luaL_error(L, "%s: value must be a string or a number, not a %s", what,
			           luaL_typename(L, -1));
		if ((column == NULL) == (value == NULL))
			luaL_error(L, "%s: give either column = \"header name\" or value = \"text\"", what);
	} else {
		luaL_error(L, "columns: %s must be a column name (a string) or { value = ... }, not a %s",
		           key, luaL_typename(L, t));
	}
	if (column != NULL && (other = se_colmap_field_of(m, column)) >= 0 && other != f)
		luaL_error(L, "columns: %s: \"%s\" is already the column of %s", key, column,
		           se_rows_field_name(other));
	rc = column != NULL ? se_colmap_set_column(m, f, column, &err) : se_colmap_set_value(m, f, value, &err);
	if (rc != SE_OK)
		luaL_error(L, "columns: %s: %s", key, err.msg);
	lua_settop(L, t);
}

int se_lua_columns(lua_State *L)
{
	const char *keys[F_COUNT + 2];
	sandbox *sb = se_lua_declaring(L, "columns");
	se_rules *r = sb->rules;
	se_error err = { 0 };
	const char *s;

	luaL_checktype(L, 1, LUA_TTABLE);
	for (int f = 0; f < F_COUNT; f++)
		keys[f] = se_rows_field_name(f);
	keys[F_COUNT] = "ts_format";
	keys[F_COUNT + 1] = NULL;
	se_lua_check_keys(L, 1, "columns", keys, 0);
	/* Attached to the rules at once: freed with them whatever happens next. */
	if (r->columns == NULL && se_colmap_new(&r->columns) != SE_OK)
		return luaL_error(L, "out of memory");
	for (int f = 0; f < F_COUNT; f++) {
		if (lua_getfield(L, 1, keys[f]) != LUA_TNIL)
			declare_column(L, r->columns, keys[f]);
		lua_pop(L, 1);
	}
	if ((s = se_lua_opt_string_field(L, 1, "ts_format", "columns")) != NULL &&
	    se_colmap_set_ts_format(r->columns, s, &err) != SE_OK)
		return luaL_error(L, "columns: %s", err.msg);
	return 0;
}
