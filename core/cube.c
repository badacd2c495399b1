/*
 * cube.c: sparse counters by (funnel, bucket, manager, source).
 *
 * Cells live in one array of int64 counters; an open-addressing table maps
 * a cell's key to its index, and during the report's pass a dense index by
 * (bucket, manager, source) answers first when those are few.  A deal adds to a handful of cells (one per
 * distinct bucket its flows fall in, plus its state cell), so building the
 * cube is a few hash lookups per deal, and a query is one scan over the
 * cells (thousands, not deals).
 *
 * Per funnel with S stages and P counted pairs, a flow cell holds
 *   reached[2][S]  first arrivals per mode (0 reached, 1 touched)
 *   to[2][P]       converted counts per pair and mode; a pair's cohort
 *                  count is reached[mode][its from stage] of the same
 *                  cell (the cohort event is the arrival at `from`), so
 *                  it is not kept twice
 *   won_revenue[2] kopecks of deals reaching won, bucketed at won
 *   lost, nontarget
 * and a state cell (bucket SE_CUBE_STATE_BUCKET) holds
 *   open[S], amount[S], no_amount[S]   open deals by current stage
 *   closed[S], won_from[S]             closed deals that reached each stage
 *                                      (report mode), for win rates
 */
#include "cube.h"
#include "error.h"
#include "forecast.h"
#include "huge.h"
#include "money.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct cell_key {
	int64_t bucket;
	uint32_t manager, source;
	int32_t funnel;
} cell_key;

/* One funnel's front index: per bucket lo .. lo + n - 1 (and the state
 * cells apart), a table of cell index + 1 (0: not known here) by
 * manager * dense_sources + source, allocated when first used. */
typedef struct dense_funnel {
	int64_t lo;
	size_t n;
	uint32_t **tab;
	uint32_t *state;
} dense_funnel;

/* Limits of the front index: the tables a bucket (16 KB), the buckets a
 * funnel, and their bytes in all. */
#define DENSE_CELLS 4096u
#define DENSE_BUCKETS 65536u
#define DENSE_BYTES ((size_t)16 << 20)

typedef struct funnel_layout {
	int n_stages, won;
	se_cube_pair *pairs;
	int n_pairs;
	size_t reached, to, revenue, lost, nontarget;            /* flow offsets */
	size_t open, amount, no_amount, closed, won_from;        /* state offsets */
	int64_t lo, hi;
	int seen;
} funnel_layout;

struct se_cube {
	const se_rules *rules;
	funnel_layout *f;
	size_t width;                /* counters per cell: the widest funnel's */
	cell_key *keys;
	int64_t *counts;             /* width per cell */
	size_t n_cells, cap_cells;
	uint32_t *slots;             /* cell index + 1, 0 = empty */
	size_t n_slots;
	/* Per event of the deal being added: the index of its flow cell, or
	 * CELL_UNKNOWN before its first flow, CELL_NONE outside the range. */
	int64_t *event_cells;
	size_t cap_keys;
	/* Cells in (funnel, bucket, manager, source) order and in (funnel,
	 * bucket, source, manager) order, so a query reads only its buckets and,
	 * within each, only its manager's or source's cells; built on the first
	 * query after the last deal was added. */
	uint32_t *sorted, *by_source;
	int sorted_ok;
	/* The pass's front index (se_cube_index): (bucket, manager, source) to
	 * cell, dense, when managers x sources are few; the hash answers the
	 * rest.  Two cache misses less per lookup, and a deal makes several. */
	uint32_t dense_managers, dense_sources;
	struct dense_funnel *dense;  /* per funnel, or NULL */
	size_t dense_bytes;
	int64_t *team_rates;         /* [funnel * width + stage * 2 + 0 won, 1 closed]: state */
};

static int mode_index(se_mode m)
{
	return m == SE_MODE_TOUCHED ? 1 : 0;
}

/* ---- layout ---------------------------------------------------------------- */

static int add_cube_pair(funnel_layout *l, int from, int to, int64_t window, se_mode mode)
{
	se_cube_pair *np = realloc(l->pairs, (size_t)(l->n_pairs + 1) * sizeof *np);

	if (np == NULL)
		return SE_ENOMEM;
	l->pairs = np;
	np[l->n_pairs++] = (se_cube_pair){ from, to, window, mode };
	return SE_OK;
}

