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
#include <stdatomic.h>
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

/* The last landmark at or below age (>= 0), by halving. */
static int landmark_of(int64_t age)
{
	int l = 0;

	for (int step = 16; step > 0; step /= 2)
		if (l + step < N_LANDMARKS && age >= landmarks[l + step])
			l += step;
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

	for (int step = 16; step > 0; step /= 2)
		if (l + step < N_LANDMARKS && seen > landmarks[l + step])
			l += step;
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
	int64_t start, outcome_t;
	int8_t outcome;
	uint8_t past_end;          /* past_landmark(end - start): the stay's own
	                            * length, whatever the target */
	uint8_t in_time;           /* end <= outcome_t: never seen longer than the
	                            * time to its outcome */
} stay;                            /* 24 bytes: the keys are computed, not kept */

/* A stay in spell order, with what the estimate reads of its deal: a
 * target's open deals are found and summed in sequential passes. */
typedef struct member {
	int64_t start, end;
	int64_t amount;            /* kopecks */
	uint32_t manager;
} member;

typedef struct stage_stays {
	void *block;               /* the three arrays' memory */
	member *span;              /* spell order */
	stay *by_outcome;          /* outcome_t - start, ascending */
	stay *by_start;            /* start, descending */
	size_t n, n_outcome;
} stage_stays;

enum { BY_START, BY_OUTCOME };

static inline uint64_t stay_key(const stay *v, int order)
{
	return order == BY_OUTCOME ? ukey(v->outcome_t - v->start) : ~ukey(v->start);
}

/* LSD radix sort of v[0..n) by stay_key, 11 bits a pass, skipping the
 * digits all keys share; tmp holds n more.  Linear: the stays number a few
 * per deal, and are sorted once per stage. */
#define RADIX_BITS 11
static inline void sort_stays(stay *v, stay *tmp, size_t n, int order)
{
	uint64_t all_or = 0, all_and = ~UINT64_C(0);
	stay *src = v, *dst = tmp, *t;

	for (size_t i = 0; i < n; i++) {
		all_or |= stay_key(&v[i], order);
		all_and &= stay_key(&v[i], order);
	}
	for (int shift = 0; shift < 64; shift += RADIX_BITS) {
		size_t count[1 << RADIX_BITS] = { 0 }, sum = 0;
		const uint64_t mask = (1u << RADIX_BITS) - 1;

		if ((((all_or ^ all_and) >> shift) & mask) == 0)
			continue; /* every key has this digit */
		for (size_t i = 0; i < n; i++)
			count[(stay_key(&src[i], order) >> shift) & mask]++;
		for (size_t d = 0; d <= mask; d++) {
			size_t c = count[d];

			count[d] = sum;
			sum += c;
		}
		for (size_t i = 0; i < n; i++)
			dst[count[(stay_key(&src[i], order) >> shift) & mask]++] = src[i];
		t = src;
		src = dst;
		dst = t;
	}
	if (src != v)
		memcpy(v, src, n * sizeof *v);
}

/* The spells, once every stage's stays are ordered: the estimates read
 * the ordered copies only, so the spells' memory is given back before
 * the estimates' work arrays take theirs (the backtest's peak). */
static void drop_spells(se_insight *in)
{
	free(in->spells);
	in->spells = NULL;
	in->n_spells = in->cap_spells = 0;
}

static void free_stays(stage_stays *st, int n)
{
	for (int s = 0; st != NULL && s < n; s++)
		free(st[s].block);
	free(st);
}

/* 8-byte multiples, for carving arrays of a block. */
static size_t round8(size_t bytes)
{
	return (bytes + 7) / 8 * 8;
}

/* Every stage's stays counted, and room for their orders (one block a
 * stage, in huge pages); NULL when out of memory. */
