/*
 * format/build_sources.c: blocks of the channel reports: every step by source,
 * and sources with their money (spend, CPL, CPS, ROMI) and quality.
 *
 * Never: computes a metric; every number comes from report.h's accessors.
 */
#include "block.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void se_build_source_steps(const se_report *rep, const se_report_desc *desc, se_blocks *bs, int f)
{
	const se_funnel *fn = &rep->rules->funnels[f];
	se_block *b = se_block_new(bs, desc, f, 0);

	if (b == NULL || se_pair_labels(b, fn) != SE_OK)
		return;
	for (int p = 0; p < fn->n_pairs; p++) {
		const se_grid *g = &rep->agg[f].in.source_pairs[p];

		for (int64_t k = g->lo; k < g->lo + g->nb; k++) {
			char period[40];
			se_pair_cell c;

			se_report_source_step(rep, f, p, k, SE_ALL, &c);
			if (c.from == 0)
				continue;
			se_report_bucket_label(rep, k, period, sizeof period);
			for (uint32_t i = 0; i <= rep->n_source; i++) {
				uint32_t src = i == 0 ? SE_ALL : rep->source_order[i - 1];
				se_cell *r;

				se_report_source_step(rep, f, p, k, src, &c);
				if (c.from == 0 || (r = se_block_row(b)) == NULL)
					continue;
				se_set_str(&r[0], fn->name);
				se_set_str(&r[1], b->labels[p]);
				se_set_copy(&r[2], period);
				se_set_str(&r[3], i == 0 ? "team" : "source");
				se_set_str(&r[4], i == 0 ? "*" : se_source_name(rep, src));
				r[5].i = c.from;
				r[6].i = c.to;
				se_set_count_ratio(&r[7], c.to, c.from);
			}
		}
	}
}

static void channels_row(se_block *b, const char *funnel, const char *period, const char *dim,
                         const char *name, const se_channel *ch, int team)
{
	se_cell *r = se_label_row(b, funnel, period, 1, dim, name);

	if (r == NULL)
		return;
	r[4].i = ch->leads;
	r[5].i = ch->won;
	se_set_count_ratio(&r[6], ch->won, ch->leads);
	r[7].i = ch->revenue;
	se_set_money(&r[8], ch->spend);
	se_set_money(&r[9], ch->cpl);
	se_set_money(&r[10], ch->cps);
	if (ch->spend > 0)
		se_set_count_ratio(&r[11], ch->revenue - ch->spend, ch->spend);
	else
		se_set_ratio(&r[11], 0, 0);
	se_set_real(&r[12], ch->cmh_z, team);
	r[13].i = ch->weak;
}

void se_build_channels(const se_report *rep, const se_report_desc *desc, se_blocks *bs, int f)
{
	const se_grid *g = &rep->agg[f].sources;
	const char *fname = rep->rules->funnels[f].name;
	se_block *b = se_block_new(bs, desc, f, 0);

	if (b == NULL)
		return;
	for (int64_t k = g->lo; k < g->lo + g->nb; k++) {
		char period[40];
		se_channel ch;

		se_report_channel(rep, f, k, SE_ALL, &ch);
		if (ch.leads == 0)
			continue;
		se_report_bucket_label(rep, k, period, sizeof period);
		channels_row(b, fname, period, "team", "*", &ch, 1);
		for (uint32_t i = 0; i < rep->n_source; i++) {
			uint32_t src = rep->source_order[i];

			se_report_channel(rep, f, k, src, &ch);
			if (ch.leads > 0)
				channels_row(b, fname, period, "source", se_source_name(rep, src), &ch, 0);
		}
	}
}

/* ---- compare: each bucket next to the previous one (docs/METRICS.md 4k) ---- */
