/*
 * insight_back.c: the diagnostics' back half of the pass over deals.
 *
 * Owns: what the diagnostics count of each deal once its lead handling is
 * counted (insight.c, the front half): the sources' steps, the stays and
 * times to won and to close, the open deals, the forecast's spells and
 * their outcomes, and the backtest's replays (docs/METRICS.md 4g-4k).
 * With the pass on two threads this runs on the second (worker.c), a
 * chunk behind the first; it writes only the report's diagnostics
 * (rep->agg[].in) and their bucket cache (rep->insight_bucket_cache).
 *
 * Never: counts the foundation or the lead handling, decides anything
 * that needs a median (insight.c does, after the pass), prints, or calls
 * Lua or SQL.
 */
#include "insight_back.h"
#include "huge.h"
#include "quantile.h"
#include "survival.h"

#include <stdlib.h>
#include <string.h>

static int add_source_pairs(se_report *rep, se_funnel_agg *a, const se_funnel *f, const se_deal_eval *e,
                            uint32_t src, se_bucket_cache *cache)
{
	/* in locals: the cells written below might alias them else, and each
	 * pair (seven a deal) would load them again */
	const se_pair *pairs = f->pairs;
	const se_mode *modes = a->pair_mode;
	se_grid *grids = a->in.source_pairs;
	int64_t from_utc = rep->from_utc, to_utc = rep->to_utc;

	for (int i = 0, n = f->n_pairs; i < n; i++) {
		const se_pair *pr = &pairs[i];
		int32_t conv, cohort = se_count_pair(e, pr->from, pr->to, modes[i], pr->window, &conv);
		se_pair_cell *c;
		int64_t t;

		if (cohort == SE_NONE || (t = e->ev[cohort].ts) < from_utc || t >= to_utc)
			continue;
		if ((c = se_grid_cell(&grids[i], se_report_bucket_in(rep, cache, t), src)) == NULL)
			return SE_ENOMEM;
		c->from++;
		if (conv != SE_NONE)
			c->to++;
		if (c->from == 1 || t > c->last_cohort)
			c->last_cohort = t;
	}
	return SE_OK;
}

static int add_open(se_insight *in, const se_open_deal *o)
{
	/* the room checked here: growing is a call, 400,000 of them */
	if (in->n_open == in->cap_open &&
	    SE_VEC_RESERVE_LEAP(in->open, in->cap_open, in->n_open + 1, 256, SE_PASS_LEAP) != SE_OK)
		return SE_ENOMEM;
	in->open[in->n_open++] = *o;
	return SE_OK;
}

/* What se_count_stays found of a deal: its stays for the velocity, its
 * stays at pre-sale stages (the forecast's spells) listed as it went. */
typedef struct deal_stays {
	int64_t latest[SE_MAX_STAGES], total[SE_MAX_STAGES], since;
	uint64_t done;               /* stages with a finished stay */
	int current;
} deal_stays;

/* The deal the back half counts, for what several of its parts read:
 * its amount in kopecks is rounded once, when first needed (its spells,
 * its open record, its replays), not once a use. */
typedef struct deal_ctx {
	se_insight *in;
	const se_deal_eval *e;
	const se_chunk_deal *d;
	int64_t amount;              /* kopecks, once have_amount */
	int have_amount;
	uint32_t mgr;
} deal_ctx;

static int64_t deal_kopecks(deal_ctx *c)
{
	if (!c->have_amount) {
		c->amount = se_kopecks_of(c->d->amount);
		c->have_amount = 1;
	}
	return c->amount;
}

/* A stay at a pre-sale stage as a spell, its outcome still to find:
 * outcome_t keeps its first event's index for now.  The room was made
 * before the walk (a spell an event at most). */
static inline void list_spell(void *ud, int stage, uint32_t first, uint32_t end)
{
	deal_ctx *c = ud;
	const se_deal_eval *e = c->e;
	int64_t amount = deal_kopecks(c);

	c->in->spells[c->in->n_spells++] =
		(se_spell){ .start = e->ev[first].ts, .end = end < e->n_events ? e->ev[end].ts : INT64_MAX,
		            .outcome_t = (int64_t)first, .amount = amount, .manager = c->mgr,
		            .stage = (int16_t)stage, .outcome = SE_OUT_CENSORED };
}

/* The deal's stays, in one walk over its events; with spells, its stays
 * at pre-sale stages before won pushed as spells too.  0 or SE_ENOMEM. */
