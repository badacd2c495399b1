/*
 * count.c: per-deal semantics (docs/METRICS.md sections 1-3).
 *
 * Status names are resolved to per-funnel codes once per report (a small
 * table indexed by status id), so evaluating a deal is a couple of passes
 * over its few events with no hashing and no allocation.  Positions rather
 * than timestamps are compared everywhere: events are already in (ts,
 * event_id) order, so "after" is simply "later in the array", ties
 * included.
 */
#include "count.h"

#include <stdlib.h>
#include <string.h>

int se_count_ctx_init(se_count_ctx *ctx, const se_rules *rules, char **status_names,
                      uint32_t n_status, char **pipeline_names, uint32_t n_pipeline,
                      se_error *err)
{
	size_t nf = (size_t)rules->n_funnels;

	memset(ctx, 0, sizeof *ctx);
	ctx->rules = rules;
	ctx->n_status = n_status ? n_status : 1;
	ctx->n_pipeline = n_pipeline ? n_pipeline : 1;
	ctx->codes = calloc(nf * ctx->n_status, sizeof *ctx->codes);
	ctx->pipeline_ok = calloc(nf * ctx->n_pipeline, 1);
	if (ctx->codes == NULL || ctx->pipeline_ok == NULL) {
		se_count_ctx_free(ctx);
		return se_error_set(err, SE_ENOMEM, "out of memory");
	}
	for (size_t f = 0; f < nf; f++) {
		const se_funnel *fn = &rules->funnels[f];

		for (uint32_t id = 1; id < n_status; id++) {
			int64_t code;

			if (status_names[id] != NULL &&
			    se_strmap_get(fn->statuses, status_names[id], strlen(status_names[id]), &code))
				ctx->codes[f * ctx->n_status + id] = code;
		}
		for (uint32_t id = 0; id < ctx->n_pipeline; id++) {
			int ok = fn->n_pipelines == 0 || id == 0;

			for (int k = 0; !ok && k < fn->n_pipelines; k++)
				ok = pipeline_names[id] != NULL && strcmp(pipeline_names[id], fn->pipelines[k]) == 0;
			ctx->pipeline_ok[f * ctx->n_pipeline + id] = (unsigned char)ok;
		}
	}
	return SE_OK;
}

void se_count_ctx_free(se_count_ctx *ctx)
{
	free(ctx->codes);
	free(ctx->pipeline_ok);
	ctx->codes = NULL;
	ctx->pipeline_ok = NULL;
}

/* The event's code in funnel f, or 0 if it does not resolve there. */
static int64_t resolve(const se_count_ctx *ctx, int f, const se_chunk_event *ev)
{
	if (ev->status >= ctx->n_status || ev->pipeline >= ctx->n_pipeline)
		return 0;
	if (!ctx->pipeline_ok[(size_t)f * ctx->n_pipeline + ev->pipeline])
		return 0;
	return ctx->codes[(size_t)f * ctx->n_status + ev->status];
}

/* A deal's funnel is the first (in script order) its earliest resolving
 * event resolves in; from then on events are read in that funnel only. */
static void resolve_events(const se_count_ctx *ctx, se_deal_eval *e)
{
	e->funnel = SE_NONE;
	for (uint32_t i = 0; i < e->n_events; i++) {
		e->code[i] = 0;
		if (e->funnel != SE_NONE) {
			e->code[i] = resolve(ctx, e->funnel, &e->ev[i]);
			continue;
		}
		for (int f = 0; f < ctx->rules->n_funnels; f++) {
			int64_t c = resolve(ctx, f, &e->ev[i]);

			if (c != 0) {
				e->funnel = f;
				e->code[i] = c;
				break;
			}
		}
	}
}

static int32_t earlier(int32_t a, int32_t b)
{
	if (a == SE_NONE)
		return b;
	if (b == SE_NONE)
		return a;
	return a < b ? a : b;
}

static void find_stage_arrivals(se_deal_eval *e, int n_stages, int32_t *first, int32_t *last)
{
	*first = *last = SE_NONE;
	for (int s = 0; s < n_stages; s++)
		e->touched[s] = e->reached[s] = SE_NONE;
	for (uint32_t i = 0; i < e->n_events; i++) {
		int64_t c = e->code[i];

		if (c == 0)
			continue;
		if (*first == SE_NONE)
			*first = (int32_t)i;
		*last = (int32_t)i;
		if (SE_STATUS_CLASS(c) == SE_CLASS_STAGE && e->touched[SE_STATUS_STAGE(c)] == SE_NONE)
			e->touched[SE_STATUS_STAGE(c)] = (int32_t)i;
	}
	/* reached(s) = earliest touched(s') over s' >= s. */
	e->reached[n_stages - 1] = e->touched[n_stages - 1];
	for (int s = n_stages - 2; s >= 0; s--)
		e->reached[s] = earlier(e->touched[s], e->reached[s + 1]);
	/* Entering the funnel at all is entering its first stage. */
	e->reached[0] = earlier(e->reached[0], *first);
}

static void find_current_state(se_deal_eval *e, const se_funnel *f, int32_t last)
{
	int64_t c = e->code[last];
	int cls = SE_STATUS_CLASS(c);

	if (cls == SE_CLASS_STAGE) {
		e->stage = SE_STATUS_STAGE(c);
		e->state = e->stage >= f->won ? SE_DEAL_WON : SE_DEAL_OPEN;
		return;
	}
	e->state = cls == SE_CLASS_LOST ? SE_DEAL_LOST : SE_DEAL_NONTARGET;
	e->stage = 0;
	for (int32_t i = last - 1; i >= 0; i--) {
		if (SE_STATUS_CLASS(e->code[i]) == SE_CLASS_STAGE) {
			e->stage = SE_STATUS_STAGE(e->code[i]);
			break;
		}
	}
}

void se_count_deal(const se_count_ctx *ctx, const se_chunk_deal *d, const se_chunk_event *ev,
                   int64_t *scratch, se_deal_eval *out)
{
	const se_funnel *f;
	int32_t first, last;

	out->ev = ev;
	out->n_events = d->n_events;
	out->code = scratch;
	resolve_events(ctx, out);
	if (out->funnel == SE_NONE)
		return;
	f = &ctx->rules->funnels[out->funnel];
	find_stage_arrivals(out, f->n_stages, &first, &last);
	find_current_state(out, f, last);
}

int32_t se_count_first_move(const se_deal_eval *e, int32_t lead)
{
	int64_t c = e->code[lead];

	if (SE_STATUS_CLASS(c) != SE_CLASS_STAGE || SE_STATUS_STAGE(c) != 0)
		return lead;
	for (uint32_t i = (uint32_t)lead + 1; i < e->n_events; i++) {
		c = e->code[i];
		if (c != 0 && (SE_STATUS_CLASS(c) != SE_CLASS_STAGE || SE_STATUS_STAGE(c) != 0))
			return (int32_t)i;
	}
	return SE_NONE;
}

uint64_t se_count_stays(const se_deal_eval *e, int n, int64_t *latest, int64_t *total, int *current,
                        int64_t *since, uint64_t list, se_stay_fn fn, void *ud)
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
