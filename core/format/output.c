/*
 * format/output.c: se_report_write: hands the blocks of every report a
 * run asks for (blockset.c) to the writer of the asked format, built
 * whole or as the writer reads them.  The top of format/: nothing in it
 * calls back here.
 *
 * Never: knows a report or a format by name beyond the table below.
 */
#include "block.h"

#include <stdlib.h>
#include <string.h>

/* ---- formats ---------------------------------------------------------------- */

/* streams: the writer reads a lazy set (block.h), one report and funnel
 * at a time; the others look at every block at once. */
static const struct {
	se_output format;
	se_block_writer write;
	int streams;
} formats[] = {
	{ SE_OUTPUT_TABLE, se_write_table, 1 },
	{ SE_OUTPUT_CSV, se_write_csv, 1 },
	{ SE_OUTPUT_JSON, se_write_json, 1 },
	{ SE_OUTPUT_PROMETHEUS, se_write_prometheus, 0 },
	{ SE_OUTPUT_HTML, se_write_html, 0 },
	{ SE_OUTPUT_XLSX, se_write_xlsx, 0 },
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
	int rc, streams = 1;

	if (options != NULL)
		opts = *options;
	for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++)
		if (formats[i].format == format) {
			write = formats[i].write;
			streams = formats[i].streams;
		}
	if (streams) {
		se_blocks_lazy(&bs, rep, opts.reports);
	} else if (se_blocks_build_mask(rep, opts.reports, &bs) != SE_OK) {
		se_blocks_free(&bs);
		return se_error_set(err, SE_ENOMEM, "out of memory formatting the report");
	}
	rc = write(rep, &bs, out, &opts, err);
	if (rc == SE_OK && bs.failed)
		rc = se_error_set(err, SE_ENOMEM, "out of memory formatting the report");
	se_blocks_free(&bs);
	if (rc != SE_OK)
		return rc;
	if (fflush(out) != 0 || ferror(out))
		return se_error_set(err, SE_EIO, "writing the report failed");
	return SE_OK;
}
