/*
 * report.c: counting core -> aggregated report numbers.
 *
 * One pass over the packed deal histories: each deal is evaluated once by
 * count.c and its cohort events are added (aggregate.c) to per-funnel
 * grids (leads, every pair, sources), pre-sale sums and closed-deal win
 * counts.  The forecast needs each manager's historical win rate, but
 * because every deal of a (manager, stage) gets the same rate, summing
 * amounts during the pass and multiplying at the end is exact: no second
 * pass and no deal list.  Without diagnostics the pass reads what earlier
 * runs kept per chunk (partial.c) and counts only the chunks changed since;
 * with them it counts every deal's diagnostics, but the foundation only
 * after the longest kept prefix.
 * A plain pass shares its work with a second thread (worker.c): whole
 * chunks without diagnostics, their back half with them.
 *
 * Never: prints (format/ does), or reads events from SQL (core/store/ hands out
 * the packed chunks).
 */
#include "report.h"
#include "cube.h"
#include "family.h"
#include "partial.h"
#include "spend.h"
#include "store.h"
#include "timecast.h"
#include "timeconv.h"
#include "worker.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- the pass over deals ---------------------------------------------------- */

/* What metrics and rules may read of the diagnostics. */
#define SCRIPT_INSIGHTS (SE_REPORT_INSIGHTS & ~(unsigned)(SE_REPORT_BACKTEST | SE_REPORT_COMPARE))

typedef struct pass {
	se_report *rep;
	se_count_ctx ctx;
	int64_t *scratch;
	size_t scratch_cap;
	int nomem;
	se_worker *worker;           /* the pass's second thread, or NULL */
	se_report *worker_part;      /* what it counts of the foundation, or NULL */
	int64_t covered;             /* chunks below this id: their foundation
	                              * came from a stored prefix (prefix_open) */
	int split;                   /* enum se_split */
	unsigned turn;               /* SE_SPLIT_TURNS: chunks so far */
} pass;

/* ---- the pass through the stored partial aggregates ----------------------------- */

/*
 * Without diagnostics the pass is sums over deals (and two maxima), so
 * each chunk's share is counted once into a report of its own, stored
 * (partial.c, store/partial.c), and merged; a later run reads the stored
 * shares of the chunks that did not change and counts only the others.
 * The diagnostics keep per-deal lists and medians: a run that wants them
 * counts every deal (consume_chunk).
 */
typedef struct part_pass {
	pass *p;
	se_partials *ps;
	se_mode mode_override;
	uint64_t fp;                 /* the settings' fingerprint: in every partial's check */
	int damaged;                 /* a stored partial could not be read */
} part_pass;

/* An empty report with rep's settings, for the foundation counts of a
 * chunk or a segment. */
static int part_open(se_report **out, const se_report *rep, se_mode mode_override, se_error *err)
{
	se_report *r = calloc(1, sizeof *r);
	int rc;

	*out = NULL;
	if (r == NULL)
		return se_error_set(err, SE_ENOMEM, "out of memory");
	r->rules = rep->rules;
	r->tz = rep->tz; /* borrowed */
	r->period = rep->period;
	r->mode = rep->mode;
	r->reports = rep->reports;
	r->from_utc = rep->from_utc;
	r->to_utc = rep->to_utc;
	r->only_funnel = rep->only_funnel;
	r->n_manager = rep->n_manager;
	r->n_source = rep->n_source;
	r->n_status = rep->n_status;
	if ((rc = se_aggregate_alloc(r, mode_override, err)) != SE_OK ||
	    (rep->cube != NULL && (rc = se_cube_new(&r->cube, rep->rules, err)) != SE_OK)) {
		se_aggregate_free(r);
		free(r);
		return rc;
	}
	*out = r;
	return SE_OK;
}

static void part_close(se_report *r)
{
	if (r == NULL)
		return;
	se_aggregate_free(r);
	se_cube_free(r->cube);
	free(r);
}

/* A part's counts as bytes for key, the part freed; b->data NULL when
 * memory ran out. */
static int part_bytes(const part_pass *pp, se_report *r, int64_t key, se_pbuf *b, se_error *err)
{
	memset(b, 0, sizeof *b);
	se_partial_encode(r, pp->fp, key, b);
	part_close(r);
	if (b->nomem) {
		free(b->data);
		b->data = NULL;
		return se_error_set(err, SE_ENOMEM, "out of memory");
	}
	return SE_OK;
}

static int merge_bytes(part_pass *pp, se_report *into, int64_t key, const void *data, size_t size,
                       se_error *err)
{
	int rc = se_partial_merge(into, pp->fp, key, data, size);

	if (rc == SE_ENOMEM)
		return se_error_set(err, SE_ENOMEM, "out of memory merging the stored aggregates");
	if (rc != SE_OK) {
		pp->damaged = 1;
		return se_error_set(err, SE_EDB, "a stored partial aggregate is damaged");
	}
	return SE_OK;
}

/* Whether every id of the chunk is one this run knows: a chunk folded in
 * after the names were loaded may hold new ones, counted here under
 * "(none)" as the full pass would, but not to be kept for later runs. */
static int ids_known(const pass *p, const se_chunk_view *v)
{
	const se_chunk_event *ev = v->events;

	for (uint32_t i = 0; i < v->n_deals; i++) {
		const se_chunk_deal *d = &v->deals[i];

		if (d->manager >= p->rep->n_manager || d->source >= p->rep->n_source)
			return 0;
		for (uint32_t j = 0; j < d->n_events; j++)
			if (ev[j].status >= p->ctx.n_status || ev[j].pipeline >= p->ctx.n_pipeline)
				return 0;
		ev += d->n_events;
	}
	return 1;
}

