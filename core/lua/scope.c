/*
 * scope.c: the Scope userdata, through which metric{} functions and rule{}
 * conditions read the report's numbers.
 *
 * Owns: the Scope methods (leads, conversion, won, diagnostics, ...) and
 * the built-in metrics' values.  Never: computes a number of its own: each
 * method reads the cube or report.h's accessors, the same ones the
 * report formats read.
 */
#include "host.h"

/* ---- reading the core's numbers: scopes ------------------------------------ */

/*
 * A scope is a userdata naming a slice of the report: one funnel, one
 * manager or all, one source or all, a range of period buckets and a
 * counting mode.  Its methods read the cube (cube.h); metric{} functions
 * and rule{} conditions receive one.  Data exists only while metrics and
 * rules run (sb->rep), never while the script loads.
 */

const se_report *se_lua_data_report(lua_State *L)
{
	sandbox *sb = get_sandbox(L);

	if (sb->rep == NULL || sb->rep->cube == NULL)
		luaL_error(L, "report data is only available inside metric and rule functions, "
		              "not while the script loads");
	return sb->rep;
}

/* The report for a diagnostic method: the diagnostics are computed on the
 * first such call of a run (se_report_want_insights), so scripts that
 * read none do not pay for them. */
static const se_report *insight_report(lua_State *L)
{
	const se_report *rep = se_lua_data_report(L);
	se_error err;

	if (se_report_want_insights(rep, &err) != SE_OK)
		luaL_error(L, "computing the diagnostics: %s", err.msg);
	return rep;
}

lscope *se_lua_push_scope(lua_State *L, const lscope *s)
{
	lscope *u = lua_newuserdatauv(L, sizeof *u, 0);

	*u = *s;
	luaL_setmetatable(L, SCOPE_MT);
	return u;
}

se_cube_filter se_lua_scope_filter(const lscope *s)
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

	if (i < 0) {
		const char *near = se_lua_closest_name(name, (const char *const *)&f->stages[0].name,
		                                       (size_t)f->n_stages, sizeof f->stages[0]);

		if (near != NULL)
			luaL_error(L, "'%s' is not a stage of funnel '%s' (did you mean '%s'?)", name, f->name,
			           near);
		luaL_error(L, "'%s' is not a stage of funnel '%s'", name, f->name);
	}
	return i;
}

double se_lua_money(se_money kopecks)
{
	return (double)kopecks / 100.0;
}

int64_t se_lua_name_id(char **names, uint32_t n, const char *name)
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
	const se_report *rep = se_lua_data_report(L);
	se_cube_filter q = se_lua_scope_filter(s);

	lua_pushinteger(L, se_cube_reached(rep->cube, &q, scope_mode(rep, s), 0));
	return 1;
}

static int l_scope_reached(lua_State *L)
{
	lscope *s = luaL_checkudata(L, 1, SCOPE_MT);
	const se_report *rep = se_lua_data_report(L);
	int stage = stage_arg(L, rep, s, 2);
	se_cube_filter q = se_lua_scope_filter(s);

	lua_pushinteger(L, se_cube_reached(rep->cube, &q, scope_mode(rep, s), stage));
	return 1;
}

/* The counted pair for a -> b [, window], or an error that says how to
 * get it. */
static int pair_arg(lua_State *L, const se_report *rep, const lscope *s, int a_arg)
{
	int a = stage_arg(L, rep, s, a_arg), b = stage_arg(L, rep, s, a_arg + 1);
	const char *within = luaL_optstring(L, a_arg + 2, NULL);
	int64_t window = within ? se_lua_duration_seconds(within) : -1;
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
	se_cube_filter q = se_lua_scope_filter(s);

	se_cube_conversion(rep->cube, &q, mode, pair, num, den);
}

/* s:conversion(a, b) -> rate or nil, converted, cohort */
static int l_scope_conversion(lua_State *L)
{
	lscope *s = luaL_checkudata(L, 1, SCOPE_MT);
	const se_report *rep = se_lua_data_report(L);
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
	const se_report *rep = se_lua_data_report(L);
	se_cube_filter q = se_lua_scope_filter(s);
	int64_t deals, revenue;

	se_cube_won(rep->cube, &q, scope_mode(rep, s), &deals, &revenue);
	lua_pushinteger(L, deals);
	lua_pushnumber(L, se_lua_money(revenue));
	return 2;
}

