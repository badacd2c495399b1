/*
 * format/blockset.c: the blocks of every report a run asks for, from the
 * descriptor table (reports.c), in the one order they are printed in:
 * descriptor outer, funnel inner.  A set is built whole (the writers that
 * look at every block at once, the digest) or lazily, one report and
 * funnel at a time as a streaming writer reads it (block.h).
 *
 * Never: prints, or knows a report or a format by name.
 */
#include "block.h"

#include <string.h>

/* The next (report, funnel) after it->k, it->f in the order every report
 * is built and printed: descriptor outer, funnel inner; 0 after the last. */
static int next_group(const se_blocks *bs, se_block_iter *it)
{
	const se_report *rep = bs->rep;

	for (; it->k < se_n_report_descs; it->k++, it->f = -2) {
		const se_report_desc *d = &se_report_descs[it->k];

		if (!(bs->mask & d->flag))
			continue;
		if (!d->per_funnel) {
			if (it->f != -2)
				continue;
			it->f = SE_NONE;
			return 1;
		}
		for (int f = it->f < 0 ? 0 : it->f + 1; f < rep->rules->n_funnels; f++)
			if (rep->only_funnel == SE_NONE || f == rep->only_funnel) {
				it->f = f;
				return 1;
			}
	}
	return 0;
}

/* Whether a block appended since `from` ran out of memory. */
static int any_failed(const se_blocks *bs, size_t from)
{
	for (size_t i = from; i < bs->n; i++)
		if (bs->v[i].failed)
			return 1;
	return 0;
}

int se_blocks_build(const se_report *rep, se_blocks *bs)
{
	return se_blocks_build_mask(rep, 0, bs);
}

int se_blocks_build_mask(const se_report *rep, unsigned mask, se_blocks *bs)
{
	se_block_iter it = SE_BLOCK_ITER_INIT;
	size_t from = bs->n;

	bs->rep = rep;
	bs->mask = mask ? mask : rep->reports;
	bs->lazy = 0;
	while (next_group(bs, &it)) {
		const se_report_desc *d = &se_report_descs[it.k];

		d->build(rep, d, bs, it.f);
	}
	return any_failed(bs, from) ? SE_ENOMEM : SE_OK;
}

void se_blocks_lazy(se_blocks *bs, const se_report *rep, unsigned mask)
{
	memset(bs, 0, sizeof *bs);
	bs->rep = rep;
	bs->mask = mask ? mask : rep->reports;
	bs->lazy = 1;
}

int se_blocks_select(se_blocks *bs, const se_report_desc *d, int f)
{
	if (!bs->lazy)
		return bs->failed ? SE_ENOMEM : SE_OK;
	se_blocks_clear(bs);
	if (bs->failed)
		return SE_ENOMEM;
	if (bs->mask & d->flag)
		d->build(bs->rep, d, bs, f);
	if (any_failed(bs, 0)) {
		se_blocks_clear(bs);
		bs->failed = 1;
		return SE_ENOMEM;
	}
	return SE_OK;
}

const se_block *se_blocks_next(se_blocks *bs, se_block_iter *it)
{
	for (;;) {
		if (it->i < bs->n)
			return &bs->v[it->i++];
		if (!bs->lazy || bs->failed || !next_group(bs, it))
			return NULL;
		it->i = 0;
		if (se_blocks_select(bs, &se_report_descs[it->k], it->f) != SE_OK)
			return NULL;
	}
}