/* Counts the deals of a chunk into the empty part `into`, as the full
 * pass counts them into the report. */
static int count_chunk(part_pass *pp, se_report *into, const void *blob, size_t size, int *known,
                       se_error *err)
{
	pass q = *pp->p;
	se_chunk_view v;
	const se_chunk_event *ev;
	int rc;

	if ((rc = se_history_view(blob, size, &v, err)) != SE_OK)
		return rc;
	q.rep = into;
	q.worker = NULL;
	q.nomem = 0;
	ev = v.events;
	for (uint32_t i = 0; i < v.n_deals && !q.nomem; i++) {
		const se_chunk_deal *d = &v.deals[i];
		se_deal_eval e;

		if (d->n_events > q.scratch_cap) {
			int64_t *ns = realloc(q.scratch, d->n_events * sizeof *ns);

			if (ns == NULL) {
				q.nomem = 1;
				break;
			}
			q.scratch = ns;
			q.scratch_cap = d->n_events;
		}
		se_count_deal(&q.ctx, d, ev, q.scratch, &e);
		se_aggregate_deal(q.rep, d, &e, &q.nomem);
		ev += d->n_events;
	}
	pp->p->scratch = q.scratch; /* the pass's buffer, grown or not */
	pp->p->scratch_cap = q.scratch_cap;
	*known = ids_known(pp->p, &v);
	return q.nomem ? se_error_set(err, SE_ENOMEM, "out of memory aggregating the report") : SE_OK;
}

/* A chunk's partial, stored or counted now (and kept), into the segment. */
static int chunk_into(part_pass *pp, se_report *seg, int64_t id, int *known, se_error *err)
{
	se_report *one;
	const void *data;
	size_t size;
	se_pbuf b;
	int rc, k = 1;

	if (se_partials_have(pp->ps, id)) {
		if ((rc = se_partials_get(pp->ps, id, &data, &size, err)) != SE_OK)
			return rc;
		return merge_bytes(pp, seg, id, data, size, err);
	}
	if ((rc = se_partials_chunk(pp->ps, id, &data, &size, err)) != SE_OK ||
	    (rc = part_open(&one, pp->p->rep, pp->mode_override, err)) != SE_OK)
		return rc;
	if ((rc = count_chunk(pp, one, data, size, &k, err)) != SE_OK) {
		part_close(one);
		return rc;
	}
	if ((rc = part_bytes(pp, one, id, &b, err)) != SE_OK)
		return rc;
	if ((rc = merge_bytes(pp, seg, id, b.data, b.len, err)) != SE_OK || !k) {
		free(b.data);
		*known = 0;
		return rc;
	}
	return se_partials_keep(pp->ps, id, b.data, b.len) == SE_OK ? SE_OK
	       : se_error_set(err, SE_ENOMEM, "out of memory");
}

/* A segment of chunks ids[0..n) into the report: its stored partial, else
 * the merge of its chunks' (kept as the segment's for the next run).
 * *known becomes 0 when the segment holds ids this run does not know. */
static int segment_into(part_pass *pp, const int64_t *ids, size_t n, int *known, se_error *err)
{
	se_report *rep = pp->p->rep, *seg;
	int64_t key = -1 - ids[0] / SE_PARTIAL_SEGMENT;
	const void *data;
	size_t size;
	se_pbuf b;
	int rc = SE_OK, k = 1;

	if (se_partials_have(pp->ps, key)) {
		if ((rc = se_partials_get(pp->ps, key, &data, &size, err)) != SE_OK)
			return rc;
		return merge_bytes(pp, rep, key, data, size, err);
	}
	if (!se_partials_can_keep(pp->ps)) {
		/* nothing will be kept: the chunks straight into the report, in
		 * the same order, as the plain pass counts them */
		for (size_t i = 0; i < n && rc == SE_OK; i++) {
			if (se_partials_have(pp->ps, ids[i])) {
				if ((rc = se_partials_get(pp->ps, ids[i], &data, &size, err)) == SE_OK)
					rc = merge_bytes(pp, rep, ids[i], data, size, err);
			} else if ((rc = se_partials_chunk(pp->ps, ids[i], &data, &size, err)) == SE_OK) {
				rc = count_chunk(pp, rep, data, size, &k, err);
			}
		}
		return rc;
	}
	if ((rc = part_open(&seg, rep, pp->mode_override, err)) != SE_OK)
		return rc;
	for (size_t i = 0; i < n; i++)
		if ((rc = chunk_into(pp, seg, ids[i], &k, err)) != SE_OK) {
			part_close(seg);
			return rc;
		}
	if ((rc = part_bytes(pp, seg, key, &b, err)) != SE_OK)
		return rc;
	*known &= k;
	if ((rc = merge_bytes(pp, rep, key, b.data, b.len, err)) != SE_OK || !k || !se_partials_can_keep(pp->ps)) {
		free(b.data);
		return rc;
	}
	return se_partials_keep(pp->ps, key, b.data, b.len) == SE_OK ? SE_OK
	       : se_error_set(err, SE_ENOMEM, "out of memory");
}

/* What the report holds so far (every segment before segment k), kept
 * as the prefix partial of k. */
