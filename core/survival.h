/*
 * survival.h: time to an outcome with competing outcomes and censoring.
 *
 * Owns: the Aalen-Johansen estimate of the cumulative incidence of one
 * outcome ("won") against the others ("lost") when some histories are
 * still running (censored), and the conditional chance of that outcome
 * within a horizon for a case that has already lasted t without any
 * outcome (docs/METRICS.md 4i).  Pure: built from an array of
 * observations, queried by duration.
 *
 * Never: knows what a deal or a stage is; prints.
 */
#ifndef SE_SURVIVAL_H
#define SE_SURVIVAL_H

#include <stddef.h>
#include <stdint.h>

enum se_outcome { SE_OUT_CENSORED = 0, SE_OUT_WON = 1, SE_OUT_OTHER = 2 };

/* One history: its duration (seconds from its origin to its outcome, or to
 * the end of observation when censored) and its outcome. */
typedef struct se_surv_obs {
	int64_t t;
	int32_t outcome;   /* enum se_outcome */
} se_surv_obs;

/* The estimate as step functions over the distinct outcome times:
 * after time[i] (inclusive) S = surv[i] and CIF_won = cif[i]; before
 * time[0], S = 1 and CIF = 0. */
typedef struct se_cif {
	size_t n;
	int64_t *time;
	double *surv;      /* Kaplan-Meier probability of no outcome yet */
	double *cif;       /* cumulative incidence of "won" */
	size_t n_obs;      /* observations it was built from */
} se_cif;

/* Builds the estimate from obs[0..n) (reordered by duration).  At a time
 * with both outcomes and censorings, the censored ones are still at risk.
 * Returns 0 or -2 (out of memory); free with se_cif_free. */
int se_cif_build(se_cif *c, se_surv_obs *obs, size_t n);
/* The same from observations already in se_cif_order (no sort). */
int se_cif_build_sorted(se_cif *c, const se_surv_obs *obs, size_t n);
/* The same into the caller's arrays c->time, c->surv and c->cif, which
 * have room for n (one estimate after another in the same memory). */
void se_cif_fill_sorted(se_cif *c, const se_surv_obs *obs, size_t n);
/* The same over the observations of obs[0..n) whose level[] is at least
 * min_level (kept: how many they are), without copying them out: the
 * estimate for a subset, such as the cases that lasted past some time. */
void se_cif_fill_where(se_cif *c, const se_surv_obs *obs, const uint8_t *level, size_t n, uint8_t min_level,
                       size_t kept);
void se_cif_free(se_cif *c);

/* The number of outcome times <= t, known to be at least `from` (0 when
 * nothing is known): queries in ascending order of t pass the last answer
 * and cost the distance between them, not a whole search.  S(t) and CIF(t)
 * are then surv[k - 1] and cif[k - 1], or 1 and 0 for k = 0. */
size_t se_cif_rank(const se_cif *c, int64_t t, size_t from);

/* S(t) and CIF_won(t), right-continuous (outcomes at t included). */
void se_cif_at(const se_cif *c, int64_t t, double *surv, double *cif);

/* P(won in (t + a, t + b] | no outcome by t) =
 * (CIF(t + b) - CIF(t + a)) / S(t), for 0 <= a <= b; 0 when S(t) = 0 (no
 * history lasted that long without an outcome: nothing to expect). */
double se_cif_won_between(const se_cif *c, int64_t t, int64_t a, int64_t b);

#endif
