/*
 * fuzz_csv.c: the CSV reader on any bytes.  Every record is read to the end
 * of input; the first record sets the expected field count, as the importer
 * does with its header, so the recovery after a broken quote is exercised.
 * Checks what csv.h promises: records and errors come in line order, each
 * field's length is what its NUL terminator says, and input always ends.
 */
#include "csv.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FILE *fp = fmemopen((void *)data, size ? size : 1, "rb");
	se_csv *csv = NULL;
	se_csv_record rec;
	se_error err = { 0 };
	long last_line = 0;
	int delimiter = size > 0 ? "\0,;\t"[data[0] & 3] : 0;
	int rc, first = 1;

	if (fp == NULL)
		return 0;
	if (size == 0)
		fgetc(fp); /* fmemopen wants a size: take its one byte, leaving none */
	if (se_csv_open_stream(&csv, fp, "fuzz.csv", delimiter, &err) != 0) {
		fclose(fp);
		return 0;
	}
	while ((rc = se_csv_next(csv, &rec, &err)) != 0) {
		if (rc < 0 && rc != SE_EINPUT)
			break;
		if (rec.line < last_line)
			abort(); /* records must come in line order */
		last_line = rec.line;
		if (rc == SE_EINPUT) {
			if (rec.error_line < rec.line)
				abort();
			continue;
		}
		if (rec.nfields == 0)
			abort();
		for (size_t i = 0; i < rec.nfields; i++)
			if (rec.fields[i].ptr[rec.fields[i].len] != '\0')
				abort();
		if (first) {
			se_csv_expect_fields(csv, rec.nfields);
			first = 0;
		}
	}
	if (se_csv_offset(csv) < 0)
		abort();
	se_csv_close(csv);
	fclose(fp);
	return 0;
}