static int keep_prefix(part_pass *pp, int64_t k, se_error *err)
{
	se_pbuf b = { 0 };

	if (!se_partials_can_keep(pp->ps) || k < 1 || se_partials_have(pp->ps, SE_PARTIAL_PREFIX - k))
		return SE_OK;
	se_partial_encode(pp->p->rep, pp->fp, SE_PARTIAL_PREFIX - k, &b);
	if (b.nomem || se_partials_keep(pp->ps, SE_PARTIAL_PREFIX - k, b.data, b.len) != SE_OK) {
		if (b.nomem)
			free(b.data);
		return se_error_set(err, SE_ENOMEM, "out of memory");
	}
	return SE_OK;
}

/* The longest stored prefix of the segments before `end`, merged into the
 * report; *from becomes its length in segments (0: none stored). */
static int merge_longest_prefix(part_pass *pp, int64_t end, int64_t *from, se_error *err)
{
	*from = 0;
	for (int64_t k = end; k >= 1; k--)
		if (se_partials_have(pp->ps, SE_PARTIAL_PREFIX - k)) {
			const void *data;
			size_t size;
			int rc = se_partials_get(pp->ps, SE_PARTIAL_PREFIX - k, &data, &size, err);

			if (rc == SE_OK)
				rc = merge_bytes(pp, pp->p->rep, SE_PARTIAL_PREFIX - k, data, size, err);
			*from = k;
			return rc;
		}
	return SE_OK;
}

/* The segments of the chunks, up to and including the last one's. */
static int64_t segments_end(const se_partials *ps)
{
	int64_t last = se_partials_last_chunk(ps);

	return last < 0 ? 0 : last / SE_PARTIAL_SEGMENT + 1;
}

/*
 * The chunks in segments, the segments in order.  The longest stored
 * prefix comes first (the whole store when nothing changed), then the
 * segments after it, each stored or merged from its chunks.  New counts
 * are kept: the chunks and segments counted, the prefixes up to the first
 * segment that changed and up to the last segment (imports of recent
 * events change the last segments, so the next run finds them), and the
 * whole.
 */
static int partial_pass(pass *p, se_store *st, se_mode mode_override, const char *zone, int *plain,
                        se_error *err)
{
	part_pass pp = { p, NULL, mode_override, se_partial_fingerprint(p->rep, &p->ctx, zone), 0 };
	const int64_t *ids = NULL;
	size_t n = 0, i = 0;
	int64_t end, from = 0;
	int rc, known = 1, changed = 0;

	*plain = 0;
	if ((rc = se_partials_open(st, pp.fp, &pp.ps, err)) != SE_OK)
		return rc;
	/* Nothing stored and nothing to keep (a read-only run before any
	 * writable one): the plain pass streams the chunks more cheaply. */
	if (!se_partials_any(pp.ps) && !se_partials_can_keep(pp.ps)) {
		*plain = 1;
		return se_partials_close(pp.ps, 0, err);
	}
	end = segments_end(pp.ps);
	rc = merge_longest_prefix(&pp, end, &from, err);
	if (rc == SE_OK)
		rc = se_partials_chunks(pp.ps, from * SE_PARTIAL_SEGMENT, &ids, &n, err);
	while (rc == SE_OK && i < n) {
		int64_t seg = ids[i] / SE_PARTIAL_SEGMENT;
		size_t j = i + 1;

		while (j < n && ids[j] / SE_PARTIAL_SEGMENT == seg)
			j++;
		if (!changed && !se_partials_have(pp.ps, -1 - seg)) {
			changed = 1;
			if (known && seg > from)
				rc = keep_prefix(&pp, seg, err);
		}
		if (rc == SE_OK && known && seg > from && seg == end - 1) /* recent deals change most */
			rc = keep_prefix(&pp, seg, err);
		if (rc == SE_OK)
			rc = segment_into(&pp, ids + i, j - i, &known, err);
		i = j;
	}
	if (rc == SE_OK && known && from < end)
		rc = keep_prefix(&pp, end, err);
	if (rc == SE_OK)
		rc = se_partials_close(pp.ps, 1, err);
	else
		se_partials_close(pp.ps, 0, NULL);
	if (rc != SE_OK && pp.damaged)
		se_store_partials_clear(st, NULL); /* counted afresh, and kept, next time */
	return rc;
}

/*
 * With diagnostics every deal is counted (their lists and medians are no
 * sums), but their foundation need not be: the longest stored prefix
 * gives it for the chunks it covers (p->covered), and the plain pass
 * counts there only the diagnostics, the rest as always.  *ps (NULL when
 * nothing is stored for these settings) holds its read transaction open
 * for the pass, so the prefix and the chunks are one snapshot; the caller
 * closes it after.  Nothing is kept: what a run keeps, it must count, and
 * counting the covered chunks' foundation is the work this spares.
 */
static int prefix_open(pass *p, se_store *st, se_mode mode_override, const char *zone, se_partials **ps,
                       se_error *err)
{
	part_pass pp = { p, NULL, mode_override, se_partial_fingerprint(p->rep, &p->ctx, zone), 0 };
	int64_t segments = 0;
	int rc;

	*ps = NULL;
	p->covered = 0;
	if ((rc = se_partials_open(st, pp.fp, &pp.ps, err)) != SE_OK)
		return rc;
	if (se_partials_any(pp.ps))
		rc = merge_longest_prefix(&pp, segments_end(pp.ps), &segments, err);
	if (rc != SE_OK || segments == 0) {
		se_partials_close(pp.ps, 0, NULL);
		if (rc != SE_OK && pp.damaged)
			se_store_partials_clear(st, NULL); /* counted afresh, and kept, next time */
		return rc;
	}
	p->covered = segments * SE_PARTIAL_SEGMENT;
	*ps = pp.ps;
	return SE_OK;
}

