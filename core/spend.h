/*
 * spend.h: ad spend rows from a CSV file (spend.c).
 */
#ifndef SE_SPEND_H
#define SE_SPEND_H

#include "error.h"
#include "rules.h"

/* Appends the rows of a spend CSV (source,month,amount, a header line
 * first; RFC 4180, so a source may hold a comma) to *v.  A bad row is
 * SE_EINPUT "PATH:LINE: reason". */
int se_spend_read(const char *path, se_spend **v, size_t *n, se_error *err);

#endif
