/*
 * eval.c: running metric{} functions and rule{} conditions over a built
 * report (script.h's se_script_fill_metrics, se_script_eval_rules,
 * se_script_metric_value).
 *
 * Owns: the scopes each metric and rule is evaluated in, the per-rule
 * memory cap, and turning each verdict into an se_rule_result.  Never:
 * lets one failing rule stop the others: each runs in its own protected
 * call and a failure becomes that rule's SE_RULE_FAILED result.
 */
#include "host.h"
#include "vec.h"

/* ---- running metrics and rules over a report ---------------------------------- */

/* The bucket range a rule's window covers, as of the report's "now". */
static void window_range(const se_report *rep, int window, int64_t *lo, int64_t *hi)
{
	int64_t now = se_report_bucket(rep, rep->as_of);

	if (window == SE_WINDOW_ALL || rep->period == SE_PERIOD_TOTAL) {
		*lo = INT64_MIN + 1; /* INT64_MIN is the cube's state key */
		*hi = INT64_MAX;
		return;
	}
	*lo = *hi = window == SE_WINDOW_PREVIOUS ? now - 1 : now;
}

static int l_run_metric(lua_State *L)
{
	int m = (int)lua_tointeger(L, 1);
	lscope s = *(const lscope *)lua_touserdata(L, 2);

	se_lua_call_metric_fn(L, m, &s);
	return 2;
}

/* Runs metric m for scope s from C: value (NAN for nil) and sample (-1
 * when the function gave none). */
static int run_metric(se_script *sc, int m, const lscope *s, double *value, int64_t *sample,
                      se_error *err)
{
	lua_State *L = sc->sb.L;
	int rc;

	lua_pushcfunction(L, l_run_metric);
	lua_pushinteger(L, m);
	lua_pushlightuserdata(L, (void *)s);
	if ((rc = se_lua_protected_call(&sc->sb, 2, 2, err)) != SE_OK) {
		se_error_prefix(err, "metric '%s'", sc->rules->metrics[m].name);
		return rc;
	}
	*value = se_lua_value_at(L, -2);
	*sample = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : -1;
	lua_pop(L, 2);
	return SE_OK;
}

/* Which managers and sources have flows in each bucket of the table. */
static unsigned char *presence(const se_report *rep, int f, const se_metric_table *t, size_t width,
                               int by_source)
{
	unsigned char *seen = calloc((size_t)t->nb * width, 1);
	size_t n = se_cube_n_cells(rep->cube);

	if (seen == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		int funnel;
		int64_t bucket;
		uint32_t manager, source;

		se_cube_cell_key(rep->cube, i, &funnel, &bucket, &manager, &source);
		if (funnel != f || bucket == SE_CUBE_STATE_BUCKET || bucket < t->lo || bucket >= t->lo + t->nb)
			continue;
		seen[(size_t)(bucket - t->lo) * width + (by_source ? source : manager)] = 1;
	}
	return seen;
}

/* One metric over one funnel: per bucket the team, then every manager and
 * every source with data in that bucket. */
static int fill_metric_table(se_script *sc, se_report *rep, int f, int m, se_error *err)
{
	se_metric_table *t = &rep->metric_tables[f * sc->rules->n_metrics + m];
	size_t wm = rep->n_manager + 1, ws = rep->n_source + 1;
	unsigned char *mgr = presence(rep, f, t, wm, 0), *src = presence(rep, f, t, ws, 1);
	int rc = SE_OK;

	if ((mgr == NULL || src == NULL) && t->nb > 0)
		rc = se_error_set(err, SE_ENOMEM, "out of memory");
	for (int64_t k = 0; k < t->nb && rc == SE_OK; k++) {
		lscope s = { f, SE_CUBE_ANY, SE_CUBE_ANY, t->lo + k, t->lo + k, SE_MODE_DEFAULT };
		int64_t sample;
		int any = 0;

		for (size_t i = 0; i < wm && !any; i++)
			any = mgr[(size_t)k * wm + i];
		if (!any)
			continue;
		rc = run_metric(sc, m, &s, &t->by_manager[(size_t)k * wm + rep->n_manager], &sample, err);
		for (uint32_t id = 0; id < rep->n_manager && rc == SE_OK; id++) {
			if (!mgr[(size_t)k * wm + id])
				continue;
			s.manager = id;
			rc = run_metric(sc, m, &s, &t->by_manager[(size_t)k * wm + id], &sample, err);
		}
		s.manager = SE_CUBE_ANY;
		for (uint32_t id = 0; id < rep->n_source && rc == SE_OK; id++) {
			if (!src[(size_t)k * ws + id])
				continue;
			s.source = id;
			rc = run_metric(sc, m, &s, &t->by_source[(size_t)k * ws + id], &sample, err);
		}
		/* The team value belongs in both tables. */
		t->by_source[(size_t)k * ws + rep->n_source] = t->by_manager[(size_t)k * wm + rep->n_manager];
	}
	free(mgr);
	free(src);
	return rc;
}

