/*
 * worker.c: the report pass's second thread (worker.h).
 *
 * When diagnostics are asked for, they run here (durations, handling,
 * replays for the backtest: more than half the work), a chunk behind the
 * first thread.  The first thread counts the foundation reports (and the
 * cube) and hands over each chunk (the store's buffer itself, swapped for
 * one this thread is done with: the chunks are never copied) with the
 * evaluations of its deals, their codes evaluated in place and the rest
 * trimmed to the funnel's stages (the evaluation's fixed arrays would be
 * half a kilobyte a deal); this thread counts the diagnostics from them.
 * The two write disjoint parts of the report (the diagnostics only
 * rep->agg[].in and their own bucket cache), and both only read the rules
 * and the counting context.  When this thread has nothing queued, the
 * first hands it the next chunk whole instead: it is evaluated here and
 * its foundation counted into a report of the worker's own, which the
 * first thread merges into its own after the pass; the first thread
 * spends nothing on it, so the two threads even out, whichever share is
 * the heavier on the store.  Without diagnostics every job is such a
 * whole chunk.
 */
#include "worker.h"
#include "vec.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* What the worker needs of a deal's evaluation, without the evaluation's
 * fixed-size arrays: its positions live in pos[], its codes in codes[]. */
typedef struct kept_deal {
	uint32_t deal;               /* index in the chunk */
	uint32_t ev;                 /* its first event's index in the chunk */
	uint32_t pos, code;          /* offsets into the job's pos[] and codes[] */
	int32_t funnel, state, stage;
} kept_deal;

struct se_worker_job {
	se_worker_job *next;
	int whole;                   /* evaluated here (se_worker_job_new) */
	int counted;                 /* whole, its foundation in a stored prefix */
	void *blob;                  /* the chunk's bytes, taken from the store */
	se_chunk_view view;          /* the deals and events in blob */
	kept_deal *kept;             /* the deals counted here, in chunk order */
	uint32_t n_kept;
	int32_t *pos;                /* touched[0..S), reached[0..S) per kept deal */
	size_t n_pos;
	int64_t *codes;
	size_t n_codes;
	size_t cap_blob, cap_deals, cap_events, cap_pos; /* room in blob, kept, codes, pos */
	int short_funnels;           /* every funnel has at most SHORT stages */
};

/* Funnels of at most this many stages (nearly all) have their positions
 * copied SHORT at a time, a size the compiler copies in two moves, where
 * a deal's own number of stages is a call to memcpy each way. */
#define SHORT 8

/* Deal's touched[] and reached[] from e to dst (2n positions), or back. */
static inline void pos_out(int32_t *dst, const se_deal_eval *e, int n, int short_funnels)
{
	if (short_funnels) {
		memcpy(dst, e->touched, SHORT * sizeof e->touched[0]);
		memcpy(dst + n, e->reached, SHORT * sizeof e->reached[0]);
	} else {
		memcpy(dst, e->touched, (size_t)n * sizeof e->touched[0]);
		memcpy(dst + n, e->reached, (size_t)n * sizeof e->reached[0]);
	}
}

static inline void pos_in(se_deal_eval *e, const int32_t *src, int n, int short_funnels)
{
	if (short_funnels) {
		memcpy(e->touched, src, SHORT * sizeof e->touched[0]);
		memcpy(e->reached, src + n, SHORT * sizeof e->reached[0]);
	} else {
		memcpy(e->touched, src, (size_t)n * sizeof e->touched[0]);
		memcpy(e->reached, src + n, (size_t)n * sizeof e->reached[0]);
	}
}

struct se_worker {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	se_worker_job *head, *tail;
	se_worker_job *spare;        /* jobs done with, for the next chunks: their
	                              * buffers are reused, not faulted in anew */
	int queued;
	int closed;                  /* no more jobs */
	int nomem;
	se_report *rep;
	/* whole: the jobs are whole chunks (holding only the chunk), counted
	 * into part, the caller's report of the worker's own. */
	se_report *part;
	int whole;
	const se_count_ctx *ctx;
	int64_t *scratch;
	size_t scratch_cap;
};

void se_worker_job_free(se_worker_job *j)
{
	if (j == NULL)
		return;
	free(j->blob);
	free(j->kept);
	free(j->pos);
	free(j->codes);
	free(j);
}