/* s:lost(), s:nontarget(): one count of the cube each. */
static int push_count(lua_State *L, int64_t (*count)(const se_cube *, const se_cube_filter *))
{
	lscope *s = luaL_checkudata(L, 1, SCOPE_MT);
	const se_report *rep = se_lua_data_report(L);
	se_cube_filter q = se_lua_scope_filter(s);

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
	const se_report *rep = se_lua_data_report(L);
	int stage = lua_isnoneornil(L, 2) ? -1 : stage_arg(L, rep, s, 2);
	se_cube_filter q = se_lua_scope_filter(s);
	int64_t deals, amount, no_amount;

	se_cube_open(rep->cube, &q, stage, 0, &deals, &amount, &no_amount);
	lua_pushinteger(L, deals);
	lua_pushnumber(L, se_lua_money(amount));
	return 2;
}

/* s:presale() -> deals in pre-sale stages now, amount, forecast */
static int l_scope_presale(lua_State *L)
{
	lscope *s = luaL_checkudata(L, 1, SCOPE_MT);
	const se_report *rep = se_lua_data_report(L);
	se_cube_filter q = se_lua_scope_filter(s);
	int64_t deals, amount, no_amount, forecast;

	se_cube_open(rep->cube, &q, -1, 1, &deals, &amount, &no_amount);
	if (se_cube_forecast(rep->cube, &q, &forecast) != SE_OK)
		return luaL_error(L, "out of memory");
	lua_pushinteger(L, deals);
	lua_pushnumber(L, se_lua_money(amount));
	lua_pushnumber(L, se_lua_money(forecast));
	return 3;
}

static const char *const builtin_metrics[] = {
	"leads", "won", "revenue", "lost", "nontarget", "presale", "presale_amount", "forecast",
	"conversion", NULL
};

int se_lua_is_builtin_metric(const char *name)
{
	for (int i = 0; builtin_metrics[i]; i++)
		if (strcmp(builtin_metrics[i], name) == 0)
			return 1;
	return 0;
}

/* A built-in metric's value and the sample it rests on.  conversion needs
 * its pair (pair >= 0). */
void se_lua_builtin_value(const se_report *rep, const lscope *s, const char *name, int pair,
                          double *value, int64_t *sample)
{
	se_cube_filter q = se_lua_scope_filter(s);
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
		*value = name[0] == 'w' ? (double)a : se_lua_money(b);
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
			*value = se_lua_money(b);
		else if (se_cube_forecast(rep->cube, &q, &c) == SE_OK)
			*value = se_lua_money(c);
	}
}

/* Pushes the value and sample a metric{} function returns for scope s;
 * raises what it raises (the caller is inside a protected call). */
void se_lua_call_metric_fn(lua_State *L, int metric, const lscope *s)
{
	lua_getfield(L, LUA_REGISTRYINDEX, "se.metric_fns");
	lua_rawgeti(L, -1, metric + 1);
	lua_remove(L, -2);
	se_lua_push_scope(L, s);
	lua_call(L, 1, 2);
	if (!lua_isnil(L, -2) && !lua_isnumber(L, -2)) {
		sandbox *sb = get_sandbox(L);

		luaL_error(L, "metric '%s' returned a %s, not a number or nil",
		           sb->rules->metrics[metric].name, luaL_typename(L, -2));
	}
}

double se_lua_value_at(lua_State *L, int idx)
{
	return lua_isnumber(L, idx) ? (double)lua_tonumber(L, idx) : NAN;
}

