/*
 * rule.c: the declarations of what is computed and watched: metric{},
 * rule{} and rules_file().
 *
 * Owns: checking their tables (names, scopes, windows, thresholds,
 * labels, commands), keeping their functions in the registry by index,
 * and checking that every rule names a metric that exists.  Never: runs a
 * metric or a rule (eval.c does, after the report is built).
 */
#include "host.h"

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

int se_lua_metric(lua_State *L)
{
	static const char *const keys[] = { "name", "title", "format", "funnel", "value", NULL };
	static const char *const formats[] = { "number", "percent", "money", NULL };
	sandbox *sb = se_lua_declaring(L, "metric");
	se_rules *r = sb->rules;
	se_metric_decl m = { NULL, NULL, SE_FORMAT_NUMBER, -1 };
	const char *name, *title, *format, *funnel;

	luaL_checktype(L, 1, LUA_TTABLE);
	se_lua_check_keys(L, 1, "metric", keys, 0);
	if ((name = se_lua_opt_string_field(L, 1, "name", "metric")) == NULL || name[0] == '\0')
		return luaL_error(L, "metric: 'name' is required");
	if (se_rules_metric_index(r, name) >= 0 || se_lua_is_builtin_metric(name))
		return luaL_error(L, "metric '%s' is declared twice (or is a built-in name)", name);
	if (se_lua_field(L, 1, "value") != LUA_TFUNCTION)
		return luaL_error(L, "metric '%s': 'value' must be a function(s) returning a number",
		                  name);
	title = se_lua_opt_string_field(L, 1, "title", "metric");
	if ((format = se_lua_opt_string_field(L, 1, "format", "metric")) != NULL) {
		int i = 0;

		while (formats[i] && strcmp(formats[i], format) != 0)
			i++;
		if (formats[i] == NULL)
			return luaL_error(L, "metric '%s': format must be number, percent or money, not \"%s\"",
			                  name, format);
		m.format = i;
	}
	if ((funnel = se_lua_opt_string_field(L, 1, "funnel", "metric")) != NULL)
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
	int64_t d = se_lua_duration_seconds(s);

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

	if ((rt->name = se_lua_opt_string_field(L, t, "name", what)) == NULL || rt->name[0] == '\0')
		luaL_error(L, "rule: 'name' is required");
	rt->metric = se_lua_opt_string_field(L, t, "metric", what);
	rt->from = se_lua_opt_string_field(L, t, "from", what);
	rt->to = se_lua_opt_string_field(L, t, "to", what);
	rt->severity = se_lua_opt_string_field(L, t, "severity", what);
	rt->message = se_lua_opt_string_field(L, t, "message", what);
	rt->funnel = se_lua_opt_string_field(L, t, "funnel", what);
	if (se_lua_field(L, t, "labels") != LUA_TNIL) {
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
	if (se_lua_field(L, t, "command") != LUA_TNIL) {
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
	int has_when = se_lua_field(L, t, "when") != LUA_TNIL;

	if (has_when && !lua_isfunction(L, -1))
		luaL_error(L, "rule '%s': 'when' must be a function(s)", rt->name);
	lua_pop(L, 1);
	if (has_when == (rt->metric != NULL))
		luaL_error(L, "rule '%s': give either metric = ... with op and threshold, or when = "
		              "function(s)", rt->name);
	if (rt->metric != NULL) {
		if (se_lua_field(L, t, "threshold") != LUA_TNUMBER)
			luaL_error(L, "rule '%s': metric rules need a numeric threshold", rt->name);
		lua_pop(L, 1);
	}
	if (rt->metric != NULL && strcmp(rt->metric, "conversion") == 0 && (!rt->from || !rt->to))
		luaL_error(L, "rule '%s': metric \"conversion\" needs from = and to = stages", rt->name);
	if (se_lua_field(L, t, "sample") != LUA_TNIL && !lua_isfunction(L, -1))
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
		se_lua_field(L, t, "labels");
		a->label_keys = copy_string_list(L, lua_gettop(L), rt->n_labels, 1);
		a->label_values = copy_string_list(L, lua_gettop(L), rt->n_labels, 0);
		lua_pop(L, 1);
		a->n_labels = rt->n_labels;
		for (int i = 0; ok && i < rt->n_labels; i++)
			ok = a->label_keys && a->label_values && a->label_keys[i] && a->label_values[i];
		ok = ok && a->label_keys && a->label_values;
	}
	if (rt->n_command > 0) {
		se_lua_field(L, t, "command");
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

	if ((s = se_lua_opt_string_field(L, t, "scope", "rule")) != NULL && (a->scope = pick_name(s, scopes)) < 0)
		luaL_error(L, "rule '%s': scope must be team, manager, source or funnel, not \"%s\"",
		           rt->name, s);
	if ((s = se_lua_opt_string_field(L, t, "window", "rule")) != NULL &&
	    (a->window = pick_name(s, windows)) < 0)
		luaL_error(L, "rule '%s': window must be current, previous or all, not \"%s\"", rt->name, s);
	if ((s = se_lua_opt_string_field(L, t, "op", "rule")) != NULL && (a->op = pick_name(s, ops)) < 0)
		luaL_error(L, "rule '%s': op must be one of < <= > >= == ~=, not \"%s\"", rt->name, s);
	if ((s = se_lua_opt_string_field(L, t, "mode", "rule")) != NULL)
		a->mode = se_lua_check_mode(L, s, "rule");
	if (se_lua_field(L, t, "threshold") == LUA_TNUMBER) {
		a->threshold = lua_tonumber(L, -1);
		a->has_threshold = 1;
	}
	lua_pop(L, 1);
	if ((type = se_lua_field(L, t, "min_sample")) != LUA_TNIL &&
	    (!lua_isinteger(L, -1) || (a->min_sample = lua_tointeger(L, -1)) < 0))
		luaL_error(L, "rule '%s': min_sample must be a whole number >= 0", rt->name);
	lua_pop(L, 1);
	a->hold_runs = 1;
	for (const char *const *k = (const char *const[]){ "hold", "for", NULL }; *k; k++) {
		type = se_lua_field(L, t, *k);
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
	if ((s = se_lua_opt_string_field(L, t, "repeat_every", "rule")) != NULL)
		a->repeat_seconds = check_duration(L, rt->name, "repeat_every", s);
	a->within = -1;
	if ((s = se_lua_opt_string_field(L, t, "within", "rule")) != NULL)
		a->within = check_duration(L, rt->name, "within", s);
	a->format = -1;
	if ((s = se_lua_opt_string_field(L, t, "format", "rule")) != NULL &&
	    (a->format = pick_name(s, (const char *const[]){ "number", "percent", "money", NULL })) < 0)
		luaL_error(L, "rule '%s': format must be number, percent or money, not \"%s\"", rt->name, s);
}

int se_lua_rule(lua_State *L)
{
	static const char *const keys[] = {
		"name", "scope", "funnel", "window", "metric", "from", "to", "within", "mode", "op",
		"threshold", "when", "sample", "min_sample", "hold", "for", "repeat_every", "severity",
		"labels", "message", "format", "command", NULL
	};
	sandbox *sb = se_lua_declaring(L, "rule");
	se_rules *r = sb->rules;
	se_alert_rule a;
	rule_text rt = { 0 };

	luaL_checktype(L, 1, LUA_TTABLE);
	se_lua_check_keys(L, 1, "rule", keys, 0);
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
	se_lua_field(L, 1, "when");
	lua_setfield(L, -2, "when");
	se_lua_field(L, 1, "sample");
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
int se_lua_check_rule_references(se_rules *r, se_error *err)
{
	for (int i = 0; i < r->n_alerts; i++) {
		const se_alert_rule *a = &r->alerts[i];
		int found = 0;

		if (a->metric == NULL)
			continue;
		if (!se_lua_is_builtin_metric(a->metric) && se_rules_metric_index(r, a->metric) < 0)
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
int se_lua_rules_file(lua_State *L)
{
	sandbox *sb = se_lua_declaring(L, "rules_file");
	const char *name = luaL_checkstring(L, 1);
	char path[PATH_MAX + 260];
	int status;

	if (name[0] == '/' || strstr(name, "..") != NULL)
		return luaL_error(L, "rules_file: '%s' must be a path inside the script's directory", name);
	snprintf(path, sizeof path, "%s/%s", sb->dir, name);
	if (!se_lua_file_exists(path))
		return luaL_error(L, "rules_file: cannot open %s", path);
	se_lua_remember_file(sb, path);
	status = luaL_loadfilex(L, path, "t");
	if (status == LUA_OK) {
		lua_pushcfunction(L, se_lua_message_handler);
		lua_insert(L, -2);
		status = lua_pcall(L, 0, 0, -2);
		lua_remove(L, -2);
	}
	if (status != LUA_OK) {
		if (sb->instructions_hit || sb->memory_hit)
			return se_lua_reraise_limit(L, sb);
		lua_getfield(L, LUA_REGISTRYINDEX, "se.file_errors");
		lua_pushvalue(L, -2);
		lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
		lua_pop(L, 2);
	}
	return 0;
}