static stage_stays *count_stays(const se_insight *in, const se_funnel *f)
{
	stage_stays *st = calloc((size_t)f->n_stages + 1, sizeof *st);

	if (st == NULL)
		return NULL;
	for (size_t i = 0; i < in->n_spells; i++) {
		st[in->spells[i].stage].n++;
		st[in->spells[i].stage].n_outcome += in->spells[i].outcome != SE_OUT_CENSORED;
	}
	for (int s = 0; s < f->n_stages; s++) {
		stage_stays *g = &st[s];
		size_t n = g->n ? g->n : 1, span = round8(n * sizeof *g->span);
		char *p;

		if ((p = g->block = se_huge_malloc(span + (n + g->n_outcome) * sizeof(stay))) == NULL) {
			free_stays(st, f->n_stages);
			return NULL;
		}
		g->span = (member *)p;
		g->by_start = (stay *)(p + span);
		g->by_outcome = g->by_start + n;
	}
	return st;
}

/* Stage s's stays in their three orders; tmp has room for its n stays. */
static void order_stage(const se_insight *in, stage_stays *g, int s, stay *tmp)
{
	size_t n = 0, n_outcome = 0;

	for (size_t i = 0; i < in->n_spells; i++) {
		const se_spell *sp = &in->spells[i];
		uint8_t past_end, in_time;

		if (sp->stage != s)
			continue;
		past_end = sp->end == INT64_MAX ? (uint8_t)(N_LANDMARKS - 1) : past_landmark(sp->end - sp->start);
		in_time = sp->end <= sp->outcome_t;
		g->span[n] = (member){ sp->start, sp->end, sp->amount, sp->manager };
		g->by_start[n++] = (stay){ sp->start, sp->outcome_t, (int8_t)sp->outcome, past_end, in_time };
		if (sp->outcome != SE_OUT_CENSORED)
			g->by_outcome[n_outcome++] = g->by_start[n - 1];
	}
	sort_stays(g->by_outcome, tmp, n_outcome, BY_OUTCOME);
	sort_stays(g->by_start, tmp, n, BY_START);
}

/* The histories at a stage as of T, in order of time: the outcomes
 * before T by their time, merged with the censored ones (every other stay
 * begun before T) by T - start.  Returns how many.  A history was seen for
 * min(end, T) - start, so its landmark is the lower of its stay's own
 * (kept with the stay) and that of T - start (an outcome's is its stay's
 * when the stay ended by the outcome, before T); the censored ones come
 * latest start first, so the latter only grows along them.  n_past[p]
 * counts the histories of landmark p, last_out[p] is one past the last
 * outcome among them (0: none). */