int se_script_fill_metrics(se_script *sc, se_report *rep, se_error *err)
{
	const se_rules *r = sc->rules;
	int rc = SE_OK;

	if (r->n_metrics == 0 || rep->cube == NULL || !(rep->reports & SE_REPORT_METRICS))
		return SE_OK;
	if ((rc = se_report_alloc_metric_tables(rep, err)) != SE_OK)
		return rc;
	sc->sb.rep = rep;
	for (int f = 0; f < r->n_funnels && rc == SE_OK; f++) {
		if (rep->only_funnel != SE_NONE && f != rep->only_funnel)
			continue;
		for (int m = 0; m < r->n_metrics && rc == SE_OK; m++) {
			if (r->metrics[m].funnel >= 0 && r->metrics[m].funnel != f)
				continue;
			rc = fill_metric_table(sc, rep, f, m, err);
		}
	}
	sc->sb.rep = NULL;
	return rc;
}

static int compare(double v, int op, double threshold)
{
	switch (op) {
	case SE_CMP_LT: return v < threshold;
	case SE_CMP_LE: return v <= threshold;
	case SE_CMP_GT: return v > threshold;
	case SE_CMP_GE: return v >= threshold;
	case SE_CMP_EQ: return v == threshold;
	default: return v != threshold;
	}
}

/* The value of a rule's metric in scope s; pushes nothing. */
static void rule_metric(lua_State *L, const se_report *rep, const se_alert_rule *a, const lscope *s,
                        double *v, int64_t *sample)
{
	int m = se_rules_metric_index(rep->rules, a->metric), pair = -1;

	if (m >= 0) {
		se_lua_call_metric_fn(L, m, s);
		*v = se_lua_value_at(L, -2);
		*sample = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : -1;
		lua_pop(L, 2);
		return;
	}
	if (strcmp(a->metric, "conversion") == 0) {
		const se_funnel *f = &rep->rules->funnels[s->funnel];

		pair = se_cube_pair_index(rep->cube, s->funnel, se_funnel_stage_index(f, a->from),
		                          se_funnel_stage_index(f, a->to), a->within);
		if (pair < 0)
			luaL_error(L, "%s: conversion '%s' -> '%s'%s is not counted: add it to pairs{} of "
			              "funnel '%s'", a->where, a->from, a->to, a->within > 0 ? " (within)" : "",
			           f->name);
	}
	se_lua_builtin_value(rep, s, a->metric, pair, v, sample);
}

/* l_eval_rule(index, scope) -> verdict (true, false or nil), value, sample.
 * Runs inside one protected call, so the rule's whole evaluation shares
 * one instruction budget. */
static int l_eval_rule(lua_State *L)
{
	sandbox *sb = get_sandbox(L);
	int ri = (int)lua_tointeger(L, 1);
	lscope s = *(const lscope *)lua_touserdata(L, 2);
	const se_report *rep = se_lua_data_report(L);
	const se_alert_rule *a = &sb->rules->alerts[ri];
	double v = NAN;
	int64_t sample = -1;
	int verdict = -1;

	lua_getfield(L, LUA_REGISTRYINDEX, "se.rule_fns");
	lua_rawgeti(L, -1, ri + 1);
	lua_replace(L, 3);
	lua_settop(L, 3);
	if (a->metric != NULL) {
		rule_metric(L, rep, a, &s, &v, &sample);
		if (!isnan(v))
			verdict = compare(v, a->op, a->threshold);
	} else {
		lua_getfield(L, 3, "when");
		se_lua_push_scope(L, &s);
		lua_call(L, 1, 3);
		if (lua_isboolean(L, -3)) {
			verdict = lua_toboolean(L, -3);
			v = se_lua_value_at(L, -2);
			sample = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : -1;
		} else if (lua_isnumber(L, -3)) {
			if (!a->has_threshold)
				return luaL_error(L, "rule '%s': when returned a number but the rule has no "
				                     "threshold (return true/false, or add op and threshold)", a->name);
			v = lua_tonumber(L, -3);
			verdict = compare(v, a->op, a->threshold);
			sample = lua_isinteger(L, -2) ? lua_tointeger(L, -2) : -1;
		} else if (!lua_isnil(L, -3)) {
			return luaL_error(L, "rule '%s': when returned a %s (want true/false, a number or nil)",
			                  a->name, luaL_typename(L, -3));
		}
		lua_settop(L, 3);
	}
	if (lua_getfield(L, 3, "sample") == LUA_TFUNCTION) {
		se_lua_push_scope(L, &s);
		lua_call(L, 1, 1);
		if (!lua_isinteger(L, -1))
			return luaL_error(L, "rule '%s': sample returned a %s, not a whole number", a->name,
			                  luaL_typename(L, -1));
		sample = lua_tointeger(L, -1);
	}
	if (verdict < 0)
		lua_pushnil(L);
	else
		lua_pushboolean(L, verdict);
	lua_pushnumber(L, v);
	lua_pushinteger(L, sample);
	return 3;
}

