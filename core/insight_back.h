/*
 * insight_back.h: what the diagnostics' two halves of the pass share
 * (insight.c, insight_back.c); the back half's entry point,
 * se_insight_deal_back(), is report.h's.
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

#endif
