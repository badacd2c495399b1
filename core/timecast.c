/*
 * timecast.c: the revenue expected within a horizon, from how long each
 * open deal has already been at its stage (timecast.h).
 *
 * For a pre-sale stage s and an instant T (now, or a backtest cutoff),
 * every stay at s that began before T is one history: its origin is the
 * day the stay began, its outcome the deal's first outcome after that
 * (won, or lost / non-target) if it came before T, else it is censored at
 * T (still running as far as T knows: moved on to another stage, or still
 * here).  The Aalen-Johansen estimate over them (survival.c) gives the
 * cumulative incidence of "won" by time since the stay began, CIF(u), and
 * the chance of no outcome yet, S(u).  A deal that has been at s for t
 * is expected to be won within the horizon h with probability
 *   P = (CIF(t + h) - CIF(t)) / S(t),
 * scaled by its manager's shrunk win rate from s over the team's (the
 * manager's own record, as 4c/4i use it) and capped at 1.  A deal long
 * past the time in which stays at s usually end gets little: the
 * histories that lasted that long mostly never ended.
 */
#include "timecast.h"
#include "stats.h"
#include "survival.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A manager's shrunk win rate from a stage over the team's, from a rates
 * row ([manager] closed and won); 1 when the team has no closed deal. */
static double manager_ratio(const se_rate_cell *row, uint32_t n_manager, uint32_t m, double k)
{
	int64_t tw = 0, tc = 0;
	double team;

	for (uint32_t i = 0; i < n_manager; i++) {
		tw += row[i].won;
		tc += row[i].closed;
	}
	if (tc == 0 || tw == 0)
		return 1;
	team = (double)tw / (double)tc;
	return se_shrink(row[m].won, row[m].closed, team, k) / team;
}

typedef struct target {
	int64_t at;                /* T */
	int now;                   /* the open deals are those open now (not at T) */
	const se_rate_cell *rates; /* [stage * n_manager + manager] closed before T */
	se_money *fc;              /* out: [stage * n_manager + manager] kopecks */
	int64_t *deals;            /* out: open deals seen, or NULL */
	se_money *months;          /* out: by close month (now only), or NULL */
	int64_t month_lo;
} target;

/* Landmarks, seconds: a deal that has been at its stage for t is judged
 * against the stays that were still there at the landmark just below t. */
static const int64_t landmarks[] = {
	0, 3600, 6 * 3600, 86400, 2 * 86400, 4 * 86400, 7 * 86400, 10 * 86400, 14 * 86400, 21 * 86400,
	30 * 86400, 45 * 86400, 60 * 86400, 90 * 86400, 120 * 86400, 180 * 86400, 270 * 86400,
	365 * 86400, 730 * 86400, INT64_MAX
};
#define N_LANDMARKS ((int)(sizeof landmarks / sizeof landmarks[0]) - 1)

static int landmark_of(int64_t age)
{
	int l = 0;

	while (l + 1 < N_LANDMARKS && age >= landmarks[l + 1])
		l++;
	return l;
}

/* Is the spell one of the deals the forecast is for: open now (now), or
 * in this stay at the cutoff? */
static int is_open(const se_spell *sp, const target *tg)
{
	return tg->now ? sp->end == INT64_MAX : sp->start < tg->at && sp->end >= tg->at;
}

/* Kopecks of an expected amount, halves away from zero; a sum of deals
 * can pass the int64 range, so no llround. */
static se_money round_money(double v)
{
	return v >= 0 ? (se_money)(v + 0.5) : -(se_money)(-v + 0.5);
}

/* A history at stage s as of T, with how long its stay was seen to last
 * (which landmarks it belongs to). */
typedef struct hist {
	se_surv_obs o;
	int64_t seen;
} hist;

static int by_obs(const void *a, const void *b)
{
	return se_cif_order(&((const hist *)a)->o, &((const hist *)b)->o);
}

/* Open deals by landmark, then by spell order. */
typedef struct opened {
	int landmark;
	uint32_t spell;
} opened;

static int by_landmark(const void *pa, const void *pb)
{
	const opened *a = pa, *b = pb;

	if (a->landmark != b->landmark)
		return a->landmark < b->landmark ? -1 : 1;
	return a->spell < b->spell ? -1 : a->spell > b->spell;
}

static void add_deal(const se_report *rep, const target *tg, const se_spell *sp, const se_cif *cif, double *sum,
                     double *msum, const int64_t *mstart)
{
	int64_t age = tg->at > sp->start ? tg->at - sp->start : 0;
	double ratio = manager_ratio(&tg->rates[(size_t)sp->stage * rep->n_manager], rep->n_manager, sp->manager,
	                             rep->shrinkage);
	double p = se_cif_won_between(cif, age, 0, rep->horizon) * ratio;

	sum[(size_t)sp->stage * rep->n_manager + sp->manager] += (double)sp->amount * (p > 1 ? 1 : p);
	if (tg->deals != NULL)
		(*tg->deals)++;
	for (int m = 0; tg->months != NULL && m < SE_TIME_MONTHS; m++) {
		int64_t a = mstart[m] > tg->at ? mstart[m] - tg->at : 0, b = mstart[m + 1] - tg->at;
		double q;

		if (b <= 0)
			continue;
		q = se_cif_won_between(cif, age, a, b) * ratio;
		msum[m] += (double)sp->amount * (q > 1 ? 1 : q);
	}
}