/* A chunk handed over whole: each deal's foundation counted into the
 * worker's report (but for a counted chunk), as consume_chunk counts the
 * others into the pass's, and with diagnostics, the deal's into rep. */
static int whole_chunk(se_worker *w, const se_worker_job *j)
{
	const se_chunk_view *v = &j->view;
	const se_chunk_event *ev = v->events;
	int nomem = 0;

	for (uint32_t i = 0; i < v->n_deals && !nomem; i++) {
		const se_chunk_deal *d = &v->deals[i];
		se_deal_eval e;

		if (SE_VEC_RESERVE(w->scratch, w->scratch_cap, d->n_events, 64) != SE_OK)
			return SE_ENOMEM;
		se_count_deal(w->ctx, d, ev, w->scratch, &e);
		if (!j->counted)
			se_aggregate_deal(w->part, d, &e, &nomem);
		if (!w->whole && se_aggregate_takes(w->rep, &e) && se_insight_deal(w->rep, &e, d) != SE_OK)
			nomem = 1;
		ev += d->n_events;
	}
	return nomem ? SE_ENOMEM : SE_OK;
}

/* The worker's share of one chunk: each kept deal's evaluation rebuilt
 * from the trimmed copy and counted; 0, or SE_ENOMEM. */
static int worker_chunk(se_worker *w, const se_worker_job *j)
{
	se_report *rep = w->rep;
	const se_chunk_view *v = &j->view;

	if (j->whole)
		return whole_chunk(w, j);
	for (uint32_t i = 0; i < j->n_kept; i++) {
		const kept_deal *k = &j->kept[i];
		const se_chunk_deal *d = &v->deals[k->deal];
		int n = rep->rules->funnels[k->funnel].n_stages;
		se_deal_eval e;

		e.funnel = k->funnel;
		e.ev = v->events + k->ev;
		e.n_events = d->n_events;
		pos_in(&e, j->pos + k->pos, n, j->short_funnels);
		e.state = k->state;
		e.stage = k->stage;
		e.code = (int64_t *)(j->codes + k->code);
		if (se_insight_deal(rep, &e, d) != SE_OK)
			return SE_ENOMEM;
	}
	return SE_OK;
}

static void *worker_main(void *arg)
{
	se_worker *w = arg;

	for (;;) {
		se_worker_job *j;

		pthread_mutex_lock(&w->mu);
		while (w->head == NULL && !w->closed)
			pthread_cond_wait(&w->cv, &w->mu);
		if ((j = w->head) == NULL) {
			pthread_mutex_unlock(&w->mu);
			return NULL;
		}
		w->head = j->next;
		if (w->head == NULL)
			w->tail = NULL;
		w->queued--;
		pthread_cond_broadcast(&w->cv);
		pthread_mutex_unlock(&w->mu);
		if (!w->nomem && worker_chunk(w, j) != SE_OK)
			w->nomem = 1; /* read by the first thread only after the join */
		pthread_mutex_lock(&w->mu);
		j->next = w->spare;
		w->spare = j;
		pthread_mutex_unlock(&w->mu);
	}
}

void se_worker_hand_over(se_worker *w, se_worker_job *j)
{
	pthread_mutex_lock(&w->mu);
	while (w->queued >= SE_WORKER_QUEUE)
		pthread_cond_wait(&w->cv, &w->mu);
	if (w->tail != NULL)
		w->tail->next = j;
	else
		w->head = j;
	w->tail = j;
	w->queued++;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

int se_worker_queued(se_worker *w)
{
	int n;

	pthread_mutex_lock(&w->mu);
	n = w->queued;
	pthread_mutex_unlock(&w->mu);
	return n;
}

se_worker *se_worker_start(se_report *rep, const se_count_ctx *ctx, se_report *part, int whole)
{
	se_worker *w = calloc(1, sizeof *w);

	if (w == NULL)
		return NULL;
	w->rep = rep;
	w->part = part;
	w->whole = whole;
	w->ctx = ctx;
	if (pthread_mutex_init(&w->mu, NULL) != 0)
		goto fail;
	if (pthread_cond_init(&w->cv, NULL) != 0) {
		pthread_mutex_destroy(&w->mu);
		goto fail;
	}
	if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
		pthread_cond_destroy(&w->cv);
		pthread_mutex_destroy(&w->mu);
		goto fail;
	}
	return w;
fail:
	free(w);
	return NULL;
}