static size_t histories(const stage_stays *g, int64_t at, const hist *h, int *seen_in_time, size_t *n_past,
                        size_t *last_out)
{
	const stay *a = g->by_outcome, *a_end = a + g->n_outcome, *b = g->by_start, *b_end = b + g->n;
	size_t n = 0;
	uint8_t b_past = 0;        /* past_landmark(at - b->start) */

	*seen_in_time = 1;
	memset(n_past, 0, N_LANDMARKS * sizeof *n_past);
	memset(last_out, 0, N_LANDMARKS * sizeof *last_out);
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

			if (!a->in_time) { /* (it may have been seen until T) */
				uint8_t to_at = past_landmark(at - a->start);

				past = to_at < past ? to_at : past;
			}
			h->past[n] = past;
			h->o[n++] = (se_surv_obs){ a->outcome_t - a->start, a->outcome };
			n_past[past]++;
			last_out[past] = n;
			*seen_in_time &= a->in_time; /* (outcome_t < T) */
			a++;
		} else {
			while (b_past + 1 < N_LANDMARKS && at - b->start > landmarks[b_past + 1])
				b_past++;
			h->past[n] = b->past_end < b_past ? b->past_end : b_past;
			n_past[h->past[n]]++;
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

/* One open deal at stage s_at, of the given age: se_cif_won_between(cif,
 * age, a, b) for the horizon and each close month, with the same operands
 * (so the same sums), each bound looked up once and from the last one:
 * the bounds only grow.  The months' amounts go into msum, or when rec is
 * set into rec[0 .. SE_TIME_MONTHS) (added to msum later, in this order). */
static void add_deal(const se_report *rep, const target *tg, int s_at, const member *sp, int64_t age, const se_cif *cif,
                     const double *ratios, double *sum, double *msum, double *rec, const int64_t *mstart)
{
	double ratio = ratios[sp->manager];
	size_t k0 = se_cif_rank(cif, age, 0), ka, kb;
	double s = k0 == 0 ? 1 : cif->surv[k0 - 1], f0 = cif_at_rank(cif, k0), fa, fb, w = 0, p;
	int64_t a = 0;

	if (s > 0)
		w = (cif_at_rank(cif, se_cif_rank(cif, add_sat(age, rep->horizon), k0)) - f0) / s;
	p = w * ratio;
	sum[(size_t)s_at * rep->n_manager + sp->manager] += (double)sp->amount * (p > 1 ? 1 : p);
	if (tg->months == NULL)
		return;
	ka = k0; /* rank and CIF at age + a */
	fa = f0;
	for (int m = 0; m < SE_TIME_MONTHS; m++) {
		int64_t am = mstart[m] > tg->at ? mstart[m] - tg->at : 0, b = mstart[m + 1] - tg->at;
		double q = 0;

		if (b <= 0) {
			if (rec != NULL)
				rec[m] = 0; /* (no deal adds to the month: its sum stays 0) */
			continue;
		}
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
		if (rec != NULL)
			rec[m] = (double)sp->amount * (q > 1 ? 1 : q);
		else
			msum[m] += (double)sp->amount * (q > 1 ? 1 : q);
		/* past the curve's last point (most old deals) every later month
		 * adds amount * 0, which leaves a sum as it is (a sum begun at +0
		 * is never -0) */
		if (!(s > 0) || ka == cif->n) {
			while (rec != NULL && ++m < SE_TIME_MONTHS)
				rec[m] = 0;
			return;
		}
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

/* One thread's memory for the estimates: room for the stays of the
 * largest pre-sale stage it estimates (the histories, the open deals and
 * the curves built from them: a stage's stays at most), carved from one
 * block that first served to sort its stages' stays. */
typedef struct work {
	double *sum, *ratios;
	void *block;
	hist h;
	member *op;                /* the open deals, copied in landmark order */
	uint8_t *lm;
	se_cif cif;
	size_t opened;             /* open deals met */
	double *rec;               /* months' amounts of each open deal, when kept
	                            * for later (SE_TIME_MONTHS a deal) */
	size_t n_rec;
} work;

static void free_work(work *w)
{
	free(w->sum);
	free(w->ratios);
	free(w->block);
	free(w->rec);
	memset(w, 0, sizeof *w);
}

/* Room to sort stages of up to n_sort stays and to estimate stages of up
 * to n_est, and (rec_deals > 0) to keep the months of that many deals. */
static int alloc_work(work *w, const se_report *rep, const se_funnel *f, size_t n_sort, size_t n_est,
                      size_t rec_deals)
{
	size_t cells = (size_t)f->n_stages * rep->n_manager, n = n_est ? n_est : 1;
	size_t o = round8(n * sizeof *w->h.o), past = round8(n), op = round8(n * sizeof *w->op), lm = round8(n),
	       curve = round8(n * sizeof(int64_t)), bytes = o + past + op + lm + 3 * curve;
	char *p;

	memset(w, 0, sizeof *w);
	if (bytes < n_sort * sizeof(stay))
		bytes = n_sort * sizeof(stay);
	w->sum = malloc((cells ? cells : 1) * sizeof *w->sum);
	w->ratios = malloc((rep->n_manager ? rep->n_manager : 1) * sizeof *w->ratios);
	p = w->block = se_huge_malloc(bytes);
	if (rec_deals > 0)
		w->rec = se_huge_malloc(rec_deals * SE_TIME_MONTHS * sizeof *w->rec);
	if (!w->sum || !w->ratios || !w->block || (rec_deals > 0 && !w->rec)) {
		free_work(w);
		return SE_ENOMEM;
	}
	w->h.o = (se_surv_obs *)p;
	w->h.past = (uint8_t *)(p += o);
	w->op = (member *)(p += past);
	w->lm = (uint8_t *)(p += op);
	w->cif.time = (int64_t *)(p += lm);
	w->cif.surv = (double *)(p += curve);
	w->cif.cif = (double *)(p + curve);
	return SE_OK;
}

/* Target tg's expected amounts at stages [s_lo, s_hi) of f, added to
 * w->sum (zeroed by the caller) and to msum, or kept in w->rec.
 * Each landmark's subset of the histories is a filter of their order;
 * the open deals go by landmark, then by spell (the order of the sums).
 * A landmark's estimate is built only as far as its deals ask (their
 * greatest age and the horizon or the last close month past it): the
 * points up to there are those of the whole estimate, and the rest of
 * the histories only leave the risk set after them. */
static void estimate(const se_report *rep, const se_funnel *f, const stage_stays *stays,
                     work *w, const target *tg, int s_lo, int s_hi, double *msum)
{
	double *sum = w->sum, *ratios = w->ratios;
	const hist *h = &w->h;
	member *op = w->op;
	uint8_t *lm = w->lm;
	int64_t mstart[SE_TIME_MONTHS + 1], extent = rep->horizon > 0 ? rep->horizon : 0;

	for (int i = 0; tg->months != NULL && i <= SE_TIME_MONTHS; i++)
		mstart[i] = se_report_month_start(rep, tg->month_lo + i);
	if (tg->months != NULL && mstart[SE_TIME_MONTHS] - tg->at > extent)
		extent = mstart[SE_TIME_MONTHS] - tg->at;
	for (int s = s_lo; s < s_hi; s++) {
		const stage_stays *g = &stays[s];
		size_t nh, no = 0, count[N_LANDMARKS + 1] = { 0 }, first[N_LANDMARKS + 1], past[N_LANDMARKS + 1] = { 0 },
		       last_out[N_LANDMARKS];
		int64_t most[N_LANDMARKS] = { 0 }; /* each landmark's greatest age */
		int seen_in_time;

		if (!f->stages[s].presale)
			continue;
		nh = histories(g, tg->at, h, &seen_in_time, past, last_out);
		/* past[l]: how many were seen longer than landmark l; last_out[l]:
		 * one past the last outcome among them */
		for (int l = N_LANDMARKS - 1; l > 0; l--) {
			past[l - 1] += past[l];
			if (last_out[l - 1] < last_out[l])
				last_out[l - 1] = last_out[l];
		}
		/* the open deals by landmark, in spell order within one (a
		 * counting sort: stable); lm[i] is NOT_OPEN for the others */
		for (size_t i = 0; i < g->n; i++) {
			const member *m = &g->span[i];

			if (is_open(m->start, m->end, tg)) {
				lm[i] = (uint8_t)landmark_of(tg->at > m->start ? tg->at - m->start : 0);
				count[lm[i] + 1]++;
				if (tg->at - m->start > most[lm[i]])
					most[lm[i]] = tg->at - m->start;
				no++;
			} else {
				lm[i] = NOT_OPEN;
			}
		}
		if (no == 0)
			continue;
		w->opened += no;
		for (int l = 0; l < N_LANDMARKS; l++)
			count[l + 1] += count[l];
		memcpy(first, count, sizeof first);
		for (size_t i = 0; i < g->n; i++)
			if (lm[i] != NOT_OPEN)
				op[count[lm[i]]++] = g->span[i];
		manager_ratios(&tg->rates[(size_t)s * rep->n_manager], rep->n_manager, rep->shrinkage, ratios);
		/* count[l] is now where landmark l's deals end */
		for (int l = 0; l < N_LANDMARKS; l++) {
			size_t upto, from;

			if (first[l] == count[l])
				continue;
			upto = after(h->o, nh, add_sat(most[l], extent));
			/* past the last outcome the curve has no more points: the
			 * rest of the histories only leave the risk set */
			if (upto > last_out[l])
				upto = last_out[l];
			/* the stays at s before T that were still there at the
			 * landmark: none of them in the histories' prefix that
			 * ended by then, when no stay was seen longer than its time */
			from = l > 0 && seen_in_time ? after(h->o, nh, landmarks[l]) : 0;
			if (upto < from)
				upto = from;
			se_cif_fill_where(&w->cif, h->o + from, h->past + from, upto - from, (uint8_t)l, past[l]);
			for (size_t j = first[l]; j < count[l]; j++) {
				const member *sp = &op[j];
				double *rec = w->rec != NULL ? &w->rec[w->n_rec++ * SE_TIME_MONTHS] : NULL;

				add_deal(rep, tg, s, sp, tg->at > sp->start ? tg->at - sp->start : 0, &w->cif, ratios, sum,
				         msum, rec, mstart);
			}
		}
	}
}

/* A target's results from the sums of one work, or two (each over its own
 * stages, zero elsewhere); its open deals are added by the caller. */
static void finish_target(const target *tg, size_t cells, const work *w, const work *w2, const double *msum)
{
	for (size_t c = 0; c < cells; c++)
		tg->fc[c] = round_money(w2 != NULL ? w->sum[c] + w2->sum[c] : w->sum[c]);
	for (int m = 0; tg->months != NULL && m < SE_TIME_MONTHS; m++)
		tg->months[m] = round_money(msum[m]);
}

/* A target's estimate over its stages [s_lo, s_hi): all of them, or a
 * backtest's split in two (its stages' sums are apart, so either thread
 * can take either half). */
typedef struct task {
	int tg;
	int s_lo, s_hi;
	size_t opened;             /* out: open deals met */
} task;

/* One thread's share: sorting the stays of stages [s_lo, s_hi), then
 * either the tasks, each taken from *next when the thread is ready for
 * another, or (next NULL) the one target tg[0] over its own stages.
 * Targets differ in cost (the forecast now has the most open deals): taken
 * as each thread frees up, 7 whole targets left one thread up to a
 * backtest's time alone at the end; their halves leave at most a half. */
typedef struct share {
	const se_report *rep;
	const se_insight *in;
	const se_funnel *f;
	stage_stays *stays;
	work *w;
	const target *tg;
	task *tasks;
	int n_task;
	atomic_int *next;
	int s_lo, s_hi;
	double *msum;              /* next NULL: the target's months (NULL: kept in w->rec) */
} share;

static void sort_share(const share *sh)
{
	for (int s = sh->s_lo; s < sh->s_hi; s++)
		if (sh->f->stages[s].presale)
			order_stage(sh->in, &sh->stays[s], s, (stay *)sh->w->block);
}

static void estimate_share(const share *sh)
{
	size_t cells = (size_t)sh->f->n_stages * sh->rep->n_manager;
	int i;

	if (sh->next == NULL) {
		memset(sh->w->sum, 0, (cells ? cells : 1) * sizeof *sh->w->sum);
		estimate(sh->rep, sh->f, sh->stays, sh->w, &sh->tg[0], sh->s_lo, sh->s_hi, sh->msum);
		return;
	}
	/* each task's sums are its own: which thread takes it changes nothing */
	while ((i = atomic_fetch_add(sh->next, 1)) < sh->n_task) {
		task *t = &sh->tasks[i];
		const target *tg = &sh->tg[t->tg];
		double msum[SE_TIME_MONTHS] = { 0 };

		memset(sh->w->sum, 0, (cells ? cells : 1) * sizeof *sh->w->sum);
		sh->w->opened = 0;
		estimate(sh->rep, sh->f, sh->stays, sh->w, tg, t->s_lo, t->s_hi, msum);
		t->opened = sh->w->opened;
		if (t->s_lo == 0 && t->s_hi == sh->f->won) {
			finish_target(tg, cells, sh->w, NULL, msum);
			continue;
		}
		/* a half: its stages' rows (the last half's the rows after
		 * too, all 0); the open deals are added up after */
		for (size_t c = (size_t)t->s_lo * sh->rep->n_manager;
		     c < (t->s_hi == sh->f->won ? cells : (size_t)t->s_hi * sh->rep->n_manager); c++)
			tg->fc[c] = round_money(sh->w->sum[c]);
	}
}

/* The tasks of targets tg[0..n_tg) into t: each target whole, or (split)
 * each backtest's stages [0, k) and [k, won) apart, the forecast now (the
 * largest, with its months) whole and first, then the halves of more
 * stays ([0, k) when below_first), so that the last ones taken are the
 * smallest.  Returns how many. */
static int make_tasks(const se_funnel *f, const target *tg, int n_tg, int split, int k, int below_first, task *t)
{
	int n = 0;

	for (int i = 0; i < n_tg; i++)
		if (!split || tg[i].months != NULL)
			t[n++] = (task){ i, 0, f->won, 0 };
	for (int half = 0; split && half < 2; half++)
		for (int i = 0; i < n_tg; i++)
			if (tg[i].months == NULL)
				t[n++] = (half == 0) == below_first ? (task){ i, 0, k, 0 } : (task){ i, k, f->won, 0 };
	return n;
}

/* The open deals the tasks met, into their targets' counts. */
static void add_opened(const target *tg, const task *t, int n_task)
{
	for (int i = 0; i < n_task; i++)
		if (tg[t[i].tg].deals != NULL)
			*tg[t[i].tg].deals += (int64_t)t[i].opened;
}

static void *sort_thread(void *arg)
{
	sort_share(arg);
	return NULL;
}

static void *sort_estimate_thread(void *arg)
{
	sort_share(arg);
	estimate_share(arg);
	return NULL;
}

static void *estimate_thread(void *arg)
{
	estimate_share(arg);
	return NULL;
}

/* The stages [0, k) and [k, won) of about equal stays. */
static int split_stages(const se_funnel *f, const stage_stays *stays)
{
	size_t total = 0, below = 0;
	int k = 0;

	for (int s = 0; s < f->won; s++)
		total += stays[s].n;
	while (k < f->won - 1 && below + stays[k].n / 2 < total / 2) /* up to the stage that holds the middle */
		below += stays[k++].n;
	return k;
}

/* The most stays of a stage in [s_lo, s_hi), and their sum. */
static size_t most_stays(const stage_stays *stays, int s_lo, int s_hi, size_t *sum)
{
	size_t most = 0;

	*sum = 0;
	for (int s = s_lo; s < s_hi; s++) {
		*sum += stays[s].n;
		if (stays[s].n > most)
			most = stays[s].n;
	}
	return most;
}

/*
 * The stays of each stage are sorted once, the targets estimated from
 * them; both split over two threads when there are many stays.  Sorting
 * splits by stages (each thread sorts its own); the targets of a backtest
 * split between the threads, each to the first one free, after the sorting;
 * a single target (the forecast now) splits by stages too, each thread
 * going on from its sorting to the estimate of its own stages, and the
 * second keeping its deals' months, so that they are added after the
 * first's in the order a single thread adds them (a sum of doubles
 * depends on the order).  The two write disjoint rows of the sums.
 * Without a second thread (or the memory for it) this one does it all.
 */
static int two_threads(const se_report *rep, se_insight *in, const se_funnel *f, stage_stays *stays,
                       const target *tg, int n_tg, int k)
{
	size_t cells = (size_t)f->n_stages * rep->n_manager, all, most = most_stays(stays, 0, f->won, &all);
	size_t sum_a, sum_b, most_a = most_stays(stays, 0, k, &sum_a), most_b = most_stays(stays, k, f->won, &sum_b);
	int one = n_tg == 1, n_task;
	double msum[SE_TIME_MONTHS] = { 0 };
	atomic_int next = 0;
	work w, w2;
	task tasks[1 + 2 * SE_BACKTEST_CUTS];
	share mine = { rep, in, f, stays, &w, tg, tasks, 0, one ? NULL : &next, 0, k, msum }, other;
	pthread_t t;

	mine.n_task = n_task = make_tasks(f, tg, n_tg, 1, k, sum_a >= sum_b, tasks);
	other = mine;
	if (alloc_work(&w, rep, f, most_a, one ? most_a : most, 0) != SE_OK)
		return SE_ENOMEM;
	if (alloc_work(&w2, rep, f, most_b, one ? most_b : most, one && tg[0].months != NULL ? sum_b : 0) != SE_OK) {
		free_work(&w);
		return SE_ENOMEM;
	}
	other.w = &w2;
	other.s_lo = k;
	other.s_hi = f->won;
	other.msum = NULL;
	if (pthread_create(&t, NULL, one ? sort_estimate_thread : sort_thread, &other) != 0) {
		free_work(&w);
		free_work(&w2);
		return SE_ENOMEM;
	}
	sort_share(&mine);
	if (!one) { /* every stage sorted before any target */
		pthread_join(t, NULL);
		drop_spells(in);
		if (pthread_create(&t, NULL, estimate_thread, &other) != 0) {
			estimate_share(&other);
			one = -1; /* nothing to join */
		}
	}
	estimate_share(&mine);
	if (one >= 0)
		pthread_join(t, NULL);
	if (one > 0) { /* the two halves of the one target */
		for (size_t d = 0; d < w2.n_rec; d++)
			for (int m = 0; m < SE_TIME_MONTHS; m++)
				msum[m] += w2.rec[d * SE_TIME_MONTHS + m];
		finish_target(&tg[0], cells, &w, &w2, msum);
		if (tg[0].deals != NULL)
			*tg[0].deals += (int64_t)(w.opened + w2.opened);
	} else {
		add_opened(tg, tasks, n_task);
	}
	free_work(&w);
	free_work(&w2);
	return SE_OK;
}

/* Stays from which two threads take over: low, as a thread starts in a
 * tenth of a millisecond, and so that the tests' histories of some
 * thousands of deals go this way too (the smallest ones go the other). */
#define THREAD_MIN_SPELLS 1000

static int estimate_all(const se_report *rep, se_insight *in, const se_funnel *f, stage_stays *stays,
                        const target *tg, int n_tg)
{
	size_t all, most = most_stays(stays, 0, f->won, &all), below;
	int k = split_stages(f, stays);
	atomic_int next = 0;
	work w;
	task tasks[1 + SE_BACKTEST_CUTS];
	share mine = { rep, in, f, stays, &w, tg, tasks, 0, &next, 0, f->won, NULL };

	mine.n_task = make_tasks(f, tg, n_tg, 0, 0, 0, tasks);
	most_stays(stays, 0, k, &below);
	/* (one target whose stays are all on one side of k: nothing to split) */
	if (n_tg > 0 && in->n_spells >= THREAD_MIN_SPELLS && k > 0 && (n_tg > 1 || (below > 0 && below < all)) &&
	    two_threads(rep, in, f, stays, tg, n_tg, k) == SE_OK)
		return SE_OK;
	if (alloc_work(&w, rep, f, most, most, 0) != SE_OK)
		return SE_ENOMEM;
	sort_share(&mine);
	drop_spells(in);
	estimate_share(&mine);
	add_opened(tg, tasks, mine.n_task);
	free_work(&w);
	return SE_OK;
}

int se_timecast_finish(se_report *rep, se_error *err)
{
	for (int fi = 0; fi < rep->rules->n_funnels; fi++) {
		const se_funnel *f = &rep->rules->funnels[fi];
		se_insight *in = &rep->agg[fi].in;
		size_t cells = (size_t)f->n_stages * rep->n_manager;
		stage_stays *stays;
		target tg[1 + SE_BACKTEST_CUTS];
		int n_tg = 0, rc;

		if (rep->compute & SE_REPORT_FORECAST) {
			target now = { rep->as_of, 1, rep->agg[fi].rates, NULL, NULL, in->time_month, 0 };

			in->time_month_lo = now.month_lo = se_report_month_of(rep, rep->as_of);
			if ((in->time_fc = now.fc = calloc(cells ? cells : 1, sizeof *in->time_fc)) == NULL)
				return se_error_set(err, SE_ENOMEM, "out of memory");
			tg[n_tg++] = now;
		}
		for (int j = 0; (rep->compute & SE_REPORT_BACKTEST) && j < in->n_cuts; j++) {
			se_backtest_cut *c = &in->cuts[j];

			tg[n_tg++] = (target){ c->cutoff, 0, c->rates, c->time_fc, &c->time_deals, NULL, 0 };
		}
		if (n_tg > 0) {
			if ((stays = count_stays(in, f)) == NULL)
				return se_error_set(err, SE_ENOMEM, "out of memory");
			rc = estimate_all(rep, in, f, stays, tg, n_tg);
			free_stays(stays, f->n_stages);
			if (rc != SE_OK)
				return se_error_set(err, rc, "out of memory");
		}
		drop_spells(in);
	}
	return SE_OK;
}