typedef struct results {
	se_rule_result *v;
	size_t n, cap;
} results;

static se_rule_result *add_result(results *rs)
{
	if (SE_VEC_RESERVE(rs->v, rs->cap, rs->n + 1, 32) != SE_OK)
		return NULL;
	memset(&rs->v[rs->n], 0, sizeof rs->v[0]);
	return &rs->v[rs->n++];
}

/* Evaluates rule ri in scope s into res; SE_ENOMEM only. */
static void eval_one(se_script *sc, int ri, const lscope *s, se_rule_result *res)
{
	const se_alert_rule *a = &sc->rules->alerts[ri];
	lua_State *L = sc->sb.L;
	se_error e;

	res->rule = ri;
	res->funnel = s->funnel;
	res->manager = s->manager;
	res->source = s->source;
	res->value = NAN;
	res->sample = -1;
	size_t limit = sc->sb.limit;
	int rc;

	/* Nothing that allocates outside the protected call: the scope goes
	 * in as a light pointer and becomes a userdata inside. */
	lua_pushcfunction(L, l_eval_rule);
	lua_pushinteger(L, ri);
	lua_pushlightuserdata(L, (void *)s);
	/* One rule may grow the heap by RULE_MEMORY at most: a memory bomb is
	 * stopped early, and leaves room for the rules after it. */
	if (sc->sb.used + RULE_MEMORY < limit) {
		sc->sb.limit = sc->sb.used + RULE_MEMORY;
		sc->sb.rule_capped = 1;
	}
	rc = se_lua_protected_call(&sc->sb, 2, 3, &e);
	sc->sb.limit = limit;
	sc->sb.rule_capped = 0;
	if (rc != SE_OK) {
		res->status = SE_RULE_FAILED;
		snprintf(res->message, sizeof res->message, "rule '%s' (%s): %s", a->name, a->where, e.msg);
		lua_gc(L, LUA_GCCOLLECT); /* what a memory bomb left is garbage now */
		return;
	}
	res->value = se_lua_value_at(L, -2);
	res->sample = lua_tointeger(L, -1);
	if (lua_isnil(L, -3))
		res->status = SE_RULE_UNKNOWN;
	else
		res->status = lua_toboolean(L, -3) ? SE_RULE_HOLDS : SE_RULE_CLEAR;
	lua_pop(L, 3);
	if (res->status == SE_RULE_UNKNOWN || a->min_sample == 0)
		return;
	if (res->sample < 0) {
		res->status = SE_RULE_FAILED;
		snprintf(res->message, sizeof res->message, "rule '%s' (%s): min_sample is set but the "
		         "condition gives no sample size (return it as a second value, or add sample = "
		         "function(s))", a->name, a->where);
	} else if (res->sample < a->min_sample) {
		res->status = SE_RULE_UNKNOWN;
	}
}

/* Managers (or sources) to evaluate a per-manager rule for: those with
 * flows in the window, or with deals open now. */
