/*
 * pvalue.h: p-values of the report's significance tests and the false
 * discovery rate across them.
 *
 * Owns: the two-proportion z test of a manager against the rest of the
 * team, the two-sided normal p-value (also of the Cochran-Mantel-Haenszel
 * z of stats.h), the minimum samples below which no test is run, and the
 * Benjamini-Hochberg adjustment of a family of p-values (docs/METRICS.md
 * section 5).  Pure functions of their arguments.
 *
 * Never: knows what a manager, a source or a report is; allocates except
 * the scratch order of se_bh_adjust.
 */
#ifndef SE_PVALUE_H
#define SE_PVALUE_H

#include <stddef.h>
#include <stdint.h>

/* The false discovery rate a report controls across all its tests. */
#define SE_FDR_LEVEL 0.05

/* Minimum samples: a manager's step is tested only with at least this many
 * deals at its start on both sides (the manager, and the other managers);
 * a source only with at least this many leads compared within managers.
 * Below that the normal approximation is poor and one deal moves a rate by
 * several points: nothing is claimed. */
#define SE_TEST_MIN_N 30

/* Two-sided p-value of a standard normal z: P(|Z| >= |z|) = erfc(|z|/sqrt2). */
double se_p_two_sided(double z);

/* Pooled two-proportion z of k1/n1 against k2/n2:
 * (p1 - p2) / sqrt(p (1 - p) (1/n1 + 1/n2)), p = (k1 + k2) / (n1 + n2);
 * 0 when either n is 0 or p is 0 or 1 (no variation, no evidence). */
double se_two_prop_z(int64_t k1, int64_t n1, int64_t k2, int64_t n2);

/* Benjamini-Hochberg adjusted values of p[0..n): q_(i) = min over j >= i of
 * n p_(j) / j (ranks j in ascending p), capped at 1.  NAN entries are not
 * tests: they are left out of n and their q is NAN.  Returns 0, or -2 (out
 * of memory). */
int se_bh_adjust(const double *p, size_t n, double *q);

#endif
