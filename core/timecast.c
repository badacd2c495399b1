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
#include "huge.h"
#include "stats.h"
#include "survival.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

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

#define NOT_OPEN UINT8_MAX

static int landmark_of(int64_t age)
{
	int l = 0;

	while (l + 1 < N_LANDMARKS && age >= landmarks[l + 1])
		l++;
	return l;
}

/* Is the spell one of the deals the forecast is for: open now (now), or
 * in this stay at the cutoff? */
static int is_open(int64_t start, int64_t end, const target *tg)
{
	return tg->now ? end == INT64_MAX : start < tg->at && end >= tg->at;
}

/* Kopecks of an expected amount, halves away from zero; a sum of deals
 * can pass the int64 range, so no llround. */
static se_money round_money(double v)
{
	return v >= 0 ? (se_money)(v + 0.5) : -(se_money)(-v + 0.5);
}

/* The histories at stage s as of T: each one's observation, and the
 * last landmark its stay was seen to last past (it belongs to the
 * estimates of that landmark and those below). */
typedef struct hist {
	se_surv_obs *o;
	uint8_t *past;
} hist;

/* The last landmark l > 0 that a stay seen for `seen` lasted past, or 0. */
static uint8_t past_landmark(int64_t seen)
{
	int l = 0;

	while (l + 1 < N_LANDMARKS && seen > landmarks[l + 1])
		l++;
	return (uint8_t)l;
}

/* An int64 as an unsigned key of the same order. */
static uint64_t ukey(int64_t v)
{
	return (uint64_t)v ^ UINT64_C(0x8000000000000000);
}

/* One pre-sale stage's stays, ordered once for every target: by spell,
 * the outcomes by time to them, and all by start, latest first (a
 * censored history's time is T - start).  Each target's histories are a
 * filter and a merge of the two orders, already in se_cif_order by time
 * (the estimate only groups equal times), so no target sorts.  The
 * ordered copies carry what the merge reads, so it reads them in order. */
typedef struct stay {
	uint64_t key;              /* the order's */
	int64_t start, end, outcome_t;
	int8_t outcome;
	uint8_t past_end;          /* past_landmark(end - start): the stay's own
	                            * length, whatever the target */
	uint8_t in_time;           /* end <= outcome_t: never seen longer than the
	                            * time to its outcome */
} stay;

/* A stay in spell order, for finding a target's open deals in one
 * sequential pass. */
typedef struct member {
	int64_t start, end;
} member;

typedef struct stage_stays {
	uint32_t *all;             /* spell order */
	member *span;              /* the same, start and end */
	stay *by_outcome;          /* outcome_t - start, ascending */
	stay *by_start;            /* start, descending */
	size_t n, n_outcome;
} stage_stays;

/* LSD radix sort of v[0..n) by key, 11 bits a pass, skipping the digits
 * all keys share; tmp holds n more.  Linear: the stays number a few per
 * deal, and are sorted once per stage. */
#define RADIX_BITS 11
static void sort_stays(stay *v, stay *tmp, size_t n)
{
	uint64_t all_or = 0, all_and = ~UINT64_C(0);
	stay *src = v, *dst = tmp, *t;

	for (size_t i = 0; i < n; i++) {
		all_or |= v[i].key;
		all_and &= v[i].key;
	}
	for (int shift = 0; shift < 64; shift += RADIX_BITS) {
		size_t count[1 << RADIX_BITS] = { 0 }, sum = 0;
		const uint64_t mask = (1u << RADIX_BITS) - 1;

		if ((((all_or ^ all_and) >> shift) & mask) == 0)
			continue; /* every key has this digit */
		for (size_t i = 0; i < n; i++)
			count[(src[i].key >> shift) & mask]++;
		for (size_t d = 0; d <= mask; d++) {
			size_t c = count[d];

			count[d] = sum;
			sum += c;
		}
		for (size_t i = 0; i < n; i++)
			dst[count[(src[i].key >> shift) & mask]++] = src[i];
		t = src;
		src = dst;
		dst = t;
	}
	if (src != v)
		memcpy(v, src, n * sizeof *v);
}

static void free_stays(stage_stays *st, int n)
{
	for (int s = 0; st != NULL && s < n; s++) {
		free(st[s].all);
		free(st[s].span);
		free(st[s].by_outcome);
		free(st[s].by_start);
	}
	free(st);
}