static int lay_out(funnel_layout *l, const se_funnel *f)
{
	size_t S = (size_t)f->n_stages, P, flow;

	l->n_stages = f->n_stages;
	l->won = f->won;
	for (int i = 0; i < f->n_pairs; i++)
		if (add_cube_pair(l, f->pairs[i].from, f->pairs[i].to, f->pairs[i].window,
		                  f->pairs[i].mode) != SE_OK)
			return SE_ENOMEM;
	for (int s = 0; s < f->won; s++) {
		int declared = 0;

		for (int i = 0; i < f->n_pairs; i++)
			declared |= f->pairs[i].from == s && f->pairs[i].to == f->won && f->pairs[i].window == 0;
		if (!declared && add_cube_pair(l, s, f->won, 0, SE_MODE_DEFAULT) != SE_OK)
			return SE_ENOMEM;
	}
	P = (size_t)l->n_pairs;
	l->reached = 0;
	l->to = 2 * S;
	l->revenue = l->to + 2 * P;
	l->lost = l->revenue + 2;
	l->nontarget = l->lost + 1;
	flow = l->nontarget + 1;
	l->open = 0;
	l->amount = S;
	l->no_amount = 2 * S;
	l->closed = 3 * S;
	l->won_from = 4 * S;
	return flow > 5 * S ? (int)flow : (int)(5 * S);
}

int se_cube_new(se_cube **out, const se_rules *rules, se_error *err)
{
	se_cube *c = calloc(1, sizeof *c);

	*out = NULL;
	if (c == NULL || (c->f = calloc((size_t)rules->n_funnels + 1, sizeof *c->f)) == NULL)
		goto nomem;
	c->rules = rules;
	for (int i = 0; i < rules->n_funnels; i++) {
		int w = lay_out(&c->f[i], &rules->funnels[i]);

		if (w < 0)
			goto nomem;
		if ((size_t)w > c->width)
			c->width = (size_t)w;
	}
	*out = c;
	return SE_OK;
nomem:
	se_cube_free(c);
	return se_error_set(err, SE_ENOMEM, "out of memory");
}

void se_cube_free(se_cube *c)
{
	if (c == NULL)
		return;
	for (int i = 0; c->f && i < c->rules->n_funnels; i++)
		free(c->f[i].pairs);
	free(c->f);
	free(c->keys);
	free(c->counts);
	free(c->slots);
	free(c->event_cells);
	free(c->sorted);
	free(c->by_source);
	free(c->team_rates);
	for (int i = 0; c->dense && i < c->rules->n_funnels; i++) {
		for (size_t b = 0; b < c->dense[i].n; b++)
			free(c->dense[i].tab[b]);
		free(c->dense[i].tab);
		free(c->dense[i].state);
	}
	free(c->dense);
	free(c);
}

void se_cube_index(se_cube *c, uint32_t n_manager, uint32_t n_source)
{
	if (c->dense != NULL || n_manager == 0 || n_source == 0 || n_manager > DENSE_CELLS / n_source)
		return;
	if ((c->dense = calloc((size_t)c->rules->n_funnels + 1, sizeof *c->dense)) == NULL)
		return; /* the hash alone, as without the index */
	c->dense_managers = n_manager;
	c->dense_sources = n_source;
}

/* A table of the front index, allocated now when it fits the limits. */
static uint32_t *dense_table(se_cube *c, uint32_t **t)
{
	size_t bytes = (size_t)c->dense_managers * c->dense_sources * sizeof **t;

	if (*t == NULL && c->dense_bytes + bytes <= DENSE_BYTES && (*t = calloc(1, bytes)) != NULL)
		c->dense_bytes += bytes;
	return *t;
}

/* The front index's entry for a cell, or NULL where it has none. */
static uint32_t *dense_slot(se_cube *c, int funnel, int64_t bucket, uint32_t manager, uint32_t source)
{
	dense_funnel *d;
	uint32_t *t;

	if (c->dense == NULL || manager >= c->dense_managers || source >= c->dense_sources)
		return NULL;
	d = &c->dense[funnel];
	if (bucket == SE_CUBE_STATE_BUCKET) {
		t = dense_table(c, &d->state);
	} else {
		if (d->n == 0 || bucket < d->lo || bucket >= d->lo + (int64_t)d->n) {
			int64_t lo = d->n == 0 || bucket < d->lo ? bucket : d->lo;
			int64_t hi = d->n == 0 || bucket >= d->lo + (int64_t)d->n ? bucket : d->lo + (int64_t)d->n - 1;
			uint32_t **nt;

			if (hi - lo >= (int64_t)DENSE_BUCKETS ||
			    (nt = realloc(d->tab, (size_t)(hi - lo + 1) * sizeof *nt)) == NULL)
				return NULL;
			if (d->n > 0 && lo < d->lo)
				memmove(nt + (d->lo - lo), nt, d->n * sizeof *nt);
			if (d->n == 0) {
				memset(nt, 0, (size_t)(hi - lo + 1) * sizeof *nt);
			} else {
				memset(nt, 0, (size_t)(d->lo - lo) * sizeof *nt);
				memset(nt + (d->lo - lo) + d->n, 0, (size_t)(hi - (d->lo + (int64_t)d->n - 1)) * sizeof *nt);
			}
			d->tab = nt;
			d->lo = lo;
			d->n = (size_t)(hi - lo + 1);
		}
		t = dense_table(c, &d->tab[bucket - d->lo]);
	}
	return t != NULL ? &t[(size_t)manager * c->dense_sources + source] : NULL;
}