/* ---- the second thread --------------------------------------------------------- */

/*
 * Without diagnostics every number of the pass is a sum (or a latest
 * time, or a first deal) over deals, so the worker (worker.c) takes whole
 * chunks, those this thread hands over while it has room, and counts them
 * into a report of its own, merged after the pass: the two threads split
 * the deals, not the work on each deal.  With diagnostics it counts all
 * of them when there is a back half (channels, velocity, forecast,
 * backtest: always so when the script has metrics or rules, which may
 * read them); for handling and the diagnostics alone, evaluating and
 * copying deals over would cost this thread about what counting them
 * here does.  Which thread is the busier depends on the store (this
 * one's foundation is counted or read from a stored prefix) and the
 * reports, so this thread also hands it whole chunks whenever it has
 * nothing queued (whole_next): it evaluates those itself and counts
 * their foundation (and the cube) into its own report.  (On 1M deals,
 * --report all without a prefix: 0.47 -> 0.34 s; with one, 0.28 -> 0.27
 * s.)
 */
static se_worker *start_worker(pass *p, se_mode mode_override)
{
	se_report *rep = p->rep;
	int back = (rep->compute & (SE_REPORT_CHANNELS | SE_REPORT_VELOCITY | SE_REPORT_FORECAST | SE_REPORT_BACKTEST)) != 0;
	int whole = !(rep->compute & SE_REPORT_INSIGHTS);
	se_worker *w;

	p->worker_part = NULL;
	if (!whole && !back)
		return NULL;
	if (part_open(&p->worker_part, rep, mode_override, NULL) != SE_OK)
		return NULL;
	p->worker_part->skip_pairs = rep->skip_pairs;
	if (p->worker_part->cube != NULL)
		se_cube_index(p->worker_part->cube, rep->n_manager, rep->n_source);
	if ((w = se_worker_start(rep, &p->ctx, p->worker_part, whole)) == NULL) {
		part_close(p->worker_part);
		p->worker_part = NULL;
		return NULL;
	}
	return w;
}

/* Waits for the worker and merges its report into the pass's; returns
 * whether memory ran out. */
static int stop_worker(pass *p)
{
	int nomem = se_worker_stop(p->worker);

	p->worker = NULL;
	if (p->worker_part != NULL) {
		if (!nomem && se_aggregate_merge(p->rep, p->worker_part) != SE_OK)
			nomem = 1;
		part_close(p->worker_part);
		p->worker_part = NULL;
	}
	return nomem;
}

/* The diagnostics of deal i: here without a worker, else the evaluation
 * kept for the worker, which counts them. */
static int insight_here(pass *p, se_worker_job *job, uint32_t i, uint32_t ev, const se_deal_eval *e,
                        const se_chunk_deal *d)
{
	if (job == NULL)
		return se_insight_deal(p->rep, e, d);
	se_worker_keep(p->rep, job, i, ev, e);
	return SE_OK;
}

/* Whether to hand the next chunk to the worker whole, when it counts
 * every diagnostic: when it has nothing queued, so it would wait for
 * this thread (or as se_report_build_split says). */
static int whole_next(pass *p)
{
	switch (p->split) {
	case SE_SPLIT_KEPT:
		return 0;
	case SE_SPLIT_WHOLE:
		return 1;
	case SE_SPLIT_TURNS:
		return p->turn++ & 1;
	default:
		return se_worker_queued(p->worker) == 0;
	}
}

/* One chunk of the plain pass (v views buf's bytes).  A job for the worker
 * takes the chunk's buffer with it; its deals' codes are evaluated
 * straight into the job. */
static int consume_chunk(void *ud, se_chunk_buf *buf, const se_chunk_view *v, se_error *err)
{
	pass *p = ud;
	const se_chunk_event *ev;
	se_worker_job *job = NULL;
	/* a chunk's id is its deals' ids >> SE_CHUNK_SHIFT */
	int counted = v->n_deals > 0 && (int64_t)(v->deals[0].deal >> SE_CHUNK_SHIFT) < p->covered;

	if (p->worker != NULL && se_worker_whole(p->worker)) {
		/* whole chunks: to the worker while it has room, else here */
		if (se_worker_queued(p->worker) < SE_WORKER_QUEUE) {
			if ((job = se_worker_job_new(p->worker, buf, v, 1, 0)) == NULL)
				return se_error_set(err, SE_ENOMEM, "out of memory");
			se_worker_hand_over(p->worker, job);
			return SE_OK;
		}
	} else if (p->worker != NULL && whole_next(p)) {
		if ((job = se_worker_job_new(p->worker, buf, v, 1, counted)) == NULL)
			return se_error_set(err, SE_ENOMEM, "out of memory");
		se_worker_hand_over(p->worker, job);
		return SE_OK;
	} else if (p->worker != NULL && (job = se_worker_job_new(p->worker, buf, v, 0, 0)) == NULL) {
		return se_error_set(err, SE_ENOMEM, "out of memory");
	}
	ev = v->events;
	for (uint32_t i = 0; i < v->n_deals; i++) {
		const se_chunk_deal *d = &v->deals[i];
		int64_t *scratch = job != NULL ? se_worker_codes(job) : p->scratch;
		se_deal_eval e;

		if (job == NULL && d->n_events > p->scratch_cap) {
			int64_t *ns = realloc(p->scratch, d->n_events * sizeof *ns);

			if (ns == NULL)
				return se_error_set(err, SE_ENOMEM, "out of memory");
			scratch = p->scratch = ns;
			p->scratch_cap = d->n_events;
		}
		se_count_deal(&p->ctx, d, ev, scratch, &e);
		if ((counted ? se_aggregate_takes(p->rep, &e) : se_aggregate_deal(p->rep, d, &e, &p->nomem)) &&
		    insight_here(p, job, i, (uint32_t)(ev - v->events), &e, d) != SE_OK)
			p->nomem = 1;
		ev += d->n_events;
	}
	if (job != NULL)
		se_worker_hand_over(p->worker, job);
	if (p->nomem)
		return se_error_set(err, SE_ENOMEM, "out of memory aggregating the report");
	return SE_OK;
}