/* The stays of every pre-sale stage of f, ordered; NULL when out of memory. */
static stage_stays *order_stays(const se_insight *in, const se_funnel *f)
{
	stage_stays *st = calloc((size_t)f->n_stages + 1, sizeof *st);
	size_t most = 1;
	stay *tmp = NULL;

	if (st == NULL)
		return NULL;
	for (size_t i = 0; i < in->n_spells; i++)
		st[in->spells[i].stage].n++;
	for (int s = 0; s < f->n_stages; s++) {
		size_t n = st[s].n ? st[s].n : 1;

		if (n > most)
			most = n;
		if ((st[s].all = se_huge_malloc(n * sizeof *st[s].all)) == NULL ||
		    (st[s].span = se_huge_malloc(n * sizeof *st[s].span)) == NULL ||
		    (st[s].by_outcome = se_huge_malloc(n * sizeof *st[s].by_outcome)) == NULL ||
		    (st[s].by_start = se_huge_malloc(n * sizeof *st[s].by_start)) == NULL)
			goto nomem;
		st[s].n = 0;
	}
	if ((tmp = se_huge_malloc(most * sizeof *tmp)) == NULL)
		goto nomem;
	for (size_t i = 0; i < in->n_spells; i++) {
		const se_spell *sp = &in->spells[i];
		stage_stays *g = &st[sp->stage];
		uint8_t past_end = sp->end == INT64_MAX ? (uint8_t)(N_LANDMARKS - 1) : past_landmark(sp->end - sp->start);
		uint8_t in_time = sp->end <= sp->outcome_t;

		g->all[g->n] = (uint32_t)i;
		g->span[g->n] = (member){ sp->start, sp->end };
		g->by_start[g->n++] = (stay){ ~ukey(sp->start), sp->start, sp->end, sp->outcome_t, (int8_t)sp->outcome,
			                      past_end, in_time };
		if (sp->outcome != SE_OUT_CENSORED)
			g->by_outcome[g->n_outcome++] = (stay){ ukey(sp->outcome_t - sp->start), sp->start, sp->end,
				                                sp->outcome_t, (int8_t)sp->outcome, past_end, in_time };
	}
	for (int s = 0; s < f->n_stages; s++) {
		sort_stays(st[s].by_outcome, tmp, st[s].n_outcome);
		sort_stays(st[s].by_start, tmp, st[s].n);
	}
	free(tmp);
	return st;
nomem:
	free(tmp);
	free_stays(st, f->n_stages);
	return NULL;
}

/* The histories at a stage as of T, in order of time: the outcomes
 * before T by their time, merged with the censored ones (every other stay
 * begun before T) by T - start.  Returns how many.  A history was seen for
 * min(end, T) - start, so its landmark is the lower of its stay's own
 * (kept with the stay) and that of T - start; the censored ones come
 * latest start first, so the latter only grows along them. */
static size_t histories(const stage_stays *g, int64_t at, const hist *h, int *seen_in_time)
{
	const stay *a = g->by_outcome, *a_end = a + g->n_outcome, *b = g->by_start, *b_end = b + g->n;
	size_t n = 0;
	uint8_t b_past = 0;        /* past_landmark(at - b->start) */

	*seen_in_time = 1;
	while (b < b_end && b->start >= at) /* latest first: begun at or after T */
		b++;
	for (;;) {
		while (a < a_end && !(a->start < at && a->outcome_t < at)) /* next outcome before T */
			a++;
		while (b < b_end && b->outcome != SE_OUT_CENSORED && b->outcome_t < at) /* next censored at T */
			b++;
		if (a == a_end && b == b_end)
			return n;
		if (b == b_end || (a != a_end && a->outcome_t - a->start <= at - b->start)) {
			uint8_t past = a->past_end;

			if (a->end >= at) { /* seen until T */
				uint8_t to_at = past_landmark(at - a->start);

				past = to_at < past ? to_at : past;
			}
			h->past[n] = past;
			h->o[n++] = (se_surv_obs){ a->outcome_t - a->start, a->outcome };
			*seen_in_time &= a->in_time; /* (outcome_t < T) */
			a++;
		} else {
			while (b_past + 1 < N_LANDMARKS && at - b->start > landmarks[b_past + 1])
				b_past++;
			h->past[n] = b->past_end < b_past ? b->past_end : b_past;
			h->o[n++] = (se_surv_obs){ at - b->start, SE_OUT_CENSORED }; /* seen no longer than that */
			b++;
		}
	}
}

