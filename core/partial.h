/*
 * partial.h: a chunk's share of the foundation pass, kept between runs.
 *
 * Owns: turning the foundation aggregates one chunk of deals produced
 * (deal counters, unknown statuses, the leads, sources and pair grids,
 * pre-sale and rate cells, the cube) into bytes, adding such bytes into a
 * report, and the fingerprint of everything those numbers depend on.  All
 * of them are sums, but two: a pair cell's latest cohort (a maximum) and
 * an unknown status's example deal (the first in deal order, so partials
 * are merged in chunk order); so the merge of every chunk's partial is
 * the pass over all the deals, whatever was computed when.
 *
 * Never: reads or writes the store (report.c hands the bytes to
 * store/partial.c), or keeps anything of a deal.
 */
#ifndef SE_PARTIAL_H
#define SE_PARTIAL_H

#include "count.h"
#include "pbuf.h"
#include "report.h"

/* Appends rep's foundation aggregates to b (b->nomem when memory ran out),
 * to be kept under fingerprint fp and key (store/partial.c): both go into
 * the check that ends the bytes. */
void se_partial_encode(const se_report *rep, uint64_t fp, int64_t key, se_pbuf *b);

/* Adds the partial in data[size], read under fp and key, into rep.  0,
 * SE_ENOMEM, or SE_EDB when the bytes are damaged, were kept under
 * another fingerprint or key, or do not fit the report (rep is no good
 * then). */
int se_partial_merge(se_report *rep, uint64_t fp, int64_t key, const void *data, size_t size);

/* A fingerprint of what a partial's numbers depend on: the format, the
 * funnels as counted (stages, pre-sale flags, pairs and their modes, the
 * status and pipeline resolution of ctx), the counting mode, period, zone,
 * range, funnel filter, and whether a cube is kept.  Not the report's
 * "now" (as-of): the pass does not read it. */
uint64_t se_partial_fingerprint(const se_report *rep, const se_count_ctx *ctx, const char *zone);

#endif
