/*
 * count.c: per-deal semantics (docs/METRICS.md sections 1-3).
 *
 * Status names are resolved to per-funnel codes once per report (a small
 * table indexed by status id), so evaluating a deal is one walk over its
 * few events with no hashing and no allocation.  Positions rather
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

/* The position of the deal's first event that resolves in some funnel,
 * that funnel (the first in script order it resolves in) in e->funnel
 * and its code in *code; the events before it get code 0.  n_events when
 * none resolves (e->funnel SE_NONE). */
static uint32_t find_funnel(const se_count_ctx *ctx, se_deal_eval *e, int64_t *code)
{
	e->funnel = SE_NONE;
	for (uint32_t i = 0; i < e->n_events; i++) {
		for (int f = 0; f < ctx->rules->n_funnels; f++)
			if ((*code = resolve(ctx, f, &e->ev[i])) != 0) {
				e->funnel = f;
				return i;
			}
		e->code[i] = 0;
	}
	return e->n_events;
}

/*
 * One walk over the events from the first that resolves (at first, its
 * code c) up to event n: each event's code in the deal's funnel, the first
 * event at each stage (touched), the first at it or beyond (reached), and
 * the state the last resolving event leaves the deal in.  Events come in
 * order, so reached[s] is the first event at a stage >= s: the stages up
 * to the highest seen so far are settled, and an event past it settles
 * those up to its own.  Entering the funnel at all is entering its first
 * stage, so reached[0] is the first resolving event.  A deal's current
 * stage, when its last status is lost or non-target, is the last stage it
 * stood at before (0 if none).  resolve: the codes are looked up and
 * written to out->code; else they are there already (a prefix of a deal
 * evaluated before).  Inlined into both callers, so the branch on resolve
 * is not taken at run time.
 */
static inline __attribute__((always_inline)) void walk(const se_count_ctx *ctx, se_deal_eval *out,
                                                       uint32_t first, int64_t c, uint32_t n, int resolve_codes)
{
	const se_funnel *f = &ctx->rules->funnels[out->funnel];
	const se_chunk_event *ev = out->ev;
	int64_t *code = out->code, last_code = c;
	int ns = f->n_stages, hi = 0, stage = 0;

	memset(out->touched, 0xff, (size_t)ns * sizeof out->touched[0]); /* SE_NONE everywhere */
	out->reached[0] = (int32_t)first;
	for (uint32_t i = first; i < n; i++) {
		if (!resolve_codes)
			c = code[i];
		else if (i > first)
			c = resolve(ctx, out->funnel, &ev[i]);
		if (c != 0)
			last_code = c;
		if (resolve_codes)
			code[i] = c;
		if (SE_STATUS_CLASS(c) != SE_CLASS_STAGE)
			continue;
		stage = SE_STATUS_STAGE(c);
		if (out->touched[stage] == SE_NONE)
			out->touched[stage] = (int32_t)i;
		while (hi < stage)
			out->reached[++hi] = (int32_t)i;
	}
	while (++hi < ns)
		out->reached[hi] = SE_NONE;
	if (SE_STATUS_CLASS(last_code) == SE_CLASS_STAGE) {
		out->stage = SE_STATUS_STAGE(last_code);
		out->state = out->stage >= f->won ? SE_DEAL_WON : SE_DEAL_OPEN;
		return;
	}
	out->state = SE_STATUS_CLASS(last_code) == SE_CLASS_LOST ? SE_DEAL_LOST : SE_DEAL_NONTARGET;
	out->stage = stage;
}

void se_count_deal(const se_count_ctx *ctx, const se_chunk_deal *d, const se_chunk_event *ev,
                   int64_t *scratch, se_deal_eval *out)
{
	uint32_t first;
	int64_t c;

	out->ev = ev;
	out->n_events = d->n_events;
	out->code = scratch;
	first = find_funnel(ctx, out, &c);
	if (out->funnel != SE_NONE)
		walk(ctx, out, first, c, d->n_events, 1);
}

/* The events before full's first resolving one (reached[0]) resolve in no
 * funnel, so the prefix's first resolving event, its funnel and every
 * code after are full's: only the walk is done again. */
void se_count_prefix(const se_count_ctx *ctx, const se_deal_eval *full, uint32_t n, se_deal_eval *out)
{
	out->ev = full->ev;
	out->n_events = n;
	out->code = full->code;
	out->funnel = full->funnel;
	if (full->funnel == SE_NONE || (uint32_t)full->reached[0] >= n) {
		out->funnel = SE_NONE;
		return;
	}
	walk(ctx, out, (uint32_t)full->reached[0], full->code[full->reached[0]], n, 0);
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