/* s:metric(name) -> value or nil, sample or nil */
static int l_scope_metric(lua_State *L)
{
	lscope *s = luaL_checkudata(L, 1, SCOPE_MT);
	const char *name = luaL_checkstring(L, 2);
	const se_report *rep = se_lua_data_report(L);
	int m = se_rules_metric_index(rep->rules, name);

	if (m >= 0) {
		se_lua_call_metric_fn(L, m, s);
		return 2;
	}
	if (se_lua_is_builtin_metric(name) && strcmp(name, "conversion") != 0) {
		double v;
		int64_t sample;

		se_lua_builtin_value(rep, s, name, -1, &v, &sample);
		if (isnan(v))
			lua_pushnil(L);
		else
			lua_pushnumber(L, v);
		lua_pushinteger(L, sample);
		return 2;
	}
	{
		const se_rules *r = rep->rules;
		const char *near = se_lua_closest_name(name, (const char *const *)&r->metrics[0].name,
		                                       (size_t)r->n_metrics, sizeof r->metrics[0]);

		if (near == NULL)
			near = se_lua_closest_name(name, builtin_metrics,
			                           sizeof builtin_metrics / sizeof builtin_metrics[0] - 1,
			                           sizeof builtin_metrics[0]);
		if (near != NULL)
			return luaL_error(L, "no metric '%s' (did you mean '%s'?)", name, near);
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
	const se_report *rep = insight_report(L);
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
	const se_report *rep = insight_report(L);
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
	const se_report *rep = insight_report(L);
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
	const se_report *rep = insight_report(L);
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
	const se_report *rep = insight_report(L);
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
	const se_report *rep = insight_report(L);
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
	const se_report *rep = insight_report(L);
	int stage = lua_isnoneornil(L, 2) ? -1 : stage_arg(L, rep, s, 2);
	se_forecast fc;

	if (se_report_forecast(rep, s->funnel, stage, scope_manager_or_team(s), &fc) != SE_OK) {
		lua_pushnil(L);
		return 1;
	}
	lua_createtable(L, 0, 6);
	set_int(L, "deals", fc.deals);
	set_num(L, "amount", se_lua_money(fc.amount));
	if (fc.probability >= 0)
		set_num(L, "probability", fc.probability);
	set_num(L, "by_probability", se_lua_money(fc.forecast_stage));
	if (stage >= 0)
		set_num(L, "rate", fc.rate.shrunk);
	set_num(L, "by_rate", se_lua_money(fc.forecast_shrunk));
	set_num(L, "by_time", se_lua_money(fc.forecast_time));
	return 1;
}

/* s:channel() -> a source's { leads, won, revenue, spend, cpl, cps, romi, z,
 * weak } in the scope's period */
static int l_scope_channel(lua_State *L)
{
	lscope *s = luaL_checkudata(L, 1, SCOPE_MT);
	const se_report *rep = insight_report(L);
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
	set_num(L, "revenue", se_lua_money(c.revenue));
	if (c.spend >= 0)
		set_num(L, "spend", se_lua_money(c.spend));
	if (c.cpl >= 0)
		set_num(L, "cpl", se_lua_money(c.cpl));
	if (c.cps >= 0)
		set_num(L, "cps", se_lua_money(c.cps));
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

	return se_lua_push_scope(L, s);
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
	const se_report *rep = se_lua_data_report(L);
	lscope *c;
	const char *v;

	luaL_checkudata(L, 1, SCOPE_MT);
	luaL_checktype(L, 2, LUA_TTABLE);
	se_lua_check_keys(L, 2, "with", keys, 0);
	c = scope_copy(L);
	if ((v = se_lua_opt_string_field(L, 2, "manager", "with")) != NULL)
		c->manager = strcmp(v, "*") == 0 ? SE_CUBE_ANY : se_lua_name_id(rep->managers, rep->n_manager, v);
	if ((v = se_lua_opt_string_field(L, 2, "source", "with")) != NULL)
		c->source = strcmp(v, "*") == 0 ? SE_CUBE_ANY : se_lua_name_id(rep->sources, rep->n_source, v);
	if ((v = se_lua_opt_string_field(L, 2, "mode", "with")) != NULL)
		c->mode = se_lua_check_mode(L, v, "with");
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
	rep = se_lua_data_report(L);
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

void se_lua_open_scope_type(lua_State *L)
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
	/* getmetatable(scope) gives this name, not the table: a script that
	 * could add __gc here would give every later scope a finalizer, which
	 * runs where no limit can stop it. */
	lua_pushliteral(L, "salesengine.Scope");
	lua_setfield(L, -2, "__metatable");
	lua_pop(L, 1);
}