/* ---- setup ---------------------------------------------------------------- */

static const char *name_of(char **names, uint32_t n, uint32_t id)
{
	return id < n && names[id] != NULL ? names[id] : "(none)";
}

typedef struct name_list {
	char **names;
	uint32_t n;
} name_list;

static int by_name(const void *a, const void *b, void *ud)
{
	const name_list *l = ud;
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return strcmp(name_of(l->names, l->n, x), name_of(l->names, l->n, y));
}

static uint32_t *sorted_ids(char **names, uint32_t n)
{
	uint32_t *ids = malloc((n ? n : 1) * sizeof *ids);

	if (ids == NULL)
		return NULL;
	for (uint32_t i = 0; i < n; i++)
		ids[i] = i;
	name_list l = { names, n };

	qsort_r(ids, n, sizeof *ids, by_name, &l);
	return ids;
}

/* A local date as --from / --to take it: 2025-01-31, or 31.01.2025 as the
 * import reads it (Russian exports write dates that way). */
static int parse_day(const char *s, int64_t *days)
{
	int y, m, d;
	char extra;

	if (s == NULL || strlen(s) != 10)
		return SE_EUSAGE;
	if (!(sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &extra) == 3 && s[4] == '-' && s[7] == '-') &&
	    !(sscanf(s, "%2d.%2d.%4d%c", &d, &m, &y, &extra) == 3 && s[2] == '.' && s[5] == '.'))
		return SE_EUSAGE;
	if (m < 1 || m > 12 || d < 1 || d > se_days_in_month(y, m))
		return SE_EUSAGE;
	*days = se_days_from_civil(y, m, d);
	return SE_OK;
}

/* The date as labels print it, whatever form it was given in. */
static char *iso_day(int64_t days)
{
	char buf[32];
	int64_t y;
	int m, d;

	se_civil_from_days(days, &y, &m, &d);
	snprintf(buf, sizeof buf, "%04lld-%02d-%02d", (long long)y, m, d);
	return strdup(buf);
}

static int set_range(se_report *rep, const se_report_opts *o, se_error *err)
{
	int64_t days;

	rep->from_utc = INT64_MIN;
	rep->to_utc = INT64_MAX;
	if (o->from != NULL) {
		if (parse_day(o->from, &days) != SE_OK)
			return se_error_set(err, SE_EUSAGE, "--from: \"%s\" is not a date like 2025-01-31 or 31.01.2025",
			                    o->from);
		rep->from_utc = se_tz_local_to_utc(rep->tz, days * 86400);
		rep->from_day = days;
		if ((rep->from = iso_day(days)) == NULL)
			return se_error_set(err, SE_ENOMEM, "out of memory");
	}
	if (o->to != NULL) {
		if (parse_day(o->to, &days) != SE_OK)
			return se_error_set(err, SE_EUSAGE, "--to: \"%s\" is not a date like 2025-03-31 or 31.03.2025",
			                    o->to);
		rep->to_utc = se_tz_local_to_utc(rep->tz, (days + 1) * 86400);
		if ((rep->to = iso_day(days)) == NULL)
			return se_error_set(err, SE_ENOMEM, "out of memory");
	}
	if (rep->from_utc >= rep->to_utc)
		return se_error_set(err, SE_EUSAGE, "--from %s is after --to %s", o->from, o->to);
	return SE_OK;
}

static int build(se_report **out, se_store *st, const se_rules *rules, const se_report_opts *opts,
                 int script_insights, int split, se_error *err);

/* compare with --from: the bucket before the range's first one is read
 * from the store by a second, small report over just that bucket (the
 * foundation counts compare prints), so "previous" is what the store holds,
 * whatever the range. */
static int build_previous(se_report *rep, se_store *st, const se_report_opts *o, se_error *err)
{
	se_report_opts prev = *o;
	int64_t first = se_report_bucket(rep, rep->from_utc), start_day, end_day, y;
	char from[32], to[32];
	int m, d;

	if (!(rep->reports & SE_REPORT_COMPARE) || o->from == NULL || rep->period == SE_PERIOD_TOTAL)
		return SE_OK;
	/* the previous bucket's days: step back a day at a time past what is
	 * left of the first bucket before --from, then through the previous one */
	end_day = rep->from_day - 1;
	while (se_report_bucket(rep, se_tz_local_to_utc(rep->tz, end_day * 86400)) >= first)
		end_day--;
	start_day = end_day;
	while (se_report_bucket(rep, se_tz_local_to_utc(rep->tz, (start_day - 1) * 86400)) == first - 1)
		start_day--;
	se_civil_from_days(start_day, &y, &m, &d);
	snprintf(from, sizeof from, "%04lld-%02d-%02d", (long long)y, m, d);
	se_civil_from_days(end_day, &y, &m, &d);
	snprintf(to, sizeof to, "%04lld-%02d-%02d", (long long)y, m, d);
	prev.from = from;
	prev.to = to;
	prev.reports = rep->reports & (SE_REPORT_LEADS | SE_REPORT_CONVERSION | SE_REPORT_SOURCES | SE_REPORT_HANDLING);
	prev.reports |= SE_REPORT_LEADS; /* never 0: that would mean the defaults */
	prev.spend_csv = NULL;
	return build(&rep->previous, st, rep->rules, &prev, 0, SE_SPLIT_LOAD, err);
}

