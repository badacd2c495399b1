/*
 * count.h: the counting core: one deal's history read through the rules.
 *
 * Owns: the semantics of docs/METRICS.md sections 1-3 for a single deal:
 * which funnel it belongs to, when it first touched and first reached each
 * stage, where it is now, where it was lost, and whether it converted on a
 * pair.  Everything here is a pure function of (rules, status names, one
 * deal's packed events), so each rule is unit-tested on hand-made histories.
 *
 * Never: allocates per deal, touches SQLite or Lua, or aggregates (report.c
 * does that).
 */
#ifndef SE_COUNT_H
#define SE_COUNT_H

#include "history.h"
#include "rules.h"

/* Status ids (as stored) resolved per funnel, built once per report. */
typedef struct se_count_ctx {
	const se_rules *rules;
	uint32_t n_status;         /* status ids run 0..n_status-1 */
	int64_t *codes;            /* [funnel * n_status + status] = SE_STATUS_CODE or 0 */
	uint32_t n_pipeline;
	unsigned char *pipeline_ok; /* [funnel * n_pipeline + pipeline]: may resolve here */
} se_count_ctx;

/* status_names[id] / pipeline_names[id] as se_store_names() returns them. */
int se_count_ctx_init(se_count_ctx *ctx, const se_rules *rules, char **status_names,
                      uint32_t n_status, char **pipeline_names, uint32_t n_pipeline,
                      se_error *err);
void se_count_ctx_free(se_count_ctx *ctx);

enum se_deal_state {
	SE_DEAL_OPEN,       /* current status is a stage before won */
	SE_DEAL_WON,        /* current status is the won stage or later */
	SE_DEAL_LOST,
	SE_DEAL_NONTARGET
};

#define SE_NONE (-1)

typedef struct se_deal_eval {
	int funnel;                        /* SE_NONE: no event resolved */
	const se_chunk_event *ev;
	uint32_t n_events;
	/* Event positions (indexes into ev), SE_NONE when never: */
	int32_t touched[SE_MAX_STAGES];    /* first event at the stage */
	int32_t reached[SE_MAX_STAGES];    /* reached-or-beyond */
	int state;                         /* enum se_deal_state */
	int stage;                         /* open: current stage; lost/non-target: lost at */
	/* Per event: SE_STATUS_CODE in the deal's funnel, 0 = unknown.  Points
	 * into caller-provided scratch of n_events entries. */
	int64_t *code;
} se_deal_eval;

/* Evaluates one deal.  scratch must hold d->n_events entries. */
void se_count_deal(const se_count_ctx *ctx, const se_chunk_deal *d, const se_chunk_event *ev,
                   int64_t *scratch, se_deal_eval *out);

/* What se_count_deal gives for the first n events (n <= full->n_events)
 * of the deal full evaluated, from full's codes (no status is resolved
 * again): the deal as it stood then.  out's codes are full's. */
void se_count_prefix(const se_count_ctx *ctx, const se_deal_eval *full, uint32_t n, se_deal_eval *out);

/* Position of the event at which the deal reached stage s under mode. */
static inline int32_t se_count_reach(const se_deal_eval *e, int s, se_mode mode)
{
	return mode == SE_MODE_TOUCHED ? e->touched[s] : e->reached[s];
}

/* Conversion on a pair.  Returns the position of the deal's cohort event
 * (its arrival at `from`), or SE_NONE when it never got there; *converted
 * is the position of its first arrival at `to` after that, or SE_NONE when
 * there is none (or none within window seconds, when window > 0).  Inline:
 * the cube and the aggregates ask it for every pair of every deal in both
 * modes, and the usual answer is two loads. */
static inline int32_t se_count_pair(const se_deal_eval *e, int from, int to, se_mode mode,
                                    int64_t window, int32_t *converted)
{
	int32_t a = se_count_reach(e, from, mode);
	int32_t b = SE_NONE;

	*converted = SE_NONE;
	if (a == SE_NONE)
		return SE_NONE;
	if (mode == SE_MODE_TOUCHED) {
		/* The first arrival at `to` overall, when it is after a, is the
		 * first after a; only a deal back at `to` again needs the scan. */
		b = e->touched[to];
		if (b != SE_NONE && b <= a) {
			b = SE_NONE;
			for (uint32_t i = (uint32_t)a + 1; i < e->n_events; i++) {
				int64_t c = e->code[i];

				if (SE_STATUS_CLASS(c) == SE_CLASS_STAGE && SE_STATUS_STAGE(c) == to) {
					b = (int32_t)i;
					break;
				}
			}
		}
	} else {
		b = e->reached[to]; /* never before reached[from]: a superset's minimum */
	}
	if (b != SE_NONE && window > 0 && e->ev[b].ts - e->ev[a].ts > window)
		b = SE_NONE;
	*converted = b;
	return a;
}

/* Lead handling (docs/METRICS.md 4f).  lead is the position of the deal's
 * lead event; returns the position of its first move: the lead event itself
 * when it is not at the first stage, else the first later event whose
 * status is not the first stage; SE_NONE when the deal never left it. */
int32_t se_count_first_move(const se_deal_eval *e, int32_t lead);

/* A stay se_count_stays lists: at stage `stage`, from event `first` (the
 * one that began it) to event `end` (the next resolving event not at the
 * stage; e->n_events while the stay lasts). */
typedef void (*se_stay_fn)(void *ud, int stage, uint32_t first, uint32_t end);

/* Stays in stages (docs/METRICS.md 4h).  A stay in stage s runs from an
 * event at s that follows an event not at s (or none) to the next event
 * not at s.  Returns the stages s < n (n <= SE_MAX_STAGES) where the deal
 * has a finished stay, bit s; for those latest[s] = duration of its last
 * finished stay there, total[s] = sum of its finished stays (the other
 * entries are not written).  *current is the stage of the unfinished stay
 * the deal is in now (SE_NONE when its current status is not a stage) and
 * *since the time that stay began.  When fn is not NULL it gets, in
 * order, every stay (the unfinished one too) at a stage of `list` (bit s
 * for stage s < n): what a second walk over the events would find.
 * Inline: the diagnostics call it for every deal, and fn, known where it
 * is called, is inlined with it. */
static inline uint64_t se_count_stays(const se_deal_eval *e, int n, int64_t *latest, int64_t *total,
                                      int *current, int64_t *since, uint64_t list, se_stay_fn fn, void *ud)
{
	int cur = SE_NONE;   /* stage of the stay in progress, SE_NONE: not at a stage */
	int64_t start = 0;
	uint32_t first = 0;  /* its first event */
	uint64_t done = 0;   /* a bit a stage with a finished stay: nothing to clear first */

	if (fn == NULL)
		list = 0;
	for (uint32_t i = 0; i < e->n_events; i++) {
		int64_t c = e->code[i];
		int at;

		if (c == 0)
			continue;
		at = SE_STATUS_CLASS(c) == SE_CLASS_STAGE ? SE_STATUS_STAGE(c) : SE_NONE;
		if (at == cur)
			continue;
		if (cur != SE_NONE && cur < n) {
			int64_t d = e->ev[i].ts - start;
			uint64_t bit = (uint64_t)1 << cur;

			latest[cur] = d;
			total[cur] = (done & bit ? total[cur] : 0) + d;
			done |= bit;
			if (list & bit)
				fn(ud, cur, first, i);
		}
		cur = at;
		start = e->ev[i].ts;
		first = i;
	}
	if (cur != SE_NONE && cur < n && (list & (uint64_t)1 << cur))
		fn(ud, cur, first, e->n_events);
	*current = cur;
	*since = start;
	return done;
}

#endif
