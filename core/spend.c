/*
 * spend.c: ad spend by source and month: reading a --spend CSV
 * (source,month,amount after a header line).
 * A reader beside import.c: it turns a file into rows and checks them.
 *
 * Never: touches the store or a report; the report merges the rows it is
 * handed with the script's.
 */
#include "spend.h"
#include "csv.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* One record "source,month,amount" (RFC 4180, so a source may hold a comma). */
static int spend_record(se_spend **v, size_t *n, const se_csv_record *r, const char *path, se_error *err)
{
	const char *month, *amount;
	char *end;
	int64_t key;
	double amt;

	if (r->nfields == 1 && r->fields[0].len == 0)
		return SE_OK; /* an empty line */
	if (r->nfields != 3)
		return se_error_set(err, SE_EINPUT, "%s:%ld: expected source,month,amount", path, r->line);
	month = r->fields[1].ptr;
	amount = r->fields[2].ptr;
	if (se_parse_month(month, &key) != SE_OK)
		return se_error_set(err, SE_EINPUT, "%s:%ld: month: \"%s\" is not like 2025-01", path, r->line,
		                    month);
	errno = 0;
	amt = strtod(amount, &end);
	if (end == amount || *end != '\0' || errno != 0 || !(amt >= 0) || amt > 1e15)
		return se_error_set(err, SE_EINPUT, "%s:%ld: amount: \"%s\" is not a non-negative number", path,
		                    r->line, amount);
	if (se_spend_add(v, n, r->fields[0].ptr, key, llround(amt * 100.0)) != SE_OK)
		return se_error_set(err, SE_ENOMEM, "out of memory");
	return SE_OK;
}

int se_spend_read(const char *path, se_spend **v, size_t *n, se_error *err)
{
	se_csv *csv = NULL;
	se_csv_record r;
	int rc, first = 1;

	if ((rc = se_csv_open(&csv, path, ',', err)) != SE_OK) {
		se_error_prefix(err, "--spend");
		return rc;
	}
	while ((rc = se_csv_next(csv, &r, err)) == 1) {
		if (first) { /* the header: source,month,amount */
			first = 0;
			continue;
		}
		if ((rc = spend_record(v, n, &r, path, err)) != SE_OK)
			break;
	}
	if (rc == SE_EINPUT)
		se_error_prefix(err, "%s:%ld", path, r.error_line);
	se_csv_close(csv);
	return rc < 0 ? rc : SE_OK;
}
