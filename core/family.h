/*
 * family.h: the report's significance tests as one family.
 *
 * Owns: collecting the p-value of every test a report run makes (each
 * manager on each step against the other managers; each source in each
 * period against the other sources within managers) and storing their
 * Benjamini-Hochberg values, so the accessors of diagnose.c decide
 * "significant", "growth point" and "weak" with the false discovery rate
 * controlled across everything the report claims (docs/METRICS.md 5).
 *
 * Never: prints, or computes a p-value itself (the accessors do: one
 * definition per number).
 */
#ifndef SE_FAMILY_H
#define SE_FAMILY_H

#include "report.h"

/* After the pass: fills rep->agg[].in.step_q and channel_q for the tests
 * of the reports computed (diagnostics, channels).  0 or SE_ENOMEM. */
int se_family_finish(se_report *rep, se_error *err);

#endif