/* ---- cells ----------------------------------------------------------------- */

static uint64_t key_hash(const cell_key *k)
{
	uint64_t h = (uint64_t)k->bucket * 0x9E3779B97F4A7C15ull;

	h ^= ((uint64_t)k->manager << 32 | k->source) + 0xBF58476D1CE4E5B9ull + (h << 6) + (h >> 2);
	h ^= (uint64_t)(uint32_t)k->funnel * 0x94D049BB133111EBull;
	/* splitmix64's finalizer: the slot is taken from the low bits, so the
	 * high ones must be folded down after the last multiply. */
	h ^= h >> 30;
	h *= 0xBF58476D1CE4E5B9ull;
	h ^= h >> 27;
	h *= 0x94D049BB133111EBull;
	return h ^ (h >> 31);
}

static int key_eq(const cell_key *a, const cell_key *b)
{
	return a->bucket == b->bucket && a->manager == b->manager && a->source == b->source &&
	       a->funnel == b->funnel;
}

static int rehash(se_cube *c, size_t n_slots)
{
	uint32_t *slots = calloc(n_slots, sizeof *slots);

	if (slots == NULL)
		return SE_ENOMEM;
	for (size_t i = 0; i < c->n_cells; i++) {
		size_t at = key_hash(&c->keys[i]) & (n_slots - 1);

		while (slots[at] != 0)
			at = (at + 1) & (n_slots - 1);
		slots[at] = (uint32_t)i + 1;
	}
	free(c->slots);
	c->slots = slots;
	c->n_slots = n_slots;
	return SE_OK;
}

static int64_t *new_cell(se_cube *c, const cell_key *k, size_t slot)
{
	if (c->n_cells == c->cap_cells) {
		size_t cap = c->cap_cells ? c->cap_cells * 2 : 256;
		cell_key *nk = realloc(c->keys, cap * sizeof *nk);
		int64_t *nc;

		if (nk == NULL)
			return NULL;
		c->keys = nk;
		if ((nc = se_huge_alloc(cap * c->width * sizeof *nc)) != NULL) {
			memcpy(nc, c->counts, c->n_cells * c->width * sizeof *nc);
			free(c->counts);
		} else if ((nc = realloc(c->counts, cap * c->width * sizeof *nc)) == NULL) {
			return NULL;
		}
		c->counts = nc;
		c->cap_cells = cap;
	}
	c->keys[c->n_cells] = *k;
	memset(c->counts + c->n_cells * c->width, 0, c->width * sizeof *c->counts);
	c->slots[slot] = (uint32_t)++c->n_cells;
	return c->counts + (c->n_cells - 1) * c->width;
}

static int64_t *cell(se_cube *c, int funnel, int64_t bucket, uint32_t manager, uint32_t source)
{
	cell_key k = { bucket, manager, source, funnel };
	uint32_t *front = dense_slot(c, funnel, bucket, manager, source);
	int64_t *p;
	size_t at;

	if (front != NULL && *front != 0)
		return c->counts + (size_t)(*front - 1) * c->width;
	if ((c->n_cells + 1) * 2 > c->n_slots && rehash(c, c->n_slots ? c->n_slots * 2 : 1024) != SE_OK)
		return NULL;
	at = key_hash(&k) & (c->n_slots - 1);
	while (c->slots[at] != 0) {
		uint32_t i = c->slots[at] - 1;

		if (key_eq(&c->keys[i], &k)) {
			if (front != NULL)
				*front = i + 1;
			return c->counts + (size_t)i * c->width;
		}
		at = (at + 1) & (c->n_slots - 1);
	}
	if ((p = new_cell(c, &k, at)) != NULL && front != NULL)
		*front = (uint32_t)c->n_cells;
	return p;
}

/* ---- adding a deal ---------------------------------------------------------- */

typedef struct adder {
	se_cube *c;
	const se_cube_deal *d;
	int funnel;
	se_cube_bucket_fn bucket;
	const void *ud;
	int64_t from_utc, to_utc;
	int nomem;
	/* Most of a deal's flows fall in one bucket: remember its cell (by
	 * index: a new cell may move the counters). */
	int64_t last_key;
	size_t last_cell;
	int have_last;
} adder;

#define CELL_UNKNOWN (-2)
#define CELL_NONE (-1)

/* flow_cell's first time at position pos: the event's bucket and cell,
 * kept in event_cells for the deal's other flows at the same event. */
