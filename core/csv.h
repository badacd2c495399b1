/*
 * csv.h: a streaming RFC 4180 record reader.
 *
 * Owns: splitting a byte stream into records and fields (quotes, doubled
 * quotes, delimiters and newlines inside quoted fields, LF or CRLF line ends,
 * a leading UTF-8 BOM, `,` / `;` / TAB delimiters detected from the first
 * record).  It reads through a fixed-size buffer, so memory stays constant
 * whatever the file size (a single record may grow the buffer up to
 * SE_CSV_MAX_RECORD bytes).
 *
 * Never: interprets field contents (no trimming, no UTF-8 or number checks;
 * the importer does that), and never stops at a malformed record: it reports
 * the record, resynchronises and goes on, so one bad row cannot hide the good
 * rows after it.
 */
#ifndef SE_CSV_H
#define SE_CSV_H

#include "error.h"

#include <stddef.h>
#include <stdio.h>

#define SE_CSV_MAX_RECORD (16u << 20) /* 16 MiB: larger is an error, not an OOM */

typedef struct se_csv se_csv;

typedef struct se_csv_field {
	const char *ptr; /* NUL-terminated copy with quotes removed, valid until the next se_csv_next() */
	size_t len;      /* bytes, excluding the terminating NUL (a field may contain NUL bytes) */
	long line;       /* 1-based physical line on which the field starts */
	long col;        /* 1-based byte column on that line at which the field starts */
} se_csv_field;

/* A good record's fields lie back to back in one block: each field's NUL
 * is followed by the next field, so fields[0].ptr up to the last field's
 * NUL is the whole record (a reader may check it in one pass). */
typedef struct se_csv_record {
	const se_csv_field *fields;
	size_t nfields;
	long line;       /* physical line on which the record starts */
	/* Set when se_csv_next() returns SE_EINPUT: where the problem is. */
	long error_line;     /* physical line of the offending character */
	long error_col;      /* 1-based byte column of it on that line, 0 if none */
	size_t error_field;  /* 0-based index of the field it belongs to */
} se_csv_record;

/* Opens path ("-" reads stdin).  delimiter: ',' ';' '\t', or 0 to detect it
 * from the first record: the candidate that occurs most often outside quotes
 * wins, ',' on a tie or when none occurs. */
int se_csv_open(se_csv **out, const char *path, int delimiter, se_error *err);

/* Same over a stream the caller keeps owning (tests use fmemopen()).  name is
 * used in nothing but se_csv_name(). */
int se_csv_open_stream(se_csv **out, FILE *fp, const char *name, int delimiter, se_error *err);

/* Reads the next record.
 *   1  a record is in *rec
 *   0  end of input
 *  SE_EINPUT  the record is malformed: err->msg holds the bare reason (e.g.
 *     "unterminated quote"), rec->line / rec->error_line / rec->error_field
 *     say where (the caller adds file name and column name).  The reader has
 *     already skipped past the bad record; call again to go on.
 *  other negative codes: I/O or memory failure, stop reading.
 * Malformed cases: a character other than a delimiter or line end right after
 * a closing quote; a quote left open at end of input; a record longer than
 * SE_CSV_MAX_RECORD.  A bare quote inside an unquoted field is taken
 * literally.
 * A quoted field that runs across line ends is kept when its record ends
 * cleanly (with the expected field count, when one is set).  When that
 * record goes wrong instead, the quote is taken as never closed: the error
 * is "unterminated quote" at the quote (error_line, error_col), and reading
 * starts again at the first following line that is a record by itself
 * (its quotes closed on the line, the expected field count), so a stray
 * quote costs one record, on a pipe as on a file.  With no such line the
 * bad record ends where the reader stopped. */
int se_csv_next(se_csv *csv, se_csv_record *rec, se_error *err);

/* The field count of a good record (the header's), for the recovery above;
 * 0 (the default) accepts any count. */
void se_csv_expect_fields(se_csv *csv, size_t n);

int se_csv_delimiter(const se_csv *csv);
const char *se_csv_name(const se_csv *csv);
/* Bytes consumed so far and total size (0 when unknown): for progress lines. */
long long se_csv_offset(const se_csv *csv);
long long se_csv_size(const se_csv *csv);

void se_csv_close(se_csv *csv);

#endif