/* The first of h[0..n) (in order of time) whose time is above t. */
static size_t after(const se_surv_obs *o, size_t n, int64_t t)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (o[mid].t <= t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int64_t add_sat(int64_t x, int64_t y)
{
	return x > INT64_MAX - y ? INT64_MAX : x + y;
}

/* CIF at rank k (se_cif_rank). */
static double cif_at_rank(const se_cif *c, size_t k)
{
	return k == 0 ? 0 : c->cif[k - 1];
}

/* One open deal of age t: se_cif_won_between(cif, t, a, b) for the horizon
 * and each close month, with the same operands (so the same sums), each
 * bound looked up once and from the last one: the bounds only grow. */
static void add_deal(const se_report *rep, const target *tg, const se_spell *sp, int64_t age, const se_cif *cif,
                     const double *ratios, double *sum, double *msum, const int64_t *mstart)
{
	double ratio = ratios[sp->manager];
	size_t k0 = se_cif_rank(cif, age, 0), ka, kb;
	double s = k0 == 0 ? 1 : cif->surv[k0 - 1], f0 = cif_at_rank(cif, k0), fa, fb, w = 0, p;
	int64_t a = 0;

	if (s > 0)
		w = (cif_at_rank(cif, se_cif_rank(cif, add_sat(age, rep->horizon), k0)) - f0) / s;
	p = w * ratio;
	sum[(size_t)sp->stage * rep->n_manager + sp->manager] += (double)sp->amount * (p > 1 ? 1 : p);
	if (tg->deals != NULL)
		(*tg->deals)++;
	if (tg->months == NULL)
		return;
	ka = k0; /* rank and CIF at age + a */
	fa = f0;
	for (int m = 0; m < SE_TIME_MONTHS; m++) {
		int64_t am = mstart[m] > tg->at ? mstart[m] - tg->at : 0, b = mstart[m + 1] - tg->at;
		double q = 0;

		if (b <= 0)
			continue;
		if (s > 0) {
			if (am != a) {
				ka = se_cif_rank(cif, add_sat(age, am), ka);
				fa = cif_at_rank(cif, ka);
				a = am;
			}
			kb = se_cif_rank(cif, add_sat(age, b), ka);
			fb = cif_at_rank(cif, kb);
			q = (fb - fa) / s;
			ka = kb; /* the next month's a is this one's b */
			fa = fb;
			a = b;
		}
		q *= ratio;
		msum[m] += (double)sp->amount * (q > 1 ? 1 : q);
	}
}

/* Every manager's shrunk win rate from a stage over the team's (as
 * manager_ratio), the team's sums taken once. */
static void manager_ratios(const se_rate_cell *row, uint32_t n_manager, double k, double *out)
{
	int64_t tw = 0, tc = 0;
	double team;

	for (uint32_t i = 0; i < n_manager; i++) {
		tw += row[i].won;
		tc += row[i].closed;
	}
	for (uint32_t m = 0; m < n_manager; m++) {
		if (tc == 0 || tw == 0) {
			out[m] = 1;
			continue;
		}
		team = (double)tw / (double)tc;
		out[m] = se_shrink(row[m].won, row[m].closed, team, k) / team;
	}
}

/* The estimate's memory, taken once for every target of a funnel: room
 * for the stays of its largest pre-sale stage (the histories, their
 * landmark subset, the open deals and the curves built from them: a
 * stage's stays at most). */
typedef struct work {
	double *sum, *ratios;
	hist h;
	se_spell *op;              /* the open deals, copied in landmark order */
	uint8_t *lm;
	se_cif cif;
} work;

static void free_work(work *w)
{
	free(w->sum);
	free(w->ratios);
	free(w->h.o);
	free(w->h.past);
	free(w->op);
	free(w->lm);
	se_cif_free(&w->cif);
}

static int alloc_work(work *w, const se_report *rep, const se_funnel *f, const stage_stays *stays)
{
	size_t cells = (size_t)f->n_stages * rep->n_manager, n_sp = 1;

	for (int s = 0; s < f->won; s++)
		if (f->stages[s].presale && stays[s].n > n_sp)
			n_sp = stays[s].n;

	memset(w, 0, sizeof *w);
	w->sum = malloc((cells ? cells : 1) * sizeof *w->sum);
	w->ratios = malloc((rep->n_manager ? rep->n_manager : 1) * sizeof *w->ratios);
	w->h.o = se_huge_malloc(n_sp * sizeof *w->h.o);
	w->h.past = se_huge_malloc(n_sp);
	w->op = se_huge_malloc(n_sp * sizeof *w->op);
	w->lm = se_huge_malloc(n_sp);
	w->cif.time = se_huge_malloc(n_sp * sizeof *w->cif.time);
	w->cif.surv = se_huge_malloc(n_sp * sizeof *w->cif.surv);
	w->cif.cif = se_huge_malloc(n_sp * sizeof *w->cif.cif);
	if (!w->sum || !w->ratios || !w->h.o || !w->h.past || !w->op || !w->lm || !w->cif.time || !w->cif.surv ||
	    !w->cif.cif) {
		free_work(w);
		return SE_ENOMEM;
	}
	return SE_OK;
}

/* Each landmark's subset of the histories is a filter of their order;
 * the open deals go by landmark, then by spell (the order of the sums).
 * A landmark's estimate is built only as far as its deals ask (their
 * greatest age and the horizon or the last close month past it): the
 * points up to there are those of the whole estimate, and the rest of
 * the histories only leave the risk set after them. */
static void estimate(const se_report *rep, const se_insight *in, const se_funnel *f, const stage_stays *stays,
                     work *w, const target *tg)
{
	size_t cells = (size_t)f->n_stages * rep->n_manager;
	double *sum = w->sum, msum[SE_TIME_MONTHS] = { 0 }, *ratios = w->ratios;
	const hist *h = &w->h;
	se_spell *op = w->op;
	uint8_t *lm = w->lm;
	int64_t mstart[SE_TIME_MONTHS + 1], extent = rep->horizon > 0 ? rep->horizon : 0;

	memset(sum, 0, (cells ? cells : 1) * sizeof *sum);
	for (int i = 0; tg->months != NULL && i <= SE_TIME_MONTHS; i++)
		mstart[i] = se_report_month_start(rep, tg->month_lo + i);
	if (tg->months != NULL && mstart[SE_TIME_MONTHS] - tg->at > extent)
		extent = mstart[SE_TIME_MONTHS] - tg->at;
	for (int s = 0; s < f->won; s++) {
		const stage_stays *g = &stays[s];
		size_t nh, no = 0, count[N_LANDMARKS + 1] = { 0 }, first[N_LANDMARKS + 1], past[N_LANDMARKS + 1] = { 0 };
		int seen_in_time;

		if (!f->stages[s].presale)
			continue;
		nh = histories(g, tg->at, h, &seen_in_time);
		/* past[l]: how many were seen longer than landmark l */
		for (size_t i = 0; i < nh; i++)
			past[h->past[i]]++;
		for (int l = N_LANDMARKS - 1; l > 0; l--)
			past[l - 1] += past[l];
		/* the open deals by landmark, in spell order within one (a
		 * counting sort: stable); lm[i] is NOT_OPEN for the others */
		for (size_t i = 0; i < g->n; i++) {
			const member *m = &g->span[i];

			if (is_open(m->start, m->end, tg)) {
				lm[i] = (uint8_t)landmark_of(tg->at > m->start ? tg->at - m->start : 0);
				count[lm[i] + 1]++;
				no++;
			} else {
				lm[i] = NOT_OPEN;
			}
		}
		if (no == 0)
			continue;
		for (int l = 0; l < N_LANDMARKS; l++)
			count[l + 1] += count[l];
		memcpy(first, count, sizeof first);
		for (size_t i = 0; i < g->n; i++)
			if (lm[i] != NOT_OPEN)
				op[count[lm[i]]++] = in->spells[g->all[i]];
		manager_ratios(&tg->rates[(size_t)s * rep->n_manager], rep->n_manager, rep->shrinkage, ratios);
		/* count[l] is now where landmark l's deals end */
		for (int l = 0; l < N_LANDMARKS; l++) {
			int64_t most = 0;
			size_t upto, from;

			if (first[l] == count[l])
				continue;
			for (size_t j = first[l]; j < count[l]; j++)
				if (tg->at - op[j].start > most)
					most = tg->at - op[j].start;
			upto = after(h->o, nh, add_sat(most, extent));
			/* the stays at s before T that were still there at the
			 * landmark: none of them in the histories' prefix that
			 * ended by then, when no stay was seen longer than its time */
			from = l > 0 && seen_in_time ? after(h->o, nh, landmarks[l]) : 0;
			if (upto < from)
				upto = from;
			se_cif_fill_where(&w->cif, h->o + from, h->past + from, upto - from, (uint8_t)l, past[l]);
			for (size_t j = first[l]; j < count[l]; j++) {
				const se_spell *sp = &op[j];

				add_deal(rep, tg, sp, tg->at > sp->start ? tg->at - sp->start : 0, &w->cif, ratios, sum, msum,
				         mstart);
			}
		}
	}
	for (size_t c = 0; c < cells; c++)
		tg->fc[c] = round_money(sum[c]);
	for (int m = 0; tg->months != NULL && m < SE_TIME_MONTHS; m++)
		tg->months[m] = round_money(msum[m]);
}

/* Targets tg[first], tg[first + step], ... of one funnel, with one work. */
typedef struct estimates {
	const se_report *rep;
	const se_insight *in;
	const se_funnel *f;
	const stage_stays *stays;
	work *w;
	const target *tg;
	int n, first, step;
} estimates;

static void *run_estimates(void *arg)
{
	const estimates *e = arg;

	for (int i = e->first; i < e->n; i += e->step)
		estimate(e->rep, e->in, e->f, e->stays, e->w, &e->tg[i]);
	return NULL;
}

/* The targets are independent (each writes only its own outputs, all read
 * the ordered stays), so with several of them (the backtest's cutoffs) and
 * many stays a second thread takes every other one, with a work of its
 * own; else, or when that cannot start, this thread takes them all. */
static void estimate_all(const se_report *rep, const se_insight *in, const se_funnel *f,
                         const stage_stays *stays, work *w, const target *tg, int n)
{
	estimates mine = { rep, in, f, stays, w, tg, n, 0, 1 }, other = mine;
	work w2;
	pthread_t t;
	int threaded = 0;

	if (n > 1 && in->n_spells > 100000 && alloc_work(&w2, rep, f, stays) == SE_OK) {
		other.w = &w2;
		other.first = 1;
		other.step = 2;
		if (pthread_create(&t, NULL, run_estimates, &other) == 0) {
			threaded = 1;
			mine.step = 2;
		} else {
			free_work(&w2);
		}
	}
	run_estimates(&mine);
	if (threaded) {
		pthread_join(t, NULL);
		free_work(&w2);
	}
}

int se_timecast_finish(se_report *rep, se_error *err)
{
	for (int fi = 0; fi < rep->rules->n_funnels; fi++) {
		const se_funnel *f = &rep->rules->funnels[fi];
		se_insight *in = &rep->agg[fi].in;
		size_t cells = (size_t)f->n_stages * rep->n_manager;
		stage_stays *stays = NULL;
		target tg[1 + SE_BACKTEST_CUTS];
		int n_tg = 0;
		work w;

		if (rep->compute & (SE_REPORT_FORECAST | SE_REPORT_BACKTEST)) {
			if ((stays = order_stays(in, f)) == NULL)
				return se_error_set(err, SE_ENOMEM, "out of memory");
			if (alloc_work(&w, rep, f, stays) != SE_OK) {
				free_stays(stays, f->n_stages);
				return se_error_set(err, SE_ENOMEM, "out of memory");
			}
		}
		if (rep->compute & SE_REPORT_FORECAST) {
			target now = { rep->as_of, 1, rep->agg[fi].rates, NULL, NULL, in->time_month, 0 };

			in->time_month_lo = now.month_lo = se_report_month_of(rep, rep->as_of);
			if ((in->time_fc = now.fc = calloc(cells ? cells : 1, sizeof *in->time_fc)) == NULL) {
				free_work(&w);
				free_stays(stays, f->n_stages);
				return se_error_set(err, SE_ENOMEM, "out of memory");
			}
			tg[n_tg++] = now;
		}
		for (int j = 0; (rep->compute & SE_REPORT_BACKTEST) && j < in->n_cuts; j++) {
			se_backtest_cut *c = &in->cuts[j];

			tg[n_tg++] = (target){ c->cutoff, 0, c->rates, c->time_fc, &c->time_deals, NULL, 0 };
		}
		if (stays != NULL) {
			estimate_all(rep, in, f, stays, &w, tg, n_tg);
			free_work(&w);
			free_stays(stays, f->n_stages);
		}
		free(in->spells);
		in->spells = NULL;
		in->n_spells = in->cap_spells = 0;
	}
	return SE_OK;
}