/* The histories are sorted once per stage; each landmark's subset is a
 * filter of that order, so no landmark sorts again. */
static int estimate(const se_report *rep, const se_insight *in, const se_funnel *f, const target *tg)
{
	size_t cells = (size_t)f->n_stages * rep->n_manager, n_sp = in->n_spells ? in->n_spells : 1;
	double *sum = calloc(cells ? cells : 1, sizeof *sum), msum[SE_TIME_MONTHS] = { 0 };
	hist *h = malloc(n_sp * sizeof *h);
	se_surv_obs *obs = malloc(n_sp * sizeof *obs);
	opened *op = malloc(n_sp * sizeof *op);
	int64_t mstart[SE_TIME_MONTHS + 1];
	int rc = SE_ENOMEM;

	if (sum == NULL || h == NULL || obs == NULL || op == NULL)
		goto out;
	for (int i = 0; tg->months != NULL && i <= SE_TIME_MONTHS; i++)
		mstart[i] = se_report_month_start(rep, tg->month_lo + i);
	for (int s = 0; s < f->won; s++) {
		size_t nh = 0, no = 0;

		if (!f->stages[s].presale)
			continue;
		for (size_t i = 0; i < in->n_spells; i++) {
			const se_spell *sp = &in->spells[i];

			if (sp->stage != s || sp->start >= tg->at)
				continue;
			h[nh].seen = (sp->end < tg->at ? sp->end : tg->at) - sp->start;
			if (sp->outcome != SE_OUT_CENSORED && sp->outcome_t < tg->at)
				h[nh++].o = (se_surv_obs){ sp->outcome_t - sp->start, sp->outcome };
			else
				h[nh++].o = (se_surv_obs){ tg->at - sp->start, SE_OUT_CENSORED };
		}
		for (size_t i = 0; i < in->n_spells; i++) {
			const se_spell *sp = &in->spells[i];

			if (sp->stage == s && is_open(sp, tg))
				op[no++] = (opened){ landmark_of(tg->at > sp->start ? tg->at - sp->start : 0), (uint32_t)i };
		}
		qsort(h, nh, sizeof *h, by_obs);
		qsort(op, no, sizeof *op, by_landmark);
		for (size_t j = 0; j < no;) {
			int l = op[j].landmark;
			size_t n = 0;
			se_cif cif;

			/* the stays at s before T that were still there at the landmark */
			for (size_t i = 0; i < nh; i++)
				if (l == 0 || h[i].seen > landmarks[l])
					obs[n++] = h[i].o;
			if (se_cif_build_sorted(&cif, obs, n) != 0)
				goto out;
			for (; j < no && op[j].landmark == l; j++)
				add_deal(rep, tg, &in->spells[op[j].spell], &cif, sum, msum, mstart);
			se_cif_free(&cif);
		}
	}
	for (size_t c = 0; c < cells; c++)
		tg->fc[c] = round_money(sum[c]);
	for (int m = 0; tg->months != NULL && m < SE_TIME_MONTHS; m++)
		tg->months[m] = round_money(msum[m]);
	rc = SE_OK;
out:
	free(sum);
	free(h);
	free(obs);
	free(op);
	return rc;
}

int se_timecast_finish(se_report *rep, se_error *err)
{
	for (int fi = 0; fi < rep->rules->n_funnels; fi++) {
		const se_funnel *f = &rep->rules->funnels[fi];
		se_insight *in = &rep->agg[fi].in;
		size_t cells = (size_t)f->n_stages * rep->n_manager;

		if (rep->compute & SE_REPORT_FORECAST) {
			target now = { rep->as_of, 1, rep->agg[fi].rates, NULL, NULL, in->time_month, 0 };

			in->time_month_lo = now.month_lo = se_report_month_of(rep, rep->as_of);
			if ((in->time_fc = now.fc = calloc(cells ? cells : 1, sizeof *in->time_fc)) == NULL ||
			    estimate(rep, in, f, &now) != SE_OK)
				return se_error_set(err, SE_ENOMEM, "out of memory");
		}
		for (int j = 0; (rep->compute & SE_REPORT_BACKTEST) && j < in->n_cuts; j++) {
			se_backtest_cut *c = &in->cuts[j];
			target t = { c->cutoff, 0, c->rates, c->time_fc, &c->time_deals, NULL, 0 };

			if (estimate(rep, in, f, &t) != SE_OK)
				return se_error_set(err, SE_ENOMEM, "out of memory");
		}
		free(in->spells);
		in->spells = NULL;
		in->n_spells = in->cap_spells = 0;
	}
	return SE_OK;
}
