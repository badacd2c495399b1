/*
 * insight_back.h: what the diagnostics' two halves of the pass share
 * (insight.c, insight_back.c): se_insight_deal() is the two in turn.
 */
#ifndef SE_INSIGHT_BACK_H
#define SE_INSIGHT_BACK_H

#include "report.h"

/* Whether t is inside the report's range (--from, --to): the cohorts the
 * diagnostics count by period. */
static inline int se_insight_in_range(const se_report *rep, int64_t t)
{
	return t >= rep->from_utc && t < rep->to_utc;
}

/* The back half of a deal's diagnostics (sources' steps, durations, open
 * deals, replays), after insight.c's front half (lead handling); buckets
 * through rep->insight_bucket_cache. */
int se_insight_deal_back(se_report *rep, const se_deal_eval *e, const se_chunk_deal *d);

#endif