static int64_t *flow_cell_first(adder *a, int32_t pos)
{
	funnel_layout *l = &a->c->f[a->funnel];
	int64_t t = a->d->e->ev[pos].ts, key, *p;

	a->c->event_cells[pos] = CELL_NONE;
	if (t < a->from_utc || t >= a->to_utc)
		return NULL;
	key = a->bucket(a->ud, t);
	if (a->have_last && key == a->last_key) {
		a->c->event_cells[pos] = (int64_t)a->last_cell;
		return a->c->counts + a->last_cell * a->c->width;
	}
	if ((p = cell(a->c, a->funnel, key, a->d->manager, a->d->source)) == NULL) {
		a->nomem = 1;
		return NULL;
	}
	a->last_key = key;
	a->last_cell = (size_t)(p - a->c->counts) / a->c->width;
	a->have_last = 1;
	a->c->event_cells[pos] = (int64_t)a->last_cell;
	if (!l->seen || key < l->lo)
		l->lo = key;
	if (!l->seen || key > l->hi)
		l->hi = key;
	l->seen = 1;
	return p;
}

/* The flow cell for the deal's event at position pos, or NULL when its
 * time is outside the range (or memory ran out, noted in a->nomem).  A
 * deal has a few events and some thirty flows, so most calls find the
 * event's cell known: that case stays inline, one load and no bucketing
 * (a zone conversion) or hashing. */
static inline int64_t *flow_cell(adder *a, int32_t pos)
{
	int64_t i = a->c->event_cells[pos];

	if (i >= 0)
		return a->c->counts + (size_t)i * a->c->width;
	if (i == CELL_NONE)
		return NULL;
	return flow_cell_first(a, pos);
}

static void add_flows(adder *a, const funnel_layout *l)
{
	const se_deal_eval *e = a->d->e;
	/* The layout in locals: the offsets are size_t and the counters
	 * int64_t, which may alias, so each increment would load them again. */
	const int n_stages = l->n_stages, n_pairs = l->n_pairs, won = l->won;
	const size_t reached = l->reached, to = l->to, revenue = l->revenue;
	const se_cube_pair *pairs = l->pairs;
	int64_t *p;

	for (int m = 0; m < 2; m++) {
		se_mode mode = m ? SE_MODE_TOUCHED : SE_MODE_REACHED;

		for (int s = 0; s < n_stages; s++) {
			int32_t at = se_count_reach(e, s, mode);

			if (at != SE_NONE && (p = flow_cell(a, at)) != NULL) {
				p[reached + (size_t)m * n_stages + s]++;
				if (s == won)
					p[revenue + m] = se_add_sat(p[revenue + m], se_kopecks_of(a->d->amount));
			}
		}
		for (int i = 0; i < n_pairs; i++) {
			const se_cube_pair *pr = &pairs[i];
			int32_t conv, cohort = se_count_pair(e, pr->from, pr->to, mode, pr->window, &conv);

			/* the cohort is counted in reached[m][pr->from] already */
			if (conv == SE_NONE || cohort == SE_NONE || (p = flow_cell(a, cohort)) == NULL)
				continue;
			p[to + (size_t)m * n_pairs + i]++;
		}
	}
	if ((e->state == SE_DEAL_LOST || e->state == SE_DEAL_NONTARGET) && e->n_events > 0 &&
	    (p = flow_cell(a, (int32_t)e->n_events - 1)) != NULL)
		p[e->state == SE_DEAL_LOST ? l->lost : l->nontarget]++;
}

static void add_state(adder *a, const funnel_layout *l)
{
	const se_deal_eval *e = a->d->e;
	int64_t *p = cell(a->c, a->funnel, SE_CUBE_STATE_BUCKET, a->d->manager, a->d->source);
	int won;

	if (p == NULL) {
		a->nomem = 1;
		return;
	}
	if (e->state == SE_DEAL_OPEN) {
		p[l->open + e->stage]++;
		if (!se_amount_counted(a->d->amount))
			p[l->no_amount + e->stage]++;
		else
			p[l->amount + e->stage] = se_add_sat(p[l->amount + e->stage], se_kopecks_of(a->d->amount));
		return;
	}
	/* As the presale report's rates: closed deals that reached each stage
	 * before won, and which of them were won. */
	won = se_count_reach(e, l->won, a->d->report_mode) != SE_NONE;
	for (int s = 0; s < l->won; s++) {
		if (se_count_reach(e, s, a->d->report_mode) == SE_NONE)
			continue;
		p[l->closed + s]++;
		p[l->won_from + s] += won;
	}
}

int se_cube_add_deal(se_cube *c, const se_cube_deal *d, se_cube_bucket_fn bucket,
                     int64_t from_utc, int64_t to_utc, const void *ud)
{
	adder a = { c, d, d->e->funnel, bucket, ud, from_utc, to_utc, 0, 0, 0, 0 };

	if (d->e->funnel == SE_NONE)
		return SE_OK;
	if (d->e->n_events > c->cap_keys) {
		int64_t *nk = realloc(c->event_cells, d->e->n_events * sizeof *nk);

		if (nk == NULL)
			return SE_ENOMEM;
		c->event_cells = nk;
		c->cap_keys = d->e->n_events;
	}
	for (uint32_t i = 0; i < d->e->n_events; i++)
		c->event_cells[i] = CELL_UNKNOWN;
	c->sorted_ok = 0;
	add_flows(&a, &c->f[a.funnel]);
	add_state(&a, &c->f[a.funnel]);
	return a.nomem ? SE_ENOMEM : SE_OK;
}