static int scope_has_data(const se_report *rep, const lscope *s)
{
	se_cube_filter q = se_lua_scope_filter(s);
	int64_t deals, amount, none;

	if (se_cube_reached(rep->cube, &q, SE_MODE_REACHED, 0) > 0 || se_cube_lost(rep->cube, &q) > 0 ||
	    se_cube_nontarget(rep->cube, &q) > 0)
		return 1;
	for (int st = 0; st < rep->rules->funnels[s->funnel].n_stages; st++)
		if (se_cube_reached(rep->cube, &q, SE_MODE_REACHED, st) > 0)
			return 1;
	se_cube_open(rep->cube, &q, -1, 0, &deals, &amount, &none);
	return deals > 0;
}

static int rule_covers(const se_report *rep, const se_alert_rule *a, int f)
{
	const se_funnel *fn = &rep->rules->funnels[f];

	if ((a->funnel >= 0 && a->funnel != f) || (rep->only_funnel != SE_NONE && f != rep->only_funnel))
		return 0;
	if (a->metric != NULL && strcmp(a->metric, "conversion") == 0)
		return se_funnel_stage_index(fn, a->from) >= 0 && se_funnel_stage_index(fn, a->to) >= 0;
	return 1;
}

/* Every scope of rule ri; stops at its first failure (one message per
 * broken rule, not one per manager). */
static int eval_rule(se_script *sc, const se_report *rep, int ri, results *rs)
{
	const se_alert_rule *a = &sc->rules->alerts[ri];

	for (int f = 0; f < sc->rules->n_funnels; f++) {
		lscope s = { f, SE_CUBE_ANY, SE_CUBE_ANY, 0, 0, a->mode };
		uint32_t n = a->scope == SE_SCOPE_MANAGER ? rep->n_manager
		             : a->scope == SE_SCOPE_SOURCE ? rep->n_source : 1;

		if (!rule_covers(rep, a, f))
			continue;
		window_range(rep, a->window, &s.lo, &s.hi);
		for (uint32_t id = 0; id < n; id++) {
			se_rule_result *res;

			if (a->scope == SE_SCOPE_MANAGER)
				s.manager = id;
			else if (a->scope == SE_SCOPE_SOURCE)
				s.source = id;
			if (n > 1 && !scope_has_data(rep, &s))
				continue;
			if ((res = add_result(rs)) == NULL)
				return SE_ENOMEM;
			eval_one(sc, ri, &s, res);
			if (res->status == SE_RULE_FAILED)
				return SE_OK;
		}
	}
	return SE_OK;
}

/* rules_file()s that failed to load, as failed results. */
static int add_file_errors(se_script *sc, results *rs)
{
	lua_State *L = sc->sb.L;
	lua_Integer n;

	lua_getfield(L, LUA_REGISTRYINDEX, "se.file_errors");
	n = (lua_Integer)lua_rawlen(L, -1);
	for (lua_Integer i = 1; i <= n; i++) {
		se_rule_result *res = add_result(rs);
		se_error e;

		if (res == NULL) {
			lua_pop(L, 1);
			return SE_ENOMEM;
		}
		lua_rawgeti(L, -1, i);
		se_lua_set_script_error(&sc->sb, &e, SE_ESCRIPT, lua_tostring(L, -1) ? lua_tostring(L, -1) : "?");
		lua_pop(L, 1);
		res->rule = res->funnel = -1;
		res->manager = res->source = SE_CUBE_ANY;
		res->status = SE_RULE_FAILED;
		res->value = NAN;
		res->sample = -1;
		snprintf(res->message, sizeof res->message, "rules file: %s (its rules are not loaded)", e.msg);
	}
	lua_pop(L, 1);
	return SE_OK;
}

/* --check: every metric and every rule once per funnel it covers, on the
 * team's scope (a per-manager or per-source rule on a manager or source
 * the data does not have), so a misspelt stage, pair or metric name fails
 * when the script is checked, not on the first day the data reaches it.
 * Only failures are returned. */