int se_worker_stop(se_worker *w)
{
	int nomem;

	pthread_mutex_lock(&w->mu);
	w->closed = 1;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	while (w->head != NULL) { /* only after an early stop */
		se_worker_job *j = w->head;

		w->head = j->next;
		se_worker_job_free(j);
	}
	while (w->spare != NULL) {
		se_worker_job *j = w->spare;

		w->spare = j->next;
		se_worker_job_free(j);
	}
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	nomem = w->nomem;
	free(w->scratch);
	free(w);
	return nomem;
}

int se_worker_whole(const se_worker *w)
{
	return w->whole;
}

/* Room for n elements of size elem in the array at p (a T **), its
 * capacity *cap: se_vec_reserve, doubling from what the job had. */
static int grow(void *p, size_t *cap, size_t n, size_t elem)
{
	return se_vec_reserve(p, cap, n, elem, 0, 0) == SE_OK ? 0 : -1;
}

/* Gives the job the chunk's buffer, and the store the job's old one (the
 * next chunk is read into it): the bytes change hands, not places. */
static void take_chunk(se_worker_job *j, se_chunk_buf *buf, const se_chunk_view *v)
{
	void *old = j->blob;
	size_t cap = j->cap_blob;

	j->blob = buf->data;
	j->cap_blob = buf->cap;
	j->view = *v;
	buf->data = old;
	buf->cap = cap;
}

/* A job for the worker: the chunk's buffer and room for its deals'
 * trimmed evaluations; a spare one the worker is done with when there is. */
se_worker_job *se_worker_job_new(se_worker *w, se_chunk_buf *buf, const se_chunk_view *v, int whole,
                                 int counted)
{
	const se_report *rep = w->rep;
	se_worker_job *j;
	size_t events = v->n_events, deals = v->n_deals ? v->n_deals : 1;
	int stages = 1;

	pthread_mutex_lock(&w->mu);
	if ((j = w->spare) != NULL)
		w->spare = j->next;
	pthread_mutex_unlock(&w->mu);
	if (j == NULL && (j = calloc(1, sizeof *j)) == NULL)
		return NULL;
	j->next = NULL;
	j->n_kept = 0;
	j->n_pos = j->n_codes = 0;
	j->whole = whole || w->whole;
	j->counted = counted && !w->whole;
	if (j->whole) { /* the worker evaluates its deals */
		take_chunk(j, buf, v);
		return j;
	}
	for (int f = 0; f < rep->rules->n_funnels; f++)
		if (rep->rules->funnels[f].n_stages > stages)
			stages = rep->rules->funnels[f].n_stages;
	j->short_funnels = stages <= SHORT;
	/* pos: 2 * stages a deal at most, and room for the last deal's
	 * reached[] copied SHORT at a time */
	if (grow(&j->codes, &j->cap_events, events ? events : 1, sizeof *j->codes) != 0 ||
	    grow(&j->pos, &j->cap_pos, 2 * (size_t)stages * deals + SHORT, sizeof *j->pos) != 0 ||
	    grow(&j->kept, &j->cap_deals, deals, sizeof *j->kept) != 0) {
		se_worker_job_free(j);
		return NULL;
	}
	take_chunk(j, buf, v);
	return j;
}

int64_t *se_worker_codes(se_worker_job *j)
{
	return j->codes + j->n_codes;
}

/* Keeps what the worker needs of deal i's evaluation (event index ev);
 * insight: the diagnostics count it. */
void se_worker_keep(const se_report *rep, se_worker_job *j, uint32_t i, uint32_t ev,
                    const se_deal_eval *e)
{
	kept_deal *k = &j->kept[j->n_kept++];
	int n = rep->rules->funnels[e->funnel].n_stages;

	k->deal = i;
	k->ev = ev;
	k->pos = (uint32_t)j->n_pos;
	k->code = (uint32_t)j->n_codes;
	k->funnel = e->funnel;
	k->state = e->state;
	k->stage = e->stage;
	pos_out(j->pos + j->n_pos, e, n, j->short_funnels);
	j->n_pos += 2 * (size_t)n;
	if (e->code != j->codes + j->n_codes) /* evaluated elsewhere than se_worker_codes() */
		memcpy(j->codes + j->n_codes, e->code, e->n_events * sizeof e->code[0]);
	j->n_codes += e->n_events;
}
