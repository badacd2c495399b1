/*
 * worker.h: the report pass's second thread.
 *
 * Owns: the thread, the queue of chunks handed to it (each the buffer
 * the store read the chunk into, taken along, and the evaluations of the
 * deals it counts, trimmed to their funnel's stages), the buffers it gives
 * the store back, and what it counts from them: whole chunks into a
 * report of its own (a pass without diagnostics), or every diagnostic
 * (insight.c) of the deals the first thread evaluated, and of whole
 * chunks (their foundation into its own report).  What goes where is report.c's choice; merging the worker's
 * report into the pass's is report.c's too.
 *
 * Never: reads the store, touches what the first thread counts into
 * (rep's foundation, its bucket cache), or decides how the work is split.
 */
#ifndef SE_WORKER_H
#define SE_WORKER_H

#include "report.h"
#include "store.h"

/* Chunks handed over and not yet taken: handing over one more waits. */
#define SE_WORKER_QUEUE 2

typedef struct se_worker se_worker;
typedef struct se_worker_job se_worker_job;

/* Starts the thread for the pass of rep.  whole: its jobs are all whole
 * chunks.  part: an empty report of rep's settings, where the foundation
 * of whole chunks goes.  ctx is shared, read only.  NULL when no thread
 * could be had (the pass is then all the caller's). */
se_worker *se_worker_start(se_report *rep, const se_count_ctx *ctx, se_report *part, int whole);
/* Waits for the last job and frees the worker; returns 1 when memory ran
 * out in the thread (its counts are incomplete), else 0. */
int se_worker_stop(se_worker *w);

int se_worker_whole(const se_worker *w);
/* Jobs handed over and not yet taken now. */
int se_worker_queued(se_worker *w);

/* A job for a chunk (its view v): takes the chunk's buffer from the
 * store, giving back a buffer the worker is done with (or NULL), and, but
 * for whole chunks, makes room for every deal's evaluation.  whole (always
 * so for a worker started whole): the worker evaluates the chunk's deals
 * itself; with diagnostics it counts their foundation into its part,
 * unless counted (a stored prefix has it), and their diagnostics into
 * rep.  NULL when memory ran out (buf untouched). */
se_worker_job *se_worker_job_new(se_worker *w, se_chunk_buf *buf, const se_chunk_view *v, int whole,
                                 int counted);
/* Where the next kept deal's codes go: evaluating a deal with this as its
 * scratch saves se_worker_keep() copying them. */
int64_t *se_worker_codes(se_worker_job *j);
/* Keeps deal i of the job's chunk (its first event at index ev, its
 * funnel one) with its evaluation, for the worker to count. */
void se_worker_keep(const se_report *rep, se_worker_job *j, uint32_t i, uint32_t ev,
                    const se_deal_eval *e);
/* Queues the job (waiting while SE_WORKER_QUEUE are); the worker owns it. */
void se_worker_hand_over(se_worker *w, se_worker_job *j);
/* A job not handed over. */
void se_worker_job_free(se_worker_job *j);

#endif
