/*
 * format/output.c: se_report_write: builds every report a run asks for
 * from the descriptor table, then hands the blocks to the writer of the
 * asked format.  The top of format/: nothing in it calls back here.
 *
 * Never: knows a report or a format by name beyond the table below.
 */
#include "block.h"

#include <stdlib.h>
#include <string.h>

/* ---- building every asked report ------------------------------------------- */

int se_blocks_build(const se_report *rep, se_blocks *bs)
{
	return se_blocks_build_mask(rep, 0, bs);
}

int se_blocks_build_mask(const se_report *rep, unsigned mask, se_blocks *bs)
{
	if (mask == 0)
		mask = rep->reports;
	for (size_t k = 0; k < se_n_report_descs; k++) {
		const se_report_desc *d = &se_report_descs[k];

		if (!(mask & d->flag))
			continue;
		if (!d->per_funnel) {
			d->build(rep, d, bs, SE_NONE);
			continue;
		}
		for (int f = 0; f < rep->rules->n_funnels; f++)
			if (rep->only_funnel == SE_NONE || f == rep->only_funnel)
				d->build(rep, d, bs, f);
	}
	for (size_t i = 0; i < bs->n; i++)
		if (bs->v[i].failed)
			return SE_ENOMEM;
	return SE_OK;
}

/* ---- formats ---------------------------------------------------------------- */

static const struct {
	se_output format;
	se_block_writer write;
} formats[] = {
	{ SE_OUTPUT_TABLE, se_write_table },
	{ SE_OUTPUT_CSV, se_write_csv },
	{ SE_OUTPUT_JSON, se_write_json },
	{ SE_OUTPUT_PROMETHEUS, se_write_prometheus },
	{ SE_OUTPUT_HTML, se_write_html },
	{ SE_OUTPUT_XLSX, se_write_xlsx },
};

int se_report_write(const se_report *rep, FILE *out, se_output format, se_error *err)
{
	return se_report_write_with(rep, out, format, NULL, err);
}

int se_report_write_with(const se_report *rep, FILE *out, se_output format,
                         const se_write_options *options, se_error *err)
{
	se_blocks bs = { 0 };
	se_write_opts opts = { 0 };
	se_block_writer write = se_write_table;
	int rc;

	if (options != NULL)
		opts = *options;
	for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++)
		if (formats[i].format == format)
			write = formats[i].write;
	if (se_blocks_build_mask(rep, opts.reports, &bs) != SE_OK) {
		se_blocks_free(&bs);
		return se_error_set(err, SE_ENOMEM, "out of memory formatting the report");
	}
	rc = write(rep, &bs, out, &opts, err);
	se_blocks_free(&bs);
	if (rc != SE_OK)
		return rc;
	if (fflush(out) != 0 || ferror(out))
		return se_error_set(err, SE_EIO, "writing the report failed");
	return SE_OK;
}
