/*
 * timecast.h: the time-aware forecast (docs/METRICS.md 4i).
 *
 * Owns: turning the stays at pre-sale stages that insight.c collected in
 * the pass into the revenue expected within the horizon, per stage and
 * manager and by close month, as of now and as of every backtest cutoff.
 *
 * Never: reads events (the pass did), prints, or touches SQLite or Lua.
 */
#ifndef SE_TIMECAST_H
#define SE_TIMECAST_H

#include "report.h"

/* After the pass and se_insight_finish: fills in->time_fc, in->time_month
 * and every cut's time_fc, then frees the stays.  0 or SE_ENOMEM. */
int se_timecast_finish(se_report *rep, se_error *err);

#endif