static int find_funnel(se_report *rep, const char *name, se_error *err)
{
	rep->only_funnel = SE_NONE;
	if (name == NULL)
		return SE_OK;
	for (int i = 0; i < rep->rules->n_funnels; i++)
		if (strcmp(rep->rules->funnels[i].name, name) == 0) {
			rep->only_funnel = i;
			return SE_OK;
		}
	return se_error_set(err, SE_EUSAGE, "--funnel: the script has no funnel named '%s'", name);
}

static int load_names(se_report *rep, se_store *st, char ***pipelines, uint32_t *n_pipeline,
                      se_error *err)
{
	int rc;

	if ((rc = se_store_names(st, SE_DICT_MANAGER, &rep->managers, &rep->n_manager, err)) != SE_OK ||
	    (rc = se_store_names(st, SE_DICT_SOURCE, &rep->sources, &rep->n_source, err)) != SE_OK ||
	    (rc = se_store_names(st, SE_DICT_STATUS, &rep->statuses, &rep->n_status, err)) != SE_OK ||
	    (rc = se_store_names(st, SE_DICT_PIPELINE, pipelines, n_pipeline, err)) != SE_OK)
		return rc;
	rep->manager_order = sorted_ids(rep->managers, rep->n_manager);
	rep->source_order = sorted_ids(rep->sources, rep->n_source);
	if (rep->manager_order == NULL || rep->source_order == NULL)
		return se_error_set(err, SE_ENOMEM, "out of memory");
	return SE_OK;
}

static int fetch_unknown_examples(se_report *rep, se_store *st, se_error *err)
{
	for (uint32_t s = 0; s < rep->n_status; s++) {
		char key[600];
		int rc;

		if (rep->unknown[s].events == 0)
			continue;
		if ((rc = se_store_deal_key(st, rep->unknown[s].example_deal, key, sizeof key, err)) != SE_OK)
			return rc;
		if ((rep->unknown_example[s] = strdup(key)) == NULL)
			return se_error_set(err, SE_ENOMEM, "out of memory");
	}
	return SE_OK;
}

static int resolve_settings(se_report *rep, const se_rules *rules, const se_report_opts *o,
                            int script_insights, se_error *err)
{
	const char *zone = o->timezone ? o->timezone : rules->timezone ? rules->timezone : "UTC";
	int rc;

	rep->rules = rules;
	rep->reports = o->reports ? o->reports : SE_REPORT_DEFAULT;
	/* Metrics and rules may read any diagnostic (but the backtest, which
	 * replays history and is for reading, not alerting), but most read
	 * none: they are computed once one asks (se_report_want_insights). */
	rep->compute = rep->reports;
	/* A printed diagnostic computes them all, as before: what the family
	 * of tests holds (family.c) must not depend on what a script read. */
	if ((rules->n_metrics > 0 || rules->n_alerts > 0) && (rep->reports & SE_REPORT_INSIGHTS))
		script_insights = 1;
	if (script_insights)
		rep->compute |= SCRIPT_INSIGHTS;
	rep->sla = se_rules_sla(rules);
	rep->stale_multiple = se_rules_stale_multiple(rules);
	rep->shrinkage = se_rules_shrinkage(rules);
	rep->horizon = se_rules_horizon(rules);
	rep->period = o->period != SE_PERIOD_DEFAULT ? o->period
	              : rules->period != SE_PERIOD_DEFAULT ? rules->period : SE_PERIOD_TOTAL;
	rep->mode = o->mode != SE_MODE_DEFAULT ? o->mode
	            : rules->mode != SE_MODE_DEFAULT ? rules->mode : SE_MODE_REACHED;
	rep->as_of = o->as_of != 0 ? o->as_of : (int64_t)time(NULL);
	if ((rc = se_tz_open(&rep->tz, zone, err)) != SE_OK) {
		se_error_prefix(err, "%s", o->timezone ? "--tz" : "settings timezone");
		return rc;
	}
	if ((rc = set_range(rep, o, err)) != SE_OK)
		return rc;
	return find_funnel(rep, o->funnel, err);
}

/* Once after the pass: the team's win rates from each stage (every
 * manager's part of the forecast falls back to them) and each manager's
 * and the team's counts on each pair over every bucket (the diagnostics
 * set every manager against them). */
static void sum_after_pass(se_report *rep)
{
	for (int i = 0; i < rep->rules->n_funnels; i++) {
		se_funnel_agg *a = &rep->agg[i];

		for (int p = 0; p < rep->rules->funnels[i].n_pairs; p++) {
			const se_grid *g = &a->pairs[p];
			se_pair_cell *sum = &a->pair_sums[(size_t)p * (rep->n_manager + 1)];

			for (int64_t k = g->lo; k < g->lo + g->nb; k++)
				for (uint32_t m = 0; m < rep->n_manager; m++) {
					const se_pair_cell *c = se_grid_at(g, k, m);

					if (c == NULL)
						continue;
					sum[m].from += c->from;
					sum[m].to += c->to;
					sum[rep->n_manager].from += c->from;
					sum[rep->n_manager].to += c->to;
				}
		}

		for (int s = 0; s < rep->rules->funnels[i].n_stages; s++) {
			const se_rate_cell *row = &a->rates[(size_t)s * rep->n_manager];

			for (uint32_t m = 0; m < rep->n_manager; m++) {
				a->team_rates[s].won += row[m].won;
				a->team_rates[s].closed += row[m].closed;
			}
		}
	}
}