/* ---- partials: a cube's cells as bytes, and added into another -------------- */

void se_cube_encode(const se_cube *c, se_pbuf *b)
{
	se_pbuf_u64(b, c->n_cells);
	for (size_t i = 0; i < c->n_cells; i++) {
		const cell_key *k = &c->keys[i];
		const int64_t *v = c->counts + i * c->width;
		uint64_t nz = 0;

		for (size_t j = 0; j < c->width; j++)
			nz += v[j] != 0;
		se_pbuf_u64(b, (uint64_t)k->funnel);
		se_pbuf_i64(b, k->bucket);
		se_pbuf_u64(b, k->manager);
		se_pbuf_u64(b, k->source);
		se_pbuf_u64(b, nz);
		for (size_t j = 0; j < c->width; j++)
			if (v[j] != 0) {
				se_pbuf_u64(b, j);
				se_pbuf_i64(b, v[j]);
			}
	}
}

/* Sums saturate as counting does: the same totals in any order. */
/* A whole store's counters (megabytes, filled at once) go in huge pages
 * (huge.h): a few page faults instead of thousands. */
/* Room for `more` cells at once: merging a whole store's partial into an
 * empty cube would otherwise grow it (and rehash) a dozen times. */
static int reserve_cells(se_cube *c, size_t more)
{
	size_t need = c->n_cells + more, slots = c->n_slots ? c->n_slots : 1024;
	cell_key *nk;
	int64_t *nc;

	if (need > c->cap_cells) {
		size_t bytes = need * c->width * sizeof *nc;

		if ((nk = realloc(c->keys, need * sizeof *nk)) == NULL)
			return SE_ENOMEM;
		c->keys = nk;
		if ((nc = se_huge_alloc(bytes)) != NULL) {
			if (c->n_cells > 0)
				memcpy(nc, c->counts, c->n_cells * c->width * sizeof *nc);
			free(c->counts);
		} else if ((nc = realloc(c->counts, bytes)) == NULL) {
			return SE_ENOMEM;
		}
		c->counts = nc;
		c->cap_cells = need;
	}
	while ((need + 1) * 2 > slots)
		slots *= 2;
	return slots != c->n_slots ? rehash(c, slots) : SE_OK;
}

int se_cube_merge(se_cube *c, se_preader *r)
{
	uint64_t n = se_pread_count(r, 5);

	if (n > 0 && reserve_cells(c, (size_t)n) != SE_OK)
		return SE_ENOMEM;

	for (uint64_t i = 0; i < n && !r->bad; i++) {
		uint64_t funnel = se_pread_u64(r), manager, source, nz;
		int64_t bucket = se_pread_i64(r), *p;
		funnel_layout *l;

		manager = se_pread_u64(r);
		source = se_pread_u64(r);
		nz = se_pread_count(r, 2);
		if (r->bad || funnel >= (uint64_t)c->rules->n_funnels || manager > UINT32_MAX ||
		    source > UINT32_MAX || nz > c->width)
			return SE_EDB;
		if ((p = cell(c, (int)funnel, bucket, (uint32_t)manager, (uint32_t)source)) == NULL)
			return SE_ENOMEM;
		for (uint64_t j = 0; j < nz; j++) {
			uint64_t at = se_pread_u64(r);
			int64_t v = se_pread_i64(r);

			if (r->bad || at >= c->width)
				return SE_EDB;
			p[at] = se_add_sat(p[at], v);
		}
		l = &c->f[funnel];
		if (bucket != SE_CUBE_STATE_BUCKET) {
			if (!l->seen || bucket < l->lo)
				l->lo = bucket;
			if (!l->seen || bucket > l->hi)
				l->hi = bucket;
			l->seen = 1;
		}
	}
	c->sorted_ok = 0;
	return r->bad ? SE_EDB : SE_OK;
}

int se_cube_add(se_cube *c, const se_cube *from)
{
	/* No reserve_cells: the two halves of a pass share most cells, so c
	 * grows by few. */
	for (size_t i = 0; i < from->n_cells; i++) {
		const cell_key *k = &from->keys[i];
		const int64_t *v = from->counts + i * from->width;
		int64_t *p = cell(c, k->funnel, k->bucket, k->manager, k->source);

		if (p == NULL)
			return SE_ENOMEM;
		for (size_t j = 0; j < c->width; j++)
			p[j] = se_add_sat(p[j], v[j]);
	}
	for (int f = 0; f < c->rules->n_funnels; f++) {
		funnel_layout *l = &c->f[f];
		const funnel_layout *o = &from->f[f];

		if (!o->seen)
			continue;
		if (!l->seen || o->lo < l->lo)
			l->lo = o->lo;
		if (!l->seen || o->hi > l->hi)
			l->hi = o->hi;
		l->seen = 1;
	}
	c->sorted_ok = 0;
	return SE_OK;
}