static int walk_stays(deal_ctx *c, const se_funnel *f, int spells, deal_stays *st)
{
	se_insight *in = c->in;
	const se_deal_eval *e = c->e;
	uint64_t list = spells ? in->spell_stages : 0;

	if (list != 0 && in->n_spells + e->n_events > in->cap_spells &&
	    SE_VEC_RESERVE_LEAP(in->spells, in->cap_spells, in->n_spells + e->n_events, 256, SE_PASS_LEAP) != SE_OK)
		return SE_ENOMEM;
	st->done = se_count_stays(e, f->won, st->latest, st->total, &st->current, &st->since, list,
	                          list_spell, c);
	return SE_OK;
}

/* Stays, times to won and open deals of the deals in the range; times to
 * close and open pre-sale deals of all deals, as the forecast (like presale)
 * is about every deal open now. */
static int add_velocity(se_report *rep, deal_ctx *dc, const se_funnel *f, const deal_stays *st)
{
	se_insight *in = dc->in;
	const se_deal_eval *e = dc->e;
	const se_chunk_deal *d = dc->d;
	uint32_t mgr = dc->mgr;
	int32_t lead = se_count_reach(e, 0, rep->mode), won = se_count_reach(e, f->won, rep->mode);
	int ranged = lead != SE_NONE && se_insight_in_range(rep, e->ev[lead].ts);
	int velocity = (rep->compute & SE_REPORT_VELOCITY) != 0, forecast = (rep->compute & SE_REPORT_FORECAST) != 0;

	/* stays and times to won are the velocity's, times to close the
	 * forecast's: samples neither asked for are not taken.  The stay the
	 * deal is in now is not finished: not a sample. */
	if (velocity && ranged) {
		uint64_t m = st->done & ~(st->current >= 0 && st->current < 64 ? (uint64_t)1 << st->current : 0);

		for (; m != 0; m &= m - 1) {
			int s = __builtin_ctzll(m);

			if (se_groups_add_pair(&in->stays, s, mgr, st->latest[s], st->total[s]) != SE_OK)
				return SE_ENOMEM;
		}
	}
	if (won != SE_NONE) {
		if (velocity && ranged && se_groups_add(&in->to_won, 0, mgr, e->ev[won].ts - e->ev[lead].ts) != SE_OK)
			return SE_ENOMEM;
		for (int s = 0; forecast && s < f->won; s++) {
			int32_t at = se_count_reach(e, s, rep->mode);

			if (f->stages[s].presale && at != SE_NONE &&
			    se_groups_add(&in->to_close, s, 0, e->ev[won].ts - e->ev[at].ts) != SE_OK)
				return SE_ENOMEM;
		}
	}
	if (e->state == SE_DEAL_OPEN && (ranged || f->stages[e->stage].presale)) {
		int32_t at = se_count_reach(e, e->stage, rep->mode);
		se_open_deal o = { d->deal, mgr, e->stage, (uint16_t)f->stages[e->stage].presale, (uint16_t)ranged,
			           st->since, at != SE_NONE ? e->ev[at].ts : st->since, deal_kopecks(dc) };

		if (ranged)
			in->open_count[(size_t)e->stage * rep->n_manager + mgr]++;
		return add_open(in, &o);
	}
	return SE_OK;
}

/* The outcomes of the deal's spells (walk_stays listed them from index
 * first on, each one's first event index in outcome_t): its first outcome
 * after each began, reaching won (in the report mode), or a lost or
 * non-target status.  A backward walk knows the next outcome at every
 * event. */
static void spell_outcomes(const se_report *rep, se_insight *in, const se_funnel *f, const se_deal_eval *e,
                           size_t first)
{
	size_t k = in->n_spells;
	int64_t next_t = INT64_MAX;
	int32_t next = SE_OUT_CENSORED;

	for (uint32_t i = e->n_events; i > 0 && k > first; i--) {
		int64_t c = e->code[i - 1];
		int cls = SE_STATUS_CLASS(c), at = SE_STATUS_STAGE(c);

		while (k > first && in->spells[k - 1].outcome_t == (int64_t)(i - 1)) {
			k--;
			in->spells[k].outcome_t = next_t;
			in->spells[k].outcome = (int16_t)next;
		}
		if (c == 0)
			continue;
		if (cls == SE_CLASS_LOST || cls == SE_CLASS_NONTARGET) {
			next_t = e->ev[i - 1].ts;
			next = SE_OUT_OTHER;
		} else if (cls == SE_CLASS_STAGE && (at == f->won || (at > f->won && rep->mode != SE_MODE_TOUCHED))) {
			next_t = e->ev[i - 1].ts;
			next = SE_OUT_WON;
		}
	}
}