/* The script's spend rows, copied: --spend rows are added after them. */
static int merge_spend(se_report *rep, se_error *err)
{
	for (size_t i = 0; i < rep->rules->n_spend; i++) {
		const se_spend *s = &rep->rules->spend[i];

		if (se_spend_add(&rep->spend, &rep->n_spend, s->source, s->month, s->kopecks) != SE_OK)
			return se_error_set(err, SE_ENOMEM, "out of memory");
	}
	return SE_OK;
}


/* The options a report was built with, kept (strings copied) to build it
 * again with the diagnostics. */
struct se_report_lazy {
	se_report_opts o;
	char *s[5];
};

static void lazy_free(struct se_report_lazy *l)
{
	if (l == NULL)
		return;
	for (int i = 0; i < 5; i++)
		free(l->s[i]);
	free(l);
}

static struct se_report_lazy *lazy_keep(const se_report_opts *o)
{
	struct se_report_lazy *l = calloc(1, sizeof *l);
	const char **f[5];

	if (l == NULL)
		return NULL;
	l->o = *o;
	f[0] = &l->o.from, f[1] = &l->o.to, f[2] = &l->o.timezone, f[3] = &l->o.funnel;
	f[4] = &l->o.spend_csv;
	for (int i = 0; i < 5; i++)
		if (*f[i] != NULL) {
			if ((l->s[i] = strdup(*f[i])) == NULL) {
				lazy_free(l);
				return NULL;
			}
			*f[i] = l->s[i];
		}
	return l;
}

/* Whether nothing this report builds reads the pairs' counts: only the
 * conversion, the diagnostics (each manager against the team, and the
 * family of tests over them), compare and the scripts' scopes do.  A
 * diagnostic report alone (velocity, forecast, backtest, channels,
 * handling) then skips a third of the first thread's work in the pass.
 * Never in the pass through kept partials, whose counts later runs of
 * other reports read: there the diagnostics are never computed. */
static int pairs_unread(const se_report *rep)
{
	return (rep->compute & SE_REPORT_INSIGHTS) &&
	       !(rep->compute & (SE_REPORT_CONVERSION | SE_REPORT_DIAGNOSTICS | SE_REPORT_COMPARE)) &&
	       rep->rules->n_metrics == 0 && rep->rules->n_alerts == 0 && rep->cube == NULL;
}

static int build_once(se_report **out, se_store *st, const se_rules *rules, const se_report_opts *opts,
                      int script_insights, int split, int use_state, se_error *err)
{
	static const se_report_opts defaults;
	const se_report_opts *o = opts ? opts : &defaults;
	se_report *rep = calloc(1, sizeof *rep);
	const char *zone = o->timezone ? o->timezone : rules->timezone ? rules->timezone : "UTC";
	char **pipelines = NULL;
	uint32_t n_pipeline = 0;
	int plain = 0;
	se_partials *prefix = NULL;
	pass p;
	int rc;

	*out = NULL;
	memset(&p, 0, sizeof p);
	if (rep == NULL)
		return se_error_set(err, SE_ENOMEM, "out of memory");
	if ((rc = resolve_settings(rep, rules, o, script_insights, err)) != SE_OK ||
	    (rc = load_names(rep, st, &pipelines, &n_pipeline, err)) != SE_OK ||
	    (rc = se_aggregate_alloc(rep, o->mode, err)) != SE_OK ||
	    ((rep->compute & SE_REPORT_BACKTEST) && (rc = se_store_last_ts(st, &rep->data_end, err)) != SE_OK) ||
	    ((rules->n_metrics > 0 || rules->n_alerts > 0) &&
	     (rc = se_cube_new(&rep->cube, rules, err)) != SE_OK) ||
	    (rc = se_insight_alloc(rep, err)) != SE_OK ||
	    (rc = merge_spend(rep, err)) != SE_OK ||
	    (o->spend_csv != NULL && (rc = se_spend_read(o->spend_csv, &rep->spend, &rep->n_spend, err)) != SE_OK) ||
	    (rc = se_count_ctx_init(&p.ctx, rules, rep->statuses, rep->n_status, pipelines,
	                            n_pipeline, err)) != SE_OK)
		goto out;
	p.rep = rep;
	p.split = split;
	rep->count_ctx = &p.ctx;
	if (rep->cube != NULL)
		se_cube_index(rep->cube, rep->n_manager, rep->n_source);
	if (use_state && !o->recount && !(rep->compute & SE_REPORT_INSIGHTS))
		rc = partial_pass(&p, st, o->mode, zone, &plain, err);
	else if (use_state && !o->recount)
		rc = prefix_open(&p, st, o->mode, zone, &prefix, err);
	if (rc == SE_OK && (!use_state || o->recount || (rep->compute & SE_REPORT_INSIGHTS) || plain)) {
		rep->skip_pairs = pairs_unread(rep);
		p.worker = start_worker(&p, o->mode);
		rc = se_store_each_chunk(st, consume_chunk, &p, err);
		if (p.worker != NULL && stop_worker(&p) && rc == SE_OK)
			rc = se_error_set(err, SE_ENOMEM, "out of memory aggregating the report");
	}
	se_partials_close(prefix, 0, NULL); /* only read: its transaction ends */
	rep->count_ctx = NULL;
	if (rc == SE_OK)
		sum_after_pass(rep);
	if (rc != SE_OK || (rc = fetch_unknown_examples(rep, st, err)) != SE_OK ||
	    (rc = se_insight_finish(rep, st, err)) != SE_OK ||
	    (rc = se_timecast_finish(rep, err)) != SE_OK ||
	    (rc = se_family_finish(rep, err)) != SE_OK ||
	    (rc = build_previous(rep, st, o, err)) != SE_OK)
		goto out;
	rep->store = st;
	if (!script_insights && (rules->n_metrics > 0 || rules->n_alerts > 0) &&
	    (rep->compute & SCRIPT_INSIGHTS) != SCRIPT_INSIGHTS && (rep->lazy = lazy_keep(o)) == NULL) {
		rc = se_error_set(err, SE_ENOMEM, "out of memory");
		goto out;
	}
	*out = rep;
out:
	se_count_ctx_free(&p.ctx);
	free(p.scratch);
	se_store_free_names(pipelines, n_pipeline);
	if (rc != SE_OK)
		se_report_free(rep);
	return rc;
}