/* ---- queries ------------------------------------------------------------------ */

static int matches(const cell_key *k, const se_cube_filter *q, int state)
{
	if (k->funnel != q->funnel)
		return 0;
	if (q->manager != SE_CUBE_ANY && (int64_t)k->manager != q->manager)
		return 0;
	if (q->source != SE_CUBE_ANY && (int64_t)k->source != q->source)
		return 0;
	if (state)
		return k->bucket == SE_CUBE_STATE_BUCKET;
	return k->bucket != SE_CUBE_STATE_BUCKET && k->bucket >= q->bucket_lo && k->bucket <= q->bucket_hi;
}

/* The dimension a query walks: the manager's cells when it names a
 * manager, else the source's, else every cell of its buckets. */
enum walk { WALK_ALL, WALK_MANAGER, WALK_SOURCE };

static int key_cmp(const cell_key *a, const cell_key *b, int by_source)
{
	uint32_t a1 = by_source ? a->source : a->manager, b1 = by_source ? b->source : b->manager;
	uint32_t a2 = by_source ? a->manager : a->source, b2 = by_source ? b->manager : b->source;

	if (a->funnel != b->funnel)
		return a->funnel < b->funnel ? -1 : 1;
	if (a->bucket != b->bucket)
		return a->bucket < b->bucket ? -1 : 1;
	if (a1 != b1)
		return a1 < b1 ? -1 : 1;
	return (a2 > b2) - (a2 < b2);
}

static int key_order(const void *pa, const void *pb, void *ud)
{
	const cell_key *keys = ud;

	return key_cmp(&keys[*(const uint32_t *)pa], &keys[*(const uint32_t *)pb], 0);
}

static int key_order_source(const void *pa, const void *pb, void *ud)
{
	const cell_key *keys = ud;

	return key_cmp(&keys[*(const uint32_t *)pa], &keys[*(const uint32_t *)pb], 1);
}

/* Builds both orders and the team's state totals once the cube is
 * complete.  The cube is logically const to queries; these are caches. */
static int ensure_sorted(const se_cube *cc)
{
	se_cube *c = (se_cube *)cc;
	size_t n = c->n_cells ? c->n_cells : 1;
	uint32_t *v, *w;
	int64_t *t;

	if (c->sorted_ok)
		return 1;
	if ((v = realloc(c->sorted, n * sizeof *v)) == NULL)
		return 0;
	c->sorted = v;
	if ((w = realloc(c->by_source, n * sizeof *w)) == NULL)
		return 0;
	c->by_source = w;
	if ((t = realloc(c->team_rates, ((size_t)c->rules->n_funnels + 1) * (c->width + 1) * sizeof *t)) == NULL)
		return 0;
	c->team_rates = t;
	for (size_t i = 0; i < c->n_cells; i++)
		v[i] = w[i] = (uint32_t)i;
	qsort_r(v, c->n_cells, sizeof *v, key_order, c->keys);
	qsort_r(w, c->n_cells, sizeof *w, key_order_source, c->keys);
	memset(t, 0, ((size_t)c->rules->n_funnels + 1) * (c->width + 1) * sizeof *t);
	for (size_t i = 0; i < c->n_cells; i++) {
		const cell_key *k = &c->keys[i];
		const funnel_layout *l = &c->f[k->funnel];
		int64_t *row = &t[(size_t)k->funnel * (c->width + 1)];

		if (k->bucket != SE_CUBE_STATE_BUCKET)
			continue;
		for (int s = 0; s < l->n_stages; s++) {
			row[2 * s] += c->counts[i * c->width + l->won_from + (size_t)s];
			row[2 * s + 1] += c->counts[i * c->width + l->closed + (size_t)s];
		}
	}
	c->sorted_ok = 1;
	return 1;
}

/* The first position of an order whose key is at or after (funnel,
 * bucket, id) in it. */