int se_script_check(se_script *sc, const se_report *rep, se_rule_result **out, size_t *n,
                    se_error *err)
{
	results rs = { NULL, 0, 0 };
	const se_rules *r = sc->rules;
	int rc = SE_OK;

	*out = NULL;
	*n = 0;
	if (rep->cube == NULL)
		return SE_OK;
	sc->sb.rep = rep;
	for (int m = 0; m < r->n_metrics && rc == SE_OK; m++) {
		for (int f = 0; f < r->n_funnels && rc == SE_OK; f++) {
			lscope s = { f, SE_CUBE_ANY, SE_CUBE_ANY, 0, 0, SE_MODE_DEFAULT };
			double value;
			int64_t sample;
			se_error e;
			se_rule_result *res;

			if (r->metrics[m].funnel >= 0 && r->metrics[m].funnel != f)
				continue;
			window_range(rep, SE_WINDOW_ALL, &s.lo, &s.hi);
			if (run_metric(sc, m, &s, &value, &sample, &e) == SE_OK)
				continue;
			if ((res = add_result(&rs)) == NULL) {
				rc = SE_ENOMEM;
				break;
			}
			res->rule = -1;
			res->funnel = f;
			res->manager = res->source = SE_CUBE_ANY;
			res->status = SE_RULE_FAILED;
			res->value = NAN;
			res->sample = -1;
			snprintf(res->message, sizeof res->message, "%s", e.msg);
			break; /* one message per metric */
		}
	}
	for (int ri = 0; ri < r->n_alerts && rc == SE_OK; ri++) {
		const se_alert_rule *a = &r->alerts[ri];

		for (int f = 0; f < r->n_funnels; f++) {
			lscope s = { f, SE_CUBE_ANY, SE_CUBE_ANY, 0, 0, a->mode };
			se_rule_result one;

			if (!rule_covers(rep, a, f))
				continue;
			window_range(rep, a->window, &s.lo, &s.hi);
			if (a->scope == SE_SCOPE_MANAGER)
				s.manager = NO_SUCH_ID;
			else if (a->scope == SE_SCOPE_SOURCE)
				s.source = NO_SUCH_ID;
			memset(&one, 0, sizeof one);
			eval_one(sc, ri, &s, &one);
			if (one.status != SE_RULE_FAILED)
				continue;
			se_rule_result *res = add_result(&rs);

			if (res == NULL) {
				rc = SE_ENOMEM;
				break;
			}
			*res = one;
			break;
		}
	}
	sc->sb.rep = NULL;
	if (rc != SE_OK) {
		free(rs.v);
		return se_error_set(err, rc, "out of memory checking the rules");
	}
	*out = rs.v;
	*n = rs.n;
	return SE_OK;
}

int se_script_eval_rules(se_script *sc, const se_report *rep, se_rule_result **out, size_t *n,
                         se_error *err)
{
	results rs = { NULL, 0, 0 };
	int rc = add_file_errors(sc, &rs);

	*out = NULL;
	*n = 0;
	sc->sb.rep = rep;
	for (int i = 0; i < sc->rules->n_alerts && rc == SE_OK && rep->cube != NULL; i++)
		rc = eval_rule(sc, rep, i, &rs);
	sc->sb.rep = NULL;
	if (rc != SE_OK) {
		free(rs.v);
		return se_error_set(err, SE_ENOMEM, "out of memory evaluating rules");
	}
	*out = rs.v;
	*n = rs.n;
	return SE_OK;
}

int se_script_metric_value(se_script *sc, const se_report *rep, const char *metric,
                           const char *funnel, const char *manager, const char *source,
                           double *value, se_error *err)
{
	lscope s = { 0, SE_CUBE_ANY, SE_CUBE_ANY, 0, 0, SE_MODE_DEFAULT };
	int m = se_rules_metric_index(sc->rules, metric);
	int64_t sample;
	int rc;

	*value = NAN;
	if (rep->cube == NULL)
		return se_error_set(err, SE_ERR, "the report was built without metrics");
	if (funnel != NULL) {
		for (s.funnel = 0; s.funnel < sc->rules->n_funnels; s.funnel++)
			if (strcmp(sc->rules->funnels[s.funnel].name, funnel) == 0)
				break;
		if (s.funnel == sc->rules->n_funnels)
			return se_error_set(err, SE_EUSAGE, "no funnel '%s'", funnel);
	}
	if (manager != NULL)
		s.manager = se_lua_name_id(rep->managers, rep->n_manager, manager);
	if (source != NULL)
		s.source = se_lua_name_id(rep->sources, rep->n_source, source);
	window_range(rep, SE_WINDOW_CURRENT, &s.lo, &s.hi);
	if (m < 0) {
		if (!se_lua_is_builtin_metric(metric) || strcmp(metric, "conversion") == 0)
			return se_error_set(err, SE_EUSAGE, "no metric '%s'", metric);
		se_lua_builtin_value(rep, &s, metric, -1, value, &sample);
		return SE_OK;
	}
	sc->sb.rep = rep;
	rc = run_metric(sc, m, &s, value, &sample, err);
	sc->sb.rep = NULL;
	return rc;
}