/* A corrupt chunk met half-way makes the store rebuild the history cache
 * from the events; what was counted is no good then, so once more. */
/* Through the stored partials first: a chunk or partial that cannot be
 * read sends the report through the plain pass, which rebuilds a corrupt
 * cache (and a store error shows again there, from the plain pass). */
static int build(se_report **out, se_store *st, const se_rules *rules, const se_report_opts *opts,
                 int script_insights, int split, se_error *err)
{
	int rc = build_once(out, st, rules, opts, script_insights, split, 1, err);

	if (rc == SE_EDB) {
		se_error_clear(err);
		rc = build_once(out, st, rules, opts, script_insights, split, 0, err);
	}
	if (rc != SE_OK && se_store_cache_rebuilt(st)) {
		se_error_clear(err);
		rc = build_once(out, st, rules, opts, script_insights, split, 0, err);
	}
	return rc;
}

int se_report_build(se_report **out, se_store *st, const se_rules *rules,
                    const se_report_opts *opts, se_error *err)
{
	return build(out, st, rules, opts, 0, SE_SPLIT_LOAD, err);
}

int se_report_build_split(se_report **out, se_store *st, const se_rules *rules,
                          const se_report_opts *opts, int split, se_error *err)
{
	return build(out, st, rules, opts, 0, split, err);
}

/* The report is const to the scripts that read it: its numbers do not
 * change here, it only gains the diagnostics, so the cast is sound. */
int se_report_want_insights(const se_report *rep, se_error *err)
{
	se_report *r = (se_report *)rep, *fresh = NULL, tmp;
	se_report_opts o;
	se_metric_table *tables;
	int rc;

	if (r->lazy == NULL)
		return SE_OK;
	o = r->lazy->o;
	o.as_of = r->as_of; /* the same "now", had it been the clock */
	if ((rc = build(&fresh, r->store, r->rules, &o, 1, SE_SPLIT_LOAD, err)) != SE_OK)
		return rc;
	tables = r->metric_tables;
	r->metric_tables = NULL;
	tmp = *r;
	*r = *fresh;
	*fresh = tmp;
	r->metric_tables = tables;
	r->reports = fresh->reports; /* what to print stays the caller's */
	se_report_free(fresh);
	return SE_OK;
}

int se_report_alloc_metric_tables(se_report *rep, se_error *err)
{
	int n = rep->rules->n_funnels * rep->rules->n_metrics;

	if (rep->cube == NULL || n == 0)
		return SE_OK;
	if ((rep->metric_tables = calloc((size_t)n, sizeof *rep->metric_tables)) == NULL)
		return se_error_set(err, SE_ENOMEM, "out of memory");
	for (int i = 0; i < n; i++) {
		se_metric_table *t = &rep->metric_tables[i];
		int64_t lo, hi;
		size_t nm, ns;

		if (!se_cube_buckets(rep->cube, i / rep->rules->n_metrics, &lo, &hi))
			continue;
		t->lo = lo;
		t->nb = hi - lo + 1;
		nm = (size_t)t->nb * (rep->n_manager + 1);
		ns = (size_t)t->nb * (rep->n_source + 1);
		if ((t->by_manager = malloc(nm * sizeof(double))) == NULL ||
		    (t->by_source = malloc(ns * sizeof(double))) == NULL)
			return se_error_set(err, SE_ENOMEM, "out of memory");
		for (size_t j = 0; j < nm; j++)
			t->by_manager[j] = NAN;
		for (size_t j = 0; j < ns; j++)
			t->by_source[j] = NAN;
	}
	return SE_OK;
}

void se_report_free(se_report *rep)
{
	if (rep == NULL)
		return;
	se_insight_free(rep);
	se_report_free(rep->previous);
	se_aggregate_free(rep);
	for (int i = 0; rep->metric_tables && i < rep->rules->n_funnels * rep->rules->n_metrics; i++) {
		free(rep->metric_tables[i].by_manager);
		free(rep->metric_tables[i].by_source);
	}
	free(rep->metric_tables);
	se_cube_free(rep->cube);
	se_store_free_names(rep->managers, rep->n_manager);
	se_store_free_names(rep->sources, rep->n_source);
	se_store_free_names(rep->statuses, rep->n_status);
	free(rep->manager_order);
	free(rep->source_order);
	free(rep->from);
	free(rep->to);
	se_tz_free(rep->tz);
	lazy_free(rep->lazy);
	free(rep);
}