/* The deal as it stood before cutoff: its events up to then, evaluated
 * afresh (so a deal lost later is open at the cutoff). */
static void add_replays(se_report *rep, deal_ctx *dc, const se_funnel *f)
{
	se_insight *in = dc->in;
	const se_deal_eval *full = dc->e;
	const se_chunk_deal *d = dc->d;
	uint32_t mgr = dc->mgr;
	const se_count_ctx *ctx = rep->count_ctx;
	int32_t won_full = se_count_reach(full, f->won, rep->mode);
	uint32_t cut = 0;            /* the events before the cutoff */
	int64_t last;
	int j = 0;
	se_deal_eval part;

	if (d->n_events == 0)
		return;
	last = full->ev[d->n_events - 1].ts;
	while (j < in->n_cuts && in->cuts[j].cutoff <= full->ev[0].ts)
		j++; /* the deal did not exist yet: the cutoffs rise */
	for (; j < in->n_cuts; j++) {
		se_backtest_cut *c = &in->cuts[j];
		const se_deal_eval *e = full;
		int whole;
		se_rate_cell *rates;
		se_presale_cell *open;
		size_t cell;

		if (last < c->cutoff)
			cut = d->n_events; /* all before it: most deals, at the first cutoff */
		while (cut < d->n_events && full->ev[cut].ts < c->cutoff)
			cut++;
		if (cut == 0)
			continue; /* the deal did not exist yet */
		whole = cut == d->n_events;
		if (!whole) { /* its codes are the whole deal's: only the walk again */
			se_count_prefix(ctx, full, cut, &part);
			e = &part;
		}
		rates = whole ? c->carry_rates : c->rates;
		open = whole ? c->carry_open : c->open;
		if (e->funnel != full->funnel) { /* nothing resolved before the cutoff yet */
			if (whole)
				break;
			continue;
		}
		if (e->state != SE_DEAL_OPEN) {
			int won = se_count_reach(e, f->won, rep->mode) != SE_NONE;

			for (int s = 0; s < f->won; s++)
				if (se_count_reach(e, s, rep->mode) != SE_NONE) {
					rates[(size_t)s * rep->n_manager + mgr].closed++;
					rates[(size_t)s * rep->n_manager + mgr].won += won;
				}
			if (whole)
				break;
			continue;
		}
		if (!f->stages[e->stage].presale) {
			if (whole)
				break;
			continue;
		}
		cell = (size_t)e->stage * rep->n_manager + mgr;
		open[cell].deals++;
		open[cell].amount += deal_kopecks(dc);
		if (whole) { /* open now and then: unresolved at every later cutoff */
			c->carry_still_open[cell] += deal_kopecks(dc);
			break;
		}
		if (won_full != SE_NONE && full->ev[won_full].ts >= c->cutoff) {
			c->won_deals[cell]++;
			c->won_amount[cell] += deal_kopecks(dc);
			if (full->ev[won_full].ts < c->cutoff + rep->horizon) {
				c->won_h_deals[cell]++;
				c->won_h_amount[cell] += deal_kopecks(dc);
			}
		} else if (full->state == SE_DEAL_OPEN) {
			c->still_open[cell] += deal_kopecks(dc);
		}
	}
}

int se_insight_deal_back(se_report *rep, const se_deal_eval *e, const se_chunk_deal *d)
{
	const se_funnel *f = &rep->rules->funnels[e->funnel];
	se_funnel_agg *a = &rep->agg[e->funnel];
	uint32_t mgr = d->manager < rep->n_manager ? d->manager : 0;
	uint32_t src = d->source < rep->n_source ? d->source : 0;
	unsigned want = rep->compute;
	int stays = (want & (SE_REPORT_VELOCITY | SE_REPORT_FORECAST)) != 0;
	int spells = (want & (SE_REPORT_FORECAST | SE_REPORT_BACKTEST)) != 0;
	size_t first_spell = a->in.n_spells;
	deal_ctx dc = { &a->in, e, d, 0, 0, mgr };
	deal_stays st;

	if ((want & SE_REPORT_CHANNELS) &&
	    add_source_pairs(rep, a, f, e, src, &rep->insight_bucket_cache) != SE_OK)
		return SE_ENOMEM;
	if ((stays || spells) && walk_stays(&dc, f, spells, &st) != SE_OK)
		return SE_ENOMEM;
	if (stays && add_velocity(rep, &dc, f, &st) != SE_OK)
		return SE_ENOMEM;
	if (want & SE_REPORT_BACKTEST)
		add_replays(rep, &dc, f);
	if (spells)
		spell_outcomes(rep, &a->in, f, e, first_spell);
	return SE_OK;
}