static size_t lower_bound(const se_cube *c, int by_source, int funnel, int64_t bucket, uint32_t id)
{
	const uint32_t *order = by_source ? c->by_source : c->sorted;
	cell_key probe = { bucket, by_source ? 0 : id, by_source ? id : 0, funnel };
	size_t lo = 0, hi = c->n_cells;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (key_cmp(&c->keys[order[mid]], &probe, by_source) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* A walk over the cells a filter selects, reading only its funnel's
 * buckets and, when it names a manager or a source, jumping to that one's
 * cells in each bucket: a query costs its own cells plus a binary search
 * per bucket, never a scan of every manager's. */
typedef struct walker {
	const se_cube *c;
	const se_cube_filter *q;
	int state;
	enum walk walk;
	const uint32_t *order;
	uint32_t id;
	int64_t hi;
	size_t i;
} walker;

static void walk_start(walker *w, const se_cube *c, const se_cube_filter *q, int state)
{
	w->c = c;
	w->q = q;
	w->state = state;
	w->walk = q->manager != SE_CUBE_ANY ? WALK_MANAGER : q->source != SE_CUBE_ANY ? WALK_SOURCE : WALK_ALL;
	w->order = w->walk == WALK_SOURCE ? c->by_source : c->sorted;
	w->id = w->walk == WALK_MANAGER ? (uint32_t)q->manager : w->walk == WALK_SOURCE ? (uint32_t)q->source : 0;
	w->hi = state ? SE_CUBE_STATE_BUCKET : q->bucket_hi;
	w->i = lower_bound(c, w->walk == WALK_SOURCE, q->funnel, state ? SE_CUBE_STATE_BUCKET : q->bucket_lo, w->id);
}

/* The next selected cell's index, or -1 at the end. */
static int64_t walk_next(walker *w)
{
	const se_cube *c = w->c;
	int by_source = w->walk == WALK_SOURCE;

	while (w->i < c->n_cells) {
		uint32_t at = w->order[w->i];
		const cell_key *k = &c->keys[at];
		uint32_t id = by_source ? k->source : k->manager;

		if (k->funnel != w->q->funnel || k->bucket > w->hi)
			return -1;
		if (w->walk != WALK_ALL && id < w->id) {
			w->i = lower_bound(c, by_source, w->q->funnel, k->bucket, w->id);
			continue;
		}
		if (w->walk != WALK_ALL && id > w->id) {
			if (k->bucket == w->hi)
				return -1;
			w->i = lower_bound(c, by_source, w->q->funnel, k->bucket + 1, w->id);
			continue;
		}
		w->i++;
		if (matches(k, w->q, w->state))
			return at;
	}
	return -1;
}

/* Sums counter `off` over the cells the filter selects. */
static int64_t sum(const se_cube *c, const se_cube_filter *q, int state, size_t off)
{
	se_money total = 0;
	int64_t at;
	walker w;

	if (!ensure_sorted(c)) { /* out of memory for the index: read every cell */
		for (size_t i = 0; i < c->n_cells; i++)
			if (matches(&c->keys[i], q, state))
				total += c->counts[i * c->width + off];
		return se_money_to_int64(total);
	}
	walk_start(&w, c, q, state);
	while ((at = walk_next(&w)) >= 0)
		total += c->counts[(size_t)at * c->width + off];
	return se_money_to_int64(total);
}

static int valid_funnel(const se_cube *c, int funnel)
{
	return funnel >= 0 && funnel < c->rules->n_funnels;
}

int se_cube_buckets(const se_cube *c, int funnel, int64_t *lo, int64_t *hi)
{
	*lo = *hi = 0;
	if (!valid_funnel(c, funnel) || !c->f[funnel].seen)
		return 0;
	*lo = c->f[funnel].lo;
	*hi = c->f[funnel].hi;
	return 1;
}

int64_t se_cube_reached(const se_cube *c, const se_cube_filter *q, se_mode mode, int stage)
{
	const funnel_layout *l;

	if (!valid_funnel(c, q->funnel) || stage < 0 || stage >= c->f[q->funnel].n_stages)
		return 0;
	l = &c->f[q->funnel];
	return sum(c, q, 0, l->reached + (size_t)mode_index(mode) * l->n_stages + stage);
}

int se_cube_pair_index(const se_cube *c, int funnel, int from, int to, int64_t window)
{
	int any = -1;

	if (!valid_funnel(c, funnel))
		return -1;
	for (int i = 0; i < c->f[funnel].n_pairs; i++) {
		const se_cube_pair *p = &c->f[funnel].pairs[i];

		if (p->from != from || p->to != to)
			continue;
		if (p->window == (window < 0 ? 0 : window))
			return i;
		if (window < 0 && any < 0)
			any = i;
	}
	return any;
}

const se_cube_pair *se_cube_pair_at(const se_cube *c, int funnel, int pair)
{
	if (!valid_funnel(c, funnel) || pair < 0 || pair >= c->f[funnel].n_pairs)
		return NULL;
	return &c->f[funnel].pairs[pair];
}

void se_cube_conversion(const se_cube *c, const se_cube_filter *q, se_mode mode, int pair,
                        int64_t *num, int64_t *den)
{
	const funnel_layout *l;
	size_t at;

	*num = *den = 0;
	if (se_cube_pair_at(c, q->funnel, pair) == NULL)
		return;
	l = &c->f[q->funnel];
	at = (size_t)mode_index(mode) * l->n_pairs + pair;
	*den = sum(c, q, 0, l->reached + (size_t)mode_index(mode) * l->n_stages + l->pairs[pair].from);
	*num = sum(c, q, 0, l->to + at);
}

void se_cube_won(const se_cube *c, const se_cube_filter *q, se_mode mode, int64_t *deals,
                 int64_t *revenue)
{
	const funnel_layout *l;

	*deals = *revenue = 0;
	if (!valid_funnel(c, q->funnel))
		return;
	l = &c->f[q->funnel];
	*deals = sum(c, q, 0, l->reached + (size_t)mode_index(mode) * l->n_stages + l->won);
	*revenue = sum(c, q, 0, l->revenue + mode_index(mode));
}

int64_t se_cube_lost(const se_cube *c, const se_cube_filter *q)
{
	return valid_funnel(c, q->funnel) ? sum(c, q, 0, c->f[q->funnel].lost) : 0;
}

int64_t se_cube_nontarget(const se_cube *c, const se_cube_filter *q)
{
	return valid_funnel(c, q->funnel) ? sum(c, q, 0, c->f[q->funnel].nontarget) : 0;
}

static int stage_selected(const se_cube *c, int funnel, int s, int stage, int presale_only)
{
	if (stage >= 0 && s != stage)
		return 0;
	return !presale_only || c->rules->funnels[funnel].stages[s].presale;
}

void se_cube_open(const se_cube *c, const se_cube_filter *q, int stage, int presale_only,
                  int64_t *deals, int64_t *amount, int64_t *no_amount)
{
	const funnel_layout *l;

	*deals = *amount = *no_amount = 0;
	if (!valid_funnel(c, q->funnel))
		return;
	l = &c->f[q->funnel];
	for (int s = 0; s < l->n_stages; s++) {
		if (!stage_selected(c, q->funnel, s, stage, presale_only))
			continue;
		*deals += sum(c, q, 1, l->open + s);
		*amount = se_add_sat(*amount, sum(c, q, 1, l->amount + s));
		*no_amount += sum(c, q, 1, l->no_amount + s);
	}
}

/* One manager's forecast in the filter: its amounts follow the filter's
 * source, its win rates are over every source (forecast.h). */
static se_money manager_forecast(const se_cube *c, const se_cube_filter *q, uint32_t m, const int64_t *team,
                                 se_money *mine)
{
	const funnel_layout *l = &c->f[q->funnel];
	const se_funnel *fn = &c->rules->funnels[q->funnel];
	se_cube_filter qm = { q->funnel, m, SE_CUBE_ANY, 0, 0 };
	int n = l->n_stages;
	se_money total = 0;
	int64_t at;
	walker w;

	memset(mine, 0, (size_t)n * 3 * sizeof *mine);
	walk_start(&w, c, &qm, 1);
	while ((at = walk_next(&w)) >= 0) {
		const int64_t *v = &c->counts[(size_t)at * c->width];
		int in_filter = q->source == SE_CUBE_ANY || (int64_t)c->keys[at].source == q->source;

		for (int s = 0; s < n; s++) {
			mine[s] += v[l->won_from + (size_t)s];
			mine[n + s] += v[l->closed + (size_t)s];
			if (in_filter)
				mine[2 * n + s] += v[l->amount + (size_t)s];
		}
	}
	for (int s = 0; s < n; s++) {
		se_win_rate r;

		if (!fn->stages[s].presale || mine[2 * n + s] == 0)
			continue;
		r = se_win_rate_pick((int64_t)mine[s], (int64_t)mine[n + s], team[2 * s], team[2 * s + 1]);
		total += se_forecast_part(mine[2 * n + s], &r);
	}
	return total;
}

int se_cube_forecast(const se_cube *c, const se_cube_filter *q, int64_t *out)
{
	const int64_t *team;
	se_money *mine, total = 0;
	int64_t at;

	*out = 0;
	if (!valid_funnel(c, q->funnel) || c->n_cells == 0)
		return SE_OK;
	if (!ensure_sorted(c) || (mine = calloc((size_t)c->f[q->funnel].n_stages * 3 + 1, sizeof *mine)) == NULL)
		return SE_ENOMEM;
	team = &c->team_rates[(size_t)q->funnel * (c->width + 1)];
	if (q->manager != SE_CUBE_ANY) {
		total = manager_forecast(c, q, (uint32_t)q->manager, team, mine);
	} else {
		/* every manager with open deals in the filter, each once: both
		 * orders list a bucket's (and a source's) managers ascending */
		int64_t last = -1;
		walker w;

		walk_start(&w, c, q, 1);
		while ((at = walk_next(&w)) >= 0) {
			uint32_t m = c->keys[at].manager;

			if ((int64_t)m == last)
				continue;
			last = m;
			total += manager_forecast(c, q, m, team, mine);
		}
	}
	free(mine);
	*out = se_money_to_int64(total);
	return SE_OK;
}

size_t se_cube_n_cells(const se_cube *c)
{
	return c->n_cells;
}

void se_cube_cell_key(const se_cube *c, size_t i, int *funnel, int64_t *bucket, uint32_t *manager,
                      uint32_t *source)
{
	*funnel = c->keys[i].funnel;
	*bucket = c->keys[i].bucket;
	*manager = c->keys[i].manager;
	*source = c->keys[i].source;
}
