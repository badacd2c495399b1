/*
 * family.c: one Benjamini-Hochberg family per report run (family.h).
 *
 * The family is every test the run computes, across funnels, steps,
 * managers, sources and periods: a head of sales reads one report, so the
 * share of false claims is controlled over that report, not per table.
 * Tests below the minimum sample are not in it (they claim nothing and
 * must not dilute the others).
 */
#include "family.h"
#include "pvalue.h"

#include <math.h>
#include <stdlib.h>


int se_family_finish(se_report *rep, se_error *err)
{
	int diag = (rep->compute & SE_REPORT_DIAGNOSTICS) != 0, chan = (rep->compute & SE_REPORT_CHANNELS) != 0;
	size_t n = 0, k = 0;
	double *p = NULL, *q = NULL;
	double **where = NULL;
	int rc = SE_ENOMEM;

	if (!diag && !chan)
		return SE_OK;
	for (int f = 0; f < rep->rules->n_funnels; f++) {
		se_insight *in = &rep->agg[f].in;
		const se_grid *g = &rep->agg[f].sources;
		size_t steps = (size_t)rep->rules->funnels[f].n_pairs * rep->n_manager;

		if (diag) {
			if ((in->step_q = malloc((steps ? steps : 1) * sizeof *in->step_q)) == NULL)
				goto out;
			for (size_t i = 0; i < steps; i++)
				in->step_q[i] = NAN;
			n += steps;
		}
		if (chan) {
			size_t cells = (size_t)g->nb * rep->n_source;

			in->channel_lo = g->lo;
			in->channel_nb = g->nb;
			if ((in->channel_q = malloc((cells ? cells : 1) * sizeof *in->channel_q)) == NULL ||
			    (in->channel_managers = malloc((g->nb ? (size_t)g->nb : 1) * sizeof *in->channel_managers)) == NULL)
				goto out;
			/* once per bucket, not once per source */
			for (int64_t b = 0; b < g->nb; b++)
				in->channel_managers[b] = se_report_managers_in(rep, f, g->lo + b);
			for (size_t i = 0; i < cells; i++)
				in->channel_q[i] = NAN;
			n += cells;
		}
	}
	if ((p = malloc((n ? n : 1) * sizeof *p)) == NULL || (q = malloc((n ? n : 1) * sizeof *q)) == NULL ||
	    (where = malloc((n ? n : 1) * sizeof *where)) == NULL)
		goto out;
	for (int f = 0; f < rep->rules->n_funnels; f++) {
		se_insight *in = &rep->agg[f].in;

		for (int pr = 0; diag && pr < rep->rules->funnels[f].n_pairs; pr++)
			for (uint32_t m = 0; m < rep->n_manager; m++) {
				se_step_diag d;

				if (se_report_step(rep, f, pr, m, &d) != SE_OK || !d.tested)
					continue;
				p[k] = d.p;
				where[k++] = &in->step_q[(size_t)pr * rep->n_manager + m];
			}
		for (int64_t b = 0; chan && b < in->channel_nb; b++)
			for (uint32_t s = 0; s < rep->n_source; s++) {
				se_channel ch;

				if (se_report_channel(rep, f, in->channel_lo + b, s, &ch) != SE_OK || ch.leads == 0 ||
				    isnan(ch.p))
					continue;
				p[k] = ch.p;
				where[k++] = &in->channel_q[(size_t)b * rep->n_source + s];
			}
	}
	if (se_bh_adjust(p, k, q) != 0)
		goto out;
	for (size_t i = 0; i < k; i++)
		*where[i] = q[i];
	rc = SE_OK;
out:
	free(p);
	free(q);
	free(where);
	return rc == SE_OK ? SE_OK : se_error_set(err, SE_ENOMEM, "out of memory");
}
